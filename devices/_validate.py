"""Construction-time checks shared by the device models.

Values are checked when they are concrete (numpy or a concrete JAX array). Under
`jit`/`vmap` tracing the values are unknown, so checks are skipped there: the
concrete objects that entered the traced function were already checked when
they were built. What only compiled code can see (a step beyond the exponential's
range, a traced delay off the sample grid) becomes NaN there (`nan_where`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class DeviceModelError(ValueError):
    """A device model, pulse or schedule was given a value outside its allowed range."""


def nan_where(bad, x):
    """x, or NaN where the traced condition `bad` holds: how compiled simulation code reports a
    value it cannot use (the host wrappers turn NaN results into a DeviceModelError that names
    the cause). A raising check (eqx.error_if) would put a host callback into the compiled
    program, and XLA's persistent compilation cache stores no program that holds one."""
    return jnp.where(bad, jnp.asarray(jnp.nan, dtype=x.dtype), x)


def concrete(value) -> np.ndarray | None:
    """The value as a numpy array, or None when it is a tracer (unknown at trace time)."""
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value)


def _show(arr: np.ndarray) -> str:
    if arr.ndim == 0:
        return repr(arr.item())
    return np.array2string(arr, precision=6, threshold=8)


def check_finite(owner: str, field: str, value) -> None:
    arr = concrete(value)
    if arr is None:
        return
    if not np.all(np.isfinite(arr)):
        raise DeviceModelError(
            f"{owner}.{field} must be finite, but is {_show(arr)} (NaN or inf is not allowed)."
        )


def check_range(owner: str, field: str, value, *, low=None, high=None,
                low_open=False, high_open=False, allowed: str | None = None) -> None:
    """Check low <= value <= high elementwise (strict where *_open)."""
    arr = concrete(value)
    if arr is None:
        return
    check_finite(owner, field, arr)
    ok = np.ones(arr.shape, bool)
    if low is not None:
        ok &= (arr > low) if low_open else (arr >= low)
    if high is not None:
        ok &= (arr < high) if high_open else (arr <= high)
    if not np.all(ok):
        if allowed is None:
            lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
            hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
            allowed = f"{lo}{field}{hi}"
        raise DeviceModelError(f"{owner}.{field} is {_show(arr)}, but must satisfy {allowed}.")
