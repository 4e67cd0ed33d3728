"""Single-shot IQ readout: the trained discriminator's assignment fidelity against the best the
readout model allows for the same pulse (computed here from the device's truth), and the
discriminated experiments reading through it once it is stored."""

from __future__ import annotations

import numpy as np
import pytest

from devices.catalog import load_spec
from devices.protocol import Discriminated
from devices.simulated import SimulatedDevice
from experiments.base import run_experiment
from experiments.library.readout import ReadoutAssignment
from experiments.library.single_shot import SingleShot
from experiments.results import Verdict
from support.readout_truth import model_fidelity, truth_calibration, x_pulse_levels


@pytest.mark.parametrize("seed, qubit", [(12, 2), (13, 0)])
def test_single_shot_reaches_the_models_assignment_fidelity_for_its_pulse(seed, qubit):
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=seed)
    cal = truth_calibration(spec, device, qubit)
    experiment = SingleShot(qubit=qubit)
    ds = run_experiment(experiment, device, {qubit: cal}, shots=6000, seed=seed)
    assert ds["iq"].dims == ("prepared", "shot", "qubit", "quadrature")
    result = experiment.analyze(ds)
    assert result.verdict is Verdict.GOOD, result.reason
    fidelity = result.values["assignment_fidelity"]
    # the model's limit for this pulse, |1> prepared by the X pulse as it truly is
    limit = model_fidelity(device, qubit, cal.readout_pulse(), prepared_one=x_pulse_levels(device, qubit, cal))
    assert abs(fidelity.value - limit) < 3 * fidelity.stderr + 2e-3, (fidelity, limit)
    assert 0.002 < fidelity.stderr < 0.01
    # the discriminator it reports reproduces its assignment on fresh shots
    fresh = run_experiment(experiment, device, {qubit: cal}, shots=6000, seed=seed + 100)
    points = fresh["iq"].sel(qubit=qubit).transpose("prepared", "shot", "quadrature").values
    angle, threshold = result.values["readout_angle"].value, result.values["readout_threshold"].value
    reads_one = points[..., 0] * np.cos(angle) + points[..., 1] * np.sin(angle) > threshold
    fresh_fidelity = 1.0 - 0.5 * (reads_one[0].mean() + (1 - reads_one[1].mean()))
    assert abs(fresh_fidelity - fidelity.value) < 4 * fidelity.stderr


def test_a_readout_that_cannot_tell_the_states_apart_is_a_bad_result():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=14)
    cal = truth_calibration(spec, device, 1).replace(readout_frequency=6.0)  # 1 GHz off the resonator
    result = SingleShot(qubit=1).analyze(run_experiment(SingleShot(qubit=1), device, {1: cal}, shots=2000, seed=3))
    assert result.verdict is Verdict.BAD and "read alike" in result.reason


def test_discriminated_experiments_read_through_the_stored_discriminator_once_there_is_one():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=16)
    qubit = 0
    cal = truth_calibration(spec, device, qubit)
    assignment = ReadoutAssignment(qubit=qubit)
    assert assignment.acquisition({qubit: cal}) == Discriminated()  # before: the device's own discrimination
    trained = SingleShot(qubit=qubit).analyze(run_experiment(SingleShot(qubit=qubit), device, {qubit: cal},
                                                             shots=8000, seed=4))
    stored = cal.replace(readout_angle=trained.values["readout_angle"].value,
                         readout_threshold=trained.values["readout_threshold"].value)
    acquisition = assignment.acquisition({qubit: stored})
    assert acquisition.readouts == (stored.calibrated_readout(),)
    assert acquisition.readouts[0].pulse == cal.readout_pulse()
    result = assignment.analyze(run_experiment(assignment, device, {qubit: stored}, shots=20_000, seed=5))
    # the discriminated counts are the trained boundary's: its held-out errors, not the device's own
    for name in ("p01", "p10"):
        here, there = result.values[name], trained.values[name]
        assert abs(here.value - there.value) < 3 * np.hypot(here.stderr, there.stderr), (name, here, there)
    own = device.truth().transmons[qubit]
    own_fidelity = 1 - 0.5 * (float(own.readout_p01) + float(own.readout_p10))
    fidelity = result.values["assignment_fidelity"]
    assert abs(fidelity.value - own_fidelity) > 5 * fidelity.stderr, (fidelity, own_fidelity)
