"""The truth side of readout tests: calibration values with the true frequency and pi amplitude,
the levels their X pulse truly leaves, and the assignment fidelity the simulated readout model
allows for a pulse. Tests only."""

from __future__ import annotations

import numpy as np

from devices import Chip, Open, populations
from devices.dressing import dressed_transmon
from devices.readout import LinearDiscriminator, ReadoutPulse, sample_iq
from experiments.calibration import QubitCalibration, nominal_calibration
from experiments.library.single_shot import train


def truth_calibration(spec, device, qubit: int) -> QubitCalibration:
    """The design's values with the true frequency and pi amplitude. Without DRAG its X pulse
    leaves ~0.7 % in |0> (a gate error of ~5e-3), which p10 holds as well: x_pulse_levels."""
    t = device.truth().transmons[qubit]
    nominal = nominal_calibration(spec, qubit)
    x_amp = nominal.x_amp * spec.qubits[qubit].drive_scale / float(t.drive_scale)
    return nominal.replace(frequency=float(t.frequency), x_amp=x_amp, sx_amp=x_amp / 2)


def x_pulse_levels(device, qubit: int, cal: QubitCalibration) -> np.ndarray:
    """The true level populations the calibration's X pulse leaves."""
    chip = Chip([dressed_transmon(device.truth(), qubit)])
    p = np.clip(np.asarray(populations(chip, cal.x_schedule(), dt=device.dt, dynamics=Open())), 0.0, None)
    return p / p.sum()


def model_fidelity(device, qubit: int, pulse: ReadoutPulse, shots: int = 400_000, prepared_one=None) -> float:
    """The model's own limit for `pulse`: the best linear boundary trained on many shots of the
    true resonator, |0> prepared perfectly and |1> perfectly too, or as the level populations
    `prepared_one` say. The same random stream for every pulse, so that fidelities at
    neighbouring amplitudes differ by the physics, not by sampling."""
    truth = device.truth()
    rng = np.random.default_rng(99)
    resonator, t1, levels = truth.resonators[qubit], float(truth.transmons[qubit].t1), truth.n_levels

    def shots_from(start: np.ndarray) -> np.ndarray:
        z = sample_iq(start, resonator, pulse, t1, levels, rng)
        return np.stack([z.real, z.imag], axis=-1)

    zeros = shots_from(np.zeros(shots, int))
    ones = shots_from(np.ones(shots, int) if prepared_one is None
                      else rng.choice(len(prepared_one), size=shots, p=prepared_one))
    best = train(zeros, ones)
    return 1.0 - 0.5 * (best.reads_one(zeros).mean() + (~best.reads_one(ones)).mean())


def fresh_fidelity(device, qubit: int, cal: QubitCalibration, result, seed: int, shots: int = 6000) -> float:
    """The assignment fidelity that the boundary a result reports (readout_angle, readout_threshold)
    gives on fresh single-shot IQ points taken with `cal`: a reported discriminator must read
    new shots as well as the ones it was judged on."""
    from experiments.base import run_experiment
    from experiments.library.single_shot import SingleShot

    fresh = run_experiment(SingleShot(qubit=qubit), device, {qubit: cal}, shots=shots, seed=seed)
    points = fresh["iq"].sel(qubit=qubit).transpose("prepared", "shot", "quadrature").values
    reported = LinearDiscriminator(angle=result.values["readout_angle"].value,
                                   threshold=result.values["readout_threshold"].value)
    reads_one = reported.reads_one(points)
    return float(1.0 - 0.5 * (reads_one[0].mean() + (1 - reads_one[1].mean())))
