"""How good an X gate really is on qibolab's emulator, computed with the emulator's own model.

Tests and benchmarks only: this reads the emulated chip (the platform's `hamiltonian` config)
and integrates the emulator's own Hamiltonian, collapse operators and solver; the adapter and
calibration code never do. The gate is the schedule the adapter plays, translated by the
adapter's own `translate.qibolab_pulse`, at the carrier calibration put it on.

Average gate fidelity: the mean, over the six Pauli eigenstates of the 0-1 subspace (a
2-design), of <target psi| rho_out |target psi>, rho_out taken to the frame rotating at the
carrier (the frame the toolkit's schedules are written in); population left in level 2 counts
as error. The emulator drives the charge quadrature -i(a - a^dag), so in its basis a toolkit
X is the emulator's Y (devices/adapters/qibolab/units.py: the basis change |n> -> i^n |n>); a global
phase aside, Y and -Y are the same gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.metrics import coherence_limit
from devices.schedule import Play, Schedule

SIGMA_Y = np.array([[0.0, -1j], [1j, 0.0]])


@dataclass(frozen=True)
class EmulatedGate:
    gate_error: float  # 1 - average gate fidelity vs X, leakage included
    leakage: float  # mean population left outside the 0-1 subspace
    coherence_limit: float  # the error T1 and T2 alone would give a gate of this length
    duration: float  # ns

    @property
    def error_over_limit(self) -> float:
        return self.gate_error / self.coherence_limit


def _emulator(platform):
    from qibolab.instruments.emulator import EmulatorController

    found = [i for i in platform.instruments.values() if isinstance(i, EmulatorController)]
    if not found:
        raise ValueError(f"Platform {platform.name} has no EmulatorController: its truth is not computable here.")
    return found[0]


def _pauli_states() -> list[np.ndarray]:
    s = 1 / np.sqrt(2)
    return [np.array(v, dtype=complex) for v in
            ([1, 0], [0, 1], [s, s], [s, -s], [s, 1j * s], [s, -1j * s])]


def x_gate_on_emulator(device, qubit: int, x_schedule: Schedule) -> EmulatedGate:
    """The true average-gate error of the single-Play X `x_schedule` on `qubit` of the qibolab
    `device` (a devices.adapters.qibolab QibolabDevice on an emulator platform)."""
    from qibolab import PulseSequence

    from devices.adapters.qibolab import translate, units

    plays = [ins for ins in x_schedule.instructions if isinstance(ins, Play)]
    if len(plays) != 1 or x_schedule.n_channels != 1:
        raise ValueError("x_gate_on_emulator takes a single-channel schedule of one Play.")
    platform = device.platform
    emulator = _emulator(platform)
    qid = device.qubit_ids[qubit]
    drive = platform.qubits[qid].drive
    carrier = float(np.asarray(x_schedule.frequencies)[0])
    pulse = translate.qibolab_pulse(plays[0].pulse, device.dt, float(platform.sampling_rate))
    sequence = PulseSequence([(drive, pulse)])
    configs = dict(platform.parameters.configs)
    configs[drive] = configs[drive].model_copy(update={"frequency": units.hz(carrier)})
    hconfig = configs["hamiltonian"]
    engine = emulator.engine
    levels = hconfig.transmon_levels
    if len(hconfig.qubits) != 1:
        raise ValueError("x_gate_on_emulator handles one-qubit emulator platforms.")
    static = hconfig.hamiltonian(config=configs, engine=engine)
    driven = emulator._pulse_hamiltonian(sequence, configs)  # noqa: SLF001 - the emulator's own model
    collapse = hconfig.dissipation(engine)
    duration = float(sequence.duration)
    # to the frame rotating at the carrier: psi_rot = exp(+i 2 pi f n t) psi_lab
    frame = np.exp(1j * 2 * np.pi * carrier * np.arange(levels) * duration)
    fidelities, leaked = [], []
    for psi in _pauli_states():
        ket = sum(complex(psi[k]) * engine.basis([levels], [k]) for k in range(2))
        result, _ = engine.evolve(hamiltonian=static, initial_state=ket, time=np.array([0.0, duration]),
                                  collapse_operators=collapse, time_hamiltonian=driven)
        rho = np.asarray(result.states[-1].full())
        if rho.shape[1] == 1:  # a ket (no collapse operators)
            rho = rho @ rho.conj().T
        rho = frame[:, None] * rho * frame.conj()[None, :]
        target = SIGMA_Y @ psi
        fidelities.append(float(np.real(target.conj() @ rho[:2, :2] @ target)))
        leaked.append(float(np.real(np.trace(rho[2:, 2:]))))
    q = hconfig.qubits[list(hconfig.qubits)[0]]
    t1, t2 = float(q.t1[(0, 1)]), float(q.t2[(0, 1)])
    return EmulatedGate(gate_error=1.0 - float(np.mean(fidelities)), leakage=float(np.mean(leaked)),
                        coherence_limit=float(coherence_limit(duration, t1, t2)), duration=duration)
