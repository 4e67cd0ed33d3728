"""Pulse envelopes, sampled at the AWG sample time and held over each sample.

A pulse's envelope s(t) is complex; the lab drive is Re[s(t) exp(i 2 pi f t)] on the
channel's carrier f. Samples are taken at the middle of each AWG sample
((k + 1/2) dt), as the AWG holds them constant over the whole sample.
Parameters are float64 JAX arrays, so pulses are differentiable; durations are
static (they fix array shapes).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices._validate import DeviceModelError, check_finite, check_range, concrete


def _f64(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.float64)


def n_samples_of(duration: float, dt: float, owner: str = "Pulse") -> int:
    """Number of AWG samples in `duration` ns; the duration must be a whole number of samples."""
    n = duration / dt
    k = int(round(n))
    if k < 1 or abs(n - k) > 1e-9 * max(1.0, n):
        raise DeviceModelError(
            f"{owner}.duration is {duration} ns, but must be a positive multiple of the AWG "
            f"sample time dt = {dt} ns."
        )
    return k


class Pulse(eqx.Module):
    """Base of all pulses: `samples(dt)` gives the complex envelope per AWG sample."""

    def n_samples(self, dt: float) -> int:
        return n_samples_of(self.duration, dt, type(self).__name__)

    def samples(self, dt: float) -> jax.Array:
        n = self.n_samples(dt)
        t = (jnp.arange(n, dtype=jnp.float64) + 0.5) * dt
        return self.envelope(t).astype(jnp.complex128)

    def envelope(self, t: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define envelope(t)")


def _check_common(owner: str, duration: float, amp, angle) -> None:
    if not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration <= 0:
        raise DeviceModelError(f"{owner}.duration is {duration!r}, but must be a positive number of ns.")
    check_range(owner, "amp", amp, low=-1.0, high=1.0,
                allowed="-1 <= amp <= 1 (the AWG's full scale)")
    check_finite(owner, "angle", angle)


def _lifted_gaussian(t, center, sigma, half_width):
    """Gaussian lifted so that it is 0 at center +- half_width and 1 at center."""
    g = jnp.exp(-0.5 * ((t - center) / sigma) ** 2)
    g0 = jnp.exp(-0.5 * (half_width / sigma) ** 2)
    return (g - g0) / (1.0 - g0), g / (1.0 - g0)


class Gaussian(Pulse):
    duration: float = eqx.field(static=True)
    amp: jax.Array = eqx.field(converter=_f64)
    sigma: jax.Array = eqx.field(converter=_f64)
    angle: jax.Array = eqx.field(converter=_f64, default=0.0)

    def __check_init__(self):
        _check_common(type(self).__name__, self.duration, self.amp, self.angle)
        check_range(type(self).__name__, "sigma", self.sigma, low=0.0, low_open=True,
                    allowed="sigma > 0 ns")

    def _shape(self, t):
        half = 0.5 * self.duration
        lifted, _ = _lifted_gaussian(t, half, self.sigma, half)
        return lifted

    def envelope(self, t):
        return self.amp * jnp.exp(1j * self.angle) * self._shape(t)


class Drag(Gaussian):
    """Gaussian with a derivative quadrature: s = g + i beta dg/dt (beta in ns)."""

    beta: jax.Array = eqx.field(converter=_f64, default=0.0)

    def __check_init__(self):
        check_finite("Drag", "beta", self.beta)

    def envelope(self, t):
        half = 0.5 * self.duration
        lifted, g = _lifted_gaussian(t, half, self.sigma, half)
        derivative = -g * (t - half) / self.sigma**2
        return self.amp * jnp.exp(1j * self.angle) * (lifted + 1j * self.beta * derivative)


class GaussianSquare(Pulse):
    """A flat top of `width` ns with Gaussian rise and fall filling the rest of `duration`."""

    duration: float = eqx.field(static=True)
    amp: jax.Array = eqx.field(converter=_f64)
    sigma: jax.Array = eqx.field(converter=_f64)
    width: jax.Array = eqx.field(converter=_f64)
    angle: jax.Array = eqx.field(converter=_f64, default=0.0)

    def __check_init__(self):
        owner = "GaussianSquare"
        _check_common(owner, self.duration, self.amp, self.angle)
        check_range(owner, "sigma", self.sigma, low=0.0, low_open=True, allowed="sigma > 0 ns")
        check_range(owner, "width", self.width, low=0.0, high=self.duration, high_open=True,
                    allowed=f"0 <= width < duration = {self.duration} ns")

    def envelope(self, t):
        risefall = 0.5 * (self.duration - self.width)
        rise, _ = _lifted_gaussian(t, risefall, self.sigma, risefall)
        fall, _ = _lifted_gaussian(t, risefall + self.width, self.sigma, risefall)
        shape = jnp.where(t < risefall, rise, jnp.where(t > risefall + self.width, fall, 1.0))
        return self.amp * jnp.exp(1j * self.angle) * shape


class GaussianRamp(Pulse):
    """One edge of a GaussianSquare on its own: a lifted Gaussian rising from 0 to `amp` over
    `duration` (rising) or falling from `amp` to 0. Ramp up, a `Hold` of the flat top and
    ramp down play the same samples as one GaussianSquare, with the flat top simulated
    exactly and its length free to vary under jit."""

    duration: float = eqx.field(static=True)
    amp: jax.Array = eqx.field(converter=_f64)
    sigma: jax.Array = eqx.field(converter=_f64)
    angle: jax.Array = eqx.field(converter=_f64, default=0.0)
    rising: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        _check_common("GaussianRamp", self.duration, self.amp, self.angle)
        check_range("GaussianRamp", "sigma", self.sigma, low=0.0, low_open=True, allowed="sigma > 0 ns")

    def envelope(self, t):
        center = self.duration if self.rising else 0.0
        shape, _ = _lifted_gaussian(t, center, self.sigma, self.duration)
        return self.amp * jnp.exp(1j * self.angle) * shape


class Constant(Pulse):
    duration: float = eqx.field(static=True)
    amp: jax.Array = eqx.field(converter=_f64)
    angle: jax.Array = eqx.field(converter=_f64, default=0.0)

    def __check_init__(self):
        _check_common("Constant", self.duration, self.amp, self.angle)

    def envelope(self, t):
        return self.amp * jnp.exp(1j * self.angle) * jnp.ones_like(t)


class Samples(Pulse):
    """Arbitrary complex samples, one per AWG sample, |sample| <= 1."""

    values: jax.Array = eqx.field(converter=lambda v: jnp.asarray(v, dtype=jnp.complex128))

    def __check_init__(self):
        if self.values.ndim < 1 or self.values.shape[-1] == 0:
            raise DeviceModelError(
                f"Argument `values` must have shape (..., n) with n >= 1, but has shape {self.values.shape}."
            )
        v = concrete(self.values)
        if v is not None:
            bad = ~np.isfinite(v)
            if np.any(bad):
                first = int(np.argwhere(bad.reshape(-1))[0, 0])
                raise DeviceModelError(
                    f"Samples.values holds NaN or inf ({int(bad.sum())} of {v.size} samples, the "
                    f"first at index {first}); every sample must be finite."
                )
            if np.any(np.abs(v) > 1.0 + 1e-12):
                raise DeviceModelError(
                    f"Samples.values reaches |s| = {float(np.abs(v).max()):.6g}, but must satisfy "
                    "|s| <= 1 (the AWG's full scale)."
                )

    def n_samples(self, dt: float) -> int:
        return int(self.values.shape[-1])

    def samples(self, dt: float) -> jax.Array:
        return self.values
