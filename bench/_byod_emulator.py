"""bench/byod.py's emulated qubit: the platform as shipped, a drifted copy of it, and the scores.

The drifted copy is the platform folder written into a temporary directory with the emulator's
`hamiltonian` qubit frequency and the drive channel's `rabi_frequency` changed: the emulated
chip moved, its design (drive channel frequency, RX amplitude, calibration.json) did not, so the
adapter's DeviceSpec, and with it the learned controller's fingerprint, stay the same. The
adapter never reads either value (devices/adapters/qibolab/platform_files.py); only the scores
here do, through tests/support (the emulator's own model).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.emulator_gate import x_gate_on_emulator  # noqa: E402
from support.qibolab_truth import EMULATED_TRANSMON, emulator_truth, precession_frequency  # noqa: E402

from devices.adapters.qibolab import QibolabDevice, open_device  # noqa: E402

DEVICE_FILE = EMULATED_TRANSMON.parent / "emulated-transmon.toml"


@dataclass(frozen=True)
class Drift:
    """How far the emulated qubit moved since its last calibration."""

    frequency: float  # GHz, added to the Hamiltonian's qubit frequency
    drive_rel: float  # relative change of the drive channel's rabi_frequency

    def describe(self) -> str:
        return f"{self.frequency * 1e6:+.0f} kHz, drive {self.drive_rel:+.1%}"


def open_emulated(device_file: Path = DEVICE_FILE) -> QibolabDevice:
    return open_device(tomllib.loads(device_file.read_text()), source=device_file)


def drifted_device_file(drift: Drift, folder: Path) -> Path:
    """A device file like the shipped one, over a copy of the platform whose emulated qubit has
    drifted by `drift`; the same device name, so the store knows it as the same chip."""
    platform = folder / "emulated-transmon"
    shutil.rmtree(platform, ignore_errors=True)
    shutil.copytree(EMULATED_TRANSMON, platform)
    parameters = json.loads((platform / "parameters.json").read_text())
    configs = parameters["configs"]
    configs["hamiltonian"]["qubits"]["0"]["frequency"] += drift.frequency * 1e9
    for key in ("0/drive", "0/drive12"):
        configs[key]["rabi_frequency"] *= 1.0 + drift.drive_rel
    (platform / "parameters.json").write_text(json.dumps(parameters, indent=2))
    device_file = folder / "emulated-transmon.toml"
    device_file.write_text(DEVICE_FILE.read_text())  # its platform = "emulated-transmon": the copy beside it
    return device_file


@dataclass(frozen=True)
class Score:
    """The truth about a calibration on an emulated qubit: the X gate's true error over its
    coherence limit, and the drive's offset from the frequency the qubit really precesses at."""

    x_error: float
    x_over_limit: float
    leakage: float
    frequency_error_khz: float
    seconds: float  # spent computing this score (not part of any method's wall time)

    def describe(self) -> str:
        return (f"X error {self.x_error:.2e} = {self.x_over_limit:.2f}x its coherence limit (leakage "
                f"{self.leakage:.1e}), frequency error {self.frequency_error_khz:+.1f} kHz")


def score(device: QibolabDevice, calibration, precession: float) -> Score:
    started = time.perf_counter()
    gate = x_gate_on_emulator(device, 0, calibration.x_schedule())
    return Score(x_error=gate.gate_error, x_over_limit=gate.error_over_limit, leakage=gate.leakage,
                 frequency_error_khz=(calibration.frequency - precession) * 1e6,
                 seconds=time.perf_counter() - started)


def true_offsets(device_file: Path) -> str:
    """The emulated qubit against the design the adapter reads: what calibration must find."""
    folder = device_file.parent / "emulated-transmon"
    truth = emulator_truth(folder)
    spec = open_emulated(device_file).spec.qubits[0]
    return (f"qubit {truth.frequency:.6f} GHz ({(spec.frequency - truth.frequency) * 1e6:+.0f} kHz design - truth), "
            f"drive scale {truth.drive_scale * 1e3:.2f} MHz ({spec.drive_scale / truth.drive_scale - 1:+.1%} design/truth), "
            f"anharmonicity {truth.anharmonicity * 1e3:.0f} MHz, T1 {truth.t1 / 1e3:.0f} us, T2 {truth.t2 / 1e3:.0f} us")


__all__ = ["DEVICE_FILE", "Drift", "Score", "drifted_device_file", "emulator_truth", "open_emulated",
           "precession_frequency", "score", "true_offsets"]
