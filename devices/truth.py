"""The `truth` block of simulated-device reports: how good a gate really is."""

from __future__ import annotations

from devices.chip import Chip
from devices.dressing import dressed_transmon
from devices.metrics import coherence_limit, gate_metrics
from devices.options import Open
from devices.schedule import Schedule
from devices.simulated import SimulatedDevice


def x_gate_truth(device: SimulatedDevice, qubit: int, x_schedule: Schedule) -> dict[str, float]:
    """gate_error (1 - average gate fidelity vs X), leakage and the coherence limit of a
    single-channel X schedule on `qubit` of the true device now, neighbours idle in |0>."""
    transmon = dressed_transmon(device.truth(), qubit)
    chip = Chip([transmon])
    metrics = gate_metrics(chip, x_schedule, dt=device.dt, dynamics=Open())
    duration = float(x_schedule.duration(device.dt))
    return {
        "gate_error": float(metrics.error),
        "leakage": float(metrics.leakage),
        "coherence_limit": float(coherence_limit(duration, transmon.t1, transmon.t2)),
    }
