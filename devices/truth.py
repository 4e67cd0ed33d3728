"""The `truth` block of simulated-device reports: how good a gate really is."""

from __future__ import annotations

from devices.chip import Chip
from devices.dressing import dressed_transmon
from devices.metrics import coherence_limit, gate_metrics, optimal_drag
from devices.nominal import pi_amplitude
from devices.options import Open
from devices.pulses import Drag
from devices.schedule import Schedule
from devices.simulated import SimulatedDevice
from devices.two_qubit import ECR, pair_coherence_limit, pair_gate_metrics


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


def best_drag(device: SimulatedDevice, qubit: int, *, duration: float, sigma: float) -> dict[str, float]:
    """The true device's best DRAG X gate now: the drive at the dressed qubit frequency, amplitude
    and beta minimizing the Open-dynamics gate error. For benchmarks and tests that need a device
    "as a perfect calibration left it"; calibration code never calls this."""
    transmon = dressed_transmon(device.truth(), qubit)
    frequency = float(transmon.frequency)
    amp0 = pi_amplitude(float(transmon.drive_scale), Drag(duration, amp=1.0, sigma=sigma, beta=0.0), device.dt)
    x_amp, beta = optimal_drag(Chip([transmon]), frequency, amp0, duration=duration, sigma=sigma, dt=device.dt)
    return {"frequency": frequency, "x_amp": x_amp, "beta": beta}


def pair_gate_truth(device: SimulatedDevice, control: int, target: int, schedule: Schedule,
                    target_gate=None) -> dict[str, float]:
    """gate_error (1 - average gate fidelity vs the ECR, or `target_gate`), leakage and the
    pair's coherence limit of a pair schedule (devices.two_qubit's channels) on the true
    device now: the pair's subchip with its coupling and crosstalk, control first; other
    neighbours are left out (idle in |0> they only dress the pair slightly)."""
    chip = device.truth().subchip([control, target])
    gate = ECR if target_gate is None else target_gate
    metrics = pair_gate_metrics(chip, schedule, gate, dt=device.dt, dynamics=Open())
    duration = float(schedule.duration(device.dt))
    t1 = [float(t.t1) for t in chip.transmons]
    t2 = [float(t.t2) for t in chip.transmons]
    return {
        "gate_error": float(metrics.error),
        "leakage": float(metrics.leakage),
        "coherence_limit": float(pair_coherence_limit(duration, t1, t2)),
    }
