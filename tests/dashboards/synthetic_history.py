"""A store with months of nightly history, written directly in one transaction (seconds, not
the hours the real nights would take): what a lab's dashboard opens on. Used by the
dashboard tests and bench/dashboard_open.py.

Every night each device gets one finished run with a truth block per qubit, one outcome per
node of the default graph per qubit, and the seven values the default graph writes. With
`pairs`, each directed pair (control, target) also gets its truth block in the summary's
`pairs`, the pair graph's node outcomes and its values, stored on the control as NAME@TARGET
as calibrate/pairs.py has them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert

from calibrate.store import Store
from calibrate.store.backend import make_engine
from calibrate.store.schema import node_outcomes, parameter_values, runs
from calibrate.store.urls import parse_store_url

NODES = ("spectroscopy", "rabi", "ramsey", "drag", "fine_amplitude", "fine_drag", "t1", "t2", "rb")
VALUES = {"frequency": "GHz", "x_amp": "", "sx_amp": "", "beta": "ns", "t1": "ns", "t2": "ns", "gate_error": ""}
PAIR_NODES = ("cr_hamiltonian", "ecr_irb")
PAIR_VALUES = {"zx_rate": "GHz", "cr_amp": "", "cr_width": "ns", "cancel_amp": "", "target_phase": "rad",
               "gate_error": ""}


@dataclass(frozen=True)
class History:
    devices: int = 4
    qubits_per_device: int = 5
    nights: int = 90
    start: datetime = datetime(2025, 1, 1, 1, 0, tzinfo=timezone.utc)
    pairs: tuple[tuple[int, int], ...] = ()  # (control, target) of each device's calibrated pairs

    @property
    def qubits(self) -> int:
        return self.devices * self.qubits_per_device

    def device(self, d: int) -> str:
        return f"sim-5q/seed-{d}"


def _value(name: str, qubit: int, night: int) -> float:
    wobble = math.sin(0.3 * night + qubit)
    return {"frequency": 5.0 + 0.05 * qubit + 1e-4 * wobble, "x_amp": 0.6 + 0.01 * wobble,
            "sx_amp": 0.3 + 0.005 * wobble, "beta": 0.2 + 0.02 * wobble, "t1": 80e3 + 5e3 * wobble,
            "t2": 60e3 + 5e3 * wobble, "gate_error": 3e-4 + 5e-5 * wobble}[name]


def pair_value(name: str, pair: tuple[int, int], night: int) -> float:
    wobble = math.sin(0.2 * night + pair[0] + 3 * pair[1])
    return {"zx_rate": 1e-3 + 1e-4 * pair[1] + 2e-5 * wobble, "cr_amp": 0.65, "cr_width": 500.0 + 10 * wobble,
            "cancel_amp": 0.05 + 0.01 * wobble, "target_phase": 0.1 * wobble,
            "gate_error": 2e-2 + 2e-3 * wobble}[name]


def pair_truth(pair: tuple[int, int], night: int) -> dict[str, float]:
    return {"gate_error": 1.05 * pair_value("gate_error", pair, night), "leakage": 1e-4, "coherence_limit": 1.6e-2}


def write_history(url: str, history: History = History()) -> dict[str, int]:
    """Fill the (new) store at `url`; returns how many rows of each table it wrote."""
    Store.open(url).close()  # creates the schema through the store's own migrations
    run_rows, outcome_rows, value_rows = [], [], []
    outcome_id = 0
    for night in range(history.nights):
        for d in range(history.devices):
            run_id = len(run_rows) + 1
            started = history.start + timedelta(days=night, minutes=10 * d)
            finished = started + timedelta(minutes=8)
            qubits = list(range(history.qubits_per_device))
            summary = {str(q): {"status": "calibrated", "truth": {
                "gate_error": 1.1 * _value("gate_error", q, night), "leakage": 1e-5,
                "coherence_limit": 2e-4}} for q in qubits}
            if history.pairs:
                summary["pairs"] = {f"{c}-{t}": {"status": "calibrated",
                                                 "estimated_gate_error": pair_value("gate_error", (c, t), night),
                                                 "truth": pair_truth((c, t), night)} for c, t in history.pairs}
            run_rows.append({"id": run_id, "device": history.device(d), "device_seed": d, "command": "nightly",
                             "qubits": qubits, "status": "ok", "started": started, "finished": finished,
                             "shots": 100_000, "seconds": 480.0, "summary": summary})
            for q in qubits:
                for k, node in enumerate(NODES):
                    outcome_id += 1
                    moment = started + timedelta(seconds=10 * (q * len(NODES) + k))
                    outcome_rows.append({
                        "id": outcome_id, "run_id": run_id, "device": history.device(d), "qubit": q, "node": node,
                        "action": "check_data", "outcome": "in_spec", "reason": "within tolerance of the stored values",
                        "experiment": node, "time": moment, "device_time_s": 86400.0 * night, "shots": 5000,
                        "dataset_path": None, "values": {}, "wrote_values": False})
                for name, unit in VALUES.items():
                    value_rows.append({
                        "device": history.device(d), "qubit": q, "name": name, "value": _value(name, q, night),
                        "stderr": 1e-3 * abs(_value(name, q, night)), "unit": unit, "time": finished,
                        "device_time_s": 86400.0 * night, "run_id": run_id, "outcome_id": None,
                        "experiment": "synthetic", "valid": True, "note": "synthetic history"})
            for c, t in history.pairs:
                for node in PAIR_NODES:
                    outcome_id += 1
                    outcome_rows.append({
                        "id": outcome_id, "run_id": run_id, "device": history.device(d), "qubit": c,
                        "node": f"{node}@{t}", "action": "check_data", "outcome": "in_spec",
                        "reason": "within tolerance of the stored values", "experiment": node, "time": finished,
                        "device_time_s": 86400.0 * night, "shots": 5000, "dataset_path": None, "values": {},
                        "wrote_values": False})
                for name, unit in PAIR_VALUES.items():
                    value = pair_value(name, (c, t), night)
                    value_rows.append({
                        "device": history.device(d), "qubit": c, "name": f"{name}@{t}", "value": value,
                        "stderr": 0.1 * abs(value), "unit": unit, "time": finished, "device_time_s": 86400.0 * night,
                        "run_id": run_id, "outcome_id": None, "experiment": "synthetic", "valid": True,
                        "note": "synthetic history"})
    engine = make_engine(parse_store_url(url), read_only=False)
    try:
        with engine.begin() as connection:
            connection.execute(insert(runs), run_rows)
            connection.execute(insert(node_outcomes), outcome_rows)
            connection.execute(insert(parameter_values), value_rows)
    finally:
        engine.dispose()
    return {"runs": len(run_rows), "node_outcomes": len(outcome_rows), "parameter_values": len(value_rows)}
