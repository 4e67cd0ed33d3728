"""The same rotating-frame model solved by qiskit-dynamics 0.6.

qiskit-dynamics is unmaintained, so it stays behind this one module: the model is
handed over as H_static + sum_k c_k(t) O_k with our own frame (no `rotating_frame`
argument, which breaks the vectorized Lindblad model under jit) and signals whose
envelopes are our piecewise-constant coefficients (carrier 0, no RWA cutoff). Its
models' `validate` checks call numpy on the operators, which fails under jit; ours are
Hermitian by construction.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from qiskit_dynamics import Signal, solve_lmde
from qiskit_dynamics.models import HamiltonianModel, LindbladModel

from devices import hamiltonian
from devices.options import Open


def _signals(chip, frequencies, dt, samples, lines):
    n_samples = samples.shape[-1]

    def coefficient(k):
        def envelope(t):
            t = jnp.asarray(t, jnp.float64)
            idx = jnp.clip(jnp.floor(t / dt).astype(jnp.int32), 0, n_samples - 1)
            tt = jnp.atleast_1d(t)
            env = samples[:, idx].reshape(samples.shape[0], -1)
            c = hamiltonian.control_coefficients(chip, frequencies, env, tt, lines)[k]
            return c[0] if t.ndim == 0 else c
        return envelope

    n_ops = hamiltonian.control_operators(chip.n_qubits, chip.n_levels).shape[0]
    return [Signal(coefficient(k), carrier_freq=0.0) for k in range(n_ops)]


_FIXED_STEP = ("jax_expm", "jax_expm_parallel", "jax_RK4", "RK4", "scipy_expm")


def propagator(chip, schedule, dt, dynamics, options):
    """The schedule is rendered first (qiskit-dynamics' fixed-step solvers need a static
    number of steps, so idle periods must be concrete here); the solve is compiled once
    per sample count, like the fast path."""
    return _solve(chip, schedule.frequencies, schedule.render(dt), dt, dynamics, options, schedule.lines)


@eqx.filter_jit
def _solve(chip, frequencies, samples, dt, dynamics, options, lines):
    from devices.options import ExactSteps

    duration = samples.shape[-1] * dt
    two_pi = 2 * np.pi
    static = two_pi * hamiltonian.static_hamiltonian(chip, frequencies[:chip.n_qubits])
    ops = two_pi * jnp.asarray(hamiltonian.control_operators(chip.n_qubits, chip.n_levels))
    signals = _signals(chip, frequencies, dt, samples, lines)
    d = static.shape[-1]
    if isinstance(dynamics, Open):
        model = LindbladModel(static_hamiltonian=static, hamiltonian_operators=ops,
                              hamiltonian_signals=signals,
                              static_dissipators=hamiltonian.collapse_operators(chip),
                              array_library="jax", vectorized=True, validate=False)
        y0 = jnp.eye(d * d, dtype=jnp.complex128)
    else:
        model = HamiltonianModel(static_operator=static, operators=ops, signals=signals,
                                 array_library="jax", validate=False)
        y0 = jnp.eye(d, dtype=jnp.complex128)
    max_dt = options.max_dt
    if max_dt is None:
        max_dt = dt / ExactSteps().resolve(chip.n_qubits)
    # A hair above the step so that floating error cannot add one more step.
    step = max_dt * (1 + 1e-9)
    if options.method in _FIXED_STEP:
        kwargs = {"max_dt": step}
        if "expm" in options.method:
            kwargs["magnus_order"] = options.magnus_order
    elif options.method == "jax_odeint":
        # jax's odeint calls the largest step `hmax`; without it the adaptive solver can
        # step over a pulse shorter than its current step.
        kwargs = {"hmax": step, "atol": options.atol, "rtol": options.rtol, "mxstep": 10**6}
    else:
        kwargs = {"max_dt": step, "atol": options.atol, "rtol": options.rtol}
    sol = solve_lmde(model, t_span=np.array([0.0, duration]), y0=y0, method=options.method, **kwargs)
    return sol.y[-1]
