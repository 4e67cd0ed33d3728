"""Simulated-device description files (TOML): nominal design, fabrication spread, drift.

A device file may name its adapter (`adapter = "simulated"`, the default; see
devices/adapters/ for the others): this module reads the simulated ones.

User-facing units in the file (GHz, MHz, kHz, us) are converted to internal units
(GHz, ns) here, at the boundary. Every key is checked: unknown keys (typos), missing
keys, wrong types and out-of-range values each give a DeviceSpecError naming the
file, the table and the key.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SIMULATED_ADAPTER = "simulated"  # a device file without `adapter` describes a simulated device
MAX_LEVELS = 6  # a cap on cost: 3 open transmons of 6 levels already need 46656-square superoperators


class DeviceSpecError(ValueError):
    """A device file is malformed, incomplete or out of range."""


@dataclass(frozen=True)
class ReadoutSpec:
    """A qubit's dispersive readout as designed (devices/readout.py has the model): the
    resonator and amplifier chain, and the readout pulse calibration starts from."""

    resonator_frequency: float  # GHz, with the qubit in |0>
    linewidth: float  # GHz, FWHM
    chi: tuple[float, ...]  # GHz: the resonator's shift with the qubit in |0> (0), |1>, |2>
    n_max: float  # photons on resonance at full amplitude
    noise_photons: float  # the amplifier chain's added noise, photons
    critical_photons: float
    induced_rate: float  # 1/ns, measurement-induced transitions at n_crit
    pulse_frequency: float  # GHz
    pulse_amplitude: float  # of full scale
    pulse_duration: float  # ns


@dataclass(frozen=True)
class QubitSpec:
    frequency: float  # GHz
    anharmonicity: float  # GHz
    drive_scale: float  # GHz per unit amplitude
    t1: float  # ns
    t2: float  # ns
    readout_p01: float
    readout_p10: float
    # the IQ-level readout model; None: the device reads out through readout_p01/p10 only
    readout: ReadoutSpec | None = None


@dataclass(frozen=True)
class FabricationSpread:
    """1-sigma spread of the fabrication prior around the nominal values."""
    frequency: float  # GHz
    anharmonicity: float  # GHz
    drive_scale_rel: float
    t1_rel: float
    t2_rel: float
    readout_abs: float
    coupling_rel: float
    resonator: float = 0.0  # GHz, the resonators' frequencies
    chi_rel: float = 0.0  # the dispersive shifts, relative


@dataclass(frozen=True)
class DriftSpec:
    frequency_walk: float  # GHz per sqrt(hour)
    telegraph_jump: float  # GHz
    telegraph_rate: float  # flips per hour
    amplitude_walk_rel: float  # relative drive-scale change per sqrt(hour)
    t1_fluctuation_rel: float  # stationary relative spread of T1
    t1_correlation_hours: float
    resonator_walk: float = 0.0  # GHz per sqrt(hour), the readout resonators' frequency


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    description: str
    dt: float  # ns
    max_schedule: float  # ns
    repetition: float  # ns spent per shot outside the schedule (reset, readout)
    x_duration: float  # ns
    x_sigma: float  # ns
    qubits: tuple[QubitSpec, ...]
    couplings: tuple[tuple[int, int, float], ...]  # (q, r, J in GHz)
    crosstalk: tuple[tuple[int, int, complex], ...]  # (channel, qubit, amplitude)
    fabrication: FabricationSpread
    drift: DriftSpec
    source: str
    # levels each simulated transmon keeps: 3 by default (the calibration's own models
    # assume 2-3); more describe a real transmon's higher levels, for off-model studies
    n_levels: int = 3

    @property
    def n_qubits(self) -> int:
        return len(self.qubits)


class _Table:
    """Reads one TOML table, tracking which keys were used, with located errors."""

    def __init__(self, data: Any, where: str, source: str):
        if not isinstance(data, dict):
            raise DeviceSpecError(f"{source}: {where} must be a table, but is {data!r}.")
        self.data, self.where, self.source = data, where, source
        self.used: set[str] = set()

    def _fail(self, key: str, message: str) -> DeviceSpecError:
        return DeviceSpecError(f"{self.source}: {self.where}.{key} {message}")

    def number(self, key: str, *, low=None, high=None, low_open=False, high_open=False,
               default=None) -> float:
        self.used.add(key)
        if key not in self.data:
            if default is not None:
                return float(default)
            raise DeviceSpecError(f"{self.source}: {self.where} is missing the key `{key}`.")
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._fail(key, f"is {value!r}, but must be a finite number.")
        bad_low = low is not None and (value <= low if low_open else value < low)
        bad_high = high is not None and (value >= high if high_open else value > high)
        if bad_low or bad_high:
            lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
            hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
            raise self._fail(key, f"is {value!r}, but must satisfy {lo}{key}{hi}.")
        return float(value)

    def integer(self, key: str, *, low: int, high: int, default: int | None = None) -> int:
        value = self.data.get(key, default)
        self.used.add(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(key, f"is {value!r}, but must be an integer in {low}..{high}.")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        self.used.add(key)
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value:
            raise self._fail(key, f"is {value!r}, but must be a non-empty string.")
        return value

    def table(self, key: str) -> "_Table":
        self.used.add(key)
        if key not in self.data:
            raise DeviceSpecError(f"{self.source}: {self.where} is missing the table [{key}].")
        return _Table(self.data[key], f"{self.where}.{key}" if self.where != "file" else key, self.source)

    def optional_table(self, key: str) -> "_Table":
        """[key] if the file has it, else an empty table (every key at its default)."""
        self.used.add(key)
        return _Table(self.data.get(key, {}), key, self.source)

    def tables(self, key: str, *, required: bool) -> list["_Table"]:
        self.used.add(key)
        items = self.data.get(key, [])
        if required and not items:
            raise DeviceSpecError(f"{self.source}: the file needs at least one [[{key}]] table.")
        if not isinstance(items, list):
            raise DeviceSpecError(f"{self.source}: {key} must be an array of tables [[{key}]].")
        return [_Table(item, f"{key}[{i}]", self.source) for i, item in enumerate(items)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise DeviceSpecError(
                f"{self.source}: {self.where} has unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(self.used))}."
            )


# A hardware device (devices/adapters/) may state the same prior as optional tables: then a
# missing key means no spread, a drift without correlation time one of an hour.
NO_FABRICATION_SPREAD = FabricationSpread(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
NO_DRIFT = DriftSpec(0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def fabrication_spread(t: _Table, *, optional: bool = False) -> FabricationSpread:
    """A [fabrication] table: 1-sigma spreads of the fabrication prior (every key required
    unless `optional`, then missing keys are zero)."""
    d = 0.0 if optional else None
    return FabricationSpread(
        frequency=t.number("frequency_mhz", low=0, default=d) * 1e-3,
        anharmonicity=t.number("anharmonicity_mhz", low=0, default=d) * 1e-3,
        drive_scale_rel=t.number("drive_scale_rel", low=0, high=0.5, default=d),
        t1_rel=t.number("t1_rel", low=0, high=1, default=d),
        t2_rel=t.number("t2_rel", low=0, high=1, default=d),
        readout_abs=t.number("readout_abs", low=0, high=0.1, default=d),
        coupling_rel=t.number("coupling_rel", low=0, high=1, default=d),
        # the readout model's spreads came later: optional in every file
        resonator=t.number("resonator_mhz", low=0, default=0.0) * 1e-3,
        chi_rel=t.number("chi_rel", low=0, high=0.5, default=0.0),
    )


def drift_spec(t: _Table, *, optional: bool = False) -> DriftSpec:
    """A [drift] table: the drift processes (every key required unless `optional`, then
    missing keys are NO_DRIFT's)."""
    d = 0.0 if optional else None
    return DriftSpec(
        frequency_walk=t.number("frequency_walk_khz_per_sqrt_h", low=0, default=d) * 1e-6,
        telegraph_jump=t.number("telegraph_jump_khz", low=0, default=d) * 1e-6,
        telegraph_rate=t.number("telegraph_rate_per_h", low=0, default=d),
        amplitude_walk_rel=t.number("amplitude_walk_rel_per_sqrt_h", low=0, high=0.5, default=d),
        t1_fluctuation_rel=t.number("t1_fluctuation_rel", low=0, high=1, default=d),
        t1_correlation_hours=t.number("t1_correlation_h", low=0, low_open=True,
                                      default=NO_DRIFT.t1_correlation_hours if optional else None),
        # came with the readout model: optional in every file, so older files keep still resonators
        resonator_walk=t.number("resonator_walk_khz_per_sqrt_h", low=0, default=0.0) * 1e-6,
    )


def read_prior(data: dict, source: str) -> tuple[FabricationSpread, DriftSpec]:
    """The optional [fabrication] and [drift] tables of a hardware device file (the lab's
    prior over its chips, as a simulated device file states it; keys and checks the same)."""
    root = _Table(data, "file", source)
    fab, drift = root.optional_table("fabrication"), root.optional_table("drift")
    prior = fabrication_spread(fab, optional=True), drift_spec(drift, optional=True)
    fab.done()
    drift.done()
    return prior


def _qubit(t: _Table) -> QubitSpec:
    t1 = t.number("t1_us", low=0, low_open=True) * 1e3
    t2 = t.number("t2_us", low=0, low_open=True) * 1e3
    if t2 > 2 * t1:
        raise DeviceSpecError(
            f"{t.source}: {t.where}.t2_us is {t2 / 1e3}, but must satisfy t2_us <= 2 * t1_us = {2 * t1 / 1e3}."
        )
    spec = QubitSpec(
        frequency=t.number("frequency_ghz", low=0, low_open=True),
        anharmonicity=t.number("anharmonicity_mhz", high=0, high_open=True) * 1e-3,
        drive_scale=t.number("drive_scale_mhz", low=0, low_open=True) * 1e-3,
        t1=t1, t2=t2,
        readout_p01=t.number("readout_p01", low=0, high=0.5, high_open=True),
        readout_p10=t.number("readout_p10", low=0, high=0.5, high_open=True),
        readout=_readout(t.optional_table("readout"), t.where) if "readout" in t.data else None,
    )
    t.done()
    return spec


def _readout(t: _Table, qubit_where: str) -> ReadoutSpec:
    """A qubit's [qubits.readout] table (units as written: GHz, MHz, us, ns)."""
    t.where = f"{qubit_where}.readout"
    chi = t.data.get("chi_mhz")
    t.used.add("chi_mhz")
    if (not isinstance(chi, list) or len(chi) < 2 or chi[0] != 0
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in chi)):
        raise t._fail("chi_mhz", f"is {chi!r}, but must list the resonator's shift [MHz] with the qubit in "
                                 "|0>, |1>, |2>, ..., starting with 0 (resonator_ghz is its frequency in |0>).")
    resonator = t.number("resonator_ghz", low=0, low_open=True)
    spec = ReadoutSpec(
        resonator_frequency=resonator,
        linewidth=t.number("linewidth_mhz", low=0, low_open=True, high=100) * 1e-3,
        chi=tuple(float(c) * 1e-3 for c in chi),
        n_max=t.number("n_max", low=0, low_open=True),
        noise_photons=t.number("noise_photons", low=0.5),
        critical_photons=t.number("critical_photons", low=0, low_open=True),
        induced_rate=t.number("induced_rate_per_us", low=0) * 1e-3,
        # the design's pulse: between the |0> and |1> responses unless stated
        pulse_frequency=t.number("pulse_frequency_ghz", low=0, low_open=True,
                                 default=resonator + float(chi[1]) * 1e-3 / 2),
        pulse_amplitude=t.number("pulse_amplitude", low=0, low_open=True, high=1),
        pulse_duration=t.number("pulse_duration_ns", low=0, low_open=True),
    )
    t.done()
    return spec


def parse_spec(data: dict, source: str) -> DeviceSpec:
    root = _Table(data, "file", source)
    adapter = root.text("adapter", default=SIMULATED_ADAPTER)
    if adapter != SIMULATED_ADAPTER:
        raise DeviceSpecError(
            f"{source}: adapter is {adapter!r}, so the file describes no simulated device; "
            "open it through devices.adapters.open_device_file (as every --device does)."
        )
    schema = root.integer("schema", low=1, high=10**6)
    if schema > SCHEMA_VERSION:
        raise DeviceSpecError(
            f"{source}: schema is {schema}, newer than this toolkit reads ({SCHEMA_VERSION}); "
            "upgrade the toolkit."
        )
    awg, gates = root.table("awg"), root.table("gates")
    fab, drift = root.table("fabrication"), root.table("drift")
    simulation = root.optional_table("simulation")
    qubits = tuple(_qubit(t) for t in root.tables("qubits", required=True))
    n = len(qubits)
    couplings = []
    for t in root.tables("couplings", required=False):
        pair = t.data.get("qubits")
        t.used.add("qubits")
        if (not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(q, int) for q in pair)
                or not all(0 <= q < n for q in pair) or pair[0] == pair[1]):
            raise DeviceSpecError(
                f"{source}: {t.where}.qubits is {pair!r}, but must be two different qubit indices in 0..{n - 1}."
            )
        couplings.append((pair[0], pair[1], t.number("j_mhz") * 1e-3))
        t.done()
    crosstalk = []
    for t in root.tables("crosstalk", required=False):
        channel = t.integer("channel", low=0, high=n - 1)
        qubit = t.integer("qubit", low=0, high=n - 1)
        if channel == qubit:
            raise DeviceSpecError(f"{source}: {t.where} has channel == qubit == {qubit}; crosstalk is between different qubits.")
        amp = t.number("amplitude", low=0, high=1)
        phase = math.radians(t.number("phase_deg", default=0.0))
        crosstalk.append((channel, qubit, complex(amp * math.cos(phase), amp * math.sin(phase))))
        t.done()
    spec = DeviceSpec(
        name=root.text("name"),
        description=root.text("description", default="(no description)"),
        dt=awg.number("dt_ns", low=0, low_open=True),
        max_schedule=awg.number("max_schedule_us", low=0, low_open=True) * 1e3,
        repetition=awg.number("repetition_us", low=0) * 1e3,
        x_duration=gates.number("x_duration_ns", low=0, low_open=True),
        x_sigma=gates.number("x_sigma_ns", low=0, low_open=True),
        qubits=qubits, couplings=tuple(couplings), crosstalk=tuple(crosstalk),
        fabrication=fabrication_spread(fab),
        drift=drift_spec(drift),
        source=source,
        n_levels=simulation.integer("n_levels", low=2, high=MAX_LEVELS, default=3),
    )
    for t in (awg, gates, fab, drift, simulation, root):
        t.done()
    for name, value in (("x_duration_ns", spec.x_duration), ("max_schedule_us", spec.max_schedule)):
        if abs(value / spec.dt - round(value / spec.dt)) > 1e-9 * value / spec.dt:
            raise DeviceSpecError(f"{source}: {name} must be a multiple of awg.dt_ns = {spec.dt}.")
    return spec


def read_spec(path: Path) -> DeviceSpec:
    return parse_spec(read_device_config(path), path.name)


def read_device_config(path: Path) -> dict:
    """A device file's parsed TOML, whatever its adapter; unreadable or malformed files raise
    DeviceSpecError naming the file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DeviceSpecError(f"Cannot read device file {path}: {exc.strerror}.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeviceSpecError(f"{path.name}: not valid TOML ({exc}).") from None
    return data
