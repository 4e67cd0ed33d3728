"""The parameter store, on SQLite and on PostgreSQL: history semantics, reverts, crash safety
(kill -9 at random moments), concurrent writers, read-only stores, bad URLs, schema revisions."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from calibrate.store import DEFAULT_STORE_URL, NodeOutcome, ParameterValue, Store, StoreError
from calibrate.store import migrate
from calibrate.store.schema import metadata, node_outcomes, parameter_values

WRITER = Path(__file__).with_name("store_writer.py")
sys.path.insert(0, str(WRITER.parent))
import store_writer  # noqa: E402  (the script's value scheme, shared with the checks below)

DEVICE = "sim-test"


def node(store: Store, run_id: int, qubit: int, values: dict, *, node_name="rabi", outcome="good",
         write_values=True) -> NodeOutcome:
    return store.record_node(run_id, device=DEVICE, qubit=qubit, node=node_name, action="calibrate", outcome=outcome,
                             reason="" if outcome == "good" else "chi2 too large", experiment=node_name,
                             device_time_s=3.5, shots=1000, dataset_path="data/rabi.nc", values=values,
                             write_values=write_values)


def as_triples(current: dict) -> dict:
    return {key: (v.value, v.stderr, v.unit) for key, v in current.items()}


def count_rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return {t.name: c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as c:
            c.exec_driver_sql(sql)
    finally:
        engine.dispose()


# --- history semantics --------------------------------------------------------------------------


def test_record_current_history(store_url):
    with Store.open(store_url) as store:
        assert store.dialect == store_url.split(":")[0].split("+")[0]
        run = store.start_run(DEVICE, command="calibrate run", qubits=[0, 1], device_seed=7)
        first = node(store, run, 0, {"pi_amp": (0.1 + 0.2, 1e-300, ""), "freq": (5.012345678901234, 2e-6, "GHz")})
        node(store, run, 1, {"pi_amp": (0.5, 0.01, "")})
        counts = count_rows(store_url)
        second = node(store, run, 0, {"pi_amp": (0.31, 0.002, "")})

        current = store.current(DEVICE)
        assert as_triples(current) == {(0, "freq"): (5.012345678901234, 2e-6, "GHz"), (0, "pi_amp"): (0.31, 0.002, ""),
                                       (1, "pi_amp"): (0.5, 0.01, "")}
        assert list(current) == sorted(current)
        assert set(store.current(DEVICE, qubit=1)) == {(1, "pi_amp")}
        assert store.current("other-device") == {}
        pv = current[(0, "pi_amp")]
        assert isinstance(pv, ParameterValue) and pv.valid and pv.run_id == run and pv.experiment == "rabi"
        assert pv.time.tzinfo == timezone.utc and pv.device_time_s == 3.5

        history = store.history(DEVICE, "pi_amp", qubit=0)
        assert [h.value for h in history] == [0.1 + 0.2, 0.31]  # exact float round trip, oldest first
        assert history[0].stderr == 1e-300
        assert len(store.history(DEVICE)) == 4

        assert first.values == {"pi_amp": {"value": 0.1 + 0.2, "stderr": 1e-300, "unit": ""},
                                "freq": {"value": 5.012345678901234, "stderr": 2e-6, "unit": "GHz"}}
        stored = store.outcomes(run_id=run, qubit=0)
        assert stored == [first, second]  # what record_node returned is what reading gives back
        assert store.outcomes(device=DEVICE, node="rabi", qubit=1)[0].values["pi_amp"]["value"] == 0.5
        assert store.last_outcome(DEVICE, 0, "rabi") == second
        assert store.last_outcome(DEVICE, 0, "rabi", outcomes=("bad",)) is None
        assert store.last_outcome(DEVICE, 0, "ramsey") is None
        assert first.dataset_path == "data/rabi.nc" and first.time.tzinfo == timezone.utc

        after = count_rows(store_url)
        assert after["parameter_values"] == counts["parameter_values"] + 1
        assert after["node_outcomes"] == counts["node_outcomes"] + 1


def test_bad_fit_keeps_numbers_in_the_outcome_only(store_url):
    with Store.open(store_url) as store:
        run = store.start_run(DEVICE, command="calibrate run", qubits=[0])
        node(store, run, 0, {"pi_amp": (0.4, 0.01, "")})
        before, rows = store.current(DEVICE), count_rows(store_url)
        bad = node(store, run, 0, {"pi_amp": (9.9, 5.0, "")}, outcome="bad", write_values=False)
        assert bad.values["pi_amp"]["value"] == 9.9
        assert store.current(DEVICE) == before
        assert count_rows(store_url)["parameter_values"] == rows["parameter_values"]
        assert store.last_outcome(DEVICE, 0, "rabi", outcomes=("good",)).values["pi_amp"]["value"] == 0.4
        assert store.last_outcome(DEVICE, 0, "rabi").outcome == "bad"
        # a NaN or infinite number can be recorded (bad fit) but never written as a valid value
        node(store, run, 0, {"pi_amp": (math.nan, math.inf, "")}, outcome="bad", write_values=False)
        with pytest.raises(StoreError, match=r"values\['pi_amp'\] has value nan"):
            node(store, run, 0, {"pi_amp": (math.nan, 0.1, "")})
        assert store.current(DEVICE) == before
        assert count_rows(store_url)["node_outcomes"] == rows["node_outcomes"] + 2


def test_revert_parameter_restores_exactly(store_url):
    with Store.open(store_url) as store:
        a = store.set_value(DEVICE, 0, "freq", 5.1, 1e-5, "GHz", note="by hand")
        store.set_value(DEVICE, 0, "freq", 5.2, 2e-5, "MHz")
        restored = store.revert_parameter(DEVICE, 0, "freq")
        assert (restored.value, restored.stderr, restored.unit) == (a.value, a.stderr, a.unit)
        assert as_triples(store.current(DEVICE)) == {(0, "freq"): (5.1, 1e-5, "GHz")}
        # reverting the revert brings the replaced value back
        again = store.revert_parameter(DEVICE, 0, "freq")
        assert (again.value, again.stderr, again.unit) == (5.2, 2e-5, "MHz")

        store.set_value(DEVICE, 1, "t1", 80e3, 1e3, "ns")
        assert store.revert_parameter(DEVICE, 1, "t1") is None  # no value before: cleared
        assert (1, "t1") not in store.current(DEVICE)
        assert [h.value for h in store.history(DEVICE, "t1")] == [80e3, None]
        assert store.revert_parameter(DEVICE, 1, "t1").value == 80e3
        with pytest.raises(StoreError, match="has no value of 'nope'"):
            store.revert_parameter(DEVICE, 0, "nope")
        assert len(store.history(DEVICE)) == 7  # nothing was overwritten


def test_revert_run_restores_the_values_before_the_run(store_url):
    with Store.open(store_url) as store:
        store.set_value(DEVICE, 0, "pi_amp", 0.4, 0.01, "")
        store.set_value(DEVICE, 0, "untouched", 1.5, 0.1, "ns")
        store.set_value(DEVICE, 1, "freq", 4.9, 1e-4, "GHz")
        before = as_triples(store.current(DEVICE))
        run = store.start_run(DEVICE, command="calibrate run", qubits=[0, 1])
        node(store, run, 0, {"pi_amp": (0.45, 0.02, ""), "drag_beta": (0.3, 0.05, "")})
        node(store, run, 0, {"pi_amp": (0.46, 0.02, "")})
        node(store, run, 1, {"freq": (4.95, 1e-4, "GHz")})
        node(store, run, 1, {"freq": (7.0, 1.0, "GHz")}, outcome="bad", write_values=False)
        store.set_value(DEVICE, 1, "freq", 4.97, 1e-4, "GHz")  # a later manual change is reverted too
        rows = count_rows(store_url)["parameter_values"]

        fixer = store.start_run(DEVICE, command="calibrate revert", qubits=[0, 1])
        keys = store.revert_run(run, by_run=fixer)
        assert sorted(keys) == [(0, "drag_beta"), (0, "pi_amp"), (1, "freq")]
        assert as_triples(store.current(DEVICE)) == before
        assert (0, "drag_beta") not in store.current(DEVICE)  # had no value before the run
        assert count_rows(store_url)["parameter_values"] == rows + 3
        assert {h.run_id for h in store.history(DEVICE)[-3:]} == {fixer}

        assert store.revert_run(run) == []  # already as before: nothing to append
        assert store.revert_run(fixer) == sorted(keys)  # undoing the revert
        assert store.current(DEVICE)[(0, "pi_amp")].value == 0.46
        with pytest.raises(StoreError, match="there is no run 999"):
            store.revert_run(999)


def test_runs_and_device_state(store_url):
    with Store.open(store_url) as store:
        killed = store.start_run(DEVICE, command="calibrate run", qubits=[0])
        run = store.start_run(DEVICE, command="calibrate run --qubits 0,1", qubits=[0, 1], device_seed=3)
        other = store.start_run("sim-other", command="calibrate run", qubits=[2])
        store.finish_run(run, status="failed_nodes", shots=12000, seconds=4.5, summary={"0": {"status": "ok"}})
        runs = store.runs()
        assert [r["id"] for r in runs] == [killed, run, other]
        assert runs[0]["status"] == "running" and runs[0]["finished"] is None
        assert runs[1]["status"] == "failed_nodes" and runs[1]["summary"] == {"0": {"status": "ok"}}
        assert runs[1]["qubits"] == [0, 1] and runs[1]["device_seed"] == 3 and runs[1]["shots"] == 12000
        assert runs[1]["finished"] >= runs[1]["started"] and runs[1]["started"].tzinfo == timezone.utc
        assert [r["id"] for r in store.runs("sim-other")] == [other]
        with pytest.raises(StoreError, match="already finished with status 'failed_nodes'"):
            store.finish_run(run, status="ok", shots=0, seconds=0)
        with pytest.raises(StoreError, match="there is no run 999"):
            store.finish_run(999, status="ok", shots=0, seconds=0)
        with pytest.raises(StoreError):
            node(store, 999, 0, {"x": (1.0, 0.1, "")})  # outcomes belong to a run

        assert store.load_device_state("sim-5q/seed=3") is None
        store.save_device_state("sim-5q/seed=3", {"clock_s": 10.0, "drift": [0.1, -0.2]}, run_id=run)
        store.save_device_state("sim-5q/seed=3", {"clock_s": 20.0, "drift": [0.15, -0.2]})
        assert store.load_device_state("sim-5q/seed=3") == {"clock_s": 20.0, "drift": [0.15, -0.2]}
        assert count_rows(store_url)["device_states"] == 2

        # NumPy numbers, as fits and simulations return them, are stored as plain numbers
        store.save_device_state("np", {"clock_s": np.float64(1.5), "drift": np.array([0.1, 0.2])})
        assert store.load_device_state("np") == {"clock_s": 1.5, "drift": [0.1, 0.2]}
        out = node(store, np.int64(run), np.int64(1), {"freq": (np.float64(5.1), np.float32(0.5), "GHz")})
        assert store.outcomes(node="rabi") == [out] and store.current(DEVICE)[(1, "freq")].value == 5.1
        with pytest.raises(StoreError, match="Argument `qubit` must be a qubit index .* but is -1"):
            node(store, run, -1, {})


# --- crash safety and concurrency ----------------------------------------------------------------


def start_writer(url: str, tag: int, updates: int, *, wait_go: bool = False) -> subprocess.Popen:
    args = [sys.executable, str(WRITER), url, "--tag", str(tag), "--updates", str(updates)]
    return subprocess.Popen(args + (["--wait-go"] if wait_go else []), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_ready(writer: subprocess.Popen) -> None:
    line = writer.stdout.readline()
    if not line.startswith("ready"):
        writer.kill()
        raise AssertionError(f"writer did not start: {line!r} {writer.communicate()[1]}")


def check_complete_updates(url: str, store: Store) -> list[NodeOutcome]:
    """Every node update is whole: its value rows are exactly the values its outcome recorded."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(sa.select(parameter_values).order_by(parameter_values.c.id)).all()
            assert c.execute(sa.select(sa.func.count()).select_from(node_outcomes)).scalar_one() == len(store.outcomes())
    finally:
        engine.dispose()
    outcomes = store.outcomes(device=store_writer.DEVICE)
    by_outcome: dict[int, dict] = {}
    for r in rows:
        assert r.outcome_id is not None
        by_outcome.setdefault(r.outcome_id, {})[r.name] = {"value": r.value, "stderr": r.stderr, "unit": r.unit}
    assert by_outcome == {o.id: o.values for o in outcomes if o.values}
    # current() holds, for each key, the numbers of the newest committed update that wrote it
    expected = {}
    for o in outcomes:
        for name, v in o.values.items():
            expected[(o.qubit, name)] = (v["value"], v["stderr"], v["unit"])
    assert as_triples(store.current(store_writer.DEVICE)) == expected
    return outcomes


def test_kill_9_at_random_moments_leaves_whole_updates(store_url, rng):
    kills, previous_ids = 12, set()
    for tag in range(1, kills + 1):
        writer = start_writer(store_url, tag, updates=100_000)
        wait_ready(writer)
        time.sleep(rng.uniform(0.0, 0.25))
        assert writer.poll() is None, writer.communicate()[1]
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate()
        assert writer.returncode == -signal.SIGKILL

        with Store.open(store_url) as store:
            outcomes = check_complete_updates(store_url, store)
            ids = {v.id for v in store.history(store_writer.DEVICE)}
            assert previous_ids <= ids  # append-only: nothing earlier went missing
            previous_ids = ids
            assert all(r["status"] == "running" for r in store.runs())
    assert len(outcomes) > kills  # the writers were killed while writing, not before
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        db.close()

    # the next writer carries on where the killed ones stopped
    writer = start_writer(store_url, kills + 1, updates=5)
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    with Store.open(store_url) as store:
        outcomes = check_complete_updates(store_url, store)
        assert [o.reason for o in outcomes[-5:]] == [f"writer {kills + 1} update {i}" for i in range(5)]
        assert store.runs()[-1]["status"] == "ok"


def test_two_writers_at_once_lose_nothing(store_url):
    updates, n_values = 200, 6
    writers = [start_writer(store_url, tag, updates, wait_go=True) for tag in (1, 2)]  # both create the schema
    for w in writers:
        wait_ready(w)
    for w in writers:
        w.stdin.write("go\n")
        w.stdin.flush()
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    with Store.open(store_url) as store:
        outcomes = check_complete_updates(store_url, store)
        assert len(outcomes) == 2 * updates
        if store.dialect == "postgresql":  # rows, not the database, are locked: the writes interleave
            tags = [o.reason.split()[1] for o in outcomes]
            assert sum(a != b for a, b in zip(tags, tags[1:])) > 1
        # (SQLite's lock is not fair: a writer that never pauses may finish before the other gets in;
        # what matters is that the waiting writer waits and loses nothing)
        history = store.history(store_writer.DEVICE)
        assert len(history) == 2 * updates * n_values
        written = {(h.qubit, h.name, h.value, h.stderr) for h in history}
        assert written == {(i % 2, f"p{j}", store_writer.value(tag, i, j), store_writer.stderr(j))
                           for tag in (1, 2) for i in range(updates) for j in range(n_values)}
        assert [r["status"] for r in store.runs()] == ["ok", "ok"]


# --- read-only stores, URLs, schema revisions ---------------------------------------------------


def test_read_only_store_reads_and_never_writes(store_url):
    with Store.open(store_url) as store:
        store.set_value(DEVICE, 0, "freq", 5.0, 1e-4, "GHz")
    rows = count_rows(store_url)
    with Store.open(store_url, read_only=True) as reader:
        assert as_triples(reader.current(DEVICE)) == {(0, "freq"): (5.0, 1e-4, "GHz")}
        with pytest.raises(StoreError, match="read-only"):
            reader.set_value(DEVICE, 0, "freq", 6.0, 1e-4, "GHz")
        with pytest.raises(StoreError, match="read-only"):
            reader.start_run(DEVICE, command="x", qubits=[0])
        reader.read_only = False  # get past the store's own check: the database itself must refuse
        with pytest.raises(StoreError, match="set_value failed.*read-?only"):
            reader.set_value(DEVICE, 0, "freq", 6.0, 1e-4, "GHz")
    assert count_rows(store_url) == rows


def test_missing_sqlite_file_read_only_is_refused(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(f"sqlite:///{tmp_path}/missing/store.sqlite", read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_default_url_is_a_file_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Store.open() as store:
        assert store.url == f"sqlite:///{tmp_path}/calibration-data/store.sqlite"
    assert DEFAULT_STORE_URL.endswith("calibration-data/store.sqlite")
    assert (tmp_path / "calibration-data" / "store.sqlite").is_file()


@pytest.mark.parametrize("url, message", [
    ("mysql://user@localhost/db", "scheme 'mysql'; allowed schemes are postgresql, postgresql\\+psycopg, sqlite"),
    ("postgresql+psycopg2://u:secret@localhost/db", "scheme 'postgresql\\+psycopg2'"),
    ("not a url", "is not a database URL"),
    ("sqlite:///x.sqlite?mode=ro", "without 'file:' or '\\?options'"),
    ("postgresql+psycopg://u@localhost", "names no database"),
])
def test_bad_urls_are_refused_before_touching_anything(url, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=message) as info:
        Store.open(url)
    assert "secret" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_postgres_fails_fast_and_names_the_url():
    start = time.monotonic()
    with pytest.raises(StoreError) as info:
        Store.open("postgresql+psycopg://u:secret@127.0.0.1:1/x")
    assert time.monotonic() - start < 5
    assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in str(info.value)
    assert "secret" not in str(info.value)


def test_fresh_store_is_at_head_and_matches_the_tables(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    Store.open(store_url).close()
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as c:
            assert migrate.current_revision(c) == migrate.head_revision()
            assert compare_metadata(MigrationContext.configure(c), metadata) == []
    finally:
        engine.dispose()


def test_store_from_a_newer_toolkit_is_refused(store_url):
    Store.open(store_url).close()
    execute(store_url, "UPDATE alembic_version SET version_num = '9999_future'")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="'9999_future' is unknown to this toolkit.*upgrade the toolkit"):
            Store.open(store_url, read_only=read_only)


def test_a_database_that_is_not_a_store_is_left_alone(store_url):
    execute(store_url, "CREATE TABLE inventory (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match=r"holds tables \(inventory\).*not a calibration store"):
        Store.open(store_url)
    with pytest.raises(StoreError, match="has no schema yet"):
        Store.open(store_url, read_only=True)
