"""Pairs (two-qubit gates) on the dashboard: their nodes, stored on the control qubit as
NAME@TARGET, are named in the node table, the log and the running jobs as the pair's."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from synthetic_history import NODES, PAIR_NODES, History, write_history
from test_dashboard_session import open_session

from dashboards.app import jobs_html
from dashboards.data import RunInfo

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
