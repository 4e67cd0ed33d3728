"""Pairs in the device-wide calibration: which pairs and which direction, their names in the
store, graph kinds. A run that calibrates every pair's echoed cross-resonance gate, and the pairs
in `status`, `revert` and a run of a subset of the qubits, are in test_maintain.py (sim-5q)."""

from __future__ import annotations

import pytest

from calibrate.graph.spec import GraphError
from calibrate.graph.toml import load_graph
from calibrate.pairs import check_graph_kind, coupled_pairs, regroup, split_stored_name, stored_name
from devices.catalog import load_spec
from support.cli import calibrate


def test_every_coupled_pair_is_calibrated_once_from_its_higher_frequency_qubit():
    spec = load_spec("sim-5q")  # 4.60, 5.05, 4.62, 5.07, 4.64 GHz in a line
    assert coupled_pairs(spec, range(5)) == ((1, 0), (1, 2), (3, 2), (3, 4))
    assert coupled_pairs(spec, (0, 1, 3)) == ((1, 0),)
    assert coupled_pairs(spec, (0, 2, 4)) == ()
    assert coupled_pairs(load_spec("sim-1q"), (0,)) == ()


def test_pair_values_live_on_the_control_qubit_under_their_target():
    assert stored_name("cr_width", 0) == "cr_width@0"
    assert stored_name("x_amp", None) == "x_amp"
    assert split_stored_name("cr_width@0") == ("cr_width", 0)
    assert split_stored_name("x_amp") == ("x_amp", None)
    assert split_stored_name("odd@name") == ("odd@name", None)  # not a target: stays a qubit's name
    qubits, pairs = regroup({(1, "x_amp"): 0.5, (1, "cr_width@0"): 300.0, (3, "cr_width@2"): 250.0})
    assert qubits == {1: {"x_amp": 0.5}}
    assert pairs == {(1, 0): {"cr_width": 300.0}, (3, 2): {"cr_width": 250.0}}


def test_a_graph_of_the_wrong_kind_is_refused_with_the_node():
    check_graph_kind(load_graph("two-qubit"), pairs=True)
    check_graph_kind(load_graph("single-qubit"), pairs=False)
    with pytest.raises(GraphError, match="node 'cr_hamiltonian' runs cr_tomography, which measures two qubits"):
        check_graph_kind(load_graph("two-qubit"), pairs=False)
    with pytest.raises(GraphError, match="node 'spectroscopy' runs spectroscopy, which measures one qubit"):
        check_graph_kind(load_graph("single-qubit"), pairs=True)


def test_run_refuses_a_pair_graph_as_the_qubit_graph(tmp_path):
    out = calibrate("run", "--device", "sim-5q", "--graph", "two-qubit", "--store",
                    f"sqlite:///{tmp_path / 'store.sqlite'}", cwd=tmp_path)
    assert out.returncode == 2 and "which measures two qubits" in out.stderr
    assert not (tmp_path / "store.sqlite").exists()


def test_the_nightly_summary_judges_pairs_like_qubits():
    from calibrate.nightly import summarize

    truth = {"gate_error": 0.03, "coherence_limit": 0.02, "leakage": 0.001}
    qubit = {"truth": {**truth, "gate_error": 0.0002, "coherence_limit": 0.0002}, "failed_nodes": {}}
    pair = {"truth": truth, "failed_nodes": {"ecr_irb": "bad fit"}}
    report = {"device": "sim-5q", "seed": 0, "run_id": 1, "shots": 10, "seconds": 1.0,
              "qubits": {"0": qubit, "1": qubit}, "pairs": {"1-0": pair}}
    night = summarize([[report]])["nights"][0]
    assert night["error_over_limit"] == {"0": 1.0, "1": 1.0, "1-0": pytest.approx(1.5)}
    assert night["failed"] == {"1-0": {"ecr_irb": "bad fit"}}
