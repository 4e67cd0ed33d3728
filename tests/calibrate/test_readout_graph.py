"""The readout graph's readout nodes on sim-5q: from the design's readout values to an assignment
fidelity within 0.5 % of the best the readout model allows (computed here from the truth), and
a resonator that moved by a linewidth caught by its check and recalibrated. (The graph's nodes
after the discriminator are the default graph's, which its own tests cover; bench/readout.py
compares the whole graph's final gates with the default graph's.)"""

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
