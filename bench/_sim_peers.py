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
from qiskit_dynamics import DiscreteSignal, Solver

from _sim_problem import (COLLAPSE, DT, DURATION, EDGES, H0_RESONANT, N_SAMPLES, NUMBER, OPS,
                          batch_model, gate, infidelity, model)

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
