"""Dressed single-transmon parameters: what a qubit looks like with its neighbours in |0>.

Exchange coupling shifts each transmon's transitions (Lamb shift ~ J^2 / detuning).
Single-qubit experiments on a simulated device use the dressed transmon, found by
diagonalising the static Hamiltonian of the transmon and its coupled neighbours and
following the states with the largest overlap on |1_q 0...> and |2_q 0...>. Numpy, for
concrete chips only (simulated devices and truth reports, not traced code).
"""

from __future__ import annotations

import numpy as np

from devices import hamiltonian
from devices.chip import Chip
from devices.transmon import Transmon


def _lab_static_hamiltonian(chip: Chip) -> np.ndarray:
    # In the lab frame with RWA couplings the idle Hamiltonian is static.
    h = np.asarray(hamiltonian.static_hamiltonian(chip, np.zeros(chip.n_qubits)))
    a = hamiltonian.ladder_operators(chip.n_qubits, chip.n_levels)
    j = np.asarray(chip.couplings)
    for q in range(chip.n_qubits):
        for r in range(q + 1, chip.n_qubits):
            hop = a[q].conj().T @ a[r]
            h = h + j[q, r] * (hop + hop.conj().T)
    return h


def dressed_transmon(chip: Chip, qubit: int) -> Transmon:
    """Transmon `qubit` of `chip` with frequency and anharmonicity dressed by its neighbours."""
    bare = chip.transmons[qubit]
    neighbours = chip.neighbours(qubit)[:2]
    if not neighbours:
        return bare
    sub = chip.subchip([qubit] + neighbours)
    energies, vectors = np.linalg.eigh(_lab_static_hamiltonian(sub))
    lv, n = sub.n_levels, sub.n_qubits

    def energy_of(level: int) -> float:
        index = level * lv ** (n - 1)  # |level on the qubit, 0 elsewhere>
        return float(energies[np.argmax(np.abs(vectors[index, :]) ** 2)])

    e0, e1, e2 = energy_of(0), energy_of(1), energy_of(2) if lv > 2 else None
    frequency = e1 - e0
    anharmonicity = (e2 - e1) - frequency if e2 is not None else float(bare.anharmonicity)
    return Transmon(frequency=frequency, anharmonicity=anharmonicity,
                    drive_scale=bare.drive_scale, t1=bare.t1, t2=bare.t2,
                    readout_p01=bare.readout_p01, readout_p10=bare.readout_p10,
                    n_levels=bare.n_levels)


def static_zz(chip: Chip, q: int, r: int) -> float:
    """ZZ = E11 - E10 - E01 + E00 [GHz] of transmons q and r (the others dropped)."""
    sub = chip.subchip([q, r])
    energies, vectors = np.linalg.eigh(_lab_static_hamiltonian(sub))
    lv = sub.n_levels

    def energy(a: int, b: int) -> float:
        return float(energies[np.argmax(np.abs(vectors[a * lv + b, :]) ** 2)])

    return energy(1, 1) - energy(1, 0) - energy(0, 1) + energy(0, 0)
