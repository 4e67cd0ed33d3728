"""Two-qubit randomized benchmarking of a directed pair, and interleaved RB of its ECR.

Each point plays m random elements of the 11,520-element two-qubit Clifford group and the
element that inverts them, drawn uniformly and compiled to the pair's native gates by
experiments.clifford2q: SX and X on either qubit, virtual Z's, and the ECR in its calibrated
direction (qubit 0 the control). The ECR plays as three blocks (CR+, the control's X, CR-)
followed by the pair's virtual Z on the target (PairCalibration.target_phase).

The program is a BlockSequence: a simulator propagates the six blocks once and composes them
exactly; hardware plays the flat schedule. The survival P(read 00) decays as A p^m + B with
error per Clifford r = (1 - p) 3/4. Interleaved RB plays the ECR after every random Clifford
too; the ECR's error is r = (1 - p_ECR / p_ref) 3/4 (Magesan et al., PRL 109, 080505), within
Magesan's bound of the true error when errors are coherent. A Clifford averages 1.5 ECRs and
~7 single-qubit pulses (tests/experiments/test_rb2q.py), so its error is about two ECRs'.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Play, Schedule
from devices.sequences import BlockSequence
from devices.two_qubit import CONTROL, TARGET, pair_schedule
from experiments.base import ExperimentError, PairGateExperiment, Sweep
from experiments.calibration import PairCalibration, QubitCalibration
from experiments.clifford2q import native_gates, random_sequence
from experiments.fitting import analyse, conclude
from experiments.library.rb import (IRB_UNITS, RB_UNITS, Decay, check_rb_options, curve_of, interleaved_result,
                                   sequence_rng)

DEFAULT_LENGTHS = (1, 3, 6, 10, 16, 24, 35, 50)
DIM = 4
# the block table of every two-qubit RB program, and the frame each block plays in
SX_C, X_C, SX_T, X_T, CR_PLUS, CR_MINUS = range(6)
FRAMES = (0, 0, 1, 1, 1, 1)
_REFERENCE, _INTERLEAVED = "reference", "interleaved"
def block_table(cal: dict, control: int, target: int, pair: PairCalibration) -> list[Schedule]:
    """SX and X of each qubit and the two CR halves, as pair schedules (channels: control,
    target, CR tone on the control's line at the target's carrier)."""
    return list(_block_table(cal[control], cal[target], pair))


# Every point of a run plays the same table: building it once per calibration saves building
# 320 copies (~13 ms each) and lets the simulator recognise one shared table.
@functools.lru_cache(maxsize=16)
def _block_table(control: QubitCalibration, target: QubitCalibration, pair: PairCalibration) -> tuple[Schedule, ...]:
    def block(instructions):
        return pair_schedule(instructions, control.frequency, target.frequency)

    cr = pair.cross_resonance()
    return (block([Play(CONTROL, control.sx_pulse())]), block([Play(CONTROL, control.x_pulse())]),
            block([Play(TARGET, target.sx_pulse())]), block([Play(TARGET, target.x_pulse())]),
            block(cr.half(+1)), block(cr.half(-1)))


def compile_program(gates: list[tuple], target_phase: float) -> tuple[list[int], np.ndarray]:
    """Native gates -> (program of blocks, frame-phase increments (steps, 2)). rz(theta) grows its
    qubit's frame by theta (G Rz(theta) = Rz(theta) [Rz(-theta) G Rz(theta)], the frame left
    over at the end invisible to a Z measurement); the ECR is CR+, the control's X, CR-, then its
    virtual Z on the target."""
    program: list[int] = []
    increments: list[np.ndarray] = []
    pending = np.zeros(2)

    def play(block: int) -> None:
        nonlocal pending
        program.append(block)
        increments.append(pending)
        pending = np.zeros(2)

    for name, qubits, angle in gates:
        if name == "rz":
            pending[qubits[0]] += angle
        elif name in ("sx", "x"):
            play({("sx", 0): SX_C, ("x", 0): X_C, ("sx", 1): SX_T, ("x", 1): X_T}[(name, qubits[0])])
        elif name == "ecr":
            for block in (CR_PLUS, X_C, CR_MINUS):
                play(block)
            pending[1] += target_phase
        else:
            raise ExperimentError(f"two-qubit RB cannot play the native gate {name!r}.")
    return program, np.array(increments).reshape(-1, 2)


@dataclass(frozen=True)
class TwoQubitRB(PairGateExperiment):
    """Two-qubit RB of the pair (qubit = control, target): `seeds` random sequences at each of
    `lengths` (Cliffords, recovery excluded). rng_seed: as for StandardRB."""

    name = "rb_2q"
    summary = "Two-qubit randomized benchmarking of a CR pair: error per two-qubit Clifford (epc)"
    lengths: tuple[int, ...] = DEFAULT_LENGTHS
    seeds: int = 20
    rng_seed: int | None = None

    interleave = False  # the interleaved variant plays the ECR after every Clifford too

    def __post_init__(self):
        super().__post_init__()
        check_rb_options(self)

    def sweeps(self, cal):
        self.pair()  # refuses missing settings before anything plays
        sets = [_REFERENCE, _INTERLEAVED] if self.interleave else [_REFERENCE]
        return [Sweep("sequence", np.asarray(sets), ""), Sweep("length", np.asarray(sorted(self.lengths)), ""),
                Sweep("seed", np.arange(self.seeds), "")]

    def schedule(self, cal, point):
        interleaved = point["sequence"] == _INTERLEAVED
        length, sample = int(point["length"]), int(point["seed"])
        rng = sequence_rng(self.rng_seed, 3 + int(interleaved), length, sample)
        gates = [g for c in native_gates(random_sequence(rng, length, interleaved)) for g in c]
        program, phases = compile_program(gates, self.target_phase)
        return BlockSequence(block_table(cal, self.qubit, self.target, self.pair()), FRAMES, program, phases)

    def analyze(self, ds: xr.Dataset):
        units = IRB_UNITS if self.interleave else RB_UNITS
        return analyse(self.name, self.qubit, units, ds, lambda: _analyze(self, ds))


@dataclass(frozen=True)
class TwoQubitInterleavedRB(TwoQubitRB):
    """Reference two-qubit RB and RB with the ECR after every random Clifford, in one run:
    `epg` is the ECR's error."""

    name = "interleaved_rb_2q"
    summary = "Interleaved two-qubit RB: error of a CR pair's ECR (epg)"
    interleave = True


def _decay(ds: xr.Dataset, label: str) -> Decay:
    survived = ds["joint_counts"].sel(outcome="00").transpose("length", "seed").values
    return Decay(ds["length"].values, survived, int(ds.attrs["shots"]), label, dim=DIM)


def _analyze(exp: TwoQubitRB, ds: xr.Dataset):
    if "joint_counts" not in ds:
        raise ValueError("the dataset has no joint_counts: two-qubit RB needs the device's joint outcomes.")
    reference = _decay(ds.sel(sequence=_REFERENCE), "reference")
    if not exp.interleave:
        ref = reference.fit
        epc = ref.derived(reference.error_per_clifford, "")
        values = {"epc": epc, "epg": epc, "alpha": ref.estimate(1, ""), "amplitude": ref.estimate(0, ""),
                  "offset": ref.estimate(2, "")}
        return conclude(exp.name, exp.qubit, values, ref, reference.checks(), curve_of(reference))
    return interleaved_result(exp.name, exp.qubit, reference, _decay(ds.sel(sequence=_INTERLEAVED), "interleaved"))
