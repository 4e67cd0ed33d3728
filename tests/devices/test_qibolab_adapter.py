"""The qibolab adapter: unit conventions against qibolab's own sampling, and physics on qibolab's
emulator (its Hamiltonian and solver, not ours) through the Device protocol.

The emulator's truth (tests/support/qibolab_truth.py) is read here only, to set up pulses whose
outcome is known; the adapter builds its nominal spec from the platform's gates alone. Emulator
runs are few and small: the emulator integrates the lab-frame master equation (~2 s per us).
"""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from qibolab import Align, Custom, Delay, Gaussian as QibolabGaussian, Pulse, Readout, Rectangular, VirtualZ
from scipy.signal.windows import gaussian
from support.qibolab_truth import EMULATED_TRANSMON, emulator_truth

from devices.device_spec import DeviceSpecError
from devices.nominal import pi_amplitude
from devices.protocol import Device
from devices.pulses import Constant, Drag, Gaussian, GaussianSquare, Samples
from devices.adapters.qibolab import QibolabDevice, open_device, units
from devices.adapters.qibolab.translate import Channels, qibolab_pulse, to_pulse_sequence
from devices.schedule import Barrier, Delay as ToolkitDelay, Hold, Play, Schedule, ShiftPhase
from devices.sequences import GateSequence

DEVICE_FILE = EMULATED_TRANSMON.parent / "emulated-transmon.toml"


def _open(**changes) -> QibolabDevice:
    config = tomllib.loads(DEVICE_FILE.read_text())
    for key, value in changes.items():
        config[key] = value
    return open_device(config, source=DEVICE_FILE)


@pytest.fixture(scope="module")
def device() -> QibolabDevice:
    return _open()


@pytest.fixture(scope="module")
def truth():
    return emulator_truth()


def _probabilities(ds, shots):
    return ds["counts"].values[:, 0] / shots


def _within_shot_noise(measured, expected, shots, model=0.02):
    """|p - p_expected| within 4 binomial sigma plus `model` (what the toolkit's analytic
    formula leaves out: T1 and T2 during the pulses, leakage, the emulator's lab frame)."""
    expected = np.asarray(expected)
    sigma = np.sqrt(np.clip(expected * (1 - expected), 0.01, None) / shots)
    assert np.all(np.abs(measured - expected) <= 4 * sigma + model), (measured, expected)


# --- units: each conversion against qibolab's own waveform sampling ---------------------------

PULSES = [
    Gaussian(40.0, amp=0.3, sigma=10.0, angle=0.7),
    Drag(40.0, amp=-0.45, sigma=9.0, beta=1.3, angle=-2.1),
    GaussianSquare(60.0, amp=0.2, sigma=5.0, width=30.0, angle=0.4),
    Constant(25.0, amp=0.35, angle=1.1),
    Samples(np.exp(1j * np.linspace(0, 3, 17)) * np.linspace(0.1, 0.9, 17)),
]


CASES = [(p, rate) for p in PULSES for rate in ((1.0,) if isinstance(p, Samples) else (1.0, 2.0, 3.0))]


@pytest.mark.parametrize("pulse, sampling_rate", CASES, ids=lambda x: type(x).__name__ if not isinstance(x, float) else f"{x:g}GSps")
def test_qibolab_samples_a_translated_pulse_as_the_toolkit_does(pulse, sampling_rate):
    dt = 1.0 / sampling_rate
    played = qibolab_pulse(pulse, dt, sampling_rate)
    # qibolab's envelopes at its sampling rate, in the toolkit's frame (units.samples_of)
    got = units.samples_of(played.i(sampling_rate), played.q(sampling_rate), played.relative_phase)
    np.testing.assert_allclose(got, np.asarray(pulse.samples(dt)), rtol=0, atol=1e-12)
    assert isinstance(played.envelope, Rectangular if isinstance(pulse, Constant) else Custom)


def test_qibolab_gaussian_is_not_the_toolkit_gaussian():
    # why Gaussian and Drag play as Custom samples: qibolab's are not lifted to zero at the edges
    ours = np.asarray(Gaussian(40.0, amp=1.0, sigma=10.0).samples(1.0)).real
    theirs = QibolabGaussian(rel_sigma=0.25).i(40)
    np.testing.assert_allclose(theirs, gaussian(40, 10.0))
    assert np.max(np.abs(ours - theirs)) > 0.1


def test_unit_conversions():
    assert units.hz(5.0123) == pytest.approx(5.0123e9) and units.ghz(5.0123e9) == pytest.approx(5.0123)
    assert units.dt_of(2.0) == 0.5
    assert units.virtual_z_phase(0.3) == 0.3
    i, q = units.iq_of(np.array([0.5 + 0.2j]))
    assert (i[0], q[0]) == (0.5, -0.2)
    assert int(units.pulse_duration(40, 3.0) * 3.0) == 40
    # a pi pulse of 40 samples of unit height at amplitude 0.5 and dt 1 ns: 2 pi s 0.5 40 = pi
    assert units.drive_scale_from_pi_pulse(0.5, np.ones(40), 1.0) == pytest.approx(1 / 40)
    with pytest.raises(ValueError, match="sampling_rate"):
        units.dt_of(0.0)


def test_translation_of_delays_phases_barriers_and_readout(device):
    mz = device.platform.natives.single_qubit[0].MZ
    channels = Channels(drive=("0/drive", "1/drive"), readout=(mz,))
    pulse = Constant(10.0, amp=0.1)
    schedule = Schedule([Play(0, pulse), ShiftPhase(1, 0.4), ToolkitDelay(1, 3.0), Barrier(),
                         Play(1, pulse), ToolkitDelay(None, 20.0)], [5.0, 5.1])
    sequence = to_pulse_sequence(schedule, channels, dt=1.0, sampling_rate=1.0)
    kinds = [(ch, type(ev).__name__) for ch, ev in sequence]
    assert ("1/drive", "VirtualZ") in kinds
    assert [ev.phase for _, ev in sequence if isinstance(ev, VirtualZ)] == [0.4]  # same sign
    assert [ev.duration for ch, ev in sequence if isinstance(ev, Delay)] == [3.0, 20.0, 20.0]
    assert sum(isinstance(ev, Align) for _, ev in sequence) >= 4  # the barrier, the idle, the readout
    aligned = sequence.align_to_delays()
    assert aligned.channel_duration("0/drive") == aligned.channel_duration("1/drive") == 40.0
    readouts = [(ch, ev) for ch, ev in aligned if isinstance(ev, Readout)]
    assert len(readouts) == 1 and readouts[0][0] == "0/acquisition"
    assert aligned.channel_duration("0/acquisition") == 40.0 + readouts[0][1].duration  # after the last pulse


def test_a_hold_translates_as_constant_pulses_after_an_align(device):
    mz = device.platform.natives.single_qubit[0].MZ
    channels = Channels(drive=("0/drive", "1/drive"), readout=(mz,))
    amp = 0.3 * np.exp(0.7j)
    held = Schedule([Play(0, Constant(4.0, amp=0.1)), Hold((1,), [amp], 12.0)], [5.0, 5.1])
    played = Schedule([Play(0, Constant(4.0, amp=0.1)), Barrier(), Play(1, Constant(12.0, 0.3, 0.7)),
                       ToolkitDelay(0, 12.0)], [5.0, 5.1])
    events = [to_pulse_sequence(s, channels, dt=1.0, sampling_rate=1.0).align_to_delays() for s in (held, played)]
    for ch in ("0/drive", "1/drive"):
        assert events[0].channel_duration(ch) == events[1].channel_duration(ch) == 16.0
    pulses = [[ev for c, ev in seq if c == "1/drive" and isinstance(ev, Pulse)] for seq in events]
    assert len(pulses[0]) == 1
    np.testing.assert_allclose(pulses[0][0].i(1.0), pulses[1][0].i(1.0))
    np.testing.assert_allclose(pulses[0][0].q(1.0), pulses[1][0].q(1.0))


# --- the nominal design and the device file --------------------------------------------------

def test_nominal_spec_comes_from_the_platform_gates_not_its_hamiltonian(device, truth):
    assert isinstance(device, Device)
    spec = device.spec
    q = spec.qubits[0]
    parameters = json.loads((EMULATED_TRANSMON / "parameters.json").read_text())
    rx = parameters["native_gates"]["single_qubit"]["0"]["RX"][0][1]
    assert spec.dt == device.dt == 1.0 and spec.x_duration == 40.0 and spec.x_sigma == 10.0
    assert q.frequency == pytest.approx(parameters["configs"]["0/drive"]["frequency"] * 1e-9)
    assert q.anharmonicity == pytest.approx(-0.21)  # the 1-2 drive's frequency minus the drive's
    assert q.drive_scale == pytest.approx(1 / (2 * rx["amplitude"] * gaussian(40, 10.0).sum()))
    assert (q.t1, q.t2) == (14_000.0, 10_000.0)  # calibration.json
    assert spec.fabrication.frequency == pytest.approx(3e-3) and spec.drift.frequency_walk == pytest.approx(3e-5)  # the file's prior
    # the design is the lab's, off the emulated chip: 2 MHz and 5 %
    assert q.frequency - truth.frequency == pytest.approx(-2e-3)
    assert q.drive_scale / truth.drive_scale == pytest.approx(1 / 1.05, rel=1e-4)
    assert device.limits.max_schedule_ns == 50_000.0 and device.limits.native_shapes == {"Constant"}


@pytest.mark.parametrize("changes, message", [
    ({"qibolab": {"platform": "emulated-transmon", "shots": 3}}, "unknown key"),
    ({"qibolab": {"platform": "no-such-platform"}}, "qibolab.platform is 'no-such-platform'"),
    ({"qibolab": {"platform": "emulated-transmon", "max_shots": 0}}, "max_shots is 0"),
    ({"qibolab": {"platform": "emulated-transmon", "qubits": [7]}}, "qibolab.qubits is \\[7\\]"),
    ({"nominal": {"t1_us": -1.0}}, "nominal.t1_us is -1.0"),
])
def test_device_file_errors_name_the_key(changes, message, monkeypatch):
    monkeypatch.setenv("QIBOLAB_PLATFORMS", str(EMULATED_TRANSMON.parent))
    with pytest.raises(DeviceSpecError, match=message):
        _open(**changes)


def test_nominal_table_overrides_what_the_platform_does_not_state():
    spec = _open(nominal={"t1_us": 30.0, "anharmonicity_mhz": -250.0}).spec
    assert spec.qubits[0].t1 == 30_000.0 and spec.qubits[0].anharmonicity == pytest.approx(-0.25)


# --- physics on the emulator, through the adapter ---------------------------------------------

def _x90(truth, angle=0.0):
    amp = pi_amplitude(truth.drive_scale, Drag(40.0, amp=1.0, sigma=10.0), 1.0) / 2
    return Play(0, Drag(40.0, amp=amp, sigma=10.0, angle=angle))


def test_rabi_amplitude_sweep_in_one_execute(device, truth):
    shots = 400
    amp_pi = pi_amplitude(truth.drive_scale, Gaussian(40.0, amp=1.0, sigma=10.0), 1.0)
    fractions = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    sweep = [Schedule([Play(0, Gaussian(40.0, amp=f * amp_pi, sigma=10.0))], [truth.frequency])
             for f in fractions]
    ds = device.run(sweep, shots, seed=11)
    assert ds.attrs["executes"] == 1  # one carrier: the whole sweep in one platform.execute
    _within_shot_noise(_probabilities(ds, shots), np.sin(0.5 * np.pi * fractions) ** 2, shots)
    np.testing.assert_array_equal(ds["joint_counts"].values[:, 1], ds["counts"].values[:, 0])
    assert list(ds["outcome"].values) == ["0", "1"]


def test_virtual_z_sign_and_gate_sequences(device, truth):
    # X90, ShiftPhase(theta), X90 at angle pi/2: P1 = (1 - sin theta) / 2 in the toolkit's
    # convention (ShiftPhase(theta) = Rz(theta) before the later pulses); its sign is what a
    # wrong VirtualZ or quadrature sign would flip.
    shots = 400
    thetas = np.array([0.0, np.pi / 2, -np.pi / 2])
    phased = [Schedule([_x90(truth), ShiftPhase(0, th), _x90(truth, np.pi / 2)], [truth.frequency])
              for th in thetas]
    f = truth.frequency
    table = (Schedule([_x90(truth)], [f]), Schedule([ShiftPhase(0, np.pi / 2)], [f]))  # X90, a Z gate
    sequences = [GateSequence(table, [0, 0]),  # X
                 GateSequence(table, [0, 0, 0, 0]),  # X X
                 GateSequence(table, []),  # nothing: the readout alone
                 GateSequence(table, [1, 1, 1]),  # Z only (an RB Z-Clifford): an idle of length 0
                 GateSequence(table, [0, 0], [0.0, np.pi])]  # X90, ShiftPhase(pi), X90: identity
    ds = device.run(phased + sequences, shots, seed=12)
    expected = np.concatenate([(1 - np.sin(thetas)) / 2, [1.0, 0.0, 0.0, 0.0, 0.0]])
    _within_shot_noise(_probabilities(ds, shots), expected, shots, model=0.03)


@pytest.mark.slow
def test_ramsey_oscillates_at_the_carrier_detuning_with_its_sign(device, truth):
    # carrier below the qubit by 5 MHz: delta = f01 - f_carrier > 0, and in the toolkit's frame
    # P1(X90 tau X90) = (1 + cos(2 pi delta tau + phi0)) / 2, P1(X90 tau Y90) = (1 + sin(...)) / 2
    shots, delta = 300, 5e-3
    taus = np.arange(0.0, 321.0, 40.0)
    schedules = [Schedule([_x90(truth), ToolkitDelay(None, float(t)), _x90(truth, angle)], [truth.frequency - delta])
                 for angle in (0.0, np.pi / 2) for t in taus]
    ds = device.run(schedules, shots, seed=13)
    p = _probabilities(ds, shots).reshape(2, -1)
    signal = (2 * p[0] - 1) + 1j * (2 * p[1] - 1)  # ~ A exp(i (2 pi nu tau + phi0))
    grid = np.linspace(-10e-3, 10e-3, 4001)
    power = np.abs(np.exp(-2j * np.pi * grid[:, None] * taus[None, :]) @ signal)
    nu = grid[np.argmax(power)]
    assert nu == pytest.approx(delta, abs=0.3e-3), nu  # frequency and sign
    assert np.abs(signal).mean() > 0.8


def test_frequency_groups_and_seeds(device, truth):
    x = [Schedule([_x90(truth), _x90(truth)], [truth.frequency + d]) for d in (0.0, 0.0, 0.05)]
    first = device.run(x, 200, seed=5)
    assert first.attrs["executes"] == 2  # two carriers: two executes
    again = device.run(x, 200, seed=5)
    np.testing.assert_array_equal(first["counts"].values, again["counts"].values)
    p = _probabilities(first, 200)
    assert p[0] > 0.9 and p[1] > 0.9 and p[2] < 0.1  # 50 MHz off resonance does nothing


def test_run_refuses_what_it_cannot_play(device, truth):
    from devices._validate import DeviceModelError

    x = Schedule([_x90(truth)], [truth.frequency])
    with pytest.raises(DeviceModelError, match="shots"):
        device.run([x], 0)
    with pytest.raises(DeviceModelError, match="Qubit 3"):
        device.run([x], 10, qubits=(3,))
    with pytest.raises(DeviceModelError, match="plays at most 50 us"):
        device.run([Schedule([ToolkitDelay(None, 60_000.0)], [truth.frequency])], 10)


# --- joint readout of two emulated transmons ---------------------------------------------------

TWO_TRANSMONS = Path(__file__).parent / "qibolab_platforms" / "two-transmons"


def test_joint_counts_of_two_transmons_put_the_first_qubit_leftmost():
    two = open_device({"adapter": "qibolab", "name": "two-transmons", "qibolab": {"platform": str(TWO_TRANSMONS)}},
                      source=None)
    assert two.qubits == (0, 1) and two.limits.max_qubits == 2
    shots, frequencies = 300, [5.0, 5.3]  # the emulated transmons' own (tests/devices/qibolab_platforms)
    pi = Gaussian(40.0, amp=pi_amplitude(0.045, Gaussian(40.0, amp=1.0, sigma=10.0), 1.0), sigma=10.0)
    schedules = [
        Schedule([ToolkitDelay(None, 40.0)], frequencies),  # "00"
        Schedule([Play(0, pi)], frequencies),  # "10"
        Schedule([ToolkitDelay(0, 20.0), Play(1, pi)], frequencies),  # "01"
        Schedule([Play(0, pi), Barrier(), Play(1, pi)], frequencies),  # "11"
    ]
    ds = two.run(schedules, shots, seed=21, qubits=(0, 1))
    assert list(ds["outcome"].values) == ["00", "01", "10", "11"]
    joint = ds["joint_counts"].values
    assert [ds["outcome"].values[k] for k in joint.argmax(axis=1)] == ["00", "10", "01", "11"]
    assert np.all(joint.max(axis=1) > 0.9 * shots) and np.all(joint.sum(axis=1) == shots)
    # per-qubit counts are the joint counts' marginals
    np.testing.assert_array_equal(ds["counts"].values[:, 0], joint[:, 2] + joint[:, 3])
    np.testing.assert_array_equal(ds["counts"].values[:, 1], joint[:, 1] + joint[:, 3])
    # channel c drives qubits[c]: read in the other order, channel 0 plays on qubit 1
    flipped = two.run([Schedule([Play(0, pi)], frequencies[::-1])], shots, seed=22, qubits=(1, 0))
    assert flipped["counts"].sel(qubit=1).item() > 0.9 * shots and flipped["counts"].sel(qubit=0).item() < 0.1 * shots


def test_opening_a_platform_keeps_ctrl_c_a_keyboard_interrupt():
    # qibolab's Platform installs a SIGINT/SIGTERM handler raising RuntimeError, which would turn
    # Ctrl-C into a crashed run; the adapter keeps the process's own handlers. (Python's own
    # handler is set for the test: a pytest-xdist worker may run with SIGINT ignored.)
    import signal

    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        _open()
        assert {sig: signal.getsignal(sig) for sig in before} == before
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, outer)
