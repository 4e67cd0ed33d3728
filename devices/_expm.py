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
and the 8x8 batched product suits XLA's small-matrix kernels better).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

THETA = 0.68
_COEFFS = [1.0 / math.factorial(k) for k in range(16)]


def small_matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b over leading batch axes.

    Up to 4x4, a broadcast product summed over the inner axis: XLA fuses it into one
    loop, 8x faster than its batched dot for 3x3, and its transpose (for gradients) is
    a plain reduction. Larger matrices go to the batched dot, which wins there."""
    if a.shape[-1] > 4:
        return a @ b
    return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


class _Affine(NamedTuple):
    """The matrix [[alpha, 0], [v, x]] (first row zero but for its first entry)."""

    alpha: jax.Array  # (...,)
    v: jax.Array      # (..., n - 1)
    x: jax.Array      # (..., n - 1, n - 1)


class _DenseAlgebra:
    """Batched dense matrices (..., d, d)."""

    @staticmethod
    def dim(a):
        return a.shape[-1]

    @staticmethod
    def trace(a):
        return jnp.trace(a, axis1=-2, axis2=-1)

    @staticmethod
    def norm1(a):
        return jnp.max(jnp.sum(jnp.abs(a), axis=-2), axis=-1)

    @staticmethod
    def add_identity(a, c):
        """a + c I, c a number or one per matrix."""
        return a + jnp.asarray(c)[..., None, None] * jnp.eye(a.shape[-1], dtype=a.dtype)

    @staticmethod
    def scale(a, c):
        return c[..., None, None] * a

    @staticmethod
    def mul(a, b):
        return small_matmul(a, b)

    @staticmethod
    def identity_where(keep, a):
        """a where keep, else the identity."""
        return jnp.where(keep[..., None, None], a, jnp.eye(a.shape[-1], dtype=a.dtype))


class _AffineAlgebra:
    """Batched matrices [[alpha, 0], [v, x]] as _Affine triples."""

    @staticmethod
    def dim(a):
        return a.x.shape[-1] + 1

    @staticmethod
    def trace(a):
        return a.alpha + jnp.trace(a.x, axis1=-2, axis2=-1)

    @staticmethod
    def norm1(a):
        first = jnp.abs(a.alpha) + jnp.sum(jnp.abs(a.v), axis=-1)
        return jnp.maximum(first, jnp.max(jnp.sum(jnp.abs(a.x), axis=-2), axis=-1))

    @staticmethod
    def add_identity(a, c):
        return _Affine(a.alpha + c, a.v, _DenseAlgebra.add_identity(a.x, c))

    @staticmethod
    def scale(a, c):
        return _Affine(c * a.alpha, c[..., None] * a.v, c[..., None, None] * a.x)

    @staticmethod
    def mul(a, b):
        v = a.v * b.alpha[..., None] + jnp.sum(a.x * b.v[..., None, :], axis=-1)
        return _Affine(a.alpha * b.alpha, v, small_matmul(a.x, b.x))

    @staticmethod
    def identity_where(keep, a):
        return _Affine(jnp.where(keep, a.alpha, 1.0), jnp.where(keep[..., None], a.v, 0.0),
                       _DenseAlgebra.identity_where(keep, a.x))


def _combine(terms):
    """sum c * m over (c, m) pairs of matrices in one algebra (c a Python float)."""
    coeffs = [t[0] for t in terms]
    return jax.tree.map(lambda *xs: functools.reduce(jnp.add, [c * x for c, x in zip(coeffs, xs)]),
                        *[t[1] for t in terms])


def _taylor_expm(a, alg, max_squarings: int):
    d = alg.dim(a)
    mean = alg.trace(a) / d
    a = alg.add_identity(a, -mean)
    norm = alg.norm1(a)
    limit = THETA * 2.0**max_squarings
    a = eqx.error_if(
        a, jnp.any(norm > limit),
        f"A propagation step's generator has 1-norm above {limit:.3g}, beyond what "
        f"{max_squarings} squarings keep exact: use more substeps (ExactSteps(substeps=...), which "
        "also divide idle periods) or a larger ExactSteps(max_squarings=...).",
    )
    s = jnp.clip(jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-300) / THETA)), 0, max_squarings)
    a = alg.scale(a, 2.0**-s)
    a2 = alg.mul(a, a)
    a3 = alg.mul(a2, a)
    a4 = alg.mul(a2, a2)
    c = _COEFFS
    blocks = [alg.add_identity(_combine([(c[4 * k + 1], a), (c[4 * k + 2], a2), (c[4 * k + 3], a3)]),
                               c[4 * k])
              for k in range(4)]
    p = blocks[3]
    for k in (2, 1, 0):
        p = jax.tree.map(jnp.add, blocks[k], alg.mul(a4, p))
    for k in range(max_squarings):
        # p @ (p or I), not where(k < s, p @ p, p): XLA fuses this form into the product
        # loop; the other materialised both branches and made the 3x3 exponential 2x slower.
        p = alg.mul(p, alg.identity_where(k < s, p))
    return alg.scale(p, jnp.exp(mean))


def expm(a: jax.Array, *, max_squarings: int, trace_preserving: bool = False) -> jax.Array:
    """exp(a) for a batch (..., d, d); a step whose shifted 1-norm exceeds
    THETA * 2**max_squarings raises (under jit too) rather than losing accuracy.

    trace_preserving: a's first row is zero (a trace-preserving generator in a basis led
    by the identity, devices.liouville.to_trace_basis); that row is then not read."""
    if not trace_preserving:
        return _taylor_expm(a, _DenseAlgebra, max_squarings)
    p = _taylor_expm(_Affine(a[..., 0, 0], a[..., 1:, 0], a[..., 1:, 1:]), _AffineAlgebra,
                     max_squarings)
    top = jnp.concatenate([p.alpha[..., None], jnp.zeros_like(p.v)], axis=-1)
    bottom = jnp.concatenate([p.v[..., :, None], p.x], axis=-1)
    return jnp.concatenate([top[..., None, :], bottom], axis=-2)
