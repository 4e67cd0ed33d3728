"""The dashboard's document without a browser: what it holds after opening a store with a lab's
history, what a refresh sends when the store grows, and the pieces it is built from (training
files, server safety, the id bookkeeping of streaming)."""

from __future__ import annotations

import json
import shutil
import time

from datetime import datetime, timezone

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.document.events import ColumnDataChangedEvent, ColumnsPatchedEvent, ColumnsStreamedEvent
from sqlalchemy import insert
from synthetic_history import History, write_history

from calibrate.store import Store, StoreError
from calibrate.store.schema import runs
from dashboards.app import DashboardOptions, DashboardSession
from dashboards.data import NewRows, StoreReader
from dashboards.history import ESTIMATED, TRUTH, parameter_source_name
from dashboards.origins import ServerOptionError, ServerOptions, websocket_origins
from dashboards.training import TrainingFileError, read_training


def open_session(url: str, **options) -> tuple[StoreReader, DashboardSession, Document]:
    reader = StoreReader.open(url)
    session = DashboardSession(reader, DashboardOptions(**options))
    doc = Document()
    session.attach(doc)
    return reader, session, doc


def points(session: DashboardSession, name: str, label: str, column: str = "value") -> list[float]:
    data = session.history.panels[name].points.data
    return [float(v) for s, v in zip(data["series"], data[column]) if s == label]


def test_a_lab_history_opens_quickly_and_whole(history_store):
    url, history = history_store
    started = time.perf_counter()
    reader, session, doc = open_session(url)
    doc.to_json()
    seconds = time.perf_counter() - started
    print(f"20 qubits x 90 nights: store read + document built + serialized in {seconds:.2f} s")
    # The target is < 2 s (bench/dashboard_open.py measures it, ~1 s here); the bound is loose
    # because this machine's two cores are shared with the rest of the suite.
    assert seconds < 10
    try:
        assert len(session.history.keys) == history.qubits
        assert len(session.history.panels[parameter_source_name("t1")].points.data["time"]) == history.qubits * history.nights
        with Store.open(url, read_only=True) as store:
            stored = [v.value for v in store.history("sim-5q/seed-2", "t1", qubit=3)]
        assert points(session, parameter_source_name("t1"), "sim-5q/seed-2 q3") == stored
        assert len(points(session, TRUTH, "sim-5q/seed-2 q3", "gate_error")) == history.nights
        # the newest run's device is chosen at first; the others are one click away
        assert session.qubits.value == [f"sim-5q/seed-3 q{q}" for q in range(5)]
        assert len(session.nodes.data["id"]) == history.qubits * 9
    finally:
        reader.close()


def test_a_refresh_streams_only_the_new_records(history_store, tmp_path):
    source_url, _ = history_store
    shutil.copy2(source_url.removeprefix("sqlite:///"), tmp_path / "store.sqlite")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    reader, session, doc = open_session(url)
    events = []
    doc.on_change(lambda event: events.append(event))
    session.refresh()
    assert [e for e in events if isinstance(e, (ColumnsStreamedEvent, ColumnDataChangedEvent))] == []

    with Store.open(url) as store:
        run = store.start_run("sim-5q/seed-1", command="run", qubits=[2])
        store.record_node(run, device="sim-5q/seed-1", qubit=2, node="t1", action="calibrate", outcome="calibrated",
                          reason="out of spec", experiment="t1", device_time_s=1.0, shots=100,
                          values={"t1": (71_234.0, 900.0, "ns")})
        store.set_value("sim-5q/seed-1", 2, "gate_error", 4.5e-4, 2e-5, "", run_id=run)
        store.finish_run(run, status="ok", shots=100, seconds=1.0, summary={
            "2": {"status": "calibrated", "truth": {"gate_error": 5e-4, "leakage": 1e-5, "coherence_limit": 2e-4}}})
    session.refresh()
    streamed = {e.model.name: e.data for e in events if isinstance(e, ColumnsStreamedEvent)}
    assert [float(v) for v in streamed[parameter_source_name("t1")]["value"]] == [71_234.0]
    assert [float(v) for v in streamed[ESTIMATED]["value"]] == [4.5e-4]
    assert [float(v) for v in streamed[TRUTH]["gate_error"]] == [5e-4]
    assert not any(isinstance(e, ColumnDataChangedEvent) for e in events), "a refresh must not re-send whole sources"
    # the node's new outcome is one streamed row, which the table shows instead of the old one
    assert [(o, r) for o, r in zip(streamed["nodes"]["outcome"], streamed["nodes"]["reason"])] == [
        ("calibrated", "out of spec")]
    row = session._node_index[("sim-5q/seed-1", 2, "t1")]
    shown = session.table.view.filter.indices
    assert row in shown and len(shown) == 20 * 9
    assert (session.nodes.data["outcome"][row], session.nodes.data["reason"][row]) == ("calibrated", "out of spec")
    # the t1 line of that qubit got the point (only that line is re-sent)
    assert {e.model.name for e in events if isinstance(e, ColumnsPatchedEvent)} >= {"parameter|t1|lines|value"}
    assert "running" not in session.jobs.text and "none" in session.jobs.text
    events.clear()
    session.refresh()
    assert not any(isinstance(e, (ColumnsStreamedEvent, ColumnsPatchedEvent)) for e in events), "nothing twice"
    reader.close()


def test_the_same_queries_on_postgresql(postgres_url):
    history = History(devices=2, qubits_per_device=2, nights=3)
    write_history(postgres_url, history)
    reader, session, doc = open_session(postgres_url)
    try:
        doc.to_json()
        assert len(session.history.keys) == 4
        assert points(session, parameter_source_name("x_amp"), "sim-5q/seed-1 q1") == pytest.approx(
            [0.6 + 0.01 * np.sin(0.3 * night + 1) for night in range(3)])
        assert len(session.nodes.data["id"]) == 4 * 9
        with pytest.raises(StoreError, match="read-only"):  # the reader's own connections cannot write either
            reader._read("a write", insert(runs).values(device="x", command="x", qubits=[], status="ok",
                                                        started=datetime.now(timezone.utc)))
    finally:
        reader.close()


def test_new_rows_arrive_once_even_when_commits_come_out_of_id_order():
    cursor = NewRows([1, 2, 3, 5])  # 4 is still being written by another transaction
    assert cursor.floor == 0
    late = cursor.take({"id": [1, 2, 3, 4, 5, 6], "value": list("abcdef")})
    assert late == {"id": [4, 6], "value": ["d", "f"]}
    assert cursor.take({"id": [4, 5, 6], "value": list("def")}) == {"id": [], "value": []}
    assert cursor.newest == 6


def write_training(folder, **fields):
    data = {"family": "drag-mlp", "steps": [0, 10, 20], "loss": [1.0, 0.5, 0.25],
            "validation_error": [1.2, 0.6, float("nan")]}
    data.update(fields)
    (folder / "training.json").write_text(json.dumps(data))


def test_training_curves_follow_the_contract_of_train_controller(tmp_path):
    assert read_training(tmp_path) is None  # training not started yet
    write_training(tmp_path)
    curves = read_training(tmp_path)
    assert curves.family == "drag-mlp" and curves.steps == [0, 10, 20] and curves.loss == [1.0, 0.5, 0.25]
    assert np.isnan(curves.validation_error[2])  # a diverged value is a gap, not an error
    for fields, message in [({"loss": [1.0, 0.5]}, "one entry per step"),
                            ({"steps": [0, 1.5, 2]}, "`steps[1]` must be one of the integers, but is 1.5"),
                            ({"family": 3}, "field `family` must be a string, but is 3"),
                            ({"validation_error": "low"}, "field `validation_error` must be a list of numbers")]:
        write_training(tmp_path, **fields)
        with pytest.raises(TrainingFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
            read_training(tmp_path)
    (tmp_path / "training.json").write_text("{")
    with pytest.raises(TrainingFileError, match="is not JSON"):
        read_training(tmp_path)


def test_the_server_binds_to_loopback_unless_told_which_origins_may_connect():
    assert websocket_origins(ServerOptions()) == ["localhost:5006", "127.0.0.1:5006"]
    assert websocket_origins(ServerOptions(host="0.0.0.0", port=8000, allow_origins=("lab.example.org:8000",))) == [
        "lab.example.org:8000"]
    with pytest.raises(ServerOptionError, match=r"--host 0\.0\.0\.0 is not a loopback address.*--allow-origin"):
        websocket_origins(ServerOptions(host="0.0.0.0"))
    with pytest.raises(ServerOptionError, match=r"--host labhost is not a loopback"):
        websocket_origins(ServerOptions(host="labhost"))
    with pytest.raises(ServerOptionError, match=r"--allow-origin is 'http://lab:80'"):
        websocket_origins(ServerOptions(allow_origins=("http://lab:80",)))
