"""`calibrate run | status | history | revert` as operators and cron jobs run them: real
subprocesses, a store file in tmp_path, and the JSON contract of DESIGN.md.

A two-node graph (rabi -> fine_amplitude) keeps runs at a few seconds; the default graph
runs once. The hidden truth is read only through the report's truth block.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from calibrate.graph.toml import load_graph
from calibrate.store import Store
from support.cli import calibrate, calibrate_json
from support.graphs import AMPLITUDE_GRAPH as SMALL_GRAPH

SEED = 2  # a sim-1q device whose qubit frequency is close enough to nominal for a graph without spectroscopy

RABI_STEP = '[[nodes.rabi.calibrate]]\nexperiment = "rabi"\n'


def write_graph(folder: Path, text: str = SMALL_GRAPH, name: str = "small.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def variant(old: str, new: str) -> str:
    assert old in SMALL_GRAPH, old
    return SMALL_GRAPH.replace(old, new, 1)


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'store.sqlite'}"


def device_args(seed: int = SEED) -> list[str]:
    return ["--device", "sim-1q", "--seed", str(seed)]


def values(status: dict) -> dict:
    """status --json reduced to what a value is: qubit -> name -> (value, stderr, unit)."""
    return {q: {n: (v["value"], v["stderr"], v["unit"]) for n, v in names.items()}
            for q, names in status["qubits"].items()}


def read_store(url: str):
    return Store.open(url, read_only=True)


# --- one store, three runs: maintain from scratch, maintain again, recalibrate all ----------

@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("three-runs")
    graph = write_graph(folder)
    url = sqlite_url(folder)
    common = [*device_args(), "--store", url]
    first, _ = calibrate_json("run", *common, "--graph", str(graph), cwd=folder)
    second, _ = calibrate_json("run", *common, "--graph", str(graph), cwd=folder)
    status_before_third, _ = calibrate_json("status", *common, cwd=folder)
    third, _ = calibrate_json("run", *common, "--graph", str(graph), "--recalibrate-all", cwd=folder)
    return {"folder": folder, "url": url, "graph": graph, "first": first, "second": second,
            "status_before_third": status_before_third, "third": third}


@pytest.fixture
def store_copy(three_runs, tmp_path) -> str:
    """A private copy of the three-run store (SQLite file with its WAL), for commands that write."""
    for path in three_runs["folder"].glob("store.sqlite*"):
        shutil.copy2(path, tmp_path / path.name)
    return sqlite_url(tmp_path)


def test_run_json_follows_the_contract(three_runs):
    report, url = three_runs["first"], three_runs["url"]
    assert list(report) == ["device", "seed", "run_id", "seconds", "shots", "device_clock_s", "qubits", "pairs",
                            "store"]
    assert report["pairs"] == {}  # sim-1q has no coupled pair
    assert report["device"] == "sim-1q" and report["seed"] == SEED and report["run_id"] == 1
    assert report["store"] == url
    assert isinstance(report["shots"], int) and report["shots"] > 0
    assert 0 < report["seconds"] < 300 and report["device_clock_s"] > 0
    assert list(report["qubits"]) == ["0"]
    q = report["qubits"]["0"]
    assert set(q) == {"status", "failed_nodes", "recovered_nodes", "parameters", "estimated_gate_error", "nodes",
                      "truth"}
    assert q["status"] == "calibrated" and q["failed_nodes"] == {} and q["recovered_nodes"] == {}
    assert set(q["parameters"]) == {"x_amp", "sx_amp"}
    for name, p in q["parameters"].items():
        assert set(p) == {"value", "stderr", "unit"} and p["unit"] == "", (name, p)
        assert 0 < p["value"] < 1 and 0 < p["stderr"] < 0.01 * p["value"], (name, p)
    assert q["parameters"]["sx_amp"]["value"] == pytest.approx(q["parameters"]["x_amp"]["value"] / 2, rel=0.02)
    assert q["estimated_gate_error"] is None  # no RB node in this graph
    assert [(n["node"], n["action"], n["outcome"]) for n in q["nodes"]] == [
        ("rabi", "calibrate", "calibrated"), ("fine_amplitude", "calibrate", "calibrated")]
    assert sum(n["shots"] for n in q["nodes"]) == report["shots"]
    truth = q["truth"]
    assert set(truth) == {"gate_error", "leakage", "coherence_limit"}
    assert 0 < truth["coherence_limit"] < 1e-3  # microsecond coherence, ns pulses
    assert truth["coherence_limit"] < truth["gate_error"] < 0.2  # amplitudes tuned, frequency not
    assert 0 <= truth["leakage"] < 1e-3


def test_run_writes_its_datasets_beside_the_sqlite_file(three_runs):
    folder = three_runs["folder"] / "datasets" / "sim-1q_seed-2"
    assert sorted(p.name for p in folder.glob("run000001-*")) == [
        "run000001-q0-fine_amplitude-calibrate0.nc", "run000001-q0-rabi-calibrate0.nc"]
    with read_store(three_runs["url"]) as store:
        recorded = [o.dataset_path for o in store.outcomes(run_id=1)]
    assert recorded == [str(folder / "run000001-q0-rabi-calibrate0.nc"),
                        str(folder / "run000001-q0-fine_amplitude-calibrate0.nc")]
    assert all(Path(p).read_bytes()[:8] == b"\x89HDF\r\n\x1a\n" for p in recorded)  # NetCDF4 (HDF5) files
    assert not (three_runs["folder"] / "calibration-data").exists()


def test_a_second_run_continues_the_same_device_and_changes_nothing(three_runs):
    first, second = three_runs["first"], three_runs["second"]
    assert second["run_id"] == 2 and second["qubits"]["0"]["status"] == "calibrated"
    assert second["shots"] == 0 and second["qubits"]["0"]["nodes"] == []  # within the timeouts
    # restored from the store where the first run left it, not drawn afresh
    assert second["device_clock_s"] == first["device_clock_s"]
    assert second["qubits"]["0"]["parameters"] == first["qubits"]["0"]["parameters"]
    assert second["qubits"]["0"]["truth"] == first["qubits"]["0"]["truth"]
    status = three_runs["status_before_third"]
    assert status["device"] == "sim-1q/seed-2" and status["last_run"]["id"] == 2
    assert {n: {k: v[k] for k in ("value", "stderr", "unit")} for n, v in status["qubits"]["0"].items()} == \
        first["qubits"]["0"]["parameters"]
    assert {v["run_id"] for v in status["qubits"]["0"].values()} == {1}


def test_recalibrate_all_calibrates_every_node(three_runs):
    first, third = three_runs["first"], three_runs["third"]
    q = third["qubits"]["0"]
    assert third["run_id"] == 3 and q["status"] == "calibrated"
    assert [(n["node"], n["action"], n["outcome"]) for n in q["nodes"]] == [
        ("rabi", "calibrate", "calibrated"), ("fine_amplitude", "calibrate", "calibrated")]
    assert third["shots"] == first["shots"] and third["device_clock_s"] > first["device_clock_s"]
    assert q["parameters"]["x_amp"]["value"] == pytest.approx(first["qubits"]["0"]["parameters"]["x_amp"]["value"],
                                                              rel=2e-3)
    assert q["parameters"]["x_amp"] != first["qubits"]["0"]["parameters"]["x_amp"]  # measured anew


def test_status_lists_the_current_values_per_qubit(three_runs):
    status, _ = calibrate_json("status", *device_args(), "--store", three_runs["url"])
    assert list(status) == ["device", "qubits", "pairs", "last_run"] and status["pairs"] == {}
    assert status["last_run"]["id"] == 3 and status["last_run"]["status"] == "ok"
    assert list(status["qubits"]) == ["0"] and list(status["qubits"]["0"]) == ["sx_amp", "x_amp"]
    for name, v in status["qubits"]["0"].items():
        assert set(v) == {"value", "stderr", "unit", "time", "run_id"}
        assert v["run_id"] == 3
        assert {k: v[k] for k in ("value", "stderr", "unit")} == three_runs["third"]["qubits"]["0"]["parameters"][name]


def test_history_lists_values_oldest_first_with_their_runs(three_runs):
    history, _ = calibrate_json("history", "x_amp", *device_args(), "--store", three_runs["url"])
    assert history["device"] == "sim-1q/seed-2" and history["name"] == "x_amp"
    rows = history["history"]
    assert [(r["run_id"], r["experiment"], r["qubit"], r["valid"]) for r in rows] == [
        (1, "rabi", 0, True), (1, "fine_amplitude", 0, True), (3, "rabi", 0, True), (3, "fine_amplitude", 0, True)]
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    assert rows[1]["value"] == three_runs["first"]["qubits"]["0"]["parameters"]["x_amp"]["value"]
    assert rows[-1]["value"] == three_runs["third"]["qubits"]["0"]["parameters"]["x_amp"]["value"]


def test_revert_run_restores_exactly_the_values_before_that_run(three_runs, store_copy):
    reverted, _ = calibrate_json("revert", *device_args(), "--run", "3", "--store", store_copy)
    before = values(three_runs["status_before_third"])
    assert reverted == {"device": "sim-1q/seed-2", "reverted": [
        {"qubit": 0, "name": "sx_amp", "value": before["0"]["sx_amp"][0]},
        {"qubit": 0, "name": "x_amp", "value": before["0"]["x_amp"][0]}]}
    with read_store(store_copy) as store:
        current = store.current("sim-1q/seed-2")
        history = store.history("sim-1q/seed-2", "x_amp", 0)
    assert {(str(q), n): (v.value, v.stderr, v.unit) for (q, n), v in current.items()} == \
        {(q, n): v for q, names in before.items() for n, v in names.items()}
    assert len(history) == 5 and history[-1].experiment == "revert"  # appended, nothing deleted


def test_revert_parameter_restores_its_previous_value(three_runs, store_copy):
    out = calibrate("revert", *device_args(), "--parameter", "x_amp", "--qubit", "0", "--store", store_copy)
    assert out.returncode == 0, out.stderr
    with read_store(store_copy) as store:
        history = store.history("sim-1q/seed-2", "x_amp", 0)
        current = store.current("sim-1q/seed-2", 0)
    # the value current before the newest one: run 3's rabi value, before fine_amplitude refined it
    assert history[2].run_id == 3 and history[2].experiment == "rabi"
    assert current[(0, "x_amp")].value == history[2].value
    assert f"q0 x_amp -> {history[2].value}" in out.stdout.replace("\n", "")
    assert current[(0, "sx_amp")].value == three_runs["third"]["qubits"]["0"]["parameters"]["sx_amp"]["value"]


@pytest.mark.parametrize("args, message", [
    ([], "Give either --run RUN_ID (revert a whole run) or --parameter NAME --qubit Q."),
    (["--run", "3", "--parameter", "x_amp", "--qubit", "0"],
     "Give either --run RUN_ID (revert a whole run) or --parameter NAME --qubit Q."),
], ids=["neither", "both"])
def test_revert_needs_one_run_or_one_parameter(three_runs, store_copy, args, message):
    with read_store(store_copy) as store:
        rows_before = store.history("sim-1q/seed-2")
    error, out = calibrate_json("revert", *device_args(), *args, "--store", store_copy, expect=2)
    assert error == {"error": message}
    assert "error:" in out.stderr
    with read_store(store_copy) as store:
        assert store.history("sim-1q/seed-2") == rows_before


# --- a failing node -----------------------------------------------------------------------

def test_a_failed_fit_fails_its_node_skips_its_dependents_and_writes_no_value(tmp_path):
    # A Rabi sweep that cannot reach a pi rotation: the fit is bad.
    graph = write_graph(tmp_path, variant(RABI_STEP, RABI_STEP + "options = { span = 0.2 }\n"))
    url = sqlite_url(tmp_path)
    report, _ = calibrate_json("run", *device_args(seed=1), "--graph", str(graph), "--store", url, expect=1)
    q = report["qubits"]["0"]
    assert q["status"] == "failed"
    assert list(q["failed_nodes"]) == ["rabi", "fine_amplitude"]
    assert q["failed_nodes"]["rabi"].startswith("bad fit in rabi: ")
    assert q["failed_nodes"]["fine_amplitude"] == "skipped: depends on failed node rabi"
    assert [(n["node"], n["action"], n["outcome"]) for n in q["nodes"]] == [
        ("rabi", "calibrate", "failed"), ("fine_amplitude", "skip", "skipped")]
    assert q["parameters"] == {} and q["estimated_gate_error"] is None
    assert q["truth"]["gate_error"] > 10 * q["truth"]["coherence_limit"]  # the nominal, uncalibrated pulse
    status, _ = calibrate_json("status", *device_args(seed=1), "--store", url)
    assert status["qubits"] == {} and status["last_run"]["status"] == "failed_nodes"
    with read_store(url) as store:
        assert store.history("sim-1q/seed-1") == []
        rabi = store.outcomes(node="rabi")[0]
    assert rabi.outcome == "failed" and Path(rabi.dataset_path).is_file()  # the evidence is kept


def test_a_fit_that_fails_outright_fails_its_node_and_the_run_goes_on(tmp_path):
    # On this device Rabi succeeds, then fine_amplitude finds no amplified oscillation at all.
    graph = write_graph(tmp_path)
    report, _ = calibrate_json("run", *device_args(seed=5), "--graph", str(graph), "--store", sqlite_url(tmp_path),
                               expect=1)
    assert report["qubits"]["0"]["failed_nodes"]["fine_amplitude"].startswith("bad fit in fine_amplitude")


# --- the default graph ----------------------------------------------------------------------

def test_the_default_graph_calibrates_sim1q_and_rb_estimates_the_true_gate_error(tmp_path):
    report, _ = calibrate_json("run", *device_args(seed=0), "--store", sqlite_url(tmp_path), cwd=tmp_path)
    q = report["qubits"]["0"]
    assert q["status"] == "calibrated", q["failed_nodes"]
    graph = load_graph()
    calibrated = [n["node"] for n in q["nodes"] if n["action"] == "calibrate" and n["outcome"] == "calibrated"]
    assert calibrated == [n.name for n in graph.nodes]
    assert set(q["parameters"]) == {p for n in graph.nodes for p in n.parameters}
    estimated, true = q["estimated_gate_error"], q["truth"]["gate_error"]
    assert isinstance(estimated, float) and estimated == q["parameters"]["gate_error"]["value"]
    assert true / 2 < estimated < 2 * true, (estimated, q["truth"])
    assert true < 2 * q["truth"]["coherence_limit"], q["truth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets", "store.sqlite"]


# --- bad input: exit 2, a message, nothing written ----------------------------------------------

BAD_GRAPHS = {
    "invalid TOML": (SMALL_GRAPH.replace("timeout_h = 10.0", "timeout_h = ten", 1), ["not valid TOML"]),
    "unknown key": (variant("timeout_h = 10.0\n", "timeout_h = 10.0\ntimout_h = 3.0\n"),
                    ["node 'rabi'", "unknown key(s) ['timout_h']"]),
    "unknown experiment": (variant(RABI_STEP, RABI_STEP.replace('"rabi"', '"rabbi"')),
                           ["node 'rabi' calibrate[0]", "Unknown experiment 'rabbi'"]),
    "unknown option": (variant("options = { points = 25 }", "options = { pionts = 25 }"),
                       ["node 'rabi' check", "experiment rabi has no option(s) ['pionts']"]),
    "cycle": (variant("[nodes.rabi]\n", '[nodes.rabi]\ndepends_on = ["fine_amplitude"]\n'),
              ["The graph has a cycle: "]),
    "unknown dependency": (variant('depends_on = ["rabi"]', 'depends_on = ["rabi", "ramsey"]'),
                           ["Node 'fine_amplitude' depends on unknown node(s) ['ramsey']"]),
}


def assert_bad_input(out, fragments: list[str]) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    error = json.loads(out.stdout)
    assert list(error) == ["error"], error
    for fragment in fragments:
        assert fragment in error["error"], (fragment, error["error"])
    assert "error:" in out.stderr and "Traceback" not in out.stderr
    return error["error"]


@pytest.mark.parametrize("case", list(BAD_GRAPHS))
def test_a_malformed_graph_file_exits_2_naming_the_file_and_the_problem(tmp_path, case):
    text, fragments = BAD_GRAPHS[case]
    graph = write_graph(tmp_path, text, name="broken.toml")
    out = calibrate("run", *device_args(), "--graph", str(graph), "--store", sqlite_url(tmp_path / "store"),
                    "--json", cwd=tmp_path)
    assert_bad_input(out, [str(graph), *fragments])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.toml"]  # no store, no datasets


@pytest.mark.parametrize("args, store, fragments", [
    (["--device", "sim-9q"], "sqlite", ["Unknown device 'sim-9q'", "sim-1q"]),
    (["--qubits", "3"], "sqlite", ["--qubits is [3], but sim-1q has qubits 0..0."]),
    (["--qubits", "a,b"], "sqlite", ["--qubits is 'a,b', but must be comma-separated qubit indices"]),
    ([], "postgresql+psycopg://u@127.0.0.1:1/x",
     ["Store postgresql+psycopg://u@127.0.0.1:1/x cannot be opened", "Connection refused"]),
    ([], "mysql://x/y", ["Store URL 'mysql://x/y' has scheme 'mysql'; allowed schemes are", "sqlite"]),
], ids=["unknown device", "unknown qubit", "bad qubits text", "unreachable store", "unknown scheme"])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path, args, store, fragments):
    graph = write_graph(tmp_path)
    url = sqlite_url(tmp_path / "store") if store == "sqlite" else store
    base = {"--device": "sim-1q", "--seed": str(SEED), "--graph": str(graph), "--store": url}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    out = calibrate("run", *[x for kv in base.items() for x in kv], "--json", cwd=tmp_path)
    assert_bad_input(out, fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]  # no store, no calibration-data


def test_help_lists_the_commands():
    out = calibrate("--help")
    assert out.returncode == 0, out.stderr
    for command in ("run", "status", "history", "revert", "nightly"):
        assert re.search(rf"^\W*{command}\s", out.stdout, re.MULTILINE), command
