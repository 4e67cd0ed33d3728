"""Resonator spectroscopy against the simulated resonators' truth: the line's centre, width and
dispersive shift with error bars that cover it, and its bad-data verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from devices.catalog import load_spec
from devices.readout import ReadoutPulse, blob_centres
from devices.simulated import SimulatedDevice
from experiments.base import run_experiment
from experiments.library.resonator_spectroscopy import ResonatorSpectroscopy, response
from experiments.results import Verdict
from support.readout_truth import truth_calibration

DEVICES = range(20, 40)  # 20 devices, a qubit each


def test_the_fitted_response_is_the_models_field_averaged_over_the_pulse():
    device = SimulatedDevice(load_spec("sim-5q"), seed=3)
    resonator = device.truth().resonators[1]
    f = float(resonator.frequency) + np.linspace(-0.004, 0.004, 9)
    for tau in (300.0, 2000.0):
        centres = np.array([blob_centres(resonator, ReadoutPulse(x, 0.2, tau), np.array(0)) for x in f])
        model = response(f, float(resonator.frequency), float(resonator.linewidth), tau)
        np.testing.assert_allclose(centres / model, centres[4] / model[4], rtol=1e-12)  # one complex gain


def test_resonator_spectroscopy_recovers_the_line_with_honest_error_bars():
    spec = load_spec("sim-5q")
    z = {"resonator_frequency": [], "linewidth": [], "chi": []}
    for seed in DEVICES:
        qubit = seed % 5
        device = SimulatedDevice(spec, seed=seed)
        experiment = ResonatorSpectroscopy(qubit=qubit)
        result = experiment.analyze(run_experiment(experiment, device, {qubit: truth_calibration(spec, device, qubit)},
                                                   shots=200, seed=seed))
        assert result.verdict is Verdict.GOOD, (seed, result.reason)
        resonator = device.truth().resonators[qubit]
        truth = {"resonator_frequency": float(resonator.frequency), "linewidth": float(resonator.linewidth),
                 "chi": float(resonator.chi[1])}
        for name in z:
            z[name].append((result.values[name].value - truth[name]) / result.values[name].stderr)
        assert result.values["readout_frequency"].value == pytest.approx(truth["resonator_frequency"] + truth["chi"] / 2,
                                                                          abs=5 * result.values["readout_frequency"].stderr)
    for name, zs in z.items():
        covered = np.mean(np.abs(zs) < 1)
        assert 0.5 <= covered <= 0.9, (name, covered, np.round(zs, 2))  # measured: 0.70-0.75
        assert np.all(np.abs(zs) < 4), (name, np.round(zs, 2))


def test_a_sweep_that_misses_the_line_is_a_bad_result():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=41)
    cal = truth_calibration(spec, device, 2)
    far = cal.replace(readout_frequency=cal.readout_frequency + 0.05)  # 50 MHz off: no line in a 12 MHz sweep
    experiment = ResonatorSpectroscopy(qubit=2, states=1)
    result = experiment.analyze(run_experiment(experiment, device, {2: far}, shots=200, seed=1))
    assert result.verdict is Verdict.BAD and ("edge" in result.reason or "no line" in result.reason), result.reason
    assert set(result.values) == {"resonator_frequency", "linewidth"}
