"""Pairs (two-qubit gates) on the dashboard: their values, stored on the control qubit as
NAME@TARGET, become series of their own labelled "c-t", with the truth from the runs'
`pairs` blocks, and never leak into the qubits' panels; the node table and the log name the
pair and the node; a page opened before any pair wrote shows the pair panels when one does."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from bokeh.document.events import ColumnDataChangedEvent, ColumnsStreamedEvent, ModelChangedEvent
from synthetic_history import NODES, PAIR_NODES, History, pair_truth, pair_value, write_history
from test_dashboard_session import open_session, points

from calibrate.store import Store
from dashboards.app import jobs_html
from dashboards.data import RunInfo, StoreReader, truth_columns
from dashboards.history import ESTIMATED, PAIR_ESTIMATED, PAIR_TRUTH, TRUTH, SeriesKey, parameter_source_name
from dashboards.report import choose_run, report_layout

PAIRS = ((1, 0), (2, 1))
PAIR_HISTORY = History(devices=2, qubits_per_device=3, nights=4, pairs=PAIRS)
DEVICE = PAIR_HISTORY.device(1)


@pytest.fixture(scope="module")
def pair_store(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('pairs') / 'store.sqlite'}"
    write_history(url, PAIR_HISTORY)
    return url


MOMENT = datetime(2025, 1, 1, tzinfo=timezone.utc)


def run_with(summary, status: str = "ok") -> RunInfo:
    return RunInfo(id=7, device="sim-5q", status=status, qubits=[0, 1], command="run", started=MOMENT,
                   finished=MOMENT, shots=1, seconds=1.0, summary=summary)


def series_of(session, panel: str) -> set[str]:
    return set(session.history.panels[panel].points.data["series"])


def test_the_node_table_and_the_log_name_a_pairs_nodes_as_the_pairs(pair_store):
    reader, session, doc = open_session(pair_store)
    try:
        # the store's qubit (the pair's control) stays in the data, for the table's bookkeeping
        nodes = session.nodes.data
        rows = [(s, n) for d, q, s, n in zip(nodes["device"], nodes["qubit"], nodes["subject"], nodes["node"])
                if d == DEVICE and q == 2]
        assert rows == [("q2", n) for n in NODES] + [("pair 2-1", n) for n in PAIR_NODES]
        assert not any("@" in n for n in nodes["node"])
        assert "pair 2-1  ecr_irb check_data → in_spec" in session.log.text
        assert "q2  t2 check_data → in_spec" in session.log.text
    finally:
        reader.close()


def test_running_jobs_name_a_pairs_node_as_the_pairs():
    newest = {"qubit": 1, "node": "ecr_irb@0", "action": "calibrate", "outcome": "calibrated", "time": MOMENT}
    text = jobs_html([run_with(None, status="running")], {7: (3, newest)})
    assert "newest: pair 1-0 ecr_irb calibrate → calibrated" in text


def test_pair_series_hold_the_pairs_values_and_truth_and_the_qubits_none_of_them(pair_store):
    reader, session, doc = open_session(pair_store, default_series=5)
    try:
        doc.to_json()
        nights = range(PAIR_HISTORY.nights)
        qubit_labels = {f"{PAIR_HISTORY.device(d)} q{q}" for d in range(2) for q in range(3)}
        pair_labels = {f"{PAIR_HISTORY.device(d)} pair {c}-{t}" for d in range(2) for c, t in PAIRS}
        assert {k.label for k in session.history.keys} == qubit_labels | pair_labels
        assert SeriesKey(DEVICE, 2, 1) in session.history.keys  # control 2, target 1
        assert set(session.qubits.options) == qubit_labels | pair_labels
        # more series than default_series: the newest run's device, its qubits then its pairs
        assert session.qubits.value == [f"{DEVICE} q{q}" for q in range(3)] + [f"{DEVICE} pair 1-0",
                                                                                 f"{DEVICE} pair 2-1"]

        # the pair's estimate (interleaved RB) with its stderr, its truth and coherence limit, its CR settings
        label = f"{DEVICE} pair 2-1"
        assert points(session, PAIR_ESTIMATED, label) == pytest.approx(
            [pair_value("gate_error", (2, 1), n) for n in nights], rel=1e-12)
        assert points(session, PAIR_ESTIMATED, label, "stderr") == pytest.approx(
            [0.1 * pair_value("gate_error", (2, 1), n) for n in nights], rel=1e-12)
        assert points(session, PAIR_TRUTH, label, "gate_error") == pytest.approx(
            [pair_truth((2, 1), n)["gate_error"] for n in nights], rel=1e-12)
        assert points(session, PAIR_TRUTH, label, "coherence_limit") == [1.6e-2] * len(nights)
        for name in ("zx_rate", "cr_amp"):
            assert points(session, parameter_source_name(name, pair=True), label) == pytest.approx(
                [pair_value(name, (2, 1), n) for n in nights], rel=1e-12), name
        assert session.history.pair_parameters["zx_rate"].yaxis.axis_label == "zx_rate [GHz]"
        assert series_of(session, PAIR_ESTIMATED) == series_of(session, PAIR_TRUTH) == pair_labels

        # the qubits' panels: qubits only, the qubits' own values (a pair's gate_error@T is not q1's)
        for panel in (ESTIMATED, TRUTH, *(parameter_source_name(p) for p in ("frequency", "x_amp", "t1"))):
            assert series_of(session, panel) == qubit_labels, panel
        assert len(session.history.panels[ESTIMATED].points.data["time"]) == 6 * PAIR_HISTORY.nights
        assert max(session.history.panels[ESTIMATED].points.data["value"]) < 1e-3  # the pairs' are ~2e-2
        assert session.history.key.text.count("pair ") == 4 and "Pairs:" in session.history.key.text
        assert doc.get_model_by_name("pair-panels") is not None
    finally:
        reader.close()


def test_a_page_opened_before_any_pair_shows_the_pair_panels_when_one_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    write_history(url, History(devices=1, qubits_per_device=2, nights=2))
    reader, session, doc = open_session(url)
    device = History().device(0)
    try:
        assert doc.get_model_by_name("pair-panels") is None  # a single-qubit lab sees no empty pair panels
        assert "Pairs" not in session.history.key.text
        events = []
        doc.on_change(lambda event: events.append(event))
        with Store.open(url) as store:
            run = store.start_run(device, command="run", qubits=[0, 1])
            store.record_node(run, device=device, qubit=1, node="ecr_irb@0", action="calibrate",
                              outcome="calibrated", reason="no value yet", experiment="interleaved_rb_2q",
                              device_time_s=1.0, shots=100, values={"gate_error@0": (0.021, 0.003, "")})
            store.set_value(device, 1, "zx_rate@0", 1.2e-3, 1e-5, "GHz", run_id=run)
            store.set_value(device, 1, "x_amp", 0.6, 1e-4, "", run_id=run)
            store.finish_run(run, status="ok", shots=100, seconds=1.0, summary={
                "1": {"status": "calibrated", "truth": {"gate_error": 4e-4, "leakage": 1e-5, "coherence_limit": 2e-4}},
                "pairs": {"1-0": {"status": "calibrated", "estimated_gate_error": 0.021,
                                  "truth": {"gate_error": 0.019, "leakage": 2e-4, "coherence_limit": 0.016}}}})
        session.refresh()
        streamed = {e.model.name: e.data for e in events if isinstance(e, ColumnsStreamedEvent)}
        assert [float(v) for v in streamed[PAIR_ESTIMATED]["value"]] == [0.021]
        assert list(streamed[PAIR_ESTIMATED]["series"]) == [f"{device} pair 1-0"]
        assert [float(v) for v in streamed[parameter_source_name("zx_rate", pair=True)]["value"]] == [1.2e-3]
        assert [float(v) for v in streamed[PAIR_TRUTH]["gate_error"]] == [0.019]
        assert [float(v) for v in streamed[PAIR_TRUTH]["coherence_limit"]] == [0.016]
        # the qubit's own rows go to the qubits' panels, and nothing of the pair's does
        assert list(streamed[parameter_source_name("x_amp")]["series"]) == [f"{device} q1"]
        assert list(streamed[TRUTH]["series"]) == [f"{device} q1"]
        assert ESTIMATED not in streamed
        assert not any(isinstance(e, ColumnDataChangedEvent) for e in events), "a refresh re-sent whole sources"
        assert (streamed["nodes"]["subject"], streamed["nodes"]["node"]) == (["pair 1-0"], ["ecr_irb"])
        # the new pair is chosen and its panels join the page (as a change of the layout's children,
        # sent before the rows streamed into their sources: they arrive once)
        assert f"{device} pair 1-0" in session.qubits.value and f"{device} pair 1-0" in session.qubits.options
        assert doc.get_model_by_name("pair-panels") is not None
        changed = [i for i, e in enumerate(events) if isinstance(e, ModelChangedEvent) and e.attr == "children"]
        first_pair_stream = min(i for i, e in enumerate(events)
                                if isinstance(e, ColumnsStreamedEvent) and e.model.name == PAIR_ESTIMATED)
        assert len(changed) == 1 and changed[0] < first_pair_stream
        assert f"{device} pair 1-0" in session.history.key.text
        events.clear()
        session.refresh()
        assert not any(isinstance(e, ColumnsStreamedEvent) for e in events), "nothing twice"
    finally:
        reader.close()


def test_truth_columns_give_a_row_per_qubit_and_per_pair_with_a_truth():
    truth = {"gate_error": 0.02, "leakage": 1e-4, "coherence_limit": 0.015}
    summary = {"1": {"status": "calibrated", "truth": {**truth, "gate_error": 3e-4}}, "0": {"truth": None},
               "pairs": {"1-0": {"status": "calibrated", "estimated_gate_error": 0.021, "truth": truth},
                         "2-1": {"status": "failed", "estimated_gate_error": None, "truth": None},
                         "odd": {"truth": truth}}}
    columns = truth_columns([run_with(summary), run_with({"error": "crashed"})])
    assert list(zip(columns["qubit"], columns["target"], columns["gate_error"])) == [(1, None, 3e-4), (1, 0, 0.02)]
    assert columns["run_id"] == [7, 7] and columns["coherence_limit"] == [0.015, 0.015]


def test_the_report_has_pair_panels_only_for_a_device_with_pairs(pair_store, tmp_path):
    with StoreReader.open(pair_store) as reader:
        layout = report_layout(reader, choose_run(reader, None))
        truth = layout.select_one({"name": PAIR_TRUTH})
        assert set(truth.data["series"]) == {f"{DEVICE} pair 1-0", f"{DEVICE} pair 2-1"}
        assert len(truth.data["series"]) == len(PAIRS) * PAIR_HISTORY.nights
        assert layout.select_one({"name": "pair-panels"}) is not None
    without_pairs = f"sqlite:///{tmp_path / 'store.sqlite'}"
    write_history(without_pairs, History(devices=1, qubits_per_device=2, nights=2))
    with StoreReader.open(without_pairs) as reader:
        assert report_layout(reader, choose_run(reader, None)).select_one({"name": "pair-panels"}) is None
