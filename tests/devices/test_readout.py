"""The dispersive readout model (devices/readout.py) and the simulated device's IQ acquisition:
the blobs against the resonator's equation of motion, the noise, decay during the readout,
measurement-induced transitions, and the device file's readout tables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from devices import DeviceModelError
from devices.catalog import device_file, load_spec
from devices.device_spec import DeviceSpecError, parse_spec, read_device_config
from devices.nominal import pi_amplitude
from devices.limits import acquiring
from devices.protocol import Discriminated, Integrated
from devices.pulses import Gaussian
from devices.readout import (LinearDiscriminator, Readout, Resonator, ReadoutPulse, blob_centres, induced_rates,
                             level_paths, noise_sigma, photons, sample_iq)
from devices.schedule import Play, Schedule
from devices.simulated import SimulatedDevice, fabricate

RESONATOR = Resonator(frequency=7.0, linewidth=0.002, chi=(0.0, -0.0018, -0.0033), n_max=40.0, noise_photons=2.5,
                      critical_photons=25.0, induced_rate=1e-3)
QUIET = dataclasses.replace(RESONATOR, induced_rate=0.0)  # no measurement-induced transitions
PULSE = ReadoutPulse(frequency=7.0 - 0.0009, amplitude=0.3, duration=1000.0)
FOREVER = 1e12  # a T1 [ns] nothing decays in


def test_blob_centres_are_the_field_averaged_over_the_pulse():
    # independent: integrate d alpha/dt = -(kappa/2 + i Delta) alpha + drive numerically from an
    # empty resonator, with the drive that holds sqrt(n_max) a on resonance
    for duration in (50.0, 300.0, 2000.0):
        pulse = dataclasses.replace(PULSE, duration=duration)
        for level in (0, 1, 2):
            delta = 2 * np.pi * (7.0 + RESONATOR.shift(np.array(level)) - pulse.frequency)
            half_kappa = np.pi * 0.002
            drive = half_kappa * np.sqrt(40.0) * pulse.amplitude
            t = np.linspace(0.0, duration, 200_001)
            dt = t[1] - t[0]
            alpha = np.zeros_like(t, dtype=complex)
            for k in range(len(t) - 1):  # exact step of the linear ODE with a constant drive
                rate = half_kappa + 1j * delta
                alpha[k + 1] = alpha[k] * np.exp(-rate * dt) + drive / rate * (1 - np.exp(-rate * dt))
            average = np.trapezoid(alpha, t) / duration
            assert blob_centres(RESONATOR, pulse, np.array(level)) == pytest.approx(average, rel=1e-6, abs=1e-9)
    # long pulses reach the steady field, whose photons fall off as a Lorentzian of the detuning
    on_resonance = ReadoutPulse(7.0, 0.5, 1e6)
    assert photons(RESONATOR, on_resonance, np.array(0)) == pytest.approx(40.0 * 0.25)
    assert photons(RESONATOR, on_resonance, np.array(1)) == pytest.approx(10.0 / (1 + (2 * 0.0018 / 0.002) ** 2))


def test_shots_scatter_around_their_blob_with_the_amplifier_noise():
    rng = np.random.default_rng(1)
    points = sample_iq(np.zeros(40_000, int), QUIET, PULSE, FOREVER, 3, rng)
    centre = blob_centres(QUIET, PULSE, np.array(0))
    sigma = noise_sigma(QUIET, PULSE)
    assert abs(points.mean() - centre) < 4 * sigma / np.sqrt(40_000)
    assert np.std(points.real) == pytest.approx(sigma, rel=0.02)
    assert np.std(points.imag) == pytest.approx(sigma, rel=0.02)
    # four times the duration: half the noise on the mean field
    assert noise_sigma(QUIET, dataclasses.replace(PULSE, duration=4000.0)) == pytest.approx(sigma / 2)


def test_shots_that_decay_during_the_readout_land_between_the_blobs():
    t1, n = 20_000.0, 200_000
    rng = np.random.default_rng(2)
    levels, dwell = level_paths(np.ones(n, int), QUIET, PULSE, t1, 3, rng)
    decayed = levels[:, 1] == 0
    expected = 1 - np.exp(-PULSE.duration / t1)  # ~4.9 %
    assert abs(decayed.mean() - expected) < 4 * np.sqrt(expected / n)
    assert np.allclose(dwell.sum(axis=1), PULSE.duration)
    # the decayed shots spend a truncated-exponential time in |1>: their mean is known
    mean_in_1 = t1 - PULSE.duration * np.exp(-PULSE.duration / t1) / expected
    assert dwell[decayed, 0].mean() == pytest.approx(mean_in_1, rel=0.02)
    # |2> falls through |1> to |0>, twice as fast from |2>
    levels2, _ = level_paths(np.full(n, 2), QUIET, PULSE, t1, 3, rng)
    assert abs((levels2[:, 1] == 1).mean() - (1 - np.exp(-2 * PULSE.duration / t1))) < 0.005
    # in the IQ plane: a decayed shot's point lies on the segment between the two blobs
    points = sample_iq(np.ones(n, int), dataclasses.replace(QUIET, noise_photons=0.5), ReadoutPulse(PULSE.frequency, 0.3, 1e5),
                       t1, 3, np.random.default_rng(3))
    c0, c1 = blob_centres(QUIET, ReadoutPulse(PULSE.frequency, 0.3, 1e5), np.arange(2))
    along = ((points - c0) / (c1 - c0)).real  # 0 at |0>'s blob, 1 at |1>'s
    assert 0.2 < np.mean((along > 0.1) & (along < 0.9)) < 0.8  # long pulse: many shots in between


def test_more_amplitude_is_not_always_better():
    """Assignment error with the best threshold on the line between the blobs, by amplitude:
    it falls as the blobs separate, then rises as the drive excites the transmon."""
    def assignment_error(amplitude: float) -> float:
        pulse = dataclasses.replace(PULSE, amplitude=amplitude)
        rng = np.random.default_rng(4)
        c0, c1 = blob_centres(RESONATOR, pulse, np.arange(2))
        x0 = ((sample_iq(np.zeros(20_000, int), RESONATOR, pulse, 60_000.0, 3, rng) - c0) / (c1 - c0)).real
        x1 = ((sample_iq(np.ones(20_000, int), RESONATOR, pulse, 60_000.0, 3, rng) - c0) / (c1 - c0)).real
        thresholds = np.linspace(-0.5, 1.5, 401)
        return min(0.5 * ((x0 > t).mean() + (x1 <= t).mean()) for t in thresholds)

    errors = {a: assignment_error(a) for a in (0.1, 0.4, 1.0)}
    assert errors[0.4] < errors[0.1] and errors[0.4] < errors[1.0], errors
    # the cause at full amplitude: near n_crit, a third or more of the |0> shots are excited
    full, low = dataclasses.replace(PULSE, amplitude=1.0), dataclasses.replace(PULSE, amplitude=0.1)
    assert photons(RESONATOR, full, np.array(0)) > 0.8 * 25.0
    assert 1 - np.exp(-induced_rates(RESONATOR, full, np.array(0)) * PULSE.duration) > 0.3
    assert induced_rates(RESONATOR, low, np.array(0)) * PULSE.duration < 1e-4


def test_bad_readout_values_name_the_field():
    with pytest.raises(DeviceModelError, match=r"Resonator.chi is \[0.001, -0.002\], but must .* chi\[0\] = 0"):
        dataclasses.replace(RESONATOR, chi=(0.001, -0.002))
    with pytest.raises(DeviceModelError, match="Resonator.noise_photons"):
        dataclasses.replace(RESONATOR, noise_photons=0.2)
    with pytest.raises(DeviceModelError, match=r"ReadoutPulse.amplitude is 1.5, but must satisfy 0 < amplitude <= 1"):
        ReadoutPulse(7.0, 1.5, 100.0)


def sim5q_file(**readout_changes) -> dict:
    data = read_device_config(device_file("sim-5q"))
    data["qubits"][0]["readout"].update(readout_changes)
    return data


def test_the_device_file_states_each_readout_and_errors_name_the_key():
    spec = load_spec("sim-5q")
    r = spec.qubits[2].readout
    assert (r.resonator_frequency, r.linewidth, r.chi) == (7.1, pytest.approx(0.002), pytest.approx((0.0, -0.0019, -0.0035)))
    assert r.pulse_frequency == pytest.approx(7.1 - 0.0019 / 2)  # between the |0> and |1> responses
    with pytest.raises(DeviceSpecError, match=r"qubits\[0\].readout.chi_mhz is \[1.0, -1.8\], but must list"):
        parse_spec(sim5q_file(chi_mhz=[1.0, -1.8]), "sim-5q.toml")
    with pytest.raises(DeviceSpecError, match=r"qubits\[0\].readout.noise_photons is 0.1, but must satisfy 0.5 <= noise_photons"):
        parse_spec(sim5q_file(noise_photons=0.1), "sim-5q.toml")
    with pytest.raises(DeviceSpecError, match=r"qubits\[0\].readout has unknown key\(s\) linewidth_khz"):
        parse_spec(sim5q_file(linewidth_khz=2.0), "sim-5q.toml")


def test_devices_drawn_before_the_readout_model_keep_their_chips():
    spec = load_spec("sim-5q")
    without = dataclasses.replace(spec, qubits=tuple(dataclasses.replace(q, readout=None) for q in spec.qubits))
    old = fabricate(without, np.random.default_rng([7, 0]))
    new = SimulatedDevice(spec, seed=7).truth()
    assert [float(t.frequency) for t in new.transmons] == [float(t.frequency) for t in old.transmons]
    assert new.resonators is not None and SimulatedDevice(without, seed=7).truth().resonators is None
    # fabricated around the design: resonators within a few spreads, shifts within their relative spread
    for r, q in zip(new.resonators, spec.qubits):
        assert abs(float(r.frequency) - q.readout.resonator_frequency) < 5 * spec.fabrication.resonator
        assert float(r.chi[1]) / q.readout.chi[1] == pytest.approx(1.0, abs=5 * spec.fabrication.chi_rel)


def test_the_simulated_device_returns_iq_points_of_the_prepared_states():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=8)
    truth = device.truth()
    q, readout = 3, spec.qubits[3].readout
    pulse = ReadoutPulse(readout.pulse_frequency, readout.pulse_amplitude, readout.pulse_duration)
    transmon = truth.transmons[q]
    amp = pi_amplitude(float(transmon.drive_scale), Gaussian(20.0, amp=1.0, sigma=5.0), spec.dt)
    schedules = [Schedule([Play(0, Gaussian(20.0, amp=a, sigma=5.0))], [float(transmon.frequency)]) for a in (0.0, amp)]
    ds = device.run(schedules, 4000, 9, qubits=(q,), acquisition=Integrated((pulse,)))
    assert ds["iq"].dims == ("schedule", "shot", "qubit", "quadrature") and ds["iq"].shape == (2, 4000, 1, 2)
    points = ds["iq"].values[:, :, 0, 0] + 1j * ds["iq"].values[:, :, 0, 1]
    c0, c1 = blob_centres(truth.resonators[q], pulse, np.arange(2))
    along = ((points - c0) / (c1 - c0)).real
    assert np.median(along[0]) == pytest.approx(0.0, abs=0.05)  # idle: |0>'s blob
    assert np.median(along[1]) == pytest.approx(1.0, abs=0.05)  # pi pulse: |1>'s blob
    assert device.now() == pytest.approx(ds.attrs["run_s"])
    with pytest.raises(DeviceModelError, match=r"Integrated.pulses holds 1 readout pulse\(s\), but the run reads qubits \(2, 3\)"):
        device.run([Schedule([Play(0, Gaussian(20.0, amp=0.1, sigma=5.0))], [4.6, 5.07])], 10, qubits=(2, 3),
                   acquisition=Integrated((pulse,)))
    without = dataclasses.replace(spec, qubits=tuple(dataclasses.replace(x, readout=None) for x in spec.qubits))
    with pytest.raises(DeviceModelError, match="has no IQ-level readout model"):
        SimulatedDevice(without, seed=8).run(schedules, 10, qubits=(q,), acquisition=Integrated((pulse,)))


def test_a_resonator_jump_moves_its_lines_and_survives_save_and_restore():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=9)
    before = float(device.truth().resonators[2].frequency)
    device.jump_resonator(2, ghz=0.002)
    assert float(device.truth().resonators[2].frequency) == pytest.approx(before + 0.002)
    assert float(device.truth().resonators[1].frequency) == float(SimulatedDevice(spec, seed=9).truth().resonators[1].frequency)
    again = SimulatedDevice(spec, seed=9)
    again.restore(device.state())
    assert float(again.truth().resonators[2].frequency) == pytest.approx(before + 0.002)
    old_state = {k: v for k, v in device.state().items() if k != "injected_resonator_ghz"}  # saved before jumps existed
    again.restore(old_state)
    assert float(again.truth().resonators[2].frequency) == pytest.approx(before)
    with pytest.raises(DeviceModelError, match="injected_resonator_ghz"):
        again.restore({**device.state(), "injected_resonator_ghz": [0.0]})


def test_discriminated_runs_read_each_shots_iq_point_through_a_calibrated_discriminator():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=15)
    truth = device.truth()
    readout = spec.qubits[1].readout
    pulses = {q: ReadoutPulse(spec.qubits[q].readout.pulse_frequency, readout.pulse_amplitude,
                              readout.pulse_duration) for q in (1, 2)}
    schedules = []
    for a1, a2 in ((0, 0), (1, 0), (0, 1), (1, 1)):  # pi pulses on neither, either and both qubits
        plays = [Play(c, Gaussian(20.0, amp=a * pi_amplitude(float(truth.transmons[q].drive_scale),
                                                              Gaussian(20.0, amp=1.0, sigma=5.0), spec.dt),
                                  sigma=5.0)) for c, (q, a) in enumerate(((1, a1), (2, a2)))]
        schedules.append(Schedule(plays, [float(truth.transmons[1].frequency), float(truth.transmons[2].frequency)]))
    # the boundary halfway between each qubit's |0> and |1> blobs, across the line joining them
    boundaries = {}
    for q in (1, 2):
        c0, c1 = blob_centres(truth.resonators[q], pulses[q], np.arange(2))
        angle = float(np.angle(c1 - c0))
        boundaries[q] = LinearDiscriminator(angle, float(((c0 + c1) / 2 * np.exp(-1j * angle)).real))
    calibrated = Discriminated(tuple(Readout(pulses[q], boundaries[q]) for q in (1, 2)))
    state = device.state()
    iq = device.run(schedules, 3000, 21, qubits=(1, 2), acquisition=Integrated((pulses[1], pulses[2])))["iq"].values
    device.restore(state)  # the same clock and drift: the same shots
    ds = device.run(schedules, 3000, 21, qubits=(1, 2), acquisition=calibrated)
    # exactly the discriminator applied to the IQ points the same shots give
    bits = np.stack([boundaries[q].reads_one(iq[:, :, k]) for k, q in enumerate((1, 2))], axis=-1)
    np.testing.assert_array_equal(ds["counts"].values, bits.sum(axis=1))
    outcomes = bits[..., 0] * 2 + bits[..., 1]
    np.testing.assert_array_equal(ds["joint_counts"].values, [np.bincount(o, minlength=4) for o in outcomes])
    assert list(ds["outcome"].values) == ["00", "01", "10", "11"]
    # the prepared states read as prepared, to the readout's few-percent errors
    assert np.all(np.diag(ds["joint_counts"].values[:, [0, 2, 1, 3]]) > 0.85 * 3000)
    # a qubit given None reads through the device's own assignment errors
    device.restore(state)
    mixed = device.run(schedules[:1] * 2, 40_000, 22, qubits=(1, 2),
                       acquisition=Discriminated((Readout(pulses[1], boundaries[1]), None)))
    own_p01 = float(device.truth().transmons[2].readout_p01)
    assert mixed["counts"].values[:, 1] / 40_000 == pytest.approx([own_p01] * 2, abs=5 * np.sqrt(own_p01 / 40_000))
    with pytest.raises(DeviceModelError, match=r"Discriminated.readouts holds 1 entries, but the run reads qubits \(1, 2\)"):
        device.run(schedules, 10, qubits=(1, 2), acquisition=Discriminated((None,)))
    with pytest.raises(ValueError, match="Discriminated.readouts is"):
        Discriminated(("not a readout",))
    with pytest.raises(DeviceModelError, match="LinearDiscriminator.angle is nan"):
        LinearDiscriminator(float("nan"), 0.0)
    # run_within_limits hands the calibrated readout on (the default it leaves out for old adapters)
    assert acquiring(calibrated) == {"acquisition": calibrated} and acquiring(Discriminated()) == {}
    assert acquiring(Discriminated((None, None))) == {}
