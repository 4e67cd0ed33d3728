"""Paired drift: a simulated device's drift is a function of its seed and clock alone.

The statistical tests check the exact transition laws on the grid against the DriftSpec
over many seeds, with tolerances of a few standard errors of the sampling.
"""

import numpy as np
import pytest

from devices import DeviceModelError, Delay, Schedule
from devices.catalog import load_spec
from devices.device_spec import DriftSpec
from devices.drift import BLOCK_STEPS, STEPS_PER_HOUR, DriftPath, DriftState, apply_drift
from devices.simulated import SimulatedDevice, fabricate

BLOCK_HOURS = BLOCK_STEPS / STEPS_PER_HOUR
STATS = DriftSpec(frequency_walk=10e-6, telegraph_jump=150e-6, telegraph_rate=0.05,
                  amplitude_walk_rel=0.002, t1_fluctuation_rel=0.15, t1_correlation_hours=4.0)
N_SEEDS, N_QUBITS = 1000, 8  # 8000 independent samples per statistic


@pytest.fixture(scope="module")
def spec():
    return load_spec("sim-5q")


def _drifted(device: SimulatedDevice, origin) -> np.ndarray:
    """Each qubit's (frequency, drive scale, T1, T2) now, relative to `origin` (the chip at clock 0)."""
    rows = []
    for t, t0 in zip(device.truth().transmons, origin.transmons):
        rows.append([float(t.frequency) - float(t0.frequency), float(t.drive_scale) / float(t0.drive_scale),
                     float(t.t1) / float(t0.t1), float(t.t2) / float(t0.t2)])
    return np.array(rows)


def _idle(n: int) -> Schedule:
    return Schedule([Delay(None, 40.0)], [5.0] * n)


def test_two_copies_run_differently_have_the_same_truth_at_the_same_clock(spec):
    busy, direct = SimulatedDevice(spec, seed=21), SimulatedDevice(spec, seed=21)
    origin = busy.truth()
    steps = np.random.default_rng(5).uniform(0.0, 1.5, size=40)  # hours, ~30 h: crosses a block
    for k, hours in enumerate(steps):
        busy.advance(hours=float(hours))
        if k % 4 == 0:
            busy.run([_idle(1)] * 3, shots=200_000, qubits=(k % spec.n_qubits,))  # ~60 s each
        for _ in range(5):
            busy.advance(hours=1e-4)
    assert busy.now() > BLOCK_HOURS * 3600
    direct.advance(hours=busy.now() / 3600.0)
    assert direct.now() == pytest.approx(busy.now(), rel=1e-15)
    a, b = _drifted(busy, origin), _drifted(direct, origin)
    assert np.all(np.abs(a[:, 0]) > 1e-7)  # it did drift (> 0.1 kHz)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)


def test_the_same_clock_reached_exactly_gives_an_identical_chip(spec):
    first, second = SimulatedDevice(spec, seed=22), SimulatedDevice(spec, seed=22)
    for _ in range(8):
        first.advance(hours=3.0)
    first.run([_idle(1)], shots=1000)
    second.advance(hours=24.0)
    second.run([_idle(1)], shots=1000)
    assert first.now() == second.now()
    for s, t in zip(first.truth().transmons, second.truth().transmons):
        assert (float(s.frequency), float(s.drive_scale), float(s.t1), float(s.t2)) == (
            float(t.frequency), float(t.drive_scale), float(t.t1), float(t.t2))


def test_different_seeds_drift_differently(spec):
    one, other = SimulatedDevice(spec, seed=23), SimulatedDevice(spec, seed=24)
    origins = one.truth(), other.truth()
    one.advance(hours=24.0)
    other.advance(hours=24.0)
    a, b = _drifted(one, origins[0]), _drifted(other, origins[1])
    assert np.all(np.abs(a[:, 0] - b[:, 0]) > 1e-9) and np.all(a[:, 1] != b[:, 1]) and np.all(a[:, 2] != b[:, 2])


def test_clock_zero_is_the_fabricated_chip(spec):
    device = SimulatedDevice(spec, seed=25)
    fabricated = fabricate(spec, np.random.default_rng([25, 0]))
    expected = apply_drift(fabricated, DriftState.zero(spec.n_qubits), spec.drift)
    for t, f, e in zip(device.truth().transmons, fabricated.transmons, expected.transmons):
        assert float(t.frequency) == float(f.frequency) and float(t.drive_scale) == float(f.drive_scale)
        assert float(t.t1) == float(f.t1) and float(t.t2) == float(e.t2)
    assert DriftPath(25, spec.n_qubits, spec.drift).at(0.0) == DriftState.zero(spec.n_qubits)


def test_a_restored_device_continues_identically_with_its_injected_jumps(spec):
    device = SimulatedDevice(spec, seed=26)
    device.advance(hours=5.5)
    device.run([_idle(1)] * 2, shots=500)
    device.jump_frequency(2, ghz=0.003)
    saved = device.state()
    copy = SimulatedDevice(spec, seed=26)
    copy.restore(saved)
    for d in (device, copy):
        d.advance(hours=20.0)
    counts = [d.run([_idle(1)] * 4, shots=1000, qubits=(2,)).counts.values for d in (device, copy)]
    np.testing.assert_array_equal(counts[0], counts[1])
    assert device.now() == copy.now()
    assert device.truth().transmons[2].frequency == copy.truth().transmons[2].frequency
    # the jump is an offset on top of the drift, kept through save and restore
    plain = SimulatedDevice(spec, seed=26)
    plain.advance(hours=copy.now() / 3600.0)
    shift = float(copy.truth().transmons[2].frequency) - float(plain.truth().transmons[2].frequency)
    assert shift == pytest.approx(0.003, abs=1e-12)


def test_an_old_format_state_keeps_its_clock_and_recomputes_the_drift(spec):
    n = spec.n_qubits
    old = {"device": spec.name, "seed": 27, "clock_s": 36_000.0,
           "drift": DriftState(walk=(1e-3,) * n, telegraph=(1,) * n, log_amplitude=(0.1,) * n,
                               log_t1=(0.2,) * n).as_dict(),
           "drift_rng": np.random.default_rng([27, 1]).bit_generator.state,
           "shot_rng": np.random.default_rng([27, 2]).bit_generator.state}
    restored, fresh = SimulatedDevice(spec, seed=27), SimulatedDevice(spec, seed=27)
    restored.restore(old)
    fresh.advance(hours=10.0)
    assert restored.now() == 36_000.0
    assert [float(t.frequency) for t in restored.truth().transmons] == [
        float(t.frequency) for t in fresh.truth().transmons]


def test_bad_clock_input_is_refused_with_the_allowed_range(spec):
    device = SimulatedDevice(spec, seed=28)
    for bad in (float("inf"), float("nan"), -1.0):
        with pytest.raises(DeviceModelError, match="must be finite and >= 0"):
            device.advance(hours=bad)
    with pytest.raises(ValueError, match="finite and >= 0"):
        DriftPath(28, 2, spec.drift).at(float("inf"))
    state = device.state()
    with pytest.raises(DeviceModelError, match="injected_ghz` must be 5 finite numbers"):
        device.restore({**state, "injected_ghz": [0.0]})
    with pytest.raises(DeviceModelError, match="clock_s` must be a finite number >= 0"):
        device.restore({**state, "clock_s": -5.0})


def test_between_grid_points_the_drift_moves_continuously():
    path = DriftPath(29, 3, STATS)
    k = 1500  # a grid step in the second block
    left, right = path.at(k / STEPS_PER_HOUR), path.at((k + 1) / STEPS_PER_HOUR)
    middle = path.at((k + 0.25) / STEPS_PER_HOUR)
    expected = 0.75 * np.array(left.walk) + 0.25 * np.array(right.walk)
    np.testing.assert_allclose(middle.walk, expected, rtol=1e-12, atol=1e-18)
    assert middle.telegraph == left.telegraph



def _samples(hours: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Each process at each clock, (len(hours), N_SEEDS * N_QUBITS), over seeds 20000..."""
    out = {k: [] for k in ("walk", "telegraph", "log_amplitude", "log_t1")}
    for seed in range(20_000, 20_000 + N_SEEDS):
        path = DriftPath(seed, N_QUBITS, STATS)
        states = [path.at(h) for h in hours]
        for k in out:
            out[k].append([getattr(s, k) for s in states])
    return {k: np.concatenate(np.asarray(v, dtype=float), axis=1) for k, v in out.items()}


@pytest.fixture(scope="module")
def samples():
    # grid points: 10 h, then 30 h (across the block boundary at 17.07 h), then 31 h
    return _samples((10.0, 30.0, 31.0))


def _variance_ok(x: np.ndarray, expected: float) -> bool:
    # the sample variance of n normal draws has relative standard error sqrt(2 / n)
    return abs(np.var(x) / expected - 1.0) < 4.0 * np.sqrt(2.0 / x.size)


def test_frequency_and_amplitude_walks_diffuse_at_the_configured_rates(samples):
    for name, sigma in (("walk", STATS.frequency_walk), ("log_amplitude", STATS.amplitude_walk_rel)):
        x10, x30 = samples[name][0], samples[name][1]
        assert _variance_ok(x10, sigma**2 * 10.0), name
        step = x30 - x10  # independent of x10, with variance sigma^2 * 20 h
        assert _variance_ok(step, sigma**2 * 20.0), name
        assert abs(np.corrcoef(x10, step)[0, 1]) < 4.0 / np.sqrt(x10.size), name
        assert abs(np.mean(step)) < 4.0 * sigma * np.sqrt(20.0 / step.size), name


def test_telegraph_flips_with_the_configured_probability(samples):
    r = STATS.telegraph_rate
    tele = samples["telegraph"]
    for flipped, hours in ((tele[0], 10.0), (tele[0] != tele[1], 20.0), (tele[1] != tele[2], 1.0)):
        p = 0.5 * (1.0 - np.exp(-2.0 * r * hours))
        frac = np.mean(flipped)
        assert abs(frac - p) < 4.0 * np.sqrt(p * (1.0 - p) / flipped.size), (hours, frac, p)


def test_log_t1_follows_the_ornstein_uhlenbeck_law(samples):
    s, tau = STATS.t1_fluctuation_rel, STATS.t1_correlation_hours
    x10, x30, x31 = samples["log_t1"]
    assert _variance_ok(x10, s**2 * (1.0 - np.exp(-2.0 * 10.0 / tau)))  # from 0 at clock 0
    assert _variance_ok(x30, s**2 * (1.0 - np.exp(-2.0 * 30.0 / tau)))
    # one hour on: x31 = a x30 + noise of variance s^2 (1 - a^2), a = exp(-1 h / tau)
    a = np.exp(-1.0 / tau)
    slope = np.sum(x30 * x31) / np.sum(x30 * x30)
    assert abs(slope - a) < 4.0 * np.sqrt(1.0 - a**2) / np.sqrt(x30.size)
    assert _variance_ok(x31 - a * x30, s**2 * (1.0 - a**2))
