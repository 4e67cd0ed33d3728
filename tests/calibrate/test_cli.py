"""The `calibrate` command: JSON contract and exit codes (run as a real subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CALIBRATE = [sys.executable, "-m", "calibrate"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*CALIBRATE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_help_lists_only_built_commands():
    out = run("--help")
    assert out.returncode == 0
    assert "device" in out.stdout
    device_help = run("device", "--help").stdout
    assert "list" in device_help and "show" in device_help


def test_device_list_json():
    out = run("device", "list", "--json")
    assert out.returncode == 0, out.stderr
    names = {d["name"] for d in json.loads(out.stdout)["devices"]}
    assert {"sim-1q", "sim-5q"} <= names


def test_device_show_nominal_is_the_public_design():
    out = run("device", "show", "--device", "sim-5q", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["kind"] == "nominal" and "nominal_x_gate" not in report
    assert report["qubits"]["1"]["frequency"] == pytest.approx(5.05)
    assert report["qubits"]["1"]["t1"] == pytest.approx(70e3)


def test_device_show_truth_json_contract():
    out = run("device", "show", "--device", "sim-1q", "--seed", "3", "--truth", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["device"] == "sim-1q" and report["seed"] == 3 and report["kind"] == "truth"
    q0 = report["qubits"]["0"]
    assert set(q0) == {"frequency", "anharmonicity", "drive_scale", "t1", "t2", "readout_p01", "readout_p10"}
    # the seed draws a device: not the design value, but within the fabrication spread
    assert q0["frequency"] != 5.0 and abs(q0["frequency"] - 5.0) < 0.2
    gate = report["nominal_x_gate"]["0"]
    assert 0 < gate["coherence_limit"] < gate["gate_error"] < 1
    assert 0 <= gate["leakage"] < 0.05
    again = json.loads(run("device", "show", "--device", "sim-1q", "--seed", "3", "--truth", "--json").stdout)
    assert again == report


def test_device_show_table_for_people():
    out = run("device", "show", "--device", "sim-1q", "--truth")
    assert out.returncode == 0, out.stderr
    assert "hidden true parameters" in out.stdout and "coherence limit" in out.stdout


def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path):
    out = run("device", "show", "--device", "sim-9q", "--json", cwd=tmp_path)
    assert out.returncode == 2
    assert "Unknown device 'sim-9q'" in json.loads(out.stdout)["error"]
    assert "Unknown device 'sim-9q'" in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("schema = 1\n")
    out = run("device", "show", "--device", str(bad), cwd=tmp_path)
    assert out.returncode == 2 and "bad.toml" in out.stderr
    assert run("device", "show", "--device", "sim-1q", "--seed", "-1", cwd=tmp_path).returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]
