"""What the store hands out: frozen records, detached from the database.

Callers never hold rows or sessions, so a record stays valid after the store is closed and
can be sent to another process (a Dask worker, the dashboard) as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ParameterValue:
    """One row of the append-only value history. `value` None means "cleared": a revert back to
    a time when the parameter had no value; such a row hides older values from `current()`."""

    device: str
    qubit: int
    name: str
    value: float | None
    stderr: float | None
    unit: str
    time: datetime  # UTC wall time of the write
    device_time_s: float  # the device clock when the value was measured
    run_id: int | None
    experiment: str
    valid: bool
    id: int
    note: str

    @classmethod
    def from_row(cls, row) -> ParameterValue:
        return cls(
            device=row.device, qubit=row.qubit, name=row.name, value=row.value, stderr=row.stderr,
            unit=row.unit, time=row.time, device_time_s=row.device_time_s, run_id=row.run_id,
            experiment=row.experiment, valid=bool(row.valid), id=row.id, note=row.note,
        )


@dataclass(frozen=True)
class NodeOutcome:
    """What one visit of a calibration-graph node did. `values` keeps the numbers as measured
    (name -> {"value", "stderr", "unit"}), also for bad fits whose numbers never reached the history."""

    id: int
    run_id: int
    device: str
    qubit: int
    node: str
    action: str
    outcome: str
    reason: str
    time: datetime
    device_time_s: float
    shots: int
    dataset_path: str | None
    values: dict[str, dict]

    @classmethod
    def from_row(cls, row) -> NodeOutcome:
        return cls(
            id=row.id, run_id=row.run_id, device=row.device, qubit=row.qubit, node=row.node,
            action=row.action, outcome=row.outcome, reason=row.reason, time=row.time,
            device_time_s=row.device_time_s, shots=row.shots, dataset_path=row.dataset_path,
            values=row.values,
        )


def run_from_row(row) -> dict:
    return {
        "id": row.id, "device": row.device, "device_seed": row.device_seed, "command": row.command,
        "qubits": row.qubits, "status": row.status, "started": row.started, "finished": row.finished,
        "shots": row.shots, "seconds": row.seconds, "summary": row.summary,
    }
