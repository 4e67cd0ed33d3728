"""Gate sequences: long programs built from a small table of gates.

RB and error-amplification experiments play hundreds of gates per shot. A GateSequence
names each step by its index in a gate table plus the virtual-Z phase applied before
it. Any device can play it as the flat Schedule `to_schedule()` gives; a simulator can
instead propagate each table gate once and compose. Composition is exact: a pulse
played after ShiftPhase(phi) evolves as R U R^dag with R = exp(-i phi n) on the driven
transmon (the frame change commutes with the static Hamiltonian).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices._validate import DeviceModelError
from devices.schedule import Schedule, ShiftPhase


class GateSequence(eqx.Module):
    """gates[program[k]] played in order, after ShiftPhase(phases[k]) on channel 0.

    Single-channel (one qubit) sequences; each table gate is a Schedule on channel 0 of
    the same carrier frequency. `program` is static (it fixes the layout); phases are
    traced, so phase sweeps do not recompile.
    """

    gates: tuple[Schedule, ...]
    program: tuple[int, ...] = eqx.field(static=True)
    # jnp.array copies: jnp.asarray may share an aligned numpy buffer on CPU, and a caller
    # editing its array afterwards would silently change this sequence.
    phases: jax.Array = eqx.field(converter=lambda p: jnp.array(p, dtype=jnp.float64))

    def __init__(self, gates: Sequence[Schedule], program: Sequence[int], phases=None):
        self.gates = tuple(gates)
        self.program = tuple(int(k) for k in program)
        self.phases = np.zeros(len(self.program)) if phases is None else phases

    def __check_init__(self):
        if not self.gates:
            raise DeviceModelError("GateSequence.gates is empty: give at least one gate Schedule.")
        for i, g in enumerate(self.gates):
            if not isinstance(g, Schedule) or g.n_channels != 1:
                raise DeviceModelError(f"GateSequence.gates[{i}] must be a single-channel Schedule.")
        bad = [k for k in self.program if not 0 <= k < len(self.gates)]
        if bad:
            raise DeviceModelError(
                f"GateSequence.program refers to gate {bad[0]}, but the table has gates 0..{len(self.gates) - 1}."
            )
        if self.phases.shape[-1:] != (len(self.program),):
            raise DeviceModelError(
                f"Argument `phases` must have shape (..., {len(self.program)}) (one per step), "
                f"but has shape {self.phases.shape}."
            )

    @property
    def n_channels(self) -> int:
        return 1

    @property
    def n_lines(self) -> int:
        return 1

    @property
    def frequencies(self) -> jax.Array:
        return self.gates[0].frequencies

    def duration(self, dt: float) -> float:
        lengths = [float(g.duration(dt)) for g in self.gates]
        return float(sum(lengths[k] for k in self.program))

    def to_schedule(self) -> Schedule:
        """The same program as one flat Schedule (what hardware plays)."""
        instructions = []
        for step, k in enumerate(self.program):
            instructions.append(ShiftPhase(0, self.phases[step]))
            instructions += list(self.gates[k].instructions)
        if not instructions:
            raise DeviceModelError("GateSequence.program is empty.")
        return Schedule(instructions, self.frequencies)


def frame_diagonal(phase: jax.Array, n_levels: int) -> jax.Array:
    """Diagonal of the column-stacking superoperator of X -> R X R^dag, R = exp(-i phase n)."""
    r = jnp.exp(-1j * phase * jnp.arange(n_levels))
    return jnp.kron(r.conj(), r)


def evolve_program(gate_superops: jax.Array, program: jax.Array, phases: jax.Array,
                   state: jax.Array, n_levels: int) -> jax.Array:
    """vec(rho) after the program's gates, each conjugated by its frame.

    gate_superops: (n_gates, d^2, d^2) column-stacking; program: (steps,) int with -1 for
    padding (identity), so sequences of different lengths share one compiled scan. One
    matrix-vector product per step: far cheaper than composing the superoperators."""
    def step(vec, item):
        index, phase = item
        frame = frame_diagonal(phase, n_levels)
        moved = frame * (gate_superops[jnp.maximum(index, 0)] @ (frame.conj() * vec))
        return jnp.where(index >= 0, moved, vec), None

    # the frame of step k is the cumulative phase of every ShiftPhase up to and including k
    final, _ = jax.lax.scan(step, state, (program, jnp.cumsum(phases)))
    return final
