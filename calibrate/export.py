"""`calibrate export --to qibolab`: a device's current calibrated values, written into the
files of a qibolab (>= 0.2.17) platform folder.

- `parameters.json` (qibolab's): the drive frequency (the config of the channel the RX native
  plays on) and the RX / RX90 pulses (amplitude, DRAG beta; the duration and envelope become
  the calibrated pulse's where they differ).
- `calibration.json` (qibocal's, beside it, only where the platform has one): the measured
  qubit properties qibolab's parameters have no field for: T1, echo T2 (and Ramsey T2*),
  readout fidelity, RB fidelity, the 0-1 frequency. Without that file they are reported as
  skipped, never written elsewhere: an emulator platform's `hamiltonian` config holds T1 and
  T2 too, but those are the emulated device's physics, not a calibration.

The plan is pure (`plan_qibolab_export`: stored values and parsed files in, edits out);
calibrate/export_files.py reads the folder, splices the edits into the texts (every
untouched byte stays) and writes each changed file atomically.

Our pulses are lifted Gaussians (zero at their ends); qibolab's Gaussian and Drag are not
lifted. The exported pulse has the calibrated duration and sigma, the same pulse area
(rotation angle) and the same DRAG ratio Im s = beta dRe(s)/dt: equal to first order, not
sample for sample (the qibolab adapter plays our exact samples; a native gate played by qibolab
itself plays this equivalent).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from calibrate.json_edit import JsonPath
from devices.adapters.qibolab import units

PARAMETERS_FILE = "parameters.json"
CALIBRATION_FILE = "calibration.json"
PULSE_GATES = {"x_amp": "RX", "sx_amp": "RX90"}
_SAME = 1e-9  # relative tolerance for "the platform's pulse already has our shape"


class ExportError(ValueError):
    """Bad input to an export: the message names the field, the value and what is allowed."""


class StoredValue(Protocol):  # calibrate.store.ParameterValue has these
    value: float | None
    stderr: float | None
    unit: str


@dataclass(frozen=True)
class PulseShape:
    """The pulse the amplitudes and beta were calibrated with: a lifted-Gaussian DRAG of
    `duration` and `sigma` [ns], sampled every `dt` ns (the platform's 1 / sampling rate)."""

    duration: float
    sigma: float
    dt: float

    def __post_init__(self):
        for name in ("duration", "sigma", "dt"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ExportError(f"PulseShape.{name} is {value!r}, but must be a positive number of ns.")
        if abs(self.duration / self.dt - round(self.duration / self.dt)) > 1e-9 * self.duration / self.dt:
            raise ExportError(f"PulseShape.duration is {self.duration} ns, but must be a whole number of "
                              f"samples of dt = {self.dt} ns.")

    @property
    def rel_sigma(self) -> float:
        return self.sigma / self.duration


# --- conversions: units and signs from devices/adapters/qibolab/units.py; the envelope equivalence here
def hertz(ghz: float) -> float:
    return round(units.hz(ghz), 3)  # mHz: below any drive's resolution, and no 5012345678.900001 noise


def qibolab_amplitude(amp: float, shape: PulseShape) -> float:
    """Our peak amplitude (units of the AWG full scale) as the peak of qibolab's unlifted
    Gaussian of the same sigma with the same area: the same rotation angle."""
    n = round(shape.duration / shape.dt)
    t = [(k + 0.5) * shape.dt - shape.duration / 2 for k in range(n)]
    g = [math.exp(-0.5 * (x / shape.sigma) ** 2) for x in t]
    edge = math.exp(-0.5 * (shape.duration / 2 / shape.sigma) ** 2)
    return amp * (sum(g) - n * edge) / ((1.0 - edge) * sum(g))


def qibolab_beta(beta_ns: float, shape: PulseShape) -> float:
    """Ours: Im s = beta dRe(s)/dt, per ns. qibolab's Drag: Q = beta dI/dk, per sample k, and
    its Q is the toolkit's -Im s (units.iq_of): beta_q = -beta / dt, the sign taken from there."""
    _, quadrature = units.iq_of(np.array([1j]))
    return float(quadrature[0]) * beta_ns / shape.dt


# --- the plan ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    file: str
    path: JsonPath
    qubit: int
    name: str  # the store's name, or "envelope"/"duration" when the pulse's shape changes
    old: Any
    new: Any

    def as_dict(self) -> dict:
        return {"file": self.file, "path": "/".join(map(str, self.path)), "qubit": self.qubit,
                "name": self.name, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Skipped:
    qubit: int
    name: str
    reason: str

    def as_dict(self) -> dict:
        return {"qubit": self.qubit, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class ExportPlan:
    changes: tuple[Change, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...]

    def edits(self, file: str) -> dict[JsonPath, Any]:
        return {c.path: c.new for c in self.changes if c.file == file}


def platform_qubits(parameters: Mapping) -> list[str]:
    """The platform's qubit names in file order: our qubit i is the i-th."""
    natives = parameters.get("native_gates", {}) if isinstance(parameters, Mapping) else {}
    single = natives.get("single_qubit") if isinstance(natives, Mapping) else None
    if not isinstance(single, Mapping) or not single:
        raise ExportError(f"{PARAMETERS_FILE} has no `native_gates.single_qubit` entries: it names no qubit "
                          "to export to.")
    return list(single)


def plan_qibolab_export(current: Mapping[tuple[int, str], StoredValue], parameters: Mapping,
                        calibration: Mapping | None, shape: PulseShape, *, qubits: Sequence[int] | None = None,
                        qubit_names: Sequence[str] | None = None) -> ExportPlan:
    """Which values of `parameters.json` (and of qibocal's `calibration.json`, when given)
    the store's current values change, and why each value the store has is left out.
    Our qubit i is `qubit_names[i]` (the adapter's platform qubits), by default the i-th
    qubit of the file's single-qubit natives."""
    names = platform_qubits(parameters)
    if qubit_names is not None:
        unknown = [str(n) for n in qubit_names if str(n) not in names]
        if unknown:
            raise ExportError(f"the device's platform qubit {unknown[0]!r} has no single-qubit natives in "
                              f"{PARAMETERS_FILE}, which names {', '.join(names)}: is PLATFORM_DIR the device's platform?")
        names = [str(n) for n in qubit_names]
    stored_qubits = sorted({q for q, _ in current})
    chosen = stored_qubits if qubits is None else list(qubits)
    outside = [q for q in chosen if not (isinstance(q, int) and 0 <= q < len(names))]
    if outside:
        raise ExportError(f"qubit {outside[0]} is not on the platform: its single-qubit natives name "
                          f"{len(names)} qubit(s) ({', '.join(names)}), so the qubits allowed are 0..{len(names) - 1}.")
    changes: list[Change] = []
    skipped: list[Skipped] = []
    notes: list[str] = []
    for q in chosen:
        values = {name: v for (qubit, name), v in current.items() if qubit == q and v.value is not None}
        _QubitExport(q, names[q], values, parameters, calibration, shape, changes, skipped, notes).run()
    return ExportPlan(tuple(changes), tuple(skipped), tuple(notes))


_UNITS = {"frequency": "GHz", "x_amp": "", "sx_amp": "", "beta": "ns", "t1": "ns", "t2": "ns", "t2_star": "ns",
          "gate_error": "", "readout_p01": "", "readout_p10": "", "assignment_fidelity": ""}
_CALIBRATION_FIELDS = ("t1", "t2", "t2_star", "gate_error", "readout_p01", "readout_p10", "assignment_fidelity")
# store name -> qibocal's field holding [value, error]; our t2 is the echo's, t2_star Ramsey's
_MEASURES = {"t1": ("t1",), "t2": ("t2_spin_echo",), "t2_star": ("t2",), "gate_error": ("rb_fidelity",)}


class _QubitExport:
    """The edits for one qubit; appends to the plan's lists (a helper of the pure plan)."""

    def __init__(self, qubit, name, values, parameters, calibration, shape, changes, skipped, notes):
        self.qubit, self.name, self.parameters, self.calibration, self.shape = qubit, name, parameters, calibration, shape
        self.changes, self.skipped, self.notes = changes, skipped, notes
        self.values = {}
        for key, v in values.items():
            expected = _UNITS.get(key)
            if expected is None:
                self.skip(key, "a qibolab platform has no field for it")
            elif v.unit != expected:
                self.skip(key, f"stored in unit {v.unit!r}, but the export reads it in {expected!r}")
            else:
                self.values[key] = v
        self.natives = parameters["native_gates"]["single_qubit"][name] or {}

    def run(self) -> None:
        if "frequency" in self.values:
            self.frequency()
        for key, gate in PULSE_GATES.items():
            if key in self.values or "beta" in self.values:
                self.pulse(gate, key)
        if any(k in self.values for k in (*_CALIBRATION_FIELDS, "frequency")):
            self.measured()

    def skip(self, key: str, reason: str) -> None:
        self.skipped.append(Skipped(self.qubit, key, reason))

    def set(self, file: str, path: JsonPath, key: str, old: Any, new: Any) -> None:
        if old != new:
            self.changes.append(Change(file, path, self.qubit, key, old, new))

    def drive_pulse(self, gate: str) -> tuple[int, dict] | str:
        """(index, pulse) of the gate's one drive pulse, or why there is none."""
        native = self.natives.get(gate)
        if not native:
            return f"the platform has no {gate} native for qubit {self.name}"
        pulses = [(i, entry[1]) for i, entry in enumerate(native)
                  if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)
                  and entry[1].get("kind", "pulse") == "pulse"]
        if len(pulses) != 1:
            return f"{gate} of qubit {self.name} plays {len(pulses)} pulses; the export writes one-pulse natives"
        return pulses[0]

    def frequency(self) -> None:
        gate = "RX" if isinstance(self.drive_pulse("RX"), tuple) else "RX90"
        found = self.drive_pulse(gate)
        if isinstance(found, str):
            self.skip("frequency", f"{found}, so there is no drive channel to set")
            return
        channel = self.natives[gate][found[0]][0]
        config = self.parameters.get("configs", {}).get(channel)
        if not isinstance(config, Mapping) or "frequency" not in config:
            self.skip("frequency", f"the drive channel {channel!r} has no config with a frequency")
            return
        self.set(PARAMETERS_FILE, ("configs", channel, "frequency"), "frequency", config["frequency"],
                 hertz(self.values["frequency"].value))

    def pulse(self, gate: str, amp_key: str) -> None:
        found = self.drive_pulse(gate)
        if isinstance(found, str):
            for key in (amp_key, "beta"):
                if key in self.values:
                    self.skip(key, found)
            return
        index, pulse = found
        base = ("native_gates", "single_qubit", self.name, gate, index, 1)
        envelope = pulse.get("envelope") if isinstance(pulse.get("envelope"), Mapping) else {}
        same_shape = (_close(pulse.get("duration"), self.shape.duration) and envelope.get("kind") in ("gaussian", "drag")
                      and _close(envelope.get("rel_sigma"), self.shape.rel_sigma))
        beta = self.values.get("beta")
        if amp_key in self.values:
            self.set(PARAMETERS_FILE, base + ("amplitude",), amp_key, pulse.get("amplitude"),
                     qibolab_amplitude(self.values[amp_key].value, self.shape))
        elif not same_shape:
            self.skip("beta", f"{gate} of qubit {self.name} has another pulse shape than the calibrated one "
                              f"and the store has no {amp_key} for the calibrated shape")
            return
        if same_shape and (beta is None or envelope["kind"] == "drag"):
            if beta is not None:
                self.set(PARAMETERS_FILE, base + ("envelope", "beta"), "beta", envelope.get("beta"),
                         qibolab_beta(beta.value, self.shape))
            return
        rel_sigma = envelope["rel_sigma"] if same_shape else self.shape.rel_sigma
        new_envelope = ({"kind": "drag", "rel_sigma": rel_sigma, "beta": qibolab_beta(beta.value, self.shape)}
                        if beta is not None else {"kind": "gaussian", "rel_sigma": rel_sigma})
        self.set(PARAMETERS_FILE, base + ("envelope",), "envelope", dict(envelope), new_envelope)
        if same_shape:
            self.notes.append(f"qubit {self.name} {gate}: its gaussian envelope became qibolab's drag "
                              "(same duration and rel_sigma) to carry the DRAG beta")
            return
        self.set(PARAMETERS_FILE, base + ("duration",), "duration", pulse.get("duration"), self.shape.duration)
        self.notes.append(f"qubit {self.name} {gate}: envelope {json.dumps(dict(envelope))} of "
                          f"{pulse.get('duration')} ns became qibolab's {new_envelope['kind']} of the calibrated "
                          f"pulse ({self.shape.duration:g} ns, rel_sigma {self.shape.rel_sigma:.6g}): the stored "
                          "amplitude is for that shape")

    def measured(self) -> None:
        where = self.calibration_entry()
        if isinstance(where, str):  # the frequency went to parameters.json: not skipped
            for key in (k for k in _CALIBRATION_FIELDS if k in self.values):
                self.skip(key, where)
            return
        base, entry = where
        v = self.values
        for key, path in _MEASURES.items():
            if key in v:
                value = (1.0 - v[key].value) if key == "gate_error" else v[key].value
                self.set(CALIBRATION_FILE, base + path, key, _get(entry, path), [value, v[key].stderr])
        readout = _get(entry, ("readout", "fidelity"))
        if "readout_p01" in v and "readout_p10" in v:  # qibocal's fidelity is 2 F_assignment - 1
            fidelity = 1.0 - v["readout_p01"].value - v["readout_p10"].value
            self.set(CALIBRATION_FILE, base + ("readout", "fidelity"), "readout_p01,readout_p10", readout, fidelity)
        elif "assignment_fidelity" in v:
            fidelity = 2.0 * v["assignment_fidelity"].value - 1.0
            self.set(CALIBRATION_FILE, base + ("readout", "fidelity"), "assignment_fidelity", readout, fidelity)
        else:
            for key in ("readout_p01", "readout_p10"):
                if key in v:
                    self.skip(key, "qibocal's readout fidelity needs both readout_p01 and readout_p10")
        if "frequency" in v:
            self.set(CALIBRATION_FILE, base + ("qubit", "frequency_01"), "frequency",
                     _get(entry, ("qubit", "frequency_01")), hertz(v["frequency"].value))

    def calibration_entry(self) -> tuple[JsonPath, Mapping] | str:
        if self.calibration is None:
            return (f"a qibolab platform keeps it in qibocal's {CALIBRATION_FILE}, which this platform folder does "
                    f"not have ({PARAMETERS_FILE} has no field for it)")
        qubits = self.calibration.get("single_qubits")
        entry = qubits.get(self.name) if isinstance(qubits, Mapping) else None
        if not isinstance(entry, Mapping):
            return f"{CALIBRATION_FILE} has no `single_qubits` entry for qubit {self.name!r}"
        return ("single_qubits", self.name), entry


def _close(a, b) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool) and abs(a - b) <= _SAME * abs(b)


def _get(entry: Mapping, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(entry, Mapping) or key not in entry:
            return None
        entry = entry[key]
    return entry
