"""bench/recalibration.py's four methods, each from the same drifted device and stored state.

Each returns a row: the true scores (bench/_recalibration_setup.score), shots, wall seconds,
and method-specific fields. (a) and (d) run the product's graphs through `run_calibration`,
so every shot a run spends (checks, fallbacks, T1/T2/RB where maintain reruns them) counts.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from bench._recalibration_setup import MEASURED_NODES, SPEC, AsFiled, Case, score
from calibrate.graph.toml import load_graph
from calibrate.ml.learned_graph import LEARNED_NODE, REPLACED
from calibrate.run import RunRequest, device_id, run_calibration
from experiments.calibration import QubitCalibration


def _graph_run(case: Case, graph, path: Path) -> tuple[dict, float, QubitCalibration, object]:
    """Maintain `graph` on the case's drifted device from the set-up store; the report, the wall
    seconds, the calibration the store holds afterwards and the device (for scoring)."""
    from calibrate.node_actions import QubitActions

    device = case.device()
    with case.store(path, graph) as store:
        started = time.perf_counter()
        report = run_calibration(store, RunRequest(qubits=(0,), graph=graph,
                                                   data_dir=path / "data"), device=AsFiled(device))
        wall = time.perf_counter() - started
        calibration = QubitActions.calibration_from(store.current(device_id(SPEC, case.seed), 0), SPEC, 0)
    shutil.rmtree(path / "data", ignore_errors=True)
    return report, wall, calibration, device


def _graph_row(case: Case, graph, path: Path) -> dict:
    report, wall, calibration, device = _graph_run(case, graph, path)
    q = report["qubits"]["0"]
    nodes = q["nodes"]
    gate_shots = sum(n["shots"] for n in nodes if n["node"] not in MEASURED_NODES)
    ran = [n for n in nodes if n["node"] in REPLACED and n["action"] == "calibrate"]
    learned = [n for n in nodes if n["node"] == LEARNED_NODE]
    verified = bool(learned) and LEARNED_NODE not in q["failed_nodes"] and LEARNED_NODE not in q["recovered_nodes"]
    return {**score(device, calibration), "shots": report["shots"], "gate_shots": gate_shots, "wall": wall,
            "ok": q["status"] == "calibrated", "verified": verified, "fallback_ran": bool(ran),
            "learned_actions": [f"{n['action']}:{n['outcome']}" for n in learned],
            "node_shots": {n["node"]: sum(m["shots"] for m in nodes if m["node"] == n["node"]) for n in nodes}}


def classic(case: Case, folder: Path) -> dict:
    """(a) Kelly's maintain over the default single-qubit graph."""
    return _graph_row(case, load_graph(), folder / f"classic-{case.family.spec.name}-{case.seed}")


def learned(case: Case, folder: Path, controller_dir: Path) -> dict:
    """(d) the graph `calibrate run --graph CONTROLLER_DIR` builds: the learned node with its
    fallback nodes, maintained like any other."""
    return _graph_row(case, load_graph(str(controller_dir)), folder / f"learned-{case.family.spec.name}-{case.seed}")


def never_verifying_copy(controller_dir: Path, out: Path) -> Path:
    """A copy of the controller whose verification never passes (every pair's allowance -1, so
    |P+ - P-| always exceeds it): the same graph then always runs the learned node's fallbacks.
    What (d) would have ended with had its verification failed on every device."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(controller_dir, out)
    meta_path = out / "controller.json"
    meta = json.loads(meta_path.read_text())
    meta["allowance"] = [-1.0] * len(meta["allowance"])
    meta_path.write_text(json.dumps(meta))
    return out


def fallback(case: Case, folder: Path, failing_dir: Path) -> dict:
    """(d) with its verification forced to fail: the fallback nodes' result on the same device."""
    row = _graph_row(case, load_graph(str(failing_dir)), folder / f"fallback-{case.family.spec.name}-{case.seed}")
    if row["verified"] or not row["fallback_ran"]:
        raise RuntimeError(f"The never-verifying controller copy in {failing_dir} verified on seed {case.seed} "
                           f"({row['learned_actions']}): the counterfactual no longer forces the fallback.")
    return row


def cmaes(case: Case) -> dict:
    """(b) closed-loop CMA-ES on error-amplification pairs, 150k-shot budget."""
    from calibrate.ml.closed_loop import ClosedLoopOptions, cmaes_recalibration

    device = case.device()
    started = time.perf_counter()
    out = cmaes_recalibration(device, case.calibration, 0, options=ClosedLoopOptions(shot_budget=150_000, seed=0))
    wall = time.perf_counter() - started
    return {**score(device, case.calibration.replace(**out.values)), "shots": out.shots, "wall": wall, "ok": True}


MODEL_PLAN = (("rabi", {"points": 31}, 300), ("ramsey", {}, 300), ("drag", {}, 300))


def model_and_robust(case: Case, steps: int = 200) -> dict:
    """(c) model learning from Rabi, Ramsey and DRAG datasets, then robust 20 ns X and SX pulses
    (DragCorrected) over 8 models drawn from the learned posterior, where a parameter the data
    left unconstrained varies by the prior's spread (calibrate.ml.ensemble.posterior_spread)."""
    from calibrate.ml.ensemble import ensemble_around, posterior_spread
    from calibrate.ml.model_learning import LearnOptions, learn_model
    from calibrate.ml.pulse_shapes import DragCorrected
    from calibrate.ml.robust_control import RobustOptions, optimize_pulse
    from devices.metrics import PAULI_X
    from devices.transmon import Transmon
    from experiments.base import run_experiment
    from experiments.registry import experiment_class
    from bench._recalibration_setup import SX_TARGET

    device = case.device()
    started = time.perf_counter()
    datasets, shots = {}, 0
    for name, options, per_point in MODEL_PLAN:
        ds = run_experiment(experiment_class(name)(qubit=0, **options), device, {0: case.calibration}, shots=per_point)
        datasets[name] = ds
        shots += int(ds.attrs["shots"]) * int(ds["counts"].size)
    model = learn_model(datasets, SPEC, 0, options=LearnOptions(fixed=("t1", "t2")))
    v = model.values
    transmon = Transmon(frequency=v["frequency"], anharmonicity=v["anharmonicity"], drive_scale=v["drive_scale"],
                        t1=v["t1"], t2=min(v["t2"], 2 * v["t1"]), readout_p01=v["readout_p01"],
                        readout_p10=v["readout_p10"])
    spread = posterior_spread(v, model.stderr, SPEC)
    ensemble = ensemble_around(transmon, spread, 8, seed=case.seed)
    start = case.calibration.replace(frequency=v["frequency"])
    pulses = {target_name: optimize_pulse(ensemble, start, duration=SPEC.x_duration, dt=SPEC.dt, shape=DragCorrected(),
                                          target=target, options=RobustOptions(steps=steps))
              for target_name, target in (("x", PAULI_X), ("sx", SX_TARGET))}
    wall = time.perf_counter() - started
    scores = score(device, start, x_schedule=pulses["x"].schedule, sx_schedule=pulses["sx"].schedule)
    unconstrained = sorted(k for k, e in model.stderr.items() if not np.isfinite(e))
    return {**scores, "shots": shots, "wall": wall, "ok": bool(model.converged), "prior_spread": unconstrained}
