"""Gradients through the simulator against central finite differences (float64).

The gate is an X (pi) DRAG pulse on a 3-level transmon, scored on the qubit subspace:
closed, F = |Tr(X^dag P U P)|^2 / 4; open, the process fidelity
Re Tr(S_X^dag P S P) / 4 of the column-stacking superoperator. Parameters: the DRAG
amplitude and beta and the carrier frequency (Schedule.frequencies).

Step size h = 1e-6 (in ns, GHz or amplitude units; the fidelity varies on scales of
~0.05 GHz and ~0.1 amplitude): truncation ~h^2 |f'''| / 6 < 1e-9 and rounding
~1e-16 / h = 1e-10, so gradients of size >= 1e-2 agree to ~1e-8 relative; checked at
1e-6 relative.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import Chip, Constant, Delay, Drag, Open, Play, Schedule, Transmon, evolve, propagator

DT = 0.5
RTOL = 1e-6
X = np.array([[0, 1], [1, 0]], complex)

CHIP = Chip([Transmon(frequency=5.0, anharmonicity=-0.3, drive_scale=0.05, t1=2e4, t2=1.5e4)])
# Not at the optimum (a pi pulse needs amplitude ~0.93 here; 0.5 turns by ~0.54 pi), with
# a detuned carrier, so that no gradient component vanishes.
THETA = np.array([0.5, 0.3, 5.0 - 0.004])  # amp, beta [ns], carrier [GHz]


def _schedule(theta):
    amp, beta, carrier = theta[0], theta[1], theta[2]
    return Schedule([Play(0, Drag(20.0, amp, 5.0, beta=beta))], frequencies=jnp.stack([carrier]))


def _subspace_indices(n_levels: int, n_qubits: int) -> np.ndarray:
    grids = np.meshgrid(*([np.arange(2)] * n_qubits), indexing="ij")
    return sum(g.reshape(-1) * n_levels ** (n_qubits - 1 - q) for q, g in enumerate(grids))


def gate_fidelity(u, target, n_levels, n_qubits):
    idx = _subspace_indices(n_levels, n_qubits)
    sub = u[jnp.ix_(idx, idx)]
    return jnp.abs(jnp.trace(target.conj().T @ sub)) ** 2 / target.shape[0] ** 2


def process_fidelity(superop, target, n_levels, n_qubits):
    d = n_levels**n_qubits
    idx = _subspace_indices(n_levels, n_qubits)
    # column stacking: vec(rho)[i + d j] = rho[i, j], and vec(X rho X^dag) = (conj(X) kron X) vec(rho)
    vec_idx = (idx[None, :] * d + idx[:, None]).reshape(-1, order="F")
    sub = superop[jnp.ix_(vec_idx, vec_idx)]
    target_superop = jnp.kron(target.conj(), target)
    # = |Tr(X^dag U)|^2 / d^2 for a unitary channel, as gate_fidelity
    return jnp.real(jnp.trace(target_superop.conj().T @ sub)) / target.shape[0] ** 2


def closed_fidelity(theta):
    return gate_fidelity(propagator(CHIP, _schedule(theta), dt=DT), X, 3, 1)


def open_fidelity(theta):
    return process_fidelity(propagator(CHIP, _schedule(theta), dt=DT, dynamics=Open()), X, 3, 1)


_compiled = {}


def value_and_grad(f):
    """jit(value_and_grad(f)), compiled once per f and shared by the tests (and by the
    finite differences, which use its value): compilation dominates the cost here."""
    if f not in _compiled:
        _compiled[f] = jax.jit(jax.value_and_grad(f))
    return _compiled[f]


def central_differences(f, theta, h):
    theta = np.asarray(theta, float)
    h = np.broadcast_to(h, theta.shape)
    out = []
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h[i]
        plus, _ = value_and_grad(f)(theta + step)
        minus, _ = value_and_grad(f)(theta - step)
        out.append((float(plus) - float(minus)) / (2 * h[i]))
    return np.array(out)


@pytest.mark.parametrize("fidelity", [closed_fidelity, open_fidelity], ids=["closed", "open"])
def test_gradient_matches_finite_differences(fidelity):
    value, grad = value_and_grad(fidelity)(jnp.asarray(THETA))
    assert 0.5 < float(value) < 0.99  # a meaningful operating point: neither trivial nor optimal
    fd = central_differences(fidelity, THETA, 1e-6)
    assert np.all(np.abs(fd) > 1e-2), fd  # relative comparison is meaningful
    np.testing.assert_allclose(grad, fd, rtol=RTOL)


def test_open_fidelity_is_below_closed_fidelity():
    # T1, T2 only remove fidelity; a sanity check that both scores measure the same gate.
    closed, open_ = (float(value_and_grad(f)(jnp.asarray(THETA))[0]) for f in (closed_fidelity, open_fidelity))
    assert 0 < closed - open_ < 20 / 1.5e4  # the loss is of order duration / T2


@pytest.mark.parametrize("fidelity", [closed_fidelity, open_fidelity], ids=["closed", "open"])
def test_forward_mode_equals_reverse_mode(fidelity):
    forward = np.asarray(jax.jit(jax.jacfwd(fidelity))(jnp.asarray(THETA)))
    _, reverse = value_and_grad(fidelity)(jnp.asarray(THETA))
    # The same derivative by two routes: they differ by rounding only.
    np.testing.assert_allclose(forward, reverse, rtol=1e-10)
    np.testing.assert_allclose(forward, central_differences(fidelity, THETA, 1e-6), rtol=RTOL)


# Two coupled transmons with crosstalk: the carriers enter through the rotating phases of
# the coupling and of the crosstalk, integrated with fourth-order Magnus substeps.
PAIR = Chip(
    [Transmon(frequency=5.0, anharmonicity=-0.3, drive_scale=0.05, t1=2e4, t2=1.5e4),
     Transmon(frequency=4.75, anharmonicity=-0.32, drive_scale=0.045, t1=3e4, t2=2e4)],
    couplings=[[0.0, 0.006], [0.006, 0.0]],
    crosstalk=[[1.0, 0.08 + 0.03j], [0.05j, 1.0]],
)
PAIR_THETA = np.array([0.5, 0.3, 5.0 - 0.003, 4.75 + 0.002])  # amp, beta, carrier 0, carrier 1


def pair_fidelity(theta):
    schedule = Schedule(
        [Play(0, Drag(20.0, theta[0], 5.0, beta=theta[1])), Play(1, Constant(10.0, 0.05))],
        frequencies=theta[2:],
    )
    return gate_fidelity(propagator(PAIR, schedule, dt=DT), np.kron(X, np.eye(2)), 3, 2)


def test_two_transmon_gradient_matches_finite_differences():
    _, grad = value_and_grad(pair_fidelity)(jnp.asarray(PAIR_THETA))
    fd = central_differences(pair_fidelity, PAIR_THETA, 1e-6)
    assert np.all(np.abs(fd) > 1e-3), fd
    np.testing.assert_allclose(grad, fd, rtol=RTOL)


def ramsey_population(device):
    """P1 after pi/2 - 300 ns idle - pi/2, open: depends on f01 (fringe), T1 and T2."""
    f01, t1, t2 = device[0], device[1], device[2]
    chip = Chip([Transmon(frequency=f01, anharmonicity=-0.3, drive_scale=0.05, t1=t1, t2=t2)])
    pulse = Drag(10.0, 0.5, 2.5)  # about a pi/2 pulse
    schedule = Schedule([Play(0, pulse), Delay(0, 300.0), Play(0, pulse)], frequencies=[5.0])
    rho = evolve(chip, schedule, dt=DT, dynamics=Open())
    return jnp.real(rho[1, 1])


def test_gradient_through_idle_period_wrt_device_parameters():
    """Model learning differentiates measured signals w.r.t. the device: through the
    exact idle propagator (binary powering) and the Lindblad terms."""
    device = np.array([5.0007, 2e4, 1.2e4])
    _, grad = value_and_grad(ramsey_population)(jnp.asarray(device))
    # Steps: 1e-7 GHz on f01 (the fringe turns at 2 pi * 300 rad/GHz), 1 ns on T1, T2
    # (~1e-4 relative; P1 is smooth on the scale of T itself, so truncation ~1e-8).
    fd = central_differences(ramsey_population, device, np.array([1e-7, 1.0, 1.0]))
    assert np.all(np.abs(fd * device) > 1e-3), fd
    np.testing.assert_allclose(grad, fd, rtol=RTOL)
