"""Lindblad dynamics as a real matrix.

A Lindbladian maps Hermitian matrices to Hermitian matrices, so in an orthonormal
basis of Hermitian matrices {B_j} (Tr B_i B_j = delta_ij) it is a real d^2 x d^2
matrix R_ij = Tr(B_i L(B_j)). Real products cost a quarter of complex ones, which is
most of the cost of open-system propagation. `to_column_stacking` converts a real
propagator back to the column-stacking superoperator the public API returns.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


@functools.lru_cache(maxsize=None)
def hermitian_basis_change(d: int) -> np.ndarray:
    """T with columns vec_F(B_j): unitary d^2 x d^2 map from real coordinates to vec(rho)."""
    basis = []
    for i in range(d):
        m = np.zeros((d, d), complex)
        m[i, i] = 1.0
        basis.append(m)
    for i in range(d):
        for j in range(i + 1, d):
            sym = np.zeros((d, d), complex)
            sym[i, j] = sym[j, i] = 1 / np.sqrt(2)
            anti = np.zeros((d, d), complex)
            anti[i, j], anti[j, i] = -1j / np.sqrt(2), 1j / np.sqrt(2)
            basis += [sym, anti]
    t = np.stack([b.reshape(-1, order="F") for b in basis], axis=1)
    t.setflags(write=False)
    return t


@functools.lru_cache(maxsize=None)
def _trace_basis_change(n: int) -> np.ndarray:
    """Orthogonal Q (n = d^2): the Helmert matrix on the diagonal coordinates E_ii, whose
    first row makes I / sqrt(d) the first new basis element; the identity elsewhere."""
    import scipy.linalg  # here: ~0.25 s to import, which commands that simulate nothing need not pay

    d = int(round(np.sqrt(n)))
    q = np.eye(n)
    q[:d, :d] = scipy.linalg.helmert(d, full=True)
    q.setflags(write=False)
    return q


def to_trace_basis(a: jax.Array) -> jax.Array:
    """Real superoperators (..., d^2, d^2) in the basis led by I / sqrt(d) instead of the
    E_ii: there a trace-preserving generator's first row is zero, which the matrix
    exponential exploits. For a pulse's steps only: the change leaves ~1e-17 in entries
    that are exactly zero in the E_ii basis, which an idle period's 2^k-fold powers
    would amplify into visible errors on small populations. Applied once per pulse (to
    the generator's constant parts and to the product), so two full products are cheap."""
    q = jnp.asarray(_trace_basis_change(a.shape[-1]))
    return q @ a @ q.T


def from_trace_basis(a: jax.Array) -> jax.Array:
    """Inverse of to_trace_basis."""
    q = jnp.asarray(_trace_basis_change(a.shape[-1]))
    return q.T @ a @ q


def _commutator_superop(h: np.ndarray) -> np.ndarray:
    """Column-stacking superoperator of X -> -i 2 pi [h, X]."""
    eye = np.eye(h.shape[-1])
    return -2j * np.pi * (np.kron(eye, h) - np.kron(h.T, eye))


def real_form(superop, d: int):
    """Real coordinates T^dag S T of a Hermiticity-preserving superoperator S."""
    t = hermitian_basis_change(d)
    return jnp.real(jnp.asarray(t.conj().T) @ superop @ jnp.asarray(t))


@functools.lru_cache(maxsize=None)
def real_control_generators(control_ops_key: tuple[int, int], ops_bytes: bytes, trace_basis: bool = False) -> np.ndarray:
    ops = np.frombuffer(ops_bytes, dtype=complex).reshape(-1, *control_ops_key)
    d = control_ops_key[0]
    t = hermitian_basis_change(d)
    out = np.stack([np.real(t.conj().T @ _commutator_superop(o) @ t) for o in ops])
    if trace_basis:
        q = _trace_basis_change(out.shape[-1])
        out = q @ out @ q.T
    out.setflags(write=False)
    return out


def control_generators(ops: np.ndarray, trace_basis: bool = False) -> np.ndarray:
    """Real generators of X -> -i 2 pi [O_k, X] for each control operator O_k (cached), in
    the trace basis if `trace_basis`. Computed here in numpy, not under jit: XLA would
    constant-fold the basis change in its slow evaluator (seconds per compile for a pair)."""
    ops = np.ascontiguousarray(ops)
    return real_control_generators(ops.shape[1:], ops.tobytes(), trace_basis)


def static_generator(h_static: jax.Array, collapse: jax.Array) -> jax.Array:
    """Real generator of -i 2 pi [H, .] plus the dissipators of `collapse`."""
    d = h_static.shape[-1]
    eye = jnp.eye(d, dtype=jnp.complex128)
    sup = -2j * jnp.pi * (jnp.kron(eye, h_static) - jnp.kron(h_static.T, eye))
    for k in range(collapse.shape[0]):
        op = collapse[k]
        ldl = op.conj().T @ op
        sup = sup + jnp.kron(op.conj(), op) - 0.5 * jnp.kron(eye, ldl) - 0.5 * jnp.kron(ldl.T, eye)
    return real_form(sup, d)


def to_column_stacking(real_propagator: jax.Array, d: int) -> jax.Array:
    t = jnp.asarray(hermitian_basis_change(d))
    return t @ real_propagator.astype(jnp.complex128) @ t.conj().T
