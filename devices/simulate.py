"""Simulation entry points: propagators, final states and populations of a schedule.

One entry point per output with keyword-only option objects:

    propagator(chip, schedule, dt=0.5, dynamics=Closed(), solver=ExactSteps())

All functions are pure and `eqx.filter_jit`-compiled once per structure (number of
transmons, levels, samples and the option objects), so new parameter values never
recompile; they `vmap` over chips and schedules and are differentiable.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from devices import _expm, _qiskit_backend, hamiltonian, liouville
from devices._validate import DeviceModelError
from devices.chip import Chip
from devices.options import Closed, Dynamics, ExactSteps, Open, QiskitDynamics, Solver
from devices.schedule import Schedule

MAX_SIMULATED_TRANSMONS = 3


def check_inputs(chip: Chip, schedule: Schedule, dt: float) -> None:
    if not isinstance(chip, Chip):
        raise DeviceModelError(f"Argument `chip` must be a Chip, but is {type(chip).__name__}.")
    if not isinstance(schedule, Schedule):
        raise DeviceModelError(f"Argument `schedule` must be a Schedule, but is {type(schedule).__name__}.")
    if not 1 <= chip.n_qubits <= MAX_SIMULATED_TRANSMONS:
        raise DeviceModelError(
            f"Simulating {chip.n_qubits} coupled transmons, but at most {MAX_SIMULATED_TRANSMONS} are "
            "supported; simulate a subchip (Chip.subchip) of the qubits involved."
        )
    if schedule.n_channels != chip.n_qubits:
        raise DeviceModelError(
            f"Schedule has {schedule.n_channels} drive channels (frequencies), but the chip has "
            f"{chip.n_qubits} transmons: give one carrier frequency per transmon."
        )
    if not (isinstance(dt, float) and dt > 0):
        raise DeviceModelError(f"Argument `dt` must be a positive float (ns), but is {dt!r}.")


def _generators_at(chip: Chip, schedule: Schedule, samples: jax.Array, t: jax.Array,
                   sample_index: jax.Array, dynamics: Dynamics) -> jax.Array:
    """Generators G(t) (d/dt y = G y) at times t, with the envelope of sample `sample_index`.

    Closed: complex -i 2 pi H(t). Open: the real Lindbladian (see devices.liouville)."""
    coeffs = hamiltonian.control_coefficients(chip, schedule.frequencies, samples[:, sample_index], t)
    ops = hamiltonian.control_operators(chip.n_qubits, chip.n_levels)
    h_static = hamiltonian.static_hamiltonian(chip, schedule.frequencies)
    if isinstance(dynamics, Open):
        static = liouville.static_generator(h_static, hamiltonian.collapse_operators(chip))
        return static + jnp.einsum("kt,kij->tij", coeffs, jnp.asarray(liouville.control_generators(ops)))
    hams = h_static + jnp.einsum("kt,kij->tij", coeffs.astype(jnp.complex128), jnp.asarray(ops))
    return -2j * jnp.pi * hams


_GAUSS_OFFSET = jnp.sqrt(3.0) / 6  # Gauss-Legendre nodes at 1/2 -+ sqrt(3)/6 of a step


def step_exponents(chip: Chip, schedule: Schedule, dt: float, dynamics: Dynamics,
                   substeps: int) -> jax.Array:
    """Exponents Omega_j with step propagator expm(Omega_j), in time order.

    One transmon: the generator is constant over each AWG sample, so Omega = G dt is exact.
    Otherwise: the fourth-order Magnus step on `substeps` steps per sample,
    Omega = h (G1 + G2)/2 + sqrt(3)/12 h^2 [G2, G1] at the two Gauss-Legendre nodes (the
    scheme of qiskit-dynamics' `magnus_order=2`, so the two agree to rounding).
    """
    samples = schedule.render(dt)
    n_samples = samples.shape[-1]
    if chip.n_qubits == 1 and substeps == 1:
        t = (jnp.arange(n_samples, dtype=jnp.float64) + 0.5) * dt
        return dt * _generators_at(chip, schedule, samples, t, jnp.arange(n_samples), dynamics)
    h = dt / substeps
    step = jnp.arange(n_samples * substeps)
    start = step * h
    index = step // substeps
    g1 = _generators_at(chip, schedule, samples, start + (0.5 - _GAUSS_OFFSET) * h, index, dynamics)
    g2 = _generators_at(chip, schedule, samples, start + (0.5 + _GAUSS_OFFSET) * h, index, dynamics)
    return 0.5 * h * (g1 + g2) + (jnp.sqrt(3.0) / 12) * h**2 * (g2 @ g1 - g1 @ g2)


def ordered_product(mats: jax.Array) -> jax.Array:
    """M_{n-1} ... M_1 M_0 by pairwise products: log2(n) batched matmul rounds."""
    while mats.shape[0] > 1:
        if mats.shape[0] % 2:
            eye = jnp.eye(mats.shape[-1], dtype=mats.dtype)[None]
            mats = jnp.concatenate([mats, eye])
        mats = _expm.small_matmul(mats[1::2], mats[0::2])
    return mats[0]


@eqx.filter_jit
def _exact_propagator(chip, schedule, dt, dynamics, options: ExactSteps):
    exponents = step_exponents(chip, schedule, dt, dynamics, options.resolve(chip.n_qubits))
    total = ordered_product(_expm.expm(exponents, max_squarings=options.max_squarings))
    if isinstance(dynamics, Open):
        return liouville.to_column_stacking(total, chip.n_levels ** chip.n_qubits)
    return total


def propagator(chip: Chip, schedule: Schedule, *, dt: float, dynamics: Dynamics = Closed(),
               solver: Solver = ExactSteps()) -> jax.Array:
    """The unitary (Closed) or column-stacking Lindblad superoperator (Open) of the schedule."""
    check_inputs(chip, schedule, dt)
    if isinstance(solver, QiskitDynamics):
        return _qiskit_backend.propagator(chip, schedule, dt, dynamics, solver)
    return _exact_propagator(chip, schedule, dt, dynamics, solver)


def ground_state(chip: Chip) -> jax.Array:
    d = chip.n_levels ** chip.n_qubits
    return jnp.zeros((d,), jnp.complex128).at[0].set(1.0)


def basis_state(chip: Chip, levels) -> jax.Array:
    """The ket |levels[0], levels[1], ...> (qubit 0 leftmost)."""
    index = 0
    for lv in levels:
        if not 0 <= int(lv) < chip.n_levels:
            raise DeviceModelError(f"Level {lv} is outside 0..{chip.n_levels - 1}.")
        index = index * chip.n_levels + int(lv)
    d = chip.n_levels ** chip.n_qubits
    return jnp.zeros((d,), jnp.complex128).at[index].set(1.0)


def _as_density(state: jax.Array) -> jax.Array:
    return jnp.outer(state, state.conj()) if state.ndim == 1 else state


def evolve(chip: Chip, schedule: Schedule, initial: jax.Array | None = None, *, dt: float,
           dynamics: Dynamics = Closed(), solver: Solver = ExactSteps()) -> jax.Array:
    """Final state: a ket for Closed dynamics with a ket in, else a density matrix."""
    check_inputs(chip, schedule, dt)
    state = ground_state(chip) if initial is None else jnp.asarray(initial, jnp.complex128)
    d = chip.n_levels ** chip.n_qubits
    if state.shape not in ((d,), (d, d)):
        raise DeviceModelError(
            f"Argument `initial` must have shape ({d},) or ({d}, {d}), but has shape {state.shape}."
        )
    prop = propagator(chip, schedule, dt=dt, dynamics=dynamics, solver=solver)
    if isinstance(dynamics, Closed):
        return prop @ state if state.ndim == 1 else prop @ state @ prop.conj().T
    rho = _as_density(state)
    return (prop @ rho.reshape(-1, order="F")).reshape(d, d, order="F")


def populations(chip: Chip, schedule: Schedule, initial: jax.Array | None = None, *, dt: float,
                dynamics: Dynamics = Closed(), solver: Solver = ExactSteps()) -> jax.Array:
    """Populations of every basis state |l_0 l_1 ...>, shape (n_levels ** n_qubits,)."""
    final = evolve(chip, schedule, initial, dt=dt, dynamics=dynamics, solver=solver)
    p = jnp.abs(final) ** 2 if final.ndim == 1 else jnp.real(jnp.diagonal(final))
    return p


def level_populations(pops: jax.Array, n_qubits: int, n_levels: int) -> jax.Array:
    """Marginal level populations of each transmon, shape (..., n_qubits, n_levels)."""
    p = pops.reshape(pops.shape[:-1] + (n_levels,) * n_qubits)
    lead = pops.ndim - 1
    out = []
    for q in range(n_qubits):
        axes = tuple(lead + k for k in range(n_qubits) if k != q)
        out.append(p.sum(axis=axes))
    return jnp.stack(out, axis=-2)
