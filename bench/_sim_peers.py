"""The solvers bench/simulation.py times: ours and its peers, each built once per case.

Batched solvers (ours, dynamiqs, qiskit-dynamics' jax_expm) are made by
`make(open_, grad, chunk)`, which returns one jitted function of the (n, 3) parameter batch:
chunk=None is the whole-batch form (a jax.vmap, or dynamiqs' own batching), chunk=N is
jax.lax.map over the gates in chunks of N. Looped peers (QuTiP, qiskit-dynamics' jax_odeint as
its tutorials use it) return `run(i, params) -> (propagator, gradient or None)` of gate i.
"""

from __future__ import annotations

import functools

import numpy as np

import jax
import jax.numpy as jnp
from devices import Closed, Open
from devices import propagator as ours_propagator

import dynamiqs as dq
import qutip
from qiskit_dynamics import DiscreteSignal, Signal, Solver

from _sim_problem import (COLLAPSE, CR_COLLAPSE, CR_DIM, CR_DURATION, CR_EDGES, CR_FD_STEPS, CR_H0,
                          CR_NUMBER, CR_OPS, CR_SAMPLES, DT, DURATION, EDGES, H0_RESONANT,
                          N_SAMPLES, NUMBER, OPS, batch_model, cr_coefficients, cr_gate,
                          cr_common_frame, cr_infidelity, cr_static, gate, infidelity, model,
                          to_frames)

dq.set_precision("double")

# Adaptive tolerances (atol = rtol): the loosest power of ten that passed the benchmark's
# 1e-6 check with a 2x margin on a 20-gate pilot.
TOL_QUTIP, TOL_TSIT5, TOL_QISKIT = 1e-11, 1e-8, 1e-10
FD_STEPS = np.array([1e-5, 1e-5, 1e-7])            # amp, beta [ns], detuning [GHz]
# A hair above the sample time, so that rounding in ceil(duration / max_dt) cannot add a step.
_STEP = DT * (1 + 1e-9)


def _batching(one, chunk, whole_batch=None):
    """props(p_batch) from one gate's function: a vmap over the batch (or the solver's own
    `whole_batch` function) when chunk is None, else jax.lax.map in chunks of `chunk` gates."""
    if chunk is None:
        return whole_batch or jax.vmap(one)
    return lambda p_batch: jax.lax.map(one, p_batch, batch_size=chunk)


def _jitted(props, grad):
    """jit(props), or jit of (sum of infidelities, props) and its gradient w.r.t. the batch."""
    if not grad:
        return jax.jit(props)

    def loss(p_batch):
        u = props(p_batch)
        return jnp.sum(infidelity(u)), u

    return jax.jit(jax.value_and_grad(loss, has_aux=True))


# --- ours ----------------------------------------------------------------------------------
def ours(open_, grad, chunk):
    dynamics = Open() if open_ else Closed()

    def one(p):
        return ours_propagator(*gate(p), dt=DT, dynamics=dynamics)

    return _jitted(_batching(one, chunk), grad)


# --- dynamiqs ------------------------------------------------------------------------------
def dynamiqs(method, open_, grad, chunk):
    tsave = jnp.array([0.0, DURATION])

    def props(p_batch):
        """Propagators of a batch (leading axis of p_batch) or of one gate (p_batch (3,))."""
        hs, cs = jax.vmap(model)(p_batch) if p_batch.ndim == 2 else model(p_batch)
        h = 2 * np.pi * hs
        for k in range(len(OPS)):
            h = dq.pwc(EDGES, 2 * np.pi * cs[..., k, :], OPS[k]) + h
        if open_:
            res = dq.mepropagator(h, list(COLLAPSE), tsave, method=method, progress_meter=False,
                                  save_propagators=False)
        else:
            res = dq.sepropagator(h, tsave, method=method, progress_meter=False,
                                  save_propagators=False)
        return res.final_propagator.to_jax()

    return _jitted(_batching(props, chunk, whole_batch=props), grad)


def dynamiqs_expm(open_, grad, chunk):
    return dynamiqs(dq.method.Expm(), open_, grad, chunk)


def dynamiqs_tsit5(open_, grad, chunk):
    return dynamiqs(dq.method.Tsit5(rtol=TOL_TSIT5, atol=TOL_TSIT5), open_, grad, chunk)


# --- qiskit-dynamics -----------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _qiskit_solver(open_):
    """One Solver per dynamics, built once and shared by every solve. The model is already in
    the drive's rotating frame (ours, from devices.hamiltonian): no `rotating_frame` argument,
    which in qiskit-dynamics 0.6 breaks the vectorized Lindblad model under jit. The detuning
    enters as one more operator (the number operator) with a constant signal, so the Solver
    need not be rebuilt per gate."""
    operators = 2 * np.pi * np.concatenate([OPS, NUMBER[None]])
    if open_:
        solver = Solver(static_hamiltonian=2 * np.pi * H0_RESONANT, hamiltonian_operators=operators,
                        static_dissipators=COLLAPSE, array_library="jax", vectorized=True)
        return solver, np.eye(9, dtype=complex)
    solver = Solver(static_hamiltonian=2 * np.pi * H0_RESONANT, hamiltonian_operators=operators,
                    array_library="jax")
    return solver, np.eye(3, dtype=complex)


def _qiskit_signals(p):
    hs, cs = model(p)
    detuning = jnp.real(hs[1, 1] - H0_RESONANT[1, 1])  # H_static = H0 + detuning * n
    return [DiscreteSignal(dt=DT, samples=cs[0], carrier_freq=0.0),
            DiscreteSignal(dt=DT, samples=cs[1], carrier_freq=0.0),
            DiscreteSignal(dt=DT, samples=detuning * jnp.ones(N_SAMPLES), carrier_freq=0.0)]


def qiskit_expm(open_, grad, chunk):
    """qiskit-dynamics' exact path for a piecewise-constant model: jax_expm with one step per
    AWG sample and magnus_order=1 (the generator at the step's midpoint, which is the sample's
    value), batched with jax like ours. Exact here because the signals have no carrier (the
    model is in the rotating frame); with a carrier, a step of half its period would alias.
    t_span and y0 are numpy constants: the fixed-step solvers size their step grid with
    numpy, which a traced t_span would break. The jitted batch function takes one float64
    array, so no weak-typed scalar can trigger a recompile (the benchmark flags any)."""
    solver, y0 = _qiskit_solver(open_)

    def one(p):
        sol = solver.solve(t_span=np.array([0.0, DURATION]), y0=y0, signals=_qiskit_signals(p),
                           method="jax_expm", max_dt=_STEP, magnus_order=1)
        return sol.y[-1]

    return _jitted(_batching(one, chunk), grad)


def qiskit_odeint(open_, grad):
    """The tutorials' usage: one jitted Solver.solve per gate with the adaptive jax_odeint,
    hmax = dt (jax's odeint name for max_dt)."""
    solver, y0 = _qiskit_solver(open_)

    def prop(p):
        sol = solver.solve(t_span=np.array([0.0, DURATION]), y0=y0, signals=_qiskit_signals(p),
                           method="jax_odeint", hmax=DT, atol=TOL_QISKIT, rtol=TOL_QISKIT)
        return sol.y[-1]

    if not grad:
        f = jax.jit(prop)
        return lambda i, p: (f(jnp.asarray(p[i])), None)

    def loss(p):
        u = prop(p)
        return infidelity(u), u

    f = jax.jit(jax.value_and_grad(loss, has_aux=True))

    def run(i, p):
        (_, u), g = f(jnp.asarray(p[i]))
        return u, g

    return run


# --- QuTiP: one propagator call per gate (per finite-difference point) ----------------------
def qutip_runner(open_, grad, params, n, piecewise):
    """The model arrays at all finite-difference points are built here, before the clock
    starts (this favours QuTiP). piecewise: QuTiP 5.3's exact path (piecewise_t = the sample
    edges, one expm per sample); else the ODE method 'adams' with max_step = dt."""
    points = [params[:n]]
    if grad:
        for m in range(3):
            for sign in (1, -1):
                q = params[:n].copy()
                q[:, m] += sign * FD_STEPS[m]
                points.append(q)
    arrays = [tuple(map(np.asarray, batch_model(jnp.asarray(q)))) for q in points]  # untimed
    ops = [qutip.Qobj(2 * np.pi * o) for o in OPS]
    c_ops = [qutip.Qobj(c) for c in COLLAPSE] if open_ else None
    options = {"method": "adams", "atol": TOL_QUTIP, "rtol": TOL_QUTIP, "max_step": DT,
               "nsteps": 10**6}

    def solve(hs, cs):
        h = [qutip.Qobj(2 * np.pi * hs)] + [
            [ops[k], qutip.coefficient(np.append(cs[k], cs[k, -1]), tlist=EDGES, order=0)]
            for k in range(len(ops))]
        if piecewise:
            u = qutip.propagator(h, DURATION, c_ops=c_ops, piecewise_t=EDGES)
        else:
            u = qutip.propagator(h, DURATION, c_ops=c_ops, options=options)
        return u.full()

    def run(i, _params):
        props = [solve(a[0][i], a[1][i]) for a in (arrays if grad else arrays[:1])]
        if not grad:
            return props[0], None
        losses = [infidelity(u, np) for u in props]
        g = [(losses[1 + 2 * m] - losses[2 + 2 * m]) / (2 * FD_STEPS[m]) for m in range(3)]
        return props[0], np.array(g)

    return run


BATCHED = {"dynamiqs-expm": dynamiqs_expm, "dynamiqs-tsit5": dynamiqs_tsit5,
           "qiskit-dynamics-expm": qiskit_expm}
LOOPED = ("qutip", "qutip-pwc", "qiskit-dynamics-odeint")


def looped(peer, open_, grad, params, n):
    if peer == "qiskit-dynamics-odeint":
        return qiskit_odeint(open_, grad)
    return qutip_runner(open_, grad, params, n, piecewise=(peer == "qutip-pwc"))


# === the cross-resonance cases ===============================================================
# Two coupled transmons. In the transmons' own frames the coefficients rotate at the carrier
# differences (~450 MHz) within each AWG sample; in the common frame of the tones' one carrier
# (_sim_problem.cr_common_frame) the model is piecewise constant, so the peers with an exact
# piecewise-constant path (dynamiqs-expm, qutip-pwc, qiskit-dynamics-expm) take it there, one
# exponential per sample, as ours does; the adaptive ones integrate the own-frame model. Each
# adaptive peer has the coarsest tolerance that passed the CR check (see CR_TOL in
# bench/simulation.py) with a 2x margin on a 20-gate pilot (seed 1234).
CR_TOL_TSIT5 = 1e-7           # dynamiqs Tsit5, atol = rtol (closed)
CR_TOL_TSIT5_OPEN = 1e-8      # open: 1e-7 left 1.0e-4 on the first 2 gates (FAIL); 1e-8 not yet run
CR_TOL_QISKIT = 1e-8          # qiskit-dynamics jax_odeint, atol = rtol
CR_TOL_QUTIP = 1e-9           # QuTiP adams (its default method), atol = rtol (1e-8: 2.0e-4, FAIL)
CR_TOL_QUTIP_GRAD = 1e-10     # ... for its finite differences, whose steps amplify solver noise
CR_QUTIP_FD_STEPS = np.array([1e-3, 1e-3, 1e-3, 1e-5])  # QuTiP adams' FD steps: noise / step << 1e-4
CR_QUTIP_METHOD = "adams"


def _cr_jitted(props, grad):
    if not grad:
        return jax.jit(props)

    def loss(p_batch):
        u = props(p_batch)
        return jnp.sum(jax.vmap(cr_infidelity)(u)), u

    return jax.jit(jax.value_and_grad(loss, has_aux=True))


def cr_ours(open_, grad, chunk):
    """devices.propagator with its default ExactSteps() on the library's pair schedule: the
    two tones share a carrier, so one exact exponential per sample in its common frame."""
    dynamics = Open() if open_ else Closed()

    def one(p):
        return ours_propagator(*cr_gate(p), dt=DT, dynamics=dynamics)

    return _cr_jitted(_batching(one, chunk), grad)


def _cr_dynamiqs_h(p):
    """2 pi H(t) of one gate in the transmons' frames as a dynamiqs time-qarray: modulated by
    the continuous coefficients (discontinuity_ts = the sample edges, where the held envelopes
    jump)."""
    h = 2 * np.pi * cr_static(p)
    for k in range(len(CR_OPS)):
        def f(t, k=k):
            return 2 * np.pi * cr_coefficients(p, jnp.reshape(t, (1,)))[k, 0]
        h = dq.modulated(f, CR_OPS[k], discontinuity_ts=CR_EDGES[1:-1]) + h
    return h


def cr_dynamiqs_tsit5(open_, grad, chunk):
    tol = CR_TOL_TSIT5_OPEN if open_ else CR_TOL_TSIT5
    method = dq.method.Tsit5(rtol=tol, atol=tol, max_steps=10**6)
    tsave = jnp.array([0.0, CR_DURATION])

    def one(p):
        h = _cr_dynamiqs_h(p)
        if open_:
            res = dq.mepropagator(h, list(CR_COLLAPSE), tsave, method=method, progress_meter=False,
                                  save_propagators=False)
        else:
            res = dq.sepropagator(h, tsave, method=method, progress_meter=False,
                                  save_propagators=False)
        return res.final_propagator.to_jax()

    return _cr_jitted(_batching(one, chunk), grad)


def cr_dynamiqs_expm(open_, grad, chunk):
    """dynamiqs' exact path (Expm) on the common-frame model: dq.pwc on the AWG sample edges,
    one exponential per sample, then R(T) to the transmons' frames."""
    tsave = jnp.array([0.0, CR_DURATION])

    def one(p):
        hs, cs, r = cr_common_frame(p)
        h = 2 * np.pi * hs
        for k in range(len(CR_OPS)):
            h = dq.pwc(CR_EDGES, 2 * np.pi * cs[k], CR_OPS[k]) + h
        if open_:
            res = dq.mepropagator(h, list(CR_COLLAPSE), tsave, method=dq.method.Expm(), progress_meter=False,
                                  save_propagators=False)
        else:
            res = dq.sepropagator(h, tsave, method=dq.method.Expm(), progress_meter=False,
                                  save_propagators=False)
        return to_frames(res.final_propagator.to_jax(), r)

    return _cr_jitted(_batching(one, chunk), grad)


@functools.lru_cache(maxsize=None)
def _cr_qiskit_solver(open_):
    """As _qiskit_solver: our frame, H0 without detuning, the common detuning of the carriers
    as one more operator (n_c + n_t) with a constant signal, so one Solver serves every gate."""
    operators = 2 * np.pi * np.concatenate([CR_OPS, CR_NUMBER[None]])
    if open_:
        solver = Solver(static_hamiltonian=2 * np.pi * CR_H0, hamiltonian_operators=operators,
                        static_dissipators=CR_COLLAPSE, array_library="jax", vectorized=True)
        return solver, np.eye(CR_DIM**2, dtype=complex)
    solver = Solver(static_hamiltonian=2 * np.pi * CR_H0, hamiltonian_operators=operators,
                    array_library="jax")
    return solver, np.eye(CR_DIM, dtype=complex)


def _cr_qiskit_signals(p):
    """Continuous-time Signals (carrier 0): coefficient k of devices.hamiltonian at any t, as
    devices/_qiskit_backend.py builds them; the detuning signal is -p[3] (f01 - carrier)."""
    def coefficient(k):
        def envelope(t):
            t = jnp.asarray(t, jnp.float64)
            c = cr_coefficients(p, jnp.atleast_1d(t).reshape(-1))[k]
            return c[0] if t.ndim == 0 else c.reshape(t.shape)
        return envelope

    signals = [Signal(coefficient(k), carrier_freq=0.0) for k in range(len(CR_OPS))]
    return signals + [Signal(lambda t: -p[3] * jnp.ones_like(jnp.asarray(t, jnp.float64)),
                             carrier_freq=0.0)]


@functools.lru_cache(maxsize=None)
def _cr_qiskit_common_solver(open_):
    """As _cr_qiskit_solver, in the common frame: H0 at f* = f_t (d = 0), and the carrier's
    detuning d as the operator -(n_c + n_t) with a constant signal."""
    operators = 2 * np.pi * np.concatenate([CR_OPS, CR_NUMBER[None]])
    static = 2 * np.pi * np.asarray(cr_common_frame(jnp.zeros(4))[0])
    if open_:
        solver = Solver(static_hamiltonian=static, hamiltonian_operators=operators,
                        static_dissipators=CR_COLLAPSE, array_library="jax", vectorized=True)
        return solver, np.eye(CR_DIM**2, dtype=complex)
    return Solver(static_hamiltonian=static, hamiltonian_operators=operators, array_library="jax"), \
        np.eye(CR_DIM, dtype=complex)


def cr_qiskit_expm(open_, grad, chunk):
    """qiskit-dynamics' exact path for a piecewise-constant model, on the common-frame model:
    jax_expm, one step per AWG sample (max_dt a hair above DT), magnus_order=1 (the generator
    at the step's midpoint: the sample's value), DiscreteSignals without carrier, then R(T);
    batched with jax like ours."""
    solver, y0 = _cr_qiskit_common_solver(open_)

    def one(p):
        _, cs, r = cr_common_frame(p)
        signals = [DiscreteSignal(dt=DT, samples=cs[k], carrier_freq=0.0) for k in range(len(CR_OPS))]
        signals.append(DiscreteSignal(dt=DT, samples=-p[3] * jnp.ones(CR_SAMPLES), carrier_freq=0.0))
        sol = solver.solve(t_span=np.array([0.0, CR_DURATION]), y0=y0, signals=signals,
                           method="jax_expm", max_dt=_STEP, magnus_order=1)
        return to_frames(sol.y[-1], r)

    return _cr_jitted(_batching(one, chunk), grad)


def cr_qiskit_odeint(open_, grad):
    solver, y0 = _cr_qiskit_solver(open_)

    def prop(p):
        sol = solver.solve(t_span=np.array([0.0, CR_DURATION]), y0=y0, signals=_cr_qiskit_signals(p),
                           method="jax_odeint", hmax=DT, atol=CR_TOL_QISKIT, rtol=CR_TOL_QISKIT,
                           mxstep=10**6)
        return sol.y[-1]

    if not grad:
        f = jax.jit(prop)
        return lambda i, p: (f(jnp.asarray(p[i])), None)

    def loss(p):
        u = prop(p)
        return cr_infidelity(u), u

    f = jax.jit(jax.value_and_grad(loss, has_aux=True))

    def run(i, p):
        (_, u), g = f(jnp.asarray(p[i]))
        return u, g

    return run


_cr_model_arrays = jax.jit(jax.vmap(lambda p: (cr_static(p), cr_gate(p)[1].render(DT), cr_gate(p)[1].frequencies)))
_cr_common_arrays = jax.jit(jax.vmap(cr_common_frame))


def cr_qutip_runner(open_, grad, params, n, piecewise):
    """QuTiP 5: qutip.propagator(H, 100 ns, c_ops). Continuous (piecewise False): the ODE method
    'adams', atol = rtol = CR_TOL_QUTIP, max_step = DT, each coefficient a Python function of t
    (numpy, the formula of devices.hamiltonian.control_coefficients on the rendered samples;
    the six share one evaluation per t). piecewise: QuTiP's exact path (piecewise_t = the
    sample edges, one exponential per sample) on the common-frame model, then R(T).
    The model arrays at every finite-difference point are built before the clock starts."""
    # the exact path has no solver noise: the reference's small steps (adams' left 1.5e-4 there)
    steps = CR_FD_STEPS if piecewise else CR_QUTIP_FD_STEPS
    points = [params[:n]]
    if grad:
        for m in range(params.shape[1]):
            for sign in (1, -1):
                q = params[:n].copy()
                q[:, m] += sign * steps[m]
                points.append(q)
    build = _cr_common_arrays if piecewise else _cr_model_arrays
    arrays = [tuple(map(np.asarray, build(jnp.asarray(q)))) for q in points]
    ops = [qutip.Qobj(2 * np.pi * o) for o in CR_OPS]
    c_ops = [qutip.Qobj(c) for c in CR_COLLAPSE] if open_ else None
    tol = CR_TOL_QUTIP_GRAD if grad else CR_TOL_QUTIP
    options = {"method": CR_QUTIP_METHOD, "atol": tol, "rtol": tol, "max_step": DT, "nsteps": 10**7}
    crosstalk = np.asarray(cr_gate(jnp.zeros(4))[0].crosstalk)[np.asarray((0, 1, 0))]  # (d, q)
    scale = np.array([t.drive_scale for t in cr_gate(jnp.zeros(4))[0].transmons], dtype=float)
    j = float(cr_gate(jnp.zeros(4))[0].couplings[0, 1])

    def continuous(samples, freqs):
        """c_k(t) as QuTiP coefficient functions, one numpy evaluation per distinct t."""
        omega = 2 * np.pi * (freqs[:, None] - freqs[None, :2])     # (d, q)
        xs = crosstalk[:, :, None] * samples[:, None, :]             # (d, q, sample)
        w01 = 2 * np.pi * (freqs[0] - freqs[1])
        cache = [None, None]

        def coeffs(t):
            if cache[0] != t:
                i = min(max(int(t // DT), 0), CR_SAMPLES - 1)
                z = np.sum(xs[:, :, i] * np.exp(1j * omega * t), axis=0)
                cache[0], cache[1] = t, (scale[0] * z[0].real, scale[0] * z[0].imag,
                                         scale[1] * z[1].real, scale[1] * z[1].imag,
                                         j * np.cos(w01 * t), j * np.sin(w01 * t))
            return cache[1]

        return [(lambda t, k=k: coeffs(t)[k]) for k in range(len(CR_OPS))]

    def solve(hs, second, third):
        if piecewise:  # second, third: the coefficients per sample and R(T)'s diagonal
            h = [qutip.Qobj(2 * np.pi * hs)] + [
                [ops[k], qutip.coefficient(np.append(second[k], second[k, -1]), tlist=CR_EDGES, order=0)]
                for k in range(len(ops))]
            u = qutip.propagator(h, CR_DURATION, c_ops=c_ops, piecewise_t=CR_EDGES)
            return np.asarray(to_frames(u.full(), third))
        h = [qutip.Qobj(2 * np.pi * hs)] + [[ops[k], f] for k, f in enumerate(continuous(second, third))]
        return qutip.propagator(h, CR_DURATION, c_ops=c_ops, options=options).full()

    def run(i, _params):
        props = [solve(a[0][i], a[1][i], a[2][i]) for a in (arrays if grad else arrays[:1])]
        if not grad:
            return props[0], None
        losses = [cr_infidelity(u, np) for u in props]
        g = [(losses[1 + 2 * m] - losses[2 + 2 * m]) / (2 * steps[m]) for m in range(params.shape[1])]
        return props[0], np.array(g)

    return run


CR_BATCHED = {"dynamiqs-expm": cr_dynamiqs_expm, "dynamiqs-tsit5": cr_dynamiqs_tsit5,
              "qiskit-dynamics-expm": cr_qiskit_expm}


def cr_looped(peer, open_, grad, params, n):
    if peer == "qiskit-dynamics-odeint":
        return cr_qiskit_odeint(open_, grad)
    return cr_qutip_runner(open_, grad, params, n, piecewise=(peer == "qutip-pwc"))
