"""Readout amplitude sweep: the chosen amplitude against the best the readout model allows
(computed here from the device's truth over a fine amplitude grid), and the BAD verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from devices.catalog import load_spec
from devices.simulated import SimulatedDevice
from experiments.base import ExperimentError, run_experiment
from experiments.library.readout_amplitude import DEFAULT_AMPLITUDES, ReadoutAmplitude
from experiments.library.single_shot import SingleShot
from experiments.results import Verdict
from support.readout_truth import fresh_fidelity, model_fidelity, truth_calibration, x_pulse_levels

# where sim-5q's optima lie (0.45..1.0): the truth is searched here, in steps finer than the sweep's
FINE_AMPLITUDES = np.round(np.arange(0.3, 1.0 + 1e-9, 0.025), 4)


# (12, 2) and (13, 4): optima near 0.5, the latter's peak the narrowest on sim-5q;
# (12, 4): a flat top reaching full scale, where the best may be the sweep's last point
@pytest.mark.parametrize("seed, qubit", [(12, 2), (13, 4), (12, 4)])
def test_the_chosen_amplitude_reads_within_half_a_percent_of_the_models_best(seed, qubit):
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=seed)
    cal = truth_calibration(spec, device, qubit)
    experiment = ReadoutAmplitude(qubit=qubit)
    ds = run_experiment(experiment, device, {qubit: cal}, shots=6000, seed=seed)
    assert ds["iq"].dims == ("amplitude", "prepared", "shot", "qubit", "quadrature")
    assert ds.attrs["experiment"] == "readout_amplitude" and ds.sizes["amplitude"] == len(DEFAULT_AMPLITUDES)
    result = experiment.analyze(ds)
    assert result.verdict is Verdict.GOOD, result.reason

    chosen = result.values["readout_amp"]
    assert chosen.value in DEFAULT_AMPLITUDES  # a measured amplitude, whose discriminator is reported
    curve = [model_fidelity(device, qubit, cal.readout_pulse(amp=a), shots=60_000) for a in FINE_AMPLITUDES]
    best_amp, best = float(FINE_AMPLITUDES[int(np.argmax(curve))]), max(curve)
    at_chosen = model_fidelity(device, qubit, cal.readout_pulse(amp=chosen.value), shots=60_000)
    with_x = model_fidelity(device, qubit, cal.readout_pulse(amp=chosen.value), shots=60_000,
                            prepared_one=x_pulse_levels(device, qubit, cal))
    fidelity = result.values["assignment_fidelity"]
    print(f"seed {seed} qubit {qubit}: chosen {chosen.value:.4f} +- {chosen.stderr:.4f} (model at it {at_chosen:.4f}, "
          f"with the X pulse's errors {with_x:.4f}), model's best {best:.4f} at {best_amp:.3f}; "
          f"reported {fidelity.value:.4f} +- {fidelity.stderr:.4f}")
    # the target: within 0.5 % of the best the model allows
    assert at_chosen > best - 0.005, (chosen, at_chosen, best_amp, best)
    # the stderr says where the optimum lies: not a sharp point on a broad top, nor off the mark
    assert 0.01 < chosen.stderr < 0.3 and abs(chosen.value - best_amp) < 3 * chosen.stderr, (chosen, best_amp)

    # judged on shots the choice did not look at, so unbiased by it: the model's, for this X pulse
    assert abs(fidelity.value - with_x) < 3 * fidelity.stderr + 2e-3, (fidelity, with_x)
    assert 0.0005 < fidelity.stderr < 0.005
    # the discriminator reported is the one at the chosen amplitude: it reads fresh shots there as well
    fresh = fresh_fidelity(device, qubit, cal.replace(readout_amp=chosen.value), result, seed=seed + 100)
    assert abs(fresh - fidelity.value) < 4 * fidelity.stderr, (fresh, fidelity)


def test_a_sweep_far_below_the_optimum_is_bad_at_its_edge():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=14)
    cal = truth_calibration(spec, device, 1)
    experiment = ReadoutAmplitude(qubit=1, amplitudes=(0.1, 0.125, 0.16, 0.2))  # the optimum is near 0.5
    result = experiment.analyze(run_experiment(experiment, device, {1: cal}, shots=2000, seed=4))
    assert result.verdict is Verdict.BAD and "upper edge" in result.reason, result.reason
    assert "above" in result.reason
    assert result.values["readout_amp"].value == 0.2  # what was found is still reported


@pytest.mark.parametrize("amplitudes", [(0.2, 0.5), (0.2, 0.5, 1.2), (0.2, 0.2, 0.5), (0.0, 0.5, 0.8), "0.2,0.5,0.8"])
def test_bad_amplitudes_are_refused_with_the_rule(amplitudes):
    with pytest.raises(ExperimentError, match="at least 3 different readout amplitudes"):
        ReadoutAmplitude(amplitudes=amplitudes)


def test_default_amplitudes_are_geometric_up_to_full_scale_and_options_are_sorted():
    ratios = np.array(DEFAULT_AMPLITUDES[1:]) / np.array(DEFAULT_AMPLITUDES[:-1])
    assert DEFAULT_AMPLITUDES[0] == 0.1 and DEFAULT_AMPLITUDES[-1] == 1.0 and np.allclose(ratios, ratios[0], rtol=1e-3)
    assert ReadoutAmplitude(amplitudes=[0.8, 0.3, 0.5]).amplitudes == (0.3, 0.5, 0.8)


def test_a_dataset_without_an_amplitude_sweep_is_a_bad_result_not_an_error():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=15)
    ds = run_experiment(SingleShot(qubit=0), device, {0: truth_calibration(spec, device, 0)}, shots=200, seed=1)
    result = ReadoutAmplitude(qubit=0).analyze(ds)
    assert result.verdict is Verdict.BAD and "amplitude" in result.reason
    assert set(result.values) == {"readout_amp", "assignment_fidelity", "readout_angle", "readout_threshold"}
