"""Truth metrics of a pulse on a chip: average gate fidelity, leakage, coherence limit.

For tests, benchmarks and the `truth` block of simulated-device reports. The gate acts
on one transmon of the chip with the others idle in |0>; the metric is taken on that
transmon's computational subspace after tracing out the others. With leakage the
restricted channel is not trace preserving; following Wood & Gambetta (PRA 97, 032306),
F_avg = (d F_pro + 1 - L) / (d + 1) with d = 2, the process fidelity F_pro against the
target and the average leakage L = 1 - Tr E(I/2).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from devices.chip import Chip
from devices.options import Closed, Dynamics, ExactSteps, Open, Solver
from devices.pulses import Drag
from devices.schedule import Play, Schedule
from devices.simulate import propagator

PAULI_X = jnp.array([[0, 1], [1, 0]], dtype=jnp.complex128)


class GateMetrics(NamedTuple):
    fidelity: jax.Array  # average gate fidelity on the computational subspace
    leakage: jax.Array  # average population left outside {0, 1}

    @property
    def error(self) -> jax.Array:
        return 1.0 - self.fidelity


def coherence_limit(duration, t1, t2) -> jax.Array:
    """Average gate error of an otherwise perfect gate of `duration` ns limited by T1, T2:
    e = 1/2 [1 - 2/3 exp(-t/T2) - 1/3 exp(-t/T1)]."""
    return 0.5 * (1.0 - (2.0 / 3.0) * jnp.exp(-duration / t2) - (1.0 / 3.0) * jnp.exp(-duration / t1))


def _qubit_block(out: jax.Array, chip: Chip, qubit: int) -> jax.Array:
    """Reduced 2x2 block of transmon `qubit` from a full density matrix (others traced out)."""
    lv, n = chip.n_levels, chip.n_qubits
    rho = out.reshape((lv,) * (2 * n))
    letters = "abcdefgh"
    row = [letters[k] for k in range(n)]
    col = list(row)
    col[qubit] = "z"
    reduced = jnp.einsum("".join(row) + "".join(col) + "->" + row[qubit] + "z", rho)
    return reduced[:2, :2]


def gate_metrics(chip: Chip, schedule: Schedule, target: jax.Array = PAULI_X, *, qubit: int = 0,
                 dt: float, dynamics: Dynamics = Open(), solver: Solver = ExactSteps()) -> GateMetrics:
    """Average gate fidelity and leakage of `schedule` as the single-qubit gate `target`."""
    prop = propagator(chip, schedule, dt=dt, dynamics=dynamics, solver=solver)
    return propagator_metrics(chip, prop, target, qubit=qubit, dynamics=dynamics)


def propagator_metrics(chip: Chip, prop: jax.Array, target: jax.Array = PAULI_X, *, qubit: int = 0,
                       dynamics: Dynamics = Open()) -> GateMetrics:
    """`gate_metrics` of a propagator already at hand: the unitary (Closed) or the
    column-stacking superoperator (Open) of the gate on `chip`."""
    lv, n = chip.n_levels, chip.n_qubits
    d_full = lv**n
    embed = [i * lv ** (n - 1 - qubit) for i in range(2)]  # |i> on `qubit`, others in |0>
    columns = []
    traces = []
    for j in range(2):
        for i in range(2):  # column-stacking order: index i + 2 j
            if isinstance(dynamics, Closed):
                out = jnp.outer(prop[:, embed[i]], prop[:, embed[j]].conj())
            else:
                out = prop[:, embed[i] + d_full * embed[j]].reshape(d_full, d_full, order="F")
            block = _qubit_block(out, chip, qubit)
            columns.append(block.reshape(-1, order="F"))
            if i == j:
                traces.append(jnp.real(jnp.trace(block)))
    channel = jnp.stack(columns, axis=1)
    ideal = jnp.kron(target.conj(), target)
    f_pro = jnp.real(jnp.trace(ideal.conj().T @ channel)) / 4.0
    leakage = 1.0 - 0.5 * (traces[0] + traces[1])
    fidelity = (2.0 * f_pro + 1.0 - leakage) / 3.0
    return GateMetrics(fidelity=fidelity, leakage=leakage)


@functools.partial(jax.jit, static_argnames=("duration", "dt", "dynamics"))
def _drag_newton_step(chip: Chip, frequency, amp0, sigma, z, *, duration: float, dt: float, dynamics: Dynamics):
    def error(z):  # relative amplitude, beta [ns]
        pulse = Drag(duration, amp=amp0 * (1.0 + z[0]), sigma=sigma, beta=z[1])
        schedule = Schedule([Play(0, pulse)], jnp.reshape(frequency, (1,)))
        return gate_metrics(chip, schedule, dt=dt, dynamics=dynamics).error

    return jnp.linalg.solve(jax.hessian(error)(z), jax.grad(error)(z))


def optimal_drag(chip: Chip, frequency: float, amp0: float, *, duration: float, sigma: float, dt: float,
                 dynamics: Dynamics = Open()) -> tuple[float, float]:
    """(amplitude, beta [ns]) of the DRAG X pulse on a one-transmon `chip`, driven at `frequency`,
    with the least gate error: Newton from (amp0, 0) on a smooth bowl, compiled once per pulse
    shape and dynamics (the chip is traced)."""
    z = jnp.zeros(2)
    for _ in range(20):
        step = _drag_newton_step(chip, frequency, amp0, sigma, z, duration=duration, dt=dt, dynamics=dynamics)
        z = z - step
        if float(jnp.max(jnp.abs(step))) < 1e-10:
            break
    return amp0 * (1.0 + float(z[0])), float(z[1])
