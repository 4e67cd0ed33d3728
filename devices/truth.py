"""The `truth` block of simulated-device reports: how good a gate really is."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from devices.chip import Chip
from devices.dressing import dressed_transmon
from devices.metrics import coherence_limit, gate_metrics, optimal_drag
from devices.nominal import pi_amplitude
from devices.options import Closed, Open
from devices.pulses import Drag
from devices.schedule import Schedule
from devices.simulated import SimulatedDevice
from devices.two_qubit import ECR, CrossResonance, cr_rates, ecr_schedule, pair_coherence_limit, pair_gate_metrics


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


def best_ecr(device: SimulatedDevice, control: int, target: int, *, width: float, ramp: float = 10.0,
             sigma: float = 5.0) -> dict:
    """The true device's best ECR of the given flat-top width now: carriers at the dressed
    frequencies, the control's best DRAG X as the echo, and the CR and cancellation tones'
    amplitudes and angles minimizing the Closed-dynamics ECR error (L-BFGS-B from a scan of
    the CR angle). For benchmarks and tests that need a pair "as a perfect calibration left
    it"; calibration code never calls this. Returns the settings and the schedule."""
    truth = device.truth()
    fc = float(dressed_transmon(truth, control).frequency)
    ft = float(dressed_transmon(truth, target).frequency)
    duration, x_sigma = device.spec.x_duration, device.spec.x_sigma
    x = best_drag(device, control, duration=duration, sigma=x_sigma)
    echo = Drag(duration, x["x_amp"], x_sigma, beta=x["beta"])
    chip = truth.subchip([control, target])

    def schedule(z):
        cr = CrossResonance(ramp, sigma, width, amp=z[0], angle=z[1], cancel_amp=z[2], cancel_angle=z[3])
        return ecr_schedule(fc, ft, cr, echo)

    value_and_grad = jax.jit(jax.value_and_grad(
        lambda z: pair_gate_metrics(chip, schedule(z), ECR, dt=device.dt, dynamics=Closed()).error))

    def objective(z):
        v, g = value_and_grad(jnp.asarray(z))
        return float(v), np.asarray(g)

    starts = [np.array([0.8, a, 0.0, 0.0]) for a in np.linspace(-np.pi, np.pi, 8, endpoint=False)]
    best = min(starts, key=lambda z: objective(z)[0])
    bounds = [(-1.0, 1.0), (None, None), (-0.2, 0.2), (None, None)]  # cancellation: a few % of the tone
    z = scipy.optimize.minimize(objective, best, jac=True, method="L-BFGS-B", bounds=bounds).x
    return {"control_frequency": fc, "target_frequency": ft, "cr_amp": float(z[0]), "cr_angle": float(z[1]),
            "cancel_amp": float(z[2]), "cancel_angle": float(z[3]), "width": float(width),
            "schedule": schedule(jnp.asarray(z))}


def cr_rates_truth(device: SimulatedDevice, control: int, target: int, *, control_frequency: float,
                   target_frequency: float, amp: float, angle: float = 0.0) -> dict[str, float]:
    """The true CR Pauli rates [GHz] (devices.two_qubit.cr_rates) of a tone of `amp` and
    `angle` with these carriers on the pair now (neighbours left out)."""
    return cr_rates(device.truth().subchip([control, target]), control_frequency, target_frequency, amp, angle)
