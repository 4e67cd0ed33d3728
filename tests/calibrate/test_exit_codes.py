"""Exit codes that scripts can trust, for `calibrate run` and `calibrate nightly`, through the
real command in its own process (README, machine-readable contract):

0 every qubit calibrated; 1 finished with failed nodes; 2 bad input, nothing written; 3 crashed
or the store failed mid-run, the run recorded as "error" with its reason where the store still
answers, no partial node update; 130 interrupted. With --json, one JSON object in every case.

The crashes are genuine. An experiment's analysis raises in the command's own process
(faulty_cli.py). A store refuses writes mid-run, as a full disk or a revoked permission would:
SQLite triggers (and a PL/pgSQL trigger on PostgreSQL), added to a store whose schema exists,
let the run row be created and then make a node update (or also the run's own finish) fail.
Root ignores file permissions, so a read-only file could not do it here.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calibrate.nightly import INTERRUPTED, NightlyCrashed, NightlyDevice, NightlyJob, Serial, run_nightly
from calibrate.store import Store
from dashboards.data import StoreReader, truth_columns
from support.cli import CALIBRATE, calibrate, calibrate_json
from support.graphs import AMPLITUDE_GRAPH

SEED = 2  # a sim-1q device close enough to nominal for the two-node graph (see support/graphs.py)
DEVICE = f"sim-1q/seed-{SEED}"
FAULTY_CLI = Path(__file__).with_name("faulty_cli.py")
RABI_STEP = '[[nodes.rabi.calibrate]]\nexperiment = "rabi"\n'
# a Rabi sweep that cannot reach a pi rotation: rabi fails, fine_amplitude is skipped (test_cli_run.py)
FAILING_GRAPH = AMPLITUDE_GRAPH.replace(RABI_STEP, RABI_STEP + "options = { span = 0.2 }\n", 1)
REFUSAL = "disk quota exceeded (injected by a test trigger)"


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'store.sqlite'}"


def faulty(fault: str, experiment: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FAULTY_CLI), fault, experiment, "--", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=900)


def one_json(out: subprocess.CompletedProcess) -> dict:
    obj = json.loads(out.stdout)  # the whole of stdout: exactly one JSON object
    assert isinstance(obj, dict), out.stdout
    return obj


def refuse(url: str, table: str, event: str = "INSERT", device: str | None = None) -> None:
    """Make the store refuse one kind of write from now on (a trigger that aborts it)."""
    db = url.removeprefix("sqlite:///")
    when = f"WHEN NEW.device = '{device}' " if device else ""
    with sqlite3.connect(db) as raw:
        raw.execute(f"CREATE TRIGGER refuse_{table}_{event.lower()} BEFORE {event} ON {table} {when}"
                    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")


def all_runs(url: str) -> list[dict]:
    with Store.open(url, read_only=True) as store:
        return store.runs()


def store_state(url: str, device: str = DEVICE) -> dict:
    with Store.open(url, read_only=True) as store:
        return {"runs": store.runs(device), "history": store.history(device), "outcomes": store.outcomes(device=device),
                "current": {k: (v.value, v.stderr, v.id) for k, v in store.current(device).items()}}


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> dict:
    """One `calibrate run` (exit 0) on a fresh store: the previous values of the tests below."""
    folder = tmp_path_factory.mktemp("calibrated")
    graph = folder / "small.toml"
    graph.write_text(AMPLITUDE_GRAPH)
    url = sqlite_url(folder)
    out = calibrate("run", "--device", "sim-1q", "--seed", str(SEED), "--graph", str(graph), "--store", url,
                    "--json", cwd=folder)
    return {"folder": folder, "graph": graph, "url": url, "out": out}


@pytest.fixture
def store_copy(calibrated, tmp_path) -> str:
    """A private copy of the calibrated store (SQLite file and its WAL), for commands that write."""
    for path in calibrated["folder"].glob("store.sqlite*"):
        shutil.copy2(path, tmp_path / path.name)
    return sqlite_url(tmp_path)


def run_args(graph: Path, url: str, *extra: str) -> list[str]:
    return ["run", "--device", "sim-1q", "--seed", str(SEED), "--graph", str(graph), "--store", url, *extra, "--json"]


# --- calibrate run ------------------------------------------------------------------------------

def test_run_exits_0_when_every_qubit_is_calibrated(calibrated):
    out = calibrated["out"]
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-2000:])
    report = one_json(out)
    assert "error" not in report and report["qubits"]["0"]["status"] == "calibrated"
    state = store_state(calibrated["url"])
    assert [r["status"] for r in state["runs"]] == ["ok"]
    assert {name for _, name in state["current"]} == {"x_amp", "sx_amp"}


def test_run_exits_1_when_a_node_failed(tmp_path):
    graph = tmp_path / "failing.toml"
    graph.write_text(FAILING_GRAPH)
    report, _ = calibrate_json(*run_args(graph, sqlite_url(tmp_path))[:-1], cwd=tmp_path, expect=1)
    assert "error" not in report
    assert list(report["qubits"]["0"]["failed_nodes"]) == ["rabi", "fine_amplitude"]
    assert [r["status"] for r in store_state(sqlite_url(tmp_path))["runs"]] == ["failed_nodes"]


def test_run_exits_3_when_an_experiment_crashes_and_records_the_run_as_error(calibrated, store_copy, tmp_path):
    before = store_state(store_copy)
    out = faulty("--raise-in", "rabi", *run_args(calibrated["graph"], store_copy, "--recalibrate-all"), cwd=tmp_path)
    assert out.returncode == 3, (out.returncode, out.stdout[-2000:], out.stderr[-3000:])
    reason = "crashed at qubit 0 node rabi (calibrate): RuntimeError: injected fault in the analysis of rabi"
    assert one_json(out) == {"error": reason, "run_id": 2, "recorded": True}
    assert f"error: {reason} (run 2, recorded as error)" in out.stderr and "Traceback" not in out.stderr
    after = store_state(store_copy)
    run = after["runs"][-1]
    assert (run["id"], run["status"], run["summary"]) == (2, "error", {"error": reason})
    assert run["finished"] is not None and run["shots"] > 0  # rabi's shots were measured before the crash
    assert after["current"] == before["current"] and after["history"] == before["history"]
    assert [o.run_id for o in after["outcomes"]] == [o.run_id for o in before["outcomes"]]  # no half update
    with StoreReader.open(store_copy) as reader:  # the dashboards still read the store: run 1's truth only
        assert truth_columns(reader.runs(finished=True))["run_id"] == [1]


def test_run_exits_3_when_the_store_refuses_a_node_update_mid_run(calibrated, store_copy, tmp_path):
    before = store_state(store_copy)
    refuse(store_copy, "parameter_values")  # the run row is created; rabi's update fails
    out = calibrate(*run_args(calibrated["graph"], store_copy, "--recalibrate-all"), cwd=tmp_path)
    assert out.returncode == 3, (out.returncode, out.stdout[-2000:], out.stderr[-3000:])
    error = one_json(out)
    assert set(error) == {"error", "run_id", "recorded"} and (error["run_id"], error["recorded"]) == (2, True)
    assert error["error"].startswith(f"the store failed at qubit 0 node rabi (calibrate): Store {store_copy}: "
                                     f"record_node failed: IntegrityError: {REFUSAL}"), error
    after = store_state(store_copy)
    assert (after["runs"][-1]["status"], after["runs"][-1]["summary"]) == ("error", {"error": error["error"]})
    assert after["current"] == before["current"] and after["history"] == before["history"]
    # the outcome row went with its values: one transaction
    assert [o.id for o in after["outcomes"]] == [o.id for o in before["outcomes"]]


def refuse_on_postgresql(url: str, table: str) -> None:
    """PostgreSQL's form of `refuse`: a trigger function that raises on every INSERT into `table`."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as connection:
        connection.execute(f"CREATE FUNCTION refuse_write() RETURNS trigger AS $$ BEGIN "
                           f"RAISE EXCEPTION '{REFUSAL}'; END $$ LANGUAGE plpgsql")
        connection.execute(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                           "FOR EACH ROW EXECUTE FUNCTION refuse_write()")


def test_run_exits_3_when_a_postgresql_store_refuses_a_node_update_mid_run(postgres_url, tmp_path):
    """The same contract on PostgreSQL: the run row exists, rabi's update is refused by the server;
    exit 3, the run recorded as error, no partial update, the previous values current."""
    graph = tmp_path / "small.toml"
    graph.write_text(AMPLITUDE_GRAPH)
    calibrate_json(*run_args(graph, postgres_url)[:-1], cwd=tmp_path)
    before = store_state(postgres_url)
    refuse_on_postgresql(postgres_url, "parameter_values")
    out = calibrate(*run_args(graph, postgres_url, "--recalibrate-all"), cwd=tmp_path)
    assert out.returncode == 3, (out.returncode, out.stdout[-2000:], out.stderr[-3000:])
    error = one_json(out)
    assert (error["run_id"], error["recorded"]) == (2, True), error
    assert error["error"].startswith("the store failed at qubit 0 node rabi (calibrate): Store ") and \
        "record_node failed" in error["error"] and REFUSAL in error["error"], error
    after = store_state(postgres_url)
    assert (after["runs"][-1]["status"], after["runs"][-1]["summary"]) == ("error", {"error": error["error"]})
    assert after["current"] == before["current"] and after["history"] == before["history"]
    assert [o.id for o in after["outcomes"]] == [o.id for o in before["outcomes"]]


def test_run_exits_3_and_names_its_run_when_the_store_stops_answering(calibrated, store_copy, tmp_path):
    before = store_state(store_copy)
    refuse(store_copy, "node_outcomes")
    refuse(store_copy, "runs", "UPDATE")  # nor can the run be finished as "error"
    out = calibrate(*run_args(calibrated["graph"], store_copy, "--recalibrate-all"), cwd=tmp_path)
    assert out.returncode == 3, (out.returncode, out.stdout[-2000:], out.stderr[-3000:])
    error = one_json(out)
    assert (error["run_id"], error["recorded"]) == (2, False)
    assert "the store failed at qubit 0 node rabi (calibrate)" in error["error"] and REFUSAL in error["error"]
    assert "(run 2; the store could not record it as error)" in out.stderr
    after = store_state(store_copy)
    assert [(r["id"], r["status"]) for r in after["runs"]] == [(1, "ok"), (2, "running")]  # visibly unfinished
    assert after["current"] == before["current"] and after["history"] == before["history"]


def test_run_interrupted_exits_130_keeping_whole_node_updates_only(calibrated, store_copy, tmp_path):
    before = store_state(store_copy)
    out = faulty("--interrupt-in", "fine_amplitude",
                 *run_args(calibrated["graph"], store_copy, "--recalibrate-all"), cwd=tmp_path)
    assert out.returncode == 130, (out.returncode, out.stdout[-2000:], out.stderr[-3000:])
    reason = "interrupted at qubit 0 node fine_amplitude (calibrate) (KeyboardInterrupt)"
    assert one_json(out) == {"error": reason, "run_id": 2, "recorded": True}
    after = store_state(store_copy)
    run = after["runs"][-1]
    assert (run["id"], run["status"], run["summary"]) == (2, "error", {"error": reason})
    # rabi finished before the interrupt: its whole update stands; fine_amplitude wrote nothing
    new_rows = after["history"][len(before["history"]):]
    assert {(v.run_id, v.experiment, v.name) for v in new_rows} == {(2, "rabi", "x_amp"), (2, "rabi", "sx_amp")}
    assert [(o.node, o.outcome) for o in after["outcomes"] if o.run_id == 2] == [("rabi", "calibrated")]
    assert {k: v[2] for k, v in after["current"].items()} == {(0, v.name): v.id for v in new_rows}


BAD_RUN_INPUT = {
    "unknown device": (["--device", "sim-9q"], ["Unknown device 'sim-9q'", "sim-1q"]),
    "negative seed": (["--seed", "-1"], ["Invalid value for '--seed'", "greater than or equal to 0"]),
    "qubit out of range": (["--qubits", "3"], ["--qubits is [3], but sim-1q has qubits 0..0."]),
    "graph with an unknown key": (["--graph", "{bad_graph}"], ["{bad_graph}", "unknown key(s) ['timout_h']"]),
    "graph file missing": (["--graph", "{folder}/nowhere.toml"], ["{folder}/nowhere.toml"]),
    "store scheme": (["--store", "mysql://x/y"], ["Store URL 'mysql://x/y' has scheme 'mysql'; allowed schemes"]),
    "store not a database": (["--store", "sqlite:///{not_db}"], ["Store sqlite:///{not_db} cannot be opened",
                                                                  "file is not a database"]),
    "data dir is a file": (["--data-dir", "{not_db}"], ["--data-dir is '{not_db}', but that is a file"]),
}


def bad_input_files(folder: Path, calibrated: dict) -> dict[str, str]:
    for path in calibrated["folder"].glob("store.sqlite*"):
        shutil.copy2(path, folder / path.name)
    bad_graph = folder / "bad.toml"
    bad_graph.write_text(AMPLITUDE_GRAPH.replace("timeout_h = 10.0\n", "timeout_h = 10.0\ntimout_h = 3.0\n", 1))
    not_db = folder / "notes.sqlite"
    not_db.write_text("not a database\n")
    return {"folder": str(folder), "bad_graph": str(bad_graph), "not_db": str(not_db)}


def assert_bad_input(out: subprocess.CompletedProcess, fragments: list[str]) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    error = one_json(out)
    assert list(error) == ["error"], error
    for fragment in fragments:
        assert fragment in error["error"], (fragment, error["error"])
    assert "error:" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("case", list(BAD_RUN_INPUT))
def test_run_bad_input_exits_2_naming_field_and_value_and_writes_nothing(calibrated, tmp_path, case):
    names = bad_input_files(tmp_path, calibrated)
    args, fragments = BAD_RUN_INPUT[case]
    options = {"--device": "sim-1q", "--seed": str(SEED), "--graph": str(calibrated["graph"]),
               "--store": sqlite_url(tmp_path)}
    options.update({flag: value.format(**names) for flag, value in zip(args[::2], args[1::2])})
    before = files(tmp_path)
    out = calibrate("run", *[x for kv in options.items() for x in kv], "--recalibrate-all", "--json", cwd=tmp_path)
    assert_bad_input(out, [f.format(**names) for f in fragments])
    assert files(tmp_path) == before  # no run row, no value, no dataset, no new file


# --- calibrate nightly ----------------------------------------------------------------------------

def nightly_args(graph: Path, url: str, seeds: str, *extra: str) -> list[str]:
    return ["nightly", "--device", "sim-1q", "--seeds", seeds, "--graph", str(graph), "--store", url,
            "--workers", str(len(seeds.split(","))), *extra]


@pytest.mark.slow
def test_nightly_exits_0_when_every_device_is_calibrated(calibrated, store_copy, tmp_path):
    # values within their timeouts: maintain only confirms them, on a Dask worker
    summary, _ = calibrate_json(*nightly_args(calibrated["graph"], store_copy, str(SEED)), cwd=tmp_path)
    assert "error" not in summary and "errors" not in summary
    assert [(n["seed"], n["run_id"], n["failed"]) for n in summary["nights"]] == [(SEED, 2, {})]
    assert [r["status"] for r in store_state(store_copy)["runs"]] == ["ok", "ok"]


@pytest.mark.slow
def test_nightly_exits_1_when_one_device_of_two_has_failed_nodes(calibrated, tmp_path):
    # seed 5 is too far off nominal for fine_amplitude to fit (support/graphs.py); seed 2 calibrates
    url = sqlite_url(tmp_path)
    summary, _ = calibrate_json(*nightly_args(calibrated["graph"], url, f"{SEED},5"), cwd=tmp_path, expect=1)
    assert "error" not in summary
    failed = {n["seed"]: n["failed"] for n in summary["nights"]}
    assert failed[SEED] == {} and list(failed[5]["0"]) == ["fine_amplitude"]
    with Store.open(url, read_only=True) as store:
        assert {r["device_seed"]: r["status"] for r in store.runs()} == {SEED: "ok", 5: "failed_nodes"}


# Run a command as an interactive shell would for Ctrl-C: SIGINT at its default and unblocked. A
# test process may carry SIGINT ignored or blocked (both survive exec, and a library loaded earlier
# in the same pytest worker may have left either), which would make the child deaf to the signal.
# (Popen's preexec_fn would do the same but forks a process that has threads.)
INTERRUPTIBLE = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                 "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT]); os.execv(sys.argv[1], sys.argv[1:])"]


def signal_disposition(pid: int) -> dict[str, bool]:
    """Whether process `pid` ignores, blocks or catches SIGINT (from /proc), for the failure message."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    bit = 1 << (signal.SIGINT - 1)
    return {name: bool(int(status[key], 16) & bit) for name, key in
            (("ignored", "SigIgn"), ("blocked", "SigBlk"), ("caught", "SigCgt"))}


@pytest.mark.slow
def test_nightly_ctrl_c_exits_130_and_records_the_nights_its_workers_were_running(tmp_path):
    """Ctrl-C reaches the nightly's own process, not its Dask workers: once the cluster is closed,
    every night it left "running" is finished as "error" with the reason, and the command exits 130."""
    graph = tmp_path / "small.toml"
    graph.write_text(AMPLITUDE_GRAPH)
    url = sqlite_url(tmp_path)
    Store.open(url).close()
    command = [*CALIBRATE, *nightly_args(graph, url, f"{SEED},3"), "--simulate-days", "20", "--json"]
    process = subprocess.Popen([*INTERRUPTIBLE, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 300
        # a night of this small graph is "running" for about a second: poll well inside that
        while not any(r["status"] == "running" for r in all_runs(url)):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        disposition = signal_disposition(process.pid)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, (process.returncode, disposition, stdout[-2000:], stderr[-3000:])
    error = json.loads(stdout)
    runs = all_runs(url)
    assert all(r["status"] in ("ok", "error") for r in runs), runs  # none left "running"
    errors = [r for r in runs if r["status"] == "error"]
    assert errors and all(r["summary"]["error"] for r in errors), runs  # each with its reason
    # a worker may finish its own night (as interrupted, or crashed as its cluster closes under
    # it); the nights this process found still running it recorded itself, and names them
    recorded = [r["id"] for r in errors if r["summary"] == {"error": INTERRUPTED}]
    assert error["recorded"] is bool(recorded), (error, runs)
    if recorded:
        assert f"recorded as error: run(s) {', '.join(map(str, recorded))}" in error["error"], (error, runs)


@pytest.mark.slow
def test_nightly_exits_3_when_one_device_crashes_and_still_reports_the_others(tmp_path):
    # seed 4's store writes fail from its first node on; seed 2 runs a graph whose rabi fails (exit 1
    # on its own): the worst, 3, wins, and seed 2's night is reported in full.
    graph = tmp_path / "failing.toml"
    graph.write_text(FAILING_GRAPH)
    url = sqlite_url(tmp_path)
    Store.open(url).close()  # the schema, for the trigger
    refuse(url, "node_outcomes", device="sim-1q/seed-4")
    out = calibrate(*nightly_args(graph, url, f"{SEED},4"), "--json", cwd=tmp_path)
    assert out.returncode == 3, (out.returncode, out.stdout[-2000:], out.stderr[-3000:])
    summary = one_json(out)
    assert [(n["seed"], list(n["failed"]["0"])) for n in summary["nights"]] == [(SEED, ["rabi", "fine_amplitude"])]
    [crash] = summary["errors"]
    assert {k: crash[k] for k in ("device", "seed", "night", "recorded")} == \
        {"device": "sim-1q", "seed": 4, "night": 0, "recorded": True}
    assert crash["error"].startswith("the store failed at qubit 0 node rabi (calibrate): ")
    assert REFUSAL in crash["error"]
    assert summary["error"] == f"sim-1q seed 4 night 0: {crash['error']}"
    assert summary["error"] in out.stderr
    with Store.open(url, read_only=True) as store:
        runs = {r["device_seed"]: r for r in store.runs()}
        assert store.history("sim-1q/seed-4") == [] and store.outcomes(device="sim-1q/seed-4") == []
    assert runs[4]["id"] == crash["run_id"] and runs[4]["status"] == "error"
    assert runs[4]["summary"] == {"error": crash["error"]}
    assert runs[SEED]["id"] == summary["nights"][0]["run_id"] and runs[SEED]["status"] == "failed_nodes"


def test_a_crashed_night_keeps_the_nights_before_it_and_hides_no_other_device(tmp_path):
    # in process, on the Serial executor (the reference Dask must equal): seed 4's second night
    # (run 2) cannot write; its first night and both of seed 2's nights are reported
    graph = tmp_path / "failing.toml"
    graph.write_text(FAILING_GRAPH)
    url = sqlite_url(tmp_path)
    Store.open(url).close()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as raw:
        raw.execute(f"CREATE TRIGGER refuse_run_2 BEFORE INSERT ON node_outcomes WHEN NEW.run_id = 2 "
                    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")
    job = NightlyJob(devices=(NightlyDevice("sim-1q", 4), NightlyDevice("sim-1q", SEED)), store_url=url,
                     graph=str(graph), days=2, data_dir=str(tmp_path / "data"))
    with pytest.raises(NightlyCrashed) as info:
        run_nightly(job, Serial())
    reports, [crash] = info.value.reports, info.value.crashes
    assert [[(r["seed"], r["run_id"]) for r in per_device] for per_device in reports] == \
        [[(4, 1)], [(SEED, 3), (SEED, 4)]]
    assert (crash.device, crash.seed, crash.night, crash.run_id, crash.recorded) == ("sim-1q", 4, 1, 2, True)
    assert crash.error.startswith("the store failed at qubit 0 node rabi (calibrate): ") and REFUSAL in crash.error
    with Store.open(url, read_only=True) as store:
        assert [(r["id"], r["status"]) for r in store.runs()] == [
            (1, "failed_nodes"), (2, "error"), (3, "failed_nodes"), (4, "failed_nodes")]


BAD_NIGHTLY_INPUT = {
    "unknown device": (["--device", "sim-9q"], ["Unknown device 'sim-9q'", "sim-1q"]),
    "seeds not numbers": (["--seeds", "0;1"], ["--seeds is '0;1', but must be comma-separated integers >= 0"]),
    "negative seed": (["--seeds", "2,-1"], ["--seeds is '2,-1', but must be comma-separated integers >= 0"]),
    "no workers": (["--workers", "0"], ["Invalid value for '--workers'", "greater than or equal to 1"]),
    "graph with an unknown key": (["--graph", "{bad_graph}"], ["{bad_graph}", "unknown key(s) ['timout_h']"]),
    "store not a database": (["--store", "sqlite:///{not_db}"], ["Store sqlite:///{not_db} cannot be opened",
                                                                  "file is not a database"]),
    "scheduler not answering": (["--scheduler", "tcp://127.0.0.1:1"],
                                ["--scheduler is 'tcp://127.0.0.1:1', but no Dask scheduler answers there"]),
}


@pytest.mark.parametrize("case", list(BAD_NIGHTLY_INPUT))
def test_nightly_bad_input_exits_2_naming_field_and_value_and_writes_nothing(calibrated, tmp_path, case):
    names = bad_input_files(tmp_path, calibrated)
    args, fragments = BAD_NIGHTLY_INPUT[case]
    options = {"--device": "sim-1q", "--seeds": str(SEED), "--graph": str(calibrated["graph"]),
               "--store": sqlite_url(tmp_path), "--report-dir": str(tmp_path / "reports")}
    options.update({flag: value.format(**names) for flag, value in zip(args[::2], args[1::2])})
    before = files(tmp_path)
    out = calibrate("nightly", *[x for kv in options.items() for x in kv], "--recalibrate-all", "--json",
                    cwd=tmp_path)
    assert_bad_input(out, [f.format(**names) for f in fragments])
    assert files(tmp_path) == before and not (tmp_path / "reports").exists()


def test_a_scheduler_answering_passes_and_a_refused_address_fails_at_once():
    from dask.distributed import LocalCluster

    from calibrate.cli.nightly import check_scheduler

    with LocalCluster(n_workers=0, processes=False, scheduler_port=0, dashboard_address=None) as cluster:
        check_scheduler(cluster.scheduler_address)
    with socket.socket() as bound:  # bound but not listening: the system refuses connections to it
        bound.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{bound.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ValueError, match=f"--scheduler is '{address}', but no Dask scheduler answers there"):
            check_scheduler(address)
        assert time.monotonic() - start < 5.0  # not after Dask's 10 s of retries


# --- learn-model, optimize-pulse, train-controller --------------------------------------------------
# Once a command has accepted its input, a crash of its worker exits 3 (not a traceback's 1, which
# reads as "failed nodes"), and Ctrl-C exits 130; nothing is stored or written. The workers are
# broken in the command's own process (faulty_cli.py), so nothing is learned, optimized or trained.

def worker_commands(calibrated: dict, store: str, folder: Path) -> dict[str, tuple[str, list[str]]]:
    """Command -> (its worker, as faulty_cli breaks it; a valid command line)."""
    device = ["--device", "sim-1q", "--seed", str(SEED)]
    return {
        "learn-model": ("calibrate.ml.model_learning:learn_model",
                        ["learn-model", *device, "--datasets", "1", "--store", store, "--json"]),
        "optimize-pulse": ("calibrate.ml.robust_control:optimize_pulse",
                           ["optimize-pulse", *device, "--qubit", "0", "--steps", "5", "--store", store,
                            "--out", str(folder / "pulse.json"), "--json"]),
        "train-controller": ("calibrate.ml.controller:train_controller",
                             ["train-controller", "--device-family", "sim-1q", "--out", str(folder / "controller"),
                              "--steps", "5", "--json"]),
    }


WORKER_CRASHES = {"learn-model": "crashed while learning", "optimize-pulse": "crashed while optimizing",
                  "train-controller": "crashed while training"}


# Ctrl-C once: the three commands share its path (crash boundaries catch Exception only, and
# _guarded maps KeyboardInterrupt to 130); each subprocess costs seconds of imports
CASES = [(command, "--raise-in") for command in WORKER_CRASHES] + [("learn-model", "--interrupt-in")]


@pytest.mark.parametrize(("command", "fault"), CASES)
def test_worker_crash_exits_3_and_ctrl_c_exits_130_writing_nothing(calibrated, store_copy, tmp_path, command, fault):
    folder = tmp_path / "work"
    folder.mkdir()
    worker, args = worker_commands(calibrated, store_copy, folder)[command]
    before = store_state(store_copy)
    out = faulty(fault, worker, *args, cwd=folder)
    function = worker.split(":")[1]
    if fault == "--raise-in":
        expected = (3, f"{WORKER_CRASHES[command]}: RuntimeError: injected fault in {function}")
    else:
        expected = (130, "interrupted (KeyboardInterrupt)")
    assert out.returncode == expected[0], (out.returncode, out.stdout[-2000:], out.stderr[-3000:])
    assert one_json(out) == {"error": expected[1], "run_id": None, "recorded": False}
    assert f"error: {expected[1]}" in out.stderr and "Traceback" not in out.stderr
    assert store_state(store_copy) == before  # no run row, no value
    assert list(folder.iterdir()) == []  # no pulse, no controller, no learned device file


def test_a_crash_after_the_run_row_exists_records_it_as_error(tmp_path):
    # learn-model's store phase (recorded_run): the run it created is finished as "error" with
    # the reason, or reported as not recorded when the store no longer answers
    from calibrate.cli.crashes import recorded_run
    from calibrate.run import RunError

    url = sqlite_url(tmp_path)
    with Store.open(url) as store:
        run_id = store.start_run(DEVICE, command="learn-model", qubits=[0], device_seed=SEED)
        with pytest.raises(RunError) as info, recorded_run(store, run_id, "while storing the learned model", 0.0):
            raise OSError("disk full")
        crash = info.value
        interrupted = store.start_run(DEVICE, command="learn-model", qubits=[0], device_seed=SEED)
        with pytest.raises(KeyboardInterrupt) as ctrl_c, recorded_run(store, interrupted, "while storing", 0.0):
            raise KeyboardInterrupt
    reason = "crashed while storing the learned model: OSError: disk full"
    assert (crash.message, crash.run_id, crash.recorded) == (reason, run_id, True)
    stopped = ctrl_c.value.run_error
    assert (stopped.message, stopped.run_id, stopped.recorded) == ("interrupted while storing (KeyboardInterrupt)",
                                                                   interrupted, True)
    runs = store_state(url)["runs"]
    assert [(r["id"], r["status"], r["summary"]) for r in runs] == [
        (run_id, "error", {"error": reason}), (interrupted, "error", {"error": stopped.message})]
    refuse(url, "runs", "UPDATE")  # the store no longer takes the run's finish
    with Store.open(url) as store:
        late = store.start_run(DEVICE, command="learn-model", qubits=[0], device_seed=SEED)
        with pytest.raises(RunError) as info, recorded_run(store, late, "while storing", 0.0):
            raise RuntimeError("boom")
    assert (info.value.run_id, info.value.recorded) == (late, False)
    assert store_state(url)["runs"][-1]["status"] == "running"
