"""Fine amplitude: N X gates, after SX or not, amplify the X gate's rotation-angle error.

Each X rotates by pi + d about the same axis as SX (pi/2 + c). After SX and N X gates
the Bloch vector has turned by pi/2 + c + N (pi + d):

    P1 = offset - contrast/2 cos(pi/2 + c + N (pi + d))
       = offset + contrast/2 (-1)^N sin(c + N d),

first order in d, with its sign: starting on the equator tells over- from
under-rotation (from |0> the error enters as cos(N d), even in d). Near a good
calibration that signal is linear in N, where contrast and d only appear as their
product; so the sweep also plays X instead of SX first (N + 1 X gates from |0>: P1
ping-pongs between the readout levels of |0> and |1>), which pins contrast and offset.
The SX error c is fitted, not assumed, so an SX that is not exactly half of X does not
bias d; c is bounded to |c| < pi/2 (SX turns the same way as X), which fixes the sign
of d. Relaxation during the sequence pulls P1 down a little at every step; that drift
does not alternate with N, so it does not mimic d. Decoherence is left out of the model:
on the sim-1q devices it shifts the correction by ~2% of itself (0.2 standard errors
from a 0.3% amplitude error).

The corrected amplitudes scale by pi / (pi + d): near pi the rotation angle is
proportional to the amplitude. SX is scaled by the same factor (its own error c is
reported, but it is measured without amplification and is far less precise).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Play
from devices.sequences import GateSequence
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.calibration import QubitCalibration
from experiments.fitting import FitFailure, analyse, binomial_sigma, conclude, weighted_fit

UNITS = {"x_amp": "", "sx_amp": "", "angle_error": "rad", "sx_angle_error": "rad", "contrast": "", "offset": ""}
MAX_ANGLE_ERROR = 0.3  # rad per gate: beyond this, calibrate the amplitude with Rabi first


def fine_amplitude_model(n, sx_first, d, c, contrast, offset):
    """P1 after a first gate (SX where sx_first is 1, else X) and N more X gates."""
    first = np.where(sx_first, np.pi / 2 + c, np.pi + d)
    return offset - 0.5 * contrast * np.cos(first + n * (np.pi + d))


def sx_x_table(c: QubitCalibration) -> tuple:
    key = tuple(None if v is None else float(v) for v in c.as_dict().values())
    return _sx_x_table(key)


@functools.lru_cache(maxsize=16)
def _sx_x_table(key: tuple[float, ...]) -> tuple:
    c = QubitCalibration(*key)
    return (c.schedule([Play(0, c.sx_pulse())]), c.schedule([Play(0, c.x_pulse())]))


@dataclass(frozen=True)
class FineAmplitude(Experiment):
    """SX or X, then N = 0 .. `max_repetitions` X gates."""

    name = "fine_amplitude"
    summary = "Fine amplitude: X rotation-angle error amplified by repeated X gates (x_amp, sx_amp)"
    max_repetitions: int = 20

    def __post_init__(self):
        if self.max_repetitions < 6:
            raise ExperimentError(f"FineAmplitude.max_repetitions must be >= 6, got {self.max_repetitions}.")

    def sweeps(self, cal):
        return [Sweep("sx_first", np.array([0, 1]), ""), Sweep("repetitions", np.arange(self.max_repetitions + 1), "")]

    def schedule(self, cal, point):
        first = 0 if int(point["sx_first"]) else 1  # table: SX, X
        return GateSequence(sx_x_table(cal[self.qubit]), [first] + [1] * int(point["repetitions"]))

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _fit(self, ds))


def grid_start(basis, y, sigma, grid1, grid2):
    """(p1, p2, contrast, offset) minimising chi-square over a grid of the two nonlinear
    parameters; at each node y = offset + contrast * basis(p1, p2) is solved by weighted
    linear least squares. basis(g1, g2) broadcasts (G1, 1, 1) and (1, G2, 1) against the
    data points. A start that needs no per-device tuning."""
    w = 1.0 / sigma**2
    b = basis(grid1[:, None, None], grid2[None, :, None])
    sw, swb, swbb = w.sum(), (w * b).sum(-1), (w * b * b).sum(-1)
    swy, swby = (w * y).sum(), (w * b * y).sum(-1)
    det = sw * swbb - swb**2
    with np.errstate(divide="ignore", invalid="ignore"):
        contrast = (sw * swby - swb * swy) / det
        offset = (swy - contrast * swb) / sw
        chi2 = (w * (y - offset[..., None] - contrast[..., None] * b) ** 2).sum(-1)
    chi2 = np.where((contrast > 0) & np.isfinite(chi2), chi2, np.inf)
    i, j = np.unravel_index(int(np.argmin(chi2)), chi2.shape)
    if not np.isfinite(chi2[i, j]):
        raise FitFailure("no oscillation resembling the amplified signal in the data.")
    return grid1[i], grid2[j], contrast[i, j], offset[i, j]


def _fit(exp: FineAmplitude, ds: xr.Dataset):
    y2 = ds["probabilities"].sel(qubit=exp.qubit).transpose("sx_first", "repetitions").values
    counts = ds["counts"].sel(qubit=exp.qubit).transpose("sx_first", "repetitions").values
    n_axis = ds["repetitions"].values.astype(float)
    n, sx = (a.ravel() for a in np.meshgrid(n_axis, ds["sx_first"].values.astype(float), indexing="xy"))
    y = y2.ravel()
    sigma = binomial_sigma(counts.ravel(), ds.attrs["shots"])
    used = json.loads(ds.attrs["calibration"])[str(exp.qubit)]
    # a phase step of ~0.05 rad at the longest sequence
    d_grid = np.linspace(-MAX_ANGLE_ERROR, MAX_ANGLE_ERROR, int(2 * MAX_ANGLE_ERROR * n.max() / 0.05) + 1)
    c_grid = np.linspace(-np.pi / 2, np.pi / 2, 37)
    d0, c0, a0, o0 = grid_start(lambda d, c: fine_amplitude_model(n, sx, d, c, 1.0, 0.0), y, sigma, d_grid, c_grid)

    def model(i, d, c, a, o):
        i = i.astype(int)
        return fine_amplitude_model(n[i], sx[i], d, c, a, o)

    fit = weighted_fit(model, np.arange(len(y), dtype=float), y, sigma, [d0, c0, max(a0, 1e-3), o0],
                       bounds=([-1.5 * MAX_ANGLE_ERROR, -np.pi / 2, 0.0, -0.5],
                               [1.5 * MAX_ANGLE_ERROR, np.pi / 2, 2.0, 1.5]))
    x_amp, sx_amp = float(used["x_amp"]), float(used["sx_amp"])
    values = {
        "x_amp": fit.derived(lambda p: x_amp * np.pi / (np.pi + p[0]), ""),
        "sx_amp": fit.derived(lambda p: sx_amp * np.pi / (np.pi + p[0]), ""),
        "angle_error": fit.estimate(0, "rad"),
        "sx_angle_error": fit.estimate(1, "rad"),
        "contrast": fit.estimate(2, ""),
        "offset": fit.estimate(3, ""),
    }
    d, a = values["angle_error"], values["contrast"]
    checks = [
        (a.value > 5 * a.stderr and a.value > 0.2,
         f"no significant amplified oscillation (contrast {a.value:.3f} +- {a.stderr:.3f})."),
        (abs(d.value) <= MAX_ANGLE_ERROR,
         f"the angle error {d.value:.3f} rad per gate is beyond the fine range {MAX_ANGLE_ERROR} rad; "
         "calibrate the amplitude with Rabi first."),
        (values["x_amp"].value <= 1.0, f"the corrected amplitude {values['x_amp'].value:.4f} exceeds full scale 1."),
    ]
    sx_axis = ds["sx_first"].values.astype(float)
    curve = xr.Dataset(
        {"fit": (("sx_first", "repetitions"), fine_amplitude_model(n_axis[None, :], sx_axis[:, None], *fit.params))},
        coords={"sx_first": ("sx_first", sx_axis, {"units": ""}),
                "repetitions": ("repetitions", n_axis, {"units": ""})})
    return conclude(exp.name, exp.qubit, values, fit, checks, curve)
