"""Gate sequences: composing cached gate propagators equals simulating the flat schedule."""

import jax.numpy as jnp
import numpy as np
import pytest

from devices import Chip, DeviceModelError, Drag, Open, Play, Schedule, populations
from devices.catalog import load_spec
from devices.dressing import dressed_transmon
from devices.sequences import BlockSequence, GateSequence, length_buckets, padded_programs
from devices.simulated import SimulatedDevice, _block_group, _gate_superops, _sequence_populations
from devices.two_qubit import PAIR_LINES, CrossResonance, pair_frequencies


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


def test_length_buckets_give_what_one_scan_of_every_sequence_gives(device, rng):
    """Sequences in different length buckets, in mixed order, each get the populations of the
    one scan padded to the longest (the layout before buckets)."""
    chip = Chip([dressed_transmon(device.truth(), 0)])
    gates = _gates(float(chip.transmons[0].frequency) + 0.001)
    lengths = (300, 3, 64, 65, 1, 200, 129)
    buckets = length_buckets(lengths)
    assert sorted(np.concatenate([members for members, _ in buckets])) == list(range(len(lengths)))
    for members, steps in buckets:
        assert all(lengths[k] <= steps <= max(128, 1.5 * lengths[k]) for k in members)
    assert len(buckets) == 5  # 64: 3, 64, 1; 128: 65; 192: 129; 256: 200; 384: 300
    sequences = [GateSequence(gates, rng.integers(0, 2, n), rng.uniform(-np.pi, np.pi, n)) for n in lengths]
    out = [None] * len(sequences)
    _sequence_populations.clear_cache()
    device._sequence_group(chip, sequences, list(range(len(sequences))), out)
    # buckets of one batch size share one compiled loop, whatever their lengths
    assert _sequence_populations._cache_size() == len({len(members) for members, _ in buckets}) == 2
    programs, phases = padded_programs(sequences, 320)
    one_scan = _sequence_populations(_gate_superops(chip, tuple(gates), 0.5), programs, phases,
                                     jnp.asarray(320, dtype=jnp.int64))
    np.testing.assert_allclose(np.stack(out), one_scan, atol=1e-13)


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


def test_single_channel_blocks_factor_their_frame_phase_exactly():
    """A block played by one channel evolves as R U(0) R^dag (R = exp(-i phase N)); a zero
    pulse on the other channel disables that path and puts the phase in the samples."""
    from devices import (Closed, Constant, Delay, ExactSteps, Gaussian, ShiftPhase, Transmon, propagator)

    a = Transmon(frequency=5.0, anharmonicity=-0.25, drive_scale=0.05, t1=60e3, t2=40e3)
    b = Transmon(frequency=5.3, anharmonicity=-0.24, drive_scale=0.05, t1=50e3, t2=30e3)
    chip = Chip([a, b], couplings=[[0, 0.005], [0.005, 0]], crosstalk=[[1, 0.05 + 0.02j], [0.02j, 1]])
    p = Drag(20.0, amp=0.5, sigma=5.0, beta=0.3)
    zero = Constant(20.0, amp=0.0)
    head = [Play(0, p), Delay(None, 13.0), ShiftPhase(0, 1.1), ShiftPhase(1, -0.7)]
    factored = Schedule(head + [Play(0, p), Delay(None, 2.0), Play(1, Gaussian(20.0, amp=0.4, sigma=5.0))], [5.0, 5.3])
    phased = Schedule(head + [Play(0, p), Play(1, zero), Delay(None, 2.0),
                              Play(1, Gaussian(20.0, amp=0.4, sigma=5.0)), Play(0, zero)], [5.0, 5.3])
    assert [s.phase is not None for s in factored.segments(0.5) if hasattr(s, "phase")] == [True, True, True]
    assert all(s.phase is None for s in phased.segments(0.5)[1:] if hasattr(s, "phase"))
    # Magnus substeps in every block: by default the factored blocks (one channel) are exact in
    # their carrier's frame while the phased ones (two carriers) are not (one-carrier blocks)
    solver = ExactSteps(common_frame=False)
    for dynamics in (Closed(), Open()):
        np.testing.assert_allclose(propagator(chip, factored, dt=0.5, dynamics=dynamics, solver=solver),
                                   propagator(chip, phased, dt=0.5, dynamics=dynamics, solver=solver), atol=1e-12)


def test_sequences_with_equal_shaped_but_different_tables_are_kept_apart(device):
    f = float(device.truth().transmons[0].frequency)
    strong = Schedule([Play(0, Drag(20.0, amp=0.55, sigma=5.0))], [f])
    weak = Schedule([Play(0, Drag(20.0, amp=0.0001, sigma=5.0))], [f])
    together = device.run([GateSequence([strong], [0]), GateSequence([weak], [0])], shots=2000, seed=3)
    alone = device.run([GateSequence([weak], [0])], shots=2000, seed=3)
    weak_rate = together.counts.values[1, 0] / 2000
    # a near-zero pulse reads about P(1|0) ~ 2%, not the ~95% of a pi pulse
    assert weak_rate < 0.1 and alone.counts.values[0, 0] / 2000 < 0.1
    assert together.counts.values[0, 0] / 2000 > 0.8


@pytest.mark.slow
def test_block_sequences_compose_a_coupled_pair_exactly():
    # CR halves (two channels at the target's carrier, a held flat top), single-qubit pulses on
    # either transmon, random virtual Z's on both frames: composing block propagators under
    # their frames equals simulating the flat schedule (BlockSequence's identity)
    chip = SimulatedDevice(load_spec("sim-5q"), seed=3).truth().subchip([1, 0])
    frequencies = pair_frequencies(5.051, 4.603)

    def block(instructions):
        return Schedule(instructions, frequencies, lines=PAIR_LINES)

    cr = CrossResonance(10.0, 5.0, 40.0, amp=0.6, angle=0.3, cancel_amp=0.05, cancel_angle=1.0)
    blocks = [block([Play(0, Drag(20.0, 0.3, 5.0, beta=0.2))]), block([Play(1, Drag(20.0, 0.6, 5.0, beta=0.1))]),
              block(cr.half(+1)), block(cr.half(-1))]
    rng = np.random.default_rng(1)
    sequences = [BlockSequence(blocks, (0, 1, 1, 1), rng.integers(0, 4, n), rng.uniform(-np.pi, np.pi, (n, 2)))
                 for n in (3, 8)]
    composed = [None, None]
    _block_group(chip, sequences, [0, 1], composed, 0.5)
    for sequence, pops in zip(sequences, composed):
        flat = populations(chip, sequence.to_schedule(), dt=0.5, dynamics=Open())
        np.testing.assert_allclose(pops, flat, atol=1e-10)
    assert composed[1][0] < 0.97  # the program does something (|00> keeps 0.957 of its population)
    with pytest.raises(DeviceModelError, match=r"blocks\[2\] plays channel\(s\) \[1, 2\] off the carrier of its frame 0"):
        BlockSequence(blocks, (0, 1, 0, 1), [0, 2])
