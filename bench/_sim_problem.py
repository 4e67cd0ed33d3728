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
from devices import Chip, Closed, Drag, GaussianSquare, Open, Play, Schedule, Transmon, hamiltonian
from devices.two_qubit import pair_schedule

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


# === the cross-resonance (CR) cases: two coupled 3-level transmons ==========================
# Control 5.05 GHz, target 4.60 GHz; the CR tone plays on the control's line at the target's
# carrier (channel 2, line 0) with a cancellation tone on the target's own channel (1). The
# rotating-frame Hamiltonian turns at the carrier differences (~450 MHz), so it is NOT
# constant over an AWG sample: every solver integrates the continuous-time model whose
# envelopes are held per sample and whose phases rotate (devices.hamiltonian).
CR_F = (5.05, 4.60)                                  # control, target f01 [GHz]
CR_ALPHA = (-0.25, -0.24)
CR_DRIVE_SCALE = 0.08
CR_J = 0.003
CR_CROSSTALK = 0.03 * np.exp(0.5j)                   # crosstalk[0, 1]: control line -> target
CR_T1, CR_T2 = (60_000.0, 50_000.0), (40_000.0, 45_000.0)
CR_DURATION, CR_SIGMA, CR_WIDTH = 100.0, 5.0, 80.0   # GaussianSquare, ns
CR_SAMPLES = int(round(CR_DURATION / DT))            # 200
CR_EDGES = np.arange(CR_SAMPLES + 1) * DT
CR_LINES = (0, 1, 0)
CR_LEVELS = 3
CR_DIM = CR_LEVELS**2
CR_PARAMS = ("cr amp", "cr angle", "cancel amp", "detuning")
# The fixed 4x4 target of the smooth loss: the CR's ideal exp(-i pi/4 Z x X), control leftmost.
_Z2, _X2 = np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]])
CR_TARGET = scipy.linalg.expm(-0.25j * np.pi * np.kron(_Z2, _X2))


def cr_chip():
    transmons = [Transmon(frequency=f, anharmonicity=a, drive_scale=CR_DRIVE_SCALE, t1=t1, t2=t2)
                 for f, a, t1, t2 in zip(CR_F, CR_ALPHA, CR_T1, CR_T2)]
    return Chip(transmons, couplings=np.array([[0.0, CR_J], [CR_J, 0.0]]),
                crosstalk=np.array([[1.0, CR_CROSSTALK], [0.0, 1.0]]))


CR_CHIP = cr_chip()


def cr_gate(p):
    """Chip and schedule of one CR pulse, p = (CR amp, CR angle, cancellation amp, detuning):
    a plain GaussianSquare on the CR channel and an in-phase one (same angle) on the target's
    channel; every carrier is detuned by p[3] GHz from its transmon."""
    cr = GaussianSquare(CR_DURATION, p[0], CR_SIGMA, CR_WIDTH, angle=p[1])
    cancel = GaussianSquare(CR_DURATION, p[2], CR_SIGMA, CR_WIDTH, angle=p[1])
    # a pair schedule as the library builds them: channels (control, target, CR tone), the CR
    # tone on the control's line, the two tones declared to share the target's carrier
    return CR_CHIP, pair_schedule([Play(2, cr), Play(1, cancel)], CR_F[0] + p[3], CR_F[1] + p[3])


def cr_common_frame(p):
    """The same gate's model in the common frame of its carrier f* = f_t + d (both transmons
    viewed at f*), where it is piecewise constant: the static H / 2 pi (9, 9), the
    coefficients (6, CR_SAMPLES) of CR_OPS held over each sample, and the diagonal r (9,) of
    R(T) = exp(i 2 pi (f_c' - f*) n_c T) (f_c' the control's frame) that takes the final
    propagator to the transmons' frames: U = R(T) U_common, or diag(r* kron r) S_common."""
    chip, schedule = cr_gate(p)
    carrier = schedule.frequencies[2]
    common = jnp.full_like(schedule.frequencies, carrier)
    static = hamiltonian.static_hamiltonian(chip, common[:2])
    coefficients = hamiltonian.control_coefficients(chip, common, schedule.render(DT), jnp.zeros(CR_SAMPLES),
                                                    CR_LINES)
    turn = sum((schedule.frequencies[q] - carrier) * jnp.diagonal(n) for q, n in enumerate(CR_NUMBERS))
    return static, coefficients, jnp.exp(2j * jnp.pi * turn * CR_DURATION)


def to_frames(props, r):
    """Propagators in the common frame (unitaries (..., 9, 9) or superoperators (..., 81, 81))
    moved to the transmons' frames by R(T) = diag(r) (cr_common_frame)."""
    if props.shape[-1] == CR_DIM:
        return r[..., :, None] * props
    return (jnp.conj(r)[..., :, None] * r[..., None, :]).reshape(r.shape[:-1] + (-1, 1)) * props


def cr_static(p):
    """H_static / 2pi (9, 9) of one gate, in the frames of the (detuned) carriers."""
    chip, schedule = cr_gate(p)
    return hamiltonian.static_hamiltonian(chip, schedule.frequencies[:2])


def cr_coefficients(p, t):
    """Real control coefficients c_k(t), shape (6, len(t)), at any times t in [0, 100) ns:
    the envelope held over each AWG sample, the phases continuous (devices.hamiltonian)."""
    chip, schedule = cr_gate(p)
    samples = schedule.render(DT)
    idx = jnp.clip(jnp.floor(t / DT).astype(jnp.int32), 0, CR_SAMPLES - 1)
    return hamiltonian.control_coefficients(chip, schedule.frequencies, samples[:, idx], t, CR_LINES)


GL_OFFSET = np.sqrt(3.0) / 6  # Gauss-Legendre nodes at 1/2 -+ sqrt(3)/6 of a step


def substep_times(substeps, where):
    """Times on a grid of `substeps` equal steps per AWG sample: where='mid' the midpoints
    (N,), where='gl' the two Gauss-Legendre nodes of each step (2, N)."""
    h = DT / substeps
    start = np.arange(CR_SAMPLES * substeps) * h
    if where == "mid":
        return start + 0.5 * h
    return np.stack([start + (0.5 - GL_OFFSET) * h, start + (0.5 + GL_OFFSET) * h])


CR_OPS = np.asarray(hamiltonian.control_operators(2, CR_LEVELS))             # (6, 9, 9)
CR_COLLAPSE = np.asarray(hamiltonian.collapse_operators(CR_CHIP))            # (4, 9, 9)
CR_H0 = np.asarray(cr_static(jnp.zeros(4)))                                  # no detuning
_CR_A = hamiltonian.ladder_operators(2, CR_LEVELS)
CR_NUMBERS = [np.asarray(a.conj().T @ a) for a in _CR_A]                     # n_c, n_t
CR_NUMBER = sum(CR_NUMBERS)                                                  # n_c + n_t


def cr_infidelity(prop, xp=jnp):
    """1 - average gate fidelity (devices.two_qubit.channel_metrics: computational subspace,
    leakage counted, Wood-Gambetta) against CR_TARGET; one gate's 9x9 unitary or 81x81
    column-stacking superoperator. Smooth in the propagator."""
    from devices.two_qubit import channel_metrics

    dynamics = Open() if prop.shape[-1] == CR_DIM**2 else Closed()
    f = channel_metrics(jnp.asarray(prop), CR_TARGET, CR_LEVELS, dynamics).fidelity
    return 1.0 - (f if xp is jnp else float(f))


def cr_batch_infidelity(props):
    return jax.vmap(cr_infidelity)(props)


# --- independent reference: numpy and scipy, fourth-order Magnus on a fine grid ---------------
CR_REF_SUBSTEPS = 16  # per AWG sample (and 8 for the extrapolation); ours uses 8
CR_FD_STEPS = np.array([1e-5, 1e-5, 1e-5, 1e-7])   # amp, angle [rad], cancel amp, detuning [GHz]
_cr_nodes = jax.jit(jax.vmap(lambda p, t: (cr_static(p), cr_coefficients(p, t)), in_axes=(0, None)))


def _cr_lindbladian(hams):
    """Column-stacking Lindbladians of a stack of Hamiltonians / 2pi, (n, 81, 81)."""
    eye = np.eye(CR_DIM)
    out = -2j * np.pi * (np.einsum("ij,nkl->nikjl", eye, hams)
                         - np.einsum("nji,kl->nikjl", hams, eye)).reshape(len(hams), CR_DIM**2, -1)
    for c in CR_COLLAPSE:
        cdc = c.conj().T @ c
        out = out + np.kron(c.conj(), c) - 0.5 * np.kron(eye, cdc) - 0.5 * np.kron(cdc.T, eye)
    return out


def _cr_magnus_props(params, open_, substeps):
    """Propagators of the gates in `params`, numpy/scipy only: per step of DT/substeps the
    fourth-order Magnus exponent h (G1 + G2)/2 + sqrt(3)/12 h^2 [G2, G1] at the Gauss-Legendre
    nodes, scipy.linalg.expm of each, the ordered product. The coefficients are
    devices.hamiltonian's (the model), evaluated at the nodes."""
    times = substep_times(substeps, "gl")
    h = DT / substeps
    hs, cs = map(np.asarray, _cr_nodes(jnp.asarray(params), jnp.asarray(times.reshape(-1))))
    cs = cs.reshape(len(params), len(CR_OPS), 2, -1)
    props = []
    per = substeps  # steps exponentiated per batch: one AWG sample at a time keeps memory small
    for g in range(len(params)):
        total = np.eye(CR_DIM**2 if open_ else CR_DIM, dtype=complex)
        for s0 in range(0, cs.shape[-1], per):
            gens = []
            for node in range(2):
                hams = hs[g] + np.einsum("kt,kij->tij", cs[g, :, node, s0:s0 + per], CR_OPS)
                gens.append(_cr_lindbladian(hams) if open_ else -2j * np.pi * hams)
            g1, g2 = gens
            omega = 0.5 * h * (g1 + g2) + np.sqrt(3.0) / 12 * h**2 * (g2 @ g1 - g1 @ g2)
            for e in scipy.linalg.expm(omega):
                total = e @ total
        props.append(total)
    return np.stack(props)


def cr_reference_props(params, open_):
    """The fourth-order Magnus products at CR_REF_SUBSTEPS and half as many steps per sample,
    Richardson-extrapolated: (16 U_fine - U_coarse) / 15 cancels the h^4 error term."""
    fine = _cr_magnus_props(params, open_, CR_REF_SUBSTEPS)
    coarse = _cr_magnus_props(params, open_, CR_REF_SUBSTEPS // 2)
    return (16 * fine - coarse) / 15


def cr_reference(params, open_, grad, n_grad=None):
    """(propagators, d L / d params) of the gates in `params`: cr_reference_props, gradients of
    each gate's infidelity by central finite differences of it (steps CR_FD_STEPS), on the
    first n_grad gates (default all)."""
    props = cr_reference_props(params, open_)
    if not grad:
        return props, None
    params = params[:n_grad]
    grads = np.zeros(params.shape)
    for m in range(params.shape[1]):
        for sign in (1, -1):
            q = params.copy()
            q[:, m] += sign * CR_FD_STEPS[m]
            losses = np.array([cr_infidelity(u, np) for u in cr_reference_props(q, open_)])
            grads[:, m] += sign * losses / (2 * CR_FD_STEPS[m])
    return props, grads


def cr_sample_params(n, seed):
    """(n, 4) CR parameters: amp 0.3-0.9, angle 0-2 pi, cancellation amp 0-0.1, detuning +-2 MHz."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0.3, 0.9, n), rng.uniform(0.0, 2 * np.pi, n),
                     rng.uniform(0.0, 0.1, n), rng.uniform(-2e-3, 2e-3, n)], axis=1)
