"""Single-shot readout: IQ points of |0> and |1>, a trained discriminator and its assignment errors.

The qubit is prepared in |0> (an X pulse of amplitude 0) and in |1> (its calibrated X) and read
with the calibrated readout pulse, each shot returned as its integrated IQ point. A linear
discriminant (scikit-learn's LDA: two Gaussian blobs of one shared covariance, which is what
amplifier noise makes) is trained on half of each state's shots and judged on the other half,
so the assignment errors are not flattered by the points the boundary was fitted to.

Values: p01 = P(read 1 | prepared 0), p10 = P(read 0 | prepared 1), assignment_fidelity =
1 - (p01 + p10) / 2, binomial stderrs from the held-out shots; the discriminator as the
control stacks store one: a shot reads 1 when I cos(readout_angle) + Q sin(readout_angle) >
readout_threshold. The angle's and threshold's stderrs come from training again on the other
half (two independent fits differ by sqrt(2) of one fit's spread).

As with `readout`, p10 also holds the X pulse's error and the decay of |1> during the readout:
that is the assignment error a calibrated qubit has, not the discriminator's alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.readout import LinearDiscriminator
from experiments.base import Experiment, ReadsIQ, Sweep
from experiments.fitting import FitFailure, Fitted, analyse, binomial_sigma, conclude
from experiments.library.readout import MAX_ERROR_SUM, prepared_schedule
from experiments.results import Estimate

UNITS = {"p01": "", "p10": "", "assignment_fidelity": "", "readout_angle": "rad", "readout_threshold": ""}


@dataclass(frozen=True)
class SingleShot(ReadsIQ, Experiment):
    """Shots of |0> and |1>, each read as an IQ point with the calibrated readout pulse."""

    name = "single_shot"
    summary = "Single-shot IQ readout of |0> and |1>: LDA discriminator and assignment errors"

    def sweeps(self, cal):
        return [Sweep("prepared", np.array([0, 1]), "")]

    def schedule(self, cal, point):
        return prepared_schedule(cal[self.qubit], point["prepared"])

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _estimate(self, ds))


def train(zeros: np.ndarray, ones: np.ndarray) -> LinearDiscriminator:
    """LDA on IQ points (n, 2) of each state, as an angle and a threshold."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    lda = LinearDiscriminantAnalysis().fit(np.concatenate([zeros, ones]),
                                           np.concatenate([np.zeros(len(zeros)), np.ones(len(ones))]))
    w, b = lda.coef_[0], float(lda.intercept_[0])  # reads 1 where w . x + b > 0
    norm = float(np.hypot(*w))
    return LinearDiscriminator(angle=float(np.arctan2(w[1], w[0])), threshold=-b / norm)


@dataclass(frozen=True)
class Judged:
    """A discriminator and its assignment errors on held-out shots."""

    discriminator: LinearDiscriminator
    ones_from0: int
    zeros_from1: int
    n0: int
    n1: int

    @property
    def p01(self) -> float:
        return self.ones_from0 / self.n0

    @property
    def p10(self) -> float:
        return self.zeros_from1 / self.n1

    @property
    def sigmas(self) -> tuple[float, float]:
        return float(binomial_sigma(self.ones_from0, self.n0)), float(binomial_sigma(self.zeros_from1, self.n1))

    @property
    def fidelity(self) -> float:
        return 1.0 - 0.5 * (self.p01 + self.p10)

    @property
    def fidelity_sigma(self) -> float:
        return 0.5 * float(np.hypot(*self.sigmas))


def _train_and_judge(train_zeros, train_ones, held_zeros, held_ones) -> Judged:
    d = train(train_zeros, train_ones)
    return Judged(d, int(d.reads_one(held_zeros).sum()), int((~d.reads_one(held_ones)).sum()),
                  len(held_zeros), len(held_ones))


def judged_halves(zeros: np.ndarray, ones: np.ndarray) -> tuple[Judged, Judged]:
    """(trained on even shots and judged on odd, trained on odd and judged on even) for the IQ
    points (shot, quadrature) of each state. The device returns shots in random order, so even
    and odd are two independent halves."""
    return (_train_and_judge(zeros[0::2], ones[0::2], zeros[1::2], ones[1::2]),
            _train_and_judge(zeros[1::2], ones[1::2], zeros[0::2], ones[0::2]))


def discriminator_values(reported: Judged, other: Judged) -> dict[str, Estimate]:
    """The reported discriminator, its spread from the other half's: two independent fits differ
    by sqrt(2) of one fit's spread."""
    a, b = reported.discriminator, other.discriminator
    angle_gap = float(np.angle(np.exp(1j * (b.angle - a.angle))))
    return {"readout_angle": Estimate(a.angle, abs(angle_gap) / float(np.sqrt(2)), "rad"),
            "readout_threshold": Estimate(a.threshold, abs(b.threshold - a.threshold) / float(np.sqrt(2)), "")}


def _estimate(exp: SingleShot, ds: xr.Dataset):
    prepared = list(np.asarray(ds["prepared"].values).tolist())
    if sorted(prepared) != [0, 1]:
        raise FitFailure(f"the dataset prepares {prepared}, but single-shot readout needs exactly 0 and 1.")
    points = np.asarray(ds["iq"].sel(qubit=exp.qubit).transpose("prepared", "shot", "quadrature").values)
    zeros, ones = points[prepared.index(0)], points[prepared.index(1)]
    if len(zeros) < 20:
        raise FitFailure(f"{len(zeros)} shots per state are too few to train and judge a discriminator (>= 20).")
    first, second = judged_halves(zeros, ones)
    p01, p10 = first.p01, first.p10
    s01, s10 = first.sigmas
    estimate = Fitted(params=np.array([p01, p10]), cov=np.diag([s01**2, s10**2]), reduced_chi2=float("nan"),
                      model=None)
    values = {"p01": Estimate(p01, s01, ""), "p10": Estimate(p10, s10, ""),
              "assignment_fidelity": estimate.derived(lambda p: 1.0 - 0.5 * (p[0] + p[1]), ""),
              **discriminator_values(first, second)}
    separation = 1.0 - p01 - p10
    s_sep = float(np.hypot(s01, s10))
    checks = [
        (separation > 5 * s_sep,
         f"prepared 0 and 1 read alike (P(1) differs by {separation:.3f} +- {s_sep:.3f}): "
         "the X pulse or the readout pulse does not work."),
        (p01 + p10 < MAX_ERROR_SUM,
         f"assignment errors p01 + p10 = {p01 + p10:.3f} >= {MAX_ERROR_SUM}: the readout barely tells 0 from 1."),
    ]
    return conclude(exp.name, exp.qubit, values, estimate, checks, None)
