"""A calibration graph with the learned controller in place of the classic gate nodes.

    graph = with_learned_recalibration(load_graph("single-qubit"), "controllers/sim-1q")

The node `learned_recalibration` runs probe -> correct -> verify (calibrate.procedures)
and updates frequency, x_amp, sx_amp and beta. The classic nodes it replaces (by default
Ramsey, DRAG, fine amplitude and fine DRAG) stay in the graph as its fallbacks: they run,
in order, only when its verification is out of spec. Nodes that depended on the replaced
ones (in the default graph RB; T1 and T2 hang under Rabi) depend on the learned node instead.

`calibrate run --graph DIR` with DIR a directory written by `calibrate train-controller`
builds this graph from the default one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from calibrate.graph.spec import Graph, GraphError, Node, Step, Tolerance
from calibrate.ml.verification import TOLERANCES as VERIFIED

LEARNED_NODE = "learned_recalibration"
REPLACED = ("ramsey", "drag", "fine_amplitude", "fine_drag")
# The node's tolerances are the verification's (calibrate.ml.verification.TOLERANCES): each
# adds about a fifth of the coherence limit to a 20 ns X gate, or ~1 % for the frequency's idle cost.
TOLERANCES = {"frequency": Tolerance(absolute=VERIFIED[0]), "x_amp": Tolerance(relative=VERIFIED[1]),
              "beta": Tolerance(absolute=VERIFIED[2])}


def with_learned_recalibration(graph: Graph, controller: str | Path, *, replaces: Sequence[str] = REPLACED,
                               timeout_h: float = 20.0) -> Graph:
    """`graph` with a learned_recalibration node standing in for the nodes `replaces`."""
    names = [n.name for n in graph.nodes]
    missing = [r for r in replaces if r not in names]
    if missing:
        raise GraphError(f"Graph {graph.name!r} has no node(s) {missing} to replace with {LEARNED_NODE}; "
                         f"its nodes are {names}.")
    if LEARNED_NODE in names:
        raise GraphError(f"Graph {graph.name!r} already has a {LEARNED_NODE} node.")
    replaced = set(replaces)
    upstream = tuple(dict.fromkeys(d for r in replaces for d in graph.node(r).depends_on if d not in replaced))
    options = {"controller": str(Path(controller).resolve())}
    learned = Node(
        name=LEARNED_NODE,
        description="Learned controller: probes -> corrections of frequency, amplitude and DRAG beta, verified; "
                    f"falls back to {', '.join(replaces)}",
        calibrate=(Step("learned_recalibration", options),), check=Step("learned_check", options),
        update={name: name for name in ("frequency", "x_amp", "sx_amp", "beta")},
        tolerance=TOLERANCES, timeout_h=timeout_h, depends_on=upstream, fallback=tuple(replaces))
    nodes = []
    for node in graph.nodes:
        if node.name not in replaced and replaced & set(node.depends_on):
            depends = tuple(dict.fromkeys(LEARNED_NODE if d in replaced else d for d in node.depends_on))
            node = replace(node, depends_on=depends)
        nodes.append(node)
    return Graph(name=f"{graph.name}+learned", nodes=(*nodes, learned))
