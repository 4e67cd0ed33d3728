"""Parameterized pulses for optimal control, with amplitude bounds by construction.

A shape is an option object (static settings, e.g. `DragCorrected(n_terms=4)`); its
parameters are a separate equinox pytree that optax updates. Each shape offers pure
functions of the parameters:

    params = shape.from_drag(drag, dt)          # the calibrated DRAG, mapped into the shape
    values = shape.samples(params, duration, dt)   # complex envelope per AWG sample
    pulse  = shape.pulse(params, duration, dt)     # a devices Pulse the simulator plays

Whatever the parameter values, |envelope| <= amp_max: the optimizer cannot leave the AWG's
range, so no penalty or projection is needed. `PlainDrag` is the baseline (a Drag with
tuned amplitude, beta and sigma).
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices.pulses import Drag, Samples, n_samples_of

_TINY = 1e-30
REGULARIZATION = 0.1  # of BoundedSamples.from_drag's deconvolution: keeps the free samples smooth and in range
KNEE = 6  # even: sharpness of the saturation's knee
GAIN_AT_CUTOFF = 0.01  # BoundedSamples' filter response at and above its cutoff (-40 dB)


def _f64(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.float64)


def _check_amp_max(owner: str, amp_max) -> None:
    if isinstance(amp_max, bool) or not isinstance(amp_max, (int, float)) or not 0 < amp_max <= 1:
        raise ValueError(f"{owner}.amp_max is {amp_max!r}, but must satisfy 0 < amp_max <= 1 (the AWG's full scale).")


def saturate(z: jax.Array, amp_max: float) -> jax.Array:
    """z / (1 + (|z| / amp_max)^p)^(1/p), p = KNEE: the phase of z with its magnitude
    smoothly limited below amp_max; within 1 % of z itself while |z| < 0.6 amp_max, so a
    calibrated pulse maps into a shape almost unchanged."""
    limit = amp_max * (1.0 - 1e-12)  # rounding cannot lift |s| over amp_max
    r2 = (jnp.real(z) ** 2 + jnp.imag(z) ** 2) / limit**2  # even powers only: smooth at z = 0
    return z * (1.0 + r2 ** (KNEE // 2)) ** (-1.0 / KNEE)


def desaturate(s: np.ndarray, amp_max: float, headroom: float = 0.98) -> np.ndarray:
    """The inverse of `saturate` (numpy), with |s| first clipped to headroom * amp_max."""
    s = np.asarray(s, complex)
    r = np.abs(s)
    limit = headroom * amp_max
    clipped = np.where(r > limit, s * limit / np.maximum(r, _TINY), s)
    ratio = np.abs(clipped) / (amp_max * (1.0 - 1e-12))
    return clipped * (1.0 - ratio**KNEE) ** (-1.0 / KNEE)


def _times(duration: float, dt: float) -> jax.Array:
    n = n_samples_of(duration, dt, "pulse")
    return (jnp.arange(n, dtype=jnp.float64) + 0.5) * dt


def _drag_quadratures(duration: float, sigma, dt: float) -> tuple[jax.Array, jax.Array]:
    """In-phase (lifted Gaussian) and quadrature (its derivative) samples of a unit Drag."""
    unit = Drag(duration, amp=1.0, sigma=sigma, beta=1.0).samples(dt)
    return jnp.real(unit), jnp.imag(unit)


def _sine_basis(duration: float, dt: float, n_terms: int) -> jax.Array:
    """sin(pi k t / T), k = 1..K, shape (K, n): smooth, zero at both ends of the pulse."""
    t = _times(duration, dt)
    k = jnp.arange(1, n_terms + 1, dtype=jnp.float64)
    return jnp.sin(jnp.pi * k[:, None] * t[None, :] / duration)


# --- DRAG plus smooth corrections ---------------------------------------------------------
class DragCorrectedParams(eqx.Module):
    amp: jax.Array = eqx.field(converter=_f64)
    beta: jax.Array = eqx.field(converter=_f64)  # ns
    log_sigma: jax.Array = eqx.field(converter=_f64)  # log of sigma in ns
    i_terms: jax.Array = eqx.field(converter=_f64)  # (K,) in-phase sine corrections
    q_terms: jax.Array = eqx.field(converter=_f64)  # (K,) quadrature sine corrections
    phase_slope: jax.Array = eqx.field(converter=_f64)  # rad over the pulse: 2 pi detuning T


class DragCorrected(eqx.Module):
    """A DRAG envelope plus `n_terms` sine corrections on I and on Q, optionally detuned,
    its magnitude saturated below amp_max:

        z(t) = amp [g(t) + i beta g'(t)] + sum_k (c_k + i d_k) sin(pi k t / T)
        s(t) = saturate(z(t) exp(i phase_slope (t / T - 1/2)), amp_max)   (see `saturate`)

    phase_slope is a drive frequency offset of phase_slope / (2 pi T) GHz from the carrier,
    written as a phase ramp so the frame of the gate stays the carrier's; `detuning=False`
    keeps it at 0 (its gradient is then dropped)."""

    n_terms: int = eqx.field(static=True, default=4)
    amp_max: float = eqx.field(static=True, default=1.0)
    detuning: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if isinstance(self.n_terms, bool) or not isinstance(self.n_terms, int) or not 0 <= self.n_terms <= 64:
            raise ValueError(f"DragCorrected.n_terms is {self.n_terms!r}, but must be an integer in 0..64.")
        _check_amp_max("DragCorrected", self.amp_max)

    def check(self, duration: float, dt: float) -> None:
        n_samples_of(duration, dt, "DragCorrected")

    def samples(self, params: DragCorrectedParams, duration: float, dt: float) -> jax.Array:
        g, dg = _drag_quadratures(duration, jnp.exp(params.log_sigma), dt)
        z = params.amp * (g + 1j * params.beta * dg)
        if self.n_terms:
            basis = _sine_basis(duration, dt, self.n_terms)
            z = z + (params.i_terms + 1j * params.q_terms) @ basis
        if self.detuning:
            t = _times(duration, dt)
            z = z * jnp.exp(1j * params.phase_slope * (t / duration - 0.5))
        return saturate(z, self.amp_max)

    def pulse(self, params: DragCorrectedParams, duration: float, dt: float) -> Samples:
        return Samples(self.samples(params, duration, dt))

    def detuning_ghz(self, params: DragCorrectedParams, duration: float) -> float:
        return float(params.phase_slope) / (2 * math.pi * duration) if self.detuning else 0.0

    def from_drag(self, drag: Drag, dt: float) -> DragCorrectedParams:
        """The Drag's own amplitude, beta and sigma, with the sine corrections that best undo
        the saturation (least squares; the envelope is clipped at 0.98 amp_max first)."""
        duration = drag.duration
        raw = desaturate(np.asarray(drag.samples(dt)), self.amp_max)
        residual = raw - np.asarray(drag.samples(dt))
        basis = np.asarray(_sine_basis(duration, dt, self.n_terms)).T  # (n, K)
        coef_i = np.linalg.lstsq(basis, residual.real, rcond=None)[0] if self.n_terms else np.zeros(0)
        coef_q = np.linalg.lstsq(basis, residual.imag, rcond=None)[0] if self.n_terms else np.zeros(0)
        return DragCorrectedParams(amp=drag.amp, beta=drag.beta, log_sigma=np.log(float(drag.sigma)),
                                   i_terms=coef_i, q_terms=coef_q, phase_slope=0.0)


# --- samples at the AWG rate, band-limited by a fixed filter --------------------------------
class SampleParams(eqx.Module):
    i: jax.Array = eqx.field(converter=_f64)  # (n_free,) before saturation and filter
    q: jax.Array = eqx.field(converter=_f64)


class BoundedSamples(eqx.Module):
    """Free I/Q samples at the AWG rate, saturated below amp_max, then smoothed by a fixed
    Gaussian low-pass filter whose gain is at most 1 % (-40 dB) from `cutoff` [GHz] up.

    The filter is a normalized, non-negative kernel of 2m+1 taps and the pulse is the full
    convolution of n - 2m free samples with it, so (i) |s| <= amp_max still holds (an
    average of values of magnitude <= amp_max), (ii) the pulse's spectrum is the free
    samples' spectrum times the filter's, with nothing cut off at the ends, and (iii) it
    rises from and returns to ~0 smoothly. The filter costs area: the pulse's in-phase area
    is at most amp_max (n - 2m) dt, checked against what a pi rotation needs."""

    cutoff: float = eqx.field(static=True, default=0.5)
    amp_max: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if isinstance(self.cutoff, bool) or not isinstance(self.cutoff, (int, float)) or not self.cutoff > 0:
            raise ValueError(f"BoundedSamples.cutoff is {self.cutoff!r}, but must be a positive frequency in GHz.")
        _check_amp_max("BoundedSamples", self.amp_max)

    def kernel(self, dt: float) -> np.ndarray:
        """The shortest normalized Gaussian kernel (2m+1 taps) whose response is <= 1 % at
        every frequency from `cutoff` to Nyquist."""
        return _lowpass_kernel(float(self.cutoff), float(dt))

    def n_free(self, duration: float, dt: float) -> int:
        return n_samples_of(duration, dt, "BoundedSamples") - (len(self.kernel(dt)) - 1)

    def check(self, duration: float, dt: float) -> None:
        if self.cutoff > 0.5 / dt:
            raise ValueError(f"BoundedSamples.cutoff is {self.cutoff} GHz, but must be at most the AWG's Nyquist "
                             f"frequency 1 / (2 dt) = {0.5 / dt:g} GHz.")
        if self.n_free(duration, dt) < 2:
            width = (len(self.kernel(dt)) - 1) * dt
            raise ValueError(
                f"BoundedSamples with cutoff {self.cutoff} GHz filters over {width:g} ns, which leaves no "
                f"free samples in a {duration:g} ns pulse; raise cutoff or duration."
            )

    def max_area(self, duration: float, dt: float) -> float:
        return self.amp_max * self.n_free(duration, dt) * dt

    def samples(self, params: SampleParams, duration: float, dt: float) -> jax.Array:
        n_free = self.n_free(duration, dt)
        if params.i.shape != (n_free,) or params.q.shape != (n_free,):
            raise ValueError(f"SampleParams.i and .q must have shape ({n_free},) for a {duration:g} ns pulse, but "
                             f"have shapes {params.i.shape} and {params.q.shape}.")
        free = saturate(params.i + 1j * params.q, self.amp_max)
        kernel = jnp.asarray(self.kernel(dt))
        return jnp.convolve(jnp.real(free), kernel) + 1j * jnp.convolve(jnp.imag(free), kernel)

    def pulse(self, params: SampleParams, duration: float, dt: float) -> Samples:
        return Samples(self.samples(params, duration, dt))

    def from_drag(self, drag: Drag, dt: float) -> SampleParams:
        """Free samples whose filtered pulse best matches `drag`: the filter is linear and
        the saturation invertible, so this is a least-squares deconvolution (lightly
        regularized, its result clipped at 0.98 amp_max)."""
        self.check(drag.duration, dt)
        target = np.asarray(drag.samples(dt))
        kernel = self.kernel(dt)
        n_free = self.n_free(drag.duration, dt)
        matrix = np.stack([np.convolve(np.eye(n_free)[j], kernel) for j in range(n_free)], axis=1)
        regularized = np.vstack([matrix, REGULARIZATION * np.eye(n_free)])
        rhs = np.concatenate([target, np.zeros(n_free)])
        free = np.linalg.lstsq(regularized, rhs.real, rcond=None)[0] + 1j * np.linalg.lstsq(
            regularized, rhs.imag, rcond=None)[0]
        raw = desaturate(free, self.amp_max)
        return SampleParams(i=raw.real, q=raw.imag)


def _response(taps: np.ndarray, dt: float, frequencies: np.ndarray) -> np.ndarray:
    """|H(f)| of symmetric taps (..., 2m+1) at `frequencies`, shape (..., len(frequencies))."""
    k = np.arange(taps.shape[-1]) - (taps.shape[-1] - 1) / 2
    return np.abs(taps @ np.exp(-2j * np.pi * np.outer(k, frequencies) * dt))


def _gaussian_taps(sigma, m: int, dt: float) -> np.ndarray:
    sigma = np.asarray(sigma, float)[..., None]
    taps = np.exp(-0.5 * (np.arange(-m, m + 1) * dt / sigma) ** 2)
    return taps / taps.sum(axis=-1, keepdims=True)


@functools.lru_cache(maxsize=64)
def _lowpass_kernel(cutoff: float, dt: float) -> np.ndarray:
    # The shortest kernel wastes the least of the pulse on ramps; of its widths, the
    # narrowest passes the band below the cutoff best.
    nyquist = 0.5 / dt
    frequencies = np.linspace(min(cutoff, nyquist), nyquist, 256)
    for m in range(1, 1000):
        sigmas = np.linspace(0.25, 2.0 * m, 200) * dt
        good = np.flatnonzero(_response(_gaussian_taps(sigmas, m, dt), dt, frequencies).max(axis=-1) <= GAIN_AT_CUTOFF)
        if good.size:
            taps = _gaussian_taps(sigmas[good[:1]], m, dt)[0]
            taps.setflags(write=False)
            return taps
    raise ValueError(f"No low-pass kernel reaches {GAIN_AT_CUTOFF} above cutoff {cutoff} GHz at dt = {dt} ns.")


# --- the baseline ----------------------------------------------------------------------------
class PlainDragParams(eqx.Module):
    amp_raw: jax.Array = eqx.field(converter=_f64)  # amp = amp_max tanh(amp_raw)
    beta: jax.Array = eqx.field(converter=_f64)
    log_sigma: jax.Array = eqx.field(converter=_f64)


class PlainDrag(eqx.Module):
    """A plain Drag pulse with amplitude amp_max tanh(amp_raw), beta and sigma: the
    baseline robust pulses are measured against. Only its in-phase peak is bounded (as
    for any calibrated Drag); `tune_sigma=False` keeps sigma at its initial value."""

    amp_max: float = eqx.field(static=True, default=1.0)
    tune_sigma: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        _check_amp_max("PlainDrag", self.amp_max)

    def check(self, duration: float, dt: float) -> None:
        n_samples_of(duration, dt, "PlainDrag")

    def drag(self, params: PlainDragParams, duration: float) -> Drag:
        log_sigma = params.log_sigma if self.tune_sigma else jax.lax.stop_gradient(params.log_sigma)
        return Drag(duration, amp=self.amp_max * jnp.tanh(params.amp_raw), sigma=jnp.exp(log_sigma),
                    beta=params.beta)

    def samples(self, params: PlainDragParams, duration: float, dt: float) -> jax.Array:
        return self.drag(params, duration).samples(dt)

    def pulse(self, params: PlainDragParams, duration: float, dt: float) -> Drag:
        return self.drag(params, duration)

    def from_drag(self, drag: Drag, dt: float) -> PlainDragParams:
        amp = float(np.clip(float(drag.amp) / self.amp_max, -0.999, 0.999))
        return PlainDragParams(amp_raw=np.arctanh(amp), beta=drag.beta, log_sigma=np.log(float(drag.sigma)))


PulseShape = DragCorrected | BoundedSamples | PlainDrag
