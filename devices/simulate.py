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
import numpy as np

from devices import _expm, hamiltonian, liouville
from devices._validate import DeviceModelError, concrete, nan_where
from devices.chip import Chip
from devices.options import Closed, Dynamics, ExactSteps, Open, QiskitDynamics, Solver
from devices.schedule import Held, Hold, Idle, Schedule

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
    if schedule.n_lines != chip.n_qubits:
        raise DeviceModelError(
            f"Schedule plays on {schedule.n_lines} drive lines, but the chip has "
            f"{chip.n_qubits} transmons: give one channel (carrier frequency) per transmon."
        )
    if not (isinstance(dt, float) and dt > 0):
        raise DeviceModelError(f"Argument `dt` must be a positive float (ns), but is {dt!r}.")
    schedule.duration(dt)  # checks every delay lies on the sample grid (concrete ones here)
    frequencies = concrete(schedule.frequencies)
    for ins in schedule.instructions:
        if isinstance(ins, Hold) and frequencies is not None:
            carriers = frequencies[..., list(ins.channels)]
            if np.any(carriers != carriers[..., :1]):
                raise DeviceModelError(
                    f"Hold on channels {list(ins.channels)}: the held channels must share one carrier "
                    f"frequency, but their carriers are {carriers.tolist()} GHz.")


def check_finite_result(result, options) -> None:
    """A concrete simulation result with NaN: a step the matrix exponential could not keep exact
    (devices._expm gives NaN rather than an inaccurate step), since inputs were checked first."""
    values = concrete(result)
    if values is not None and not np.all(np.isfinite(values)):
        limit = _expm.THETA * 2.0**options.max_squarings
        raise DeviceModelError(
            f"A propagation step's generator has 1-norm above {limit:.3g}, beyond what "
            f"{options.max_squarings} squarings keep exact: use more substeps (ExactSteps(substeps=...), "
            "which also divide idle periods) or a larger ExactSteps(max_squarings=...).")


def _generators_at(chip: Chip, frequencies: jax.Array, envelopes: jax.Array, t: jax.Array,
                   dynamics: Dynamics, trace_basis: bool = False,
                   lines: tuple[int, ...] | None = None) -> jax.Array:
    """Generators G(t) (d/dt y = G y) for channel envelopes (n_channels, T) at times t (T,).

    Closed: complex -i 2 pi H(t). Open: the real Lindbladian (see devices.liouville), in
    liouville's trace basis if `trace_basis`. The frames are the first n_qubits carriers."""
    coeffs = hamiltonian.control_coefficients(chip, frequencies, envelopes, t, lines)
    ops = hamiltonian.control_operators(chip.n_qubits, chip.n_levels)
    h_static = hamiltonian.static_hamiltonian(chip, frequencies[:chip.n_qubits])
    if isinstance(dynamics, Open):
        static = liouville.static_generator(h_static, hamiltonian.collapse_operators(chip))
        controls = jnp.asarray(liouville.control_generators(ops, trace_basis))
        if trace_basis:  # the basis of the constant parts, not of every step's sum
            static = liouville.to_trace_basis(static)
        return static + jnp.einsum("kt,kij->tij", coeffs, controls)
    hams = h_static + jnp.einsum("kt,kij->tij", coeffs.astype(jnp.complex128), jnp.asarray(ops))
    return -2j * jnp.pi * hams


_GAUSS_OFFSET = jnp.sqrt(3.0) / 6  # Gauss-Legendre nodes at 1/2 -+ sqrt(3)/6 of a step


def step_exponents(chip: Chip, frequencies: jax.Array, samples: jax.Array, t0, dt: float,
                   dynamics: Dynamics, substeps: int, trace_basis: bool = False,
                   lines: tuple[int, ...] | None = None) -> jax.Array:
    """Exponents Omega_j (step propagator expm(Omega_j)) of a driven block starting at t0.

    One transmon on one channel: the generator is constant over each AWG sample, so
    Omega = G dt is exact.
    Otherwise: the fourth-order Magnus step on `substeps` steps per sample,
    Omega = h (G1 + G2)/2 + sqrt(3)/12 h^2 [G2, G1] at the two Gauss-Legendre nodes (the
    scheme of qiskit-dynamics' `magnus_order=2`, so the two agree to rounding).
    """
    n_samples = samples.shape[-1]
    if chip.n_qubits == 1 and samples.shape[0] == 1 and substeps == 1:
        t = t0 + (jnp.arange(n_samples, dtype=jnp.float64) + 0.5) * dt
        return dt * _generators_at(chip, frequencies, samples, t, dynamics, trace_basis, lines)
    h = dt / substeps
    step = jnp.arange(n_samples * substeps)
    start = t0 + step * h
    envelopes = samples[:, step // substeps]
    g1 = _generators_at(chip, frequencies, envelopes, start + (0.5 - _GAUSS_OFFSET) * h, dynamics,
                        trace_basis, lines)
    g2 = _generators_at(chip, frequencies, envelopes, start + (0.5 + _GAUSS_OFFSET) * h, dynamics,
                        trace_basis, lines)
    return 0.5 * h * (g1 + g2) + (jnp.sqrt(3.0) / 12) * h**2 * (g2 @ g1 - g1 @ g2)


def driven_propagator(chip: Chip, frequencies: jax.Array, samples: jax.Array, t0, dt: float,
                      dynamics: Dynamics, options: ExactSteps,
                      lines: tuple[int, ...] | None = None,
                      one_carrier: tuple[int, ...] | None = None) -> jax.Array:
    """Propagator of a driven block from t0: the ordered product of its step exponentials.

    one_carrier: the playing channels, when they are known to share one carrier (one
    channel, or a group of Schedule.shared_carriers): the block is then exact in that
    carrier's common frame (common_frame_propagator)."""
    # an extra tone on a lone transmon rotates within a sample like a second transmon's frame
    substeps = options.resolve(max(chip.n_qubits, samples.shape[0]))
    own_frame = chip.n_qubits == 1 and samples.shape[0] == 1  # already one exponential per sample
    if one_carrier and options.common_frame and not own_frame:
        return common_frame_propagator(chip, frequencies, samples, t0, dt, dynamics, options, lines, one_carrier)
    if isinstance(dynamics, Closed):
        exponents = step_exponents(chip, frequencies, samples, t0, dt, dynamics, substeps, lines=lines)
        return ordered_product(_expm.expm(exponents, max_squarings=options.max_squarings))
    # In the trace basis a Lindblad generator's first row is zero (trace preservation),
    # which makes the exponential's products (d^2 - 1)^3 instead of d^6: about 1.35x
    # faster gradients for a qutrit. The basis change leaves ~1e-17 in entries that are
    # exactly zero in the E_ii basis (e.g. upward population rates): harmless over a
    # pulse's steps; idle periods, raised to powers up to 2^40, keep the E_ii basis.
    exponents = step_exponents(chip, frequencies, samples, t0, dt, dynamics, substeps,
                               trace_basis=True, lines=lines)
    # Gradients recompute the exponentials rather than store their ~10 intermediates per
    # step: cheaper when a caller maps over cache-sized chunks (about 10 % on 1000 gates).
    @jax.checkpoint
    def product(exponents):
        steps = _expm.expm(exponents, max_squarings=options.max_squarings, trace_preserving=True)
        return ordered_product(steps)
    return liouville.from_trace_basis(product(exponents))


def common_frame_propagator(chip: Chip, frequencies: jax.Array, samples: jax.Array, t0, dt: float,
                            dynamics: Dynamics, options: ExactSteps, lines: tuple[int, ...] | None,
                            playing: tuple[int, ...]) -> jax.Array:
    """Exact propagator of a driven block whose playing channels share one carrier f*.

    In the common frame at f* (every transmon viewed at f*) the drive, the exchange
    couplings and the detunings are constant over each AWG sample, as for a held tone
    (held_propagator), so the block is R(t1) prod_j exp(G_j dt) R(t0)^-1: one exponential
    per sample, no Magnus truncation, where the transmons' own frames need `substeps`
    Magnus steps per sample to follow the carrier differences (~450 MHz for a CR tone).
    The common frame's detunings make G dt larger (~1.8 closed and ~3.3 open for 3-level
    transmons 450 MHz apart): the substeps m divide it, exp(G dt) = exp(G dt / m)^m, as
    log2(m) more squarings of one exponential (ExactSteps.common_frame_squarings)."""
    squarings = options.common_frame_squarings()
    frames = frequencies[:chip.n_qubits]
    carrier = _shared_carrier(frequencies, playing)
    common = jnp.full_like(frequencies, carrier)
    static = jnp.zeros((samples.shape[-1],))  # the coefficients do not turn in the common frame
    if isinstance(dynamics, Closed):
        exponents = dt * _generators_at(chip, common, samples, static, dynamics, lines=lines)
        evolution = ordered_product(_expm.expm(exponents, max_squarings=squarings))
    else:
        exponents = dt * _generators_at(chip, common, samples, static, dynamics, trace_basis=True, lines=lines)

        @jax.checkpoint  # as in driven_propagator
        def product(exponents):
            return ordered_product(_expm.expm(exponents, max_squarings=squarings, trace_preserving=True))
        evolution = liouville.from_trace_basis(product(exponents))
    return _in_own_frames(chip, frames, carrier, t0, t0 + samples.shape[-1] * dt, evolution, dynamics)


def _one_carrier(schedule: Schedule, playing: tuple[int, ...]) -> tuple[int, ...] | None:
    """The playing channels of a block if they share one carrier, else None."""
    if len(playing) == 1 or (playing and any(set(playing) <= set(group) for group in schedule.shared_carriers)):
        return playing
    return None


def ordered_product(mats: jax.Array) -> jax.Array:
    """M_{n-1} ... M_1 M_0 of mats (n, ..., d, d) by pairwise products: log2(n) batched
    matmul rounds."""
    while mats.shape[0] > 1:
        if mats.shape[0] % 2:
            eye = jnp.broadcast_to(jnp.eye(mats.shape[-1], dtype=mats.dtype), (1, *mats.shape[1:]))
            mats = jnp.concatenate([mats, eye])
        mats = _expm.small_matmul(mats[1::2], mats[0::2])
    return mats[0]


IDLE_BITS = 40  # idle periods up to 2^40 samples (over 150 hours at dt = 0.5 ns)


def matrix_power(base: jax.Array, n: jax.Array) -> jax.Array:
    """base ** n for a traced integer n >= 0 by binary powering over a fixed bit count."""
    def body(carry, bit):
        result, power = carry
        result = jnp.where((n >> bit) & 1, power @ result, result)
        return (result, power @ power), None

    eye = jnp.eye(base.shape[-1], dtype=base.dtype)
    (result, _), _ = jax.lax.scan(body, (eye, base), jnp.arange(IDLE_BITS))
    return result


def _frame_rotation(chip: Chip, frequencies: jax.Array, reference, t, dynamics: Dynamics):
    """R(t) = exp(i 2 pi sum_q (f_q - f_ref) n_q t): from the common frame at f_ref to the
    per-qubit frames, as a unitary (Closed) or as the real superoperator X -> R X R^dag."""
    levels = jnp.arange(chip.n_levels)
    grids = jnp.meshgrid(*([levels] * chip.n_qubits), indexing="ij")
    phase = sum(g.reshape(-1) * (frequencies[q] - reference) for q, g in enumerate(grids))
    diag = jnp.exp(2j * jnp.pi * phase * t)
    if isinstance(dynamics, Open):
        return liouville.real_form(jnp.diag(jnp.kron(diag.conj(), diag)), diag.shape[0])
    return jnp.diag(diag)


def _in_own_frames(chip: Chip, frames: jax.Array, reference, t0, t1, evolution: jax.Array,
                   dynamics: Dynamics) -> jax.Array:
    """R(t1) E R(t0)^-1: the evolution E of a block from t0 to t1 in the common frame at
    `reference`, moved to the transmons' own frames."""
    back = _frame_rotation(chip, frames, reference, -t0, dynamics)
    return _frame_rotation(chip, frames, reference, t1, dynamics) @ evolution @ back


def _shared_carrier(frequencies: jax.Array, channels: tuple[int, ...]) -> jax.Array:
    """The one carrier of `channels` (a Hold's, or a Schedule.shared_carriers group's); NaN
    where their traced carriers differ, as the host checks concrete ones."""
    carrier = frequencies[channels[0]]
    return nan_where(jnp.any(frequencies[np.asarray(channels)] != carrier), carrier)


def reference_frequency(frequencies: jax.Array) -> jax.Array:
    """The common frame of idle periods: the middle of the carriers, which keeps the
    common-frame Hamiltonian's norm as small as the carriers' spread allows."""
    return 0.5 * (jnp.min(frequencies) + jnp.max(frequencies))


def idle_propagator(chip: Chip, frequencies: jax.Array, n_samples, t0, dt: float,
                    dynamics: Dynamics, options: ExactSteps) -> jax.Array:
    """Exact propagator of n idle samples from t0 in the frames of `frequencies` (n_qubits,).

    Without drive the RWA Hamiltonian is static in the common frame at f_ref (excitation
    number is conserved, and the dissipators are phase covariant), so the evolution
    is R(t1) E^(n m) R(t0)^-1 with E = exp(G_common dt / m), m the substeps: one small
    exponential and binary powering, whatever the length."""
    substeps = options.resolve(chip.n_qubits)
    reference = reference_frequency(frequencies)
    common = jnp.full_like(frequencies, reference)
    zero_drive = jnp.zeros((chip.n_qubits, 1), jnp.complex128)
    gen = _generators_at(chip, common, zero_drive, jnp.zeros((1,)), dynamics)[0]
    if isinstance(dynamics, Closed) and chip.n_qubits == 1:
        # A lone transmon's idle Hamiltonian is diagonal (detuning and anharmonicity): its
        # propagator is one elementwise exponential, where binary powering costs 40 masked
        # matrix products (and their gradients) per idle.
        phases = jnp.diagonal(gen) * (dt * jnp.maximum(n_samples, 0))
        return nan_where(n_samples < 0, jnp.diag(jnp.exp(phases)))  # < 0: off the grid
    step = _expm.expm(gen * (dt / substeps), max_squarings=options.max_squarings)
    evolution = nan_where(n_samples < 0, matrix_power(step, n_samples * substeps))  # < 0: off the grid
    if chip.n_qubits == 1:
        return evolution  # the common frame is the qubit's own frame
    return _in_own_frames(chip, frequencies, reference, t0, t0 + n_samples * dt, evolution, dynamics)


def held_propagator(chip: Chip, frequencies: jax.Array, seg: Held, t0, dt: float, dynamics: Dynamics,
                    options: ExactSteps, lines: tuple[int, ...]) -> jax.Array:
    """Exact propagator of constant tones held for n samples from t0.

    The playing channels share one carrier f*, so in the common frame at f* (every transmon
    viewed at f*) the drive, the exchange couplings and the detunings are all static: the
    block is E^(n m) with E = exp(G dt / m) (m the substeps, to keep each exponent as small
    as a driven step's), then moved to the transmons' own frames by R(t), as for
    an idle period (idle_propagator). Channels whose carrier differs from f* are an error:
    their tones would turn in that frame."""
    frames = frequencies[:chip.n_qubits]
    carrier = _shared_carrier(frequencies, seg.channels)  # checked on the host when concrete: check_inputs
    common = jnp.full_like(frequencies, carrier)
    gen = _generators_at(chip, common, seg.amplitudes[:, None], jnp.zeros((1,)), dynamics, lines=lines)[0]
    substeps = options.resolve(chip.n_qubits)
    step = _expm.expm(gen * (dt / substeps), max_squarings=options.max_squarings)
    evolution = nan_where(seg.n_samples < 0, matrix_power(step, seg.n_samples * substeps))  # < 0: off the grid
    return _in_own_frames(chip, frames, carrier, t0, t0 + seg.n_samples * dt, evolution, dynamics)


def _excitation_rotation(chip: Chip, phase: jax.Array, dynamics: Dynamics) -> jax.Array:
    """R = exp(-i phase N) with N the total excitation number; as the real superoperator
    X -> R X R^dag for Open dynamics."""
    levels = jnp.arange(chip.n_levels)
    grids = jnp.meshgrid(*([levels] * chip.n_qubits), indexing="ij")
    total = sum(g.reshape(-1) for g in grids)
    diag = jnp.exp(-1j * phase * total)
    if isinstance(dynamics, Open):
        return liouville.real_form(jnp.diag(jnp.kron(diag.conj(), diag)), diag.shape[0])
    return jnp.diag(diag)


def _inverse_rotation(frame: jax.Array, dynamics: Dynamics) -> jax.Array:
    # both forms are unitary (the real form is orthogonal)
    return frame.T if isinstance(dynamics, Open) else frame.conj().T


@eqx.filter_jit
def _exact_propagator(chip, schedule, dt, dynamics, options: ExactSteps):
    freqs = schedule.frequencies
    frames = freqs[:chip.n_qubits]
    lines = schedule.lines
    total = None
    t0 = jnp.zeros((), jnp.float64)
    for seg in schedule.segments(dt):
        if isinstance(seg, Idle):
            prop = idle_propagator(chip, frames, seg.n_samples, t0, dt, dynamics, options)
            t0 = t0 + seg.n_samples * dt
        elif isinstance(seg, Held):
            prop = held_propagator(chip, freqs, seg, t0, dt, dynamics, options, lines)
            t0 = t0 + seg.n_samples * dt
        elif seg.phase is None:
            prop = driven_propagator(chip, freqs, seg.samples, t0, dt, dynamics, options, lines,
                                     _one_carrier(schedule, seg.playing))
            t0 = t0 + seg.samples.shape[-1] * dt
        else:
            # One channel d plays: the block at (t0, phase) is the block at (0, 0) conjugated
            # by R_c(t0) R_N(phase') with phase' = phase + 2 pi (f_d - f_ref) t0, so a sweep of
            # delays and phases shares one pulse propagator (derivation in the docstring of
            # Driven and of idle_propagator).
            prop = driven_propagator(chip, freqs, seg.samples, 0.0, dt, dynamics, options, lines, seg.playing)
            reference = reference_frequency(frames)
            phase = seg.phase + 2 * jnp.pi * (freqs[seg.channel] - reference) * t0
            frame = _excitation_rotation(chip, phase, dynamics)
            if chip.n_qubits > 1:
                frame = _frame_rotation(chip, frames, reference, t0, dynamics) @ frame
            prop = frame @ prop @ _inverse_rotation(frame, dynamics)
            t0 = t0 + seg.samples.shape[-1] * dt
        total = prop if total is None else prop @ total
    if isinstance(dynamics, Open):
        return liouville.to_column_stacking(total, chip.n_levels ** chip.n_qubits)
    return total


def propagator(chip: Chip, schedule: Schedule, *, dt: float, dynamics: Dynamics = Closed(),
               solver: Solver = ExactSteps()) -> jax.Array:
    """The unitary (Closed) or column-stacking Lindblad superoperator (Open) of the schedule."""
    check_inputs(chip, schedule, dt)
    if isinstance(solver, QiskitDynamics):
        # imported on demand: qiskit-dynamics takes seconds to import and is only the reference
        from devices import _qiskit_backend

        return _qiskit_backend.propagator(chip, schedule, dt, dynamics, solver)
    result = _exact_propagator(chip, schedule, dt, dynamics, solver)
    check_finite_result(result, solver)
    return result


def ground_state(chip: Chip) -> jax.Array:
    d = chip.n_levels ** chip.n_qubits
    return jnp.zeros((d,), jnp.complex128).at[0].set(1.0)


def basis_state(chip: Chip, levels) -> jax.Array:
    """The ket |levels[0], levels[1], ...> (qubit 0 leftmost)."""
    if len(levels) != chip.n_qubits:
        raise DeviceModelError(
            f"Argument `levels` must give one level per transmon ({chip.n_qubits}), but is {list(levels)}."
        )
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
