"""Sweeps of one readout-pulse field (amplitude, duration), each point read single-shot, the best
held-out assignment fidelity chosen: what readout_amplitude and readout_duration share.

How it runs: one device run, each sweep point read with its own pulse (`readout_pulses`, which
run_experiment turns into `Integrated.swept`): `iq` (swept, prepared, shot, qubit, quadrature),
the qubit prepared in |0> and |1> as `single_shot` does.

Analysis, per swept value: an LDA discriminator trained on the even shots is judged on the odd
ones (fidelity F = 1 - (p01 + p10) / 2, binomial stderr), and these F choose the value: the
best (`choose`; an experiment whose optimum is broad overrides it). The values reported at
that value come from the other half: a discriminator trained on the odd shots, judged on the
even ones. Choosing the largest of many noisy fidelities favours one
that happened to come out high (the winner's curse); judging on shots the choice did not look
at keeps the reported fidelity unbiased, and the discriminator reported is the one it belongs to.

The chosen value is one that was measured, not one interpolated between them: the
discriminator's threshold scales with the pulse, so the angle, threshold and fidelity reported
belong to exactly that pulse. Its stderr is the half-width of the values the data cannot tell
from the best (fidelity within one combined stderr of it), each end widened by half the gap to
the next value swept, since the optimum may lie anywhere between two swept points. A parabola
through the points near the maximum would claim more: both curves are far from symmetric (a
slow rise, then a cliff or a long decline), so its vertex sits off the optimum, and on a coarse
sweep few points lie where a parabola holds.

BAD when no value tells the states apart (as `single_shot` checks), and when the best or the
chosen is the sweep's first or last value, unless that is the most the hardware plays (`at_limit`): the
optimum may then lie outside the sweep, and the stderr above could not say where.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import xarray as xr

from experiments.base import Experiment, ExperimentError, ReadsIQ, Sweep
from experiments.fitting import FitFailure, Fitted, analyse, conclude
from experiments.library.readout import MAX_ERROR_SUM, prepared_schedule
from experiments.library.single_shot import discriminator_values, judged_halves
from experiments.results import Estimate, FitResult

MIN_SHOTS = 20  # per state: fewer cannot train a discriminator on one half and judge it on the other


def checked_sweep(owner: str, values, usage: str, allowed) -> tuple[float, ...]:
    """An option's swept values, checked (at least 3, distinct, numbers that `allowed` accepts)
    and sorted increasing, so that the sweep's edges are its first and last points."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ExperimentError(f"{owner} is {values!r}, but must hold {usage}.")
    values = tuple(values)
    if (len(values) < 3 or any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
                               for v in values)
            or not all(np.isfinite(v) and allowed(v) for v in values) or len(set(values)) != len(values)):
        raise ExperimentError(f"{owner} is {list(values)!r}, but must hold {usage}.")
    return tuple(sorted(float(v) for v in values))


@dataclass(frozen=True)
class ReadoutPulseSweep(ReadsIQ, Experiment):
    """Single-shot readout of |0> and |1> with the calibrated readout pulse, one of its fields
    (`pulse_field`, a keyword of `QubitCalibration.readout_pulse`) swept over `swept()`."""

    dim: ClassVar[str]  # the sweep's coordinate, e.g. "amplitude"
    pulse_field: ClassVar[str]  # the readout_pulse keyword it sets, e.g. "amp"
    value_name: ClassVar[str]  # the reported value, e.g. "readout_amp"
    unit: ClassVar[str]
    units: ClassVar[dict[str, str]]  # everything the analysis reports
    below_advice: ClassVar[str]  # what to do when the best is the sweep's first value
    above_advice: ClassVar[str]  # ... its last

    @abstractmethod
    def swept(self) -> tuple[float, ...]:
        """The swept values, increasing."""

    def choose(self, fidelity: np.ndarray, sigma: np.ndarray) -> int:
        """Which swept value to report, from the choosing half's fidelities (and stderrs): the best."""
        return int(np.argmax(fidelity))

    def at_limit(self, value: float) -> bool:
        """Whether `value` is the most the hardware plays, so that a best there is reported GOOD."""
        return False

    def describe(self, value: float) -> str:
        return f"{value:.4g}" + (f" {self.unit}" if self.unit else "")

    def sweeps(self, cal):
        return [Sweep(self.dim, np.asarray(self.swept()), self.unit), Sweep("prepared", np.array([0, 1]), "")]

    def schedule(self, cal, point):
        return prepared_schedule(cal[self.qubit], point["prepared"])

    def readout_pulses(self, cal, point):
        return (cal[self.qubit].readout_pulse(**{self.pulse_field: float(point[self.dim])}),)

    def analyze(self, ds: xr.Dataset) -> FitResult:
        return analyse(self.name, self.qubit, self.units, ds, lambda: best_held_out(self, ds))


def alike(fidelity: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The indices of the swept values whose fidelity is within one combined stderr of the best's:
    those the data cannot tell from it."""
    best = int(np.argmax(fidelity))
    return np.flatnonzero(fidelity[best] - fidelity <= np.hypot(sigma[best], sigma))


def location_stderr(swept: np.ndarray, fidelity: np.ndarray, sigma: np.ndarray) -> float:
    """Half-width of the swept values the data cannot tell from the best (`alike`), each end
    widened by half the gap to its swept neighbour (not beyond the sweep's edges)."""
    same = alike(fidelity, sigma)
    lo, hi = int(same.min()), int(same.max())
    low = swept[lo] - 0.5 * (swept[lo] - swept[lo - 1]) if lo > 0 else swept[lo]
    high = swept[hi] + 0.5 * (swept[hi + 1] - swept[hi]) if hi < len(swept) - 1 else swept[hi]
    return 0.5 * float(high - low)


def best_held_out(exp: ReadoutPulseSweep, ds: xr.Dataset) -> FitResult:
    """The swept value with the best held-out fidelity, its fidelity and discriminator from the
    other half of the shots (see the module)."""
    dim = exp.dim
    if dim not in ds.dims or "prepared" not in ds.dims:
        raise FitFailure(f"the dataset has dims {tuple(ds.dims)}, but a readout {dim} sweep needs `{dim}` "
                         f"and `prepared` (as {exp.name}'s own run makes).")
    prepared = list(np.asarray(ds["prepared"].values).tolist())
    if sorted(prepared) != [0, 1]:
        raise FitFailure(f"the dataset prepares {prepared}, but single-shot readout needs exactly 0 and 1.")
    swept = np.asarray(ds[dim].values, float)
    order = np.argsort(swept)
    swept = swept[order]
    if len(swept) < 3:
        raise FitFailure(f"the sweep has {len(swept)} {dim}(s), but locating an optimum needs at least 3.")
    points = np.asarray(ds["iq"].sel(qubit=exp.qubit).transpose(dim, "prepared", "shot", "quadrature")
                        .values)[order][:, [prepared.index(0), prepared.index(1)]]
    if points.shape[2] < MIN_SHOTS:
        raise FitFailure(f"{points.shape[2]} shots per state are too few to train and judge a discriminator "
                         f"(>= {MIN_SHOTS}).")
    halves = [judged_halves(p[0], p[1]) for p in points]
    fidelity = np.array([h[0].fidelity for h in halves])
    sigma = np.array([h[0].fidelity_sigma for h in halves])
    best, pick = int(np.argmax(fidelity)), exp.choose(fidelity, sigma)
    chosen, reported = halves[pick]
    value = float(swept[pick])
    spread = location_stderr(swept, fidelity, sigma)
    values = {exp.value_name: Estimate(value, spread, exp.unit),
              "assignment_fidelity": Estimate(reported.fidelity, reported.fidelity_sigma, ""),
              **discriminator_values(reported, chosen)}
    estimate = Fitted(params=np.array([value]), cov=np.array([[spread**2]]), reduced_chi2=float("nan"), model=None)
    separation = 1.0 - chosen.p01 - chosen.p10
    s_sep = float(np.hypot(*chosen.sigmas))
    at = exp.describe(value)
    checks = [
        (separation > 5 * s_sep,
         f"prepared 0 and 1 read alike at every {dim} (at the best, {at}, P(1) differs by "
         f"{separation:.3f} +- {s_sep:.3f}): the X pulse or the readout pulse does not work."),
        (0 not in (best, pick) or exp.at_limit(swept[0]),
         f"the best fidelity ({fidelity[best]:.4f}) is at the sweep's lower edge, {dim} {exp.describe(swept[0])}: "
         f"the optimum may lie below the swept {dim}s; {exp.below_advice}"),
        (len(swept) - 1 not in (best, pick) or exp.at_limit(swept[-1]),
         f"the best fidelity ({fidelity[best]:.4f}) is at the sweep's upper edge, {dim} {exp.describe(swept[-1])}: "
         f"the optimum may lie above the swept {dim}s; {exp.above_advice}"),
        (chosen.p01 + chosen.p10 < MAX_ERROR_SUM,
         f"assignment errors p01 + p10 = {chosen.p01 + chosen.p10:.3f} >= {MAX_ERROR_SUM} at the best {dim} "
         f"{at}: the readout barely tells 0 from 1."),
    ]
    curve = xr.Dataset({"assignment_fidelity": (dim, fidelity), "stderr": (dim, sigma)},
                       coords={dim: (dim, swept, {"units": exp.unit})})
    return conclude(exp.name, exp.qubit, values, estimate, checks, curve)
