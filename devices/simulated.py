"""A simulated lab device: a hidden true chip, shot noise, readout error and drift.

Calibration code sees a SimulatedDevice only through the `Device` protocol (run, now,
dt, qubits) and its public spec (the nominal design). The hidden state is reachable
through one method, `truth()`, used by tests, benchmarks and truth reports only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from devices._validate import DeviceModelError
from devices.chip import Chip
from devices.device_spec import DeviceSpec
from devices.dressing import dressed_transmon
from devices.drift import DriftPath, apply_drift
from devices.options import Open
from devices.protocol import (QUADRATURES, Acquisition, DeviceCall, DeviceLimits, Discriminated, Integrated,
                              outcome_labels)
from devices.readout import Resonator, sample_iq
from devices.schedule import Schedule
from devices.sequences import (BlockSequence, GateSequence, bucket_capacity, evolve_blocks, evolve_programs,
                               length_buckets, padded_programs)
from devices.side_by_side import run_side_by_side
from devices.simulate import populations, propagator
from devices.transmon import Transmon

MAX_SHOTS = 10**7


def fabricate(spec: DeviceSpec, rng: np.random.Generator) -> Chip:
    """Draw a concrete chip from the fabrication prior around the nominal design."""
    fab = spec.fabrication
    transmons = []
    for q in spec.qubits:
        g = rng.standard_normal(7)
        t1 = q.t1 * np.exp(fab.t1_rel * g[3])
        t2 = min(q.t2 * np.exp(fab.t2_rel * g[4]), 1.95 * t1)
        transmons.append(Transmon(
            frequency=q.frequency + fab.frequency * g[0],
            anharmonicity=min(q.anharmonicity + fab.anharmonicity * g[1], -0.05),
            drive_scale=q.drive_scale * np.exp(fab.drive_scale_rel * g[2]),
            t1=t1, t2=t2,
            readout_p01=float(np.clip(q.readout_p01 + fab.readout_abs * g[5], 1e-3, 0.3)),
            readout_p10=float(np.clip(q.readout_p10 + fab.readout_abs * g[6], 1e-3, 0.3)),
            n_levels=spec.n_levels,
        ))
    n = spec.n_qubits
    couplings = np.zeros((n, n))
    for q, r, j in spec.couplings:
        couplings[q, r] = couplings[r, q] = j * (1.0 + fab.coupling_rel * rng.standard_normal())
    crosstalk = np.eye(n, dtype=complex)
    for d, q, c in spec.crosstalk:
        crosstalk[d, q] = c
    return Chip(transmons, couplings=couplings, crosstalk=crosstalk)


def fabricate_resonators(spec: DeviceSpec, rng: np.random.Generator) -> tuple[Resonator, ...] | None:
    """Draw each qubit's readout resonator from the design and the fabrication spread (its
    frequency, its dispersive shifts); None unless every qubit of the design has a readout."""
    if any(q.readout is None for q in spec.qubits):
        return None
    fab = spec.fabrication
    resonators = []
    for q in spec.qubits:
        r = q.readout
        g = rng.standard_normal(2)
        resonators.append(Resonator(
            frequency=r.resonator_frequency + fab.resonator * g[0],
            linewidth=r.linewidth,
            chi=np.asarray(r.chi) * np.exp(fab.chi_rel * g[1]),
            n_max=r.n_max, noise_photons=r.noise_photons, critical_photons=r.critical_photons,
            induced_rate=r.induced_rate))
    return tuple(resonators)


@eqx.filter_jit
def _batched_populations(chip: Chip, shared: Schedule, varying: Schedule | None, dt: float,
                         repeat: bool = False) -> jax.Array:
    # Only the leaves that differ across the sweep are mapped, so whatever depends on the
    # shared ones alone (a pulse's propagator, an idle step) is computed once per sweep.
    def one(v):
        return populations(chip, eqx.combine(v, shared), dt=dt, dynamics=Open())
    return one(varying) if repeat else jax.vmap(one)(varying)


def _split_varying(schedules: list[Schedule]) -> tuple[Schedule, Schedule]:
    """(shared, varying): leaves equal across the schedules, and the stacked others."""
    leaves = [jax.tree.leaves(s) for s in schedules]
    treedef = jax.tree.structure(schedules[0])
    shared, varying = [], []
    for column in zip(*leaves):
        first = np.asarray(column[0])
        same = all(np.array_equal(first, np.asarray(x)) for x in column[1:])
        shared.append(column[0] if same else None)
        varying.append(None if same else jnp.stack(column))
    return jax.tree.unflatten(treedef, shared), jax.tree.unflatten(treedef, varying)


@eqx.filter_jit
def _gate_superops(chip: Chip, gates: tuple[Schedule, ...], dt: float) -> jax.Array:
    # Gates of one structure (a sweep's table: 31 DRAG pulses that differ in beta) are
    # propagated by one vmap: one copy of the simulator in the program, not one per gate, which
    # made a 31-gate table's Jacobian take 8 s to load from the compilation cache.
    members: dict = {}
    for k, gate in enumerate(gates):
        members.setdefault(_group_key(gate), []).append(k)
    superops = [None] * len(gates)
    for indices in members.values():
        stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[gates[k] for k in indices])
        props = jax.vmap(lambda gate: propagator(chip, gate, dt=dt, dynamics=Open()))(stacked)
        for row, k in enumerate(indices):
            superops[k] = props[row]
    return jnp.stack(superops)


@jax.jit
def _sequence_populations(superops: jax.Array, programs: jax.Array, phases: jax.Array,
                          steps: jax.Array) -> jax.Array:
    d = int(round(np.sqrt(superops.shape[-1])))
    n_levels = d  # sequences run on one transmon
    rho0 = jnp.zeros((d * d,), superops.dtype).at[0].set(1.0)
    final = evolve_programs(superops, programs, phases, rho0, n_levels, steps)
    return jnp.real(final[:, ::d + 1])  # the diagonal of each column-stacked rho


def _group_key(schedule: Schedule):
    """Schedules with this key share a structure and can be vmapped together."""
    leaves, treedef = jax.tree.flatten(schedule)
    return treedef, tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)


def _table_key(gates: tuple[Schedule, ...]):
    """Gate tables are shared by value: same structure and the same numbers."""
    leaves, treedef = jax.tree.flatten(gates)
    return treedef, tuple(np.asarray(x).tobytes() for x in leaves)


class SimulatedDevice:
    """A device drawn from `spec`'s fabrication prior with `seed`, with its own clock."""

    def __init__(self, spec: DeviceSpec, seed: int = 0):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise DeviceModelError(f"Argument `seed` must be an integer >= 0, but is {seed!r}.")
        self.spec = spec
        self.name = spec.name
        self.seed = seed
        chip = fabricate(spec, np.random.default_rng([seed, 0]))
        # the resonators from a stream of their own: devices drawn before readout existed keep their chips
        self._fabricated = Chip(chip.transmons, couplings=chip.couplings, crosstalk=chip.crosstalk,
                                resonators=fabricate_resonators(spec, np.random.default_rng([seed, 3])))
        # The drift is a function of (seed, clock) alone: runs and advance() calls only move
        # the clock, so copies of one device run differently see the same drift (paired).
        self._drift = DriftPath(seed, spec.n_qubits, spec.drift)
        self._injected = (0.0,) * spec.n_qubits  # GHz, from jump_frequency: events, not drift
        self._injected_resonators = (0.0,) * spec.n_qubits  # GHz, from jump_resonator
        self._shot_rng = np.random.default_rng([seed, 2])
        self._clock = 0.0  # seconds
        self._current: Chip | None = None

    # --- the Device protocol -------------------------------------------------------
    @property
    def qubits(self) -> tuple[int, ...]:
        return tuple(range(self.spec.n_qubits))

    @property
    def dt(self) -> float:
        return self.spec.dt

    @property
    def limits(self) -> DeviceLimits:
        # A simulator has no sequencer memory: one call takes any number of schedules, and
        # every pulse is "native" (simulated from its samples either way).
        return DeviceLimits(max_schedule_ns=self.spec.max_schedule, max_schedules=10**6,
                            max_shots=MAX_SHOTS, max_qubits=3)

    def now(self) -> float:
        return self._clock

    def run(self, schedules: Sequence[Schedule], shots: int, seed: int | None = None, *,
            qubits: Sequence[int] = (0,), acquisition: Acquisition = Discriminated()) -> xr.Dataset:
        """Discriminated: counts of shots read as 1 per schedule and qubit, and the joint outcomes
        of the qubits read together; a qubit with a calibrated `Readout` reads each shot's IQ
        point through its discriminator, one without through its transmon's assignment errors
        (leakage reads as 1); with `levels` 3 each shot is also read as level 0, 1 or 2 through
        its readout's LevelDiscriminator (`level_counts`). Integrated: each shot's IQ point from
        the resonators' model (devices/readout.py), from the level each qubit is in when the
        readout starts."""
        ds = self._play(schedules, shots, seed, qubits, acquisition)
        self.advance(hours=ds.attrs["run_s"] / 3600.0)
        return ds

    def run_simultaneous(self, calls: Sequence[DeviceCall]) -> list[xr.Dataset]:
        """The calls played at once on their disjoint qubits (the `Simultaneous` capability): each
        simulated on its own qubits at the same moment, the clock moved on by the longest.

        Each call sees the chip as a `run` on its qubits alone would: the model of simultaneous
        drive is exact when the calls' qubits neither couple nor share drive crosstalk, which is
        how calibrate.simultaneous groups them; it is not checked here."""
        taken: dict[int, int] = {}
        for i, call in enumerate(calls):
            for q in call.qubits:
                if q in taken:
                    raise DeviceModelError(f"calls[{i}] plays on qubit {q}, which calls[{taken[q]}] plays on too: "
                                           "simultaneous calls must play on disjoint qubits.")
                taken[q] = i
        # the calls' simulations side by side; their shots then drawn in call order, as before
        simulated = run_side_by_side(lambda c: self._simulate(c.schedules, c.shots, c.qubits), calls)
        results = [self._outcomes(c.schedules, c.shots, c.seed, c.acquisition, *sim)
                   for c, sim in zip(calls, simulated)]
        self.advance(hours=max((ds.attrs["run_s"] for ds in results), default=0.0) / 3600.0)
        return results

    # --- time ------------------------------------------------------------------------
    def advance(self, *, hours: float) -> None:
        """Move the clock on by `hours`, drifting the hidden parameters."""
        if (isinstance(hours, bool) or not isinstance(hours, (int, float, np.integer, np.floating))
                or not (np.isfinite(hours) and hours >= 0)):
            raise DeviceModelError(f"Argument `hours` must be finite and >= 0, but is {hours!r}.")
        self._clock += hours * 3600.0
        self._current = None

    def jump_frequency(self, qubit: int, *, ghz: float) -> None:
        """Shift a qubit's true frequency at once, as a two-level fluctuator or a flux jump
        would: an event injected by tests and what-if studies (it reveals nothing)."""
        self._injected = self._jumped(self._injected, qubit, ghz)

    def jump_resonator(self, qubit: int, *, ghz: float) -> None:
        """Shift a qubit's readout resonator at once (a shift of its lines, e.g. from a moved
        flux or a fluctuator coupled to it): an event injected by tests and what-if studies."""
        if self._fabricated.resonators is None:
            raise DeviceModelError(f"{self.name} has no readout resonators to shift (no [qubits.readout] tables).")
        self._injected_resonators = self._jumped(self._injected_resonators, qubit, ghz)

    def _jumped(self, shifts: tuple[float, ...], qubit: int, ghz: float) -> tuple[float, ...]:
        """`shifts` with `ghz` added for `qubit`; the truth is recomputed."""
        if qubit not in self.qubits:
            raise DeviceModelError(f"Qubit {qubit} is not on device {self.name}: it has qubits {list(self.qubits)}.")
        if not np.isfinite(ghz):
            raise DeviceModelError(f"Argument `ghz` must be finite, but is {ghz!r}.")
        self._current = None
        return tuple(x + float(ghz) * (q == qubit) for q, x in enumerate(shifts))

    # --- persistence: a simulated device continues between commands ------------------
    def state(self) -> dict:
        """Everything that changes as the device runs (JSON-able): the clock (which fixes the
        drift), injected frequency and resonator jumps and the shot RNG."""
        return {"device": self.name, "seed": self.seed, "clock_s": self._clock,
                "injected_ghz": list(self._injected), "injected_resonator_ghz": list(self._injected_resonators),
                "shot_rng": self._shot_rng.bit_generator.state}

    def restore(self, state: dict) -> None:
        """Continue from `state()` of a device with the same spec and seed."""
        if state.get("device") != self.name or state.get("seed") != self.seed:
            raise DeviceModelError(
                f"Saved state is of device {state.get('device')!r} seed {state.get('seed')!r}, "
                f"not {self.name!r} seed {self.seed}.")
        clock = state.get("clock_s")
        if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not (np.isfinite(clock) and clock >= 0):
            raise DeviceModelError(f"Saved state's `clock_s` must be a finite number >= 0, but is {clock!r}.")
        # States saved before the drift became a function of (seed, clock) carry `drift` and
        # `drift_rng` instead of `injected_ghz`: only their clock is taken, and the drift is
        # recomputed from seed and clock (so it differs from the saved realisation; jumps
        # injected then were folded into that drift and are not recovered).
        injected = self._saved_shifts(state, "injected_ghz")
        resonators = self._saved_shifts(state, "injected_resonator_ghz")  # none in states saved before they could jump
        self._clock = float(clock)
        self._injected, self._injected_resonators = injected, resonators
        self._shot_rng.bit_generator.state = state["shot_rng"]
        self._current = None

    def _saved_shifts(self, state: dict, key: str) -> tuple[float, ...]:
        """Per-qubit injected shifts [GHz] saved under `key`, zeros where the state has none."""
        shifts = state.get(key, [0.0] * self.spec.n_qubits)
        if (not isinstance(shifts, (list, tuple)) or len(shifts) != self.spec.n_qubits
                or not all(isinstance(x, (int, float)) and np.isfinite(x) for x in shifts)):
            raise DeviceModelError(f"Saved state's `{key}` must be {self.spec.n_qubits} finite numbers "
                                   f"(one per qubit), but is {shifts!r}.")
        return tuple(float(x) for x in shifts)

    # --- the one door to the hidden state -------------------------------------------
    def truth(self) -> Chip:
        """The true chip now. Only tests, benchmarks and truth reports may call this."""
        if self._current is None:
            drift = self._drift.at(self._clock / 3600.0).shifted(self._injected)
            chip = apply_drift(self._fabricated, drift, self.spec.drift)
            if any(self._injected_resonators):
                chip = eqx.tree_at(lambda c: c.resonators, chip, tuple(
                    eqx.tree_at(lambda r: r.frequency, r, r.frequency + shift)
                    for r, shift in zip(chip.resonators, self._injected_resonators)))
            self._current = chip
        return self._current

    # --- internals -------------------------------------------------------------------
    def _check_run(self, schedules, shots, qubits) -> tuple[tuple[int, ...], list[float]]:
        if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or not 1 <= shots <= MAX_SHOTS:
            raise DeviceModelError(f"Argument `shots` must be an integer in 1..{MAX_SHOTS}, but is {shots!r}.")
        qubits = tuple(int(q) for q in qubits)
        if not 1 <= len(qubits) <= 3 or len(set(qubits)) != len(qubits):
            raise DeviceModelError(f"Argument `qubits` must name 1 to 3 different qubits, but is {qubits}.")
        for q in qubits:
            if q not in self.qubits:
                raise DeviceModelError(
                    f"Qubit {q} is not on device {self.name}: it has qubits {list(self.qubits)}."
                )
        if not schedules:
            raise DeviceModelError("Argument `schedules` is empty: give at least one Schedule.")
        durations = []
        gate_lengths: dict = {}  # per gate table: each gate's duration, computed once
        for i, s in enumerate(schedules):
            if not isinstance(s, (Schedule, GateSequence, BlockSequence)):
                raise DeviceModelError(
                    f"schedules[{i}] must be a Schedule, GateSequence or BlockSequence, but is {type(s).__name__}."
                )
            if s.n_lines != len(qubits):
                raise DeviceModelError(
                    f"schedules[{i}] plays on {s.n_lines} drive lines, but runs on qubits {qubits}: "
                    "give one channel frequency per qubit."
                )
            if isinstance(s, (GateSequence, BlockSequence)):
                table = s.gates if isinstance(s, GateSequence) else s.blocks
                key = _table_key(table)
                if key not in gate_lengths:
                    gate_lengths[key] = np.array([float(g.duration(self.dt)) for g in table])
                length = float(gate_lengths[key][np.asarray(s.program, dtype=int)].sum())
            else:
                length = float(s.duration(self.dt))
            if length > self.spec.max_schedule:
                raise DeviceModelError(
                    f"schedules[{i}] lasts {length / 1e3:.6g} us, but {self.name} plays at most "
                    f"{self.spec.max_schedule / 1e3:.6g} us per shot."
                )
            durations.append(length)
        return qubits, durations

    def _play(self, schedules, shots, seed, qubits, acquisition: Acquisition) -> xr.Dataset:
        """One run's outcomes at the current clock, which it does not move."""
        return self._outcomes(schedules, shots, seed, acquisition, *self._simulate(schedules, shots, qubits))

    def _simulate(self, schedules, shots, qubits) -> tuple[tuple[int, ...], list[float], Chip, list[np.ndarray]]:
        """(qubits, durations, chip, populations) of one run, checked: no shots drawn yet."""
        qubits, durations = self._check_run(schedules, shots, qubits)
        chip = self._simulated_chip(qubits)
        return qubits, durations, chip, self._populations(chip, schedules)

    def _outcomes(self, schedules, shots, seed, acquisition: Acquisition, qubits, durations, chip: Chip,
                  pops: list[np.ndarray]) -> xr.Dataset:
        """The shots of one simulated run read out at the current clock."""
        rng = self._shot_rng if seed is None else np.random.default_rng(seed)
        run_ns = sum(d + self.spec.repetition for d in durations) * shots
        attrs = {"device": self.name, "device_seed": self.seed, "shots": shots,
                 "clock_s": self._clock, "run_s": run_ns * 1e-9, "dt_ns": self.dt}
        if isinstance(acquisition, Integrated):
            iq = self._integrated(pops, chip.n_levels, qubits, acquisition, shots, rng)
            return xr.Dataset({"iq": (("schedule", "shot", "qubit", "quadrature"), iq)},
                              coords={"schedule": np.arange(len(schedules)), "qubit": list(qubits),
                                      "quadrature": QUADRATURES}, attrs=attrs)
        if acquisition.readouts is not None and len(acquisition.readouts) != len(qubits):
            raise DeviceModelError(f"Discriminated.readouts holds {len(acquisition.readouts)} entries, but the run "
                                   f"reads qubits {qubits}: give one per qubit (None for the device's own "
                                   "discrimination).")
        three_levels = None
        if acquisition.calibrated:  # each shot's IQ point through the calibrated discriminators
            bits, read_levels = self._calibrated_reads(pops, chip, qubits, acquisition, shots, rng)
            outcome = bits.astype(np.int64) @ (2 ** np.arange(len(qubits))[::-1])  # first qubit leftmost
            joint = np.stack([np.bincount(o, minlength=2 ** len(qubits)) for o in outcome])
            counts = bits.sum(axis=1)
            if read_levels is not None:  # (schedule, qubit, level)
                three_levels = np.stack([[np.bincount(read_levels[i, :, k], minlength=3) for k in range(len(qubits))]
                                         for i in range(len(pops))])
        elif len(qubits) == 1:  # one qubit: its joint outcomes are its counts (the stream is unchanged)
            counts = np.stack([_read_out(p, chip, shots, rng) for p in pops])
            joint = np.concatenate([shots - counts, counts], axis=1)
        else:
            joint = np.stack([_read_out_joint(p, chip, shots, rng) for p in pops])
            counts = _marginal_ones(joint, len(qubits))
        data = {"counts": (("schedule", "qubit"), counts), "joint_counts": (("schedule", "outcome"), joint)}
        coords = {"schedule": np.arange(len(schedules)), "qubit": list(qubits), "outcome": outcome_labels(len(qubits))}
        if three_levels is not None:
            data["level_counts"] = (("schedule", "qubit", "level"), three_levels)
            coords["level"] = [0, 1, 2]
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def _resonators(self) -> tuple:
        resonators = self.truth().resonators
        if resonators is None:
            raise DeviceModelError(f"{self.name} has no IQ-level readout model (its device file gives no "
                                   "[qubits.readout] tables): ask for acquisition=Discriminated() without readouts.")
        return resonators

    def _integrated(self, pops, n_levels: int, qubits, acquisition: Integrated, shots: int,
                    rng: np.random.Generator) -> np.ndarray:
        """(schedule, shot, qubit, 2) IQ points: each shot's levels drawn from the populations,
        then read through each qubit's resonator (a shot's order within a schedule is random)."""
        truth, resonators = self.truth(), self._resonators()
        if len(acquisition.pulses) != len(qubits):
            raise DeviceModelError(f"Integrated.pulses holds {len(acquisition.pulses)} readout pulse(s), but the run "
                                   f"reads qubits {qubits}: give one per qubit.")
        if acquisition.per_schedule is not None and len(acquisition.per_schedule) != len(pops):
            raise DeviceModelError(f"Integrated.per_schedule holds {len(acquisition.per_schedule)} schedules' pulses, "
                                   f"but the run plays {len(pops)} schedules.")
        iq = np.empty((len(pops), shots, len(qubits), 2))
        for i, p in enumerate(pops):
            levels = _shot_levels(p, n_levels, len(qubits), shots, rng)
            for k, (q, pulse) in enumerate(zip(qubits, acquisition.pulses_of(i))):
                points = sample_iq(levels[k], resonators[q], pulse, float(truth.transmons[q].t1), n_levels, rng)
                iq[i, :, k, 0], iq[i, :, k, 1] = points.real, points.imag
        return iq

    def _calibrated_reads(self, pops, chip: Chip, qubits, acquisition: Discriminated, shots: int,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """(schedule, shot, qubit) shots read as 1: a qubit with a calibrated readout plays its
        pulse and reads the shot's IQ point through its discriminator; one without reads
        through the device's own assignment errors. With `levels` 3 also the level each shot's
        point reads as through the readout's LevelDiscriminator (same shape; else None)."""
        truth, resonators = self.truth(), self._resonators()
        n_levels, readouts = chip.n_levels, acquisition.readouts
        bits = np.empty((len(pops), shots, len(qubits)), dtype=bool)
        read_levels = np.empty(bits.shape, dtype=np.int64) if acquisition.levels == 3 else None
        for i, p in enumerate(pops):
            levels = _shot_levels(p, n_levels, len(qubits), shots, rng)
            for k, (q, readout) in enumerate(zip(qubits, readouts)):
                if readout is None:
                    t = chip.transmons[k]
                    read_one = np.where(levels[k] == 0, float(t.readout_p01), 1.0 - float(t.readout_p10))
                    bits[i, :, k] = rng.random(shots) < read_one
                    continue
                points = sample_iq(levels[k], resonators[q], readout.pulse, float(truth.transmons[q].t1), n_levels, rng)
                iq = np.stack([points.real, points.imag], axis=-1)
                bits[i, :, k] = readout.discriminator.reads_one(iq)
                if read_levels is not None:
                    read_levels[i, :, k] = readout.levels.levels(iq)
        return bits, read_levels

    def _sequence_group(self, chip, sequences, indices, out) -> None:
        _sequence_group_impl(self, chip, sequences, indices, out)

    def _simulated_chip(self, qubits: tuple[int, ...]) -> Chip:
        truth = self.truth()
        if len(qubits) == 1:
            return Chip([dressed_transmon(truth, qubits[0])])
        return truth.subchip(qubits)

    def _populations(self, chip: Chip, schedules: Sequence[Schedule | GateSequence]) -> list[np.ndarray]:
        # Schedules of one structure (e.g. a sweep) are simulated in one vmapped call;
        # gate sequences sharing a gate table propagate each gate once and compose.
        groups: dict = defaultdict(list)
        tables: dict = defaultdict(list)
        block_tables: dict = defaultdict(list)
        for i, s in enumerate(schedules):
            if isinstance(s, GateSequence):
                tables[_table_key(s.gates)].append(i)
            elif isinstance(s, BlockSequence):
                block_tables[_table_key(s.blocks)].append(i)
            else:
                groups[_group_key(s)].append(i)
        out: list[np.ndarray | None] = [None] * len(schedules)

        def sequence_group(indices):
            self._sequence_group(chip, [schedules[i] for i in indices], indices, out)

        def block_group(indices):
            _block_group(chip, [schedules[i] for i in indices], indices, out, self.dt)

        def pulse_group(indices):
            shared, varying = _split_varying([schedules[i] for i in indices])
            if jax.tree.leaves(varying):
                pops = np.asarray(_batched_populations(chip, shared, varying, self.dt))
            else:  # the same schedule repeated: simulate it once
                single = np.asarray(_batched_populations(chip, shared, None, self.dt, repeat=True))
                pops = np.repeat(single[None], len(indices), axis=0)
            for k, i in enumerate(indices):
                out[i] = pops[k]

        tasks = ([partial(sequence_group, i) for i in tables.values()]
                 + [partial(block_group, i) for i in block_tables.values()]
                 + [partial(pulse_group, i) for i in groups.values()])
        run_side_by_side(lambda task: task(), tasks)  # each group writes its own schedules' rows of `out`
        # compiled simulation code reports a step it cannot keep exact as NaN (devices._validate.nan_where)
        broken = [i for i, p in enumerate(out) if not np.all(np.isfinite(p))]
        if broken:
            raise DeviceModelError(
                f"Simulating schedule {broken[0]} of this call gave non-finite populations ({len(broken)} of "
                f"{len(out)} schedules): a propagation step's generator is beyond what the matrix exponential "
                "keeps exact (a drive or detuning far outside the model's range) or a duration is off the "
                f"sample grid (dt = {self.dt} ns).")
        return out


def _sequence_group_impl(device, chip, sequences, indices, out) -> None:
    if chip.n_qubits != 1:
        raise DeviceModelError("GateSequence runs on one qubit: pass a single qubit in `qubits`.")
    superops = _gate_superops(chip, sequences[0].gates, device.dt)
    buckets = length_buckets([len(s.program) for s in sequences])
    capacity = bucket_capacity(buckets)

    def bucket(members_and_steps):
        members, steps = members_and_steps
        programs, phases = padded_programs([sequences[k] for k in members], capacity)
        pops = np.asarray(_sequence_populations(superops, jnp.asarray(programs), jnp.asarray(phases),
                                                jnp.asarray(steps, dtype=jnp.int64)))
        for k, row in zip(members, pops):
            out[indices[k]] = row

    run_side_by_side(bucket, buckets)


def _block_group(chip: Chip, sequences: list[BlockSequence], indices, out, dt: float) -> None:
    """BlockSequences sharing a block table: each block propagated once, then composed exactly."""
    first = sequences[0]
    superops = _gate_superops(chip, first.blocks, dt)
    lengths = np.array([float(b.duration(dt)) for b in first.blocks])
    frame_freqs = np.asarray(first.frequencies)[:first.n_lines]
    carriers = frame_freqs[np.asarray(first.frames)]
    buckets = length_buckets([len(s.program) for s in sequences])
    capacity = bucket_capacity(buckets)

    def bucket(members_and_steps):
        members, steps = members_and_steps
        programs = np.full((len(members), capacity), -1, dtype=np.int64)
        starts = np.zeros((len(members), capacity))
        phases = np.zeros((len(members), capacity))
        for row, k in enumerate(members):
            program = np.asarray(sequences[k].program, dtype=np.int64)
            n = len(program)
            programs[row, :n] = program
            starts[row, :n] = np.cumsum(np.concatenate([[0.0], lengths[program]]))[:n]
            # each step plays under its own frame's cumulative phase
            cumulative = np.cumsum(np.asarray(sequences[k].phases), axis=0)
            phases[row, :n] = cumulative[np.arange(n), np.asarray(first.frames)[program]]
        pops = np.asarray(_block_populations(superops, jnp.asarray(carriers), jnp.asarray(frame_freqs),
                                             jnp.asarray(programs), jnp.asarray(starts), jnp.asarray(phases),
                                             chip.n_levels, jnp.asarray(steps, dtype=jnp.int64)))
        for k, row in zip(members, pops):
            out[indices[k]] = row

    run_side_by_side(bucket, buckets)


@partial(jax.jit, static_argnums=6)
def _block_populations(superops, carriers, frame_freqs, programs, starts, phases, n_levels: int,
                       steps: jax.Array) -> jax.Array:
    d = int(round(np.sqrt(superops.shape[-1])))
    rho0 = jnp.zeros((d * d,), superops.dtype).at[0].set(1.0)
    finals = evolve_blocks(superops, carriers, frame_freqs, programs, starts, phases, rho0, n_levels, steps)
    return jnp.real(finals[:, ::d + 1])  # the diagonal of each column-stacked rho


def _shot_levels(pops: np.ndarray, n_levels: int, n_qubits: int, shots: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Each shot's level per qubit (a tuple of n_qubits arrays of `shots`), drawn from the
    populations of the run's basis states, in random order."""
    p = np.clip(pops, 0.0, None)
    states = rng.permutation(np.repeat(np.arange(p.size), rng.multinomial(shots, p / p.sum())))
    return np.unravel_index(states, (n_levels,) * n_qubits)


def _read_out(pops: np.ndarray, chip: Chip, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Shots read as 1 per qubit: sample basis states, then each qubit's assignment error."""
    p = np.clip(pops, 0.0, None)
    outcomes = rng.multinomial(shots, p / p.sum())
    lv, n = chip.n_levels, chip.n_qubits
    levels = np.stack(np.unravel_index(np.arange(lv**n), (lv,) * n), axis=-1)  # (D, n)
    p01 = np.array([float(t.readout_p01) for t in chip.transmons])
    p10 = np.array([float(t.readout_p10) for t in chip.transmons])
    read_one = np.where(levels == 0, p01, 1.0 - p10)  # levels >= 2 read as 1
    return rng.binomial(outcomes[:, None], read_one).sum(axis=0)


def _readout_matrix(chip: Chip) -> np.ndarray:
    """P(bitstring | basis state), shape (levels**n, 2**n): each qubit's assignment errors,
    independent; levels >= 2 read as 1. Bitstrings in `outcome_labels` order."""
    lv, n = chip.n_levels, chip.n_qubits
    levels = np.stack(np.unravel_index(np.arange(lv**n), (lv,) * n), axis=-1)  # (D, n)
    bits = np.stack(np.unravel_index(np.arange(2**n), (2,) * n), axis=-1)  # (B, n), first qubit leftmost
    p01 = np.array([float(t.readout_p01) for t in chip.transmons])
    p10 = np.array([float(t.readout_p10) for t in chip.transmons])
    read_one = np.where(levels == 0, p01, 1.0 - p10)  # (D, n)
    per_qubit = np.where(bits[None, :, :] == 1, read_one[:, None, :], 1.0 - read_one[:, None, :])
    return per_qubit.prod(axis=-1)


def _read_out_joint(pops: np.ndarray, chip: Chip, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Shots per joint outcome: sample basis states, then each shot's readout bitstring."""
    p = np.clip(pops, 0.0, None)
    outcomes = rng.multinomial(shots, p / p.sum())
    matrix = _readout_matrix(chip)
    joint = np.zeros(matrix.shape[1], dtype=np.int64)
    for state in np.flatnonzero(outcomes):
        joint += rng.multinomial(outcomes[state], matrix[state] / matrix[state].sum())
    return joint


def _marginal_ones(joint: np.ndarray, n_qubits: int) -> np.ndarray:
    """(schedule, qubit) shots read as 1, from joint counts (schedule, outcome)."""
    bits = np.stack(np.unravel_index(np.arange(2**n_qubits), (2,) * n_qubits), axis=-1)  # (B, n)
    return joint @ bits
