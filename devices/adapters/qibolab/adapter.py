"""A qibolab platform as a `Device`: a lab's chip (or qibolab's emulator) behind the toolkit.

A device file names it:

    adapter = "qibolab"
    name = "lab-chip-7"
    [qibolab]
    platform = "my-platform"      # a platform folder, relative to this file, or a qibolab platform name
    qubits = [0, 1]               # optional: the platform's qubit ids offered, in order (default: all)
    max_schedule_us = 200.0       # optional limits (defaults below)
    max_schedules = 1000
    max_shots = 100000
    sequences_per_execute = 0     # 0: as many sequences per platform.execute as one run has
    [nominal]                     # optional: nominal values the platform files do not state
    t1_us = 20.0
    t2_us = 15.0
    anharmonicity_mhz = -200.0
    readout_p01 = 0.02
    readout_p10 = 0.02
    [fabrication]                 # optional: the lab's prior over its chips (keys as in a simulated
    frequency_mhz = 3.0           # device file; missing ones are zero): what a learned controller
    drive_scale_rel = 0.06        # trained on this family (calibrate train-controller) learns from
    [drift]                       # optional: drift processes (as in a simulated device file)
    frequency_walk_khz_per_sqrt_h = 30.0

`run` translates every schedule (devices/adapters/qibolab/translate.py), groups them by carrier
frequencies (a channel has one frequency per execute: it is set through the execute's config
updates) and plays each group in as few `platform.execute` calls as `sequences_per_execute`
allows, single-shot and discriminated. Each shot's bits give the counts and joint counts.
`Integrated(pulses)` plays each qubit's readout pulse instead of its MZ native and returns each
shot's integrated IQ point (devices/adapters/qibolab/integration.py; qibolab's emulator models no
readout, so there only the platform's own readout pulse is allowed).
"""

from __future__ import annotations

import atexit
import contextlib
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from devices._validate import DeviceModelError
from devices.device_spec import NO_DRIFT, NO_FABRICATION_SPREAD, DeviceSpec, DeviceSpecError, DriftSpec, FabricationSpread, read_prior
from devices.protocol import QUADRATURES, Acquisition, DeviceLimits, Discriminated, Integrated, outcome_labels
from devices.adapters.qibolab import integration, translate, units
from devices.adapters.qibolab.platform_files import load_platform, nominal_spec
from devices.schedule import Schedule
from devices.sequences import GateSequence

DEFAULT_MAX_SCHEDULE_US = 200.0
DEFAULT_MAX_SCHEDULES = 1000
DEFAULT_MAX_SHOTS = 100_000
TOP_KEYS = ("adapter", "name", "description", "schema", "qibolab", "nominal", "fabrication", "drift")
QIBOLAB_KEYS = ("platform", "qubits", "max_schedule_us", "max_schedules", "max_shots", "sequences_per_execute")
NOMINAL_KEYS = {"t1_us": ("t1", 1e3), "t2_us": ("t2", 1e3), "anharmonicity_mhz": ("anharmonicity", 1e-3),
                "readout_p01": ("readout_p01", 1.0), "readout_p10": ("readout_p10", 1.0)}


class QibolabDevice:
    """The Device protocol over a qibolab Platform (connected on first run)."""

    def __init__(self, platform, *, name: str, qubit_ids: Sequence | None = None, description: str = "",
                 source: str = "qibolab platform", folder: Path | None = None, nominal: dict | None = None,
                 max_schedule_us: float = DEFAULT_MAX_SCHEDULE_US, max_schedules: int = DEFAULT_MAX_SCHEDULES,
                 max_shots: int = DEFAULT_MAX_SHOTS, sequences_per_execute: int = 0,
                 fabrication: FabricationSpread = NO_FABRICATION_SPREAD, drift: DriftSpec = NO_DRIFT):
        self.platform = platform
        self.name = name
        ids = list(platform.qubits) if qubit_ids is None else list(qubit_ids)
        missing = [q for q in ids if q not in platform.qubits]
        if missing or not ids:
            raise DeviceSpecError(f"{source}: qibolab.qubits is {ids!r}, but the platform's qubits are "
                                  f"{list(platform.qubits)!r}.")
        self._qubit_ids = ids
        self._sampling_rate = float(platform.sampling_rate)
        self._limits = DeviceLimits(max_schedule_ns=float(max_schedule_us) * 1e3, max_schedules=int(max_schedules),
                                    max_shots=int(max_shots), max_qubits=len(ids),
                                    native_shapes=translate.NATIVE_SHAPES)
        self._spec = nominal_spec(platform, ids, name=name, description=description or f"qibolab platform {platform.name}",
                                  source=source, folder=folder, overrides=nominal or {},
                                  max_schedule_ns=self._limits.max_schedule_ns, fabrication=fabrication, drift=drift)
        self._per_execute = int(sequences_per_execute)
        self.executes = 0  # platform.execute calls so far, and their wall time [s]
        self.execute_s = 0.0

    # --- the Device protocol -----------------------------------------------------------------
    @property
    def spec(self) -> DeviceSpec:
        return self._spec

    @property
    def qubits(self) -> tuple[int, ...]:
        return tuple(range(len(self._qubit_ids)))

    @property
    def qubit_ids(self) -> tuple:
        """The platform's name of each of our qubits: qubit i is the platform's qubit_ids[i]."""
        return tuple(self._qubit_ids)

    @property
    def dt(self) -> float:
        return self._spec.dt

    @property
    def limits(self) -> DeviceLimits:
        return self._limits

    def now(self) -> float:
        """The device clock: wall-clock time [s since the epoch]; a real chip drifts in it."""
        return time.time()

    def run(self, schedules: Sequence[Schedule | GateSequence], shots: int, seed: int | None = None, *,
            qubits: Sequence[int] = (0,), acquisition: Acquisition = Discriminated()) -> xr.Dataset:
        """Counts of shots read as 1 per schedule and qubit, and joint outcomes; or, for
        `Integrated`, each shot's IQ point (devices/adapters/qibolab/integration.py: what the
        platform plays, and what qibolab's emulator does and does not model).

        `seed` seeds numpy's global generator for the run (restored after): qibolab's emulator
        samples its shots from it; real hardware has nothing to seed."""
        from qibolab import AcquisitionType, AveragingMode, Readout

        if not isinstance(acquisition, (Discriminated, Integrated)):
            raise DeviceModelError(f"{self.name} (qibolab adapter): acquisition must be Discriminated() or "
                                   f"Integrated(...), but is {type(acquisition).__name__}.")
        if isinstance(acquisition, Discriminated) and acquisition.calibrated:
            raise DeviceModelError(f"{self.name} (qibolab adapter) discriminates with its platform's own readout "
                                   "settings; Discriminated(readouts=...) (a pulse and discriminator of ours) is not "
                                   "supported yet.")
        qubits, durations = self._check_run(schedules, shots, qubits)
        integrated = isinstance(acquisition, Integrated)
        if integrated:
            natives = integration.native_readouts(self.platform, [self._qubit_ids[q] for q in qubits])
            emulator = integration.is_emulator(self.platform)
            probes = integration.schedule_pulses(acquisition, len(schedules), qubits, natives, device=self.name,
                                                 emulator=emulator, sampling_rate=self._sampling_rate)
        if not self.platform.is_connected:
            self.platform.connect()
            # what qibolab's own signal handler did (platform_files keeps ours): the instruments
            # are released however the process ends, Ctrl-C included
            atexit.register(self._disconnect)
        mz = [self.platform.natives.single_qubit[self._qubit_ids[q]] for q in qubits]
        channels = translate.Channels(
            drive=tuple(self.platform.qubits[self._qubit_ids[q]].drive for q in qubits),
            readout=tuple(n.ensure("MZ") for n in mz))
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, s in enumerate(schedules):
            probe_frequencies = tuple(p.frequency for p in probes[i]) if integrated else ()
            groups[translate.carrier_frequencies(s), probe_frequencies].append(i)
        n = len(qubits)
        weights = 1 << np.arange(n - 1, -1, -1)  # first qubit leftmost in the outcome bitstring
        counts = np.zeros((len(schedules), n), dtype=np.int64)
        joint = np.zeros((len(schedules), 2**n), dtype=np.int64)
        iq = np.zeros((len(schedules), shots, n, 2)) if integrated else None
        started, table_cache, events = self.now(), {}, {}
        executes, execute_s = 0, 0.0
        with _seeded_numpy(seed):
            for (frequencies, probe_frequencies), indices in groups.items():
                update = {ch: {"frequency": units.hz(f)} for ch, f in zip(channels.drive, frequencies)}
                if integrated:
                    update |= integration.probe_updates(natives, probe_frequencies)
                step = self._per_execute or len(indices)
                for start in range(0, len(indices), step):
                    chunk = indices[start:start + step]
                    sequences = [translate.to_pulse_sequence(
                        schedules[i], channels, dt=self.dt, sampling_rate=self._sampling_rate, table_cache=table_cache,
                        readouts=self._readout_events(natives, probes[i], events) if integrated else None)
                        for i in chunk]
                    t0 = time.perf_counter()
                    results = self.platform.execute(
                        sequences, nshots=int(shots), updates=[update],
                        acquisition_type=AcquisitionType.INTEGRATION if integrated else AcquisitionType.DISCRIMINATION,
                        averaging_mode=AveragingMode.SINGLESHOT)
                    execute_s += time.perf_counter() - t0
                    executes += 1
                    for i, sequence in zip(chunk, sequences):
                        readouts = [ev for _, ev in sequence if isinstance(ev, Readout)]
                        if integrated:
                            iq[i] = np.stack([integration.iq_points(results[r.id], shots) for r in readouts], axis=1)
                            continue
                        bits = np.stack([_bits(results[r.id], shots) for r in readouts], axis=1)  # (shots, n)
                        counts[i] = bits.sum(axis=0)
                        joint[i] = np.bincount(bits @ weights, minlength=2**n)
        self.executes += executes
        self.execute_s += execute_s
        if integrated:  # the repetition holds the MZ readout; these shots play their own
            native_ns = max(p.duration for p in (r.pulse for r in natives))
            durations = [d + max(p.duration for p in probes[i]) - native_ns for i, d in enumerate(durations)]
        run_ns = sum(d + self._spec.repetition for d in durations) * shots
        attrs = {"device": self.name, "shots": int(shots), "clock_s": started, "run_s": run_ns * 1e-9,
                 "dt_ns": self.dt, "executes": executes, "execute_s": execute_s}
        if integrated:
            attrs["iq_model"] = integration.EMULATOR_IQ_MODEL if emulator else integration.PLATFORM_IQ_MODEL
            return xr.Dataset({"iq": (("schedule", "shot", "qubit", "quadrature"), iq)},
                              coords={"schedule": np.arange(len(schedules)), "qubit": list(qubits),
                                      "quadrature": QUADRATURES}, attrs=attrs)
        return xr.Dataset(
            {"counts": (("schedule", "qubit"), counts), "joint_counts": (("schedule", "outcome"), joint)},
            coords={"schedule": np.arange(len(schedules)), "qubit": list(qubits), "outcome": outcome_labels(n)},
            attrs=attrs,
        )

    # --- internals -----------------------------------------------------------------------------
    def _readout_events(self, natives, pulses, cache: dict) -> list:
        """Each qubit's (acquisition channel, Readout) playing `pulses` (shared across a run)."""
        out = []
        for k, (native, pulse) in enumerate(zip(natives, pulses)):
            if (k, pulse) not in cache:
                cache[k, pulse] = integration.readout_event(native, pulse, self._sampling_rate)
            out.append(cache[k, pulse])
        return out

    def _disconnect(self) -> None:
        if self.platform.is_connected:
            self.platform.disconnect()

    def _check_run(self, schedules, shots, qubits) -> tuple[tuple[int, ...], list[float]]:
        limits = self._limits
        if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or not 1 <= shots <= limits.max_shots:
            raise DeviceModelError(f"Argument `shots` must be an integer in 1..{limits.max_shots}, but is {shots!r}.")
        qubits = tuple(int(q) for q in qubits)
        if not 1 <= len(qubits) <= limits.max_qubits or len(set(qubits)) != len(qubits):
            raise DeviceModelError(f"Argument `qubits` must name 1 to {limits.max_qubits} different qubits, but is "
                                   f"{qubits}.")
        for q in qubits:
            if q not in self.qubits:
                raise DeviceModelError(f"Qubit {q} is not on device {self.name}: it has qubits {list(self.qubits)}.")
        if not schedules:
            raise DeviceModelError("Argument `schedules` is empty: give at least one Schedule.")
        if len(schedules) > limits.max_schedules:
            raise DeviceModelError(f"Argument `schedules` holds {len(schedules)} schedules, but {self.name} takes at "
                                   f"most {limits.max_schedules} per run (devices.limits.run_within_limits splits).")
        durations, table_lengths = [], {}
        for i, s in enumerate(schedules):
            if not isinstance(s, (Schedule, GateSequence)):
                raise DeviceModelError(f"schedules[{i}] must be a Schedule or GateSequence, but is {type(s).__name__}.")
            if s.n_channels != len(qubits):
                raise DeviceModelError(f"schedules[{i}] has {s.n_channels} drive channels, but runs on qubits {qubits}: "
                                       "give one channel frequency per qubit.")
            if isinstance(s, GateSequence):
                key = id(s.gates)
                if key not in table_lengths:
                    table_lengths[key] = (s.gates, [_length(g, self.dt) for g in s.gates])
                length = float(sum(table_lengths[key][1][k] for k in s.program))
            else:
                length = _length(s, self.dt)
            if length > limits.max_schedule_ns:
                raise DeviceModelError(f"schedules[{i}] lasts {length / 1e3:.6g} us, but {self.name} plays at most "
                                       f"{limits.max_schedule_ns / 1e3:.6g} us per shot.")
            durations.append(length)
        return qubits, durations


def _length(schedule: Schedule, dt: float) -> float:
    """A schedule's length [ns]; 0 for one of frame changes only (a Z gate)."""
    return float(schedule.duration(dt))


def _bits(result, shots: int) -> np.ndarray:
    """One qubit's discriminated single shots as 0/1 integers, shape (shots,)."""
    values = np.asarray(result).reshape(-1)
    if values.size != shots:
        raise DeviceModelError(f"The platform returned {values.size} single shots for a readout, not the {shots} "
                               "asked for: it must support single-shot discrimination.")
    return (values > 0.5).astype(np.int64)


@contextlib.contextmanager
def _seeded_numpy(seed: int | None):
    if seed is None:
        yield
        return
    saved = np.random.get_state()
    np.random.seed(int(seed) % 2**32)
    try:
        yield
    finally:
        np.random.set_state(saved)


# --- device files ------------------------------------------------------------------------------

def _fail(where: str, key: str, value, allowed: str) -> DeviceSpecError:
    return DeviceSpecError(f"{where}.{key} is {value!r}, but must be {allowed}.")


def _number(table: dict, where: str, key: str, default, *, low: float, integer: bool = False,
            high: float | None = None):
    value = table.get(key, default)
    kind = "an integer" if integer else "a number"
    ok = (not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
          and math.isfinite(value) and value >= low and (high is None or value <= high))
    if not ok:
        span = f">= {low}" + ("" if high is None else f" and <= {high}")
        raise _fail(where, key, value, f"{kind} {span}")
    return value


def _check_keys(table: dict, where: str, allowed) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise DeviceSpecError(f"{where} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}.")


def open_device(config: dict, *, source: Path | None = None) -> QibolabDevice:
    """The device a `adapter = "qibolab"` device file describes (config: the parsed file)."""
    file = source.name if source is not None else "device config"
    _check_keys(config, file, TOP_KEYS)
    table = config.get("qibolab")
    if not isinstance(table, dict):
        raise DeviceSpecError(f"{file} needs a [qibolab] table with platform = \"<folder or platform name>\".")
    where = f"{file}: qibolab"
    _check_keys(table, where, QIBOLAB_KEYS)
    platform_name = table.get("platform")
    if not isinstance(platform_name, str) or not platform_name:
        raise _fail(where, "platform", platform_name, "a platform folder (relative to the device file) or name")
    qubit_ids = table.get("qubits")
    if qubit_ids is not None and (not isinstance(qubit_ids, list) or not qubit_ids):
        raise _fail(where, "qubits", qubit_ids, "a non-empty list of the platform's qubit ids")
    nominal_table = config.get("nominal", {})
    if not isinstance(nominal_table, dict):
        raise DeviceSpecError(f"{file}: nominal must be a table [nominal], but is {nominal_table!r}.")
    _check_keys(nominal_table, f"{file}: nominal", NOMINAL_KEYS)
    nominal = {}
    for key, value in nominal_table.items():
        field, scale = NOMINAL_KEYS[key]
        if key == "anharmonicity_mhz":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value < 0:
                raise _fail(f"{file}: nominal", key, value, "a number < 0")
        else:
            _number(nominal_table, f"{file}: nominal", key, None, low=0.0,
                    high=0.5 if key.startswith("readout") else None)
        nominal[field] = float(value) * scale
    fabrication, drift = read_prior(config, file)  # checked before the platform loads
    name = config.get("name")
    platform, folder = load_platform(platform_name, source)
    if name is None:
        name = platform.name
    if not isinstance(name, str) or not name:
        raise _fail(file, "name", name, "a non-empty string")
    description = config.get("description", "")
    if not isinstance(description, str):
        raise _fail(file, "description", description, "a string")
    return QibolabDevice(
        platform, name=name, qubit_ids=qubit_ids, description=description,
        source=str(source) if source is not None else "device config", folder=folder, nominal=nominal,
        max_schedule_us=_number(table, where, "max_schedule_us", DEFAULT_MAX_SCHEDULE_US, low=1e-3),
        max_schedules=_number(table, where, "max_schedules", DEFAULT_MAX_SCHEDULES, low=1, integer=True),
        max_shots=_number(table, where, "max_shots", DEFAULT_MAX_SHOTS, low=1, integer=True),
        sequences_per_execute=_number(table, where, "sequences_per_execute", 0, low=0, integer=True),
        fabrication=fabrication, drift=drift,
    )
