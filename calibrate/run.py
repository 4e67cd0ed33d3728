"""One calibration run: maintain (or recalibrate) a graph on chosen qubits of a device,
recording everything in the store, and report in the JSON contract of DESIGN.md.

A simulated device's state (clock, drift, random streams) lives in the store, so a
second run continues the same device. It is saved after every qubit: a killed run
loses at most the device time of one qubit, never a stored value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from calibrate.graph.policy import Policy
from calibrate.graph.spec import Graph
from calibrate.node_actions import NodeEvent, QubitActions
from calibrate.store import Store
from devices.device_spec import DeviceSpec
from devices.simulated import SimulatedDevice


@dataclass(frozen=True)
class Maintain:
    """Kelly et al.'s maintain: experiments only where the policy needs them."""


@dataclass(frozen=True)
class RecalibrateAll:
    """Calibrate every node, whatever its state: the baseline maintain is measured against."""


@dataclass(frozen=True)
class RunRequest:
    spec: DeviceSpec
    seed: int
    qubits: tuple[int, ...]
    graph: Graph
    strategy: Maintain | RecalibrateAll = field(default_factory=Maintain)
    data_dir: Path | None = None
    command: str = "run"


def device_id(spec: DeviceSpec, seed: int) -> str:
    """The store's name for a simulated device: the design and the seed that drew it."""
    return f"{spec.name}/seed-{seed}"


def open_device(store: Store, spec: DeviceSpec, seed: int) -> SimulatedDevice:
    """The simulated device as the store last left it (fresh from fabrication the first time)."""
    device = SimulatedDevice(spec, seed=seed)
    state = store.load_device_state(device_id(spec, seed))
    if state is not None:
        device.restore(state)
    return device


def check_qubits(spec: DeviceSpec, qubits: Sequence[int] | None) -> tuple[int, ...]:
    if qubits is None:
        return tuple(range(spec.n_qubits))
    bad = [q for q in qubits if not 0 <= q < spec.n_qubits]
    if bad or not qubits:
        raise ValueError(f"--qubits is {list(qubits)}, but {spec.name} has qubits 0..{spec.n_qubits - 1}.")
    return tuple(dict.fromkeys(qubits))


def run_calibration(store: Store, request: RunRequest, *, device: SimulatedDevice | None = None,
                    on_event: Callable[[NodeEvent], None] | None = None,
                    on_start: Callable[[int, str, str], None] | None = None) -> dict:
    """Run the graph on each requested qubit in turn; return the run's report."""
    started = time.perf_counter()
    ident = device_id(request.spec, request.seed)
    device = device or open_device(store, request.spec, request.seed)
    run_id = store.start_run(ident, command=request.command, qubits=list(request.qubits),
                             device_seed=request.seed)
    shots = 0
    events: dict[int, list[NodeEvent]] = {}
    policies: dict[int, Policy] = {}
    try:
        for qubit in request.qubits:
            actions = QubitActions(store=store, run_id=run_id, device=device, device_id=ident,
                                   spec=request.spec, qubit=qubit, data_dir=request.data_dir,
                                   on_event=on_event, on_start=on_start)
            policy = Policy(request.graph, actions)
            if isinstance(request.strategy, RecalibrateAll):
                policy.calibrate_all()
            else:
                policy.maintain_all()
            shots += actions.shots
            events[qubit] = actions.events
            policies[qubit] = policy
            store.save_device_state(ident, device.state(), run_id=run_id)
    except BaseException:
        store.finish_run(run_id, status="error", shots=shots, seconds=time.perf_counter() - started)
        raise
    report = build_report(store, request, device, run_id, events, policies, shots, time.perf_counter() - started)
    status = "ok" if all(q["status"] == "calibrated" for q in report["qubits"].values()) else "failed_nodes"
    store.finish_run(run_id, status=status, shots=shots, seconds=report["seconds"],
                     summary={q: {"status": v["status"], "truth": v.get("truth")} for q, v in report["qubits"].items()})
    return report


def build_report(store: Store, request: RunRequest, device: SimulatedDevice, run_id: int,
                 events: dict[int, list[NodeEvent]], policies: dict[int, Policy], shots: int, seconds: float) -> dict:
    from devices.truth import x_gate_truth

    ident = device_id(request.spec, request.seed)
    current = store.current(ident)
    parameters = _parameter_names(request.graph)
    qubits = {}
    for qubit in request.qubits:
        # what the pass ended with: failed or skipped nodes, and failed nodes whose fallbacks
        # calibrated in their place (the qubit is calibrated; the node is tried again next time)
        failed = dict(policies[qubit].failed)
        recovered = dict(policies[qubit].recovered)
        stored = {name: current[(qubit, name)] for name in parameters if (qubit, name) in current}
        gate_error = stored.get("gate_error")
        cal = QubitActions.calibration_from(current, request.spec, qubit)
        qubits[str(qubit)] = {
            "status": "failed" if failed else "calibrated",
            "failed_nodes": failed,
            "recovered_nodes": recovered,
            "parameters": {name: {"value": v.value, "stderr": v.stderr, "unit": v.unit} for name, v in stored.items()},
            "estimated_gate_error": gate_error.value if gate_error is not None else None,
            "nodes": [{"node": e.node, "action": e.action, "outcome": e.outcome, "reason": e.reason,
                       "shots": e.shots} for e in events.get(qubit, [])],
            # The one place a report reads the hidden truth: simulated devices only.
            "truth": x_gate_truth(device, qubit, cal.x_schedule()),
        }
    return {"device": request.spec.name, "seed": request.seed, "run_id": run_id, "seconds": round(seconds, 3),
            "shots": shots, "device_clock_s": device.now(), "qubits": qubits}


def _parameter_names(graph: Graph) -> list[str]:
    return list(dict.fromkeys(p for node in graph.nodes for p in node.parameters))
