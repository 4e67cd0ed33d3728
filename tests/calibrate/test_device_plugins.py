"""Devices are plugins: a device file names its adapter, and every command opens its device
through calibrate/resolve.py. A lab's `python` factory device (lab_factory.py: sim-1q seed 2
behind a plain Device, without state, truth, drift or seed) and the qibolab adapter's
emulated transmon (devices/adapters/qibolab/) run `run`, `status`, `report` and the dashboard's data
path through the same code as a catalog device."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calibrate.cli import app
from calibrate.resolve import resolve_device, store_id
from calibrate.store import Store
from devices.adapters import ENTRY_POINT_GROUP, AdapterError, known_adapters
from devices.protocol import Device, Drifting, HasTruth, Seeded, Stateful
from support.cli import calibrate_json
from support.graphs import AMPLITUDE_GRAPH

LAB_FILE = Path(__file__).with_name("lab-1q.toml")
QIBOLAB_FILE = Path(__file__).parents[2] / "devices" / "adapters" / "qibolab" / "platforms" / "emulated-transmon.toml"
# One node, sized for qibolab's emulator (seconds): the command path is under test, not the physics
RABI_GRAPH = """
schema = 1
name = "rabi-only"
[nodes.rabi]
timeout_h = 10.0
update = { x_amp = "x_amp", sx_amp = "sx_amp" }
tolerance.x_amp = { relative = 0.05 }
check = { experiment = "rabi", shots = 300, options = { points = 21 } }
[[nodes.rabi.calibrate]]
experiment = "rabi"
shots = 300
options = { points = 21 }
"""


def invoke(*args: str) -> tuple[int, dict]:
    """The command in this process (no interpreter start): its exit status and JSON object."""
    result = CliRunner().invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout.splitlines()[0] if result.exit_code == 2 else result.stdout)


def device_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "device.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def lab_and_catalog(tmp_path_factory) -> dict:
    """The small graph run once on the lab's device and once on the catalog device it wraps."""
    folder = tmp_path_factory.mktemp("plugins")
    graph = folder / "graph.toml"
    graph.write_text(AMPLITUDE_GRAPH)
    runs = {}
    for label, device in (("lab", ["--device", str(LAB_FILE)]), ("catalog", ["--device", "sim-1q", "--seed", "2"])):
        url = f"sqlite:///{folder / label / 'store.sqlite'}"
        runs[label], _ = calibrate_json("run", *device, "--graph", str(graph), "--store", url, cwd=folder)
        runs[label]["url"] = url
    runs["folder"] = folder
    return runs


def test_the_lab_device_is_a_plain_device_without_any_capability():
    lab = resolve_device(str(LAB_FILE))
    assert isinstance(lab, Device)
    assert not any(isinstance(lab, capability) for capability in (Stateful, HasTruth, Drifting, Seeded))
    assert store_id(lab) == "lab-1q"
    assert store_id(resolve_device("sim-1q")) == "sim-1q/seed-0"  # stores written before adapters keep working


def test_a_python_factory_device_calibrates_exactly_as_the_catalog_device_it_wraps(lab_and_catalog):
    lab, catalog = lab_and_catalog["lab"], lab_and_catalog["catalog"]
    assert (lab["device"], lab["seed"]) == ("lab-1q", None)
    assert (catalog["device"], catalog["seed"]) == ("sim-1q", 2)
    # the same physics and shot stream through the same code: the same values and shots
    assert lab["shots"] == catalog["shots"] > 0
    assert lab["qubits"]["0"]["parameters"] == catalog["qubits"]["0"]["parameters"]
    assert lab["qubits"]["0"]["status"] == "calibrated"
    # only the truth differs: the contract's null for a device without one
    assert "truth" in lab["qubits"]["0"] and lab["qubits"]["0"]["truth"] is None
    assert catalog["qubits"]["0"]["truth"]["gate_error"] > 0
    with Store.open(lab["url"], read_only=True) as store:
        assert [r["device"] for r in store.runs()] == ["lab-1q"]
        assert store.runs()[0]["device_seed"] is None
        assert store.load_device_state("lab-1q") is None  # not Stateful: nothing kept
        assert store.runs()[0]["summary"]["0"]["truth"] is None


def test_status_report_and_dashboard_read_the_lab_device_like_any_other(lab_and_catalog):
    from dashboards.app import DashboardOptions, DashboardSession
    from dashboards.data import StoreReader, truth_columns

    url = lab_and_catalog["lab"]["url"]
    code, status = invoke("status", "--device", str(LAB_FILE), "--store", url)
    assert code == 0 and status["device"] == "lab-1q"
    assert status["qubits"]["0"]["x_amp"]["value"] == lab_and_catalog["lab"]["qubits"]["0"]["parameters"]["x_amp"]["value"]
    out = lab_and_catalog["folder"] / "lab-report.html"
    code, report = invoke("report", "--store", url, "--out", str(out))
    assert code == 0 and report["device"] == "lab-1q" and out.stat().st_size > 0
    with StoreReader.open(url) as reader:
        assert truth_columns(reader.runs(device="lab-1q"))["run_id"] == []  # no truth, no truth points
        session = DashboardSession(reader, DashboardOptions())
        assert session.qubits.value == ["lab-1q q0"]
        assert len(session.nodes.data["id"]) == len(lab_and_catalog["lab"]["qubits"]["0"]["nodes"])


def test_a_qibolab_device_runs_status_report_and_dashboard_through_the_same_path(tmp_path):
    from dashboards.app import DashboardOptions, DashboardSession
    from dashboards.data import StoreReader

    graph, url = tmp_path / "graph.toml", f"sqlite:///{tmp_path / 'store.sqlite'}"
    graph.write_text(RABI_GRAPH)
    run, _ = calibrate_json("run", "--device", str(QIBOLAB_FILE), "--graph", str(graph), "--store", url, cwd=tmp_path)
    q = run["qubits"]["0"]
    assert (run["device"], run["seed"], q["status"], q["truth"]) == ("emulated-transmon", None, "calibrated", None)
    code, status = invoke("status", "--device", str(QIBOLAB_FILE), "--store", url)
    assert code == 0 and status["qubits"]["0"]["x_amp"]["value"] == q["parameters"]["x_amp"]["value"]
    code, report = invoke("report", "--store", url, "--out", str(tmp_path / "report.html"))
    assert code == 0 and report["device"] == "emulated-transmon"
    with StoreReader.open(url) as reader:
        assert DashboardSession(reader, DashboardOptions()).qubits.value == ["emulated-transmon q0"]
    code, out = invoke("run", "--device", str(QIBOLAB_FILE), "--seed", "1", "--store", url)
    assert code == 2 and "device emulated-transmon" in out["error"] and "has no seed" in out["error"]


def test_seed_and_simulated_days_are_refused_for_a_device_without_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    code, out = invoke("run", "--device", str(LAB_FILE), "--seed", "3", "--store", url)
    assert code == 2 and "device lab-1q" in out["error"] and "has no seed" in out["error"]
    code, out = invoke("nightly", "--device", str(LAB_FILE), "--simulate-days", "2", "--store", url)
    assert code == 2 and "--simulate-days" in out["error"] and "lab-1q" in out["error"]
    code, out = invoke("device", "show", "--device", str(LAB_FILE), "--truth")
    assert code == 2 and "no hidden truth" in out["error"]
    assert not (tmp_path / "store.sqlite").exists()  # bad input writes nothing


def test_device_show_gives_the_nominal_design_of_any_adapter():
    code, out = invoke("device", "show", "--device", str(LAB_FILE))
    assert code == 0 and (out["device"], out["adapter"], out["kind"]) == ("lab-1q", "python", "nominal")
    assert out["qubits"]["0"]["frequency"] == pytest.approx(5.0)


@pytest.mark.parametrize("text, fragments", [
    ('adapter = "nope"\n', ["adapter is 'nope'", "python, qibolab, simulated"]),
    ('adapter = "python"\nfactory = "lab_factory:not_a_device"\n',
     ["adapter 'python' (lab_factory:not_a_device)", "builtins.dict", "not a devices.protocol.Device", "run"]),
    ('adapter = "python"\nfactory = "lab_factory"\n', ["factory is 'lab_factory'", "package.module:function"]),
    ('adapter = "python"\nfactory = "lab_factory:open_lab"\n[options]\ncolour = 3\n', ["open_lab", "colour"]),
    ('adapter = "python"\nfactory = "no_such_lab_module:open"\n', ["no_such_lab_module", "cannot be imported"]),
    ('adapter = "python"\nfactory = "lab_factory:unreachable"\n',
     ["(lab_factory:unreachable) could not open the device", "ConnectionError", "192.0.2.1"]),
    ('adapter = "python"\nfactory = "lab_factory:open_lab"\nplatform = 1\n', ["unknown key(s) platform"]),
])
def test_a_bad_device_file_exits_2_naming_the_problem(tmp_path, text, fragments):
    path = tmp_path / "lab_factory.py"
    path.write_text(Path(__file__).with_name("lab_factory.py").read_text())
    code, out = invoke("device", "show", "--device", device_file(tmp_path, text))
    assert code == 2, out
    for fragment in fragments:
        assert fragment in out["error"], out["error"]


def test_installed_adapters_are_found_through_their_entry_points(monkeypatch, tmp_path):
    ours = importlib.metadata.EntryPoint(name="lab", value="lab_factory:open_lab_adapter", group=ENTRY_POINT_GROUP)
    shadowing = importlib.metadata.EntryPoint(name="simulated", value="lab_factory:open_lab_adapter",
                                              group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None, **kw: [ours, shadowing] if group == ENTRY_POINT_GROUP else [])
    adapters = known_adapters()
    assert adapters["lab"].origin == "entry point lab_factory:open_lab_adapter"
    assert adapters["simulated"].origin == "built-in"  # an entry point cannot replace a built-in
    lab = resolve_device(device_file(tmp_path, 'adapter = "lab"\n[lab]\ndraw = 2\n'))
    assert lab.name == "lab-1q" and isinstance(lab, Device)
    code, listing = invoke("device", "list")
    assert code == 0 and {"name": "lab", "origin": "entry point lab_factory:open_lab_adapter"} in listing["adapters"]
    assert {"sim-1q", "sim-5q"} <= {d["name"] for d in listing["devices"]}


def test_the_qibolab_adapter_says_how_to_install_it_when_it_cannot_load(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "devices.adapters.qibolab", None)  # as if the package were not installed
    with pytest.raises(AdapterError, match=r"pip install qubit-calibrate\[qibolab\]"):
        resolve_device(device_file(tmp_path, 'adapter = "qibolab"\n[qibolab]\nplatform = "dummy"\n'))
