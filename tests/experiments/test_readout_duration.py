"""Readout duration sweep: the chosen duration against the best the readout model allows
(computed here from the device's truth over a finer duration grid), and the BAD verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from devices.catalog import load_spec
from devices.simulated import SimulatedDevice
from experiments.base import ExperimentError, run_experiment
from experiments.library.readout_amplitude import ReadoutAmplitude
from experiments.library.readout_duration import DEFAULT_DURATIONS, ReadoutDuration
from experiments.library.single_shot import SingleShot
from experiments.registry import experiment_class, fitted_values
from experiments.results import Verdict
from experiments.storage import load_dataset, save_dataset
from support.readout_truth import fresh_fidelity, model_fidelity, truth_calibration, x_pulse_levels

# where sim-5q's optima lie (0.8..1.4 us at the calibrated amplitude, 2..3.3 us at the design's
# 0.3): the truth is searched here, in steps (8 %) finer than the sweep's (22 %)
FINE_DURATIONS = np.round(np.geomspace(500.0, 4000.0, 28))


# at the amplitude of readout_amplitude's default sweep that the model reads best (what its run
# calibrates), and at the design's 0.3, where the optimum lies near 2.5 us, in the sweep's upper third
@pytest.mark.parametrize("seed, qubit, amp", [(12, 2, 0.4642), (13, 4, 0.4642), (21, 1, 0.7356), (13, 2, 0.3)])
def test_the_chosen_duration_reads_within_a_third_of_a_percent_of_the_models_best(seed, qubit, amp):
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=seed)
    cal = truth_calibration(spec, device, qubit).replace(readout_amp=amp)
    experiment = ReadoutDuration(qubit=qubit)
    ds = run_experiment(experiment, device, {qubit: cal}, shots=6000, seed=seed)
    assert ds["iq"].dims == ("duration", "prepared", "shot", "qubit", "quadrature")
    assert ds.attrs["experiment"] == "readout_duration" and ds.sizes["duration"] == len(DEFAULT_DURATIONS)
    assert ds["duration"].attrs["units"] == "ns"
    result = experiment.analyze(ds)
    assert result.verdict is Verdict.GOOD, result.reason

    chosen = result.values["readout_duration"]
    assert chosen.value in DEFAULT_DURATIONS and chosen.unit == "ns"  # measured, whose discriminator is reported
    curve = [model_fidelity(device, qubit, cal.readout_pulse(duration=float(d)), shots=60_000)
             for d in FINE_DURATIONS]
    best_duration, best = float(FINE_DURATIONS[int(np.argmax(curve))]), max(curve)
    pulse = cal.readout_pulse(duration=chosen.value)
    at_chosen = model_fidelity(device, qubit, pulse, shots=60_000)
    with_x = model_fidelity(device, qubit, pulse, shots=60_000, prepared_one=x_pulse_levels(device, qubit, cal))
    fidelity = result.values["assignment_fidelity"]
    print(f"seed {seed} qubit {qubit} amp {amp}: chosen {chosen.value:.0f} +- {chosen.stderr:.0f} ns (model at it "
          f"{at_chosen:.4f}, with the X pulse's errors {with_x:.4f}), model's best {best:.4f} at {best_duration:.0f} ns, "
          f"shortfall {best - at_chosen:.4f}; reported {fidelity.value:.4f} +- {fidelity.stderr:.4f} "
          f"({(fidelity.value - with_x) / fidelity.stderr:+.2f} sigma)")
    assert at_chosen > best - 0.003, (chosen, at_chosen, best_duration, best)
    # the stderr says where the optimum lies: not a sharp point on a broad top, nor off the mark
    assert 20 < chosen.stderr < 1500 and abs(chosen.value - best_duration) < 3 * chosen.stderr, (chosen, best_duration)

    # judged on shots the choice did not look at, so unbiased by it: the model's, for this X pulse
    assert abs(fidelity.value - with_x) < 3 * fidelity.stderr, (fidelity, with_x)
    assert 0.0005 < fidelity.stderr < 0.005
    # the discriminator reported is the one at the chosen duration: it reads fresh shots there as well
    fresh = fresh_fidelity(device, qubit, cal.replace(readout_duration=chosen.value), result, seed=seed + 100)
    assert abs(fresh - fidelity.value) < 4 * fidelity.stderr, (fresh, fidelity)


def test_a_sweep_far_too_short_is_bad_at_its_upper_edge():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=14)
    cal = truth_calibration(spec, device, 1).replace(readout_amp=0.5)
    experiment = ReadoutDuration(qubit=1, durations=(100, 150, 200, 250))  # the optimum is near 1 us
    result = experiment.analyze(run_experiment(experiment, device, {1: cal}, shots=2000, seed=4))
    assert result.verdict is Verdict.BAD and "upper edge" in result.reason and "longer" in result.reason, result.reason
    assert result.values["readout_duration"].value == 250  # what was found is still reported
    assert np.isfinite(result.values["assignment_fidelity"].value)


def test_a_sweep_far_too_long_is_bad_at_its_lower_edge():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=14)
    cal = truth_calibration(spec, device, 1).replace(readout_amp=0.5)
    experiment = ReadoutDuration(qubit=1, durations=(6000, 9000, 13500))  # decay during the readout dominates
    result = experiment.analyze(run_experiment(experiment, device, {1: cal}, shots=2000, seed=5))
    assert result.verdict is Verdict.BAD and "lower edge" in result.reason and "shorter" in result.reason, result.reason
    assert result.values["readout_duration"].value == 6000


# what both readout-pulse sweeps (readout_sweep.ReadoutPulseSweep) share
SWEEPS = [(ReadoutAmplitude, {"amplitudes": (0.3, 0.5, 0.8)}, "amplitude", ""),
          (ReadoutDuration, {"durations": (400, 1000, 2500)}, "duration", "ns")]


@pytest.mark.parametrize("kind", [ReadoutAmplitude, ReadoutDuration])
def test_a_readout_that_cannot_tell_the_states_apart_anywhere_on_the_sweep_is_bad(kind):
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=14)
    cal = truth_calibration(spec, device, 1).replace(readout_frequency=6.0)  # 1 GHz off the resonator
    experiment = kind(qubit=1)
    result = experiment.analyze(run_experiment(experiment, device, {1: cal}, shots=1000, seed=3))
    assert result.verdict is Verdict.BAD and "read alike" in result.reason, result.reason


@pytest.mark.parametrize("kind, options, dim, unit", SWEEPS)
def test_the_sweep_is_stored_and_analysed_again_alike(tmp_path, kind, options, dim, unit):
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=15)
    experiment = kind(qubit=0, **options)
    ds = run_experiment(experiment, device, {0: truth_calibration(spec, device, 0)}, shots=400, seed=5)
    again = load_dataset(save_dataset(ds, tmp_path / "sweep.h5"))
    assert experiment.analyze(again).as_dict() == experiment.analyze(ds).as_dict()
    assert again[dim].attrs["units"] == unit


def test_each_point_reads_with_its_own_duration_and_the_calibrated_frequency_and_amplitude():
    spec = load_spec("sim-5q")
    cal = truth_calibration(spec, SimulatedDevice(spec, seed=15), 0).replace(readout_amp=0.55)
    (pulse,) = ReadoutDuration(qubit=0).readout_pulses({0: cal}, {"duration": 1474.0, "prepared": 1})
    assert (pulse.frequency, pulse.amplitude, pulse.duration) == (cal.readout_frequency, 0.55, 1474.0)


@pytest.mark.parametrize("durations", [(200, 500), (0, 500, 800), (-100, 500, 800), (200, 200, 500),
                                       (200.5, 500, 800), (True, 500, 800), (200, float("nan"), 800), "200,500,800"])
def test_bad_durations_are_refused_with_the_rule(durations):
    with pytest.raises(ExperimentError, match="at least 3 different readout durations in whole ns"):
        ReadoutDuration(durations=durations)


def test_default_durations_are_geometric_whole_ns_and_options_are_sorted():
    ratios = np.array(DEFAULT_DURATIONS[1:]) / np.array(DEFAULT_DURATIONS[:-1])
    assert DEFAULT_DURATIONS[0] == 200 and DEFAULT_DURATIONS[-1] == 4000 and np.allclose(ratios, ratios[0], rtol=5e-3)
    assert all(float(d).is_integer() for d in DEFAULT_DURATIONS)
    assert ReadoutDuration(durations=[2000, 500, 1000.0]).durations == (500.0, 1000.0, 2000.0)


def test_it_is_registered_with_its_values():
    assert experiment_class("readout_duration") is ReadoutDuration
    assert fitted_values("readout_duration") == {"readout_duration": "ns", "assignment_fidelity": "",
                                                 "readout_angle": "rad", "readout_threshold": ""}


def test_a_dataset_without_a_duration_sweep_is_a_bad_result_not_an_error():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=15)
    ds = run_experiment(SingleShot(qubit=0), device, {0: truth_calibration(spec, device, 0)}, shots=200, seed=1)
    result = ReadoutDuration(qubit=0).analyze(ds)
    assert result.verdict is Verdict.BAD and "duration" in result.reason
    assert set(result.values) == {"readout_duration", "assignment_fidelity", "readout_angle", "readout_threshold"}
