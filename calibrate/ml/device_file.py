"""A learned model as a simulated device of its own: a DeviceSpec and its TOML file.

The learned device has one qubit (the learned one, as its single-qubit experiments saw
it: dressed by its neighbours, which are not part of it). Its nominal values are the
learned values and its fabrication spread is their standard error, so `--seed` draws a
device from the (diagonal) posterior; a parameter that was not learned keeps the
prior's spread. AWG, gate shape and drift come from the prior.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from pathlib import Path

from calibrate.ml.likelihood import ModelLearningError
from devices.device_spec import DeviceSpec, FabricationSpread, QubitSpec, parse_spec

# What the device-file format allows for the relative and absolute spreads.
_MAX_REL = {"drive_scale_rel": 0.5, "t1_rel": 1.0, "t2_rel": 1.0}
_MAX_READOUT_ABS = 0.1


def learned_spec(model, prior: DeviceSpec, *, name: str | None = None) -> DeviceSpec:
    """`model` (a LearnedModel) as a one-qubit DeviceSpec; refuses a model that did not converge."""
    if not model.converged:
        raise ModelLearningError(f"The learned model did not converge, so it makes no device: {model.reason}")
    v, s = model.values, model.stderr
    fab = prior.fabrication

    def spread(key: str, prior_value: float) -> float:
        return s[key] if math.isfinite(s[key]) else prior_value

    def relative(key: str, prior_rel: float, field: str) -> float:
        rel = s[key] / v[key] if math.isfinite(s[key]) else prior_rel
        return min(rel, _MAX_REL[field])

    readout = [s[k] for k in ("readout_p01", "readout_p10") if math.isfinite(s[k])]
    qubit = QubitSpec(frequency=v["frequency"], anharmonicity=v["anharmonicity"], drive_scale=v["drive_scale"],
                      t1=v["t1"], t2=min(v["t2"], 2.0 * v["t1"]), readout_p01=v["readout_p01"],
                      readout_p10=v["readout_p10"])
    fabrication = FabricationSpread(
        frequency=spread("frequency", fab.frequency), anharmonicity=spread("anharmonicity", fab.anharmonicity),
        drive_scale_rel=relative("drive_scale", fab.drive_scale_rel, "drive_scale_rel"),
        t1_rel=relative("t1", fab.t1_rel, "t1_rel"), t2_rel=relative("t2", fab.t2_rel, "t2_rel"),
        readout_abs=min(max(readout) if len(readout) == 2 else fab.readout_abs, _MAX_READOUT_ABS),
        coupling_rel=fab.coupling_rel)
    described = (f"Learned model of {prior.name} qubit {model.qubit} from {len(model.sources)} dataset(s); "
                 f"spread = standard errors")
    spec = replace(prior, name=name or f"{prior.name}-learned", description=described, qubits=(qubit,),
                   couplings=(), crosstalk=(), fabrication=fabrication, source="(learned model)")
    # the file must read back as this spec: parse what we would write
    return parse_spec(_toml_data(spec), spec.name)


def _toml_data(spec: DeviceSpec) -> dict:
    fab, drift = spec.fabrication, spec.drift
    data = {
        "schema": 1, "name": spec.name, "description": spec.description,
        "awg": {"dt_ns": spec.dt, "max_schedule_us": spec.max_schedule / 1e3, "repetition_us": spec.repetition / 1e3},
        "gates": {"x_duration_ns": spec.x_duration, "x_sigma_ns": spec.x_sigma},
        "fabrication": {"frequency_mhz": fab.frequency * 1e3, "anharmonicity_mhz": fab.anharmonicity * 1e3,
                        "drive_scale_rel": fab.drive_scale_rel, "t1_rel": fab.t1_rel, "t2_rel": fab.t2_rel,
                        "readout_abs": fab.readout_abs, "coupling_rel": fab.coupling_rel},
        "drift": {"frequency_walk_khz_per_sqrt_h": drift.frequency_walk * 1e6,
                  "telegraph_jump_khz": drift.telegraph_jump * 1e6, "telegraph_rate_per_h": drift.telegraph_rate,
                  "amplitude_walk_rel_per_sqrt_h": drift.amplitude_walk_rel,
                  "t1_fluctuation_rel": drift.t1_fluctuation_rel, "t1_correlation_h": drift.t1_correlation_hours},
        "qubits": [{"frequency_ghz": q.frequency, "anharmonicity_mhz": q.anharmonicity * 1e3,
                    "drive_scale_mhz": q.drive_scale * 1e3, "t1_us": q.t1 / 1e3,
                    "t2_us": min(q.t2 / 1e3, 2 * (q.t1 / 1e3)),
                    "readout_p01": q.readout_p01, "readout_p10": q.readout_p10} for q in spec.qubits],
    }
    if spec.couplings:
        data["couplings"] = [{"qubits": [q, r], "j_mhz": j * 1e3} for q, r, j in spec.couplings]
    if spec.crosstalk:
        data["crosstalk"] = [{"channel": d, "qubit": q, "amplitude": abs(c),
                              "phase_deg": math.degrees(math.atan2(c.imag, c.real))} for d, q, c in spec.crosstalk]
    return data


def _value(x) -> str:
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(x, list):
        return "[" + ", ".join(_value(v) for v in x) + "]"
    return repr(x) if isinstance(x, (int, float)) else str(x)


def spec_toml(spec: DeviceSpec, *, header: str = "") -> str:
    """The device file of `spec` (read back by devices.device_spec.parse_spec to the same spec)."""
    data = _toml_data(spec)
    lines = [f"# {line}" for line in header.splitlines()]
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in data.items() if isinstance(v, list)}
    lines += [f"{k} = {_value(v)}" for k, v in data.items() if k not in tables and k not in arrays]
    for key, table in tables.items():
        lines += ["", f"[{key}]"] + [f"{k} = {_value(v)}" for k, v in table.items()]
    for key, items in arrays.items():
        for item in items:
            lines += ["", f"[[{key}]]"] + [f"{k} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def write_device_file(spec: DeviceSpec, path, *, header: str = "") -> Path:
    """Write `spec` as a device TOML file atomically; returns the path."""
    path = Path(path)
    if path.suffix != ".toml":
        raise ModelLearningError(f"A device file must end in .toml (so `--device` reads it as a file), but is {path}.")
    text = spec_toml(spec, header=header)
    parse_spec(tomllib.loads(text), path.name)  # what we write must read back
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
    return path
