"""Calibration graphs from TOML files: timeouts, tolerances and shots live in the file.

Every key is checked: unknown keys (typos), missing keys, wrong types, unknown
experiments and unknown experiment options each give a GraphFileError naming the file,
the node and the key.

A file may say `extends = "NAME_OR_PATH"` (a built-in graph, or a graph file, relative to
this one's folder): its nodes are then the base graph's, a node of the same name replacing
the base's in place, followed by its own new ones. So a graph that adds T1 and RB to
another does not copy its nodes, and follows when the base is resized. A node table there
holding only `depends_on` re-wires the base's node of that name (the readout graph puts its
readout nodes before the base's Ramsey this way).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from calibrate.graph.spec import Graph, GraphError, Node, Step, Tolerance

SCHEMA_VERSION = 1
DEFAULT_GRAPH = "single-qubit"


class GraphFileError(GraphError):
    """A graph file is malformed, incomplete or names things that do not exist."""


def builtin_graphs() -> dict[str, Path]:
    folder = resources.files("calibrate.graphs")
    return {Path(f.name).stem: Path(str(f)) for f in folder.iterdir() if f.name.endswith(".toml")}


def load_graph(name_or_path: str | None = None) -> Graph:
    """A built-in graph by name (default: single-qubit), a graph TOML file by path, or a
    directory written by `calibrate train-controller`: the graph it was trained for (its
    `--graph`, the default graph unless given) with its learned recalibration node
    (calibrate.ml.learned_graph)."""
    name_or_path = name_or_path or DEFAULT_GRAPH
    builtin = builtin_graphs()
    path = builtin.get(name_or_path, Path(name_or_path))
    if path.is_dir() and (path / "controller.json").is_file():
        from calibrate.ml.learned_graph import with_learned_recalibration

        return with_learned_recalibration(load_graph(_base_graph(path)), path)
    if not path.is_file():
        raise GraphFileError(f"Graph {name_or_path!r} is neither a built-in graph ({', '.join(sorted(builtin))}) "
                             "nor an existing TOML file, nor a directory written by `calibrate train-controller`.")
    return _load_file(path, ())


MAX_EXTENDS = 8  # graphs extending graphs: deeper than this is a mistake (or a cycle)


def _load_file(path: Path, chain: tuple[Path, ...]) -> Graph:
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GraphFileError(f"Graph file {path}: not valid TOML ({exc}).") from None
    if "extends" not in data:
        return parse_graph(data, str(path))
    nodes = data.get("nodes")
    # a node table holding only `depends_on` re-wires the base's node of that name, keeping the rest
    rewired = {name: body["depends_on"] for name, body in nodes.items()
               if isinstance(body, dict) and set(body) == {"depends_on"}} if isinstance(nodes, dict) else {}
    name, own_nodes = _parsed_nodes({**data, "nodes": {k: v for k, v in nodes.items() if k not in rewired}}
                                    if rewired else data, str(path), allow_empty=bool(rewired))
    chain = (*chain, path.resolve())
    base = _extended(data["extends"], path, chain)
    missing = sorted(set(rewired) - {n.name for n in base.nodes})
    if missing:
        raise GraphFileError(f"{path}: node(s) {missing} give only `depends_on`, which re-wires a node of the base "
                             f"graph {data['extends']!r}, but it has no such node; its nodes are "
                             f"{[n.name for n in base.nodes]}.")
    for node_name, depends in rewired.items():
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise GraphFileError(f"{path}: node {node_name!r}: `depends_on` must be an array of node names.")
    own = {n.name: n for n in own_nodes}
    merged = [dataclasses.replace(n, depends_on=tuple(rewired[n.name])) if n.name in rewired else own.pop(n.name, n)
              for n in base.nodes] + [n for n in own_nodes if n.name in own]
    return _graph(name, merged, f"{path} (with the nodes of {data['extends']!r}, which it extends)")


def _extended(name: Any, path: Path, chain: tuple[Path, ...]) -> Graph:
    """The graph a file at `path` extends: a built-in graph by name, or a file relative to `path`'s folder."""
    builtin = builtin_graphs()
    if not isinstance(name, str) or not name:
        raise GraphFileError(f"{path}: `extends` is {name!r}, but must name a built-in graph "
                             f"({', '.join(sorted(builtin))}) or a graph TOML file.")
    base = builtin.get(name, path.parent / name)
    if not base.is_file():
        raise GraphFileError(f"{path}: `extends` is {name!r}, which is neither a built-in graph "
                             f"({', '.join(sorted(builtin))}) nor a graph file next to it.")
    if base.resolve() in chain or len(chain) >= MAX_EXTENDS:
        raise GraphFileError(f"{path}: `extends` is {name!r}, which leads back to a graph already being extended "
                             f"({' -> '.join(str(p) for p in chain)}).")
    return _load_file(base, chain)


def graph_reference(name_or_path: str | None) -> str:
    """How a controller directory names its base graph: a built-in graph by name, a graph file
    by absolute path (so `--graph DIR` finds it from any working directory)."""
    name_or_path = name_or_path or DEFAULT_GRAPH
    if name_or_path in builtin_graphs():
        return name_or_path
    path = Path(name_or_path)
    if path.is_dir():
        raise GraphFileError(f"--graph is {name_or_path!r}, a directory: the base graph of a learned node must be "
                             f"a built-in graph ({', '.join(sorted(builtin_graphs()))}) or a graph TOML file.")
    return str(path.resolve())


def _base_graph(controller_dir: Path) -> str:
    try:
        meta = json.loads((controller_dir / "controller.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GraphFileError(f"{controller_dir / 'controller.json'} cannot be read: {exc}.") from None
    base = meta.get("base_graph", DEFAULT_GRAPH) if isinstance(meta, dict) else DEFAULT_GRAPH
    if not isinstance(base, str):
        raise GraphFileError(f"{controller_dir / 'controller.json'}: base_graph is {base!r}, but must be a graph name or path.")
    return base


def parse_graph(data: dict[str, Any], source: str = "<graph>") -> Graph:
    """A graph from a TOML file's contents; `extends` needs the file (load_graph)."""
    name, nodes = _parsed_nodes(data, source)
    if "extends" in data:
        raise GraphFileError(f"{source}: `extends` names a graph relative to a file: load the file with load_graph.")
    return _graph(name, nodes, source)


def _parsed_nodes(data: dict[str, Any], source: str, *, allow_empty: bool = False) -> tuple[str, list[Node]]:
    _keys(data, {"schema", "name", "description", "extends", "nodes"}, {"schema", "name", "nodes"}, source)
    if data["schema"] != SCHEMA_VERSION:
        raise GraphFileError(f"{source}: `schema` is {data['schema']!r}, but this version reads schema {SCHEMA_VERSION}.")
    nodes = data["nodes"]
    if not isinstance(nodes, dict) or not (nodes or allow_empty):
        raise GraphFileError(f"{source}: `nodes` must be a table of at least one node.")
    return _typed(data, "name", str, source), [_node(name, body, f"{source}: node {name!r}") for name, body in nodes.items()]


def _graph(name: str, nodes: list[Node], source: str) -> Graph:
    try:
        return Graph(name=name, nodes=tuple(nodes))
    except GraphFileError:
        raise
    except GraphError as exc:
        raise GraphFileError(f"{source}: {exc}") from None


_NODE_KEYS = {"description", "depends_on", "fallback", "timeout_h", "update", "tolerance", "check", "calibrate"}


def _node(name: str, body: Any, where: str) -> Node:
    if not isinstance(body, dict):
        raise GraphFileError(f"{where} must be a table.")
    _keys(body, _NODE_KEYS, _NODE_KEYS - {"description", "depends_on", "fallback"}, where)
    steps = body["calibrate"]
    if not isinstance(steps, list) or not steps:
        raise GraphFileError(f"{where}: `calibrate` must be an array of at least one step ([[nodes.{name}.calibrate]]).")
    update = body["update"]
    # an empty name would pass here and only fail when the store refuses it, mid-run
    if not isinstance(update, dict) or not all(isinstance(v, str) and v for v in update.values()):
        raise GraphFileError(f"{where}: `update` must map fitted values to parameter names, e.g. {{ x_amp = \"x_amp\" }}.")
    tolerance = body["tolerance"]
    if not isinstance(tolerance, dict):
        raise GraphFileError(f"{where}: `tolerance` must be a table of fitted value -> {{ absolute, relative }}.")
    depends = body.get("depends_on", [])
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        raise GraphFileError(f"{where}: `depends_on` must be an array of node names.")
    fallback = body.get("fallback", [])
    if not isinstance(fallback, list) or not all(isinstance(d, str) for d in fallback):
        raise GraphFileError(f"{where}: `fallback` must be an array of node names.")
    calibrate = tuple(_step(s, f"{where} calibrate[{i}]") for i, s in enumerate(steps))
    check = _step(body["check"], f"{where} check")
    for value in set(update) | set(tolerance):
        for step in calibrate:
            _check_fit_value(step, value, where)
    for value in tolerance:  # a check is compared with the stored values through the tolerance alone
        _check_fit_value(check, value, where)
    try:
        return Node(name=name, calibrate=calibrate, check=check, update=update,
                    tolerance={k: _tolerance(v, f"{where} tolerance.{k}") for k, v in tolerance.items()},
                    timeout_h=_number(body, "timeout_h", where), depends_on=tuple(depends), fallback=tuple(fallback),
                    description=body.get("description", ""))
    except GraphFileError:
        raise
    except GraphError as exc:
        raise GraphFileError(f"{where}: {exc}") from None


def _step(body: Any, where: str) -> Step:
    from calibrate.procedures import check_procedure_options, is_procedure
    from experiments.registry import experiment_class

    if not isinstance(body, dict):
        raise GraphFileError(f"{where} must be a table with `experiment`.")
    _keys(body, {"experiment", "options", "shots"}, {"experiment"}, where)
    name = _typed(body, "experiment", str, where)
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise GraphFileError(f"{where}: `options` must be a table.")
    if is_procedure(name):
        if "shots" in body:
            raise GraphFileError(f"{where}: {name} plays the shots its controller was trained with; remove `shots`.")
        try:
            check_procedure_options(name, options)
        except ValueError as exc:
            raise GraphFileError(f"{where}: {exc}") from None
        return Step(experiment=name, options=options)
    try:
        cls = experiment_class(name)
    except KeyError as exc:
        raise GraphFileError(f"{where}: {exc.args[0]}") from None
    fields = {f.name for f in dataclasses.fields(cls)} - {"qubit"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise GraphFileError(f"{where}: experiment {name} has no option(s) {unknown}; its options are {sorted(fields)}.")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    _check_option_types(cls, name, options, where)
    try:
        step = Step(experiment=name, options=options, shots=body.get("shots", 1000))
        cls(**options)  # the experiment checks its own option values
    except (GraphError, ValueError, TypeError) as exc:
        raise GraphFileError(f"{where}: {exc}") from None
    return step


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# Annotation of an experiment option -> (check, what the message asks for). The experiments
# check option values, not types: `points = "15"` would only fail deep inside a run.
_OPTION_KINDS = {
    "int": (_is_int, "an integer"),
    "float": (_is_number, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "tuple[int, ...]": (lambda v: isinstance(v, tuple) and all(_is_int(x) for x in v), "an array of integers"),
    "tuple[float, ...]": (lambda v: isinstance(v, tuple) and all(_is_number(x) for x in v), "an array of numbers"),
}


def _check_option_types(cls: type, name: str, options: dict, where: str) -> None:
    types = {f.name: f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
             for f in dataclasses.fields(cls)}
    for key, value in options.items():
        check, wanted = _OPTION_KINDS.get(types[key].removesuffix(" | None"), (None, ""))
        if check is not None and not check(value):
            raise GraphFileError(f"{where}: option `{key}` of experiment {name} must be {wanted}, but is {value!r}.")


def _check_fit_value(step: Step, value: str, where: str) -> None:
    from calibrate.procedures import is_procedure, procedure_values
    from experiments.registry import fitted_values

    names = procedure_values(step.experiment) if is_procedure(step.experiment) else fitted_values(step.experiment, step.options)
    if value not in names:
        raise GraphFileError(f"{where}: experiment {step.experiment} fits no value {value!r}; "
                             f"it fits {sorted(names)}.")


def _tolerance(body: Any, where: str) -> Tolerance:
    if not isinstance(body, dict):
        raise GraphFileError(f"{where} must be a table like {{ absolute = 1e-4 }} or {{ relative = 0.05 }}.")
    _keys(body, {"absolute", "relative"}, set(), where)
    try:
        return Tolerance(absolute=body.get("absolute", 0.0), relative=body.get("relative", 0.0))
    except GraphError as exc:
        raise GraphFileError(f"{where}: {exc}") from None


def _keys(table: dict, allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise GraphFileError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}.")
    missing = sorted(required - set(table))
    if missing:
        raise GraphFileError(f"{where}: missing key(s) {missing}.")


def _typed(table: dict, key: str, kind: type, where: str):
    value = table[key]
    if not isinstance(value, kind) or (kind is str and not value):
        raise GraphFileError(f"{where}: `{key}` must be a non-empty {kind.__name__}, but is {value!r}.")
    return value


def _number(table: dict, key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GraphFileError(f"{where}: `{key}` must be a number, but is {value!r}.")
    return float(value)
