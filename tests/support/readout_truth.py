"""The truth side of readout tests: calibration values whose X pulse is right, and the best
assignment fidelity the simulated readout model allows for a pulse. Tests only."""

from __future__ import annotations

import numpy as np

from devices.readout import ReadoutPulse, sample_iq
from experiments.calibration import QubitCalibration, nominal_calibration
from experiments.library.single_shot import train


def truth_calibration(spec, device, qubit: int) -> QubitCalibration:
    """The design's values with the true frequency and pi amplitude: the X pulse is right, so
    the assignment errors are the readout's (and T1's during it)."""
    t = device.truth().transmons[qubit]
    nominal = nominal_calibration(spec, qubit)
    x_amp = nominal.x_amp * spec.qubits[qubit].drive_scale / float(t.drive_scale)
    return nominal.replace(frequency=float(t.frequency), x_amp=x_amp, sx_amp=x_amp / 2)


def best_fidelity(device, qubit: int, pulse: ReadoutPulse, shots: int = 400_000) -> float:
    """The model's own limit for `pulse`: perfectly prepared states, the best linear boundary
    trained on many shots of the true resonator."""
    truth = device.truth()
    rng = np.random.default_rng(99)
    resonator, t1, levels = truth.resonators[qubit], float(truth.transmons[qubit].t1), truth.n_levels

    def shots_of(level: int) -> np.ndarray:
        z = sample_iq(np.full(shots, level), resonator, pulse, t1, levels, rng)
        return np.stack([z.real, z.imag], axis=-1)

    zeros, ones = shots_of(0), shots_of(1)
    best = train(zeros, ones)
    return 1.0 - 0.5 * (best.reads_one(zeros).mean() + (~best.reads_one(ones)).mean())
