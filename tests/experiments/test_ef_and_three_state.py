"""The 1-2 transition from IQ points (ef_spectroscopy, ef_rabi) against the device's truth, and
the three-state assignment matrix against the best the readout model allows for the same pulse
and preparations (computed here from the truth)."""

from __future__ import annotations

import numpy as np
import pytest

from devices import Chip, Open, populations
from devices.catalog import load_spec
from devices.dressing import dressed_transmon
from devices.readout import sample_iq
from devices.simulated import SimulatedDevice
from experiments.base import run_experiment
from experiments.library.ef import EfRabi, EfSpectroscopy
from experiments.library.three_state import ThreeStateReadout, assignment_counts, level_schedule, train_levels
from experiments.results import Verdict
from support.readout_truth import truth_calibration


def true_levels(device, qubit: int, schedule) -> np.ndarray:
    chip = Chip([dressed_transmon(device.truth(), qubit)])
    p = np.clip(np.asarray(populations(chip, schedule, dt=device.dt, dynamics=Open())), 0.0, None)
    return p / p.sum()


@pytest.mark.parametrize("seed, qubit", [(17, 2), (18, 4)])
def test_the_1_2_transition_and_its_pi_amplitude_match_the_truth(seed, qubit):
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=seed)
    cal = truth_calibration(spec, device, qubit)
    true_anharmonicity = float(device.truth().transmons[qubit].anharmonicity)
    assert abs(cal.anharmonicity - true_anharmonicity) > 1e-3  # the design's is off: there is something to find
    line = EfSpectroscopy(qubit=qubit).analyze(run_experiment(EfSpectroscopy(qubit=qubit), device, {qubit: cal},
                                                              shots=300, seed=seed))
    assert line.verdict is Verdict.GOOD, line.reason
    found = line.values["anharmonicity"]
    assert abs(found.value - true_anharmonicity) < 3 * found.stderr + 2e-5, (found, true_anharmonicity)
    assert found.stderr < 2e-4
    cal = cal.replace(anharmonicity=found.value)
    rabi = EfRabi(qubit=qubit).analyze(run_experiment(EfRabi(qubit=qubit), device, {qubit: cal}, shots=300,
                                                      seed=seed + 1))
    assert rabi.verdict is Verdict.GOOD, rabi.reason
    ef_amp = rabi.values["ef_amp"]
    # the truth: the amplitude that leaves the most in |2>, on a grid around the fitted one
    grid = ef_amp.value * np.linspace(0.96, 1.04, 9)
    in_two = [true_levels(device, qubit, cal.ef_schedule(cal.x_amp, cal.ef_pulse(amp=a)))[2] for a in grid]
    best = grid[int(np.argmax(in_two))]
    assert abs(ef_amp.value - best) < 3 * ef_amp.stderr + 0.01 * best, (ef_amp, best)
    assert true_levels(device, qubit, level_schedule(cal.replace(ef_amp=ef_amp.value), 2))[2] > 0.97


def test_the_three_state_assignment_matrix_is_the_models_for_its_pulse():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=19)
    qubit = 1
    truth = device.truth()
    cal = truth_calibration(spec, device, qubit).replace(anharmonicity=float(truth.transmons[qubit].anharmonicity))
    experiment = ThreeStateReadout(qubit=qubit)
    ds = run_experiment(experiment, device, {qubit: cal}, shots=6000, seed=7)
    result = experiment.analyze(ds)
    assert result.verdict is Verdict.GOOD, result.reason
    # the model's matrix: many shots from the levels each preparation truly leaves, through the true
    # resonator, read by a three-class LDA trained on as many again
    rng = np.random.default_rng(5)
    resonator, t1 = truth.resonators[qubit], float(truth.transmons[qubit].t1)

    def shots_of(level: int, n: int) -> np.ndarray:
        p = true_levels(device, qubit, level_schedule(cal, level))
        z = sample_iq(rng.choice(3, size=n, p=p), resonator, cal.readout_pulse(), t1, 3, rng)
        return np.stack([z.real, z.imag], axis=-1)

    train = np.stack([shots_of(level, 60_000) for level in range(3)])
    judged = np.stack([shots_of(level, 60_000) for level in range(3)])
    model = assignment_counts(train_levels(train), judged) / 60_000
    for i in range(3):
        for j in range(3):
            if i != j:
                measured = result.values[f"p{i}{j}"]
                assert abs(measured.value - model[i, j]) < 3.5 * measured.stderr + 3e-3, (i, j, measured, model[i, j])
    fidelity = result.values["assignment_fidelity3"]
    assert abs(fidelity.value - np.trace(model) / 3) < 3 * fidelity.stderr + 3e-3
    # |1> and |2> sit close at a readout tuned for |0> and |1>: the matrix says so
    assert result.values["p21"].value > 5 * result.values["p20"].value


def test_no_1_2_drive_and_no_readout_contrast_are_bad_results():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=20)
    cal = truth_calibration(spec, device, 0)
    silent = cal.replace(ef_amp=0.0)
    result = ThreeStateReadout(qubit=0).analyze(run_experiment(ThreeStateReadout(qubit=0), device, {0: silent},
                                                               shots=600, seed=1))
    assert result.verdict is Verdict.BAD and "prepared 1 and 2 read alike" in result.reason
    deaf = cal.replace(readout_frequency=6.0)  # 1 GHz off the resonator: every shot reads the same noise
    result = EfSpectroscopy(qubit=0).analyze(run_experiment(EfSpectroscopy(qubit=0, points=21), device, {0: deaf},
                                                            shots=200, seed=2))
    assert result.verdict is Verdict.BAD and "no |1> -> |2> signal" in result.reason
