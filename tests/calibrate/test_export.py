"""`calibrate export --to qibolab`: the store's current values into a platform's files, every
other byte kept, the write atomic, bad input refused with nothing written."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from calibrate.export import (CALIBRATION_FILE, PARAMETERS_FILE, ExportError, PulseShape, plan_qibolab_export,
                              qibolab_amplitude, qibolab_beta)
from calibrate.export_files import export_to_qibolab
from calibrate.cli.export import export
from calibrate.json_edit import apply_edits
from calibrate.store import Store

DEVICE, STORE_ID = "sim-1q", "sim-1q/seed-0"
SHAPE = PulseShape(duration=20.0, sigma=5.0, dt=0.5)  # sim-1q's X pulse and AWG

# hand-formatted like a lab's file: one line per envelope, 5e9 spelled short, an emulator's
# hamiltonian whose T1/T2 are physics, not calibration
PARAMETERS = """{
  "settings": {"nshots": 1000, "relaxation_time": 0},
  "configs": {
    "hamiltonian": {"kind": "hamiltonian", "transmon_levels": 3,
                    "qubits": {"0": {"frequency": 5e9, "anharmonicity": -2e8, "t1": {"0-1": 1000}, "t2": {"0-1": 1900}}}},
    "0/drive": {"kind": "iq", "frequency": 5e9},
    "0/acquisition": {"kind": "acquisition", "delay": 0.0, "smearing": 0.0, "threshold": 0.0, "iq_angle": 0.0, "kernel": null}
  },
  "native_gates": {
    "single_qubit": {
      "0": {
        "RX": [["0/drive", {"kind": "pulse", "duration": 20.0, "amplitude": 0.5,
                            "envelope": {"kind": "drag", "rel_sigma": 0.25, "beta": 0.0}, "relative_phase": 0.0}]],
        "RX90": [["0/drive", {"kind": "pulse", "duration": 20.0, "amplitude": 0.25,
                              "envelope": {"kind": "gaussian", "rel_sigma": 0.25}, "relative_phase": 0.0}]],
        "MZ": [["0/acquisition", {"kind": "readout", "acquisition": {"kind": "acquisition", "duration": 100.0},
                                  "probe": {"kind": "pulse", "duration": 100.0, "amplitude": 0.1,
                                            "envelope": {"kind": "rectangular"}, "relative_phase": 0.0}}]],
        "CP": null
      },
      "1": {
        "RX": [["1/drive", {"kind": "pulse", "duration": 32.0, "amplitude": 0.3,
                            "envelope": {"kind": "rectangular"}, "relative_phase": 0.0}]]
      }
    },
    "two_qubit": {}
  }
}
"""
CALIBRATION = """{
    "single_qubits": {
        "0": {"qubit": {"frequency_01": 5e9, "frequency_12": 4.8e9},
              "readout": {"fidelity": 0.0, "coupling": null},
              "t1": null, "t2": null}
    },
    "two_qubits": {}
}
"""
VALUES = {  # name -> (value, stderr, unit), as the default graph and a readout node store them
    "frequency": (5.0123456789, 2e-6, "GHz"), "x_amp": (0.41, 1e-4, ""), "sx_amp": (0.2051, 1e-4, ""),
    "beta": (0.31, 0.01, "ns"), "t1": (20000.0, 900.0, "ns"), "t2": (15000.0, 800.0, "ns"),
    "gate_error": (1.2e-3, 1e-4, ""), "readout_p01": (0.02, 0.003, ""), "readout_p10": (0.03, 0.004, ""),
    "model.anharmonicity": (-0.2, 1e-4, "GHz"),
}


@pytest.fixture
def platform(tmp_path) -> Path:
    folder = tmp_path / "platform"
    folder.mkdir()
    (folder / PARAMETERS_FILE).write_text(PARAMETERS)
    (folder / CALIBRATION_FILE).write_text(CALIBRATION)
    return folder


@pytest.fixture
def store_url(sqlite_url) -> str:
    with Store.open(sqlite_url) as store:
        for name, (value, stderr, unit) in VALUES.items():
            store.set_value(STORE_ID, 0, name, value, stderr, unit)
    return sqlite_url


def stored(values=VALUES, qubit=0) -> dict:
    return {(qubit, name): SimpleNamespace(value=v, stderr=e, unit=u) for name, (v, e, u) in values.items()}


def cli(*args: str):
    app = typer.Typer()
    app.command()(export)
    app.command("unused")(lambda: None)  # two commands: typer keeps `export` as a subcommand name
    return CliRunner().invoke(app, ["export", *args])


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def qibolab_loads(text: str, monkeypatch):
    """qibolab's own model of parameters.json (with its emulator's config kinds, registered
    only for this test: the registry is global)."""
    from qibolab import ConfigKinds
    from qibolab._core.parameters import Parameters
    from qibolab.instruments.emulator import DriveEmulatorConfig, HamiltonianConfig

    monkeypatch.setattr(ConfigKinds, "_registered", ConfigKinds.registered() + [HamiltonianConfig, DriveEmulatorConfig])
    return Parameters.model_validate_json(text)


def test_export_writes_the_calibrated_values_and_keeps_every_other_byte(platform, monkeypatch):
    result = export_to_qibolab(stored(), platform, SHAPE)
    loaded = qibolab_loads((platform / PARAMETERS_FILE).read_text(), monkeypatch)
    assert loaded.native_gates.single_qubit[0].RX90[0][1].envelope.beta == -0.62  # qibolab reads what we wrote
    new = json.loads((platform / PARAMETERS_FILE).read_text())
    rx = new["native_gates"]["single_qubit"]["0"]["RX"][0][1]
    rx90 = new["native_gates"]["single_qubit"]["0"]["RX90"][0][1]
    assert new["configs"]["0/drive"]["frequency"] == 5012345678.9  # Hz
    assert rx["amplitude"] == pytest.approx(qibolab_amplitude(0.41, SHAPE)) and rx["envelope"]["beta"] == -0.62
    assert rx90["amplitude"] == pytest.approx(qibolab_amplitude(0.2051, SHAPE))
    assert rx90["envelope"] == {"kind": "drag", "rel_sigma": 0.25, "beta": -0.62}  # gaussian -> drag for beta
    assert rx90["duration"] == 20.0 and any("RX90" in note and "drag" in note for note in result.plan.notes)
    calibration = json.loads((platform / CALIBRATION_FILE).read_text())["single_qubits"]["0"]
    assert calibration["t1"] == [20000.0, 900.0] and calibration["t2_spin_echo"] == [15000.0, 800.0]
    assert calibration["rb_fidelity"] == [pytest.approx(0.9988), 1e-4] and calibration["t2"] is None
    assert calibration["readout"]["fidelity"] == pytest.approx(0.95)  # 1 - p01 - p10
    assert calibration["qubit"]["frequency_01"] == 5012345678.9
    # keys the file lacked are added after its last one, laid out like it; the rest kept byte for byte
    assert (platform / CALIBRATION_FILE).read_text() == CALIBRATION.replace(
        '"frequency_01": 5e9', '"frequency_01": 5012345678.9').replace('"fidelity": 0.0', '"fidelity": 0.95').replace(
        '"t1": null, "t2": null}', '"t1": [20000.0, 900.0], "t2": null,\n'
        '              "t2_spin_echo": [15000.0, 800.0],\n              "rb_fidelity": [0.9988, 0.0001]}')
    assert {(s.name, s.reason) for s in result.plan.skipped} == {
        ("model.anharmonicity", "a qibolab platform has no field for it")}
    # only the edited values changed: the hamiltonian (the emulator's physics) and the
    # file's own formatting stayed, line for line
    removed = {line for line in result.diffs[PARAMETERS_FILE].splitlines()
               if line.startswith("-") and not line.startswith("---")}
    assert removed == {'-    "0/drive": {"kind": "iq", "frequency": 5e9},',
                       '-        "RX": [["0/drive", {"kind": "pulse", "duration": 20.0, "amplitude": 0.5,',
                       '-                            "envelope": {"kind": "drag", "rel_sigma": 0.25, "beta": 0.0}, '
                       '"relative_phase": 0.0}]],',
                       '-        "RX90": [["0/drive", {"kind": "pulse", "duration": 20.0, "amplitude": 0.25,',
                       '-                              "envelope": {"kind": "gaussian", "rel_sigma": 0.25}, '
                       '"relative_phase": 0.0}]],'}
    assert len((platform / PARAMETERS_FILE).read_text().splitlines()) == len(PARAMETERS.splitlines())
    assert result.written == (PARAMETERS_FILE, CALIBRATION_FILE)
    again = export_to_qibolab(stored(), platform, SHAPE)  # idempotent: nothing left to change
    assert again.plan.changes == () and again.written == ()


def test_conversions_agree_with_qibolabs_own_drag_sampling():
    """qibolab's Drag sampled by qibolab, read back in our frame (devices/adapters/qibolab/units.py):
    the same area as our lifted DRAG (rotation angle) and Im s = beta dRe(s)/dt with beta in
    ns, for two sample times (qibolab's beta is per sample, and of the opposite sign)."""
    from qibolab._core.pulses.envelope import Drag as QibolabDrag

    from devices.pulses import Drag
    from devices.adapters.qibolab.units import samples_of

    for dt in (0.5, 2.0):
        shape = PulseShape(duration=40.0, sigma=10.0, dt=dt)
        n = round(shape.duration / dt)
        ours = np.asarray(Drag(shape.duration, amp=0.4, sigma=shape.sigma, beta=0.7).samples(dt))
        envelope = QibolabDrag(rel_sigma=shape.rel_sigma, beta=qibolab_beta(0.7, shape))
        exported = samples_of(*(qibolab_amplitude(0.4, shape) * envelope.envelopes(n)))
        t = (np.arange(n) + 0.5) * dt - shape.duration / 2
        assert exported.real.sum() == pytest.approx(ours.real.sum(), rel=1e-12)
        np.testing.assert_allclose(exported.imag, 0.7 * (-t / shape.sigma**2) * exported.real, rtol=1e-12, atol=1e-15)


def test_a_pulse_of_another_shape_becomes_the_calibrated_one_and_missing_files_are_reported():
    parameters = json.loads(PARAMETERS)
    plan = plan_qibolab_export(stored({"x_amp": (0.4, 1e-4, ""), "beta": (0.2, 0.01, ""), "t1": (9e3, 1e2, "ns"),
                                       "frequency": (5.1, 1e-6, "GHz")}, qubit=1), parameters, None, SHAPE)
    edits = plan.edits(PARAMETERS_FILE)
    gate = ("native_gates", "single_qubit", "1", "RX", 0, 1)
    assert edits[gate + ("envelope",)] == {"kind": "gaussian", "rel_sigma": 0.25}  # beta refused: wrong unit
    assert edits[gate + ("duration",)] == 20.0 and any("32.0 ns" in note for note in plan.notes)
    reasons = {s.name: s.reason for s in plan.skipped}
    assert "stored in unit ''" in reasons["beta"] and "'1/drive' has no config" in reasons["frequency"]
    assert "does not have" in reasons["t1"]
    new = json.loads(apply_edits(PARAMETERS, edits))
    assert new["configs"] == parameters["configs"]  # T1 never goes into the hamiltonian
    with pytest.raises(ExportError, match="qubit 2 is not on the platform.*0..1"):
        plan_qibolab_export(stored(qubit=2), parameters, None, SHAPE)
    # a device over some of the platform's qubits: our qubit 0 is the adapter's platform qubit "1"
    mapped = plan_qibolab_export(stored({"x_amp": (0.4, 1e-4, "")}), parameters, None, SHAPE, qubit_names=["1"])
    assert {c.path[2] for c in mapped.changes} == {"1"}
    with pytest.raises(ExportError, match="platform qubit 'q7' has no single-qubit natives"):
        plan_qibolab_export(stored(), parameters, None, SHAPE, qubit_names=["q7"])


def test_dry_run_prints_the_diff_and_writes_nothing(platform, store_url):
    before = files(platform)
    result = cli(str(platform), "--to", "qibolab", "--device", DEVICE, "--store", store_url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert '-    "0/drive": {"kind": "iq", "frequency": 5e9},' in result.output
    assert '+    "0/drive": {"kind": "iq", "frequency": 5012345678.9},' in result.output
    assert "nothing written" in result.output and files(platform) == before
    report = json.loads(cli(str(platform), "--to", "qibolab", "--device", DEVICE, "--store", store_url,
                            "--dry-run", "--json").output)
    assert report["written"] == [] and report["dry_run"] and files(platform) == before
    assert report["device"] == STORE_ID and "+" in report["diffs"][CALIBRATION_FILE]


def test_a_write_killed_before_the_rename_leaves_the_old_files(platform, store_url, monkeypatch):
    before = files(platform)

    def killed(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr(os, "replace", killed)
    result = cli(str(platform), "--to", "qibolab", "--device", DEVICE, "--store", store_url, "--json")
    assert result.exit_code == 3 and "killed before the rename" in json.loads(result.stdout)["error"]
    assert files(platform) == before  # old bytes, and no temporary file left behind
    monkeypatch.undo()
    written = cli(str(platform), "--to", "qibolab", "--device", DEVICE, "--store", store_url, "--json")
    assert written.exit_code == 0 and json.loads(written.stdout)["written"] == [PARAMETERS_FILE, CALIBRATION_FILE]


@pytest.mark.parametrize("case, message", [
    ("missing dir", "PLATFORM_DIR is .*not there"),
    ("no parameters.json", "has no parameters.json"),
    ("bad json", "parameters.json is not valid JSON: .* line 1"),
    ("no values", "no current values for this device"),
    ("qubit off the platform", "qubit 5 is not on the platform"),
    ("bad qubits", "--qubits is 'a,b'"),
])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(platform, store_url, sqlite_url, tmp_path, case, message):
    target, store, extra = platform, store_url, []
    if case == "missing dir":
        target = tmp_path / "nowhere"
    elif case == "no parameters.json":
        (platform / PARAMETERS_FILE).unlink()
    elif case == "bad json":
        (platform / PARAMETERS_FILE).write_text("{oops")
    elif case == "no values":
        store = f"sqlite:///{tmp_path / 'empty.sqlite'}"
        Store.open(store).close()
    else:
        extra = ["--qubits", "5" if case == "qubit off the platform" else "a,b"]
    before = files(platform)
    result = cli(str(target), "--to", "qibolab", "--device", DEVICE, "--store", store, "--json", *extra)
    assert result.exit_code == 2, result.output
    assert re.search(message, json.loads(result.stdout)["error"])
    assert files(platform) == before


def test_an_unknown_target_is_refused_naming_the_allowed_ones(platform, store_url):
    result = cli(str(platform), "--to", "qiskit", "--device", DEVICE, "--store", store_url)
    assert result.exit_code == 2 and "qibolab" in result.output


def test_the_calibrate_command_has_export(platform, store_url):
    """The real `calibrate` app, as a lab types it: the command is wired, --dry-run writes nothing."""
    from calibrate.cli import app

    before = files(platform)
    result = CliRunner().invoke(app, ["export", str(platform), "--to", "qibolab", "--device", DEVICE,
                                      "--store", store_url, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] and report["written"] == [] and files(platform) == before
    assert any(change["name"] == "frequency" for change in report["changes"])
