"""Matrix exponential of many small matrices at once.

`jax.scipy.linalg.expm` spends most of its time on branching and a linear solve that
are costly for thousands of 3x3 or 9x9 matrices. Here: shift by the mean eigenvalue
(trace / d), scale by 2^-s per matrix, a degree-15 Taylor polynomial evaluated with
Paterson-Stockmeyer (6 products), then s squarings. Squarings are masked per matrix
up to a static budget, so shapes stay static and reverse-mode gradients work.
Truncation error of the Taylor step: theta^16 / 16! < 1e-16 for ||A||_1 <= theta.

Generators of trace-preserving dynamics, written in a basis whose first element is
the identity (see devices.liouville), have a zero first row: A = [[0, 0], [b, M]].
Every polynomial in A keeps the form [[alpha, 0], [v, X]], so products need only
X1 X2 and X1 v2: (n-1)^3 + (n-1)^2 multiply-adds instead of n^3 (1.27x fewer for 9x9,
and the 8x8 batched product suits XLA's small-matrix kernels better). That form skips
the mean shift (a Lindbladian's trace is only its decay rates), so alpha stays a number
known at trace time.

Matrices up to 4x4 (a transmon's 2-4 levels, Closed) are computed with the batch last,
(d, d, ...): each entry is then one contiguous array over the batch and every product,
sum and mask a vector loop over it, where the (..., d, d) layout leaves XLA rows of 3.
The same arithmetic (equal to rounding; bit-equal for the benchmark's 3x3): 1000 DRAG
gates' 40 000 3x3 exponentials took 11-13 ms instead of 20-22 ms. Derivatives are taken
through the (..., d, d) layout (a custom JVP): the batch-last reverse mode gained nothing
(one exponential and product: up to ~10 % slower; the benchmark's whole closed+grad gate:
equal within noise). Larger matrices keep the (..., d, d) layout, whose batched dot was
2.5x faster than the batch-last form for the 8x8 blocks of the trace-preserving path, and
are exponentiated a block of CHUNK matrices at a time (see CHUNK).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from devices._validate import nan_where

THETA = 0.68
SMALL = 4  # up to this size: small_matmul's fused broadcast-sum, and the batch-last exponential
_COEFFS = [1.0 / math.factorial(k) for k in range(16)]


def small_matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b over leading batch axes.

    Up to 4x4, a broadcast product summed over the inner axis: XLA fuses it into one
    loop, 8x faster than its batched dot for 3x3, and its transpose (for gradients) is
    a plain reduction. Larger matrices go to the batched dot, which wins there."""
    if a.shape[-1] > SMALL:
        return a @ b
    return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


def _batch_last_eye(d: int, ndim: int, dtype) -> jax.Array:
    return jnp.eye(d, dtype=dtype).reshape((d, d) + (1,) * (ndim - 2))


class _BatchLastAlgebra:
    """Batched small matrices stored (d, d, ...): the batch last, entries first."""

    @staticmethod
    def center(a):
        mean = sum(a[i, i] for i in range(a.shape[0])) / a.shape[0]
        return _BatchLastAlgebra.add_identity(a, -mean), mean

    @staticmethod
    def uncenter(p, mean):
        return jnp.exp(mean) * p

    @staticmethod
    def norm1(a):
        return jnp.max(jnp.sum(jnp.abs(a), axis=0), axis=0)

    @staticmethod
    def add_identity(a, c):
        return a + jnp.asarray(c) * _batch_last_eye(a.shape[0], a.ndim, a.dtype)

    @staticmethod
    def combine(terms):
        return functools.reduce(jnp.add, [jnp.asarray(c) * m for c, m in terms])

    @staticmethod
    def mul(a, b):
        return jnp.sum(a[:, :, None] * b[None, :, :], axis=1)

    @staticmethod
    def identity_where(keep, a):
        return jnp.where(keep, a, _batch_last_eye(a.shape[0], a.ndim, a.dtype))

    @staticmethod
    def poison(a, bad):
        return nan_where(bad, a)


class _Affine(NamedTuple):
    """The matrix [[alpha, 0], [v, x]]: a first row zero but for alpha, which is known
    at trace time (0 for powers of a trace-preserving generator, the Taylor coefficient
    for the polynomial's blocks, 1 from there on), so it costs no array operations."""

    alpha: float
    v: jax.Array  # (..., n - 1)
    x: jax.Array  # (..., n - 1, n - 1)


class _DenseAlgebra:
    """Batched dense matrices (..., d, d), shifted by their mean eigenvalue trace / d."""

    @staticmethod
    def center(a):
        mean = jnp.trace(a, axis1=-2, axis2=-1) / a.shape[-1]
        return _DenseAlgebra.add_identity(a, -mean), mean

    @staticmethod
    def uncenter(p, mean):
        return jnp.exp(mean)[..., None, None] * p

    @staticmethod
    def norm1(a):
        return jnp.max(jnp.sum(jnp.abs(a), axis=-2), axis=-1)

    @staticmethod
    def add_identity(a, c):
        """a + c I, c a number or one per matrix."""
        return a + jnp.asarray(c)[..., None, None] * jnp.eye(a.shape[-1], dtype=a.dtype)

    @staticmethod
    def combine(terms):
        """sum of c * m over (c, m) pairs, c a number or one per matrix."""
        return functools.reduce(jnp.add, [jnp.asarray(c)[..., None, None] * m for c, m in terms])

    @staticmethod
    def mul(a, b):
        return small_matmul(a, b)

    @staticmethod
    def identity_where(keep, a):
        """a where keep, else the identity."""
        return jnp.where(keep[..., None, None], a, jnp.eye(a.shape[-1], dtype=a.dtype))

    @staticmethod
    def poison(a, bad):
        return nan_where(bad[..., None, None], a)


class _AffineAlgebra:
    """Batched matrices [[alpha, 0], [v, x]] as _Affine triples."""

    @staticmethod
    def center(a):
        # no shift: a trace-preserving generator's trace is only its decay rates, tiny next
        # to its norm, and shifting would make alpha an array
        return a, None

    @staticmethod
    def uncenter(p, mean):
        return p

    @staticmethod
    def norm1(a):
        first = abs(a.alpha) + jnp.sum(jnp.abs(a.v), axis=-1)
        return jnp.maximum(first, jnp.max(jnp.sum(jnp.abs(a.x), axis=-2), axis=-1))

    @staticmethod
    def add_identity(a, c: float):
        return _Affine(a.alpha + c, a.v, _DenseAlgebra.add_identity(a.x, c))

    @staticmethod
    def poison(a, bad):
        return _Affine(a.alpha, nan_where(bad[..., None], a.v), nan_where(bad[..., None, None], a.x))

    @staticmethod
    def combine(terms):
        if any(m.alpha != 0.0 for c, m in terms if not isinstance(c, float)):
            raise ValueError("a per-matrix factor would make alpha an array")
        alpha = sum(c * m.alpha for c, m in terms if isinstance(c, float))
        v = functools.reduce(jnp.add, [jnp.asarray(c)[..., None] * m.v for c, m in terms])
        return _Affine(alpha, v, _DenseAlgebra.combine([(c, m.x) for c, m in terms]))

    @staticmethod
    def mul(a, b):
        v = jnp.sum(a.x * b.v[..., None, :], axis=-1)
        if b.alpha != 0.0:
            v = v + b.alpha * a.v
        return _Affine(a.alpha * b.alpha, v, small_matmul(a.x, b.x))

    @staticmethod
    def identity_where(keep, a):
        if a.alpha != 1.0:
            raise ValueError("a masked squaring needs alpha = 1, the identity's")
        return _Affine(1.0, jnp.where(keep[..., None], a.v, 0.0), _DenseAlgebra.identity_where(keep, a.x))


def _taylor_expm(a, alg, max_squarings: int):
    a, mean = alg.center(a)
    norm = alg.norm1(a)
    limit = THETA * 2.0**max_squarings
    # beyond what max_squarings keep exact: NaN, which devices.simulate reports with the cure
    a = alg.poison(a, norm > limit)
    s = jnp.clip(jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-300) / THETA)), 0, max_squarings)
    a = alg.combine([(2.0**-s, a)])
    a2 = alg.mul(a, a)
    a3 = alg.mul(a2, a)
    a4 = alg.mul(a2, a2)
    c = _COEFFS
    blocks = [alg.add_identity(alg.combine([(c[4 * k + 1], a), (c[4 * k + 2], a2), (c[4 * k + 3], a3)]),
                               c[4 * k])
              for k in range(4)]
    p = blocks[3]
    for k in (2, 1, 0):
        p = alg.combine([(1.0, blocks[k]), (1.0, alg.mul(a4, p))])
    for k in range(max_squarings):
        # p @ (p or I), not where(k < s, p @ p, p): XLA fuses this form into the product
        # loop; the other materialised both branches and made the 3x3 exponential 2x slower.
        p = alg.mul(p, alg.identity_where(k < s, p))
    return alg.uncenter(p, mean)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _small_expm(a: jax.Array, max_squarings: int) -> jax.Array:
    p = _taylor_expm(jnp.moveaxis(a, (-2, -1), (0, 1)), _BatchLastAlgebra, max_squarings)
    return jnp.moveaxis(p, (0, 1), (-2, -1))


@_small_expm.defjvp
def _small_expm_jvp(max_squarings: int, primals, tangents):
    # Derivatives go through the (..., d, d) layout, the one the gradient tests have always
    # checked: the batch-last reverse mode was no faster (up to ~10 % slower in isolation).
    return jax.jvp(lambda a: _taylor_expm(a, _DenseAlgebra, max_squarings), primals, tangents)


def expm(a: jax.Array, *, max_squarings: int, trace_preserving: bool = False) -> jax.Array:
    """exp(a) for a batch (..., d, d); a step whose shifted 1-norm exceeds
    THETA * 2**max_squarings gives NaN rather than a result that lost accuracy.

    trace_preserving: a's first row is zero (a trace-preserving generator in a basis led
    by the identity, devices.liouville.to_trace_basis); that row is then not read, and
    exp(a)'s first row is exactly (1, 0, ..., 0)."""
    if not trace_preserving and a.shape[-1] <= SMALL:
        return _small_expm(a, max_squarings)
    return _chunked_expm(a, max_squarings, trace_preserving)


# Matrices over SMALL go through XLA's batched dot, which slows down as the batch grows (on a
# 2-core CPU, 80x80 float64: ~35 Gflop/s for 8 matrices, 10 for 4000), so they are exponentiated
# CHUNK at a time, one step of a loop over the whole batch, enclosing vmaps included: every
# product and sum then works on a cache-sized block. The 4000 81x81 steps of 20 CR gates (open)
# took 1.05 s instead of 3.35 s, 40 000 9x9 steps 55 ms instead of 124 ms (trace-preserving)
# and 345-380 ms instead of 600 ms (complex), each as one batch. Callers that already work in
# blocks (the benchmark's DRAG gates 100 at a time, sweeps of a few thousand steps) are equal
# within noise. Same arithmetic, so the same values.
CHUNK = 16


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _chunked_expm(a: jax.Array, max_squarings: int, trace_preserving: bool) -> jax.Array:
    return _in_chunks(max_squarings, trace_preserving)(a)


@_chunked_expm.defjvp
def _chunked_expm_jvp(max_squarings: int, trace_preserving: bool, primals, tangents):
    # Derivatives (gradients, the likelihood's forward-mode Jacobians) take the whole batch at once,
    # as before: a loop's tangents would be vmapped along with it, and a custom vmap rule cannot be
    # transposed for reverse mode.
    return jax.jvp(lambda a: _batch_expm(a, max_squarings, trace_preserving), primals, tangents)


@functools.lru_cache(maxsize=None)
def _in_chunks(max_squarings: int, trace_preserving: bool):
    """exp of a batch of any leading shape, CHUNK matrices per loop step. Under vmap the mapped
    axes join the batch (a custom batching rule), rather than each step's block growing by them."""
    @jax.custom_batching.custom_vmap
    def exponentiate(a):
        n = math.prod(a.shape[:-2])
        if n <= CHUNK:
            return _batch_expm(a, max_squarings, trace_preserving)
        flat = a.reshape((n,) + a.shape[-2:])
        # zero matrices fill the last block: their exponential is the identity, never NaN
        flat = jnp.concatenate([flat, jnp.zeros(((-n) % CHUNK,) + a.shape[-2:], a.dtype)])
        blocks = jax.lax.map(lambda block: _batch_expm(block, max_squarings, trace_preserving),
                             flat.reshape((-1, CHUNK) + a.shape[-2:]))
        return blocks.reshape((-1,) + a.shape[-2:])[:n].reshape(a.shape)

    @exponentiate.def_vmap
    def _batched(axis_size, in_batched, a):
        return exponentiate(a), in_batched[0]

    return exponentiate


def _batch_expm(a: jax.Array, max_squarings: int, trace_preserving: bool) -> jax.Array:
    """exp(a) of a batch (..., d, d) at once, in the (..., d, d) layout."""
    if not trace_preserving:
        return _taylor_expm(a, _DenseAlgebra, max_squarings)
    p = _taylor_expm(_Affine(0.0, a[..., 1:, 0], a[..., 1:, 1:]), _AffineAlgebra, max_squarings)
    top = jnp.concatenate([jnp.ones_like(p.v[..., :1]), jnp.zeros_like(p.v)], axis=-1)
    bottom = jnp.concatenate([p.v[..., :, None], p.x], axis=-1)
    return jnp.concatenate([top[..., None, :], bottom], axis=-2)
