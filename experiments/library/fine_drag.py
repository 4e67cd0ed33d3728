"""Fine DRAG: (X, -X)^N then Y90 amplify the X gate's phase error with its sign.

A pair X, -X (the second in a frame turned by pi, i.e. Rz(pi) X Rz(pi) X) rotates by
kappa = rate * (beta - beta0) about y when beta misses beta0 (see `drag`); the
amplitude error cancels within the pair. From |0>, N pairs tip the state by N kappa
towards the equator and Y90 (SX in a frame turned by pi/2) turns that tip into
population:

    P1 = offset - contrast/2 sin(N kappa + c),

first order in kappa and signed; c absorbs the Y90's own error. (kappa, c) and
(-kappa, pi - c) give the same data: c is bounded to |c| < pi/2, which fixes the sign
convention of `rate` (beta0 is the same under either). The state stays near
the poles until Y90, so relaxation shrinks the signal but cannot shift it.

Converting kappa into a beta correction needs the rate. Rather than the textbook DRAG
formula, which assumes an untruncated Gaussian on a two-level system, the gate table
holds X at beta - probe, beta and beta + probe: the three families measure kappa at
three betas and one joint fit of kappa = rate (beta_j - beta0) returns beta0 and the
rate, with their covariance, from the device itself.

beta0 is the beta without phase error. The beta of least gate error sits ~5e-4 ns from
it on the sim-1q devices (towards the leakage-cancelling beta), a difference worth
~1e-8 of gate error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Play
from devices.sequences import GateSequence
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.calibration import QubitCalibration
from experiments.fitting import FitFailure, analyse, binomial_sigma, conclude, weighted_fit
from experiments.library.drag import pair_program
from experiments.library.fine_amplitude import grid_start

UNITS = {"beta": "ns", "rate": "rad/ns", "phase_error": "rad", "contrast": "", "offset": ""}
MAX_PHASE_ERROR = np.pi / 4  # rad per pair at the current beta: beyond it, run `drag` first


def family_model(n, kappa, c, contrast, offset):
    return offset - 0.5 * contrast * np.sin(n * kappa + c)


def fine_drag_model(n, beta, beta0, rate, c, contrast, offset):
    return family_model(n, rate * (beta - beta0), c, contrast, offset)


def probe_table(c: QubitCalibration, betas) -> tuple:
    key = tuple(None if v is None else float(v) for v in c.as_dict().values())
    return _probe_table(key, tuple(float(b) for b in betas))


@functools.lru_cache(maxsize=16)
def _probe_table(key: tuple[float, ...], betas: tuple[float, ...]) -> tuple:
    c = QubitCalibration(*key)
    return (c.schedule([Play(0, c.sx_pulse())]),) + tuple(c.schedule([Play(0, c.x_pulse(beta=b))]) for b in betas)


def program_of(gate: int, pairs: int) -> tuple[list[int], np.ndarray]:
    """(X, -X)^pairs with X = table[gate], then Y90 = SX (table[0]) in the frame pi/2."""
    program, phases = pair_program(gate, pairs)
    # ShiftPhase increments are cumulative: bring the frame from where the pairs left it to pi/2
    return program + [0], np.append(phases, np.pi / 2 - np.sum(phases))


@dataclass(frozen=True)
class FineDrag(Experiment):
    """(X, -X)^N Y90 for N = 0 .. `max_repetitions`, with X at beta and beta +- `probe`."""

    name = "fine_drag"
    summary = "Fine DRAG: the X gate's phase error amplified by (X, -X) pairs (beta)"
    max_repetitions: int = 20
    probe: float = 0.1  # ns

    def __post_init__(self):
        if self.max_repetitions < 6 or not self.probe > 0:
            raise ExperimentError(
                f"FineDrag needs max_repetitions >= 6 and probe > 0, got {self.max_repetitions}, {self.probe}.")

    def betas(self, cal) -> np.ndarray:
        return cal[self.qubit].beta + self.probe * np.array([-1.0, 0.0, 1.0])

    def sweeps(self, cal):
        return [Sweep("beta", self.betas(cal), "ns"), Sweep("repetitions", np.arange(self.max_repetitions + 1), "")]

    def schedule(self, cal, point):
        betas = self.betas(cal)
        table = probe_table(cal[self.qubit], betas)
        gate = 1 + int(np.argmin(np.abs(betas - point["beta"])))
        program, phases = program_of(gate, int(point["repetitions"]))
        return GateSequence(table, program, phases)

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _fit(self, ds))


def _fit(exp: FineDrag, ds: xr.Dataset):
    y2 = ds["probabilities"].sel(qubit=exp.qubit).transpose("beta", "repetitions").values
    counts = ds["counts"].sel(qubit=exp.qubit).transpose("beta", "repetitions").values
    beta_axis = ds["beta"].values
    n_axis = ds["repetitions"].values.astype(float)
    if len(beta_axis) < 2:
        raise FitFailure("fine DRAG needs X at two betas or more to measure the rate.")
    current = float(beta_axis[len(beta_axis) // 2])
    n, beta = (a.ravel() for a in np.meshgrid(n_axis, beta_axis, indexing="xy"))
    y = y2.ravel()
    sigma = binomial_sigma(counts.ravel(), ds.attrs["shots"])
    # start: kappa at the current beta and the change of kappa per probe step on a grid
    # (phase steps of ~0.1 rad at the longest sequence), with the Y90 error c = 0
    step = float(np.max(np.abs(beta_axis - current)))
    k_grid = np.linspace(-MAX_PHASE_ERROR, MAX_PHASE_ERROR, int(2 * MAX_PHASE_ERROR * n_axis.max() / 0.1) + 1)
    dk_grid = np.linspace(-0.4, 0.4, int(0.8 * n_axis.max() / 0.1) + 1)
    k0, dk, a0, o0 = grid_start(
        lambda k, dk: family_model(n, k + dk * (beta - current) / step, 0.0, 1.0, 0.0), y, sigma, k_grid, dk_grid)
    if dk == 0:
        raise FitFailure("the phase error does not change with beta.")
    rate0 = dk / step

    def model(i, b0, r, c, a, o):
        i = i.astype(int)
        return fine_drag_model(n[i], beta[i], b0, r, c, a, o)

    span = np.ptp(beta_axis)
    fit = weighted_fit(model, np.arange(len(y), dtype=float), y, sigma,
                       [current - k0 / rate0, rate0, 0.0, max(a0, 1e-3), o0],
                       bounds=([beta_axis.min() - 50 * span, -np.inf, -np.pi / 2, 0.0, -0.5],
                               [beta_axis.max() + 50 * span, np.inf, np.pi / 2, 2.0, 1.5]))
    values = {"beta": fit.estimate(0, "ns"), "rate": fit.estimate(1, "rad/ns"),
              "phase_error": fit.derived(lambda p: p[1] * (current - p[0]), "rad"),
              "contrast": fit.estimate(3, ""), "offset": fit.estimate(4, "")}
    r, a, k = values["rate"], values["contrast"], values["phase_error"]
    curve = xr.Dataset(
        {"fit": (("beta", "repetitions"), fine_drag_model(n_axis[None, :], beta_axis[:, None], *fit.params))},
        coords={"beta": ("beta", beta_axis, {"units": "ns"}), "repetitions": ("repetitions", n_axis, {"units": ""})})
    checks = [
        (a.value > 5 * a.stderr and a.value > 0.2,
         f"no significant amplified signal (contrast {a.value:.3f} +- {a.stderr:.3f})."),
        (abs(r.value) > 5 * r.stderr,
         f"the phase error does not change measurably with beta (rate {r.value:.3g} +- {r.stderr:.2g} rad/ns)."),
        (abs(k.value) <= MAX_PHASE_ERROR,
         f"the phase error {k.value:.3f} rad per pair is beyond the fine range; run `drag` first."),
    ]
    return conclude(exp.name, exp.qubit, values, fit, checks, curve)
