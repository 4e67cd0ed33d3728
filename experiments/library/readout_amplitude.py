"""Readout amplitude: the readout pulse amplitude whose single-shot assignment fidelity is highest.

More amplitude separates the |0> and |1> IQ blobs further against the same amplifier noise,
until the photons it puts in the resonator approach the critical number and the readout
itself excites the transmon (devices/readout.py): the assignment fidelity rises, peaks and
falls. At each amplitude the qubit is prepared in |0> and |1> and read as IQ points, as
`single_shot` does; the amplitude with the highest held-out fidelity is chosen.

How it runs: one device run, each sweep point read with its own pulse (`readout_pulses`, which
run_experiment turns into `Integrated.swept`): `iq` (amplitude, prepared, shot, qubit, quadrature).

Analysis, per amplitude: an LDA discriminator trained on the even shots is judged on the odd
ones (fidelity F = 1 - (p01 + p10) / 2, binomial stderr), and the best F chooses the amplitude.
The values reported at that amplitude come from the other half: a discriminator trained on the
odd shots, judged on the even ones. Choosing the largest of many noisy fidelities favours one
that happened to come out high (the winner's curse); judging on shots the choice did not look
at keeps the reported fidelity unbiased, and the discriminator reported is the one it belongs to.

The chosen amplitude is one that was measured, not one interpolated between them: the
discriminator's threshold scales with the amplitude, so the angle, threshold and fidelity
reported belong to exactly that amplitude. Its stderr is the half-width of the amplitudes the
data cannot tell from the best (fidelity within one combined stderr of it), each end widened
by half the gap to the next amplitude swept, since the optimum may lie anywhere between two
swept points. A parabola through the points near the maximum would claim more: the curve is
far from symmetric (a slow rise, as the blobs' separation grows with the amplitude, then a
cliff, as the induced transitions grow with its eighth power), so its vertex sits off the
optimum, and on a coarse sweep few points lie where a parabola holds.

BAD when no amplitude tells the states apart (as `single_shot` checks), and when the best
amplitude is the lowest swept or the highest swept below full scale: the optimum may then lie
outside the sweep. A best at full scale (1) is the most the AWG plays, so it is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.protocol import Integrated
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.fitting import FitFailure, Fitted, analyse, conclude
from experiments.library.readout import MAX_ERROR_SUM, prepared_schedule
from experiments.library.single_shot import discriminator_values, judged_halves
from experiments.results import Estimate

UNITS = {"readout_amp": "", "assignment_fidelity": "", "readout_angle": "rad", "readout_threshold": ""}

# Geometric: the blobs' separation over the noise grows as the amplitude and the induced
# transitions as its eighth power, so a step of a fixed ratio moves both by the same factor
# wherever a device's photon numbers put the optimum. 16 points (steps of 17 %) lose at most
# 0.1 % of fidelity to the grid on sim-5q's qubits (12 points, 23 % steps, lose up to 0.25 %).
DEFAULT_AMPLITUDES = tuple(round(float(a), 4) for a in np.geomspace(0.1, 1.0, 16))
FULL_SCALE = 1.0


@dataclass(frozen=True)
class ReadoutAmplitude(Experiment):
    """Single-shot readout of |0> and |1> at each of `amplitudes` (of full scale, 0..1]."""

    name = "readout_amplitude"
    summary = "Readout amplitude sweep: the amplitude with the best single-shot assignment fidelity"

    amplitudes: tuple[float, ...] = DEFAULT_AMPLITUDES

    def __post_init__(self):
        values = self.amplitudes
        usage = "at least 3 different readout amplitudes in 0 < a <= 1 (of full scale), e.g. (0.2, 0.3, ..., 1.0)"
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ExperimentError(f"ReadoutAmplitude.amplitudes is {values!r}, but must hold {usage}.")
        values = tuple(values)
        if (len(values) < 3 or any(isinstance(a, bool) or not isinstance(a, (int, float, np.integer, np.floating))
                                   for a in values)
                or not all(np.isfinite(a) and 0 < a <= FULL_SCALE for a in values) or len(set(values)) != len(values)):
            raise ExperimentError(f"ReadoutAmplitude.amplitudes is {list(values)!r}, but must hold {usage}.")
        # increasing order, so that the sweep's edges are its first and last points
        object.__setattr__(self, "amplitudes", tuple(sorted(float(a) for a in values)))

    def sweeps(self, cal):
        return [Sweep("amplitude", np.asarray(self.amplitudes), ""), Sweep("prepared", np.array([0, 1]), "")]

    def schedule(self, cal, point):
        return prepared_schedule(cal[self.qubit], point["prepared"])

    def acquisition(self, cal):
        return Integrated((cal[self.qubit].readout_pulse(),))

    def readout_pulses(self, cal, point):
        return (cal[self.qubit].readout_pulse(amp=float(point["amplitude"])),)

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _estimate(self, ds))


def _location_stderr(amplitudes: np.ndarray, fidelity: np.ndarray, sigma: np.ndarray, best: int) -> float:
    """Half-width of the amplitudes whose fidelity is within one combined stderr of the best,
    each end widened by half the gap to its swept neighbour (up to full scale at the top)."""
    alike = np.flatnonzero(fidelity[best] - fidelity <= np.hypot(sigma[best], sigma))
    lo, hi = int(alike.min()), int(alike.max())
    low = amplitudes[lo] - 0.5 * (amplitudes[lo] - amplitudes[lo - 1]) if lo > 0 else amplitudes[lo]
    high = amplitudes[hi] + 0.5 * (amplitudes[hi + 1] - amplitudes[hi]) if hi < len(amplitudes) - 1 else amplitudes[hi]
    return 0.5 * float(high - low)


def _estimate(exp: ReadoutAmplitude, ds: xr.Dataset):
    if "amplitude" not in ds.dims or "prepared" not in ds.dims:
        raise FitFailure(f"the dataset has dims {tuple(ds.dims)}, but a readout amplitude sweep needs `amplitude` "
                         "and `prepared` (as readout_amplitude's own run makes).")
    prepared = list(np.asarray(ds["prepared"].values).tolist())
    if sorted(prepared) != [0, 1]:
        raise FitFailure(f"the dataset prepares {prepared}, but single-shot readout needs exactly 0 and 1.")
    amplitudes = np.asarray(ds["amplitude"].values, float)
    order = np.argsort(amplitudes)
    amplitudes = amplitudes[order]
    if len(amplitudes) < 3:
        raise FitFailure(f"the sweep has {len(amplitudes)} amplitude(s), but locating an optimum needs at least 3.")
    points = np.asarray(ds["iq"].sel(qubit=exp.qubit).transpose("amplitude", "prepared", "shot", "quadrature")
                        .values)[order][:, [prepared.index(0), prepared.index(1)]]
    if points.shape[2] < 20:
        raise FitFailure(f"{points.shape[2]} shots per state are too few to train and judge a discriminator (>= 20).")
    halves = [judged_halves(p[0], p[1]) for p in points]
    choosing = [h[0] for h in halves]
    fidelity = np.array([j.fidelity for j in choosing])
    sigma = np.array([j.fidelity_sigma for j in choosing])
    best = int(np.argmax(fidelity))
    chosen, reported = halves[best]
    amp = float(amplitudes[best])
    amp_sigma = _location_stderr(amplitudes, fidelity, sigma, best)
    values = {"readout_amp": Estimate(amp, amp_sigma, ""),
              "assignment_fidelity": Estimate(reported.fidelity, reported.fidelity_sigma, ""),
              **discriminator_values(reported, chosen)}
    estimate = Fitted(params=np.array([amp]), cov=np.array([[amp_sigma**2]]), reduced_chi2=float("nan"), model=None)
    separation = 1.0 - chosen.p01 - chosen.p10
    s_sep = float(np.hypot(*chosen.sigmas))
    at_top_edge = best == len(amplitudes) - 1 and amp < FULL_SCALE
    checks = [
        (separation > 5 * s_sep,
         f"prepared 0 and 1 read alike at every amplitude (at the best, {amp:.4g}, P(1) differs by "
         f"{separation:.3f} +- {s_sep:.3f}): the X pulse or the readout pulse does not work."),
        (best != 0,
         f"the best fidelity ({fidelity[best]:.4f}) is at the sweep's lower edge, amplitude {amp:.4g}: the optimum "
         "may lie below the swept amplitudes; sweep lower ones."),
        (not at_top_edge,
         f"the best fidelity ({fidelity[best]:.4f}) is at the sweep's upper edge, amplitude {amp:.4g}: the optimum "
         f"may lie above the swept amplitudes; sweep higher ones (up to {FULL_SCALE:g}, full scale)."),
        (chosen.p01 + chosen.p10 < MAX_ERROR_SUM,
         f"assignment errors p01 + p10 = {chosen.p01 + chosen.p10:.3f} >= {MAX_ERROR_SUM} at the best amplitude "
         f"{amp:.4g}: the readout barely tells 0 from 1."),
    ]
    curve = xr.Dataset({"assignment_fidelity": ("amplitude", fidelity), "stderr": ("amplitude", sigma)},
                       coords={"amplitude": ("amplitude", amplitudes, {"units": ""})})
    return conclude(exp.name, exp.qubit, values, estimate, checks, curve)
