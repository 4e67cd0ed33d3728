"""Blocks whose playing channels share one carrier: exact in that carrier's common frame.

A cross-resonance tone and its cancellation tone (both at the target's carrier), or one
transmon's gate on a pair, make a drive that is static over each AWG sample in the frame of
their carrier; ExactSteps then takes one exponential per sample instead of Magnus substeps.
Checked here against the Magnus steps' converged limit (Richardson-extrapolated 16/32
substeps), with traced frequencies, and for the refusals of bad declarations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import (
    Barrier,
    Chip,
    Closed,
    Constant,
    DeviceModelError,
    Drag,
    ExactSteps,
    GaussianSquare,
    Open,
    Play,
    Schedule,
    ShiftPhase,
    Transmon,
    propagator,
)
from devices.schedule import Driven
from devices.two_qubit import pair_schedule

DT = 0.5
F_C, F_T = 5.05, 4.6  # a control 450 MHz above its target, as sim-5q's pairs


def _pair() -> Chip:
    return Chip([Transmon(frequency=F_C, anharmonicity=-0.25, drive_scale=0.08, t1=40e3, t2=30e3),
                 Transmon(frequency=F_T, anharmonicity=-0.24, drive_scale=0.08, t1=50e3, t2=40e3)],
                couplings=[[0, 0.003], [0.003, 0]], crosstalk=[[1, 0.03 * np.exp(0.5j)], [0, 1]])


def _cr_program(amp=0.8):
    """A CR tone with its cancellation tone, a frame shift, an echo on the control, and a
    block in which the control's and the target's own channels play at once (two carriers)."""
    return [Play(2, GaussianSquare(40.0, amp, 4.0, 24.0, 0.4)), Play(1, GaussianSquare(40.0, 0.1, 4.0, 24.0, -0.7)),
            Barrier(), ShiftPhase(0, 0.9), Play(0, Drag(20.0, 0.6, 5.0, 0.2, beta=0.3)), Barrier(),
            Play(0, Constant(6.0, 0.3)), Play(1, Constant(6.0, 0.4, 1.2))]


def _frequencies():
    return [F_C + 0.0013, F_T - 0.0021, F_T - 0.0021]


MAGNUS = ExactSteps(common_frame=False)  # Magnus substeps in every block


def _magnus_limit(chip, schedule, dynamics):
    fine = [np.asarray(propagator(chip, schedule, dt=DT, dynamics=dynamics,
                                  solver=ExactSteps(substeps=m, common_frame=False))) for m in (16, 32)]
    return (16 * fine[1] - fine[0]) / 15  # fourth order: the error falls 16x per halving


@pytest.mark.slow
@pytest.mark.parametrize("dynamics", [Closed(), Open()], ids=["closed", "open"])
def test_one_carrier_blocks_are_the_exact_limit_of_magnus_steps(dynamics):
    chip = _pair()
    schedule = Schedule(_cr_program(), _frequencies(), lines=(0, 1, 0))
    assert schedule.shared_carriers == ((1, 2),)
    playing = [seg.playing for seg in schedule.segments(DT) if isinstance(seg, Driven)]
    assert playing == [(1, 2), (0,), (0, 1)]
    # the blocks of one carrier alone (the CR tones, the echo)
    one_carrier = Schedule(_cr_program()[:6], _frequencies(), lines=(0, 1, 0))
    limit = _magnus_limit(chip, one_carrier, dynamics)
    ours = np.asarray(propagator(chip, one_carrier, dt=DT, dynamics=dynamics))
    magnus = np.asarray(propagator(chip, one_carrier, dt=DT, dynamics=dynamics, solver=MAGNUS))
    # measured: ours 4.2e-12 (closed) and 8.0e-12 (open) from the limit (its own error: 6.8e-13
    # and 2.5e-13 from the 32/64-step limit); 8 Magnus substeps 7.4e-6 and 1.4e-5
    assert np.abs(ours - limit).max() < 1e-10
    assert np.abs(magnus - limit).max() > 1e-6
    assert np.abs(ours - np.eye(len(ours))).max() > 0.1  # a nontrivial propagator
    # the block of two carriers takes the Magnus substeps
    two_carriers = Schedule(_cr_program()[6:], _frequencies(), lines=(0, 1, 0))
    np.testing.assert_allclose(np.asarray(propagator(chip, two_carriers, dt=DT, dynamics=dynamics)),
                               np.asarray(propagator(chip, two_carriers, dt=DT, dynamics=dynamics, solver=MAGNUS)),
                               rtol=0, atol=1e-13)


def test_traced_frequencies_need_the_declaration():
    chip = _pair()
    program = _cr_program()
    concrete = np.asarray(propagator(chip, Schedule(program, _frequencies(), lines=(0, 1, 0)), dt=DT))
    magnus = np.asarray(propagator(chip, Schedule(program, _frequencies(), lines=(0, 1, 0)), dt=DT, solver=MAGNUS))

    found = []

    def traced(declared):
        def run(freqs):
            schedule = Schedule(program, freqs, lines=(0, 1, 0), shared_carriers=declared)
            found.append(schedule.shared_carriers)
            return propagator(chip, schedule, dt=DT)
        return jax.jit(run)

    freqs = jnp.asarray(_frequencies())
    declared = np.asarray(traced(((1, 2),))(freqs))
    undeclared = np.asarray(traced(None)(freqs))
    assert found == [((1, 2),), ()]
    np.testing.assert_allclose(declared, concrete, rtol=0, atol=1e-12)
    # Undeclared, the traced carriers could differ: the two-tone block takes the Magnus steps
    # (the control's echo, one channel, is exact either way), so it matches neither path
    # (measured: 1.0e-5 from the declared result, 3.7e-8 from Magnus substeps everywhere).
    assert np.abs(undeclared - concrete).max() > 1e-6
    assert np.abs(undeclared - magnus).max() > 1e-8
    # a declaration the traced carriers break gives NaN, not a propagator of the wrong model
    wrong = jnp.asarray([F_C, F_T, F_T + 0.01])
    assert np.all(np.isnan(np.asarray(traced(((1, 2),))(wrong))))


def test_equal_carriers_are_found_in_every_entry_of_a_batch():
    program = [Play(2, Constant(4.0, 0.5)), Play(1, Constant(4.0, 0.1))]
    batch = np.array([[F_C, F_T, F_T], [F_C + 0.01, F_T + 0.02, F_T + 0.02]])
    assert Schedule(program, batch, lines=(0, 1, 0)).shared_carriers == ((1, 2),)
    batch[1, 2] += 1e-6
    assert Schedule(program, batch, lines=(0, 1, 0)).shared_carriers == ()
    assert Schedule(program, [F_T, F_T, F_T], lines=(0, 1, 0)).shared_carriers == ((0, 1, 2),)
    assert pair_schedule(program, F_C, F_T).shared_carriers == ((1, 2),)


@pytest.mark.parametrize("declared, message", [
    (((1,),), "groups of two or more different channels of 0..2"),
    (((1, 3),), "groups of two or more different channels of 0..2"),
    (((0, 1), (1, 2)), "each channel in at most one group"),
    ((("a", 2),), "groups of two or more"),
    (((0, 2),), r"declares channels \[0, 2\] to share one carrier, but their frequencies are \[5.05, 4.6\]"),
])
def test_bad_shared_carriers_are_refused(declared, message):
    with pytest.raises(DeviceModelError, match=message):
        Schedule([Play(2, Constant(4.0, 0.5))], [F_C, F_T, F_T], lines=(0, 1, 0), shared_carriers=declared)
