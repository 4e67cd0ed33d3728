"""DRAG: the beta that cancels the X gate's phase error, from (X, -X)^N sequences.

Why this sequence (the "rough DRAG" of qiskit-experiments): a DRAG pulse with the wrong
beta rotates by pi about an axis tilted out of the equator by eps ~ k (beta - beta0) (the
drive's AC Stark shift through the second excited level, which the derivative quadrature
cancels). X then -X (the same pulse in a frame turned by pi) are two pi rotations about
axes 2 eps apart across the pole, so the pair is a rotation by 4 eps about y and N pairs
give P1 = sin^2(N s (beta - beta0) / 2) with s = 4k. An amplitude error cancels exactly
within each pair, and no pi/2 pulse is involved, so neither the Rabi-level amplitude
error nor the SX calibration biases beta0; the state returns to |0> at beta0 whatever N,
so several N share one minimum, and larger N sharpen it. The alternative, X90 Y180 vs
Y90 X180, reads the same error only once per shot, without amplification, and through
two pi/2 pulses whose own errors enter.

On the 20 ns, sigma 5 ns pulses of the sim-1q transmons (alpha ~ -240 MHz) the minimum
gate error sits at beta ~ 1/(4 pi alpha) ~ -0.33 ns (half the leakage-cancelling
1/(2 pi alpha)); s is ~1.0 rad per ns per pair. Over a +-1.5 ns sweep the pair angle is
not quite linear in beta (its slope changes by ~1% per ns); a cosine of a linear phase
then shifts the fitted minimum by ~1.5 standard errors, so the phase carries a
quadratic term, s d (1 + q d), fitted with the rest.

Every X(beta) of the sweep is one entry of a single gate table shared by all sequences,
so a simulator propagates each pulse once and composes; -X is a ShiftPhase(pi) frame.
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

UNITS = {"beta": "ns", "rate": "rad/ns", "contrast": "", "offset": ""}


def drag_model(reps, beta, beta0, rate, curvature, contrast, offset):
    """P1 after `reps` (X, -X) pairs: a pair rotates by rate * d (1 + curvature * d),
    d = beta - beta0."""
    d = beta - beta0
    return offset - 0.5 * contrast * np.cos(reps * rate * d * (1.0 + curvature * d))


def x_table(c: QubitCalibration, betas) -> tuple:
    """One X schedule per beta (amplitude and frequency from the calibration); built once
    per calibration and sweep, as every sweep point plays from the same table."""
    key = tuple(None if v is None else float(v) for v in c.as_dict().values())
    return _x_table(key, tuple(float(b) for b in betas))


@functools.lru_cache(maxsize=16)
def _x_table(key: tuple[float, ...], betas: tuple[float, ...]) -> tuple:
    c = QubitCalibration(*key)
    return tuple(c.schedule([Play(0, c.x_pulse(beta=b))]) for b in betas)


def pair_program(gate: int, pairs: int) -> tuple[list[int], np.ndarray]:
    """Program and ShiftPhase increments of (X, -X)^pairs with X = table[gate]: each step
    after the first turns the frame by pi, so the sign alternates X, -X, X, ..."""
    phases = np.full(2 * pairs, np.pi)
    if pairs:
        phases[0] = 0.0
    return [gate] * (2 * pairs), phases


@dataclass(frozen=True)
class DragCalibration(Experiment):
    """(X, -X)^N for N in `repetitions`, with beta swept over current +- `span` ns."""

    name = "drag"
    summary = "DRAG: the beta cancelling the X gate's phase error"
    span: float = 1.5  # ns, half-width of the beta sweep around the current beta
    points: int = 31
    repetitions: tuple[int, ...] = (1, 3, 5)

    def __post_init__(self):
        if self.points < 8 or not self.span > 0:
            raise ExperimentError(f"DragCalibration needs points >= 8 and span > 0, got {self.points}, {self.span}.")
        if not self.repetitions or min(self.repetitions) < 1:
            raise ExperimentError(f"DragCalibration.repetitions must be >= 1, got {self.repetitions}.")

    def betas(self, cal) -> np.ndarray:
        return cal[self.qubit].beta + np.linspace(-self.span, self.span, self.points)

    def sweeps(self, cal):
        return [Sweep("repetitions", np.asarray(self.repetitions), ""),
                Sweep("beta", self.betas(cal), "ns")]

    def schedule(self, cal, point):
        c = cal[self.qubit]
        betas = self.betas(cal)
        table = x_table(c, betas)
        gate = int(np.argmin(np.abs(betas - point["beta"])))
        program, phases = pair_program(gate, int(point["repetitions"]))
        return GateSequence(table, program, phases)

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _fit(self, ds))


def _grid_start(reps, beta, y, sigma, step):
    """(beta0, rate) minimising chi-square over a grid, the linear parameters solved
    exactly at each node: a start that needs no per-device tuning."""
    n_max = reps.max()
    width = beta.max() - beta.min()
    rates = np.geomspace(0.25 * np.pi / (n_max * width), np.pi / (n_max * step), 120)
    centres = np.linspace(beta.min(), beta.max(), 8 * len(np.unique(beta)))
    w = 1.0 / sigma**2
    best = (np.inf, None)
    for rate in rates:
        c = -0.5 * np.cos(reps[None, :] * rate * (beta[None, :] - centres[:, None]))  # (centres, points)
        # weighted least squares of y = offset + contrast * c, per centre
        sw, swc, swcc = w.sum(), (w * c).sum(1), (w * c * c).sum(1)
        swy, swcy = (w * y).sum(), (w * c * y).sum(1)
        det = sw * swcc - swc**2
        with np.errstate(divide="ignore", invalid="ignore"):
            contrast = (sw * swcy - swc * swy) / det
            offset = (swy - contrast * swc) / sw
            chi2 = (w * (y - offset[:, None] - contrast[:, None] * c) ** 2).sum(1)
        chi2 = np.where((contrast > 0) & np.isfinite(chi2), chi2, np.inf)
        k = int(np.argmin(chi2))
        if chi2[k] < best[0]:
            best = (chi2[k], (centres[k], rate, contrast[k], offset[k]))
    if best[1] is None:
        raise FitFailure("no beta dependence resembling the DRAG signal in the data.")
    return best[1]


def _fit(exp: DragCalibration, ds: xr.Dataset):
    y2 = ds["probabilities"].sel(qubit=exp.qubit).transpose("repetitions", "beta").values
    counts = ds["counts"].sel(qubit=exp.qubit).transpose("repetitions", "beta").values
    beta_axis = ds["beta"].values
    reps_axis = ds["repetitions"].values.astype(float)
    if len(beta_axis) < 8:
        raise FitFailure(f"{len(beta_axis)} beta values are too few for the DRAG fit (8 or more).")
    reps, beta = (a.ravel() for a in np.meshgrid(reps_axis, beta_axis, indexing="ij"))
    y = y2.ravel()
    sigma = binomial_sigma(counts.ravel(), ds.attrs["shots"])
    step = float(np.min(np.diff(np.sort(beta_axis))))
    beta0, rate, contrast, offset = _grid_start(reps, beta, y, sigma, step)

    def model(i, b0, r, q, a, o):
        i = i.astype(int)
        return drag_model(reps[i], beta[i], b0, r, q, a, o)

    index = np.arange(len(y), dtype=float)
    half = 0.5 * np.ptp(beta_axis)
    q_max = 0.25 / half  # keeps the phase monotonic over the sweep
    fit = weighted_fit(model, index, y, sigma, [beta0, rate, 0.0, max(contrast, 1e-3), offset],
                       bounds=([beta.min() - half, 0.0, -q_max, 0.0, -0.5],
                               [beta.max() + half, np.inf, q_max, 2.0, 1.5]))
    values = {"beta": fit.estimate(0, "ns"), "rate": fit.estimate(1, "rad/ns"),
              "contrast": fit.estimate(3, ""), "offset": fit.estimate(4, "")}
    b0, r, a = values["beta"], values["rate"], values["contrast"]
    fine = np.linspace(beta_axis.min(), beta_axis.max(), 400)
    curve = xr.Dataset(
        {"fit": (("repetitions", "beta"), drag_model(reps_axis[:, None], fine[None, :], *fit.params))},
        coords={"repetitions": ("repetitions", reps_axis, {"units": ""}),
                "beta": ("beta", fine, {"units": "ns"})})
    checks = [
        (a.value > 5 * a.stderr and a.value > 0.2,
         f"no significant DRAG signal (contrast {a.value:.3f} +- {a.stderr:.3f})."),
        (r.value > 5 * r.stderr,
         f"the phase error does not depend on beta measurably (rate {r.value:.3g} +- {r.stderr:.2g} rad/ns)."),
        (beta_axis.min() <= b0.value <= beta_axis.max(),
         f"the optimum beta {b0.value:.4f} ns lies outside the sweep "
         f"[{beta_axis.min():.3f}, {beta_axis.max():.3f}] ns."),
        (reps_axis.max() * r.value * step < 0.6 * np.pi,
         f"the beta steps ({step:.3g} ns) undersample the oscillation at N = {reps_axis.max():g}; use more points."),
    ]
    return conclude(exp.name, exp.qubit, values, fit, checks, curve)
