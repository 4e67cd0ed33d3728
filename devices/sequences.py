"""Gate sequences: long programs built from a small table of gates.

RB and error-amplification experiments play hundreds of gates per shot. A GateSequence
names each step by its index in a gate table plus the virtual-Z phase applied before
it. Any device can play it as the flat Schedule `to_schedule()` gives; a simulator can
instead propagate each table gate once and compose. Composition is exact: a pulse
played after ShiftPhase(phi) evolves as R U R^dag with R = exp(-i phi n) on the driven
transmon (the frame change commutes with the static Hamiltonian).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices._validate import DeviceModelError
from devices.schedule import Barrier, Hold, Play, Schedule, ShiftPhase


def _phase_array(phases) -> np.ndarray | jax.Array:
    """A sequence's own float64 copy of its phases (a caller editing its array afterwards must
    not change the sequence). Concrete phases stay numpy: converting each program's array with
    JAX ran one small compiled copy per program length, 12 s for the ~3,800 sequences of a
    sim-5q run. Traced phases (a phase sweep under jit) stay traced."""
    if isinstance(phases, jax.Array):
        return jnp.array(phases, dtype=jnp.float64)
    return np.array(phases, dtype=np.float64)


class GateSequence(eqx.Module):
    """gates[program[k]] played in order, after ShiftPhase(phases[k]) on channel 0.

    Single-channel (one qubit) sequences; each table gate is a Schedule on channel 0 of
    the same carrier frequency. `program` is static (it fixes the layout); phases are
    traced, so phase sweeps do not recompile.
    """

    gates: tuple[Schedule, ...]
    program: tuple[int, ...] = eqx.field(static=True)
    phases: np.ndarray | jax.Array = eqx.field(converter=_phase_array)

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


def _ladder(longest: int) -> np.ndarray:
    """Padded program lengths: multiples of 64 near 64 * sqrt(2)^k (64, 128, 192, 256, 384, ...)."""
    rungs = 64 * np.ceil(2.0 ** (np.arange(2 * int(np.log2(max(longest, 64) / 64)) + 3) / 2)).astype(np.int64)
    return np.unique(rungs)


def length_buckets(lengths: Sequence[int]) -> list[tuple[np.ndarray, int]]:
    """(indices, steps) of programs simulated together, each bucket's loop stopping after its
    steps (its arrays padded to `bucket_capacity`, which the buckets share).

    A simulator scans every program of a call to the same number of steps, so one long RB length
    would pad the short ones to its length (73 % of the steps of a default RB run were padding).
    Each program goes to the smallest rung of a fixed ladder that holds it, so it is padded to at
    most 1.5 times its length (or to 128 steps). The ladder is fixed, so the same sweep always
    gives the same shapes and reuses its compiled scans instead of compiling for each run's
    exact longest program."""
    lengths = np.asarray(lengths, dtype=np.int64)
    ladder = _ladder(int(lengths.max(initial=1)))
    rung = np.searchsorted(ladder, np.maximum(lengths, 1))
    return [(np.flatnonzero(rung == r), int(ladder[r])) for r in np.unique(rung)]


def bucket_capacity(buckets: Sequence[tuple[np.ndarray, int]]) -> int:
    """The steps every bucket's arrays are padded to: the longest bucket's, so that the buckets
    share one compiled loop (devices.sequences._in_chunks) and differ only in where it stops."""
    return max(steps for _, steps in buckets)


def padded_programs(sequences: Sequence[GateSequence], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(programs, phases), shape (len(sequences), steps): each program padded with -1 (no gate)."""
    programs = np.full((len(sequences), steps), -1, dtype=np.int64)
    phases = np.zeros((len(sequences), steps))
    for k, s in enumerate(sequences):
        programs[k, :len(s.program)] = s.program
        phases[k, :len(s.program)] = np.asarray(s.phases)
    return programs, phases


@functools.lru_cache(maxsize=8)
def _hermitian_basis(n_levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(to_real, from_real, turns) of the real basis of Hermitian matrices that evolve_programs
    works in: (rho_00, rho_11, ..., Re rho_01, Im rho_01, Re rho_02, ...), pairs i < j in order.
    to_real maps a column-stacked vec(rho) (index i + d j) there, from_real back; a frame
    R = exp(-i phi n) multiplies rho_ij by exp(i phi (j - i)): turns holds j - i per pair."""
    d = n_levels
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    to_real = np.zeros((d * d, d * d), complex)
    for k in range(d):
        to_real[k, k + d * k] = 1.0
    for n, (i, j) in enumerate(pairs):
        to_real[d + 2 * n, [i + d * j, j + d * i]] = 0.5, 0.5  # Re rho_ij
        to_real[d + 2 * n + 1, [i + d * j, j + d * i]] = -0.5j, 0.5j  # Im rho_ij
    turns = np.array([j - i for i, j in pairs], float)
    return to_real, np.linalg.inv(to_real), turns


def _turn(vecs: jax.Array, cos: jax.Array, sin: jax.Array, n_levels: int) -> jax.Array:
    """Real-basis vectors (batch, d^2) with each coherence rho_ij turned by its angle (cos, sin)."""
    re, im = vecs[:, n_levels::2], vecs[:, n_levels + 1::2]
    turned = jnp.stack([re * cos - im * sin, re * sin + im * cos], axis=-1).reshape(re.shape[0], -1)
    return jnp.concatenate([vecs[:, :n_levels], turned], axis=1)


CHUNK = 64  # steps per compiled inner scan; every rung of the length ladder is a multiple


def _in_chunks(chunk, state: jax.Array, items: tuple[jax.Array, ...], fills: tuple, steps) -> jax.Array:
    """The state after chunk(state, rows) over the (batch, capacity) `items`, CHUNK steps at a
    time (rows: each item's (CHUNK, batch) slice), up to the chunk that holds step `steps`
    (traced; None: all): the steps after `steps` must be padding. The items are padded to a
    multiple of CHUNK with `fills`, which must leave a state as it is (no gate). The number of
    chunks is a traced bound, so length buckets padded to one capacity share one compiled loop
    (and its Jacobian), where a scan of each bucket's length compiled one program per bucket:
    7 for a default RB run, ~1.6 s each for the likelihood's Jacobian. A step-by-step loop with
    a traced bound ran 2.5-3x slower than the scans; with a scan per chunk the likelihood's
    evaluations run as fast as before (40 ms, 0.21 s Jacobian)."""
    capacity = -(-items[0].shape[1] // CHUNK) * CHUNK
    by_step = tuple(jnp.moveaxis(jnp.pad(a, ((0, 0), (0, capacity - a.shape[1])), constant_values=fill), 1, 0)
                    for a, fill in zip(items, fills))

    def body(c, state):
        return chunk(state, tuple(jax.lax.dynamic_slice_in_dim(a, c * CHUNK, CHUNK) for a in by_step))

    chunks = capacity // CHUNK if steps is None else jnp.minimum(-(-steps // CHUNK), capacity // CHUNK)
    return jax.lax.fori_loop(0, chunks, body, state)


def evolve_programs(gate_superops: jax.Array, programs: jax.Array, phases: jax.Array,
                    state: jax.Array, n_levels: int, steps: jax.Array | None = None) -> jax.Array:
    """(batch, d^2): vec(rho) after each program's gates, each conjugated by its frame.

    gate_superops: (n_gates, d^2, d^2) column-stacking, Hermiticity preserving; programs:
    (batch, capacity) int with -1 for padding (identity), so sequences of different lengths share
    one compiled loop; phases: (batch, capacity), each step's ShiftPhase; state: the initial
    vec(rho); steps: the programs' longest length (traced; None: capacity), after which every
    step is padding and may be skipped. One matrix-vector product per step: far cheaper than
    composing the superoperators."""
    # How, and why (RB-sized batches: 30 programs of 2944 steps, forward / forward-mode Jacobian):
    # - one loop over the steps carries the whole batch; a vmap of per-sequence scans was
    #   1.8x / 2.7x slower;
    # - the steps run in the real basis of Hermitian matrices, where the superoperators are
    #   real and a frame turns each coherence's (Re, Im) pair: 2x / 1.7x over complex vec(rho);
    # - every table gate is applied and the step's one kept by a one-hot weight: a gate table
    #   holds a few gates, and gathering a superoperator per step was no faster;
    # - the frames' angles (the cumulative phase of every ShiftPhase up to and including the
    #   step) are summed before the loop and turned into cosines per chunk, out of the scan.
    to_real, from_real, turns = _hermitian_basis(n_levels)
    table = jnp.real(to_real @ gate_superops @ from_real)

    def step(vecs, item):
        weights, pad, cos, sin = item
        back = _turn(vecs, cos, -sin, n_levels)
        moved = _turn(jnp.einsum("bg,gij,bj->bi", weights, table, back), cos, sin, n_levels)
        return moved + pad * vecs, None

    def chunk(vecs, rows):
        indices, angles = rows
        choice = (indices[..., None] == jnp.arange(table.shape[0])).astype(table.dtype)
        padding = 1.0 - jnp.sum(choice, axis=-1, keepdims=True)
        turned = angles[..., None] * turns
        return jax.lax.scan(step, vecs, (choice, padding, jnp.cos(turned), jnp.sin(turned)))[0]

    start = jnp.broadcast_to(jnp.real(to_real @ state), (programs.shape[0], state.shape[-1]))
    final = _in_chunks(chunk, start, (programs, jnp.cumsum(phases, axis=-1)), (-1, 0.0), steps)
    return final @ from_real.T


class BlockSequence(eqx.Module):
    """Long programs on two or three transmons (two-qubit RB): blocks[program[k]] in order.

    Each block is a Schedule on the transmons' channels whose playing channels all share one
    carrier, that of frame `frames[b]` (the carrier of line frames[b]; a CR tone plays in the
    target's frame). `phases` (steps, n_frames) are virtual Z's: before step k, frame f's phase
    grows by phases[k, f], shifting every channel at that frame's carrier.

    Composition is exact. In the common frame at a block's carrier f_d the Hamiltonian is static
    but for the envelopes, so the block started at t0 under frame phase phi is the block started
    at 0 under phase 0 conjugated by R_c(t0) R_N(phi + 2 pi (f_d - f_ref) t0) (devices.simulate's
    single-channel blocks use the same identity; R_c moves the common frame at f_ref to the
    transmons' frames, R_N = exp(-i x N) with N the total excitation number). So a simulator
    propagates each block once and then, per step, multiplies a state by a diagonal, the block's
    superoperator and the diagonal's inverse. Hardware plays `to_schedule()`.
    """

    blocks: tuple[Schedule, ...]
    frames: tuple[int, ...] = eqx.field(static=True)
    program: tuple[int, ...] = eqx.field(static=True)
    phases: np.ndarray | jax.Array = eqx.field(converter=_phase_array)

    def __init__(self, blocks: Sequence[Schedule], frames: Sequence[int], program: Sequence[int], phases=None):
        self.blocks = tuple(blocks)
        self.frames = tuple(int(f) for f in frames)
        self.program = tuple(int(k) for k in program)
        n_frames = self.blocks[0].n_lines if self.blocks else 1
        self.phases = np.zeros((len(self.program), n_frames)) if phases is None else phases

    def __check_init__(self):
        if not self.blocks:
            raise DeviceModelError("BlockSequence.blocks is empty: give at least one block Schedule.")
        first = self.blocks[0]
        for i, b in enumerate(self.blocks):
            if not isinstance(b, Schedule) or b.lines != first.lines:
                raise DeviceModelError(f"BlockSequence.blocks[{i}] must be a Schedule on the channels and lines of "
                                       f"blocks[0] ({list(first.lines)}).")
        if len(self.frames) != len(self.blocks) or not all(0 <= f < first.n_lines for f in self.frames):
            raise DeviceModelError(f"BlockSequence.frames is {list(self.frames)}, but must give each of the "
                                   f"{len(self.blocks)} blocks a frame in 0..{first.n_lines - 1}.")
        bad = [k for k in self.program if not 0 <= k < len(self.blocks)]
        if bad:
            raise DeviceModelError(f"BlockSequence.program refers to block {bad[0]}, but the table has blocks "
                                   f"0..{len(self.blocks) - 1}.")
        if self.phases.shape[-2:] != (len(self.program), first.n_lines):
            raise DeviceModelError(f"Argument `phases` must have shape (..., {len(self.program)}, {first.n_lines}) "
                                   f"(one per step and frame), but has shape {self.phases.shape}.")
        if isinstance(first.frequencies, jax.core.Tracer):
            return
        freqs = np.asarray(first.frequencies)
        for i, (b, frame) in enumerate(zip(self.blocks, self.frames)):
            playing = {c for ins in b.instructions if isinstance(ins, (Play, Hold))
                       for c in (ins.channels if isinstance(ins, Hold) else (ins.channel,))}
            off = sorted(c for c in playing if freqs[c] != freqs[frame])
            if off:  # the composition identity holds for one carrier per block only
                raise DeviceModelError(f"BlockSequence.blocks[{i}] plays channel(s) {off} off the carrier of its "
                                       f"frame {frame} ({freqs[frame]} GHz): split it into one block per carrier.")

    @property
    def n_channels(self) -> int:
        return self.blocks[0].n_channels

    @property
    def n_lines(self) -> int:
        return self.blocks[0].n_lines

    @property
    def lines(self) -> tuple[int, ...]:
        return self.blocks[0].lines

    @property
    def frequencies(self) -> jax.Array:
        return self.blocks[0].frequencies

    def channel_frames(self) -> tuple[int, ...]:
        """The frame of each channel: its line's own for channels 0..n_lines-1, else the line
        whose carrier it shares (concrete frequencies only)."""
        freqs = np.asarray(self.frequencies)
        frames = list(range(self.n_lines))
        for c in range(self.n_lines, self.n_channels):
            same = [f for f in range(self.n_lines) if freqs[f] == freqs[c]]
            if not same:
                raise DeviceModelError(f"BlockSequence channel {c} plays at {freqs[c]} GHz, the carrier of no "
                                       "frame: virtual Z's could not follow it.")
            frames.append(same[0])
        return tuple(frames)

    def duration(self, dt: float) -> float:
        lengths = [float(b.duration(dt)) for b in self.blocks]
        return float(sum(lengths[k] for k in self.program))

    def to_schedule(self) -> Schedule:
        """The same program as one flat Schedule (what hardware plays)."""
        frames = self.channel_frames()
        channels = [[c for c, f in enumerate(frames) if f == frame] for frame in range(self.n_lines)]
        instructions = []
        for step, k in enumerate(self.program):
            for frame, shift in enumerate(self.phases[step]):
                instructions += [ShiftPhase(c, shift) for c in channels[frame]]
            instructions += list(self.blocks[k].instructions)
            instructions.append(Barrier())
        return Schedule(instructions, self.frequencies, lines=self.lines,
                        shared_carriers=self.blocks[0].shared_carriers)


def block_frame_diagonal(frame_freqs: jax.Array, reference, carrier, t0, phase, n_levels: int) -> jax.Array:
    """Diagonal of the column-stacking superoperator of X -> F X F^dag with
    F = R_c(t0) R_N(phase + 2 pi (carrier - reference) t0) (see BlockSequence)."""
    n_qubits = frame_freqs.shape[0]
    levels = jnp.arange(n_levels)
    grids = [g.reshape(-1) for g in jnp.meshgrid(*([levels] * n_qubits), indexing="ij")]
    turn = 2 * jnp.pi * t0 * sum(g * (frame_freqs[q] - reference) for q, g in enumerate(grids))
    total = sum(grids)
    r = jnp.exp(1j * turn - 1j * (phase + 2 * jnp.pi * (carrier - reference) * t0) * total)
    return jnp.kron(r.conj(), r)


def evolve_blocks(block_superops: jax.Array, carriers: jax.Array, frame_freqs: jax.Array, programs: jax.Array,
                  starts: jax.Array, phases: jax.Array, state: jax.Array, n_levels: int,
                  steps: jax.Array | None = None) -> jax.Array:
    """vec(rho) (batch, d^2) after each of a batch of BlockSequences: programs (batch, capacity)
    with -1 for padding, the steps' start times [ns] and the phase of each step's own frame
    (cumulative), all (batch, capacity); steps: the programs' longest length (traced; None:
    capacity), after which every step is padding and may be skipped.

    Each step applies every block to every state in one matrix product and keeps each state's
    own block: gathering each state's block instead moved a (batch, d^2, d^2) array per step,
    3.7x slower for 320 two-qubit RB programs (6 blocks, d^2 = 81)."""
    n_blocks, size = block_superops.shape[0], block_superops.shape[-1]
    reference = 0.5 * (jnp.min(frame_freqs) + jnp.max(frame_freqs))
    # (size, n_blocks * size): vec @ stacked gives every block's image of vec
    stacked = jnp.transpose(block_superops, (2, 0, 1)).reshape(size, n_blocks * size)
    frames_of = jax.vmap(block_frame_diagonal, in_axes=(None, None, 0, 0, 0, None))

    def step(vecs, item):
        index, t0, phase = item  # each (batch,)
        k = jnp.maximum(index, 0)
        frame = frames_of(frame_freqs, reference, carriers[k], t0, phase, n_levels)
        images = ((frame.conj() * vecs) @ stacked).reshape(-1, n_blocks, size)
        moved = frame * jnp.take_along_axis(images, k[:, None, None], axis=1)[:, 0]
        return jnp.where((index >= 0)[:, None], moved, vecs), None

    def chunk(vecs, rows):
        return jax.lax.scan(step, vecs, rows)[0]

    initial = jnp.broadcast_to(state, (programs.shape[0], size))
    return _in_chunks(chunk, initial, (programs, starts, phases), (-1, 0.0, 0.0), steps)
