"""The `truth` block of simulated-device reports: how good a gate really is."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from devices.chip import Chip
from devices.dressing import dressed_transmon
from devices.metrics import coherence_limit, gate_metrics
from devices.nominal import pi_amplitude
from devices.options import Open
from devices.pulses import Drag
from devices.schedule import Play, Schedule
from devices.simulated import SimulatedDevice


def x_gate_truth(device: SimulatedDevice, qubit: int, x_schedule: Schedule) -> dict[str, float]:
    """gate_error (1 - average gate fidelity vs X), leakage and the coherence limit of a
    single-channel X schedule on `qubit` of the true device now, neighbours idle in |0>."""
    transmon = dressed_transmon(device.truth(), qubit)
    chip = Chip([transmon])
    metrics = gate_metrics(chip, x_schedule, dt=device.dt, dynamics=Open())
    duration = float(x_schedule.duration(device.dt))
    return {
        "gate_error": float(metrics.error),
        "leakage": float(metrics.leakage),
        "coherence_limit": float(coherence_limit(duration, transmon.t1, transmon.t2)),
    }


@functools.partial(jax.jit, static_argnames=("duration", "dt"))
def _drag_newton_step(chip: Chip, frequency, amp0, sigma, z, *, duration: float, dt: float):
    def error(z):  # relative amplitude, beta [ns]
        pulse = Drag(duration, amp=amp0 * (1.0 + z[0]), sigma=sigma, beta=z[1])
        return gate_metrics(chip, Schedule([Play(0, pulse)], jnp.reshape(frequency, (1,))), dt=dt,
                            dynamics=Open()).error

    return jnp.linalg.solve(jax.hessian(error)(z), jax.grad(error)(z))


def best_drag(device: SimulatedDevice, qubit: int, *, duration: float, sigma: float) -> dict[str, float]:
    """The true device's best DRAG X gate now: the drive at the dressed qubit frequency, amplitude
    and beta minimizing the Open-dynamics gate error. For benchmarks and tests that need a device
    "as a perfect calibration left it"; calibration code never calls this."""
    transmon = dressed_transmon(device.truth(), qubit)
    frequency = float(transmon.frequency)
    amp0 = pi_amplitude(float(transmon.drive_scale), Drag(duration, amp=1.0, sigma=sigma, beta=0.0), device.dt)
    z = jnp.zeros(2)
    for _ in range(12):  # Newton: the error is a smooth bowl in (amplitude, beta)
        step = _drag_newton_step(Chip([transmon]), frequency, amp0, sigma, z, duration=duration, dt=device.dt)
        z = z - step
        if float(jnp.max(jnp.abs(step))) < 1e-10:
            break
    return {"frequency": frequency, "x_amp": amp0 * (1.0 + float(z[0])), "beta": float(z[1])}
