"""Leakage readout: the population a gate leaves in |2>, per gate, read as three levels.

The gate (a qubit's calibrated X, or a pair's ECR) is played N times from |0> for N in
`repetitions`, `seeds` random sequences each: before every gate each qubit's frame turns by a
random phase (a virtual Z, free). A repeated identical gate adds its leakage amplitudes
coherently, so |2>'s population swings with N (seed 0's pair 1-0 at 0.8 of full scale: 2 %,
5 %, 1 %, 1 %, 3 % after 1-5 ECRs); under random phases it adds up as populations do, which a
straight line describes. Every shot is read as level 0, 1 or 2 on the device, through each
qubit's stored three-state discriminator (Discriminated(levels=3);
experiments/library/three_state.py trains it). |0>, |1> and |2> are prepared in the same
device call (the references: the X pulse, then the 1-2 pulse, at amplitude 0 where a level
stops; each played `seeds` times, so they have as many shots as a point's mean) and read the
same way, so their read fractions are the confusion matrix M (M[i, j] = P(read j | in level
i)) of that moment: a readout that moved since the discriminator was trained is measured, not
assumed.

Each sequence's level populations are its read fractions through M's inverse (unbiased, so a
point may come out slightly negative). The leakage per gate is the slope of |2>'s mean
population against N, fitted by generalised least squares: each point's variance is the
spread of its random sequences (floored by the shots' noise), and M's noise, which moves
every point at once, enters as their covariance (estimated by drawing the references' counts
anew). The intercept is |2>'s population with no gate played: ~0, plus what the references'
preparation errors leave (a 1-2 pulse that leaves ~2 % in |1> mixes into M as if it were a
readout error).

What the slope assumes. Little of |2> decays back during the sequence (|2> -> |1> at 2/T1):
with the defaults the longest sequence lasts ~2 us (100 X gates) or ~5 us (8 ECRs of ~600 ns),
against 2/T1 ~ 1/40 us on sim-5q, so the slope reads low by ~2.5 % and ~6 %; and the gate
itself returns little of |2> (seepage), which the ECR does not quite meet: on 3 held-out pairs
at 0.65 of full scale, the slope of the exact populations (no shots, 16 sequences) was
0.53-0.83x the average gate leakage of devices.truth (4.2-8.0e-4 against 7.4-9.7e-4), and
random SX pulses added before each ECR (so that it meets every state alike) changed that by
under 5 %. So at a few 1e-4 the readout reads low by up to half; from 1.3e-3 to 1.8e-2 (seed
0's pair 1-0 at 0.68-0.72 of full scale, two runs each) all 8 runs read within 1.3 sigma, and at
3e-2 it read 3.2e-2 against 3.1e-2. Measured over 12 held-out sim-5q pairs that leak 4-14e-4
per ECR: every estimate within 1.1 sigma of the true average gate leakage (the error bars,
1.2-2.8e-3 at the design's readout pulse, are wide against these levels), reading low by 0.5
sigma on average.

Where it helps. A pair's ECR: the cross-resonance tone drives the control near its 1-2
transition, and at 0.8 of full scale some sim-5q pairs lose ~3 % per gate to |2>, which the
pair's RB reads only as a larger error. The `two-qubit-leakage` graph checks it after the
tomography (`max_leakage`: a gate leaking significantly more, its estimate less two standard
errors above it, is a failed node with its reason). A qubit's
DRAG X: measured on sim-5q (seed 12, qubit 2) a calibrated X leaves 1e-5 in |2> per gate and
the population in |2> stays below 5e-4 after 100 gates, against a three-state confusion of
~7 %: the readout bounds that leakage (to ~1e-4 per gate with 2000 shots) but cannot measure
it, so no graph's DRAG node uses it.

Values: per qubit read, `leakage_<role>` (per gate) and `floor_<role>` (the intercept), role
`qubit` for one qubit, `control` and `target` for a pair; and `leakage`, their sum (a shot with
both qubits in |2> counts twice: per-qubit reads cannot tell it from two shots with one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import xarray as xr

from devices.protocol import Discriminated
from devices.schedule import Barrier, Play, Schedule
from devices.sequences import BlockSequence, GateSequence
from experiments.base import Experiment, ExperimentError, PairGateExperiment, Sweep
from experiments.fitting import FitFailure, Fitted, analyse, conclude, curve_dataset
from experiments.library.fine_amplitude import sx_x_table
from experiments.library.rb import sequence_rng
from experiments.library.rb2q import FRAMES, block_table, compile_program
from experiments.library.three_state import level_schedule
from experiments.results import Estimate

LEVELS = (0, 1, 2)
RESAMPLES = 200  # draws of the references' counts for the covariance their noise gives the points
MIN_POINTS = 3


def _units(roles: tuple[str, ...]) -> dict[str, str]:
    return {"leakage": "", **{f"{kind}_{role}": "" for role in roles for kind in ("leakage", "floor")}}


def _check_options(exp) -> None:
    reps = tuple(exp.repetitions)
    object.__setattr__(exp, "repetitions", reps)  # a list (from JSON) becomes the declared tuple
    name = type(exp).__name__
    if (len(reps) < MIN_POINTS or len(set(reps)) != len(reps)
            or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in reps)):
        raise ExperimentError(f"{name}.repetitions is {list(reps)}, but must be >= {MIN_POINTS} different gate "
                              "counts >= 1 (N = 0 is the |0> reference, always played).")
    if isinstance(exp.seeds, bool) or not isinstance(exp.seeds, int) or exp.seeds < 2:
        raise ExperimentError(f"{name}.seeds is {exp.seeds!r}, but must be an integer >= 2 (the spread of the "
                              "random sequences sizes the error bars).")
    if not (isinstance(exp.max_leakage, (int, float)) and 0 < exp.max_leakage < 1):
        raise ExperimentError(f"{name}.max_leakage is {exp.max_leakage!r}, but must be in (0, 1).")


def _twirl(exp, n: int, sample: int, *, frames: int) -> np.ndarray:
    """(n, frames) random frame phases, one set before each gate (see the module)."""
    return sequence_rng(exp.rng_seed, 7, n, sample).uniform(0.0, 2 * np.pi, size=(n, frames))


def _three_levels(cal: dict, qubits: tuple[int, ...]) -> Discriminated:
    readouts = tuple(cal[q].calibrated_readout() for q in qubits)
    missing = [q for q, r in zip(qubits, readouts) if r is None or r.levels is None]
    if missing:
        raise ExperimentError(f"the leakage readout needs a stored three-state discriminator on qubit(s) {missing} "
                              "(the readout graph's discriminator and three_state nodes store one).")
    return Discriminated(readouts, levels=3)


class LeakageReadout:
    """What the leakage readouts share (mixed in before Experiment): their options' checks, the
    three-level acquisition, the random-phase sweep and the analysis. A class names the `roles`
    of its qubits in the values."""

    roles: ClassVar[tuple[str, ...]]

    def __post_init__(self):
        if hasattr(super(), "__post_init__"):
            super().__post_init__()
        _check_options(self)

    @classmethod
    def fitted_units(cls, options: dict) -> dict[str, str]:
        return _units(cls.roles)

    def acquisition(self, cal):
        return _three_levels(cal, self.qubits)

    def sweeps(self, cal):
        return [Sweep("repetitions", np.asarray(sorted(self.repetitions)), ""),
                Sweep("seed", np.arange(self.seeds), "")]

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, _units(self.roles), ds, lambda: _estimate(self, ds))


@dataclass(frozen=True)
class Leakage(LeakageReadout, Experiment):
    """N = each of `repetitions` calibrated X gates on one qubit, read as three levels, with
    |0>, |1>, |2> references in the same call. `max_leakage`: per gate, above it the result is bad."""

    name = "leakage"
    summary = "Leakage readout: population left in |2> per X gate, read through the three-state discriminator"
    repetitions: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    seeds: int = 4
    max_leakage: float = 1e-3
    rng_seed: int | None = None

    roles = ("qubit",)

    def schedule(self, cal, point):
        n = int(point["repetitions"])
        phases = _twirl(self, n, int(point["seed"]), frames=1)[:, 0]
        return GateSequence(sx_x_table(cal[self.qubit]), [1] * n, phases)  # table: SX, X

    def references(self, cal):
        return [level_schedule(cal[self.qubit], level) for level in LEVELS for _ in range(self.seeds)]


def pair_level_schedule(control, target, level: int) -> Schedule:
    """Both qubits of a pair prepared in `level` (0, 1 or 2) at once: each one's X, then each
    one's 1-2 pulse on a second tone of its line (amplitude 0 where the level stops)."""
    x = [c.x_pulse(amp=c.x_amp if level >= 1 else 0.0) for c in (control, target)]
    ef = [c.ef_pulse(amp=c.ef_pi_amp if level >= 2 else 0.0) for c in (control, target)]
    return Schedule([Play(0, x[0]), Play(1, x[1]), Barrier(), Play(2, ef[0]), Play(3, ef[1])],
                    [control.frequency, target.frequency, control.ef_frequency, target.ef_frequency],
                    lines=[0, 1, 0, 1])


@dataclass(frozen=True)
class EcrLeakage(LeakageReadout, PairGateExperiment):
    """N = each of `repetitions` ECRs of the pair (qubit = control, `target`), both qubits read as
    three levels, with both in |0>, |1>, |2> as the references. `max_leakage`: per ECR."""

    name = "ecr_leakage"
    summary = "Leakage readout of a CR pair: population the ECR leaves in |2> of either qubit, per gate"
    repetitions: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    seeds: int = 4
    max_leakage: float = 5e-3
    rng_seed: int | None = None

    roles = ("control", "target")

    def sweeps(self, cal):
        self.pair()  # refuses missing settings before anything plays
        return super().sweeps(cal)

    def schedule(self, cal, point):
        n = int(point["repetitions"])
        twirl = _twirl(self, n, int(point["seed"]), frames=2)
        gates = [g for k in range(n) for g in (("rz", (0,), twirl[k, 0]), ("rz", (1,), twirl[k, 1]),
                                              ("ecr", (0, 1), 0.0))]
        program, phases = compile_program(gates, self.target_phase)
        return BlockSequence(block_table(cal, self.qubit, self.target, self.pair()), FRAMES, program, phases)

    def references(self, cal):
        return [pair_level_schedule(cal[self.qubit], cal[self.target], level) for level in LEVELS
                for _ in range(self.seeds)]


def level_populations(reads: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Populations (..., level) behind read fractions (..., level): reads = populations @ M,
    M[i, j] = P(read j | in level i)."""
    return reads @ np.linalg.inv(confusion)


def straight_line(n: np.ndarray, y: np.ndarray, covariance: np.ndarray) -> Fitted:
    """floor + slope * n by generalised least squares under the points' full covariance (the
    references' noise is common to every point), with the same Birge scaling as weighted_fit."""
    design = np.stack([np.ones_like(n), n], axis=1)
    weight = np.linalg.inv(covariance)
    params_cov = np.linalg.inv(design.T @ weight @ design)
    params = params_cov @ design.T @ weight @ y
    residual = y - design @ params
    chi2 = float(residual @ weight @ residual) / (len(n) - 2)
    return Fitted(params=params, cov=params_cov * max(1.0, chi2), reduced_chi2=chi2,
                  model=lambda x, floor, slope: floor + slope * np.asarray(x))


def _qubit_leakage(n: np.ndarray, counts: np.ndarray, reference: np.ndarray, shots: int,
                   rng: np.random.Generator) -> Fitted:
    """The line fitted to |2>'s mean population against N, for one qubit: counts (point, seed,
    level) of `shots` each, reference (prepared, level) counts pooled over its repeats."""
    reference_shots = int(reference[0].sum())
    confusion = reference / reference_shots
    if np.linalg.cond(confusion) > 1e3:
        raise FitFailure(f"the references read alike (confusion matrix {np.round(confusion, 3).tolist()}): the "
                         "three-state discriminator no longer tells the levels apart.")
    reads = counts / shots
    in_two = level_populations(reads, confusion)[..., 2]
    seeds = in_two.shape[1]
    # The random sequences, not the shots, are the independent samples at one point (as in RB):
    # the mean's error is the spread across them, floored by the shots' multinomial noise
    # carried through the unmixing's |2> column.
    column = np.linalg.inv(confusion)[:, 2]
    shot_variance = (reads @ column**2 - (reads @ column) ** 2) / shots
    sigma = np.maximum(in_two.std(axis=1, ddof=1), np.sqrt(shot_variance.mean(axis=1))) / np.sqrt(seeds)
    # M's noise moves every point at once (the gates flip |0> and |1>, so an error in either
    # row offsets odd N against even N): its covariance, from references drawn anew
    drawn = np.stack([level_populations(reads, rng.multinomial(reference_shots, confusion) / reference_shots)
                      [..., 2].mean(axis=1) for _ in range(RESAMPLES)])
    return straight_line(n, in_two.mean(axis=1), np.diag(sigma**2) + np.cov(drawn, rowvar=False))


def _estimate(exp, ds: xr.Dataset):
    if "level_counts" not in ds or "reference_level_counts" not in ds:
        raise FitFailure("the dataset has no three-level counts of its points and references: the leakage readout "
                         "needs a device read through the three-state discriminators (Discriminated(levels=3)).")
    shots = int(ds.attrs["shots"])
    n = ds["repetitions"].values.astype(float)
    rng = np.random.default_rng(0)  # the resampling only sizes an error bar
    values, checks, fits = {}, [], []
    total, total_var = 0.0, 0.0
    for role, qubit in zip(exp.roles, exp.qubits):
        counts = ds["level_counts"].sel(qubit=qubit).transpose("repetitions", "seed", "level").values
        reference = ds["reference_level_counts"].sel(qubit=qubit).transpose("reference", "level").values
        # each level's reference is played `seeds` times (as many shots as a point's mean has): pooled
        reference = reference.reshape(len(LEVELS), -1, reference.shape[-1]).sum(axis=1)
        fit = _qubit_leakage(n, counts, reference, shots, rng)
        slope = fit.estimate(1, "")
        values[f"leakage_{role}"] = slope
        values[f"floor_{role}"] = fit.estimate(0, "")
        total, total_var = total + slope.value, total_var + slope.stderr**2
        fits.append(fit)
    values["leakage"] = Estimate(total, float(np.sqrt(total_var)), "")
    leak = values["leakage"]
    checks.append((leak.value - 2 * leak.stderr <= exp.max_leakage,
                   f"the gate leaks {leak.value:.2e} +- {leak.stderr:.1e} per gate to |2>, above the allowed "
                   f"{exp.max_leakage:g} (max_leakage)" + (": lower the CR tone." if len(exp.qubits) > 1 else ".")))
    worst = max(fits, key=lambda f: f.reduced_chi2)
    grid = np.linspace(0.0, n.max(), 50)
    curve = curve_dataset("repetitions", "", grid, worst.model(grid, *worst.params))
    return conclude(exp.name, exp.qubit, values, worst, checks, curve)
