"""`kill -9` of a real `calibrate run` at random moments: every node update is whole.

Each round starts `calibrate run --recalibrate-all` on sim-1q (seed 2: its frequency is close
enough to the design for a graph without spectroscopy) with a two-node graph and
kills it with SIGKILL after a random delay (seeded) within the length of a whole run, timed
on a first run that is not killed. Then the store must hold only whole
node updates (a `calibrated` outcome and exactly its value rows, in one run), the
current values must be those of the newest whole update, and the next command must carry
on. The store-level version, with many more updates per second, is in test_store.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from calibrate.store import Store, StoreError
from support.cli import calibrate_json
from support.graphs import AMPLITUDE_GRAPH as SMALL_GRAPH

DEVICE = "sim-1q/seed-2"
ROUNDS = 10


def assert_whole_updates(url: str) -> None:
    with Store.open(url, read_only=True) as store:
        outcomes = store.outcomes(device=DEVICE)
        history = store.history(DEVICE)
        current = store.current(DEVICE)
    written = [o for o in outcomes if o.outcome == "calibrated"]
    rows_by_run = {}
    for v in history:
        rows_by_run.setdefault((v.run_id, v.experiment), []).append(v)
    for o in written:
        rows = rows_by_run.pop((o.run_id, o.node), [])  # here each node's experiment has its name
        assert {(v.name, v.value, v.stderr) for v in rows} == \
            {(name, d["value"], d["stderr"]) for name, d in o.values.items()}, (o, rows)
    assert not rows_by_run, f"value rows without their node outcome: {rows_by_run}"
    if written:
        newest = {name: d["value"] for o in written for name, d in o.values.items()}
        assert {name: v.value for (_, name), v in current.items()} == newest


def count_runs(url: str) -> int:
    with Store.open(url, read_only=True) as store:
        return len(store.runs(DEVICE))


def wait_for_new_run(url: str, *, runs_before: int, process: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if Path(url.removeprefix("sqlite:///")).exists() and count_runs(url) > runs_before:
                return
        except StoreError:  # the first run is still creating the schema
            pass
        time.sleep(0.2)


def count_values(url: str) -> int:
    with Store.open(url, read_only=True) as store:
        return len(store.history(DEVICE))


@pytest.mark.slow
def test_kill_9_of_calibrate_run_leaves_whole_updates(tmp_path):
    graph = tmp_path / "graph.toml"
    graph.write_text(SMALL_GRAPH)
    db = tmp_path / "store.sqlite"
    url = f"sqlite:///{db}"
    args = [sys.executable, "-m", "calibrate", "run", "--device", "sim-1q", "--seed", "2", "--graph", str(graph),
            "--store", url, "--recalibrate-all", "--json"]
    rng = np.random.default_rng(11)
    # One whole run first: how long a run lasts once registered on this machine now, so that the
    # kills below land within a run rather than after it has ended.
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
                               start_new_session=True)
    wait_for_new_run(url, runs_before=0, process=process)
    registered = time.monotonic()
    assert process.wait(timeout=600) == 0
    run_length = time.monotonic() - registered
    killed_after_writes = 0
    for _ in range(ROUNDS):
        before = count_values(url)
        runs_before = count_runs(url)
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
                                   start_new_session=True)
        # Kill at a random moment of the run itself, whatever the start-up (JAX import) takes
        # on a loaded machine: wait for the run to be registered, then a random delay.
        wait_for_new_run(url, runs_before=runs_before, process=process)
        time.sleep(rng.uniform(0.0, run_length))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert_whole_updates(url)
        with sqlite3.connect(db) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        killed_after_writes += count_values(url) > before
    assert killed_after_writes >= 2, "no kill landed after a write: lengthen the delays"
    report, _ = calibrate_json(*args[3:-1], cwd=tmp_path)  # the next run carries on
    assert report["qubits"]["0"]["status"] == "calibrated"
    assert_whole_updates(url)
    with Store.open(url, read_only=True) as store:
        runs = store.runs(DEVICE)
    assert runs[-1]["status"] == "ok"
    assert sum(r["status"] == "running" for r in runs) >= 1  # killed runs stay visibly unfinished
