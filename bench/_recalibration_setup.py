"""bench/recalibration.py's set-up and scoring: the device families, each device's state a day
after a good calibration, the store every method starts from, and the true errors it ends with.

This module (with bench/recalibration.py) is the only place the benchmark reads a device's
truth: to set up a perfect calibration at t0 and to score what each method left.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from calibrate.graph.spec import Graph
from calibrate.graph.toml import load_graph
from calibrate.run import RunRequest, device_id, run_calibration
from calibrate.store import Store
from devices.catalog import load_spec
from devices.chip import Chip
from devices.device_spec import DeviceSpec
from devices.dressing import dressed_transmon
from devices.metrics import PAULI_X, coherence_limit, gate_metrics
from devices.options import Open
from devices.schedule import Delay, Play, Schedule
from devices.simulated import SimulatedDevice
from devices.truth import best_drag
from experiments.calibration import QubitCalibration, nominal_calibration

# The family every method believes it calibrates, and the learned controller was trained on.
SPEC = load_spec("sim-1q")
DRIFT_HOURS = 24.0
IDLE_NS = 1000.0
SX_TARGET = jnp.asarray([[1, -1j], [-1j, 1]], dtype=jnp.complex128) / math.sqrt(2)  # exp(-i pi/4 X)
IDENTITY = jnp.eye(2, dtype=jnp.complex128)
# nodes whose values the set-up measures (one run at t0) instead of writing them from the truth
MEASURED_NODES = ("t1", "t2", "rb")


@dataclass(frozen=True)
class Family:
    """Where the devices are drawn from: `spec` is their true family; every method is told they
    are `SPEC` (the lab's device file), so an out-of-family case is a device the file misdescribes."""

    label: str
    spec: DeviceSpec


class AsFiled:
    """A case's device as every method sees it: named and described by the lab's file (`SPEC`),
    so calibration starts from SPEC's design and the store knows it as SPEC's device, while the
    physics, clock and truth are the drawn device's own (out of family: the file misdescribes it)."""

    def __init__(self, device: SimulatedDevice):
        self.device, self.spec, self.name, self.seed = device, SPEC, SPEC.name, device.seed

    @property
    def qubits(self):
        return self.device.qubits

    @property
    def dt(self) -> float:
        return self.device.dt

    @property
    def limits(self):
        return self.device.limits

    def now(self) -> float:
        return self.device.now()

    def run(self, schedules, shots, seed=None, *, qubits=(0,)):
        return self.device.run(schedules, shots, seed, qubits=qubits)

    def truth(self) -> Chip:
        return self.device.truth()


def in_family() -> Family:
    return Family("sim-1q", SPEC)


def fast_drift(factor: float = 3.0) -> Family:
    """Frequency walk, telegraph jumps and amplitude walk `factor` times the trained ones."""
    d = SPEC.drift
    drift = replace(d, frequency_walk=d.frequency_walk * factor, telegraph_jump=d.telegraph_jump * factor,
                    amplitude_walk_rel=d.amplitude_walk_rel * factor)
    return Family(f"drift x{factor:g}", replace(SPEC, name=f"{SPEC.name}-drift-x{factor:g}", drift=drift))


def other_anharmonicity(factor: float = 0.9) -> Family:
    """Every qubit's design anharmonicity times `factor` (the fabrication spread around it kept)."""
    qubits = tuple(replace(q, anharmonicity=q.anharmonicity * factor) for q in SPEC.qubits)
    alpha = SPEC.qubits[0].anharmonicity * factor * 1e3
    return Family(f"anharm {alpha:.0f} MHz", replace(SPEC, name=f"{SPEC.name}-anharm-x{factor:g}", qubits=qubits))


def topological(graph: Graph) -> list:
    """The graph's nodes with every dependency before its dependants (the store's order of events
    is what check_state compares)."""
    done, order = set(), []

    def visit(node) -> None:
        if node.name in done:
            return
        done.add(node.name)
        for dep in node.depends_on:
            visit(graph.node(dep))
        order.append(node)

    for node in graph.nodes:
        visit(node)
    return order


def _gate_values(c: QubitCalibration) -> dict[str, tuple[float, float, str]]:
    return {"frequency": (c.frequency, 1e-6, "GHz"), "x_amp": (c.x_amp, 1e-4 * c.x_amp, ""),
            "sx_amp": (c.sx_amp, 1e-4 * c.sx_amp, ""), "beta": (c.beta, 0.005, "ns")}


def seed_store(store: Store, seed: int, graph: Graph, calibration: QubitCalibration,
               measured: dict[str, tuple[float, float, str]], measured_at_s: float) -> None:
    """The store as the set-up left it: every gate node calibrated at device time 0 with the
    perfect values, and the measured nodes (T1, T2, RB) with what the set-up run measured.
    A measured node whose fit failed is left unrecorded: the method's run calibrates it."""
    values = {**_gate_values(calibration), **measured}
    ident = device_id(SPEC, seed)
    run = store.start_run(ident, command="benchmark set-up", qubits=[0], device_seed=seed)
    for node in topological(graph):
        at = measured_at_s if node.name in MEASURED_NODES else 0.0
        if not all(p in values for p in node.parameters):
            continue
        store.record_node(run, device=ident, qubit=0, node=node.name, action="calibrate", outcome="calibrated",
                          reason="benchmark set-up: perfect gate values at t0, T1, T2 and RB measured",
                          experiment=node.calibrate[-1].experiment, device_time_s=at, shots=0,
                          values={p: values[p] for p in node.parameters})
    store.finish_run(run, status="ok", shots=0, seconds=0.0)


class Case:
    """One device: a perfect gate calibration at t0 (from its truth), T1, T2 and the gate error
    measured then by the default graph's own nodes, and its state a day of drift later."""

    def __init__(self, family: Family, seed: int, folder: Path):
        self.family, self.seed = family, seed
        started = time.perf_counter()
        device = SimulatedDevice(family.spec, seed=seed)
        best = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
        self.calibration = nominal_calibration(SPEC, 0).replace(
            frequency=best["frequency"], x_amp=best["x_amp"], sx_amp=best["x_amp"] / 2, beta=best["beta"])
        # the set-up run: gate nodes fresh from t0, so maintain runs only T1, T2 and RB
        path = folder / f"setup-{family.spec.name}-{seed}"
        shutil.rmtree(path, ignore_errors=True)
        graph = load_graph()
        with Store.open(f"sqlite:///{path / 'store.sqlite'}") as store:
            seed_store(store, seed, graph, self.calibration, {}, 0.0)
            report = run_calibration(store, RunRequest(qubits=(0,), graph=graph,
                                                       data_dir=path / "data", command="benchmark set-up"),
                                     device=AsFiled(device))
        shutil.rmtree(path, ignore_errors=True)
        stored = report["qubits"]["0"]["parameters"]
        self.measured = {name: (p["value"], p["stderr"], p["unit"]) for name, p in stored.items()
                         if name in ("t1", "t2", "gate_error")}
        self.setup_shots = report["shots"]
        self.measured_at_s = device.now()
        device.advance(hours=DRIFT_HOURS)
        self.state = device.state()
        self.left_alone = score(device, self.calibration)
        self.setup_wall = time.perf_counter() - started

    def device(self) -> SimulatedDevice:
        device = SimulatedDevice(self.family.spec, seed=self.seed)
        device.restore(self.state)
        return device

    def store(self, path: Path, graph: Graph) -> Store:
        """A fresh store at `path` as the set-up left it, for `graph`'s nodes."""
        shutil.rmtree(path, ignore_errors=True)
        store = Store.open(f"sqlite:///{path / 'store.sqlite'}")
        seed_store(store, self.seed, graph, self.calibration, self.measured, self.measured_at_s)
        return store


def _metrics(chip: Chip, schedule: Schedule, target, dt: float) -> float:
    return float(gate_metrics(chip, schedule, target, dt=dt, dynamics=Open()).error)


def score(device: SimulatedDevice, calibration: QubitCalibration, *, x_schedule: Schedule | None = None,
          sx_schedule: Schedule | None = None) -> dict[str, float]:
    """The true errors of what a method left, on the true (dressed) qubit now, Open dynamics:
    X and SX (1 - F_avg against X and exp(-i pi/4 X)) and a 1 us idle in the calibrated
    frame (against the identity: it sees the detuning), each over its coherence limit, and the
    frequency error |f_cal - f_true| in kHz. A method that plays other pulses than the
    calibration's DRAG gives their schedules."""
    transmon = dressed_transmon(device.truth(), 0)
    chip = Chip([transmon])
    dt = device.dt
    x = x_schedule if x_schedule is not None else calibration.x_schedule()
    sx = sx_schedule if sx_schedule is not None else calibration.schedule([Play(0, calibration.sx_pulse())])
    idle = Schedule([Delay(0, IDLE_NS)], [calibration.frequency])
    t1, t2 = transmon.t1, transmon.t2

    def limit(schedule: Schedule) -> float:
        return float(coherence_limit(float(schedule.duration(dt)), t1, t2))

    return {"x": _metrics(chip, x, PAULI_X, dt) / limit(x),
            "sx": _metrics(chip, sx, SX_TARGET, dt) / limit(sx),
            "idle": _metrics(chip, idle, IDENTITY, dt) / limit(idle),
            "freq_khz": abs(float(calibration.frequency) - float(transmon.frequency)) * 1e6}


def combined(scores: dict[str, float]) -> float:
    """One figure over X, SX and the 1 us idle: the mean of their errors over coherence limits."""
    return float(np.mean([scores["x"], scores["sx"], scores["idle"]]))
