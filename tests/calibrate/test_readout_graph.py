"""The readout graph's readout nodes on sim-5q: from the design's readout values to an assignment
fidelity within 0.5 % of the best the readout model allows (computed here from the truth), and
a resonator that moved by a linewidth caught by its check and recalibrated. (The graph's nodes
after the discriminator are the default graph's, which its own tests cover; bench/readout.py
compares the whole graph's final gates with the default graph's.) And the pair graph's leakage
node, reading the ECR's leakage through the three-state discriminators the readout graph stores."""

from __future__ import annotations

import numpy as np
import pytest

from calibrate.graph.spec import Graph
from calibrate.graph.toml import load_graph
from calibrate.run import RunRequest, run_calibration
from calibrate.store import Store
from devices.catalog import load_spec
from devices.readout import ReadoutPulse
from devices.simulated import SimulatedDevice
from support.readout_truth import model_fidelity

TARGET = 0.005  # the issue's: within 0.5 % of the model's best


def stored_pulse(report: dict, qubit: int, duration: float) -> ReadoutPulse:
    values = report["qubits"][str(qubit)]["parameters"]
    return ReadoutPulse(values["readout_frequency"]["value"], values["readout_amp"]["value"], duration)


def models_best(device, qubit: int, duration: float) -> float:
    """The best fidelity over readout frequency and amplitude at the pulse's duration (the graph
    keeps the design's), on a grid finer than the nodes'."""
    resonator = device.truth().resonators[qubit]
    middle = float(resonator.frequency) + float(resonator.chi[1]) / 2
    return max(model_fidelity(device, qubit, ReadoutPulse(middle + df, amp, duration), shots=60_000)
               for df in np.linspace(-4e-4, 4e-4, 5) for amp in np.arange(0.3, 1.0001, 0.05))


def readout_nodes() -> Graph:
    """The readout graph up to its discriminator: what this test is about."""
    graph = load_graph("readout")
    kept = graph.ancestors("discriminator") | {"discriminator"}
    return Graph(name="readout-nodes", nodes=tuple(n for n in graph.nodes if n.name in kept))


@pytest.mark.slow
def test_the_readout_graph_reaches_the_models_best_fidelity_and_catches_a_moved_resonator(tmp_path):
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=44)
    qubit = 1
    duration = spec.qubits[qubit].readout.pulse_duration
    request = RunRequest(qubits=(qubit,), graph=readout_nodes(), data_dir=tmp_path)
    with Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        first = run_calibration(store, request, device=device)
        assert first["qubits"][str(qubit)]["status"] == "calibrated", first["qubits"][str(qubit)]["failed_nodes"]
        reached = model_fidelity(device, qubit, stored_pulse(first, qubit, duration), shots=60_000)
        best = models_best(device, qubit, duration)
        assert best - reached < TARGET, (reached, best)
        # the resonator moves by a linewidth; a day later maintain checks the resonator node
        device.jump_resonator(qubit, ghz=float(device.truth().resonators[qubit].linewidth))
        device.advance(hours=25.0)
        moved = model_fidelity(device, qubit, stored_pulse(first, qubit, duration), shots=60_000)
        second = run_calibration(store, request, device=device)
    events = [(n["action"], n["outcome"]) for n in second["qubits"][str(qubit)]["nodes"] if n["node"] == "resonator"]
    assert ("check_data", "out_of_spec") in events and ("calibrate", "calibrated") in events, events
    assert second["qubits"][str(qubit)]["status"] == "calibrated"
    recovered = model_fidelity(device, qubit, stored_pulse(second, qubit, duration), shots=60_000)
    assert moved < reached - 0.01 < recovered, (reached, moved, recovered)
    assert models_best(device, qubit, duration) - recovered < TARGET


@pytest.mark.slow
def test_the_pair_graphs_leakage_node_reads_the_ecrs_leakage_through_the_stored_three_state_discriminators(tmp_path):
    # the qubits' readout up to their three-state discriminators, then the pair's CR gate and its
    # leakage readout (the two-qubit-leakage graph without its RB)
    readout = load_graph("readout")
    kept = readout.ancestors("three_state") | {"three_state"}
    qubit_graph = Graph(name="three-state", nodes=tuple(n for n in readout.nodes if n.name in kept))
    pair_graph = load_graph("two-qubit-leakage")
    pair_graph = Graph(name="leakage", nodes=tuple(n for n in pair_graph.nodes if n.name != "ecr_irb"))
    device = SimulatedDevice(load_spec("sim-5q"), seed=0)
    request = RunRequest(qubits=(0, 1), graph=qubit_graph, pair_graph=pair_graph, data_dir=tmp_path)
    with Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        report = run_calibration(store, request, device=device)
    pair = report["pairs"]["1-0"]
    assert pair["status"] == "calibrated", pair["failed_nodes"]
    leakage = next(n for n in pair["nodes"] if n["node"] == "ecr_leakage@0")
    # 2000 shots of each of 8 lengths x 4 random sequences and 3 levels x 4 references
    assert leakage["shots"] == 2000 * (8 * 4 + 3 * 4)
    measured, truth = pair["parameters"]["ecr_leakage"], pair["truth"]["leakage"]
    assert abs(measured["value"] - truth) < 3 * measured["stderr"] + 0.2 * truth, (measured, truth)
    assert measured["stderr"] < 1e-3  # after the readout nodes: a bound well under max_leakage
