"""The learned node's fine-frequency step (calibrate.ml.fine_frequency): a two-stage Ramsey read
analytically, against simulated devices with a known injected detuning (truth read by the test only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibrate.ml.fine_frequency import (PHASES, FineFrequency, FineFrequencyError, estimate_offset, fine_frequency,
                                         stage_phase)
from calibrate.ml.uncertainty import with_fine_frequency
from devices.catalog import load_spec
from devices.dressing import dressed_transmon
from devices.simulated import SimulatedDevice
from devices.truth import best_drag
from experiments.calibration import nominal_calibration

SPEC = load_spec("sim-1q")
SEEDS = range(640, 650)  # bench/recalibration.py uses seeds >= 1000


def perfect(seed: int):
    device = SimulatedDevice(SPEC, seed=seed)
    best = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
    calibration = nominal_calibration(SPEC, 0).replace(frequency=best["frequency"], x_amp=best["x_amp"],
                                                       sx_amp=best["x_amp"] / 2, beta=best["beta"])
    return device, calibration


def true_frequency(device) -> float:
    return float(dressed_transmon(device.truth(), 0).frequency)


def ideal_read_one(offset_ghz: float, options: FineFrequency, duration: float, amplitude=0.85, floor=0.03):
    """P(read 1) of the four sequences of each stage for a qubit `offset_ghz` above the drive:
    floor + A/2 (1 + cos(phi - psi)), the module's convention."""
    return np.array([[floor + 0.5 * amplitude * (1 + math.cos(2 * math.pi * offset_ghz * (tau + duration) - psi))
                      for psi in PHASES] for tau in options.delays])


@pytest.mark.parametrize("offset_khz", [-200.0, -45.0, -20.0, 0.0, 3.0, 20.0, 45.0, 200.0])
def test_noiseless_stages_give_back_the_offset_both_signs(offset_khz):
    """Stage 2 (8 us) wraps beyond 62 kHz; unwrapped by stage 1 (2 us, unambiguous to 248 kHz)."""
    options = FineFrequency()
    offset, stderr, stages, _, amplitudes, problem = estimate_offset(
        ideal_read_one(offset_khz * 1e-6, options, 20.0), options, 20.0)
    assert problem == ""
    assert offset == pytest.approx(offset_khz * 1e-6, abs=1e-12)
    np.testing.assert_allclose(stages, offset_khz * 1e-6, atol=1e-12)
    np.testing.assert_allclose(amplitudes, 0.85, rtol=1e-9)
    assert 0.4e-6 < stderr < 1.5e-6  # ~0.82 kHz expected from 100 + 400 shots per sequence


def test_the_phase_is_independent_of_the_fringe_amplitude():
    """The decay (T2, readout, SX angle) scales both quadratures alike and cancels."""
    for amplitude in (0.3, 0.6, 0.95):
        p = ideal_read_one(25e-6, FineFrequency(delays=(8000.0,), shots=(500,)), 20.0, amplitude=amplitude)[0]
        phase, _, a, _ = stage_phase(p, 500)
        assert phase == pytest.approx(2 * math.pi * 25e-6 * 8020.0, abs=1e-12)
        assert a == pytest.approx(amplitude)


def test_no_fringe_is_not_applied():
    options = FineFrequency()
    flat = np.full((2, 4), 0.5)
    *_, problem = estimate_offset(flat, options, 20.0)
    assert "no Ramsey fringe at 2000 ns" in problem and "no Ramsey fringe at 8000 ns" in problem
    device, calibration = perfect(SEEDS[0])
    result = fine_frequency(device, calibration, 0, FineFrequency(delays=(400_000.0,), shots=(50,)))
    # 400 us is ~7 T2: no fringe is left, and the drive is not moved
    assert not result.applied and result.calibration == calibration
    assert "fine frequency not applied: no Ramsey fringe" in result.reason
    assert with_fine_frequency({"frequency": 1e-5, "x_amp": 1e-3}, result) == {"frequency": 1e-5, "x_amp": 1e-3}


@pytest.mark.parametrize("bad, match", [
    ({"delays": ()}, r"FineFrequency.delays is \(\), but must be one or more increasing"),
    ({"delays": (8000.0, 2000.0), "shots": (1, 1)}, r"FineFrequency.delays .* increasing"),
    ({"delays": (2000.0, -1.0), "shots": (1, 1)}, r"FineFrequency.delays .* > 0"),
    ({"shots": (200,)}, r"FineFrequency.shots is \(200,\), but must hold one integer in 1..10\^6 per delay \(2\)"),
    ({"shots": (200, 0)}, r"FineFrequency.shots is \(200, 0\)"),
    ({"shots": (200, 1.5)}, r"FineFrequency.shots"),
])
def test_bad_options_are_refused(bad, match):
    with pytest.raises(FineFrequencyError, match=match):
        FineFrequency(**bad)


@pytest.mark.slow  # 10 two-stage Ramsey runs on the simulator (~20 s)
def test_it_removes_a_known_detuning_of_both_signs_and_its_stderr_covers_the_truth():
    """A perfect calibration, then the qubit jumps +-20 kHz (alternately, one device per seed, so
    the shot noise of the draws is independent): the step moves the drive back to within a few
    kHz of the true (dressed) frequency, and |error| <= its stderr plausibly often."""
    errors, pulls, shots = [], [], set()
    for i, seed in enumerate(SEEDS):
        for jump in ((20e-6, -20e-6)[i % 2],):
            device, calibration = perfect(seed)
            device.jump_frequency(0, ghz=jump)
            result = fine_frequency(device, calibration, 0)
            truth = true_frequency(device)  # after the run: the drift during it is the device's
            assert result.applied, result.reason
            assert abs(calibration.frequency - truth) > 15e-6  # the injected residual is there before
            assert result.offset == pytest.approx(jump, abs=5e-6)  # right sign and size
            errors.append(result.calibration.frequency - truth)
            pulls.append(errors[-1] / result.stderr)
            shots.add(result.shots)
            assert 0.4e-6 < result.stderr < 1.5e-6
    errors, pulls = np.array(errors), np.array(pulls)
    assert np.all(np.abs(errors) < 3e-6), errors * 1e6  # within 3 kHz (expected ~0.82 kHz rms)
    assert 0.4 <= np.mean(np.abs(pulls) <= 1) <= 1.0, pulls  # 1-sigma coverage ~68 %, 10 draws
    assert 0.5 <= np.sqrt(np.mean(pulls**2)) <= 2.0, pulls  # the stderr is the spread's scale
    assert np.all(np.abs(pulls) < 4), pulls
    assert shots == {4 * (100 + 400)}
