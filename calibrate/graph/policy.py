"""The maintain / check_state / check_data / calibrate / diagnose policy of Kelly et al.,
"Physical qubit calibration on a directed acyclic graph" (arXiv:1803.03226).

- check_state(node): no experiment. Passes when the node was calibrated or checked in
  spec within its timeout, its last calibration did not fail, no dependency has been
  recalibrated since, and every dependency passes check_state.
- check_data(node): the cheap experiment, compared with the stored calibration: in spec,
  out of spec, or bad data (the fit failed: something upstream may be wrong).
- maintain(node): maintain the dependencies, then check_state; failing that check_data;
  out of spec -> calibrate; bad data -> diagnose the dependencies, then calibrate.
- diagnose(node): check_data; in spec -> nothing to do; bad data -> diagnose the
  dependencies and calibrate only if one of them was recalibrated; out of spec ->
  calibrate. Returns whether the node was recalibrated.

Fallbacks: a node may list fallback nodes (a learned recalibration falls back to the
classic Ramsey, DRAG and amplitude nodes). They are outside the maintained graph; when
the node fails to calibrate, they are calibrated in dependency order instead, and if all
of them succeed the node counts as recovered: its descendants go on. Its own failure
stays recorded, so the next pass checks it again.

The policy is pure traversal logic over `Actions`, which run experiments and keep the
record; so it is tested on a fake graph. A failed calibration ends that branch: its
descendants are skipped with a reason, the other nodes go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from calibrate.graph.spec import Graph, Node


class DataCheck(str, Enum):
    IN_SPEC = "in_spec"
    OUT_OF_SPEC = "out_of_spec"
    BAD_DATA = "bad_data"


@dataclass(frozen=True)
class NodeRecord:
    """What the store remembers of a node. `*_seq` order events in time (store ids)."""

    last_good_seq: int | None = None  # last successful calibration or in-spec check
    last_good_hours: float | None = None  # device clock then [h]
    last_calibrated_seq: int | None = None
    failed_since_good: bool = False
    # the newest calibration of what the node rests on outside its graph (a pair node: its two
    # qubits' own nodes), which makes its last good result stale like a dependency's would
    upstream_calibrated_seq: int | None = None


class Actions(Protocol):
    """What the policy needs from the lab and the store, for one qubit."""

    def now_hours(self) -> float: ...

    def record(self, node: Node) -> NodeRecord: ...

    def check_data(self, node: Node) -> tuple[DataCheck, str]:
        """Run the node's check and compare with the stored values (recorded by the caller)."""

    def calibrate(self, node: Node, reason: str) -> tuple[bool, str]:
        """Run the node's calibrate steps; True when every fit was good and values were written."""

    def skip(self, node: Node, reason: str) -> None:
        """Record that the node was not run, and why."""


class Policy:
    """One maintain (or recalibrate-all) pass over a graph for one qubit."""

    def __init__(self, graph: Graph, actions: Actions):
        self.graph = graph
        self.actions = actions
        self.failed: dict[str, str] = {}  # node -> reason, this pass
        self.recovered: dict[str, str] = {}  # node -> why it failed, before its fallbacks calibrated
        self.checked_in_spec: set[str] = set()
        self.recalibrated: set[str] = set()
        self._maintained: set[str] = set()

    # --- entry points ---------------------------------------------------------------
    def maintain_all(self) -> None:
        for leaf in self.graph.leaves():
            self.maintain(leaf)

    def calibrate_all(self) -> None:
        """Recalibrate every node in dependency order (the baseline maintain is judged by)."""
        standby = self.graph.standby
        for node in self.graph.nodes:
            if node.name not in standby and not self._blocked(node):
                self._calibrate(node, "recalibrating every node")

    # --- the policy -----------------------------------------------------------------
    def maintain(self, name: str) -> None:
        if name in self._maintained:
            return
        self._maintained.add(name)
        node = self.graph.node(name)
        for dep in node.depends_on:
            self.maintain(dep)
        if name in self.failed or self._blocked(node):
            return
        passed, why = self.check_state(name)
        if passed:
            return
        if self.actions.record(node).last_good_seq is None:
            self._calibrate(node, "never calibrated")
            return
        result, reason = self._check_data(node)
        if result is DataCheck.IN_SPEC:
            return
        if result is DataCheck.BAD_DATA:
            for dep in node.depends_on:
                self.diagnose(dep)
            if self._blocked(node):
                return
        self._calibrate(node, f"{why}; check {result.value}: {reason}")

    def check_state(self, name: str) -> tuple[bool, str]:
        node = self.graph.node(name)
        if name in self.failed:
            return False, f"failed: {self.failed[name]}"
        record = self.actions.record(node)
        if record.last_good_seq is None:
            return False, "never calibrated"
        if record.failed_since_good:
            return False, "its last calibration failed"
        age = self.actions.now_hours() - record.last_good_hours
        if age > node.timeout_h:
            return False, f"timeout: last good {age:.3g} h ago > {node.timeout_h:g} h"
        if record.upstream_calibrated_seq is not None and record.upstream_calibrated_seq > record.last_good_seq:
            return False, "a qubit it spans was recalibrated since"
        for dep in node.depends_on:
            dep_seq = self.actions.record(self.graph.node(dep)).last_calibrated_seq
            if dep_seq is not None and dep_seq > record.last_good_seq:
                return False, f"dependency {dep} recalibrated since"
        for dep in node.depends_on:
            passed, _ = self.check_state(dep)
            if not passed:
                return False, f"dependency {dep} fails check_state"
        return True, "in state"

    def diagnose(self, name: str) -> bool:
        node = self.graph.node(name)
        if self._blocked(node):
            return False
        result, reason = self._check_data(node)
        if result is DataCheck.IN_SPEC:
            return False
        if result is DataCheck.BAD_DATA:
            recalibrated = [self.diagnose(dep) for dep in node.depends_on]
            if not any(recalibrated):
                return False
        return self._calibrate(node, f"diagnose: check {result.value}: {reason}")

    # --- helpers --------------------------------------------------------------------
    def _check_data(self, node: Node) -> tuple[DataCheck, str]:
        # A check in spec earlier in this pass still holds: nothing it depends on has
        # been recalibrated since (that would have sent it to calibrate instead).
        if node.name in self.checked_in_spec:
            return DataCheck.IN_SPEC, "checked in spec earlier in this pass"
        result, reason = self.actions.check_data(node)
        if result is DataCheck.IN_SPEC:
            self.checked_in_spec.add(node.name)
        return result, reason

    def _calibrate(self, node: Node, reason: str) -> bool:
        ok, why = self.actions.calibrate(node, reason)
        self.checked_in_spec.discard(node.name)
        if not ok and node.fallback:
            ok = self._fall_back(node, why)
            if ok:
                self.recovered[node.name] = why
        if ok:
            self.recalibrated.add(node.name)
            for other in self.graph.nodes:  # their checks predate this calibration
                if node.name in self.graph.ancestors(other.name):
                    self.checked_in_spec.discard(other.name)
        else:
            self.failed[node.name] = why
        return ok

    def _fall_back(self, node: Node, why: str) -> bool:
        """Calibrate the node's fallback nodes in dependency order; True when all succeeded."""
        for other in self.graph.nodes:
            if other.name not in node.fallback:
                continue
            if self._blocked(other) or not self._calibrate(other, f"fallback for {node.name}: {why}"):
                return False
        return True

    def _blocked(self, node: Node) -> bool:
        """A node below a failed one is skipped (once, with the reason)."""
        failed = sorted(self.graph.ancestors(node.name) & set(self.failed))
        if failed:
            if node.name not in self.failed:
                reason = f"skipped: depends on failed node {failed[0]}"
                self.failed[node.name] = reason
                self.actions.skip(node, reason)
            return True
        return False
