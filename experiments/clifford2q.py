"""The two-qubit Clifford group (11,520 elements up to phase): uniform sampling, and each
element compiled to a CR pair's native gates (rz, sx, x on either qubit; the ECR on (0, 1)).

Sampling. qiskit 1.3's `random_clifford(2)` is not uniform (Qiskit issue #13590: it never draws
the SWAP-like class; 40,000 draws here hit 6,833 of the 11,520 elements, some 26 times), and RB's
single exponential needs the uniform 2-design. So an index k in 0..11519 is drawn uniformly and
decoded by the standard class decomposition (Corcoles et al., PRA 87, 030301; Barends et al.,
Nature 508, 500): with C1 the 24 single-qubit Cliffords and S1 = {I, V, V^2} (V: X -> Y -> Z),
    single-qubit class  C1 x C1                              576
    CNOT-like class     (C1 x C1) CNOT (S1 x S1)            5184
    iSWAP-like class    (C1 x C1) CNOT CNOT' (S1 x S1)      5184   (CNOT' the reversed CNOT)
    SWAP-like class     (C1 x C1) SWAP                       576
a bijection onto the group (a test enumerates all 11,520). qiskit.quantum_info composes and
inverts the elements; its Clifford type carries them.

Compilation. qiskit synthesizes an element (H, S, Sdg, Paulis, CX); each one-qubit gate becomes
rz/sx/x (H = Rz(pi/2) SX Rz(pi/2) up to phase) and each CX the transpiler's ECR form, compiled
once. Every element's native gates are checked against it (the unitary maps each qubit's X and Z
to the element's tableau rows), so a wrong program is never played (ExperimentError).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from experiments.base import ExperimentError

GROUP_ORDER = 11520
_CLASS_SIZES = (576, 5184, 5184, 576)


def _circuit_clifford(build):
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Clifford

    circuit = QuantumCircuit(2)
    build(circuit)
    return Clifford(circuit)


@functools.cache
def _single_qubit_cliffords() -> tuple:
    """The 24 single-qubit Cliffords as two-qubit Cliffords on qubit 0, by closing H and S."""
    from qiskit.quantum_info import Clifford

    generators = [_circuit_clifford(lambda c: c.h(0)), _circuit_clifford(lambda c: c.s(0))]
    identity = Clifford(np.eye(4, dtype=bool))
    found = {_key(identity): identity}
    frontier = [identity]
    while frontier:
        grown = []
        for c in frontier:
            for g in generators:
                n = c.compose(g)
                if _key(n) not in found:
                    found[_key(n)] = n
                    grown.append(n)
        frontier = grown
    return tuple(found.values())


@functools.cache
def _building_blocks() -> dict:
    """Local layers (qubit 0, qubit 1) and the three entanglers of the class decomposition."""
    ones = _single_qubit_cliffords()
    swap = lambda c: (c.cx(0, 1), c.cx(1, 0), c.cx(0, 1))  # noqa: E731
    v = _circuit_clifford(lambda c: (c.sdg(0), c.h(0)))  # cycles X -> Y -> Z (order 3)
    v_layer = [_circuit_clifford(lambda c: None), v, v.compose(v)]
    to_qubit_1 = _circuit_clifford(swap)
    on_1 = [to_qubit_1.compose(c).compose(to_qubit_1) for c in ones]  # qubit 0's Clifford moved to qubit 1
    v_on_1 = [to_qubit_1.compose(c).compose(to_qubit_1) for c in v_layer]
    return {"c1": (ones, on_1), "s1": (v_layer, v_on_1),
            "cnot": _circuit_clifford(lambda c: c.cx(0, 1)),
            "iswap_like": _circuit_clifford(lambda c: (c.cx(0, 1), c.cx(1, 0))),
            "swap": to_qubit_1}


def clifford_of_index(k: int):
    """The element k (0..11519) of the class decomposition (see the module)."""
    if not 0 <= k < GROUP_ORDER:
        raise ValueError(f"a two-qubit Clifford index must lie in 0..{GROUP_ORDER - 1}, but is {k}.")
    cls, k = _class_of(k)
    heads = 0
    if cls in (1, 2):
        k, heads = divmod(k, 9)
    tail = _local_layer(*divmod(k, 24))  # applied last: C1 x C1
    if cls == 0:
        return tail
    return _entangler(cls, heads).compose(tail)


# Each element is one composition of two cached factors: two-qubit RB draws thousands of
# elements, and qiskit's compose (~0.13 ms) was most of drawing a sequence.
@functools.cache
def _local_layer(a: int, c: int):
    """C1 x C1: single-qubit Clifford a on qubit 0 and c on qubit 1."""
    ones, on_1 = _building_blocks()["c1"]
    return ones[a].compose(on_1[c])


@functools.cache
def _entangler(cls: int, heads: int):
    """What an element of class 1-3 applies before its local layer: S1 x S1 (heads = 3 s + t)
    then the class's CNOT, CNOT CNOT', or the SWAP alone (class 3)."""
    b = _building_blocks()
    if cls == 3:
        return b["swap"]
    (v0, v1) = b["s1"]
    s, t = divmod(heads, 3)
    head = v0[s].compose(v1[t])  # applied first: S1 x S1
    return head.compose(b["cnot"] if cls == 1 else b["iswap_like"])


def _class_of(k: int) -> tuple[int, int]:
    for cls, size in enumerate(_CLASS_SIZES):
        if k < size:
            return cls, k
        k -= size
    raise AssertionError("unreachable: k was checked against the group order")


def random_clifford(rng: np.random.Generator):
    """A uniformly random two-qubit Clifford."""
    return clifford_of_index(int(rng.integers(GROUP_ORDER)))


# Clifford tableau -> (its native gates, their unitary), compiled once per process
_compiled: dict[bytes, tuple[tuple, np.ndarray]] = {}


def _key(clifford) -> bytes:
    return np.asarray(clifford.tableau, dtype=np.uint8).tobytes()


# one-qubit gates of qiskit's Clifford synthesis as native gates, in time order (up to global
# phase): H = Rz(pi/2) SX Rz(pi/2), Y ~ X Z, S = Rz(pi/2)
_ONE_QUBIT = {"h": (("rz", np.pi / 2), ("sx", 0.0), ("rz", np.pi / 2)), "s": (("rz", np.pi / 2),),
              "sdg": (("rz", -np.pi / 2),), "z": (("rz", np.pi),), "x": (("x", 0.0),),
              "y": (("rz", np.pi), ("x", 0.0)), "sx": (("sx", 0.0),)}


@functools.cache
def _cx_as_native(control: int, target: int) -> tuple:
    """CX in either direction through the ECR on (0, 1), compiled once by qiskit's transpiler."""
    from qiskit import QuantumCircuit, transpile
    from qiskit.transpiler import CouplingMap

    circuit = QuantumCircuit(2)
    circuit.cx(control, target)
    with warnings.catch_warnings():  # qiskit 1.3's transpiler reads its own deprecated DAG duration
        warnings.simplefilter("ignore", DeprecationWarning)
        out = transpile(circuit, basis_gates=["rz", "sx", "x", "ecr"], coupling_map=CouplingMap([[0, 1]]),
                        initial_layout=[0, 1], layout_method="trivial", routing_method="none",
                        optimization_level=1, seed_transpiler=0)
    return tuple((i.operation.name, tuple(out.find_bit(q).index for q in i.qubits),
                  float(i.operation.params[0]) if i.operation.params else 0.0) for i in out.data)


def _as_native(circuit) -> tuple:
    gates = []
    for instruction in circuit.data:
        name, qubits = instruction.operation.name, tuple(circuit.find_bit(q).index for q in instruction.qubits)
        if name == "cx":
            gates += _cx_as_native(*qubits)
        elif name in _ONE_QUBIT:
            gates += [(native, qubits, angle) for native, angle in _ONE_QUBIT[name]]
        else:
            raise ExperimentError(f"two-qubit RB cannot compile the gate {name!r} of a Clifford.")
    return tuple(gates)


@functools.cache
def _gate_matrices() -> dict:
    """4x4 matrices of the fixed native gates, in qiskit's order (qubit 0 the least significant bit)."""
    from qiskit.circuit.library import ECRGate, SXGate, XGate

    out = {("ecr", (0, 1)): ECRGate().to_matrix()}
    for name, gate in (("sx", SXGate()), ("x", XGate())):
        m = gate.to_matrix()
        out[(name, (0,))], out[(name, (1,))] = np.kron(np.eye(2), m), np.kron(m, np.eye(2))
    return out


_BIT = np.array([[0, 1, 0, 1], [0, 0, 1, 1]])  # bit of qubit 0 and of qubit 1 in each basis index


def _unitary(gates: tuple) -> np.ndarray:
    """The 4x4 unitary of native gates in qiskit's order (qubit 0 the least significant bit)."""
    matrices = _gate_matrices()
    u = np.eye(4, dtype=complex)
    for name, qubits, angle in gates:
        if name == "rz":  # diagonal: exp(-i angle/2) on the qubit's 0, exp(+i angle/2) on its 1
            u = np.exp(1j * angle * (_BIT[qubits[0]] - 0.5))[:, None] * u
        else:
            u = matrices[(name, qubits)] @ u
    return u


def _pauli_table() -> np.ndarray:
    """The 16 unsigned two-qubit Paulis, indexed by x0 + 2 x1 + 4 z0 + 8 z1 (qubit 0 the
    right factor; x = z = 1 is Y, as in qiskit's tableaux)."""
    one = {(0, 0): np.eye(2), (1, 0): np.array([[0, 1], [1, 0]]), (0, 1): np.diag([1.0, -1.0]),
           (1, 1): np.array([[0, -1j], [1j, 0]])}
    bits = np.arange(16)[:, None] >> np.arange(4) & 1  # columns x0, x1, z0, z1
    return np.stack([np.kron(one[(x1, z1)], one[(x0, z0)]) for x0, x1, z0, z1 in bits]).astype(complex)


_PAULI_TABLE = _pauli_table()
_ROW_INDEX = np.array([1, 2, 4, 8])
_GENERATORS = _PAULI_TABLE[_ROW_INDEX]  # X0, X1, Z0, Z1


def _implements(clifford, u: np.ndarray) -> bool:
    """Whether u maps each generator X0, X1, Z0, Z1 to the Clifford's tableau row (Pauli and
    sign), which fixes the Clifford's unitary up to phase; cheaper than building that unitary
    (~1.4 ms in qiskit)."""
    rows = np.asarray(clifford.tableau, dtype=int)  # (4, 5): x0 x1 z0 z1 sign
    images = _PAULI_TABLE[rows[:, :4] @ _ROW_INDEX] * (1 - 2 * rows[:, 4])[:, None, None]
    return float(np.abs(u @ _GENERATORS @ u.conj().T - images).max()) < 1e-9


def _tableau_of(u: np.ndarray) -> np.ndarray:
    """The tableau (x0 x1 z0 z1 sign rows, as qiskit's) of the Clifford whose unitary is u:
    the Pauli and sign each generator X0, X1, Z0, Z1 is mapped to."""
    images = u @ _GENERATORS @ u.conj().T
    overlaps = np.einsum("pij,gij->gp", _PAULI_TABLE.conj(), images).real / 4  # +-1 at the image's Pauli
    index = np.argmax(np.abs(overlaps), axis=1)
    signs = overlaps[np.arange(4), index] < 0
    return np.column_stack([(index[:, None] >> np.arange(4)) & 1, signs]).astype(bool)


def _compile(clifford) -> tuple[tuple, np.ndarray]:
    key = _key(clifford)
    if key not in _compiled:
        gates = _as_native(clifford.to_circuit())
        unitary = _unitary(gates)
        if not _implements(clifford, unitary) or any(g[0] == "ecr" and g[1] != (0, 1) for g in gates):
            raise ExperimentError(f"a Clifford compiled to a different one: {[g[:2] for g in gates]}")
        _compiled[key] = gates, unitary
    return _compiled[key]


def native_gates(cliffords: list) -> list[tuple]:
    """Each Clifford as native gates (name, qubits, angle): rz, sx, x on one qubit, ecr on (0, 1).
    qiskit synthesizes the Clifford (H, S, CX, Paulis); each compilation's unitary is checked
    against its Clifford's tableau, so a wrong sequence is never played (ExperimentError)."""
    return [_compile(clifford)[0] for clifford in cliffords]


def random_sequence(rng: np.random.Generator, length: int, interleave: bool) -> list:
    """`length` uniformly random Cliffords (the ECR after each if `interleave`), then the inverse.

    The inverse comes from the product of the elements' (checked) unitaries, a 4x4 product each,
    where composing qiskit Cliffords took ~0.13 ms each; a Clifford is fixed by its tableau, so
    the inverse is the same element either way."""
    from qiskit.circuit.library import ECRGate
    from qiskit.quantum_info import Clifford

    ecr = Clifford(ECRGate())
    elements = []
    total = np.eye(4, dtype=complex)
    for _ in range(length):
        elements.append(random_clifford(rng))
        if interleave:
            elements.append(ecr)
    for c in elements:
        total = _compile(c)[1] @ total
    return elements + [Clifford(_tableau_of(total.conj().T))]
