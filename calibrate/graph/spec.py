"""A calibration graph: nodes (experiment + analysis + update rule + tolerance + timeout)
and the dependencies between them, as immutable values checked at construction.

A node's calibrate steps run experiments in turn, each starting from the values the
previous one wrote (spectroscopy: a coarse scan, then a fine one around it). Its check
is a cheap version of the experiment whose fit is compared, value by value, with the
stored calibration through the node's tolerances. Which fitted value becomes which
stored parameter is the node's update rule; a bad fit never reaches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


class GraphError(ValueError):
    """A graph (declared in Python or read from a file) is malformed."""


@dataclass(frozen=True)
class Step:
    """One experiment run: its registry name, options and shots per point."""

    experiment: str
    options: Mapping[str, object] = field(default_factory=dict)
    shots: int = 1000

    def __post_init__(self):
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        if isinstance(self.shots, bool) or not isinstance(self.shots, int) or not 1 <= self.shots <= 10**7:
            raise GraphError(f"Step `shots` must be an integer in 1..10^7, but is {self.shots!r}.")


@dataclass(frozen=True)
class Tolerance:
    """How far a checked value may sit from the stored one and still be in spec:
    |checked - stored| <= absolute + relative * |stored|."""

    absolute: float = 0.0
    relative: float = 0.0

    def __post_init__(self):
        for name in ("absolute", "relative"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise GraphError(f"Tolerance `{name}` must be a finite number >= 0, but is {value!r}.")
        if self.absolute == 0 and self.relative == 0:
            raise GraphError("A tolerance needs `absolute` or `relative` > 0: zero would fail every check.")

    def allows(self, checked: float, stored: float) -> bool:
        return abs(checked - stored) <= self.absolute + self.relative * abs(stored)

    def describe(self) -> str:
        parts = [f"{self.absolute:g}" if self.absolute else "", f"{self.relative:.3g} rel" if self.relative else ""]
        return " + ".join(p for p in parts if p)


@dataclass(frozen=True)
class Node:
    """One calibration: `update` maps fitted value -> stored parameter name; `tolerance`
    maps fitted value -> Tolerance against that parameter's stored value."""

    name: str
    calibrate: tuple[Step, ...]
    check: Step
    update: Mapping[str, str]
    tolerance: Mapping[str, Tolerance]
    timeout_h: float
    depends_on: tuple[str, ...] = ()
    description: str = ""
    # nodes to calibrate instead when this node's calibration fails (see Graph.standby)
    fallback: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "calibrate", tuple(self.calibrate))
        object.__setattr__(self, "depends_on", tuple(self.depends_on))
        object.__setattr__(self, "fallback", tuple(self.fallback))
        object.__setattr__(self, "update", MappingProxyType(dict(self.update)))
        object.__setattr__(self, "tolerance", MappingProxyType(dict(self.tolerance)))
        where = f"Node {self.name!r}"
        if not self.name or not self.name.replace("_", "").isalnum():
            raise GraphError(f"Node name {self.name!r} must be letters, digits and underscores.")
        if not self.calibrate:
            raise GraphError(f"{where} has no calibrate steps: give at least one experiment.")
        if not (isinstance(self.timeout_h, (int, float)) and self.timeout_h > 0 and math.isfinite(self.timeout_h)):
            raise GraphError(f"{where}: `timeout_h` must be a finite number of hours > 0, but is {self.timeout_h!r}.")
        if not self.update:
            raise GraphError(f"{where} updates nothing: give at least one `update` entry (fit value = parameter).")
        if not self.tolerance:
            raise GraphError(f"{where} has no tolerance: its check could never be out of spec.")
        unknown = sorted(set(self.tolerance) - set(self.update))
        if unknown:
            raise GraphError(f"{where}: tolerance on {unknown}, which the node does not update; "
                             f"it updates {sorted(self.update)}.")
        if self.name in self.depends_on:
            raise GraphError(f"{where} depends on itself.")
        if self.name in self.fallback:
            raise GraphError(f"{where} lists itself as its own fallback.")

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.update.values())


@dataclass(frozen=True)
class Graph:
    """A DAG of nodes; `nodes` is kept in a dependency-respecting order."""

    name: str
    nodes: tuple[Node, ...]

    def __post_init__(self):
        nodes = tuple(self.nodes)
        names = [n.name for n in nodes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise GraphError(f"Graph {self.name!r} declares node(s) {dupes} twice.")
        known = set(names)
        for node in nodes:
            missing = [d for d in node.depends_on if d not in known]
            if missing:
                raise GraphError(f"Node {node.name!r} depends on unknown node(s) {missing}; "
                                 f"the graph has {names}.")
        object.__setattr__(self, "nodes", _topological(nodes))
        self._check_fallbacks(known)
        standby = self.standby
        owners: dict[str, str] = {}
        for node in self.nodes:
            for parameter in node.parameters:
                # a standby node stands in for the node whose values it shares: they never both run
                if parameter in owners and owners[parameter] not in self.ancestors(node.name) \
                        and not {owners[parameter], node.name} & standby:
                    raise GraphError(
                        f"Nodes {owners[parameter]!r} and {node.name!r} both update {parameter!r} but "
                        "neither depends on the other: the stored value would depend on their order.")
                owners[parameter] = node.name

    def _check_fallbacks(self, known: set[str]) -> None:
        standby = self.standby
        for node in self.nodes:
            missing = [f for f in node.fallback if f not in known]
            if missing:
                raise GraphError(f"Node {node.name!r} falls back to unknown node(s) {missing}; "
                                 f"the graph has {[n.name for n in self.nodes]}.")
            if node.name in standby and node.fallback:
                raise GraphError(f"Node {node.name!r} is a fallback node and has fallbacks of its own: "
                                 "give the first node the whole list.")
            below = sorted(set(node.fallback) & self.descendants(node.name))
            if below:
                raise GraphError(f"Node {node.name!r} falls back to {below}, which depend on it: a failure "
                                 "of the node would skip them.")
            if node.name not in standby:
                uses = sorted(set(node.depends_on) & standby)
                if uses:
                    raise GraphError(f"Node {node.name!r} depends on fallback node(s) {uses}, which only run "
                                     "when the node they stand in for fails: depend on that node instead.")

    @property
    def standby(self) -> set[str]:
        """Fallback nodes: run only when a node that lists them fails to calibrate."""
        return {f for node in self.nodes for f in node.fallback}

    def descendants(self, name: str) -> set[str]:
        return {n.name for n in self.nodes if name in self.ancestors(n.name)}

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"Graph {self.name!r} has no node {name!r}; its nodes are {[n.name for n in self.nodes]}.")

    def ancestors(self, name: str) -> set[str]:
        out: set[str] = set()
        stack = list(self.node(name).depends_on)
        while stack:
            n = stack.pop()
            if n not in out:
                out.add(n)
                stack.extend(self.node(n).depends_on)
        return out

    def leaves(self) -> tuple[str, ...]:
        """Nodes nothing depends on, fallback nodes aside: maintaining them maintains the graph."""
        used = {d for node in self.nodes for d in node.depends_on}
        standby = self.standby
        return tuple(n.name for n in self.nodes if n.name not in used and n.name not in standby)


def _topological(nodes: tuple[Node, ...]) -> tuple[Node, ...]:
    by_name = {n.name: n for n in nodes}
    done: dict[str, None] = {}
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name):] + [name]
            raise GraphError(f"The graph has a cycle: {' -> '.join(cycle)}.")
        visiting.append(name)
        for dep in by_name[name].depends_on:
            visit(dep)
        visiting.pop()
        done[name] = None

    for n in nodes:
        visit(n.name)
    return tuple(by_name[n] for n in done)
