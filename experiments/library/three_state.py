"""Three-state single-shot readout: |0>, |1> and |2> told apart from their IQ points.

The qubit is prepared in |0>, |1> (the X pulse) and |2> (the X pulse, then the 1-2 pi pulse on
a second tone at the 1-2 transition: `QubitCalibration.ef_schedule`, all three one schedule
structure) and read with the calibrated readout pulse. A three-class linear discriminant
(scikit-learn's LDA: three Gaussian blobs of one shared covariance, as amplifier noise makes
them) is trained on half of each state's shots and judged on the other half, so the
assignment matrix is not flattered by the points it was fitted to.

Values: the assignment matrix's off-diagonal entries p_ij = P(read j | prepared i) (p01 and
p10 as the two-state experiments name them), with binomial stderrs from the held-out shots,
and assignment_fidelity3 = the mean of its diagonal. As there, p_ij also hold the preparation's
errors (the X and 1-2 pulses') and the decay during the readout (|2> decays to |1> at 2/T1):
p21 is what a leakage readout of this qubit mistakes for |1>.

The discriminator trained on the first half is reported for storing
(devices.readout.LevelDiscriminator: the three blob centres and their shared covariance, nine
values `readout_level*`, with stderrs from the one trained on the other half), and the
held-out matrix is that discriminator's. Once stored, discriminated runs can read each shot
as 0, 1 or 2 on the device (Discriminated(levels=3)), as the leakage readout does
(experiments/library/leakage.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.readout import LevelDiscriminator
from experiments.base import Experiment, ReadsIQ, Sweep
from experiments.calibration import LEVEL_DISCRIMINATOR_FIELDS, level_discriminator_values
from experiments.fitting import FitFailure, Fitted, analyse, binomial_sigma, conclude
from experiments.results import Estimate

LEVELS = (0, 1, 2)
OFF_DIAGONAL = [(i, j) for i in LEVELS for j in LEVELS if i != j]
UNITS = {"assignment_fidelity3": "", **{f"p{i}{j}": "" for i, j in OFF_DIAGONAL},
         **dict.fromkeys(LEVEL_DISCRIMINATOR_FIELDS, "")}
MIN_SHOTS = 30  # per state: fewer cannot train three classes and judge them too


def level_schedule(c, level: int):
    """|0>, |1> or |2> from the calibrated X and 1-2 pulses (amplitude 0 where a level stops)."""
    return c.ef_schedule(c.x_amp if level >= 1 else 0.0, c.ef_pulse(amp=c.ef_pi_amp if level >= 2 else 0.0))


def train_levels(points: np.ndarray) -> LevelDiscriminator:
    """A three-class LDA on IQ points (level, shot, quadrature) of |0>, |1>, |2>, as the
    discriminator that stores it (as many shots per level: equal priors)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    levels, shots = points.shape[:2]
    lda = LinearDiscriminantAnalysis(store_covariance=True).fit(points.reshape(-1, 2),
                                                                np.repeat(np.arange(levels), shots))
    covariance = 0.5 * (lda.covariance_ + lda.covariance_.T)  # symmetric to the last bit
    return LevelDiscriminator(centres=tuple((float(i), float(q)) for i, q in lda.means_),
                              covariance=tuple((float(a), float(b)) for a, b in covariance))


def assignment_counts(discriminator: LevelDiscriminator, points: np.ndarray) -> np.ndarray:
    """(prepared, read) counts of `points` (level, shot, quadrature) as `discriminator` reads them."""
    levels = points.shape[0]
    return np.stack([np.bincount(discriminator.levels(p), minlength=levels) for p in points])


@dataclass(frozen=True)
class ThreeStateReadout(ReadsIQ, Experiment):
    """Shots of |0>, |1> and |2>, each read as an IQ point with the calibrated readout pulse."""

    name = "three_state_readout"
    summary = "Single-shot IQ readout of |0>, |1> and |2>: three-state assignment matrix"

    def sweeps(self, cal):
        return [Sweep("prepared", np.array(LEVELS), "")]

    def schedule(self, cal, point):
        return level_schedule(cal[self.qubit], int(point["prepared"]))

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _estimate(self, ds))


def _estimate(exp: ThreeStateReadout, ds: xr.Dataset):
    prepared = [int(p) for p in np.asarray(ds["prepared"].values)]
    if sorted(prepared) != list(LEVELS):
        raise FitFailure(f"the dataset prepares {prepared}, but three-state readout needs exactly 0, 1 and 2.")
    points = np.asarray(ds["iq"].sel(qubit=exp.qubit, prepared=list(LEVELS))
                        .transpose("prepared", "shot", "quadrature").values)
    if points.shape[1] < 2 * MIN_SHOTS:
        raise FitFailure(f"{points.shape[1]} shots per state are too few to train and judge three classes "
                         f"(>= {2 * MIN_SHOTS}).")
    # the device returns shots in random order: even and odd shots are two independent halves
    discriminator, other = train_levels(points[:, 0::2]), train_levels(points[:, 1::2])
    counts = assignment_counts(discriminator, points[:, 1::2])
    n = counts.sum(axis=1)
    matrix = counts / n[:, None]
    sigma = np.array([[float(binomial_sigma(counts[i, j], n[i])) for j in LEVELS] for i in LEVELS])
    diagonal = np.diag(matrix)
    values = {f"p{i}{j}": Estimate(float(matrix[i, j]), float(sigma[i, j]), "") for i, j in OFF_DIAGONAL}
    values["assignment_fidelity3"] = Estimate(float(diagonal.mean()), float(np.sqrt((np.diag(sigma) ** 2).sum()) / 3), "")
    # two independent fits differ by sqrt(2) of one fit's spread
    other_values = level_discriminator_values(other)
    values.update({name: Estimate(value, abs(other_values[name] - value) / float(np.sqrt(2)), "")
                   for name, value in level_discriminator_values(discriminator).items()})
    estimate = Fitted(params=diagonal, cov=np.diag(np.diag(sigma) ** 2), reduced_chi2=float("nan"), model=None)
    separation, s_sep = 1.0 - matrix[1, 2] - matrix[2, 1], float(np.hypot(sigma[1, 2], sigma[2, 1]))
    checks = [(separation > 5 * s_sep,
               f"prepared 1 and 2 read alike (p12 + p21 = {1 - separation:.3f} +- {s_sep:.3f}): the 1-2 pulse does "
               "not work, or the readout cannot tell |2> from |1>.")]
    checks += [(matrix[i, i] > 0.5 + 5 * sigma[i, i],
               f"prepared {i} reads as {i} in only {matrix[i, i]:.3f} +- {sigma[i, i]:.3f} of the shots: the "
               + ("readout cannot tell it apart." if i < 2 else "1-2 pulse or the readout does not work."))
              for i in LEVELS]
    return conclude(exp.name, exp.qubit, values, estimate, checks, None)
