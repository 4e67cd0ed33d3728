"""Gates built from a device's public design values only (no calibration, no truth)."""

from __future__ import annotations

import jax.numpy as jnp

from devices.device_spec import DeviceSpec
from devices.pulses import Drag, Pulse
from devices.schedule import Play, Schedule


def unit_area(pulse: Pulse, dt: float) -> float:
    """Area of the pulse's in-phase envelope per unit amplitude [ns]."""
    samples = pulse.samples(dt)
    return float(jnp.real(jnp.sum(samples)) * dt / pulse.amp)


def pi_amplitude(drive_scale: float, pulse: Pulse, dt: float) -> float:
    """Amplitude rotating by pi: 2 pi drive_scale amp area = pi."""
    return 1.0 / (2.0 * drive_scale * unit_area(pulse, dt))


def nominal_x_pulse(spec: DeviceSpec, qubit: int) -> Drag:
    shape = Drag(spec.x_duration, amp=1.0, sigma=spec.x_sigma, beta=0.0)
    amp = pi_amplitude(spec.qubits[qubit].drive_scale, shape, spec.dt)
    return Drag(spec.x_duration, amp=min(amp, 1.0), sigma=spec.x_sigma, beta=0.0)


def nominal_x_schedule(spec: DeviceSpec, qubit: int) -> Schedule:
    """The X gate of the design: a DRAG pi pulse (beta 0) at the design frequency."""
    return Schedule([Play(0, nominal_x_pulse(spec, qubit))], [spec.qubits[qubit].frequency])
