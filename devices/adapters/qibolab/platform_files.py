"""Finding and loading a qibolab platform, and its nominal design as a DeviceSpec.

A platform is a folder with `platform.py` (whose `create()` returns a qibolab Platform or
Hardware) and `parameters.json`; qibocal keeps measured values beside them in
`calibration.json`. The nominal design is read from what a real platform has:

  frequency       the drive channel's configured frequency (Hz -> GHz)
  anharmonicity   the 1-2 drive channel's frequency minus the drive's, else calibration.json's
                  frequency_12 - frequency_01, else DEFAULT_ANHARMONICITY
  drive_scale     from the RX native gate, a pi rotation: 1 / (2 A dt sum e_k) (units.py)
  x_duration      the RX native's duration; x_sigma its rel_sigma * duration (Gaussian, Drag),
                  else duration / 4
  t1, t2          calibration.json's t1 and t2 (or t2_spin_echo), else DEFAULT_T1 / DEFAULT_T2
  readout p01/p10 from calibration.json's readout fidelity F = 1 - p01 - p10 (split evenly),
                  else DEFAULT_READOUT_ERROR each
  dt              1 / the controller's sampling rate
  repetition      the platform's relaxation_time plus the readout's duration

Nothing here reads an emulator's Hamiltonian or a drive channel's `rabi_frequency`: those are
the emulated chip's truth, which only tests read (tests/support/qibolab_truth.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from devices.device_spec import NO_DRIFT, NO_FABRICATION_SPREAD, DeviceSpec, DeviceSpecError, DriftSpec, FabricationSpread, QubitSpec
from devices.adapters.qibolab import units

PLATFORM_FILE = "platform.py"
PARAMETERS_FILE = "parameters.json"
CALIBRATION_FILE = "calibration.json"

# Nominal values a platform need not state (documented defaults, overridable in the device
# file's [nominal] table)
DEFAULT_ANHARMONICITY = -0.2  # GHz
DEFAULT_T1 = 20_000.0  # ns
DEFAULT_T2 = 15_000.0  # ns
DEFAULT_READOUT_ERROR = 0.02


def platform_folder(platform: str, source: Path | None) -> Path | None:
    """The folder `platform` names relative to the device file (or absolute), if it is one."""
    path = Path(platform).expanduser()
    candidates = [path] if path.is_absolute() else ([source.parent / path] if source is not None else []) + [path]
    for candidate in candidates:
        if (candidate / PLATFORM_FILE).is_file():
            return candidate.resolve()
    return None


def load_platform(platform: str, source: Path | None):
    """The qibolab Platform a device file's `[qibolab] platform` names: a folder (relative to
    the device file) or a platform name on qibolab's $QIBOLAB_PLATFORMS path."""
    with _signal_handlers_kept():
        return _load_platform(platform, source)


@contextmanager
def _signal_handlers_kept():
    """qibolab's Platform replaces the process's SIGINT and SIGTERM handlers with one that raises
    RuntimeError: Ctrl-C would then read as a crashed run (exit 3) instead of an interrupted one
    (exit 130, the run recorded as such). Keep ours; the adapter disconnects at exit instead."""
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in kept.items():
                if handler is not None:
                    signal.signal(sig, handler)


def _load_platform(platform: str, source: Path | None):
    from qibolab import Platform, create_platform

    where = f"{source.name if source is not None else 'device config'}: qibolab.platform"
    folder = platform_folder(platform, source)
    if folder is None:
        try:
            return create_platform(platform), None
        except (RuntimeError, ValueError) as exc:
            raise DeviceSpecError(
                f"{where} is {platform!r}, which is neither a platform folder (holding {PLATFORM_FILE}; "
                f"relative paths are taken from the device file's folder) nor a platform qibolab finds "
                f"({exc}).") from None
    # A module name of its own per folder: platform.py must not shadow the standard library's
    # `platform`, nor two platforms each other.
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"_qibolab_platform_{digest}", folder / PLATFORM_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "create"):
        raise DeviceSpecError(f"{where}: {folder / PLATFORM_FILE} has no create() function.")
    made = module.create()
    if isinstance(made, Platform):
        return made, folder
    return Platform.load(folder, **vars(made)), folder


def read_calibration(folder: Path | None) -> dict:
    """qibocal's calibration.json of the platform folder, {} when there is none."""
    if folder is None or not (folder / CALIBRATION_FILE).is_file():
        return {}
    try:
        data = json.loads((folder / CALIBRATION_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise DeviceSpecError(f"{folder / CALIBRATION_FILE}: not valid JSON ({exc}).") from None
    return data if isinstance(data, dict) else {}


def _measured(entry: dict, *keys: str) -> float | None:
    """A qibocal value (a number, or [value, error]) under the first key present."""
    for key in keys:
        value = entry.get(key)
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            return float(value)
    return None


def _drive_pulse(native, what: str):
    from qibolab import Pulse

    pulses = [(ch, p) for ch, p in native if isinstance(p, Pulse)]
    if len(pulses) != 1:
        raise DeviceSpecError(f"The platform's {what} native gate plays {len(pulses)} pulses; the nominal "
                              "design is read from a one-pulse RX.")
    return pulses[0]


def nominal_spec(platform, qubit_ids: list, *, name: str, description: str, source: str,
                 folder: Path | None, overrides: dict, max_schedule_ns: float,
                 fabrication: FabricationSpread = NO_FABRICATION_SPREAD, drift: DriftSpec = NO_DRIFT) -> DeviceSpec:
    """The platform's nominal design as a DeviceSpec. A platform states no spreads: the
    fabrication prior and drift are the device file's (its [fabrication] and [drift] tables,
    the lab's prior over its chips), else zero."""
    calibration = read_calibration(folder).get("single_qubits", {})
    sampling_rate = float(platform.sampling_rate)
    dt = units.dt_of(sampling_rate)
    qubits, shapes, readout_lengths = [], [], []
    for qid in qubit_ids:
        qubit = platform.qubits[qid]
        natives = platform.natives.single_qubit[qid]
        channel, rx = _drive_pulse(natives.ensure("RX"), f"qubit {qid} RX")
        n = int(rx.duration * sampling_rate)
        envelope_i = rx.envelope.i(n)
        frequency = units.ghz(platform.config(channel).frequency)
        entry = calibration.get(str(qid), {}) if isinstance(calibration, dict) else {}
        anharmonicity = overrides.get("anharmonicity")
        twelve = (qubit.drive_extra or {}).get((1, 2))
        if anharmonicity is None and twelve is not None and twelve in platform.parameters.configs:
            anharmonicity = units.ghz(platform.config(twelve).frequency) - frequency
        if anharmonicity is None:
            levels = entry.get("qubit", {}) if isinstance(entry.get("qubit"), dict) else {}
            f01, f12 = _measured(levels, "frequency_01"), _measured(levels, "frequency_12")
            anharmonicity = units.ghz(f12 - f01) if f01 and f12 else DEFAULT_ANHARMONICITY
        t1 = overrides.get("t1") or _measured(entry, "t1") or DEFAULT_T1
        t2 = overrides.get("t2") or _measured(entry, "t2", "t2_spin_echo") or DEFAULT_T2
        t2 = min(t2, 2.0 * t1)
        fidelity = (entry.get("readout") or {}).get("fidelity") if isinstance(entry.get("readout"), dict) else None
        error = (0.5 * (1.0 - fidelity) if isinstance(fidelity, (int, float)) and 0.0 < fidelity <= 1.0
                 else DEFAULT_READOUT_ERROR)
        qubits.append(QubitSpec(
            frequency=frequency,
            anharmonicity=min(anharmonicity, -1e-3),
            drive_scale=units.drive_scale_from_pi_pulse(rx.amplitude, envelope_i, dt),
            t1=t1, t2=t2,
            readout_p01=overrides.get("readout_p01", error),
            readout_p10=overrides.get("readout_p10", error),
        ))
        rel_sigma = getattr(rx.envelope, "rel_sigma", None)
        shapes.append((n * dt, (rel_sigma * n * dt) if rel_sigma else n * dt / 4.0))
        mz = natives.ensure("MZ")
        readout_lengths.append(max((p.duration for _, p in mz), default=0.0))
    if len(set(shapes)) != 1:
        raise DeviceSpecError(f"The platform's RX native gates differ in shape between qubits ({shapes}): the "
                              "nominal design has one gate duration and sigma.")
    x_duration, x_sigma = shapes[0]
    repetition = float(platform.settings.relaxation_time or 0.0) + max(readout_lengths)
    return DeviceSpec(
        name=name, description=description, dt=dt, max_schedule=max_schedule_ns, repetition=repetition,
        x_duration=x_duration, x_sigma=x_sigma, qubits=tuple(qubits), couplings=(), crosstalk=(),
        fabrication=fabrication, drift=drift,
        source=source, n_levels=3,
    )

