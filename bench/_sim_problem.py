"""The problem bench/simulation.py times, and its exact reference (numpy and scipy only).

One DRAG X gate on one 3-level transmon, rotating frame of the drive, piecewise constant
over each AWG sample; every solver gets its matrices from devices.hamiltonian through
`model`, so all integrate the identical model.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

import devices  # noqa: F401  (turns on x64 before jax.numpy is used)
import jax
import jax.numpy as jnp
from devices import Chip, Drag, Play, Schedule, Transmon, hamiltonian

F01, ALPHA, DRIVE_SCALE = 5.0, -0.3, 0.1          # GHz
T1, T2 = 60_000.0, 40_000.0                         # ns
DURATION, SIGMA, DT = 20.0, 5.0, 0.5                # ns
N_SAMPLES = 40
EDGES = np.arange(N_SAMPLES + 1) * DT


def gate(p):
    """Chip and schedule of one DRAG gate, p = (amp, beta, detuning of the drive)."""
    transmon = Transmon(frequency=F01, anharmonicity=ALPHA, drive_scale=DRIVE_SCALE, t1=T1, t2=T2)
    pulse = Drag(DURATION, p[0], SIGMA, beta=p[1])
    return Chip([transmon]), Schedule([Play(0, pulse)], frequencies=jnp.stack([F01 + p[2]]))


def model(p):
    """(H_static (3, 3), coefficients c_k (2, N_SAMPLES)) of one gate, from devices.hamiltonian."""
    chip, schedule = gate(p)
    t = (jnp.arange(N_SAMPLES) + 0.5) * DT
    return (hamiltonian.static_hamiltonian(chip, schedule.frequencies),
            hamiltonian.control_coefficients(chip, schedule.frequencies, schedule.render(DT), t))


CHIP0, _ = gate(jnp.array([0.0, 0.0, 0.0]))
OPS = np.asarray(hamiltonian.control_operators(1, 3))                 # (2, 3, 3)
COLLAPSE = np.asarray(hamiltonian.collapse_operators(CHIP0))          # (2, 3, 3)
H0_RESONANT = np.asarray(hamiltonian.static_hamiltonian(CHIP0, jnp.array([F01])))
_A = hamiltonian.ladder_operators(1, 3)[0]
NUMBER = np.asarray(_A.conj().T @ _A)
NOMINAL_AMP = 0.5 / (DRIVE_SCALE * DT * float(jnp.sum(Drag(DURATION, 1.0, SIGMA).samples(DT).real)))

batch_model = jax.jit(jax.vmap(model))
batch_model_jac = jax.jit(jax.vmap(jax.jacfwd(model)))


def sample_params(n, seed):
    """(n, 3) gate parameters: amplitude (pi amplitude +-10 %), beta (+-1 ns), detuning (+-5 MHz)."""
    rng = np.random.default_rng(seed)
    return np.stack([NOMINAL_AMP * rng.uniform(0.9, 1.1, n), rng.uniform(-1.0, 1.0, n),
                     rng.uniform(-5e-3, 5e-3, n)], axis=1)


# --- figure of merit (numpy and jax alike) -------------------------------------------------
_SX = np.kron(np.array([[0, 1], [1, 0]]).conj(), np.array([[0, 1], [1, 0]])).astype(complex)
_QUBIT_VEC = np.array([0, 1, 3, 4])  # column-stacking indices of |i><j|, i, j in {0, 1}


def fidelity(prop, xp):
    """Average gate fidelity against X on the qubit subspace (leakage counts as loss):
    (Tr M^dag M + |Tr X M|^2) / 6 for a unitary with qubit block M; for a superoperator S
    the same quantity, (2 F_e + Tr P E(I/2) P) / 3 with F_e = Re Tr(S_X^dag S_qubit) / 4.
    Linear in S, so it is also the derivative map for open dynamics."""
    if prop.shape[-1] == 3:
        m = prop[..., :2, :2]
        tr = m[..., 0, 1] + m[..., 1, 0]
        return (xp.sum(xp.abs(m) ** 2, axis=(-2, -1)) + xp.abs(tr) ** 2) / 6
    sub = prop[..., _QUBIT_VEC[:, None], _QUBIT_VEC[None, :]]
    fe = xp.real(xp.sum(_SX.conj() * sub, axis=(-2, -1))) / 4
    kept = xp.real(prop[..., 0, 0] + prop[..., 0, 4] + prop[..., 4, 0] + prop[..., 4, 4]) / 2
    return (2 * fe + kept) / 3


def infidelity(prop, xp=jnp):
    return 1.0 - fidelity(prop, xp)


# --- exact reference: numpy, scipy.linalg.expm per sample -----------------------------------
def _commutator(h):
    eye = np.eye(h.shape[-1])
    return -2j * np.pi * (np.kron(eye, h) - np.kron(h.T, eye))


def _lindbladian(h):
    eye = np.eye(h.shape[-1])
    out = _commutator(h)
    for c in COLLAPSE:
        cdc = c.conj().T @ c
        out = out + np.kron(c.conj(), c) - 0.5 * np.kron(eye, cdc) - 0.5 * np.kron(cdc.T, eye)
    return out


def reference(params, open_, grad):
    """Exact propagators (and d L / d params) of the gates in `params`, numpy/scipy only:
    the ordered product of scipy.linalg.expm per sample, gradients by the chain rule through
    scipy.linalg.expm_frechet per sample."""
    hs, cs = map(np.asarray, batch_model(jnp.asarray(params)))
    if grad:
        dhs, dcs = map(np.asarray, batch_model_jac(jnp.asarray(params)))
    props, grads = [], []
    for g in range(len(params)):
        hams = hs[g] + np.einsum("kt,kij->tij", cs[g], OPS)
        gens = [(_lindbladian(h) if open_ else -2j * np.pi * h) * DT for h in hams]
        steps = [scipy.linalg.expm(a) for a in gens]
        prefix = [np.eye(steps[0].shape[0], dtype=complex)]
        for e in steps:
            prefix.append(e @ prefix[-1])
        total = prefix[-1]
        props.append(total)
        if not grad:
            continue
        suffix = [np.eye(total.shape[0], dtype=complex)]
        for e in reversed(steps):
            suffix.append(suffix[-1] @ e)
        suffix = suffix[::-1]  # suffix[j] = E_{N-1} ... E_j
        dprops = []
        for m in range(3):
            dhams = dhs[g, ..., m] + np.einsum("kt,kij->tij", dcs[g, ..., m], OPS)
            dtotal = np.zeros_like(total)
            for j, dh in enumerate(dhams):
                da = (_commutator(dh) if open_ else -2j * np.pi * dh) * DT
                de = scipy.linalg.expm_frechet(gens[j], da, compute_expm=False)
                dtotal += suffix[j + 1] @ de @ prefix[j]
            dprops.append(dtotal)
        if open_:
            grads.append([-fidelity(d, np) for d in dprops])
        else:
            m_ = total[:2, :2]
            tr = m_[0, 1] + m_[1, 0]
            grads.append([-(2 * np.real(np.sum(m_.conj() * d[:2, :2]))
                            + 2 * np.real(tr.conj() * (d[0, 1] + d[1, 0]))) / 6 for d in dprops])
    return np.stack(props), (np.array(grads) if grad else None)
