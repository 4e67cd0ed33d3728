"""Randomized benchmarking: error per Clifford, per physical gate, and of one gate (IRB).

Each point plays m random Cliffords and the Clifford that inverts them, compiled to the
calibrated SX and X pulses between virtual Z frame changes (experiments.clifford), as a
GateSequence: a simulator propagates the two table pulses once and composes them, so
1000-Clifford sequences are cheap. The survival P(read 0) decays as A p^m + B; the error
per Clifford is r = (1 - p)(d - 1)/d = (1 - p)/2.

What r means: for gate-independent Markovian noise r is the average gate error of the
mean Clifford. With virtual Z perfect, a Clifford's error is that of its pulses, so
r ~ sum over pulses of their errors per Clifford, and the error per physical gate
`epg` = r / n, n the mean pulse count per Clifford (20/24 with X in the table, 1 without):
the average of the SX and X errors weighted by how often the Cliffords use them. Leakage
adds a slow second decay (population parked outside {0, 1} returns at rate ~1/T1), so at
long lengths the decay is not exactly exponential; for DRAG pulses it is a small bias.

Interleaved RB plays G after every random Clifford as well; with p_ref and p_G the two
decays, the gate's error is r_G = (1 - p_G / p_ref)/2 (Magesan et al., PRL 109, 080505).
It is exact for depolarizing noise and close for incoherent (T1/T2) errors; coherent errors
make it a biased estimate within Magesan's bound.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Play
from devices.sequences import GateSequence
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.calibration import QubitCalibration
from experiments.clifford import PhysicalGate, compile_sequence, mean_pulses_per_clifford, random_cliffords
from experiments.fitting import (best_fit, Fitted, analyse, binomial_sigma, conclude,
                                 curve_dataset)

RB_UNITS = {"epc": "", "epg": "", "alpha": "", "amplitude": "", "offset": ""}
IRB_UNITS = {"epg": "", "epc_reference": "", "alpha_reference": "", "alpha_interleaved": ""}
# Up to ~1/(2 EPC) of a coherence-limited qubit (EPC ~ 1.5e-4 on sim-1q), where the decay
# has fallen to about half: shorter sequences leave a good qubit's error poorly resolved.
DEFAULT_LENGTHS = (1, 10, 50, 100, 250, 500, 1000, 1500, 2000, 3000)
TABLE = (PhysicalGate.SX, PhysicalGate.X)  # gate table order of every RB GateSequence
_REFERENCE, _INTERLEAVED = "reference", "interleaved"


def rb_model(m, amplitude, alpha, offset):
    return amplitude * alpha**m + offset


@functools.lru_cache(maxsize=64)
def _gate_table(cal: QubitCalibration):
    # one table per calibration, shared by every sequence (the device groups sequences
    # by table and propagates each pulse once)
    return (cal.schedule([Play(0, cal.sx_pulse())]), cal.schedule([Play(0, cal.x_pulse())]))


def rb_sequence(cal: QubitCalibration, cliffords: Sequence[int], *, use_x: bool = True,
                interleaved: PhysicalGate | None = None) -> GateSequence:
    """`cliffords` (indices) in order, `interleaved` after each if given, then the recovery."""
    program, phases = compile_sequence(cliffords, table=TABLE, use_x=use_x, interleaved=interleaved)
    # A program can be empty (a Z-only Clifford and its inverse): the simulator plays it as
    # nothing at all and measures the readout alone.
    return GateSequence(_gate_table(cal), program, phases)


def sequence_rng(rng_seed: int | None, stream: int, length: int, sample: int) -> np.random.Generator:
    # One independent stream per (sequence kind, length, sample): the points are
    # independent draws, so the per-length means are independent and a weighted fit's
    # chi-square means what it says (nested sequences would correlate the lengths).
    if rng_seed is None:
        return np.random.default_rng()
    return np.random.default_rng([rng_seed, stream, length, sample])


def check_rb_options(exp) -> None:
    lengths = tuple(exp.lengths)
    object.__setattr__(exp, "lengths", lengths)  # a list (from JSON) becomes the declared tuple
    if (len(lengths) < 4 or any(isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1
                                for m in lengths) or len(set(lengths)) != len(lengths)):
        raise ExperimentError(
            f"{type(exp).__name__}.lengths is {list(lengths)}, but must hold at least 4 different "
            "integers >= 1 (Cliffords per sequence), e.g. (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)."
        )
    if isinstance(exp.seeds, bool) or not isinstance(exp.seeds, (int, np.integer)) or exp.seeds < 3:
        raise ExperimentError(
            f"{type(exp).__name__}.seeds is {exp.seeds!r}, but must be an integer >= 3: the error "
            "bars come from the spread across random sequences (30 is typical)."
        )
    if exp.rng_seed is not None and (not isinstance(exp.rng_seed, (int, np.integer)) or exp.rng_seed < 0):
        raise ExperimentError(f"{type(exp).__name__}.rng_seed is {exp.rng_seed!r}, but must be None "
                              "or an integer >= 0.")


@dataclass(frozen=True)
class StandardRB(Experiment):
    """`seeds` random Clifford sequences at each of `lengths` (Cliffords, recovery excluded).

    use_x: play the four Cliffords that flip Z (X up to frames) as one X pulse, so the
        result averages SX and X errors; False benchmarks SX alone (two per flip).
    rng_seed: None draws fresh sequences (on a seeded device run_experiment seeds them from its
        seed and clock, experiments.base.with_sequence_seed); an integer makes them reproducible.
    """

    name = "rb"
    summary = "Randomized benchmarking: error per Clifford (epc) and per physical gate (epg)"
    lengths: tuple[int, ...] = DEFAULT_LENGTHS
    seeds: int = 30
    use_x: bool = True
    rng_seed: int | None = None

    def __post_init__(self):
        check_rb_options(self)

    def sweeps(self, cal):
        return [Sweep("length", np.asarray(sorted(self.lengths)), ""),
                Sweep("seed", np.arange(self.seeds), "")]

    def schedule(self, cal, point):
        length, sample = int(point["length"]), int(point["seed"])
        cliffords = random_cliffords(sequence_rng(self.rng_seed, 0, length, sample), length)
        return rb_sequence(cal[self.qubit], cliffords, use_x=self.use_x)

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, RB_UNITS, ds, lambda: _analyze_rb(self, ds))


class Decay:
    """A fitted RB decay of one set of sequences, with what a verdict checks. `survived`:
    shots that returned to the start (length, seed); `dim`: 2 for one qubit, 4 for two."""

    def __init__(self, lengths: np.ndarray, survived: np.ndarray, shots: int, label: str, dim: int = 2):
        self.label, self.dim = label, dim
        survival = survived / shots
        counts = shots - survived  # shots that did not survive, for the binomial floor (symmetric)
        seeds = survival.shape[1]
        self.lengths = np.asarray(lengths, float)
        self.mean = survival.mean(axis=1)
        # Shots of one sequence share its errors (its own coherent-error sum and
        # leakage), so at one length the sequences, not the shots, are the independent
        # samples: the mean's error is the standard error across seeds, which holds both
        # the seed-to-seed variance and shot noise. Binomial noise of all shots pooled is
        # a floor, for few seeds that happen to agree.
        spread = survival.std(axis=1, ddof=1) / np.sqrt(seeds)
        floor = binomial_sigma(counts.sum(axis=1), shots * seeds)
        self.sigma = np.maximum(spread, floor)
        self.fit = _fit_decay(self.lengths, self.mean, self.sigma, label)

    @classmethod
    def of_qubit(cls, ds: xr.Dataset, qubit: int, label: str) -> "Decay":
        """One qubit's decay: survival is reading 0."""
        ones = ds["counts"].sel(qubit=qubit).transpose("length", "seed").values
        shots = int(ds.attrs["shots"])
        return cls(ds["length"].values, shots - ones, shots, label)

    def error_per_clifford(self, q) -> float:
        return (1.0 - q[1]) * (self.dim - 1) / self.dim

    def checks(self) -> list[tuple[bool, str]]:
        first, last = self.lengths.min(), self.lengths.max()
        # the drop of the fitted survival over the lengths played: A alone is not
        # determined when the decay is shallow (A and B trade off), the drop is
        depth = self.fit.derived(lambda q: q[0] * (q[1] ** first - q[1] ** last), "")
        r = self.fit.derived(self.error_per_clifford, "")
        return [
            (depth.value > 5 * depth.stderr,
             f"no significant {self.label} decay (survival drops by {depth.value:.3f} +- "
             f"{depth.stderr:.3f} from length {first:g} to {last:g})."),
            (r.value > 2 * r.stderr,
             f"the {self.label} decay is not resolved (error per Clifford {r.value:.2e} +- {r.stderr:.1e}): "
             "use longer sequences or more seeds."),
        ]


def _fit_decay(m: np.ndarray, y: np.ndarray, sigma: np.ndarray, label: str) -> Fitted:
    offset0 = float(np.clip(min(y.min(), 0.5), 0.0, 1.0))
    # decays from a few to ~1e5 Cliffords: try starts across them
    starts = [[float(np.clip((y[0] - offset0) / alpha0 ** m[0], 0.01, 1.0)), alpha0, offset0]
              for alpha0 in (0.9, 0.99, 0.999, 0.9999)]
    return best_fit(rb_model, m, y, sigma, starts, bounds=([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]),
                    what=f"{label} decay")


def curve_of(decay: Decay) -> xr.Dataset:
    fine = np.unique(np.geomspace(decay.lengths.min(), decay.lengths.max(), 400))
    return curve_dataset("length", "", fine, rb_model(fine, *decay.fit.params))


def _analyze_rb(exp: StandardRB, ds: xr.Dataset):
    decay = Decay.of_qubit(ds, exp.qubit, "RB")
    fit = decay.fit
    pulses = mean_pulses_per_clifford(use_x=exp.use_x)
    values = {
        "epc": fit.derived(lambda q: (1.0 - q[1]) / 2.0, ""),
        "epg": fit.derived(lambda q: (1.0 - q[1]) / 2.0 / pulses, ""),
        "alpha": fit.estimate(1, ""),
        "amplitude": fit.estimate(0, ""),
        "offset": fit.estimate(2, ""),
    }
    return conclude(exp.name, exp.qubit, values, fit, decay.checks(), curve_of(decay))


@dataclass(frozen=True)
class InterleavedRB(Experiment):
    """Reference RB and RB with `gate` after every random Clifford, in one run.

    The sweep `sequence` in ("reference", "interleaved") selects the two sets; they are
    drawn independently, so the two fits are independent and their variances add in
    the error of r_G."""

    name = "interleaved_rb"
    summary = "Interleaved RB: error of the X or SX gate (epg)"
    gate: PhysicalGate = PhysicalGate.X
    lengths: tuple[int, ...] = DEFAULT_LENGTHS
    seeds: int = 30
    use_x: bool = True
    rng_seed: int | None = None

    def __post_init__(self):
        try:  # the option's value as text (from JSON or the CLI) is accepted at the boundary
            object.__setattr__(self, "gate", PhysicalGate(self.gate))
        except ValueError:
            raise ExperimentError(f"InterleavedRB.gate is {self.gate!r}, but must be one of "
                                  f"{[g.value for g in PhysicalGate]} (a PhysicalGate).") from None
        check_rb_options(self)

    def sweeps(self, cal):
        return [Sweep("sequence", np.asarray([_REFERENCE, _INTERLEAVED]), ""),
                Sweep("length", np.asarray(sorted(self.lengths)), ""),
                Sweep("seed", np.arange(self.seeds), "")]

    def schedule(self, cal, point):
        interleaved = point["sequence"] == _INTERLEAVED
        length, sample = int(point["length"]), int(point["seed"])
        rng = sequence_rng(self.rng_seed, 1 + int(interleaved), length, sample)
        cliffords = random_cliffords(rng, length)
        return rb_sequence(cal[self.qubit], cliffords, use_x=self.use_x,
                           interleaved=self.gate if interleaved else None)

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, IRB_UNITS, ds, lambda: _analyze_irb(self, ds))


def _analyze_irb(exp: InterleavedRB, ds: xr.Dataset):
    reference = Decay.of_qubit(ds.sel(sequence=_REFERENCE), exp.qubit, "reference")
    interleaved = Decay.of_qubit(ds.sel(sequence=_INTERLEAVED), exp.qubit, "interleaved")
    return interleaved_result(exp.name, exp.qubit, reference, interleaved)


def interleaved_result(name: str, qubit: int, reference: Decay, interleaved: Decay):
    """The interleaved gate's error r_G = (1 - p_G / p_ref)(d - 1)/d from the two decays."""
    ref, inter = reference.fit, interleaved.fit
    # Independent sequences: one block-diagonal covariance over (A, p, B)_ref + (A, p, B)_int
    # propagates both fits' errors into r_G by the delta method. The verdict takes the
    # worse of the two fits' reduced chi-squares.
    cov = np.zeros((6, 6))
    cov[:3, :3], cov[3:, 3:] = ref.cov, inter.cov
    joint = Fitted(params=np.concatenate([ref.params, inter.params]), cov=cov,
                   reduced_chi2=max(ref.reduced_chi2, inter.reduced_chi2), model=rb_model)
    d = reference.dim
    epg = joint.derived(lambda q: (1.0 - q[4] / q[1]) * (d - 1) / d, "")
    values = {
        "epg": epg,
        "epc_reference": ref.derived(reference.error_per_clifford, ""),
        "alpha_reference": ref.estimate(1, ""),
        "alpha_interleaved": inter.estimate(1, ""),
    }
    checks = reference.checks() + interleaved.checks() + [
        (epg.value > -3 * epg.stderr,
         f"the interleaved sequences decay slower than the reference (epg {epg.value:.2e} +- "
         f"{epg.stderr:.1e}): the two sets are inconsistent."),
    ]
    curve = xr.concat([curve_of(reference), curve_of(interleaved)], dim="sequence")
    curve = curve.assign_coords(sequence=[_REFERENCE, _INTERLEAVED])
    return conclude(name, qubit, values, joint, checks, curve)
