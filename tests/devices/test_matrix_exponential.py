"""The batched matrix exponential behind ExactSteps against scipy, dense and in the
trace-preserving form the open-system pulses use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from devices import Chip, Transmon, _expm, hamiltonian, liouville


def _lindbladian(rng, d=3):
    """A random real Lindbladian (liouville's E_ii basis): Hamiltonian plus two jump operators."""
    h = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    jumps = 0.3 * (rng.normal(size=(2, d, d)) + 1j * rng.normal(size=(2, d, d)))
    return np.asarray(liouville.static_generator(jnp.asarray(0.05 * (h + h.conj().T)), jnp.asarray(jumps)))


def test_dense_exponential_matches_scipy_at_every_squaring_count():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 3, 3)) + 1j * rng.normal(size=(40, 3, 3))
    a *= np.geomspace(0.05, 4.0, 40)[:, None, None] / np.abs(a).sum(axis=-2).max(axis=-1)[:, None, None]
    got = np.asarray(_expm.expm(jnp.asarray(a), max_squarings=3))
    want = np.stack([scipy.linalg.expm(m) for m in a])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * np.abs(want).max())


@pytest.mark.parametrize("d", [2, 3, 4])
def test_small_matrices_computed_batch_last_equal_the_usual_layout_with_their_derivatives(d):
    """Up to 4x4 the exponential runs with the batch last (speed only): values and tangents must
    equal the (..., d, d) layout's to rounding (XLA may sum a 4x4 product's terms in another
    order), in a batch of two axes and under vmap."""
    rng = np.random.default_rng(6)
    a = rng.normal(size=(5, 7, d, d)) + 1j * rng.normal(size=(5, 7, d, d))
    a *= np.geomspace(0.05, 4.0, 7)[:, None, None] / np.abs(a).sum(axis=-2).max(axis=-1)[..., None, None]
    da = jnp.asarray(rng.normal(size=a.shape) + 1j * rng.normal(size=a.shape))
    a = jnp.asarray(a)

    def usual(m):
        return _expm._taylor_expm(m, _expm._DenseAlgebra, 3)

    def batch_last(m):
        return _expm.expm(m, max_squarings=3)

    def same(got, want):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-14 * np.abs(want).max())

    same(jax.jit(batch_last)(a), jax.jit(usual)(a))
    same(jax.vmap(batch_last)(a), jax.vmap(usual)(a))
    for got, want in zip(jax.jvp(batch_last, (a,), (da,)), jax.jvp(usual, (a,), (da,))):
        same(got, want)
    # the batch-last form (moved axes, its own derivative rule) is the one expm takes; the usual has neither
    for marker in ("transpose", "custom_jvp_call"):
        assert marker in str(jax.make_jaxpr(batch_last)(a)) and marker not in str(jax.make_jaxpr(usual)(a))


@pytest.mark.parametrize("trace_preserving", [False, True])
def test_larger_matrices_computed_chunk_by_chunk_equal_the_whole_batch_with_their_derivatives(trace_preserving):
    """Over 4x4 the exponential runs CHUNK matrices at a time over the whole batch, enclosing vmaps
    included (speed only): values must equal the whole batch's at once to rounding, for a batch that
    does not fill its last chunk, under one and two vmaps; a step beyond the squarings stays NaN
    alone; tangents take the whole batch, as before."""
    rng = np.random.default_rng(8)
    shape = (3, 2, 2 * _expm.CHUNK + 5, 9, 9)  # vmapped, vmapped, the batch expm sees
    if trace_preserving:
        a = np.stack([liouville.to_trace_basis(jnp.asarray(_lindbladian(rng))) for _ in range(np.prod(shape[:-2]))])
        a = np.asarray(a).reshape(shape)
    else:
        a = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    a *= np.geomspace(0.05, 4.0, shape[2])[:, None, None] / np.abs(a).sum(axis=-2).max(axis=-1)[..., None, None]
    a[1, 0, 4] *= 1e3  # beyond THETA * 2**3: NaN, and only there
    da = rng.normal(size=shape) if trace_preserving else rng.normal(size=shape) + 1j * rng.normal(size=shape)
    a, da = jnp.asarray(a), jnp.asarray(da)

    def chunked(m):
        return _expm.expm(m, max_squarings=3, trace_preserving=trace_preserving)

    def whole(m):
        return _expm._batch_expm(m, 3, trace_preserving)

    def same(got, want):
        got, want = np.asarray(got), np.asarray(want)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-14 * np.nanmax(np.abs(want)))

    want = jax.jit(whole)(a)
    nan_steps = np.isnan(np.asarray(want)).any(axis=(-2, -1))
    assert nan_steps.sum() == 1 and nan_steps[1, 0, 4]
    same(jax.jit(chunked)(a), want)
    same(jax.jit(jax.vmap(chunked))(a), want)
    same(jax.jit(jax.vmap(jax.vmap(chunked)))(a), want)
    ok = ~nan_steps
    for got, want in zip(jax.jvp(chunked, (a[ok],), (da[ok],)), jax.jvp(whole, (a[ok],), (da[ok],))):
        same(got, want)
    # the chunked form (a loop over blocks, its own derivative rule) is the one expm takes
    for marker in ("scan", "custom_jvp_call"):
        assert marker in str(jax.make_jaxpr(chunked)(a)) and marker not in str(jax.make_jaxpr(whole)(a))


def test_trace_basis_puts_lindbladian_first_row_to_zero_and_round_trips():
    gen = _lindbladian(np.random.default_rng(4))
    moved = np.asarray(liouville.to_trace_basis(jnp.asarray(gen)))
    assert np.abs(moved[0]).max() < 1e-14 * np.abs(gen).max()
    assert np.abs(gen[0]).max() > 1e-3  # in the E_ii basis it is not
    back = np.asarray(liouville.from_trace_basis(jnp.asarray(moved)))
    np.testing.assert_allclose(back, gen, rtol=0, atol=1e-14 * np.abs(gen).max())


@pytest.mark.slow
def test_trace_preserving_exponential_and_gradient_match_dense():
    rng = np.random.default_rng(5)
    gens = np.stack([liouville.to_trace_basis(jnp.asarray(_lindbladian(rng))) for _ in range(12)])
    gens *= np.geomspace(0.1, 4.0, 12)[:, None, None] / np.abs(gens).sum(axis=-2).max(axis=-1)[:, None, None]
    gens[:, 0, :] = 0.0  # the rounding-level first row the fast form does not read
    got = np.asarray(_expm.expm(jnp.asarray(gens), max_squarings=3, trace_preserving=True))
    want = np.stack([scipy.linalg.expm(m) for m in gens])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * np.abs(want).max())

    weights = jnp.asarray(rng.normal(size=gens.shape))

    def loss(g, fast):
        return jnp.sum(weights * _expm.expm(g, max_squarings=3, trace_preserving=fast))

    fast, dense = (np.asarray(jax.grad(loss)(jnp.asarray(gens), f)) for f in (True, False))
    # the fast form never reads the first row, so its gradient there is zero
    assert np.all(fast[:, 0, :] == 0.0)
    np.testing.assert_allclose(fast[:, 1:], dense[:, 1:], rtol=0, atol=1e-12 * np.abs(dense).max())


def test_open_pulse_steps_in_trace_basis_agree_with_the_plain_exponential():
    chip = Chip([Transmon(frequency=5.0, anharmonicity=-0.3, drive_scale=0.1, t1=20.0, t2=15.0)])
    h = hamiltonian.static_hamiltonian(chip, jnp.array([5.01]))
    gen = liouville.static_generator(h, hamiltonian.collapse_operators(chip)) * 0.5
    plain = _expm.expm(gen, max_squarings=3)
    fast = liouville.from_trace_basis(
        _expm.expm(liouville.to_trace_basis(gen), max_squarings=3, trace_preserving=True))
    np.testing.assert_allclose(np.asarray(fast), np.asarray(plain), rtol=0, atol=1e-14)
