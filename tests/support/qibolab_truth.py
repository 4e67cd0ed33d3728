"""The true parameters of a qibolab emulator platform: its Hamiltonian, read by tests only.

qibolab's emulator keeps the emulated chip in the platform's parameters.json: the
`hamiltonian` config (qubit frequency and anharmonicity in Hz, T1 and T2 per transition in ns)
and each drive-emulator channel's `rabi_frequency` (Hz per unit amplitude). The adapter and
calibration code never read these (devices/adapters/qibolab/platform_files.py reads only what a real
platform has); tests compare what calibration finds with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from devices.device_spec import DeviceSpec, DriftSpec, FabricationSpread, QubitSpec

EMULATED_TRANSMON = Path(__file__).resolve().parents[2] / "devices" / "adapters" / "qibolab" / "platforms" / "emulated-transmon"


@dataclass(frozen=True)
class EmulatedQubit:
    """One emulated transmon, in the toolkit's units (GHz, ns)."""

    frequency: float  # GHz, 0-1 transition
    anharmonicity: float  # GHz
    drive_scale: float  # GHz per unit amplitude (the drive channel's rabi_frequency)
    t1: float  # ns, 0-1
    t2: float  # ns, 0-1
    t1_12: float | None  # ns, 1-2 relaxation, if the Hamiltonian states it


def emulator_truth(folder: Path = EMULATED_TRANSMON, qubit: str = "0") -> EmulatedQubit:
    """The emulated qubit `qubit` of the platform in `folder` (its parameters.json)."""
    configs = json.loads((folder / "parameters.json").read_text())["configs"]
    q = configs["hamiltonian"]["qubits"][qubit]
    drive = configs[f"{qubit}/drive"]
    return EmulatedQubit(
        frequency=q["frequency"] * 1e-9,
        anharmonicity=q["anharmonicity"] * 1e-9,
        drive_scale=drive["rabi_frequency"] * 1e-9,
        t1=float(q["t1"]["0-1"]), t2=float(q["t2"]["0-1"]),
        t1_12=float(q["t1"]["1-2"]) if "1-2" in q["t1"] else None,
    )


def truth_spec(truth: EmulatedQubit, *, dt: float, x_duration: float = 40.0, x_sigma: float = 10.0) -> DeviceSpec:
    """A simulated-device spec of the emulated qubit itself (no spread, no drift, no readout
    error to speak of): the toolkit's own model of the same physics, for comparisons."""
    zero = FabricationSpread(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return DeviceSpec(
        name="emulated-transmon-truth", description="the emulator's Hamiltonian as a simulated device", dt=dt,
        max_schedule=50_000.0, repetition=0.0, x_duration=x_duration, x_sigma=x_sigma,
        qubits=(QubitSpec(frequency=truth.frequency, anharmonicity=truth.anharmonicity,
                          drive_scale=truth.drive_scale, t1=truth.t1, t2=truth.t2,
                          readout_p01=0.0, readout_p10=0.0),),
        couplings=(), crosstalk=(), fabrication=zero, drift=DriftSpec(0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
        source="tests/support/qibolab_truth.py", n_levels=3)


def precession_frequency(device, qubit: int = 0, duration: float = 1000.0) -> float:
    """The frequency [GHz] at which the emulator really precesses `qubit` of the qibolab `device`:
    (|0> + |1>)/sqrt(2) left alone for `duration` ns in the emulator's own engine, Hamiltonian
    and collapse operators, read from the phase of rho_10. It differs from the Hamiltonian's
    `frequency` by the solver's numerical error: +3.5 kHz on emulated-transmon (QuTiP's default
    tolerances, 0.02 ns steps; -6.4 kHz for a pure state without dissipation)."""
    import numpy as np
    from qibolab import Delay, PulseSequence
    from qibolab.instruments.emulator import EmulatorController

    platform = device.platform
    emulator = next(i for i in platform.instruments.values() if isinstance(i, EmulatorController))
    configs = dict(platform.parameters.configs)
    hamiltonian, engine = configs["hamiltonian"], emulator.engine
    qid = list(platform.qubits)[qubit]
    if len(hamiltonian.qubits) != 1:
        raise ValueError("precession_frequency handles one-qubit emulator platforms.")
    f = float(hamiltonian.qubits[qid].frequency) * 1e-9
    idle = emulator._pulse_hamiltonian(PulseSequence([(platform.qubits[qid].drive, Delay(duration=duration))]),
                                       configs)  # noqa: SLF001 - the emulator's own model
    levels = [hamiltonian.transmon_levels]
    plus = (engine.basis(levels, [0]) + engine.basis(levels, [1])) * (1 / np.sqrt(2))
    result, _ = engine.evolve(hamiltonian=hamiltonian.hamiltonian(config=configs, engine=engine),
                              initial_state=plus, time=np.array([0.0, duration]),
                              collapse_operators=hamiltonian.dissipation(engine), time_hamiltonian=idle)
    state = np.asarray(result.states[-1].full())
    rho10 = state[1, 0] if state.shape[1] > 1 else state[1, 0] * np.conj(state[0, 0])
    # rho_10 turns as exp(-i 2 pi f_true t): the residue against the Hamiltonian's f, unwrapped
    # (|f_true - f| duration << 1/2: the solver's error is kHz, the duration 1 us)
    residue = np.angle(rho10 * np.exp(2j * np.pi * f * duration))
    return f - residue / (2 * np.pi * duration)
