"""A Constant pulse on a schedule's only channel is simulated as a held tone (one exponential
raised to its length); it must give the per-sample path's propagator and gradients, which the
same envelope written out as Samples still takes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import Chip, Closed, Constant, Delay, Drag, Open, Play, Samples, Schedule, ShiftPhase, Transmon, propagator
from devices.schedule import Driven, Held, Idle

DT = 0.5
CHIP = Chip([Transmon(frequency=5.003, anharmonicity=-0.23, drive_scale=0.045, t1=2.1e4, t2=1.3e4)])


def _written_out(pulse: Constant) -> Samples:
    n = pulse.n_samples(DT)
    return Samples(jnp.full((n,), pulse.amp * jnp.exp(1j * pulse.angle)))


def _schedules(amp, carrier=4.998):
    flat_a = Constant(300.0, amp=amp, angle=0.3)
    flat_b = Constant(7.5, amp=-0.4)
    parts = lambda a, b: [Play(0, a), ShiftPhase(0, 1.1), Play(0, Drag(20.0, 0.5, 5.0, 0.1, beta=0.2)),  # noqa: E731
                          Delay(0, 40.0), Play(0, b)]
    return (Schedule(parts(flat_a, flat_b), frequencies=[carrier]),
            Schedule(parts(_written_out(flat_a), _written_out(flat_b)), frequencies=[carrier]))


def test_lone_flat_pulses_are_held_tones():
    held, written = _schedules(0.2)
    assert [type(s) for s in held.segments(DT)] == [Held, Driven, Idle, Held]
    assert all(type(s) is not Held for s in written.segments(DT))
    assert float(held.duration(DT)) == float(written.duration(DT))
    np.testing.assert_allclose(held.render(DT), written.render(DT), atol=1e-15)


@pytest.mark.parametrize("dynamics", [Closed(), Open()], ids=["closed", "open"])
def test_held_tone_equals_per_sample_propagator(dynamics):
    held, written = _schedules(0.2)
    np.testing.assert_allclose(propagator(CHIP, held, dt=DT, dynamics=dynamics),
                               propagator(CHIP, written, dt=DT, dynamics=dynamics), atol=1e-11)


def test_held_tone_gradient_equals_per_sample_gradient():
    def excited(amp, which):
        schedule = _schedules(amp)[which]
        prop = propagator(CHIP, schedule, dt=DT, dynamics=Open())
        rho0 = jnp.zeros((9,), jnp.complex128).at[0].set(1.0)
        return jnp.real((prop @ rho0)[4])  # column-stacked |1><1|

    amp = jnp.asarray(0.13, jnp.float64)
    grad_held, grad_written = jax.grad(excited)(amp, 0), jax.grad(excited)(amp, 1)
    assert abs(float(grad_held)) > 1e-3  # the pulse does move population
    np.testing.assert_allclose(grad_held, grad_written, rtol=1e-9)
