"""Integrated acquisition on the qibolab adapter: each shot's IQ point, on qibolab's emulator.

What the emulator does with a readout (devices/adapters/qibolab/integration.py): nothing
physical. I is each shot's sampled level (0/1), Q is 0, no noise, and the probe's frequency,
amplitude and duration change nothing; so only the platform's own readout pulse plays there and
every other is refused by field. The path a real platform takes (each pulse played as probe and
acquisition, its frequency in the updates) is checked by recording what reaches
`platform.execute`, the emulator standing in for the instruments.
"""

import tomllib
from pathlib import Path

import numpy as np
import pytest
from qibolab import Readout, Rectangular
from support.qibolab_truth import EMULATED_TRANSMON, emulator_truth

from devices._validate import DeviceModelError
from devices.adapters.qibolab import QibolabDevice, integration, open_device
from devices.nominal import pi_amplitude
from devices.protocol import Integrated
from devices.pulses import Drag, Gaussian
from devices.readout import ReadoutPulse
from devices.schedule import Delay, Play, Schedule
from devices.sequences import GateSequence

DEVICE_FILE = EMULATED_TRANSMON.parent / "emulated-transmon.toml"
TWO_TRANSMONS = Path(__file__).parent / "qibolab_platforms" / "two-transmons"
NATIVE = ReadoutPulse(frequency=7.2, amplitude=0.1, duration=100.0)  # emulated-transmon's probe and MZ


def _open() -> QibolabDevice:
    return open_device(tomllib.loads(DEVICE_FILE.read_text()), source=DEVICE_FILE)


@pytest.fixture(scope="module")
def device() -> QibolabDevice:
    return _open()


@pytest.fixture(scope="module")
def ground_and_excited():
    truth = emulator_truth()
    amp = pi_amplitude(truth.drive_scale, Drag(40.0, amp=1.0, sigma=10.0), 1.0)
    return [Schedule([Delay(None, 40.0)], [truth.frequency]),
            Schedule([Play(0, Drag(40.0, amp=amp, sigma=10.0))], [truth.frequency])]


def test_native_readout_is_what_the_platform_files_say(device):
    (native,) = integration.native_readouts(device.platform, [0])
    assert native.pulse == NATIVE
    assert (native.acquisition_channel, native.probe_channel) == ("0/acquisition", "0/probe")
    assert integration.is_emulator(device.platform)


def test_integrated_iq_dims_and_ground_and_excited_apart(device, ground_and_excited):
    shots = 200
    before = device.executes
    ds = device.run(ground_and_excited, shots, seed=31, acquisition=Integrated((NATIVE,)))
    assert ds["iq"].dims == ("schedule", "shot", "qubit", "quadrature")
    assert ds["iq"].shape == (2, shots, 1, 2) and ds["iq"].dtype == np.float64
    assert list(ds["quadrature"].values) == ["I", "Q"] and list(ds["qubit"].values) == [0]
    assert list(ds["schedule"].values) == [0, 1] and "counts" not in ds
    assert ds.attrs["executes"] == 1 and device.executes == before + 1
    assert ds.attrs["iq_model"] == integration.EMULATOR_IQ_MODEL
    mean_i = ds["iq"].sel(quadrature="I").mean("shot").values[:, 0]
    assert mean_i[0] < 0.05 and mean_i[1] > 0.9, mean_i  # |0> and |1> apart along I
    # what the emulator's IQ is: the shot's level on I, nothing on Q, no noise
    assert np.all(ds["iq"].sel(quadrature="Q").values == 0.0)
    assert set(np.unique(ds["iq"].sel(quadrature="I").values)) <= {0.0, 1.0}
    # ... the very draws of its discrimination (same seed, same shots)
    counts = device.run(ground_and_excited, shots, seed=31)["counts"].values[:, 0]
    np.testing.assert_array_equal(ds["iq"].sel(quadrature="I").sum("shot").values[:, 0], counts)
    # per-schedule pulses equal to the platform's own play in the same execute, as the same shots
    swept = device.run(ground_and_excited, shots, seed=31, acquisition=Integrated.swept([(NATIVE,), (NATIVE,)]))
    assert swept.attrs["executes"] == 1
    np.testing.assert_array_equal(swept["iq"].values, ds["iq"].values)


@pytest.mark.parametrize("field, value, shown, allowed", [
    ("frequency", 7.1, "7.1 GHz", "7.2 GHz"),
    ("amplitude", 0.3, "0.3 of full scale", "0.1 of full scale"),
    ("duration", 200.0, "200 ns", "100 ns"),
])
def test_the_emulator_refuses_readout_pulses_it_does_not_model(device, ground_and_excited, field, value, shown,
                                                               allowed):
    other = ReadoutPulse(**{"frequency": 7.2, "amplitude": 0.1, "duration": 100.0, field: value})
    before = device.executes
    with pytest.raises(DeviceModelError, match=rf"Integrated\.pulses\[0\]\.{field} is {shown}, but .* qibolab's "
                                                rf"emulator, which models no readout.*Allowed: {allowed}"):
        device.run(ground_and_excited, 10, acquisition=Integrated((other,)))
    with pytest.raises(DeviceModelError, match=rf"Integrated\.per_schedule\[1\]\[0\]\.{field} is {shown}"):
        device.run(ground_and_excited, 10, acquisition=Integrated.swept([(NATIVE,), (other,)]))
    assert device.executes == before  # refused before anything played


def test_integrated_pulses_must_match_the_run(device, ground_and_excited):
    with pytest.raises(DeviceModelError, match=r"Integrated\.pulses holds 2 readout pulse\(s\), but the run reads "
                                               r"qubits \(0,\)"):
        device.run(ground_and_excited, 10, acquisition=Integrated((NATIVE, NATIVE)))
    with pytest.raises(DeviceModelError, match="Integrated.per_schedule holds 3 schedules' pulses, but the run plays 2"):
        device.run(ground_and_excited, 10, acquisition=Integrated.swept([(NATIVE,)] * 3))


def test_integrated_reads_two_transmons_in_the_run_order():
    two = open_device({"adapter": "qibolab", "name": "two-transmons", "qibolab": {"platform": str(TWO_TRANSMONS)}},
                      source=None)
    own = {0: ReadoutPulse(7.2, 0.1, 100.0), 1: ReadoutPulse(7.3, 0.1, 100.0)}  # the platform's probes and MZ
    pi = Gaussian(40.0, amp=pi_amplitude(0.045, Gaussian(40.0, amp=1.0, sigma=10.0), 1.0), sigma=10.0)
    # run on qubits (1, 0): channel 0 and pulses[0] are qubit 1's
    ds = two.run([Schedule([Play(0, pi)], [5.3, 5.0])], 200, seed=41, qubits=(1, 0),
                 acquisition=Integrated((own[1], own[0])))
    assert list(ds["qubit"].values) == [1, 0] and ds["iq"].shape == (1, 200, 2, 2)
    mean_i = ds["iq"].sel(quadrature="I", schedule=0).mean("shot")
    assert mean_i.sel(qubit=1).item() > 0.9 and mean_i.sel(qubit=0).item() < 0.1
    with pytest.raises(DeviceModelError, match=r"Integrated\.pulses\[0\]\.frequency is 7\.2 GHz.*Allowed: 7\.3 GHz"):
        two.run([Schedule([Play(0, pi)], [5.3, 5.0])], 10, qubits=(1, 0), acquisition=Integrated((own[0], own[1])))


def test_readout_pulses_reach_a_platform_as_probe_acquisition_and_frequency(monkeypatch, ground_and_excited):
    # a platform that models its readout (real instruments) gets every pulse as played; the
    # emulator executes the sequences, which only shows they are valid qibolab programs
    device = _open()
    monkeypatch.setattr(integration, "is_emulator", lambda platform: False)
    calls = []
    execute = device.platform.execute

    def recording(sequences, **options):
        calls.append((sequences, options))
        return execute(sequences, **options)

    monkeypatch.setattr(device.platform, "execute", recording)
    idle, x = ground_and_excited
    readout_alone = GateSequence((x,), [])
    pulses = [ReadoutPulse(7.1, 0.1, 100.0), ReadoutPulse(7.25, 0.2, 80.0), ReadoutPulse(7.1, 0.3, 120.0)]
    ds = device.run([idle, x, readout_alone], 10, seed=51, acquisition=Integrated.swept([(p,) for p in pulses]))
    assert ds["iq"].shape == (3, 10, 1, 2) and ds.attrs["iq_model"] == integration.PLATFORM_IQ_MODEL
    assert ds.attrs["executes"] == len(calls) == 2  # one execute per probe frequency
    probe_hz = [options["updates"][0]["0/probe"]["frequency"] for _, options in calls]
    assert probe_hz == pytest.approx([7.1e9, 7.25e9])
    assert all(options["updates"][0]["0/drive"]["frequency"] == pytest.approx(emulator_truth().frequency * 1e9)
               for _, options in calls)
    played = {}
    for sequences, _ in calls:
        for sequence in sequences:
            (readout,) = [(ch, ev) for ch, ev in sequence if isinstance(ev, Readout)]
            played[readout[1].id] = readout
    by_sequence = [calls[0][0][0], calls[1][0][0], calls[0][0][1]]  # schedules 0 and 2 share 7.1 GHz
    assert len(played) == 3  # a fresh acquisition id per sequence
    for sequence, pulse in zip(by_sequence, pulses):
        (channel, event), = [(ch, ev) for ch, ev in sequence if isinstance(ev, Readout)]
        assert channel == "0/acquisition"
        assert event.probe.amplitude == pulse.amplitude and isinstance(event.probe.envelope, Rectangular)
        assert event.probe.duration == event.acquisition.duration == pulse.duration
    with pytest.raises(DeviceModelError, match=r"Integrated\.pulses\[0\]\.duration is 100\.5 ns, but must be a "
                                               "whole number of AWG samples"):
        device.run([idle], 10, acquisition=Integrated((ReadoutPulse(7.1, 0.1, 100.5),)))
