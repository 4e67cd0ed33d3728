"""`calibrate experiment`: the library listing, a real run with dataset and plot, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from experiments.storage import load_dataset

CALIBRATE = [sys.executable, "-m", "calibrate"]


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CALIBRATE, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "120"}, timeout=600)


def test_experiment_list_names_the_whole_library():
    out = run("experiment", "list", "--json")
    assert out.returncode == 0, out.stderr
    names = {e["name"] for e in json.loads(out.stdout)["experiments"]}
    assert names == {"spectroscopy", "rabi", "ramsey", "t1", "echo", "drag", "fine_amplitude",
                     "fine_drag", "readout", "single_shot", "resonator_spectroscopy", "readout_amplitude", "rb",
                     "interleaved_rb", "zz", "cr_tomography", "rb_2q", "interleaved_rb_2q", "readout_duration", "ef_spectroscopy",
                     "ef_rabi", "three_state_readout", "leakage", "ecr_leakage"}
    assert all(e["summary"] for e in json.loads(out.stdout)["experiments"])


@pytest.mark.parametrize(("qubits", "message"), [
    ("1", "must name two different qubits A,B"),
    ("1,1", "must name two different qubits A,B"),
    ("1,x", "must be comma-separated qubit indices"),
])
def test_bad_qubit_pairs_exit_2_before_anything_runs(qubits, message):
    out = run("experiment", "cr_tomography", "--device", "sim-5q", "--qubits", qubits, "--json")
    assert out.returncode == 2, out.stderr
    assert message in json.loads(out.stdout)["error"]


def test_rabi_runs_saves_its_dataset_and_plots_offline(tmp_path):
    truth = json.loads(run("device", "show", "--device", "sim-1q", "--seed", "4", "--truth", "--json").stdout)
    frequency = truth["qubits"]["0"]["frequency"]  # a test may read the truth; the CLI never does
    out = run("experiment", "rabi", "--device", "sim-1q", "--seed", "4", "--qubit", "0", "--shots", "500",
              "--set", f"frequency={frequency}", "--option", "points=31",
              "--out", str(tmp_path / "rabi.nc"), "--plot", str(tmp_path / "rabi.html"), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["verdict"] == "good" and report["experiment"] == "rabi"
    assert set(report["values"]["x_amp"]) == {"value", "stderr", "unit"}
    assert 0.3 < report["values"]["x_amp"]["value"] < 0.9
    assert report["calibration_used"]["0"]["frequency"] == frequency
    ds = load_dataset(report["dataset"])
    assert ds.sizes["amplitude"] == 31 and ds.attrs["experiment"] == "rabi"
    html = (tmp_path / "rabi.html").read_text()
    assert "Bokeh" in html and "cdn.bokeh.org" not in html  # resources inlined: works offline


def test_a_bad_fit_exits_1_with_its_reason(tmp_path):
    # 200 MHz off resonance: no Rabi oscillation at all
    out = run("experiment", "rabi", "--device", "sim-1q", "--shots", "200", "--option", "points=21",
              "--set", "frequency=5.2", "--json", cwd=tmp_path)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["verdict"] == "bad" and "oscillation" in report["reason"]
    assert set(report["values"]) == {"x_amp", "sx_amp", "contrast", "offset"}  # no missing keys


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    cases = [
        (["experiment", "rabbi", "--device", "sim-1q"], "Unknown experiment 'rabbi'"),
        (["experiment", "rabi", "--device", "sim-1q", "--option", "pionts=3"], "has no option 'pionts'"),
        (["experiment", "rabi", "--device", "sim-1q", "--option", "points=many"], "option points is 'many'"),
        (["experiment", "rb", "--device", "sim-1q", "--option", "lengths=1,x,3"],
         "option lengths is '1,x,3', but must be comma-separated ints, e.g. 1,10,100"),
        (["experiment", "rabi", "--device", "sim-1q", "--qubit", "3"], "--qubit is 3, but sim-1q has qubits 0..0"),
        (["experiment", "rabi", "--device", "sim-1q", "--set", "colour=red"], "unknown calibration value"),
        (["experiment", "rabi"], "--device is required"),
        (["experiment", "zz", "--device", "sim-5q", "--qubit", "4", "--option", "spectator=4"], "must differ"),
    ]
    for args, message in cases:
        out = run(*args, "--out", str(tmp_path / "x.nc"), "--json", cwd=tmp_path)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert message in json.loads(out.stdout)["error"], (message, out.stdout)
    assert not (tmp_path / "x.nc").exists()


def test_list_options_are_given_comma_separated():
    from calibrate.cli.experiment import build_experiment

    assert build_experiment("readout_amplitude", 0, {"amplitudes": "0.2,0.5,1.0"}).amplitudes == (0.2, 0.5, 1.0)
    assert build_experiment("rb", 0, {"lengths": "[1, 10, 100, 1000]"}).lengths == (1, 10, 100, 1000)
    for bad in ("1,,2", "", "0.5,1"):
        with pytest.raises(ValueError, match="option lengths is .*, but must be comma-separated ints"):
            build_experiment("rb", 0, {"lengths": bad})
