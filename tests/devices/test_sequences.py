"""Gate sequences: composing cached gate propagators equals simulating the flat schedule."""

import numpy as np
import pytest

from devices import Chip, DeviceModelError, Drag, Open, Play, Schedule, populations
from devices.catalog import load_spec
from devices.dressing import dressed_transmon
from devices.sequences import GateSequence
from devices.simulated import SimulatedDevice


@pytest.fixture(scope="module")
def device():
    return SimulatedDevice(load_spec("sim-1q"), seed=2)


def _gates(frequency: float):
    x = Schedule([Play(0, Drag(20.0, amp=0.55, sigma=5.0, beta=0.3))], [frequency])
    sx = Schedule([Play(0, Drag(20.0, amp=0.27, sigma=5.0, beta=0.1))], [frequency])
    return [x, sx]


def test_sequence_matches_the_flat_schedule_with_virtual_z(device, rng):
    chip = Chip([dressed_transmon(device.truth(), 0)])
    # detuned carrier, so frame phases and detuning interact as they do in RB
    gates = _gates(float(chip.transmons[0].frequency) + 0.002)
    sequences = [GateSequence(gates, rng.integers(0, 2, n), rng.uniform(-np.pi, np.pi, n)) for n in (1, 7, 40)]
    out = [None] * len(sequences)
    device._sequence_group(chip, sequences, list(range(len(sequences))), out)
    for seq, got in zip(sequences, out):
        flat = np.asarray(populations(chip, seq.to_schedule(), dt=0.5, dynamics=Open()))
        # both exact propagations of the same model: rounding only
        np.testing.assert_allclose(got, flat, atol=1e-12)


def test_sequences_run_on_the_device_with_clock_and_limits(device, rng):
    f = float(device.truth().transmons[0].frequency)
    seqs = [GateSequence(_gates(f), rng.integers(0, 2, n)) for n in (5, 300)]
    before = device.now()
    ds = device.run(seqs, shots=100, seed=0)
    assert ds.counts.shape == (2, 1)
    played = (5 + 300) * 20.0 + 2 * device.spec.repetition
    assert device.now() - before == pytest.approx(played * 100 * 1e-9)
    too_long = GateSequence(_gates(f), [0] * 30000)  # 600 us > 500 us
    with pytest.raises(DeviceModelError, match="lasts 600 us"):
        device.run([too_long], shots=10)


def test_bad_sequences_are_refused():
    gates = _gates(5.0)
    with pytest.raises(DeviceModelError, match="refers to gate 2, but the table has gates 0..1"):
        GateSequence(gates, [0, 2])
    with pytest.raises(DeviceModelError, match=r"shape \(..., 2\)"):
        GateSequence(gates, [0, 1], phases=[0.0])
    with pytest.raises(DeviceModelError, match="single-channel"):
        GateSequence([Schedule([Play(0, Drag(20.0, amp=0.1, sigma=5.0))], [5.0, 5.1])], [0])
