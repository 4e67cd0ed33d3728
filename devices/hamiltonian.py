"""The rotating-frame, RWA Hamiltonian of a chip, written out by hand.

Each transmon q is viewed in the frame of its drive channel's carrier f_q. In units
of GHz (H / 2 pi):

  H(t) = sum_q [(f01_q - f_q) n_q + alpha_q/2 n_q (n_q - 1)]
       + sum_q drive_scale_q/2 (z_q(t) a_q + conj(z_q(t)) a_q^dag)
       + sum_{q<r} J_qr (exp(i 2 pi (f_q - f_r) t) a_q^dag a_r + h.c.)

  z_q(t) = sum_d crosstalk[line(d), q] s_d(t) exp(i 2 pi (f_d - f_q) t)

with s_d the complex envelope on channel d (lab drive Re[s_d exp(i 2 pi f_d t)]) and
line(d) the drive line it plays on: channel q < n_qubits is transmon q's own channel, whose
carrier f_q sets that transmon's frame; further channels are extra tones on a line (a
cross-resonance tone is the control's line at the target's frequency).
It is written as H_static + sum_k c_k(t) O_k with fixed Hermitian operators O_k and
real coefficients c_k, the form qiskit-dynamics' models take as well.
We build the frame ourselves: qiskit-dynamics 0.6's vectorized Lindblad model with
`rotating_frame` calls np.exp on a traced time and fails under jit.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from devices.chip import Chip


@functools.lru_cache(maxsize=None)
def ladder_operators(n_qubits: int, n_levels: int) -> np.ndarray:
    """Annihilation operators a_q on the full space, shape (n_qubits, D, D); qubit 0 is
    the leftmost tensor factor."""
    a = np.diag(np.sqrt(np.arange(1, n_levels)), 1).astype(complex)
    eye = np.eye(n_levels, dtype=complex)
    ops = []
    for q in range(n_qubits):
        factors = [a if k == q else eye for k in range(n_qubits)]
        op = factors[0]
        for f in factors[1:]:
            op = np.kron(op, f)
        ops.append(op)
    out = np.stack(ops)
    out.setflags(write=False)
    return out


def _pairs(n_qubits: int) -> list[tuple[int, int]]:
    return [(q, r) for q in range(n_qubits) for r in range(q + 1, n_qubits)]


@functools.lru_cache(maxsize=None)
def control_operators(n_qubits: int, n_levels: int) -> np.ndarray:
    """The Hermitian operators O_k, shape (K, D, D): per qubit (a+a^dag)/2 and
    i(a-a^dag)/2, then per pair q<r the two quadratures of the exchange term."""
    a = ladder_operators(n_qubits, n_levels)
    ops = []
    for q in range(n_qubits):
        ad = a[q].conj().T
        ops += [(a[q] + ad) / 2, 1j * (a[q] - ad) / 2]
    for q, r in _pairs(n_qubits):
        hop = a[q].conj().T @ a[r]
        ops += [hop + hop.conj().T, 1j * (hop - hop.conj().T)]
    out = np.stack(ops)
    out.setflags(write=False)
    return out


def _stack(chip: Chip, name: str) -> jax.Array:
    return jnp.stack([getattr(t, name) for t in chip.transmons])


def static_hamiltonian(chip: Chip, frequencies: jax.Array) -> jax.Array:
    """Time-independent part of H / 2 pi in the frame of `frequencies` [GHz], shape (D, D)."""
    a = jnp.asarray(ladder_operators(chip.n_qubits, chip.n_levels))
    n = jnp.einsum("qji,qjk->qik", a.conj(), a)  # a^dag a
    detuning = _stack(chip, "frequency") - frequencies
    alpha = _stack(chip, "anharmonicity")
    eye = jnp.eye(n.shape[-1])
    terms = detuning[:, None, None] * n + 0.5 * alpha[:, None, None] * n @ (n - eye)
    return jnp.sum(terms, axis=0).astype(jnp.complex128)


def control_coefficients(chip: Chip, frequencies: jax.Array, envelopes: jax.Array,
                         t: jax.Array, lines: tuple[int, ...] | None = None) -> jax.Array:
    """Real coefficients c_k(t), shape (K, T), for channel envelopes (n_channels, T) at times t (T,).

    frequencies: the channels' carriers (n_channels,), the first n_qubits of them the frames;
    lines: the drive line of each channel (default: channel d on line d)."""
    f = frequencies
    nq = chip.n_qubits
    if envelopes.shape[0] == 1:
        # one channel seen from its own frame: the rotation below is exp(0) = 1 exactly,
        # and its complex exponentials were a tenth of a closed pulse's simulation time
        z = chip.crosstalk[0, 0] * envelopes
    else:
        crosstalk = chip.crosstalk if lines is None else chip.crosstalk[np.asarray(lines)]
        # rotation of channel d's carrier seen from qubit q's frame: exp(i 2 pi (f_d - f_q) t)
        rotation = jnp.exp(2j * jnp.pi * (f[:, None, None] - f[None, :nq, None]) * t)  # (d, q, T)
        z = jnp.einsum("dq,dt,dqt->qt", crosstalk, envelopes, rotation)
    scale = _stack(chip, "drive_scale")[:, None]
    drive = jnp.stack([scale * z.real, scale * z.imag], axis=1).reshape(2 * nq, -1)
    pairs = _pairs(nq)
    if not pairs:
        return drive
    q_idx = np.array([p[0] for p in pairs])
    r_idx = np.array([p[1] for p in pairs])
    phase = 2 * jnp.pi * (f[q_idx] - f[r_idx])[:, None] * t
    j = chip.couplings[q_idx, r_idx][:, None]
    exchange = jnp.stack([j * jnp.cos(phase), j * jnp.sin(phase)], axis=1).reshape(2 * len(pairs), -1)
    return jnp.concatenate([drive, exchange], axis=0)


def collapse_operators(chip: Chip) -> jax.Array:
    """Lindblad operators, shape (2 n_qubits, D, D): sqrt(1/T1) a_q and sqrt(2 gamma_phi) n_q.

    With L = sqrt(2 gamma_phi) n the 0-1 coherence decays at gamma_phi, so that
    1/T2 = 1/(2 T1) + gamma_phi."""
    a = jnp.asarray(ladder_operators(chip.n_qubits, chip.n_levels))
    n = jnp.einsum("qji,qjk->qik", a.conj(), a)
    t1 = _stack(chip, "t1")
    gamma_phi = jnp.stack([t.dephasing_rate for t in chip.transmons])
    relax = jnp.sqrt(1.0 / t1)[:, None, None] * a
    dephase = jnp.sqrt(2.0 * gamma_phi)[:, None, None] * n
    return jnp.concatenate([relax, dephase]).astype(jnp.complex128)
