"""Calibration graphs as files: the built-in default graph, and every way a graph file can be
wrong, each refused with a message that names the file, the node and the key (in-process)."""

from __future__ import annotations

import copy
import dataclasses
import re
import tomllib

import pytest

from calibrate.graph.spec import Graph, GraphError, Node, Step, Tolerance
from calibrate.graph.toml import GraphFileError, builtin_graphs, load_graph, parse_graph

SOURCE = "lab/graph.toml"

# rabi -> fine_amplitude, the shape of the default graph's amplitude branch
SMALL = """
schema = 1
name = "small"
description = "Amplitudes only"
[nodes.rabi]
description = "X and SX amplitudes"
timeout_h = 10.0
update = { x_amp = "x_amp", sx_amp = "sx_amp" }
tolerance.x_amp = { relative = 0.03 }
check = { experiment = "rabi", shots = 200, options = { points = 15 } }
[[nodes.rabi.calibrate]]
experiment = "rabi"
[nodes.fine_amplitude]
depends_on = ["rabi"]
timeout_h = 20
update = { x_amp = "x_amp", sx_amp = "sx_amp" }
tolerance.x_amp = { absolute = 1e-4, relative = 0.002 }
check = { experiment = "fine_amplitude", shots = 300, options = { max_repetitions = 10 } }
[[nodes.fine_amplitude.calibrate]]
experiment = "fine_amplitude"
[[nodes.fine_amplitude.calibrate]]
experiment = "fine_amplitude"
shots = 500
options = { max_repetitions = 12 }
"""


def small() -> dict:
    return tomllib.loads(SMALL)


def refused(data: dict) -> str:
    with pytest.raises(GraphFileError) as info:
        parse_graph(data, SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: "), message
    return message


# --- the default graph ------------------------------------------------------------------

def test_the_default_graph_is_built_in_and_loads_by_name_or_path():
    assert "single-qubit" in builtin_graphs()
    graph = load_graph()
    assert graph.name == "single-qubit"
    assert load_graph("single-qubit") == graph
    assert load_graph(str(builtin_graphs()["single-qubit"])) == graph


def test_the_default_graph_runs_spectroscopy_first_and_rb_last_in_dependency_order():
    graph = load_graph()
    names = [n.name for n in graph.nodes]
    assert names[0] == "spectroscopy" and names[-1] == "rb"
    assert set(names) == {"spectroscopy", "rabi", "ramsey", "drag", "fine_amplitude", "fine_drag", "t1", "t2", "rb"}
    for i, node in enumerate(graph.nodes):
        assert all(names.index(dep) < i for dep in node.depends_on), (node.name, node.depends_on)
    assert graph.leaves() == ("rb",)
    assert graph.ancestors("rb") == set(names) - {"rb"}


def test_every_default_node_has_a_tolerance_a_timeout_and_a_check():
    from experiments.registry import fitted_values

    for node in load_graph().nodes:
        assert node.tolerance and set(node.tolerance) <= set(node.update), node.name
        assert 0 < node.timeout_h < float("inf"), node.name
        assert isinstance(node.check, Step) and node.calibrate, node.name
        for step in (*node.calibrate, node.check):
            assert set(node.update) <= set(fitted_values(step.experiment)), (node.name, step.experiment)


def test_nodes_are_put_in_dependency_order_whatever_the_file_order():
    data = small()
    data["nodes"] = dict(reversed(data["nodes"].items()))
    assert list(data["nodes"]) == ["fine_amplitude", "rabi"]
    assert [n.name for n in parse_graph(data, SOURCE).nodes] == ["rabi", "fine_amplitude"]


# --- Python and TOML say the same thing ---------------------------------------------------

def test_a_graph_declared_in_python_equals_the_same_graph_from_toml():
    rabi = Node(
        name="rabi", description="X and SX amplitudes", timeout_h=10.0,
        calibrate=(Step("rabi"),), check=Step("rabi", {"points": 15}, shots=200),
        update={"x_amp": "x_amp", "sx_amp": "sx_amp"}, tolerance={"x_amp": Tolerance(relative=0.03)})
    fine = Node(
        name="fine_amplitude", depends_on=("rabi",), timeout_h=20.0,
        calibrate=(Step("fine_amplitude"), Step("fine_amplitude", {"max_repetitions": 12}, shots=500)),
        check=Step("fine_amplitude", {"max_repetitions": 10}, shots=300),
        update={"x_amp": "x_amp", "sx_amp": "sx_amp"},
        tolerance={"x_amp": Tolerance(absolute=1e-4, relative=0.002)})
    declared = Graph(name="small", nodes=(fine, rabi))  # any order: Graph sorts by dependency
    loaded = parse_graph(small(), SOURCE)
    assert loaded == declared
    assert loaded.nodes == (rabi, fine)
    # and a difference anywhere is a different graph
    assert parse_graph(_with(small(), "nodes.rabi.check.shots", 201), SOURCE) != declared


def test_array_options_become_tuples_as_in_python():
    data = small()
    data["nodes"]["rabi"]["check"] = {"experiment": "drag", "options": {"repetitions": [3, 5]}}
    data["nodes"]["rabi"]["update"] = {"beta": "beta"}
    data["nodes"]["rabi"]["tolerance"] = {"beta": {"absolute": 0.05}}
    data["nodes"]["rabi"]["calibrate"] = [{"experiment": "drag"}]
    del data["nodes"]["fine_amplitude"]
    step = parse_graph(data, SOURCE).node("rabi").check
    assert step == Step("drag", {"repetitions": (3, 5)}, shots=1000)


# --- malformed files ------------------------------------------------------------------------

def _with(data: dict, dotted: str, value) -> dict:
    """`data` with the key at `dotted` set to `value` (or removed when value is DELETE)."""
    data = copy.deepcopy(data)
    *path, last = dotted.split(".")
    table = data
    for key in path:
        table = table[key]
    if value is DELETE:
        del table[last]
    else:
        table[last] = value
    return data


DELETE = object()


@pytest.mark.parametrize("schema", [2, 0, "1"])
def test_a_wrong_schema_is_refused(schema):
    message = refused(_with(small(), "schema", schema))
    assert f"`schema` is {schema!r}, but this version reads schema 1" in message


@pytest.mark.parametrize("dotted, missing, where", [
    ("schema", "schema", ""),
    ("name", "name", ""),
    ("nodes", "nodes", ""),
    ("nodes.rabi.check", "check", "node 'rabi'"),
    ("nodes.rabi.timeout_h", "timeout_h", "node 'rabi'"),
    ("nodes.rabi.update", "update", "node 'rabi'"),
    ("nodes.rabi.tolerance", "tolerance", "node 'rabi'"),
    ("nodes.fine_amplitude.calibrate", "calibrate", "node 'fine_amplitude'"),
    ("nodes.rabi.check.experiment", "experiment", "node 'rabi' check"),
])
def test_missing_keys_are_named(dotted, missing, where):
    message = refused(_with(small(), dotted, DELETE))
    assert where in message and f"missing key(s) ['{missing}']" in message, message


@pytest.mark.parametrize("dotted, where", [
    ("nodez", ""),
    ("nodes.rabi.timout_h", "node 'rabi'"),
    ("nodes.rabi.check.shot", "node 'rabi' check"),
    ("nodes.rabi.tolerance.x_amp.relativ", "node 'rabi' tolerance.x_amp"),
])
def test_unknown_keys_are_named_with_what_is_allowed(dotted, where):
    message = refused(_with(small(), dotted, 1))
    typo = dotted.rsplit(".", 1)[-1]
    assert where in message and f"unknown key(s) ['{typo}']; allowed:" in message, message


def test_an_unknown_experiment_or_option_is_named():
    message = refused(_with(small(), "nodes.rabi.check.experiment", "rabbi"))
    assert "node 'rabi' check: Unknown experiment 'rabbi'" in message and "fine_amplitude" in message
    message = refused(_with(small(), "nodes.rabi.check.options", {"pionts": 15}))
    assert "node 'rabi' check: experiment rabi has no option(s) ['pionts']; its options are ['points', 'span']" in message
    message = refused(_with(small(), "nodes.rabi.check.options", {"qubit": 1}))  # the qubit comes from the run
    assert "has no option(s) ['qubit']" in message


@pytest.mark.parametrize("value, wanted", [("15", "an integer"), (15.5, "an integer"), (True, "an integer"),
                                            ({"a": 1}, "an integer")])
def test_an_option_of_the_wrong_type_is_refused_before_any_run(value, wanted):
    message = refused(_with(small(), "nodes.rabi.check.options", {"points": value}))
    assert f"node 'rabi' check: option `points` of experiment rabi must be {wanted}, but is {value!r}" in message


def test_option_types_follow_the_experiment():
    data = _with(small(), "nodes.rabi.check.options", {"points": 15, "span": 2})  # an integer is a number
    assert parse_graph(data, SOURCE).node("rabi").check.options == {"points": 15, "span": 2}
    message = refused(_with(small(), "nodes.rabi.check", {"experiment": "drag", "options": {"repetitions": [1, 2.5]}}))
    assert "option `repetitions` of experiment drag must be an array of integers, but is (1, 2.5)" in message
    # the value itself is the experiment's to judge
    message = refused(_with(small(), "nodes.fine_amplitude.check.options", {"max_repetitions": 3}))
    assert "node 'fine_amplitude' check: FineAmplitude.max_repetitions must be >= 6, got 3" in message


@pytest.mark.parametrize("tolerance, problem", [
    ({"relative": -0.03}, "Tolerance `relative` must be a finite number >= 0, but is -0.03"),
    ({"absolute": -1e-4}, "Tolerance `absolute` must be a finite number >= 0, but is -0.0001"),
    ({"absolute": float("inf")}, "Tolerance `absolute` must be a finite number >= 0, but is inf"),
    ({"relative": "5%"}, "Tolerance `relative` must be a finite number >= 0, but is '5%'"),
    ({"relative": 0}, "A tolerance needs `absolute` or `relative` > 0"),
    ({}, "A tolerance needs `absolute` or `relative` > 0"),
    (0.03, "must be a table like { absolute = 1e-4 } or { relative = 0.05 }"),
])
def test_a_bad_tolerance_is_refused(tolerance, problem):
    message = refused(_with(small(), "nodes.rabi.tolerance.x_amp", tolerance))
    assert "node 'rabi' tolerance.x_amp" in message and problem in message, message


def test_a_node_without_any_tolerance_is_refused():
    message = refused(_with(small(), "nodes.rabi.tolerance", {}))
    assert "node 'rabi'" in message and "has no tolerance" in message


@pytest.mark.parametrize("timeout, problem", [
    (0, "`timeout_h` must be a finite number of hours > 0, but is 0.0"),
    (-1.0, "`timeout_h` must be a finite number of hours > 0, but is -1.0"),
    (float("inf"), "`timeout_h` must be a finite number of hours > 0, but is inf"),
    ("10", "`timeout_h` must be a number, but is '10'"),
    (True, "`timeout_h` must be a number, but is True"),
])
def test_a_bad_timeout_is_refused(timeout, problem):
    message = refused(_with(small(), "nodes.rabi.timeout_h", timeout))
    assert "node 'rabi'" in message and problem in message, message


@pytest.mark.parametrize("update", [["x_amp"], "x_amp", {"x_amp": 1}, {"x_amp": ["x_amp"]}, {"x_amp": ""}])
def test_update_must_be_a_table_of_parameter_names(update):
    message = refused(_with(small(), "nodes.rabi.update", update))
    assert "node 'rabi': `update` must map fitted values to parameter names" in message


def test_a_node_that_updates_nothing_is_refused():
    message = refused(_with(_with(small(), "nodes.rabi.update", {}), "nodes.rabi.tolerance", {}))
    assert "node 'rabi'" in message and "updates nothing" in message


def test_a_tolerance_on_a_value_the_node_does_not_update_is_refused():
    message = refused(_with(small(), "nodes.rabi.update", {"sx_amp": "sx_amp"}))
    assert "node 'rabi'" in message
    assert "tolerance on ['x_amp'], which the node does not update; it updates ['sx_amp']" in message


def test_a_fit_value_the_experiment_does_not_produce_is_refused():
    message = refused(_with(small(), "nodes.rabi.update", {"x_amp": "x_amp", "beta": "beta"}))
    assert "node 'rabi': experiment rabi fits no value 'beta'; it fits ['contrast', 'offset', 'sx_amp', 'x_amp']" in message
    # the check must fit the values its tolerance compares, or it could not be compared with them
    message = refused(_with(small(), "nodes.rabi.check", {"experiment": "t1"}))
    assert "node 'rabi': experiment t1 fits no value 'x_amp'" in message
    assert "it fits ['amplitude', 'offset', 't1']" in message
    # but not the others: the readout graph's discriminator is checked by reading discriminated
    # shots through the stored boundary, which fits the fidelity, not a new boundary
    discriminator = load_graph("readout").node("discriminator")
    assert discriminator.check.experiment == "readout" and set(discriminator.tolerance) == {"assignment_fidelity"}
    assert "readout_angle" in discriminator.update


def test_two_unrelated_nodes_updating_the_same_parameter_are_refused():
    message = refused(_with(small(), "nodes.fine_amplitude.depends_on", []))
    assert ("Nodes 'rabi' and 'fine_amplitude' both update 'x_amp' but neither depends on the other" in message
            or "Nodes 'fine_amplitude' and 'rabi' both update" in message), message
    # the same parameter down one branch is a refinement: allowed (rabi -> fine_amplitude)
    assert parse_graph(small(), SOURCE).node("fine_amplitude").parameters == ("x_amp", "sx_amp")


def test_dependencies_must_exist_and_form_no_cycle():
    message = refused(_with(small(), "nodes.fine_amplitude.depends_on", ["rabi", "ramsey"]))
    assert "Node 'fine_amplitude' depends on unknown node(s) ['ramsey']; the graph has ['rabi', 'fine_amplitude']" in message
    message = refused(_with(small(), "nodes.rabi.depends_on", ["fine_amplitude"]))
    assert re.search(r"The graph has a cycle: (rabi -> fine_amplitude -> rabi|fine_amplitude -> rabi -> fine_amplitude)",
                     message), message
    message = refused(_with(small(), "nodes.rabi.depends_on", ["rabi"]))
    assert "Node 'rabi' depends on itself" in message
    message = refused(_with(small(), "nodes.fine_amplitude.depends_on", "rabi"))
    assert "node 'fine_amplitude': `depends_on` must be an array of node names" in message


@pytest.mark.parametrize("dotted, value, problem", [
    ("nodes", {}, "`nodes` must be a table of at least one node"),
    ("nodes.rabi", 3, "node 'rabi' must be a table"),
    ("nodes.rabi.calibrate", [], "node 'rabi': `calibrate` must be an array of at least one step"),
    ("nodes.rabi.calibrate", ["rabi"], "node 'rabi' calibrate[0] must be a table with `experiment`"),
    ("nodes.rabi.check.shots", 0, "node 'rabi' check: Step `shots` must be an integer in 1..10^7, but is 0"),
    ("nodes.rabi.check.shots", 1.5, "Step `shots` must be an integer in 1..10^7, but is 1.5"),
    ("nodes.rabi.check.options", [15], "node 'rabi' check: `options` must be a table"),
    ("name", "", "`name` must be a non-empty str, but is ''"),
])
def test_other_shapes_are_refused(dotted, value, problem):
    assert problem in refused(_with(small(), dotted, value))


def test_node_names_are_identifiers():
    data = small()
    data["nodes"]["fine amplitude!"] = data["nodes"].pop("fine_amplitude")
    assert "Node name 'fine amplitude!' must be letters, digits and underscores" in refused(data)


def test_load_graph_names_the_file_it_could_not_read(tmp_path):
    path = tmp_path / "graph.toml"
    path.write_text(SMALL + "\n[nodes.rabi\n")
    with pytest.raises(GraphFileError, match=re.escape(f"Graph file {path}: not valid TOML")):
        load_graph(str(path))
    path.write_bytes(b"schema = 1\nname = \"\xff\"\n")
    with pytest.raises(GraphFileError, match="not valid TOML"):
        load_graph(str(path))
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(GraphFileError, match=re.escape(repr(missing)) + r" is neither a built-in graph "
                                             r"\(.*single-qubit.*\) nor an existing TOML file"):
        load_graph(missing)
    path.write_text(SMALL.replace("timeout_h = 20", "timeout_h = 0"))
    with pytest.raises(GraphFileError, match=re.escape(f"{path}: node 'fine_amplitude'")):
        load_graph(str(path))


def test_graph_file_errors_are_graph_errors_and_value_errors():
    # the CLI maps both to exit status 2
    assert issubclass(GraphFileError, GraphError) and issubclass(GraphError, ValueError)


# --- extends ----------------------------------------------------------------------------

EXTENSION = """
schema = 1
name = "small-plus"
extends = "small.toml"
[nodes.rabi]
timeout_h = 5.0
update = { x_amp = "x_amp", sx_amp = "sx_amp" }
tolerance.x_amp = { relative = 0.05 }
check = { experiment = "rabi", shots = 100, options = { points = 15 } }
[[nodes.rabi.calibrate]]
experiment = "rabi"
[nodes.t1]
depends_on = ["fine_amplitude"]
timeout_h = 72.0
update = { t1 = "t1" }
tolerance.t1 = { relative = 0.3 }
check = { experiment = "t1", shots = 100, options = { points = 25 } }
[[nodes.t1.calibrate]]
experiment = "t1"
"""


def test_a_graph_extends_another_replacing_its_nodes_by_name_and_adding_its_own(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL)
    (tmp_path / "plus.toml").write_text(EXTENSION)
    graph, base = load_graph(str(tmp_path / "plus.toml")), load_graph(str(tmp_path / "small.toml"))
    assert graph.name == "small-plus" and [n.name for n in graph.nodes] == ["rabi", "fine_amplitude", "t1"]
    assert graph.node("rabi").timeout_h == 5.0 and graph.node("fine_amplitude") == base.node("fine_amplitude")
    # the shipped emulator-full graph is the emulator graph's nodes, then T1, echo and RB
    full, emulator = load_graph("emulator-full"), load_graph("emulator")
    assert full.nodes[:len(emulator.nodes)] == emulator.nodes
    assert [n.name for n in full.nodes[len(emulator.nodes):]] == ["t1", "t2", "rb"]


REWIRED = EXTENSION.replace('name = "small-plus"', 'name = "rewired"').replace(
    'depends_on = ["fine_amplitude"]', 'depends_on = ["rabi"]') + '[nodes.fine_amplitude]\ndepends_on = ["t1"]\n'


def test_a_node_given_only_depends_on_rewires_the_base_graphs_node(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL)
    plus = tmp_path / "plus.toml"
    plus.write_text(REWIRED)
    graph, base = load_graph(str(plus)), load_graph(str(tmp_path / "small.toml"))
    moved = graph.node("fine_amplitude")
    assert moved.depends_on == ("t1",) and moved.calibrate == base.node("fine_amplitude").calibrate
    assert moved.check == base.node("fine_amplitude").check and moved.timeout_h == base.node("fine_amplitude").timeout_h
    assert [n.name for n in graph.nodes] == ["rabi", "t1", "fine_amplitude"]
    plus.write_text(REWIRED.replace('depends_on = ["rabi"]', 'depends_on = ["fine_amplitude"]'))
    with pytest.raises(GraphFileError, match="cycle"):
        load_graph(str(plus))
    plus.write_text(EXTENSION + '[nodes.ramsey]\ndepends_on = ["rabi"]\n')
    with pytest.raises(GraphFileError, match=re.escape("node(s) ['ramsey'] give only `depends_on`, which re-wires a "
                                                       "node of the base graph 'small.toml', but it has no such node")):
        load_graph(str(plus))
    plus.write_text(EXTENSION + '[nodes.fine_amplitude]\ndepends_on = "rabi"\n')
    with pytest.raises(GraphFileError, match=re.escape("node 'fine_amplitude': `depends_on` must be an array")):
        load_graph(str(plus))
    # the shipped readout graph: the default graph with the readout nodes between Rabi and the rest
    readout, default = load_graph("readout"), load_graph("single-qubit")
    assert [n.name for n in readout.nodes][:6] == ["spectroscopy", "rabi", "resonator", "readout_amplitude",
                                                  "readout_duration", "discriminator"]
    for name in ("ramsey", "t1", "t2"):
        assert readout.node(name).depends_on == ("discriminator",)
        assert dataclasses.replace(readout.node(name), depends_on=default.node(name).depends_on) == default.node(name)
    assert {n.name for n in readout.nodes} - {n.name for n in default.nodes} == {
        "resonator", "readout_amplitude", "readout_duration", "discriminator", "ef_frequency", "ef_amplitude",
        "three_state"}
    assert set(readout.leaves()) == {"rb", "three_state"}


def test_extends_must_name_a_graph_and_must_not_come_back_to_itself(tmp_path):
    plus = tmp_path / "plus.toml"
    plus.write_text(EXTENSION)
    with pytest.raises(GraphFileError, match=re.escape(f"{plus}: `extends` is 'small.toml', which is neither a "
                                                       "built-in graph (") + ".*single-qubit"):
        load_graph(str(plus))  # no small.toml next to it
    (tmp_path / "small.toml").write_text(SMALL.replace('description = "Amplitudes only"', 'extends = "plus.toml"'))
    with pytest.raises(GraphFileError, match="leads back to a graph already being extended"):
        load_graph(str(plus))
    plus.write_text(EXTENSION.replace('extends = "small.toml"', "extends = 3"))
    with pytest.raises(GraphFileError, match=re.escape("`extends` is 3, but must name a built-in graph")):
        load_graph(str(plus))
    with pytest.raises(GraphFileError, match="load the file with load_graph"):
        parse_graph({**small(), "extends": "single-qubit"}, SOURCE)
