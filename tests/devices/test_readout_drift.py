"""The readout resonators' frequency walk: its law, its stream of its own (the qubits' drift of
every seed is what it was before resonators drifted) and old saved states restoring."""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from devices.catalog import load_spec
from devices.chip import Chip
from devices.device_spec import DeviceSpecError, DriftSpec, read_prior
from devices.drift import DriftPath, DriftState, advance_drift, apply_drift
from devices.simulated import SimulatedDevice

CATALOG = Path(__file__).resolve().parents[2] / "devices" / "catalog"
STATS = DriftSpec(frequency_walk=10e-6, telegraph_jump=150e-6, telegraph_rate=0.05, amplitude_walk_rel=0.002,
                  t1_fluctuation_rel=0.15, t1_correlation_hours=4.0, resonator_walk=40e-6)
N_SEEDS, N_QUBITS = 500, 8  # 4000 independent samples per statistic

# DriftPath(7, 5, sim-5q's drift).at(30 h) as the code before the resonator walk computed it.
BEFORE_WALK = (4.3117558830829445e-05, -1.4333156760147155e-05, -4.143742156239989e-05,
               -1.6570178348997543e-05, -5.434088710415312e-05)
BEFORE_TELEGRAPH = (0, 1, 1, 1, 0)
BEFORE_LOG_AMPLITUDE = (0.00010049078002224814, 0.009981956223150712, 0.000747404137847324,
                        0.0004240016005008303, -0.007532269855058534)
BEFORE_LOG_T1 = (0.0023672900648166618, -0.1710912305558102, -0.12326376255574355, 0.03771238925061463,
                 -0.15941530461064898)


@pytest.fixture(scope="module")
def spec():
    return load_spec("sim-5q")


def _still(spec):
    """`spec` with its resonators not walking."""
    return replace(spec, drift=replace(spec.drift, resonator_walk=0.0))


def test_the_catalog_walk_moves_a_resonator_a_tenth_of_its_linewidth_a_day_and_files_without_it_keep_still(tmp_path):
    for name in ("sim-1q", "sim-5q"):
        spec = load_spec(name)
        assert spec.drift.resonator_walk == pytest.approx(40e-6)  # 40 kHz/sqrt(h), in GHz
        for q in spec.qubits:
            assert 0.09 < spec.drift.resonator_walk * math.sqrt(24.0) / q.readout.linewidth < 0.11
    text = (CATALOG / "sim-1q.toml").read_text()
    old = "resonator_walk_khz_per_sqrt_h = 40.0\n"
    assert old in text
    path = tmp_path / "older.toml"
    path.write_text(text.replace(old, ""))
    assert load_spec(str(path)).drift.resonator_walk == 0.0
    assert read_prior({"drift": {"frequency_walk_khz_per_sqrt_h": 5.0}}, "hw.toml")[1].resonator_walk == 0.0
    path.write_text(text.replace(old, "resonator_walk_khz_per_sqrt_h = -1.0\n"))
    with pytest.raises(DeviceSpecError, match=r"drift\.resonator_walk_khz_per_sqrt_h is -1.0, but must satisfy 0 <="):
        load_spec(str(path))


def test_the_qubits_drift_is_bit_identical_to_before_the_resonator_walk(spec):
    state = DriftPath(7, spec.n_qubits, spec.drift).at(30.0)  # past the first block boundary
    assert spec.drift.resonator_walk > 0 and any(state.resonator_walk)
    assert (state.walk, state.telegraph, state.log_amplitude) == (BEFORE_WALK, BEFORE_TELEGRAPH, BEFORE_LOG_AMPLITUDE)
    np.testing.assert_allclose(state.log_t1, BEFORE_LOG_T1, rtol=1e-13)  # exp() may differ in the last bit
    for seed in (0, 123, 999):
        walking, still = DriftPath(seed, spec.n_qubits, spec.drift), DriftPath(seed, spec.n_qubits, _still(spec).drift)
        for hours in (0.37, 17.5, 100.25, 500.0):
            a, b = walking.at(hours), still.at(hours)
            assert (a.walk, a.telegraph, a.log_amplitude, a.log_t1) == (b.walk, b.telegraph, b.log_amplitude, b.log_t1)
            assert b.resonator_walk == (0.0,) * spec.n_qubits and a.resonator_walk != b.resonator_walk


def test_a_device_with_walking_resonators_has_the_same_transmons_and_moved_resonators(spec):
    walking, still = SimulatedDevice(spec, seed=31), SimulatedDevice(_still(spec), seed=31)
    origin = walking.truth()
    for device in (walking, still):
        device.advance(hours=48.0)
    assert walking.truth().transmons == still.truth().transmons
    moved = DriftPath(31, spec.n_qubits, spec.drift).at(48.0).resonator_walk
    for r, r0, r_still, shift in zip(walking.truth().resonators, origin.resonators, still.truth().resonators, moved):
        assert float(r.frequency) == float(r0.frequency) + shift and float(r_still.frequency) == float(r0.frequency)
    assert max(abs(x) for x in moved) > 1e-5  # 10 kHz: it did move (rms 277 kHz in 48 h)


def test_apply_drift_moves_each_resonator_and_keeps_its_other_fields(spec):
    chip = SimulatedDevice(spec, seed=32).truth()
    n = spec.n_qubits
    shifts = tuple(1e-4 * (q - 2) for q in range(n))
    state = replace(DriftState.zero(n), resonator_walk=shifts)
    drifted = apply_drift(chip, state, spec.drift)
    for r, r0, shift in zip(drifted.resonators, chip.resonators, shifts):
        assert float(r.frequency) == float(r0.frequency) + shift
        for name in ("linewidth", "chi", "n_max", "noise_photons", "critical_photons", "induced_rate"):
            np.testing.assert_array_equal(getattr(r, name), getattr(r0, name))
    bare = Chip(chip.transmons, couplings=chip.couplings, crosstalk=chip.crosstalk)
    assert apply_drift(bare, state, spec.drift).resonators is None


def test_a_state_saved_before_the_resonator_walk_restores(spec):
    n = spec.n_qubits
    saved = DriftState(walk=(1e-4,) * n, telegraph=(1,) * n, log_amplitude=(0.1,) * n, log_t1=(0.2,) * n).as_dict()
    del saved["resonator_walk"]
    restored = DriftState.from_dict(saved)
    assert restored.resonator_walk == (0.0,) * n and restored.walk == (1e-4,) * n and restored.telegraph == (1,) * n
    moved = replace(restored, resonator_walk=(3e-5,) * n)
    assert DriftState.from_dict(moved.as_dict()) == moved
    with pytest.raises(ValueError, match="resonator_walk has 2 entries, but the state has 5 qubits"):
        replace(restored, resonator_walk=(0.0, 0.0))
    # a device's state as saved before: the clock fixes the drift, resonators' walk included
    old = {"device": spec.name, "seed": 33, "clock_s": 36_000.0, "injected_ghz": [0.0] * n,
           "injected_resonator_ghz": [0.0] * n, "shot_rng": np.random.default_rng([33, 2]).bit_generator.state}
    device, fresh = SimulatedDevice(spec, seed=33), SimulatedDevice(spec, seed=33)
    device.restore(old)
    fresh.advance(hours=10.0)
    assert [float(r.frequency) for r in device.truth().resonators] == [float(r.frequency) for r in fresh.truth().resonators]


def test_advance_drift_walks_resonators_at_the_configured_rate_and_a_still_spec_draws_as_before():
    n = 4000
    walked = advance_drift(DriftState.zero(n), 10.0, STATS, np.random.default_rng(34))
    assert _variance_ok(np.asarray(walked.resonator_walk), STATS.resonator_walk**2 * 10.0)
    still_spec = replace(STATS, resonator_walk=0.0)
    rng, reference = np.random.default_rng(35), np.random.default_rng(35)
    still = advance_drift(DriftState.zero(n), 10.0, still_spec, rng)
    assert still.resonator_walk == (0.0,) * n
    # the draws advance_drift made before resonators walked: a walk, flips, amplitude, T1
    for draw in (reference.standard_normal, reference.random, reference.standard_normal, reference.standard_normal):
        draw(n)
    assert rng.bit_generator.state == reference.bit_generator.state
    # the qubits' processes come first, so a walking spec's are the still one's
    walking = advance_drift(DriftState.zero(n), 10.0, STATS, np.random.default_rng(35))
    assert (walking.walk, walking.telegraph, walking.log_amplitude, walking.log_t1) == (
        still.walk, still.telegraph, still.log_amplitude, still.log_t1)


def _variance_ok(x: np.ndarray, expected: float) -> bool:
    # the sample variance of n normal draws has relative standard error sqrt(2 / n)
    return abs(np.var(x) / expected - 1.0) < 4.0 * np.sqrt(2.0 / x.size)


def test_the_resonator_walk_diffuses_as_sqrt_hours_independently_of_the_qubit_walk():
    hours = (10.0, 30.0)  # 30 h lies past the block boundary at 17.07 h
    resonator, qubit = [], []
    for seed in range(N_SEEDS):
        path = DriftPath(seed, N_QUBITS, STATS)
        states = [path.at(h) for h in hours]
        resonator.append([s.resonator_walk for s in states])
        qubit.append([s.walk for s in states])
    x10, x30 = np.concatenate(np.asarray(resonator), axis=1)
    sigma = STATS.resonator_walk
    assert _variance_ok(x10, sigma**2 * 10.0)
    step = x30 - x10  # independent of x10, with variance sigma^2 * 20 h
    assert _variance_ok(step, sigma**2 * 20.0)
    limit = 4.0 / np.sqrt(x10.size)
    assert abs(np.corrcoef(x10, step)[0, 1]) < limit
    assert abs(np.mean(step)) < 4.0 * sigma * np.sqrt(20.0 / step.size)
    # a stream of its own: uncorrelated with the qubits' frequency walk
    q10 = np.concatenate(np.asarray(qubit), axis=1)[0]
    assert abs(np.corrcoef(x10, q10)[0, 1]) < limit
