"""run_within_limits: a request larger than a device takes is split, and adds up to one call."""

from dataclasses import replace

import numpy as np
import pytest

from devices.catalog import load_spec
from devices.limits import LimitError, run_within_limits
from devices.protocol import Device, Integrated
from devices.readout import ReadoutPulse, blob_centres
from devices.pulses import Gaussian
from devices.schedule import Play, Schedule
from devices.simulated import SimulatedDevice


class Small:
    """A SimulatedDevice behind tight limits, recording every call it gets."""

    def __init__(self, max_schedules: int, max_shots: int):
        self.inner = SimulatedDevice(load_spec("sim-1q"), seed=7)
        self.name, self.spec = self.inner.name, self.inner.spec
        self.calls: list[tuple[int, int]] = []
        self.acquisitions: list = []  # what each call was asked to acquire (None: the default)
        self._limits = replace(self.inner.limits, max_schedules=max_schedules, max_shots=max_shots, max_qubits=1)

    qubits = property(lambda self: self.inner.qubits)
    dt = property(lambda self: self.inner.dt)
    limits = property(lambda self: self._limits)

    def now(self):
        return self.inner.now()

    def run(self, schedules, shots, seed=None, *, qubits=(0,), **acquisition):
        assert len(schedules) <= self._limits.max_schedules and shots <= self._limits.max_shots
        self.calls.append((len(schedules), shots))
        self.acquisitions.append(acquisition.get("acquisition"))
        return self.inner.run(schedules, shots, seed, qubits=qubits, **acquisition)


def rabi(spec, amps):
    f = spec.qubits[0].frequency
    return [Schedule([Play(0, Gaussian(duration=spec.x_duration, amp=a, sigma=spec.x_sigma))], [f]) for a in amps]


def test_a_split_request_returns_every_schedule_with_all_its_shots():
    device = Small(max_schedules=3, max_shots=400)
    assert isinstance(device, Device)
    amps = np.linspace(0.0, 0.1, 7)
    ds = run_within_limits(device, rabi(device.spec, amps), 1000, seed=11)
    assert device.calls == [(3, 400), (3, 400), (3, 200)] * 2 + [(1, 400), (1, 400), (1, 200)]
    assert ds.sizes["schedule"] == 7 and list(ds.schedule.values) == list(range(7))
    assert ds.attrs["shots"] == 1000 and ds.attrs["calls"] == 9
    assert (ds["joint_counts"].sum("outcome") == 1000).all()
    np.testing.assert_array_equal(ds["counts"].values[:, 0], ds["joint_counts"].sel(outcome="1").values)
    # the same sweep in one call of the unlimited device: the populations agree within shot noise
    whole = SimulatedDevice(load_spec("sim-1q"), seed=7).run(rabi(device.spec, amps), 1000, seed=12)
    p_split, p_whole = ds["counts"].values[:, 0] / 1000, whole["counts"].values[:, 0] / 1000
    sigma = np.sqrt(p_whole * (1 - p_whole) / 1000 * 2) + 1e-3
    assert np.all(np.abs(p_split - p_whole) < 5 * sigma), (p_split, p_whole)


def test_a_request_within_the_limits_is_one_call_with_the_callers_seed():
    device = Small(max_schedules=10, max_shots=10_000)
    schedules = rabi(device.spec, [0.02, 0.05])
    ds = run_within_limits(device, schedules, 500, seed=3)
    assert device.calls == [(2, 500)]
    again = SimulatedDevice(load_spec("sim-1q"), seed=7).run(schedules, 500, seed=3)
    np.testing.assert_array_equal(ds["counts"].values, again["counts"].values)


def test_what_no_split_can_fit_is_refused_by_name():
    device = Small(max_schedules=2, max_shots=100)
    with pytest.raises(LimitError, match="reads at most 1 qubit"):
        run_within_limits(device, rabi(device.spec, [0.1]), 10, qubits=(0, 1))
    with pytest.raises(LimitError, match="`schedules` is empty"):
        run_within_limits(device, [], 10)


def test_a_split_iq_request_reads_each_schedule_with_its_own_pulse_and_joins_the_passes():
    device = Small(max_schedules=2, max_shots=300)
    readout = device.spec.qubits[0].readout
    frequencies = readout.resonator_frequency + np.array([-0.004, -0.001, 0.0, 0.002, 0.005])
    pulses = [(ReadoutPulse(f, 0.3, 1000.0),) for f in frequencies]
    ds = run_within_limits(device, rabi(device.spec, [0.0] * 5), 500, seed=3, acquisition=Integrated.swept(pulses))
    assert ds["iq"].shape == (5, 500, 1, 2)
    asked = [a.per_schedule for a in device.acquisitions]
    assert asked == [tuple(pulses[0:2])] * 2 + [tuple(pulses[2:4])] * 2 + [tuple(pulses[4:5])] * 2
    # each schedule's shots sit around the response at its own readout frequency
    resonator = device.inner.truth().resonators[0]
    means = ds["iq"].values[:, :, 0, 0].mean(axis=1) + 1j * ds["iq"].values[:, :, 0, 1].mean(axis=1)
    expected = np.array([blob_centres(resonator, p[0], np.array(0)) for p in pulses])
    assert np.all(np.abs(means - expected) < 0.1 * np.abs(expected).max())
    # a discriminated request leaves the keyword out: a device written before it existed takes it
    run_within_limits(device, rabi(device.spec, [0.0]), 10)
    assert device.acquisitions[-1] is None
