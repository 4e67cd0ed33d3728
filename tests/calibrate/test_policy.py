"""The maintain policy of Kelly et al. on a fake graph: which nodes ran, in which order.

Graph (arrows point from a node to what depends on it):

    freq -> amp -> drag -> rb
      \\-> t1 ------------/

The fake lab answers each check from a script and keeps the record the policy reads.
"""

from __future__ import annotations

import dataclasses

import pytest

from calibrate.graph.policy import DataCheck, NodeRecord, Policy
from calibrate.graph.spec import Graph, GraphError, Node, Step, Tolerance

TIMEOUT_H = 24.0


def node(name: str, *deps: str, timeout_h: float = TIMEOUT_H) -> Node:
    step = Step("rabi")
    return Node(name=name, calibrate=(step,), check=step, update={"x_amp": name},
                tolerance={"x_amp": Tolerance(relative=0.1)}, timeout_h=timeout_h, depends_on=deps)


GRAPH = Graph("fake", (node("rb", "drag", "t1"), node("drag", "amp"), node("amp", "freq"), node("t1", "freq"),
                       node("freq")))


class FakeLab:
    def __init__(self, checks: dict[str, DataCheck] | None = None, failing: set[str] = frozenset(),
                 now: float = 10.0):
        self.checks = checks or {}
        self.failing = set(failing)
        self.now = now
        self.calls: list[tuple[str, str]] = []
        self.seq = 0
        self.records: dict[str, NodeRecord] = {}

    def calibrated_everything(self, at: float) -> "FakeLab":
        for n in GRAPH.nodes:  # dependency order, so nothing looks recalibrated after
            self.seq += 1
            self.records[n.name] = NodeRecord(self.seq, at, self.seq, False)
        return self

    def now_hours(self) -> float:
        return self.now

    def record(self, node: Node) -> NodeRecord:
        return self.records.get(node.name, NodeRecord())

    def check_data(self, node: Node):
        self.calls.append(("check", node.name))
        result = self.checks.get(node.name, DataCheck.IN_SPEC)
        if result is DataCheck.IN_SPEC:
            self.seq += 1
            old = self.record(node)
            self.records[node.name] = NodeRecord(self.seq, self.now, old.last_calibrated_seq, False)
        return result, "scripted"

    def calibrate(self, node: Node, reason: str):
        self.calls.append(("calibrate", node.name))
        self.seq += 1
        if node.name in self.failing:
            old = self.record(node)
            self.records[node.name] = NodeRecord(old.last_good_seq, old.last_good_hours,
                                                 old.last_calibrated_seq, True)
            return False, "bad fit: scripted"
        self.checks.pop(node.name, None)  # calibrated: its next check is in spec
        self.records[node.name] = NodeRecord(self.seq, self.now, self.seq, False)
        return True, reason

    def skip(self, node: Node, reason: str) -> None:
        self.calls.append(("skip", node.name))


def maintain(lab: FakeLab) -> list[tuple[str, str]]:
    Policy(GRAPH, lab).maintain_all()
    return lab.calls


def test_a_fresh_graph_calibrates_everything_in_dependency_order():
    calls = maintain(FakeLab())
    assert calls == [("calibrate", "freq"), ("calibrate", "amp"), ("calibrate", "drag"),
                     ("calibrate", "t1"), ("calibrate", "rb")]


def test_all_in_spec_within_timeouts_runs_nothing():
    assert maintain(FakeLab(now=20.0).calibrated_everything(at=10.0)) == []


def test_all_in_spec_after_the_timeouts_only_checks():
    calls = maintain(FakeLab(now=40.0).calibrated_everything(at=10.0))
    assert calls == [("check", "freq"), ("check", "amp"), ("check", "drag"), ("check", "t1"), ("check", "rb")]


def test_an_expired_timeout_checks_that_node_alone():
    lab = FakeLab(now=20.0).calibrated_everything(at=10.0)
    short = Graph("fake", tuple(node(n.name, *n.depends_on, timeout_h=5.0 if n.name == "drag" else TIMEOUT_H)
                                for n in GRAPH.nodes))
    Policy(short, lab).maintain_all()
    assert lab.calls == [("check", "drag")]


def test_a_leaf_out_of_spec_is_recalibrated_alone():
    lab = FakeLab(now=40.0, checks={"rb": DataCheck.OUT_OF_SPEC}).calibrated_everything(at=10.0)
    calls = maintain(lab)
    assert [c for c in calls if c[0] == "calibrate"] == [("calibrate", "rb")]
    assert calls[-2:] == [("check", "rb"), ("calibrate", "rb")]


def test_an_upstream_recalibration_makes_the_dependents_check():
    lab = FakeLab(now=20.0).calibrated_everything(at=10.0)
    short = Graph("fake", tuple(node(n.name, *n.depends_on, timeout_h=5.0 if n.name == "amp" else TIMEOUT_H)
                                for n in GRAPH.nodes))
    lab.checks["amp"] = DataCheck.OUT_OF_SPEC
    Policy(short, lab).maintain_all()
    # amp recalibrated: drag no longer passes check_state and is checked; in spec, it was
    # not recalibrated, so rb (and t1, beside amp) still pass.
    assert lab.calls == [("check", "amp"), ("calibrate", "amp"), ("check", "drag")]


def test_bad_data_diagnoses_the_dependencies_and_recalibrates_the_culprit():
    # drag's data is bad because amp is out of spec; amp's own timeout has not expired.
    lab = FakeLab(now=20.0, checks={"drag": DataCheck.BAD_DATA, "amp": DataCheck.OUT_OF_SPEC})
    lab.calibrated_everything(at=10.0)
    short = Graph("fake", tuple(node(n.name, *n.depends_on, timeout_h=5.0 if n.name == "drag" else TIMEOUT_H)
                                for n in GRAPH.nodes))
    Policy(short, lab).maintain_all()
    assert lab.calls == [("check", "drag"), ("check", "amp"), ("calibrate", "amp"), ("calibrate", "drag"),
                         ("check", "rb")]


def test_diagnose_stops_where_the_data_is_in_spec():
    lab = FakeLab(checks={"amp": DataCheck.BAD_DATA, "freq": DataCheck.IN_SPEC}).calibrated_everything(at=10.0)
    policy = Policy(GRAPH, lab)
    assert policy.diagnose("amp") is False  # bad data, but nothing upstream was wrong
    assert lab.calls == [("check", "amp"), ("check", "freq")]


def test_a_failed_fit_upstream_skips_its_descendants_and_the_rest_goes_on():
    lab = FakeLab(failing={"amp"})
    calls = maintain(lab)
    assert calls == [("calibrate", "freq"), ("calibrate", "amp"), ("skip", "drag"), ("calibrate", "t1"),
                     ("skip", "rb")]


def test_a_failed_node_is_not_trusted_in_the_next_pass():
    lab = FakeLab(failing={"amp"}).calibrated_everything(at=10.0)
    lab.now = 12.0
    short = Graph("fake", tuple(node(n.name, *n.depends_on, timeout_h=1.0 if n.name == "amp" else TIMEOUT_H)
                                for n in GRAPH.nodes))
    lab.checks["amp"] = DataCheck.OUT_OF_SPEC
    Policy(short, lab).maintain_all()
    assert ("calibrate", "amp") in lab.calls
    lab.calls.clear()
    lab.failing.clear()
    Policy(GRAPH, lab).maintain_all()  # amp's record says its calibration failed
    assert lab.calls[:2] == [("check", "amp"), ("calibrate", "amp")]


def test_recalibrate_all_calibrates_every_node_in_order():
    lab = FakeLab().calibrated_everything(at=10.0)
    Policy(GRAPH, lab).calibrate_all()
    assert lab.calls == [("calibrate", n.name) for n in GRAPH.nodes]


@pytest.mark.parametrize("build, message", [
    (lambda: Graph("g", (node("a", "b"), node("b", "a"))), "cycle: a -> b -> a"),
    (lambda: Graph("g", (node("a", "zzz"),)), "depends on unknown node(s) ['zzz']"),
    (lambda: Graph("g", (node("a"), node("a"))), "declares node(s) ['a'] twice"),
    (lambda: node("a", timeout_h=0.0), "`timeout_h` must be a finite number of hours > 0"),
    (lambda: Tolerance(), "needs `absolute` or `relative` > 0"),
    (lambda: Tolerance(absolute=-1.0), "`absolute` must be a finite number >= 0, but is -1.0"),
])
def test_malformed_graphs_are_refused(build, message):
    with pytest.raises(GraphError) as info:
        build()
    assert message in str(info.value)


# --- fallback nodes: a learned node that falls back to classic ones --------------------------
def learned_graph() -> Graph:
    """freq -> learned -> rb, with classic amp -> drag standing by for learned."""
    learned = Node(name="learned", calibrate=(Step("rabi"),), check=Step("rabi"), update={"x_amp": "amp"},
                   tolerance={"x_amp": Tolerance(relative=0.1)}, timeout_h=TIMEOUT_H, depends_on=("freq",),
                   fallback=("amp", "drag"))
    return Graph("learned", (node("freq"), learned, node("amp", "freq"), node("drag", "amp"),
                             node("rb", "learned")))


def test_fallback_nodes_stay_out_of_the_maintained_graph():
    graph = learned_graph()
    assert graph.standby == {"amp", "drag"}
    assert graph.leaves() == ("rb",)
    lab = FakeLab()
    Policy(graph, lab).maintain_all()
    assert lab.calls == [("calibrate", "freq"), ("calibrate", "learned"), ("calibrate", "rb")]


def test_a_failed_node_runs_its_fallbacks_in_order_and_its_descendants_go_on():
    lab = FakeLab(failing={"learned"})
    policy = Policy(learned_graph(), lab)
    policy.maintain_all()
    assert lab.calls == [("calibrate", "freq"), ("calibrate", "learned"), ("calibrate", "amp"),
                         ("calibrate", "drag"), ("calibrate", "rb")]
    assert policy.failed == {}


def test_a_failed_fallback_fails_the_node_and_skips_its_descendants():
    lab = FakeLab(failing={"learned", "amp"})
    policy = Policy(learned_graph(), lab)
    policy.maintain_all()
    assert lab.calls == [("calibrate", "freq"), ("calibrate", "learned"), ("calibrate", "amp"), ("skip", "rb")]
    assert set(policy.failed) == {"learned", "amp", "rb"}


def test_recalibrate_all_leaves_fallback_nodes_alone():
    lab = FakeLab()
    Policy(learned_graph(), lab).calibrate_all()
    assert [c[1] for c in lab.calls] == ["freq", "learned", "rb"]


@pytest.mark.parametrize("change, message", [
    ({"fallback": ("nope",)}, "falls back to unknown node"),
    ({"fallback": ("rb",)}, "which depend on it"),
])
def test_bad_fallbacks_are_refused(change, message):
    from dataclasses import replace

    graph = learned_graph()
    nodes = tuple(replace(n, **change) if n.name == "learned" else n for n in graph.nodes)
    with pytest.raises(GraphError, match=message):
        Graph("bad", nodes)


def test_a_maintained_node_may_not_depend_on_a_fallback_node():
    graph = learned_graph()
    nodes = tuple(n for n in graph.nodes if n.name != "rb") + (node("rb", "drag"),)
    with pytest.raises(GraphError, match="depends on fallback node"):
        Graph("bad", nodes)


def test_a_recalibration_outside_the_graph_makes_a_node_stale():
    # a pair node rests on its qubits' own graphs: their newer calibration sends it to check_data
    lab = FakeLab().calibrated_everything(at=9.0)
    record = lab.records["rb"]
    lab.records["rb"] = dataclasses.replace(record, upstream_calibrated_seq=record.last_good_seq + 1)
    assert Policy(GRAPH, lab).check_state("rb") == (False, "a qubit it spans was recalibrated since")
    lab.records["rb"] = dataclasses.replace(record, upstream_calibrated_seq=record.last_good_seq - 1)
    assert Policy(GRAPH, lab).check_state("rb") == (True, "in state")
