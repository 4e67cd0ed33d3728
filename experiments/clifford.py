"""The 24 single-qubit Cliffords: unitaries, group table, inverses, and decompositions
into physical SX and X pulses between virtual Z rotations.

Z rotations cost nothing: they are frame changes (ShiftPhase) of the drive. With
Rz(a) SX Rz(b) SX Rz(c) any single-qubit unitary can be written; for a Clifford the
angles are multiples of pi/2 and at most two SX are needed. With an X pulse as well,
the four Cliffords that flip Z (X up to Z frames) take one pulse instead of two:

    pulses per Clifford      0    1    2     mean
    {SX}                     4   16    4     1.0
    {SX, X}                  4   20    0     20/24 = 0.833

(the textbook 1.875 counts the set {I, +-X, +-Y, +-X/2, +-Y/2} with real Z pulses; with
virtual Z the mean is the exact count above, used to turn EPC into error per gate).

Compiling to a GateSequence: a pulse G played after ShiftPhase(phi) evolves as
R G R^dag with R = exp(-i phi n) ~ Rz(-phi) in this simulator's convention (drive term
z a + z* a^dag: an envelope phase phi turns the rotation axis to angle -phi). Hence
G Rz(theta) = Rz(theta) [Rz(-theta) G Rz(theta)] is played as ShiftPhase(+theta), G:
`FRAME_PHASE_PER_RZ` = +1, with a final Z frame left over that a Z measurement cannot
see. (The ShiftPhase docstring's "ShiftPhase(-theta) implements Rz(theta)" is Qiskit's
convention, the opposite of this simulator's.) tests/experiments/test_rb.py pins the sign
against the simulator: RB survival alone cannot, since flipping every frame conjugates a
whole sequence by X, which commutes with SX and X.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import product

import numpy as np

# ShiftPhase(FRAME_PHASE_PER_RZ * theta) before a pulse implements Rz(theta) before it.
FRAME_PHASE_PER_RZ = 1.0

N_CLIFFORDS = 24
IDENTITY = 0

_SQRT_HALF = np.sqrt(0.5)
X_MATRIX = np.array([[0, 1], [1, 0]], dtype=complex)
SX_MATRIX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])  # sqrt(X), SX @ SX = X
_H = _SQRT_HALF * np.array([[1, 1], [1, -1]], dtype=complex)
_S = np.diag([1, 1j])


def rz(theta: float) -> np.ndarray:
    """Rz(theta) = exp(-i theta Z / 2)."""
    return np.diag([np.exp(-0.5j * theta), np.exp(0.5j * theta)])


class PhysicalGate(str, Enum):
    """A pulse of the gate table: SX = sqrt(X) (a pi/2 pulse) or X (a pi pulse)."""

    SX = "sx"
    X = "x"

    @property
    def matrix(self) -> np.ndarray:
        return SX_MATRIX if self is PhysicalGate.SX else X_MATRIX


def same_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> bool:
    """Whether two 2x2 unitaries differ only by a global phase."""
    return bool(abs(abs(np.vdot(a, b)) - 2.0) < atol)


def _canonical(u: np.ndarray) -> np.ndarray:
    # fix the global phase: the first entry of non-negligible size becomes real positive
    flat = u.reshape(-1)
    lead = flat[np.argmax(np.abs(flat) > 1e-6)]
    return u * (abs(lead) / lead)


def _generate() -> np.ndarray:
    """Breadth-first closure of {H, S}, identity first: a fixed, reproducible order."""
    group = [np.eye(2, dtype=complex)]
    frontier = list(group)
    while frontier:
        grown = []
        for u in frontier:
            for g in (_H, _S):
                v = _canonical(g @ u)
                if not any(same_up_to_phase(v, w) for w in group):
                    group.append(v)
                    grown.append(v)
        frontier = grown
    if len(group) != N_CLIFFORDS:
        raise AssertionError(f"the Clifford closure has {len(group)} elements, not {N_CLIFFORDS}.")
    return np.stack(group)


CLIFFORDS = _generate()
CLIFFORDS.setflags(write=False)


def clifford_index(u: np.ndarray) -> int:
    """The index of the Clifford equal to `u` up to global phase (ValueError if none)."""
    for i, c in enumerate(CLIFFORDS):
        if same_up_to_phase(np.asarray(u, complex), c, atol=1e-6):
            return i
    raise ValueError(f"the unitary {np.round(u, 4).tolist()} is not a single-qubit Clifford.")


# MULTIPLY[a, b] = index of CLIFFORDS[a] @ CLIFFORDS[b]: b acts first, then a.
MULTIPLY = np.array([[clifford_index(a @ b) for b in CLIFFORDS] for a in CLIFFORDS], dtype=np.int64)
MULTIPLY.setflags(write=False)
INVERSE = np.array([int(np.flatnonzero(MULTIPLY[:, i] == IDENTITY)[0]) for i in range(N_CLIFFORDS)])
INVERSE.setflags(write=False)


@dataclass(frozen=True)
class Decomposition:
    """U = Rz(z[n]) G[n-1] Rz(z[n-1]) ... G[0] Rz(z[0]) up to global phase:
    `z_angles[k]` is the Z rotation before pulse k, the last one the trailing rotation."""

    gates: tuple[PhysicalGate, ...]
    z_angles: tuple[float, ...]

    def __post_init__(self):
        if len(self.z_angles) != len(self.gates) + 1:
            raise ValueError(f"Decomposition needs {len(self.gates) + 1} Z angles (one before each "
                             f"gate and a trailing one), but has {len(self.z_angles)}.")

    def unitary(self) -> np.ndarray:
        u = rz(self.z_angles[0])
        for gate, z in zip(self.gates, self.z_angles[1:]):
            u = rz(z) @ gate.matrix @ u
        return u


_QUARTERS = (0.0, 0.5 * np.pi, np.pi, -0.5 * np.pi)  # zero first: plain pulses where possible


def _candidates(use_x: bool):
    yield from (Decomposition((), (c,)) for c in _QUARTERS)
    singles = (PhysicalGate.SX, PhysicalGate.X) if use_x else (PhysicalGate.SX,)
    for gate in singles:
        for a, c in product(_QUARTERS, repeat=2):
            yield Decomposition((gate,), (a, c))
    for a, b, c in product(_QUARTERS, repeat=3):
        yield Decomposition((PhysicalGate.SX, PhysicalGate.SX), (a, b, c))


def _shortest_decompositions(use_x: bool) -> tuple[Decomposition, ...]:
    found: dict[int, Decomposition] = {}
    for d in _candidates(use_x):  # ordered by pulse count: the first hit is a shortest one
        found.setdefault(clifford_index(d.unitary()), d)
    return tuple(found[i] for i in range(N_CLIFFORDS))


DECOMPOSITIONS = {True: _shortest_decompositions(True), False: _shortest_decompositions(False)}


def decompose(index: int, *, use_x: bool = True) -> Decomposition:
    """Fewest-pulse decomposition of Clifford `index` into SX (and X when `use_x`) pulses."""
    return DECOMPOSITIONS[bool(use_x)][index]


def mean_pulses_per_clifford(*, use_x: bool = True) -> float:
    """Mean number of physical pulses of a uniformly random Clifford (20/24 or 1)."""
    return float(np.mean([len(d.gates) for d in DECOMPOSITIONS[bool(use_x)]]))


@functools.cache
def gate_decomposition(gate: PhysicalGate) -> Decomposition:
    """A single pulse, no frame change: what an interleaved gate plays."""
    return Decomposition((gate,), (0.0, 0.0))


def random_cliffords(rng: np.random.Generator, length: int) -> list[int]:
    """`length` uniformly random Clifford indices."""
    return rng.integers(0, N_CLIFFORDS, size=length).tolist()


_MULTIPLY_LISTS = MULTIPLY.tolist()  # plain lists: scalar lookups in the RB hot loop


def recovery(cliffords: Sequence[int], interleaved: int | None = None) -> int:
    """The Clifford that returns C_m [G] ... C_1 [G] to the identity (G after each C_k)."""
    table = _MULTIPLY_LISTS
    total = IDENTITY
    for c in cliffords:
        total = table[c][total]
        if interleaved is not None:
            total = table[interleaved][total]
    return int(INVERSE[total])


_MAX_TOKENS = 3  # Z, G, Z, G, Z: at most two pulses and three frame changes per element


@functools.cache
def _element_tokens(use_x: bool, table: tuple[PhysicalGate, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per element code (Clifford 0..23, then one code per physical gate): each token is a
    Z rotation in quarter turns and the gate-table index played after it (-1: none)."""
    elements = list(DECOMPOSITIONS[use_x]) + [gate_decomposition(g) for g in PhysicalGate]
    gates = np.full((len(elements), _MAX_TOKENS), -1, dtype=np.int64)
    quarters = np.zeros((len(elements), _MAX_TOKENS), dtype=np.int64)
    for code, element in enumerate(elements):
        for k, z in enumerate(element.z_angles):
            quarters[code, k] = round(z / (0.5 * np.pi)) % 4
            if k < len(element.gates):
                gates[code, k] = table.index(element.gates[k])
    return gates, quarters


def compile_sequence(cliffords: Sequence[int], *, table: Sequence[PhysicalGate],
                     use_x: bool = True, interleaved: PhysicalGate | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The RB sequence C_1 [G] C_2 [G] ... C_m [G] C_rec as a GateSequence program (indices
    into `table`) and the ShiftPhase before each step.

    Z rotations between pulses merge into one frame change, counted in exact quarter
    turns; the trailing Z rotation is dropped (it cannot change a Z measurement)."""
    gates, quarters = _element_tokens(bool(use_x), tuple(table))
    codes = np.asarray(cliffords, dtype=np.int64).reshape(-1, 1)
    gate = None
    if interleaved is not None:
        gate = clifford_index(interleaved.matrix)
        pulse_code = N_CLIFFORDS + list(PhysicalGate).index(interleaved)
        codes = np.concatenate([codes, np.full_like(codes, pulse_code)], axis=1)
    codes = np.append(codes.ravel(), recovery(cliffords, gate))
    step_gates, step_quarters = gates[codes].ravel(), quarters[codes].ravel()
    played = step_gates >= 0
    frames = np.cumsum(step_quarters)[played]  # frame before each pulse, in quarter turns
    shifts = np.diff(frames, prepend=0) % 4
    return step_gates[played], FRAME_PHASE_PER_RZ * 0.5 * np.pi * shifts
