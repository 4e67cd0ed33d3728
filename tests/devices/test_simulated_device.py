"""SimulatedDevice: reproducible counts, shot-noise scaling, readout model, drift statistics."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from devices import Constant, Delay, DeviceModelError, Play, Schedule
from devices.catalog import load_spec
from devices.device_spec import DriftSpec
from devices.drift import DriftState, advance_drift
from devices.nominal import nominal_x_pulse, pi_amplitude
from devices.protocol import Device
from devices.simulated import SimulatedDevice


@pytest.fixture(scope="module")
def spec():
    return load_spec("sim-1q")


def _idle(frequency: float) -> Schedule:
    return Schedule([Delay(None, 10.0)], [frequency])


def _half_pi(device: SimulatedDevice) -> Schedule:
    # A resonant pi/2 pulse on the true device: P(1) = 1/2 before readout error.
    t = device.truth().transmons[0]
    amp = pi_amplitude(float(t.drive_scale), Constant(20.0, amp=1.0), device.dt) / 2
    return Schedule([Play(0, Constant(20.0, amp=amp))], [float(t.frequency)])


def test_satisfies_the_device_protocol(spec):
    device = SimulatedDevice(spec, seed=0)
    assert isinstance(device, Device)
    assert device.qubits == (0,) and device.dt == 0.5 and device.now() == 0.0


def test_seed_draws_a_device_and_counts_are_reproducible(spec):
    a, b, c = SimulatedDevice(spec, seed=4), SimulatedDevice(spec, seed=4), SimulatedDevice(spec, seed=5)
    assert float(a.truth().transmons[0].frequency) == float(b.truth().transmons[0].frequency)
    assert float(a.truth().transmons[0].frequency) != float(c.truth().transmons[0].frequency)
    schedules = [_half_pi(a)] * 3
    first = a.run(schedules, shots=500, seed=11).counts.values
    second = b.run(schedules, shots=500, seed=11).counts.values
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, a.run(schedules, shots=500, seed=12).counts.values)


def test_shot_noise_spread_scales_as_one_over_sqrt_shots(spec):
    device = SimulatedDevice(spec, seed=1)
    schedule = _half_pi(device)
    spreads = {}
    for shots in (100, 1600):
        counts = device.run([schedule] * 400, shots=shots, seed=shots).counts.values[:, 0]
        spreads[shots] = np.std(counts / shots)
    # binomial: sigma = sqrt(p (1-p) / shots) ~ 0.05 and 0.0125; 400 repeats estimate a
    # standard deviation to ~3.5%, so the ratio 4 is met within 15%.
    assert spreads[100] / spreads[1600] == pytest.approx(4.0, rel=0.15)
    assert spreads[100] == pytest.approx(0.5 / np.sqrt(100), rel=0.15)


def test_readout_error_and_leakage_read_as_one(spec):
    device = SimulatedDevice(spec, seed=2)
    t = device.truth().transmons[0]
    shots = 200_000
    idle = device.run([_idle(float(t.frequency))], shots=shots, seed=0).counts.values[0, 0] / shots
    # Nothing excites the qubit: only the P(1|0) assignment error reads 1 (5 sigma bounds).
    sigma = np.sqrt(float(t.readout_p01) / shots)
    assert abs(idle - float(t.readout_p01)) < 5 * sigma
    # A short full-scale pulse (4 ns, far wider in frequency than the anharmonicity) leaks
    # into |2>; leaked shots read as 1, so P(read 1) follows P1 + P2, not P1 alone.
    from devices import level_populations, populations, Open, Chip
    from devices.dressing import dressed_transmon
    pump = Schedule([Play(0, Constant(4.0, amp=1.0))], [float(t.frequency)])
    chip = Chip([dressed_transmon(device.truth(), 0)])
    pops = np.asarray(level_populations(populations(chip, pump, dt=0.5, dynamics=Open()), 1, 3))[0]
    assert pops[2] > 0.02, pops  # the test needs real leakage to mean anything
    expected = float(t.readout_p01) * pops[0] + (1 - float(t.readout_p10)) * (pops[1] + pops[2])
    without_leakage = float(t.readout_p01) * (pops[0] + pops[2]) + (1 - float(t.readout_p10)) * pops[1]
    read = device.run([pump], shots=shots, seed=1).counts.values[0, 0] / shots
    sigma = np.sqrt(expected * (1 - expected) / shots)
    assert abs(read - expected) < 5 * sigma
    assert abs(read - without_leakage) > 10 * sigma


def test_run_advances_the_clock_by_its_duration(spec):
    device = SimulatedDevice(spec, seed=0)
    ds = device.run([_idle(5.0)] * 10, shots=100, seed=0)
    per_shot_ns = 10.0 + spec.repetition
    assert device.now() == pytest.approx(10 * 100 * per_shot_ns * 1e-9)
    assert ds.attrs["clock_s"] == 0.0 and ds.attrs["device"] == "sim-1q"
    device.advance(hours=2.0)
    assert device.now() == pytest.approx(2 * 3600 + 10 * 100 * per_shot_ns * 1e-9)


def test_a_step_the_simulation_cannot_keep_exact_is_an_error_not_a_count(spec):
    """A carrier 3 GHz off the qubit is beyond what the exponential's squarings keep exact: the
    compiled simulation gives NaN (no host callback, so XLA can cache the program) and the
    device refuses with the reason, before any shot is drawn or the clock moves."""
    device = SimulatedDevice(spec, seed=3)
    f = float(device.truth().transmons[0].frequency)
    good = Schedule([Play(0, Constant(20.0, 0.1))], [f])
    with pytest.raises(DeviceModelError, match=r"schedule 1 of this call gave non-finite populations \(1 of 2"):
        device.run([good, Schedule([Play(0, Constant(20.0, 0.1))], [f + 3.0])], shots=10, seed=0)
    assert device.now() == 0.0


def test_a_delay_sweep_runs_in_one_call_and_decays_with_t1(spec):
    device = SimulatedDevice(spec, seed=3)
    t = device.truth().transmons[0]
    x = nominal_x_pulse(spec, 0)
    amp = pi_amplitude(float(t.drive_scale), x, device.dt)
    pulse = type(x)(x.duration, amp=amp, sigma=x.sigma, beta=0.0)
    delays = np.linspace(0.0, 150e3, 7)
    schedules = [Schedule([Play(0, pulse), Delay(None, float(d))], [float(t.frequency)]) for d in delays]
    shots = 20_000
    p1 = device.run(schedules, shots=shots, seed=3).counts.values[:, 0] / shots
    excited = (p1 - float(t.readout_p01)) / (1 - float(t.readout_p01) - float(t.readout_p10))
    # the clock runs about 7 * 20k * 0.3 ms = 40 s: T1 drifts by well under 1%
    model = excited[0] * np.exp(-delays / float(t.t1))
    assert np.all(np.abs(excited - model) < 0.02)


def test_bad_run_input_is_refused_with_its_reason(spec):
    device = SimulatedDevice(spec, seed=0)
    good = _idle(5.0)
    with pytest.raises(DeviceModelError, match="shots"):
        device.run([good], shots=0)
    with pytest.raises(DeviceModelError, match="Qubit 3 is not on device sim-1q"):
        device.run([good], shots=10, qubits=(3,))
    with pytest.raises(DeviceModelError, match="empty"):
        device.run([], shots=10)
    long = Schedule([Delay(None, 600e3)], [5.0])
    with pytest.raises(DeviceModelError, match="lasts 600 us, but sim-1q plays at most 500 us"):
        device.run([long], shots=10)
    with pytest.raises(DeviceModelError, match="plays on 2 drive lines"):
        device.run([Schedule([Delay(None, 10.0)], [5.0, 5.1])], shots=10)
    with pytest.raises(DeviceModelError, match="seed"):
        SimulatedDevice(spec, seed=-1)
    assert device.now() == 0.0  # refused runs do not advance the clock


def _drift_spec(**changes) -> DriftSpec:
    base = DriftSpec(frequency_walk=10e-6, telegraph_jump=0.0, telegraph_rate=0.0,
                     amplitude_walk_rel=0.0, t1_fluctuation_rel=0.0, t1_correlation_hours=1.0)
    return dataclasses.replace(base, **changes)


def test_frequency_random_walk_has_the_configured_diffusion():
    rng = np.random.default_rng(0)
    spec = _drift_spec(frequency_walk=10e-6)
    n = 4000  # independent qubits
    state = DriftState.zero(n)
    for _ in range(24):
        state = advance_drift(state, 1.0, spec, rng)
    walk = np.asarray(state.walk)
    # after 24 h: sigma = 10 kHz * sqrt(24); 4000 samples pin the std to ~1.1%
    assert np.std(walk) == pytest.approx(10e-6 * np.sqrt(24), rel=0.05)
    assert abs(np.mean(walk)) < 5 * 10e-6 * np.sqrt(24) / np.sqrt(n)


def test_telegraph_jumps_flip_at_the_configured_rate():
    rng = np.random.default_rng(1)
    spec = _drift_spec(frequency_walk=0.0, telegraph_jump=150e-6, telegraph_rate=0.05)
    n, hours = 20000, 2.0
    flipped = np.asarray(advance_drift(DriftState.zero(n), hours, spec, rng).telegraph)
    p = 0.5 * (1 - np.exp(-2 * 0.05 * hours))
    assert abs(flipped.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    # many small steps follow the same law as one big step (a Markov chain)
    state = DriftState.zero(n)
    for _ in range(20):
        state = advance_drift(state, hours / 20, spec, rng)
    assert abs(np.mean(state.telegraph) - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_t1_fluctuation_is_stationary_with_the_configured_spread_and_memory():
    rng = np.random.default_rng(2)
    spec = _drift_spec(frequency_walk=0.0, t1_fluctuation_rel=0.15, t1_correlation_hours=4.0)
    n = 5000
    state = advance_drift(DriftState.zero(n), 100.0, spec, rng)  # long past the memory
    x0 = np.asarray(state.log_t1)
    assert np.std(x0) == pytest.approx(0.15, rel=0.05)
    x1 = np.asarray(advance_drift(state, 4.0, spec, rng).log_t1)
    # correlation after one correlation time is exp(-1)
    assert np.corrcoef(x0, x1)[0, 1] == pytest.approx(np.exp(-1), abs=0.03)


def test_drift_moves_the_hidden_device_but_not_its_fabrication(spec):
    device = SimulatedDevice(spec, seed=7)
    before = device.truth()
    device.advance(hours=24.0)
    after = device.truth()
    assert float(after.transmons[0].frequency) != float(before.transmons[0].frequency)
    assert float(after.transmons[0].anharmonicity) == float(before.transmons[0].anharmonicity)
    t = after.transmons[0]
    assert float(t.t2) <= 2 * float(t.t1)
    # a day of drift stays within the few-hundred-kHz scale the file configures
    assert abs(float(after.transmons[0].frequency - before.transmons[0].frequency)) < 1e-3
    assert jnp.isfinite(t.drive_scale)
