"""Directed pairs of coupled qubits in the device-wide calibration: which pairs, in which
direction, and how their parameters and node records sit in the store.

Direction. Every coupled pair of the device's design is calibrated once, as a cross-resonance
(CR) gate whose control is the qubit of higher design frequency. With the control above the
target by Delta, the CR rate ZX ~ J Omega alpha / (Delta (Delta + alpha)) grows as Delta + alpha
(alpha < 0) shrinks: on sim-5q's 430-530 MHz detunings that direction is ~3.5x faster (see
devices/two_qubit.py), so its gate is shorter and nearer the pair's coherence limit.

Store. A pair's values and node outcomes live under its control qubit, named `NAME@TARGET`
(`cr_width@0` on qubit 1 is pair 1-0's flat-top width). So the store's schema, its append-only
history, revert of a run or of one value (`calibrate revert --parameter cr_width@0 --qubit 1`)
and `calibrate history cr_width@0 --qubit 1` work for pairs as they do for qubits; reports and
`calibrate status` regroup them into `pairs`, keyed "c-t".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from calibrate.graph.spec import Graph, GraphError

if TYPE_CHECKING:  # the dashboards import this module for its names alone: no JAX for them
    from devices.device_spec import DeviceSpec

SEPARATOR = "@"
DEFAULT_PAIR_GRAPH = "two-qubit"


def pair_label(control: int, target: int) -> str:
    """The report's key of a directed pair: "c-t"."""
    return f"{control}-{target}"


def stored_name(name: str, target: int | None) -> str:
    """The store's name of a pair's parameter or node (on its control qubit); `name` itself
    for a single qubit's (target None)."""
    return name if target is None else f"{name}{SEPARATOR}{target}"


def split_stored_name(name: str) -> tuple[str, int | None]:
    """(name, target) of a stored name: target None for a single qubit's own parameter."""
    base, sep, target = name.rpartition(SEPARATOR)
    if sep and base and target.isdigit():
        return base, int(target)
    return name, None


def coupled_pairs(spec: DeviceSpec, qubits: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """(control, target) of every coupled pair of the design among `qubits`, the control the
    higher design frequency (see the module), in the order of the design's couplings."""
    chosen = set(qubits)
    pairs = []
    for q, r, _ in spec.couplings:
        if q in chosen and r in chosen:
            fq, fr = spec.qubits[q].frequency, spec.qubits[r].frequency
            pairs.append((q, r) if fq >= fr else (r, q))
    return tuple(dict.fromkeys(pairs))


def regroup(values: Mapping[tuple[int, str], object]) -> tuple[dict[int, dict[str, object]],
                                                                  dict[tuple[int, int], dict[str, object]]]:
    """{(qubit, stored name): v} -> ({qubit: {name: v}}, {(control, target): {name: v}})."""
    qubits: dict[int, dict[str, object]] = {}
    pairs: dict[tuple[int, int], dict[str, object]] = {}
    for (qubit, name), v in values.items():
        base, target = split_stored_name(name)
        if target is None:
            qubits.setdefault(qubit, {})[name] = v
        else:
            pairs.setdefault((qubit, target), {})[base] = v
    return qubits, pairs


def check_graph_kind(graph: Graph, *, pairs: bool) -> None:
    """A qubit graph's experiments measure one qubit, a pair graph's two (their second qubit is
    the pair's target): raise GraphError naming the node otherwise. Procedures are one qubit's."""
    from calibrate.procedures import is_procedure
    from experiments.registry import experiment_class

    for node in graph.nodes:
        for step in (*node.calibrate, node.check):
            two = not is_procedure(step.experiment) and experiment_class(step.experiment).partner_option is not None
            if two != pairs:
                raise GraphError(
                    f"Graph {graph.name!r} node {node.name!r} runs {step.experiment}, which measures "
                    f"{'two qubits' if two else 'one qubit'}: a {'pair' if pairs else 'qubit'} graph takes "
                    f"{'two' if pairs else 'one'}-qubit experiments only (see --graph and --pair-graph).")


def load_pair_graph(name: str | None) -> Graph | None:
    """The pair graph a run or a night uses: a built-in name or a graph file (default: the
    built-in two-qubit graph), None for "none" (no pairs)."""
    from calibrate.graph.toml import load_graph

    if name == "none":
        return None
    graph = load_graph(name or DEFAULT_PAIR_GRAPH)
    check_graph_kind(graph, pairs=True)
    return graph
