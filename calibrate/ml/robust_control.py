"""Robust optimal control: one pulse that is good on every plausible model of the qubit.

    ensemble = ensemble_around(learned_transmon, {"frequency": 50e-6, "drive_scale_rel": 0.005}, 16, seed=0)
    result = optimize_pulse(ensemble, calibration, duration=10.0, dt=0.5, shape=DragCorrected())
    result.after.mean_error, result.schedule

The loss is the ensemble mean (jax.vmap over the Chip's leading axis) of
(1 - F_avg) + leakage_weight * leakage of the pulse as the target gate, F_avg and leakage
as in devices.metrics.gate_metrics. Optimization simulates Closed dynamics by default
(the T1/T2 error of a gate of fixed duration hardly depends on its shape, and unitary
propagation is several times cheaper); the reported before/after metrics use Open dynamics. The start is the
calibrated DRAG mapped into the shape. One optax step is compiled once per shape,
duration, ensemble size and dynamics: learning rates and schedules enter as values.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from calibrate.ml.ensemble import ensemble_size
from calibrate.ml.pulse_shapes import BoundedSamples, DragCorrected, PlainDrag, PulseShape
from devices.chip import Chip
from devices.metrics import PAULI_X, gate_metrics
from devices.nominal import unit_area
from devices.options import Closed, Dynamics, Open
from devices.pulses import Drag, Pulse, Samples, n_samples_of
from devices.schedule import Play, Schedule
from experiments.calibration import QubitCalibration


class RobustOptions(eqx.Module):
    """steps: Adam steps (cosine-decayed learning rate); lbfgs_steps: L-BFGS steps after them;
    leakage_weight: weight of the leakage beside 1 - F_avg; seed: draws the small jitter
    (init_jitter, in parameter units) added to the start, which breaks its symmetries."""

    steps: int = 300
    learning_rate: float = 0.01
    leakage_weight: float = 1.0
    seed: int = 0
    lbfgs_steps: int = 0
    init_jitter: float = 1e-3
    dynamics: Dynamics = Closed()

    def __check_init__(self):
        for name, low in (("steps", 0), ("lbfgs_steps", 0), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"RobustOptions.{name} is {value!r}, but must be an integer >= {low}.")
        for name in ("learning_rate", "leakage_weight", "init_jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"RobustOptions.{name} is {value!r}, but must be a finite number >= 0.")
        if not isinstance(self.dynamics, (Closed, Open)):
            raise ValueError(f"RobustOptions.dynamics is {self.dynamics!r}, but must be Closed() or Open().")


class EnsembleMetrics(NamedTuple):
    mean_error: float  # mean of 1 - F_avg over the ensemble (leakage included in F_avg)
    mean_leakage: float
    worst_error: float


class RobustResult(NamedTuple):
    shape: PulseShape
    params: eqx.Module
    pulse: Pulse
    schedule: Schedule
    duration: float
    dt: float
    loss_history: np.ndarray  # loss before each step (Adam, then L-BFGS)
    before: EnsembleMetrics  # the starting DRAG, Open dynamics
    after: EnsembleMetrics  # the optimized pulse, Open dynamics
    initial: Drag

    @property
    def samples(self) -> np.ndarray:
        return np.asarray(self.pulse.samples(self.dt))


class ControlProblem(eqx.Module):
    """Everything the loss needs besides the parameters and the ensemble: the shape, the
    pulse's duration, the AWG sample time, the carrier [GHz], the target gate, the weight
    of leakage and the dynamics simulated."""

    shape: PulseShape
    duration: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    frequency: jax.Array
    target: jax.Array
    leakage_weight: jax.Array
    dynamics: Dynamics

    def schedule(self, params) -> Schedule:
        return Schedule([Play(0, self.shape.pulse(params, self.duration, self.dt))], jnp.reshape(self.frequency, (1,)))


def _ensemble_metrics(ensemble: Chip, schedule: Schedule, target, dt: float, dynamics: Dynamics):
    return jax.vmap(lambda chip: gate_metrics(chip, schedule, target, dt=dt, dynamics=dynamics))(ensemble)


def ensemble_loss(params, ensemble: Chip, problem: ControlProblem) -> tuple[jax.Array, jax.Array]:
    """Mean over the ensemble of (1 - F_avg) + leakage_weight * leakage; aux: mean error."""
    metrics = _ensemble_metrics(ensemble, problem.schedule(params), problem.target, problem.dt, problem.dynamics)
    error = jnp.mean(1.0 - metrics.fidelity)
    return error + problem.leakage_weight * jnp.mean(metrics.leakage), error


_ADAM = optax.scale_by_adam()
_LBFGS = optax.lbfgs()


@eqx.filter_jit
def _adam_step(params, state, learning_rate, ensemble, problem):
    (loss, _), grads = eqx.filter_value_and_grad(ensemble_loss, has_aux=True)(params, ensemble, problem)
    updates, state = _ADAM.update(grads, state, params)
    updates = jax.tree.map(lambda u: -learning_rate * u, updates)
    return eqx.apply_updates(params, updates), state, loss


@eqx.filter_jit
def _loss_value(params, ensemble, problem):
    return ensemble_loss(params, ensemble, problem)[0]


@eqx.filter_jit
def _lbfgs_step(params, state, ensemble, problem):
    def value_fn(p):
        return ensemble_loss(p, ensemble, problem)[0]

    value, grads = optax.value_and_grad_from_state(value_fn)(params, state=state)
    updates, state = _LBFGS.update(grads, state, params, value=value, grad=grads, value_fn=value_fn)
    return optax.apply_updates(params, updates), state, value


@eqx.filter_jit
def _evaluate(schedule: Schedule, ensemble: Chip, target, dt: float):
    m = _ensemble_metrics(ensemble, schedule, target, dt, Open())
    error = 1.0 - m.fidelity
    return jnp.mean(error), jnp.mean(m.leakage), jnp.max(error)


def as_samples(schedule: Schedule, dt: float) -> Schedule:
    """A one-channel schedule as one Samples pulse: whatever shape made it, schedules of
    one length then share one compiled simulation."""
    if schedule.n_channels != 1:
        raise ValueError(f"Argument `schedule` must drive one channel, but drives {schedule.n_channels}.")
    return Schedule([Play(0, Samples(schedule.render(dt)[0]))], schedule.frequencies)


def evaluate(schedule: Schedule, ensemble: Chip, *, dt: float, target=PAULI_X) -> EnsembleMetrics:
    """Mean gate error (1 - F_avg), mean leakage and worst error of a one-channel
    schedule over the ensemble, with Open (T1, T2) dynamics."""
    ensemble_size(ensemble)
    mean, leak, worst = _evaluate(as_samples(schedule, dt), ensemble, jnp.asarray(target, jnp.complex128), dt)
    return EnsembleMetrics(float(mean), float(leak), float(worst))


def rotation_angle(target) -> float:
    """Rotation angle of a single-qubit unitary (up to phase): 2 arccos(|Tr U| / 2)."""
    u = np.asarray(target, complex)
    return 2.0 * math.acos(min(1.0, abs(np.trace(u)) / 2.0))


def drag_for_duration(calibration: QubitCalibration, duration: float, dt: float, *, angle: float = math.pi) -> Drag:
    """The calibrated X DRAG stretched to `duration`: sigma in proportion, beta kept, and
    the amplitude that keeps the rotation `angle` (capped at the AWG's full scale)."""
    n_samples_of(duration, dt, "duration")
    calibrated = calibration.x_pulse()
    sigma = calibration.sigma * duration / calibration.duration
    shape = Drag(duration, amp=1.0, sigma=sigma, beta=calibration.beta)
    amp = calibration.x_amp * unit_area(calibrated, dt) / unit_area(shape, dt) * angle / math.pi
    return Drag(duration, amp=float(np.clip(amp, -1.0, 1.0)), sigma=sigma, beta=calibration.beta)


def _check_reachable(shape: PulseShape, ensemble: Chip, duration: float, dt: float, angle: float) -> None:
    """A bounded pulse turns by at most 2 pi drive_scale amp_max T: refuse what cannot work."""
    area = shape.max_area(duration, dt) if isinstance(shape, BoundedSamples) else shape.amp_max * duration
    drive = float(np.mean(np.asarray(ensemble.transmons[0].drive_scale)))
    needed = angle / (2 * math.pi * drive)
    if area < needed:
        raise ValueError(
            f"duration {duration:g} ns is too short for {type(shape).__name__} (amp_max {shape.amp_max}): its "
            f"envelope area is at most {area:.3g} ns, but the rotation needs {needed:.3g} ns at the ensemble's "
            f"drive scale {drive * 1e3:.4g} MHz; lengthen the pulse"
            + (" or raise cutoff." if isinstance(shape, BoundedSamples) else ".")
        )


def _jitter(params, scale: float, seed: int):
    leaves, treedef = jax.tree.flatten(params)
    rng = np.random.default_rng([seed, 11])
    return jax.tree.unflatten(treedef, [x + scale * rng.standard_normal(np.shape(x)) for x in leaves])


def optimize_pulse(ensemble: Chip, calibration: QubitCalibration, *, duration: float, dt: float,
                   shape: PulseShape = DragCorrected(), target=PAULI_X,
                   options: RobustOptions = RobustOptions()) -> RobustResult:
    """The pulse of `shape` and `duration` that minimizes the ensemble-mean loss, started
    from the calibrated DRAG (`drag_for_duration`), played at the calibrated frequency."""
    ensemble_size(ensemble)
    if ensemble.n_qubits != 1:
        raise ValueError(f"Argument `ensemble` must model one transmon, but has {ensemble.n_qubits}.")
    if not isinstance(shape, (DragCorrected, BoundedSamples, PlainDrag)):
        raise ValueError(f"Argument `shape` is {shape!r}, but must be DragCorrected, BoundedSamples or PlainDrag.")
    if not isinstance(options, RobustOptions):
        raise ValueError(f"Argument `options` must be RobustOptions, but is {type(options).__name__}.")
    target = jnp.asarray(target, jnp.complex128)
    if target.shape != (2, 2):
        raise ValueError(f"Argument `target` must have shape (2, 2), but has shape {target.shape}.")
    angle = rotation_angle(target)
    n_samples_of(duration, dt, "duration")
    shape.check(duration, dt)
    _check_reachable(shape, ensemble, duration, dt, angle)

    initial = drag_for_duration(calibration, duration, dt, angle=angle)
    params = _jitter(shape.from_drag(initial, dt), options.init_jitter, options.seed)
    problem = ControlProblem(shape=shape, duration=float(duration), dt=float(dt),
                             frequency=jnp.asarray(calibration.frequency, jnp.float64), target=target,
                             leakage_weight=jnp.asarray(options.leakage_weight, jnp.float64),
                             dynamics=options.dynamics)
    history: list[jax.Array] = []
    best, best_loss = params, math.inf
    state = _ADAM.init(params)
    for step in range(options.steps):
        lr = options.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / options.steps)))
        new, state, loss = _adam_step(params, state, jnp.asarray(lr, jnp.float64), ensemble, problem)
        history.append(loss)
        if step % 25 == 0 or step == options.steps - 1:
            best, best_loss = _keep_best(history, step, params, best, best_loss)
        params = new
    if options.lbfgs_steps:
        state = _LBFGS.init(params)
        for _ in range(options.lbfgs_steps):
            new, state, loss = _lbfgs_step(params, state, ensemble, problem)
            history.append(loss)
            best, best_loss = _keep_best(history, len(history) - 1, params, best, best_loss)
            params = new
    if history and float(_loss_value(params, ensemble, problem)) < best_loss:
        best = params
    schedule = problem.schedule(best)
    return RobustResult(
        shape=shape, params=best, pulse=shape.pulse(best, duration, dt), schedule=schedule,
        duration=float(duration), dt=float(dt), loss_history=np.asarray(jnp.stack(history)) if history else np.zeros(0),
        before=evaluate(Schedule([Play(0, initial)], [calibration.frequency]), ensemble, dt=dt, target=target),
        after=evaluate(schedule, ensemble, dt=dt, target=target), initial=initial,
    )


def _keep_best(history, step, params, best, best_loss):
    # Checked every few steps only: reading a loss back waits for the device.
    loss = float(history[step])
    return (params, loss) if loss < best_loss else (best, best_loss)


def tune_drag(model: Chip, calibration: QubitCalibration, *, duration: float, dt: float,
              tune_sigma: bool = True, options: RobustOptions = RobustOptions(steps=200, learning_rate=0.01)) -> RobustResult:
    """The best plain DRAG (amplitude, beta and optionally sigma) of `duration` for a model
    (an ensemble of one: the nominal model) or an ensemble: the baseline of robust control."""
    return optimize_pulse(model, calibration, duration=duration, dt=dt, shape=PlainDrag(tune_sigma=tune_sigma),
                          options=options)
