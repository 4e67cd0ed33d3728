"""One calibration run: maintain (or recalibrate) a graph on chosen qubits of a device,
recording everything in the store, and report in the JSON contract of DESIGN.md.

With a pair graph, each coupled pair among the chosen qubits (directed as calibrate.pairs
says) then runs the pair graph, after both its qubits' own graphs: a pair whose qubit failed
a node is skipped with the reason. The report's `pairs` maps "c-t" to the same fields as
`qubits`, the truth being the ECR's on the pair (devices.truth.pair_gate_truth).

The run sees its device through the `Device` protocol only (calibrate/resolve.py opens it).
A Stateful device's state (a simulator's clock, drift, random streams) lives in the store,
so a second run continues the same device. It is saved after every qubit and pair (after every
batch of them with `simultaneous`): a killed run loses at most the device time of one, never a
stored value. Reports carry a `truth` block for HasTruth devices only; it is null for the others.

With `simultaneous`, qubits (then pairs) that do not interact run as lanes of one batch whose
device calls are played together (calibrate/simultaneous.py): what a lab saves is device time.

A run that crashes, or whose store fails, after its run row exists raises `RunError`: the
run is recorded with status "error" and the reason in its summary (`{"error": reason}`)
where the store still answers. Every node update is one transaction, so the interrupted
node wrote nothing; the nodes finished before it keep their whole updates (`calibrate
revert --run ID` undoes them), and every other value stays current.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from calibrate.graph.policy import Policy
from calibrate.graph.spec import Graph
from calibrate.node_actions import NodeEvent, QubitActions
from calibrate.pairs import coupled_pairs, pair_label, stored_name
from calibrate.resolve import save_state, seed_of, seeded_id, store_id
from calibrate.simultaneous import LaneStats, groups, run_lanes
from calibrate.store import Store
from devices.device_spec import DeviceSpec
from devices.protocol import Device, HasTruth
from experiments.calibration import PairCalibration, QubitCalibration


@dataclass(frozen=True)
class Maintain:
    """Kelly et al.'s maintain: experiments only where the policy needs them."""


@dataclass(frozen=True)
class RecalibrateAll:
    """Calibrate every node, whatever its state: the baseline maintain is measured against."""


@dataclass(frozen=True)
class RunRequest:
    qubits: tuple[int, ...]
    graph: Graph
    strategy: Maintain | RecalibrateAll = field(default_factory=Maintain)
    data_dir: Path | None = None
    command: str = "run"
    # the graph each coupled pair among `qubits` runs after its qubits' own (None: no pairs)
    pair_graph: Graph | None = None

    # qubits (then pairs) that do not interact run in the same device calls (calibrate.simultaneous)
    simultaneous: bool = False

    def pairs(self, device: Device) -> tuple[tuple[int, int], ...]:
        return coupled_pairs(device.spec, self.qubits) if self.pair_graph is not None else ()

    def batches(self, device: Device) -> list[tuple[tuple[int, ...], ...]]:
        """The order of the run: every qubit, then every pair, each batch run at once (one
        unit per batch unless `simultaneous`)."""
        stages = [[(q,) for q in self.qubits], list(self.pairs(device))]
        if self.simultaneous:
            return [batch for units in stages for batch in groups(device.spec, units)]
        return [(unit,) for units in stages for unit in units]


def device_id(spec: DeviceSpec, seed: int) -> str:
    """The store's name for the simulated device `spec` drawn with `seed` (its `store_id`)."""
    return seeded_id(spec.name, seed)


def data_dir_for(store: Store, explicit: str | Path | None) -> Path:
    """Datasets sit next to a SQLite store, else under ./calibration-data."""
    if explicit:
        return Path(explicit)
    if store.sqlite_path is not None:
        return store.sqlite_path.resolve().parent / "datasets"
    return Path("calibration-data") / "datasets"


def describe_qubits(device: Device) -> str:
    qubits = tuple(device.qubits)
    return f"0..{len(qubits) - 1}" if qubits == tuple(range(len(qubits))) else str(list(qubits))


def check_qubits(device: Device, qubits: Sequence[int] | None) -> tuple[int, ...]:
    if qubits is None:
        return tuple(device.qubits)
    bad = [q for q in qubits if q not in device.qubits]
    if bad or not qubits:
        raise ValueError(f"--qubits is {list(qubits)}, but {device.name} has qubits {describe_qubits(device)}.")
    return tuple(dict.fromkeys(qubits))


class RunError(Exception):
    """A run stopped by a crash or a store failure. `run_id` is its row in the store (None when
    it stopped before the store created one); `recorded` says whether the store took the run's
    "error" status and reason (False: the store no longer answered, the run stays "running")."""

    def __init__(self, message: str, run_id: int | None = None, recorded: bool = False):
        super().__init__(message, run_id, recorded)  # all in args: it pickles (Dask workers)
        self.message, self.run_id, self.recorded = message, run_id, recorded

    def __str__(self) -> str:
        return self.message


def crash_reason(exc: BaseException, where: str = "") -> str:
    """What failed, for the run's record and the command's `error`: the store, or a crash."""
    from calibrate.store import StoreError

    at = f" {where}" if where else ""
    if isinstance(exc, StoreError):
        return f"the store failed{at}: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted{at} (KeyboardInterrupt)"
    return f"crashed{at}: {type(exc).__name__}: {exc}"


def run_calibration(store: Store, request: RunRequest, *, device: Device,
                    on_event: Callable[[NodeEvent], None] | None = None,
                    on_start: Callable[[int, str, str], None] | None = None,
                    lane_stats: LaneStats | None = None) -> dict:
    """Run the graph on each requested qubit of `device`, then the pair graph on each pair
    (in turn, or in simultaneous batches: RunRequest.batches); return the run's report.
    A Stateful device is used as it is given (see resolve.restore_state) and its state saved
    after each batch. `lane_stats`, when given, counts the device calls of simultaneous batches.

    Raises RunError when the run crashes or its store fails (after recording the run as "error"
    where the store still answers); a KeyboardInterrupt is recorded the same way and re-raised."""
    started = time.perf_counter()
    ident = store_id(device)
    try:
        run_id = store.start_run(ident, command=request.command, qubits=list(request.qubits),
                                 device_seed=seed_of(device))
    except Exception as exc:
        raise RunError(crash_reason(exc, "before the run started")) from exc
    shots = 0
    events: dict = {}  # qubit or (control, target) -> its node events
    policies: dict = {}  # likewise -> its Policy
    doing = ["before its first node"]  # where the run is, for the error's reason
    under_way: list[QubitActions] = []  # the units under way, whose shots are not in `shots` yet
    report_start = on_start or (lambda qubit, node, action: None)

    def track(qubit: int, node: str, action: str) -> None:
        doing[0] = f"at qubit {qubit} node {node} ({action.replace('_', ' ')})"
        report_start(qubit, node, action)

    def lane(unit: tuple[int, ...]) -> Callable[[Device], Policy]:
        """The policy pass of one qubit (unit (q,)) or pair (unit (control, target))."""
        def go(lane_device: Device) -> Policy:
            actions = QubitActions(store=store, run_id=run_id, device=lane_device, device_id=ident,
                                   spec=device.spec, qubit=unit[0], target=unit[1] if len(unit) == 2 else None,
                                   data_dir=request.data_dir, on_event=on_event, on_start=track)
            under_way.append(actions)
            if len(unit) == 2:
                policy = _run_pair(request, actions, [policies[q] for q in unit], unit)
            else:
                policy = Policy(request.graph, actions)
                if isinstance(request.strategy, RecalibrateAll):
                    policy.calibrate_all()
                else:
                    policy.maintain_all()
            events[_unit_key(unit)] = actions.events
            return policy
        return go

    try:
        for batch in request.batches(device):
            if len(batch) == 1:
                found = [lane(batch[0])(device)]
            else:
                found = run_lanes(device, [lane(unit) for unit in batch], lane_stats)
            for unit, policy in zip(batch, found):
                policies[_unit_key(unit)] = policy
            shots += sum(a.shots for a in under_way)
            under_way.clear()
            doing[0] = f"after {_describe(batch)}"
            save_state(store, device, run_id=run_id)
        doing[0] = "while reporting"
        report = build_report(store, request, device, run_id, events, policies, shots,
                              time.perf_counter() - started)
        status = "ok" if all_calibrated(report) else "failed_nodes"
        doing[0] = "while finishing"
        summary = {q: {"status": v["status"], "truth": v.get("truth")} for q, v in report["qubits"].items()}
        if report["pairs"]:
            summary["pairs"] = {p: {"status": v["status"], "estimated_gate_error": v["estimated_gate_error"],
                                    "truth": v.get("truth")} for p, v in report["pairs"].items()}
        store.finish_run(run_id, status=status, shots=shots, seconds=report["seconds"], summary=summary)
    except BaseException as exc:
        reason = crash_reason(exc, doing[0])
        measured = shots + sum(a.shots for a in under_way)
        recorded = _record_error(store, run_id, reason, measured, time.perf_counter() - started)
        if isinstance(exc, Exception):
            raise RunError(reason, run_id, recorded) from exc
        exc.run_error = RunError(reason, run_id, recorded)  # Ctrl-C stays itself; the command reports the run
        raise
    return report


def _run_pair(request: RunRequest, actions: QubitActions, qubit_policies: list[Policy],
              pair: tuple[int, int]) -> Policy:
    """The pair graph on one pair, or every node skipped when one of its qubits failed a node."""
    policy = Policy(request.pair_graph, actions)
    failed = [(q, node) for q, p in zip(pair, qubit_policies) for node in p.failed]
    if failed:
        q, node = failed[0]
        reason = f"skipped: qubit {q} failed node {node}"
        standby = request.pair_graph.standby
        for node in request.pair_graph.nodes:
            if node.name not in standby:
                policy.failed[node.name] = reason
                actions.skip(node, reason)
    elif isinstance(request.strategy, RecalibrateAll):
        policy.calibrate_all()
    else:
        policy.maintain_all()
    return policy


def _unit_key(unit: tuple[int, ...]):
    """How events and policies are keyed: a qubit by its index, a pair by (control, target)."""
    return unit[0] if len(unit) == 1 else unit


def _describe(batch: tuple[tuple[int, ...], ...]) -> str:
    return " and ".join(f"qubit {u[0]}" if len(u) == 1 else f"pair {pair_label(*u)}" for u in batch)


def all_calibrated(report: dict) -> bool:
    return all(v["status"] == "calibrated" for part in ("qubits", "pairs") for v in report.get(part, {}).values())


def _record_error(store: Store, run_id: int, reason: str, shots: int, seconds: float) -> bool:
    """Finish the run as "error" with its reason; False when the store no longer answers."""
    try:
        store.finish_run(run_id, status="error", shots=shots, seconds=seconds, summary={"error": reason})
    except Exception:  # the store failed too (or finished the run before failing): nothing more to do
        return False
    return True


def build_report(store: Store, request: RunRequest, device: Device, run_id: int,
                 events: dict, policies: dict, shots: int, seconds: float) -> dict:
    ident = store_id(device)
    current = store.current(ident)
    parameters = _parameter_names(request.graph)
    qubits = {}
    for qubit in request.qubits:
        stored = {name: current[(qubit, name)] for name in parameters if (qubit, name) in current}
        cal = QubitActions.calibration_from(current, device.spec, qubit)
        qubits[str(qubit)] = _entry(policies[qubit], stored, events.get(qubit, []),
                                    truth_block(device, qubit, cal.x_schedule()))
    pairs = {}
    pair_parameters = _parameter_names(request.pair_graph) if request.pair_graph is not None else []
    for control, target in request.pairs(device):
        stored = {name: current[(control, stored_name(name, target))] for name in pair_parameters
                  if (control, stored_name(name, target)) in current}
        settings = PairCalibration.from_values({name: v.value for name, v in stored.items()})
        cal = {q: QubitActions.calibration_from(current, device.spec, q) for q in (control, target)}
        truth = None if settings is None else pair_truth_block(device, control, target, settings, cal)
        pairs[pair_label(control, target)] = _entry(policies[(control, target)], stored,
                                                    events.get((control, target), []), truth)
    return {"device": device.name, "seed": seed_of(device), "run_id": run_id, "seconds": round(seconds, 3),
            "shots": shots, "device_clock_s": device.now(), "qubits": qubits, "pairs": pairs}


def _entry(policy: Policy, stored: dict, events: list[NodeEvent], truth: dict | None) -> dict:
    """One qubit's or pair's report: what the pass ended with (failed or skipped nodes, and
    failed nodes whose fallbacks calibrated in their place: the qubit is calibrated, the node
    is tried again next time), its stored values, its node events and its truth."""
    gate_error = stored.get("gate_error")
    return {
        "status": "failed" if policy.failed else "calibrated",
        "failed_nodes": dict(policy.failed),
        "recovered_nodes": dict(policy.recovered),
        "parameters": {name: {"value": v.value, "stderr": v.stderr, "unit": v.unit} for name, v in stored.items()},
        "estimated_gate_error": gate_error.value if gate_error is not None else None,
        "nodes": [{"node": e.node, "action": e.action, "outcome": e.outcome, "reason": e.reason,
                   "shots": e.shots} for e in events],
        "truth": truth,
    }


def truth_block(device: Device, qubit: int, x_schedule) -> dict | None:
    """How good the calibrated X gate really is: with pair_truth_block, the only places a report
    reads a hidden truth, for HasTruth devices only (None, JSON null, for the others)."""
    if not isinstance(device, HasTruth):
        return None
    from devices.truth import x_gate_truth

    return x_gate_truth(device, qubit, x_schedule)


def pair_truth_block(device: Device, control: int, target: int, settings: PairCalibration,
                     cal: dict[int, QubitCalibration]) -> dict | None:
    """How good the calibrated ECR of a pair really is, its virtual Z included (HasTruth devices
    only, else None)."""
    if not isinstance(device, HasTruth):
        return None
    from devices.truth import pair_gate_truth

    return pair_gate_truth(device, control, target, settings.ecr_schedule(cal[control], cal[target]),
                           target_gate=settings.pulses_unitary())


def _parameter_names(graph: Graph) -> list[str]:
    return list(dict.fromkeys(p for node in graph.nodes for p in node.parameters))
