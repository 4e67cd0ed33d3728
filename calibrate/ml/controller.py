"""A learned recalibration controller: probe outcomes -> corrections of frequency, amplitude, beta.

    family = family_of(spec, qubit=0)
    trained = train_controller(family, TrainOptions(steps=800))
    save_controller(trained, "controllers/sim-1q", options=TrainOptions(steps=800), family=family)
    controller = load_controller("controllers/sim-1q", spec, qubit=0)
    result = recalibrate(device, controller, calibration, qubit=0)
    result.calibration, result.verification.in_spec, result.shots

The network (an equinox MLP) reads the twelve probe outcomes of `calibrate.ml.probes` (as
pair differences and pair means) and the current calibration, normalized by the device
family's design, and outputs corrections to the drive frequency, log X amplitude (SX
follows with its ratio kept) and DRAG beta. It is applied for a few rounds, each round a
new probe measurement from the corrected calibration; then a two-stage Ramsey (2 us and 8 us,
both quadratures, read analytically: calibrate.ml.fine_frequency) moves the drive onto the
qubit to ~1 kHz, which the probes' 1 us waits cannot; and a last probe measurement
verifies the result: it estimates the applied calibration's offsets from the device's optimum
and accepts them within tolerance (calibrate.ml.verification). A verification out of spec whose
pairs agree with one offset corrects the calibration by that estimate and verifies again (one
retry by default) before the node gives up to its fallbacks. The standard errors of what
was applied are the rounds' shot noise carried through the network, or the fine step's and the
correcting verification's for what those set (calibrate.ml.uncertainty).

Training is end-to-end through the differentiable probe model: devices are drawn from the
family's fabrication prior, each starts from a calibration that was good some hours ago
and has since drifted by the family's own drift processes (frequency random walk and
telegraph jumps, drive-amplitude walk), probe outcomes get binomial shot noise (its
Gaussian approximation, so that gradients pass), and the loss is the true X-gate error
(1 - F_avg with leakage, Closed dynamics) plus the error a 100 ns idle would have from the
remaining detuning, after each round, the last weighted most.

A controller is tied to the family it was trained on: `fingerprint` hashes the family's
design, prior and drift, and `load_controller` refuses a controller whose fingerprint
differs from the device's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from calibrate.ml.fine_frequency import FineFrequency, FineResult, fine_frequency
from calibrate.ml.probes import (X_GATE, ProbeSet, pair_features, probe_gate_table, probe_sequences,
                                 read_one_from_table)
from calibrate.ml.verification import (TOLERANCES, Verification, VerificationError, check_tolerances, correct_offsets,
                                       correctable, pair_allowance, probe_sensitivity, refinable, refine_offsets,
                                       verify)
from devices.chip import Chip
from devices.device_spec import DeviceSpec
from devices.limits import run_within_limits
from devices.metrics import gate_metrics, optimal_drag, propagator_metrics
from devices.options import Closed
from devices.protocol import Device
from devices.pulses import Drag
from devices.schedule import Play, Schedule
from devices.simulate import propagator
from devices.transmon import Transmon
from experiments.calibration import QubitCalibration, nominal_calibration

FORMAT = 2  # 2: the verification's probe sensitivity and tolerances are part of the controller
WEIGHTS_FILE = "controller.eqx"
META_FILE = "controller.json"
TRAINING_FILE = "training.json"
PLOT_FILE = "training-curve.png"
SX_RATIO = 0.5  # SX amplitude / X amplitude in training; on devices the calibration keeps its own


class ControllerError(ValueError):
    """Bad controller options, files, or a controller used on the wrong device family."""


def _is_int(value, low: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low


def _is_positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


# --- the family: what a controller is trained for -----------------------------------------
class Scales(eqx.Module):
    """Natural sizes of the corrections, which the network outputs in units of: frequency
    [GHz], log X amplitude, beta [ns]. Also the verification tolerances' defaults."""

    frequency: float = 2e-4
    log_amp: float = 0.02
    beta: float = 0.2

    def as_array(self) -> jax.Array:
        return jnp.asarray([self.frequency, self.log_amp, self.beta], dtype=jnp.float64)


@dataclass(frozen=True)
class Optimum:
    """The best DRAG X gate of a nominal transmon, driven at its qubit frequency: X amplitude
    and beta [ns]."""

    x_amp: float
    beta: float


class Family(NamedTuple):
    """One qubit design of a device family, and the optimum of its nominal transmon. Hashable,
    so that compiled training steps are reused across calls for the same family."""

    spec: DeviceSpec
    qubit: int
    fingerprint: str
    optimum: Optimum


def fingerprint(spec: DeviceSpec, qubit: int) -> str:
    """A hash of what a controller learns from: the qubit's design, the fabrication prior, the
    drift processes, the gate shape and the AWG. The family's name and description are left out."""
    q = spec.qubits[qubit]
    content = {
        "qubit": [q.frequency, q.anharmonicity, q.drive_scale, q.t1, q.t2, q.readout_p01, q.readout_p10],
        "fabrication": list(spec.fabrication.__dict__.values()),
        "drift": list(spec.drift.__dict__.values()),
        "gate": [spec.x_duration, spec.x_sigma, spec.dt],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _nominal_transmon(spec: DeviceSpec, qubit: int) -> Transmon:
    q = spec.qubits[qubit]
    return Transmon(frequency=q.frequency, anharmonicity=q.anharmonicity, drive_scale=q.drive_scale,
                    t1=q.t1, t2=q.t2, readout_p01=q.readout_p01, readout_p10=q.readout_p10)


def _x_schedule(frequency, x_amp, beta, *, duration: float, sigma: float, dt: float) -> Schedule:
    return Schedule([Play(0, Drag(duration, amp=x_amp, sigma=sigma, beta=beta))], jnp.reshape(frequency, (1,)))


def x_gate_error(transmon: Transmon, frequency, x_amp, beta, *, duration: float, sigma: float, dt: float):
    """1 - F_avg (leakage included) of the DRAG X gate, Closed dynamics: the training loss."""
    schedule = _x_schedule(frequency, x_amp, beta, duration=duration, sigma=sigma, dt=dt)
    return gate_metrics(Chip([transmon]), schedule, dt=dt, dynamics=Closed()).error


def family_of(spec: DeviceSpec, qubit: int = 0) -> Family:
    """The family of `qubit`'s design, with the optimum X gate of its nominal transmon (found
    here by minimizing the model's gate error: the design is public, this reads no device)."""
    if not _is_int(qubit, 0) or qubit >= spec.n_qubits:
        raise ControllerError(f"--qubit is {qubit!r}, but {spec.name} has qubits 0..{spec.n_qubits - 1}.")
    # The drive stays at the qubit's frequency, where Ramsey puts it: the X gate alone could
    # trade its DRAG phase for a detuning, but idles and every other gate need the frame to
    # track the qubit. So only the amplitude and beta are optimized.
    start = nominal_calibration(spec, qubit)
    x_amp, beta = optimal_drag(Chip([_nominal_transmon(spec, qubit)]), start.frequency, start.x_amp,
                               duration=spec.x_duration, sigma=spec.x_sigma, dt=spec.dt, dynamics=Closed())
    optimum = Optimum(x_amp=x_amp, beta=beta)
    return Family(spec=spec, qubit=qubit, fingerprint=fingerprint(spec, qubit), optimum=optimum)


# --- the network --------------------------------------------------------------------------
class ControllerNetwork(eqx.Module):
    """MLP: (pair features, normalized calibration) -> correction in units of `Scales`.
    Its last layer starts at zero, so an untrained controller corrects nothing."""

    mlp: eqx.nn.MLP

    def __init__(self, n_inputs: int, hidden: int, depth: int, key: jax.Array):
        mlp = eqx.nn.MLP(n_inputs, 3, hidden, depth, activation=jax.nn.gelu, key=key)
        last = mlp.layers[-1]
        last = eqx.tree_at(lambda l: (l.weight, l.bias), last, (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)))
        self.mlp = eqx.tree_at(lambda m: m.layers[-1], mlp, last)

    def __call__(self, features: jax.Array) -> jax.Array:
        return self.mlp(features)


class Controller(eqx.Module):
    """A trained network with everything needed to use it on a device of its family."""

    network: ControllerNetwork
    probes: ProbeSet = eqx.field(static=True)
    scales: Scales = eqx.field(static=True)
    rounds: int = eqx.field(static=True)
    family_name: str = eqx.field(static=True)
    fingerprint: str = eqx.field(static=True)
    qubit: int = eqx.field(static=True)
    # design values the inputs are normalized by: frequency [GHz], x_amp, anharmonicity [GHz]
    design: tuple[float, float, float] = eqx.field(static=True)
    spreads: tuple[float, float] = eqx.field(static=True)  # fabrication: frequency [GHz], drive_scale_rel
    allowance: tuple[float, ...] = eqx.field(static=True)  # per pair: |P+ - P-| within tolerance
    # verification (calibrate.ml.verification): d P(read 1) / d (frequency, log amplitude, beta)
    # per probe, of the family's nominal transmon at its optimum; and the tolerances it accepts
    sensitivity: tuple[tuple[float, float, float], ...] = eqx.field(static=True)
    tolerances: tuple[float, float, float] = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def inputs(self, read_one: jax.Array, frequency, x_amp, beta) -> jax.Array:
        f0, a0, _ = self.design
        sf, sa = self.spreads
        calibration = jnp.stack([(frequency - f0) / sf, jnp.log(x_amp / a0) / sa, beta / self.scales.beta])
        return jnp.concatenate([pair_features(read_one), calibration])

    def correct(self, read_one: jax.Array, frequency, x_amp, beta):
        """The next calibration (frequency, x_amp, beta) from the probes' P(read 1)."""
        step = self.network(self.inputs(read_one, frequency, x_amp, beta)) * self.scales.as_array()
        return frequency + step[0], x_amp * jnp.exp(step[1]), beta + step[2]


def _n_inputs(probes: ProbeSet) -> int:
    return probes.n_probes + 3


# --- training -----------------------------------------------------------------------------
class TrainOptions(eqx.Module):
    """steps x batch devices; rounds of probe -> correct per device; drift_hours: devices have
    drifted for a time drawn uniformly in [0, drift_hours] since their last good calibration;
    calibration_error: the spread of that last calibration around the optimum (frequency [GHz],
    relative amplitude, beta [ns]); validation: devices of the fixed validation set; tolerances:
    what the verification accepts (frequency [GHz], relative amplitude, beta [ns])."""

    steps: int = 800
    batch: int = 64
    learning_rate: float = 3e-3
    rounds: int = 2
    hidden: int = 64
    depth: int = 2
    drift_hours: float = 48.0
    calibration_error: tuple[float, float, float] = (2e-5, 3e-3, 0.1)
    idle: float = 100.0
    probes: ProbeSet = ProbeSet()
    scales: Scales = Scales()
    validation: int = 256
    evaluate_every: int = 25
    seed: int = 0
    tolerances: tuple[float, float, float] = TOLERANCES

    def __check_init__(self):
        try:
            check_tolerances(self.tolerances)
        except VerificationError as exc:
            raise ControllerError(f"TrainOptions.tolerances: {exc}") from None
        for name, low in (("steps", 1), ("batch", 1), ("rounds", 1), ("hidden", 1), ("depth", 1),
                          ("validation", 1), ("evaluate_every", 1), ("seed", 0)):
            if not _is_int(getattr(self, name), low):
                raise ControllerError(f"TrainOptions.{name} is {getattr(self, name)!r}, but must be an integer >= {low}.")
        for name in ("learning_rate", "drift_hours", "idle"):
            if not _is_positive(getattr(self, name)):
                raise ControllerError(f"TrainOptions.{name} is {getattr(self, name)!r}, but must be a finite number > 0.")
        if len(self.calibration_error) != 3 or not all(
                isinstance(x, (int, float)) and math.isfinite(x) and x >= 0 for x in self.calibration_error):
            raise ControllerError(f"TrainOptions.calibration_error is {self.calibration_error!r}, but must be three "
                                  "finite numbers >= 0 (frequency GHz, relative amplitude, beta ns).")


class Draws(NamedTuple):
    """A batch of training devices (Transmon with a leading axis) and where each starts."""

    transmons: Transmon
    frequency: jax.Array
    x_amp: jax.Array
    beta: jax.Array


def draw_devices(family: Family, options: TrainOptions, key: jax.Array, n: int) -> Draws:
    """n devices from the family's prior, each with a calibration that was good and has drifted."""
    spec, q = family.spec, family.spec.qubits[family.qubit]
    fab, drift = spec.fabrication, spec.drift
    g = jax.random.normal(key, (12, n))
    hours = options.drift_hours * jax.random.uniform(jax.random.fold_in(key, 1), (n,))
    flips = jax.random.uniform(jax.random.fold_in(key, 2), (n,)) < 0.5 * (1.0 - jnp.exp(-2.0 * drift.telegraph_rate * hours))
    sign = jnp.where(jax.random.uniform(jax.random.fold_in(key, 3), (n,)) < 0.5, -1.0, 1.0)

    t1 = q.t1 * jnp.exp(fab.t1_rel * g[3])
    transmons = Transmon(
        frequency=q.frequency + fab.frequency * g[0],
        anharmonicity=jnp.minimum(q.anharmonicity + fab.anharmonicity * g[1], -0.05),
        drive_scale=q.drive_scale * jnp.exp(fab.drive_scale_rel * g[2]),
        t1=t1, t2=jnp.minimum(q.t2 * jnp.exp(fab.t2_rel * g[4]), 1.95 * t1),
        readout_p01=jnp.clip(q.readout_p01 + fab.readout_abs * g[5], 1e-3, 0.3),
        readout_p10=jnp.clip(q.readout_p10 + fab.readout_abs * g[6], 1e-3, 0.3),
    )
    opt = family.optimum
    # the optimum of each device, scaled from the nominal one: amplitude goes as 1/drive scale,
    # beta as 1/anharmonicity; the calibration error below covers what this scaling misses
    f_good = transmons.frequency + options.calibration_error[0] * g[7]
    amp_good = opt.x_amp * (q.drive_scale / transmons.drive_scale) * (1.0 + options.calibration_error[1] * g[8])
    beta_good = opt.beta * (q.anharmonicity / transmons.anharmonicity) + options.calibration_error[2] * g[9]
    # since then the device drifted: the calibration is now off by minus the drift
    walk = drift.frequency_walk * jnp.sqrt(hours) * g[10] + drift.telegraph_jump * sign * flips
    log_amp_drift = drift.amplitude_walk_rel * jnp.sqrt(hours) * g[11]
    return Draws(transmons=transmons, frequency=f_good - walk, x_amp=amp_good * jnp.exp(log_amp_drift),
                 beta=beta_good)


def idle_error(detuning, idle: float):
    """1 - F_avg of an idle of `idle` ns with the drive frame `detuning` GHz off the qubit: a
    Z rotation by 2 pi detuning idle. The X gate alone cannot see a detuning of ~100 kHz (and
    could trade its DRAG phase for one); every idle and every Ramsey-like sequence does."""
    return (2.0 / 3.0) * jnp.sin(jnp.pi * detuning * idle) ** 2


def rollout(controller: Controller, transmon: Transmon, frequency, x_amp, beta, key, *,
            duration: float, sigma: float, dt: float, idle: float):
    """One simulated device through the controller's rounds: per round, the X gate error and
    the error of an idle of `idle` ns after the correction; and the final calibration. Shot
    noise is binomial's Gaussian approximation."""
    shape = {"duration": duration, "sigma": sigma, "dt": dt}
    chip = Chip([transmon])

    def gate_table(calibration):
        frequency, x_amp, beta = calibration
        return probe_gate_table(controller.probes, transmon, frequency, x_amp, SX_RATIO * x_amp, beta, **shape)

    # A loop, not a scan over rounds: under vmap and grad a scan made training steps ~3x
    # slower. And a round's corrected X gate, whose error the loss takes, is the next round's
    # probe X gate: each calibration's gates are simulated once.
    calibration = tuple(jnp.asarray(x, dtype=jnp.float64) for x in (frequency, x_amp, beta))
    table = gate_table(calibration)
    gate, idles = [], []
    for r in range(controller.rounds):
        p = read_one_from_table(controller.probes, transmon, table)
        noise = jax.random.normal(jax.random.fold_in(key, r), p.shape)
        p = jnp.clip(p + jnp.sqrt(p * (1.0 - p) / controller.probes.shots) * noise, 0.0, 1.0)
        frequency, x_amp, beta = controller.correct(p, *calibration)
        calibration = (frequency, jnp.clip(x_amp, 1e-3, 1.0), beta)
        if r + 1 < controller.rounds:
            table = gate_table(calibration)
            x_gate = table[X_GATE]
        else:
            x_gate = propagator(chip, _x_schedule(*calibration, **shape), dt=dt, dynamics=Closed())
        gate.append(propagator_metrics(chip, x_gate, dynamics=Closed()).error)
        idles.append(idle_error(frequency - transmon.frequency, idle))
    return jnp.stack(gate), jnp.stack(idles), calibration


def _round_weights(rounds: int) -> jax.Array:
    w = jnp.asarray([0.5**(rounds - 1 - r) for r in range(rounds)], dtype=jnp.float64)
    return w / jnp.sum(w)


def initial_controller(family: Family, options: TrainOptions) -> Controller:
    spec = family.spec
    q = spec.qubits[family.qubit]
    network = ControllerNetwork(_n_inputs(options.probes), options.hidden, options.depth,
                                jax.random.key(options.seed))
    sensitivity = verification_sensitivity(family, options.probes)
    return Controller(network=network, probes=options.probes, scales=options.scales, rounds=options.rounds,
                      family_name=spec.name, fingerprint=family.fingerprint, qubit=family.qubit,
                      design=(q.frequency, family.optimum.x_amp, q.anharmonicity),
                      spreads=(spec.fabrication.frequency, spec.fabrication.drive_scale_rel),
                      allowance=tuple(float(a) for a in verify_allowance(family, options.probes, options.tolerances)),
                      sensitivity=tuple(tuple(float(x) for x in row) for row in sensitivity),
                      tolerances=check_tolerances(options.tolerances), hidden=options.hidden, depth=options.depth)


def _shape(spec: DeviceSpec) -> dict:
    return {"duration": spec.x_duration, "sigma": spec.x_sigma, "dt": spec.dt}


def verification_sensitivity(family: Family, probes: ProbeSet) -> np.ndarray:
    """(n_probes, 3) sensitivity of the probes to the calibration's offsets, of the family's
    nominal transmon at its optimum: what the verification inverts (calibrate.ml.verification)."""
    spec = family.spec
    try:
        return probe_sensitivity(probes, _nominal_transmon(spec, family.qubit), spec.qubits[family.qubit].frequency,
                                 family.optimum.x_amp, family.optimum.beta, **_shape(spec))
    except VerificationError as exc:
        raise ControllerError(str(exc)) from None


def verify_allowance(family: Family, probes: ProbeSet, tolerances=TOLERANCES) -> np.ndarray:
    """Per pair, the largest |P+ - P-| of the nominal transmon with its calibration off by one
    tolerance (frequency [GHz], relative amplitude, beta [ns]) in any one direction: the
    verification's coarse per-pair guard."""
    spec = family.spec
    return pair_allowance(probes, _nominal_transmon(spec, family.qubit), spec.qubits[family.qubit].frequency,
                          family.optimum.x_amp, family.optimum.beta, tolerances, **_shape(spec))


class Trained(NamedTuple):
    controller: Controller
    steps: list[int]
    loss: list[float]
    validation_error: list[float]  # mean true X-gate error of the validation devices (Closed)
    start_error: float  # the same devices' mean error before any correction
    seconds: float


class _Compiled(NamedTuple):
    initial: Controller  # the untrained controller's weights (immutable: every training starts here)
    static: Controller  # the controller's non-trainable part
    optimizer: optax.GradientTransformation
    step: Callable  # (params, optimizer state, key) -> (params, state, loss)
    validate: Callable  # (params, draws, key) -> mean X error after the last round
    gate_errors: Callable  # draws -> X error of each device's starting calibration


@functools.lru_cache(maxsize=4)
def _compiled(family: Family, options: TrainOptions) -> _Compiled:
    """The jitted training step and validation for one family and options, built once: their
    first compilation is most of a short training's time."""
    spec = family.spec
    shape = {"duration": spec.x_duration, "sigma": spec.x_sigma, "dt": spec.dt}
    initial, static = eqx.partition(initial_controller(family, options), eqx.is_inexact_array)
    weights = _round_weights(options.rounds)

    def batch_errors(ctrl, draws: Draws, key):
        keys = jax.random.split(key, draws.frequency.shape[0])
        gate, idles, _ = jax.vmap(lambda t, f, a, b, k: rollout(ctrl, t, f, a, b, k, idle=options.idle, **shape))(
            draws.transmons, draws.frequency, draws.x_amp, draws.beta, keys)
        return gate, idles  # (n, rounds) each

    def loss_fn(params, key):
        draws = draw_devices(family, options, key, options.batch)
        gate, idles = batch_errors(eqx.combine(params, static), draws, jax.random.fold_in(key, 7))
        return jnp.mean((gate + idles) @ weights) * 1e4  # in units of 1e-4: Adam does not care, logs do

    schedule = optax.cosine_decay_schedule(options.learning_rate, options.steps, alpha=0.05)
    optimizer = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(schedule))

    @jax.jit
    def step(params, state, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, key)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    @jax.jit
    def validate(params, draws, key):
        gate, _ = batch_errors(eqx.combine(params, static), draws, key)
        return jnp.mean(gate[:, -1])

    @jax.jit
    def gate_errors(draws):
        return jax.vmap(lambda t, f, a, b: x_gate_error(t, f, a, b, **shape))(
            draws.transmons, draws.frequency, draws.x_amp, draws.beta)

    return _Compiled(initial=initial, static=static, optimizer=optimizer, step=step, validate=validate, gate_errors=gate_errors)


def train_controller(family: Family, options: TrainOptions = TrainOptions(), *,
                     progress: Callable[[int, float, float | None], None] | None = None) -> Trained:
    """Train a controller for `family` with optax Adam; reproducible for `options.seed`."""
    if not isinstance(options, TrainOptions):
        raise ControllerError(f"Argument `options` must be a TrainOptions, but is {type(options).__name__}.")
    started = time.perf_counter()
    compiled = _compiled(family, options)
    params = compiled.initial
    state = compiled.optimizer.init(params)
    root = jax.random.key(options.seed)
    validation = draw_devices(family, options, jax.random.fold_in(root, 10**6), options.validation)
    validation_key = jax.random.fold_in(root, 10**6 + 1)
    start_error = float(jnp.mean(compiled.gate_errors(validation)))

    steps, losses, val = [], [], []
    for i in range(options.steps):
        params, state, loss = compiled.step(params, state, jax.random.fold_in(root, i))
        loss = float(loss) * 1e-4
        if not math.isfinite(loss):
            raise ControllerError(f"Training diverged at step {i}: the loss is {loss}. Lower the learning rate.")
        steps.append(i + 1)
        losses.append(loss)
        v = None
        if (i + 1) % options.evaluate_every == 0 or i + 1 == options.steps:
            v = float(compiled.validate(params, validation, validation_key))
        val.append(float("nan") if v is None else v)
        if progress is not None:
            progress(i + 1, loss, v)
    return Trained(controller=eqx.combine(params, compiled.static), steps=steps, loss=losses, validation_error=val,
                   start_error=start_error, seconds=time.perf_counter() - started)


# --- files --------------------------------------------------------------------------------
def _meta(controller: Controller) -> dict:
    return {"format": FORMAT, "family": controller.family_name, "fingerprint": controller.fingerprint,
            "qubit": controller.qubit, "rounds": controller.rounds, "hidden": controller.hidden,
            "depth": controller.depth, "probes": controller.probes.as_dict(),
            "scales": [controller.scales.frequency, controller.scales.log_amp, controller.scales.beta],
            "design": list(controller.design), "spreads": list(controller.spreads),
            "allowance": list(controller.allowance), "sensitivity": [list(r) for r in controller.sensitivity],
            "tolerances": list(controller.tolerances)}


def save_controller(trained: Trained, out_dir, *, options: TrainOptions, family: Family,
                    base_graph: str | None = None) -> Path:
    """Weights, the prior they were trained on, the training curve (JSON and PNG). `base_graph`
    (a built-in graph's name or a graph file's absolute path; None: the default graph) is the
    graph whose nodes the learned node stands in for when `--graph DIR` loads this controller."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    controller = trained.controller
    eqx.tree_serialise_leaves(out / WEIGHTS_FILE, controller.network)
    meta = _meta(controller)
    if base_graph is not None:
        meta["base_graph"] = base_graph
    meta["trained_on"] = {
        "family_file": family.spec.source, "family_optimum": asdict(family.optimum),
        "fabrication": family.spec.fabrication.__dict__, "drift": family.spec.drift.__dict__,
        "drift_hours": options.drift_hours, "idle_ns": options.idle, "calibration_error": list(options.calibration_error),
        "steps": options.steps, "batch": options.batch, "learning_rate": options.learning_rate,
        "seed": options.seed, "seconds": round(trained.seconds, 1),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    curve = {"family": controller.family_name, "steps": trained.steps, "loss": trained.loss,
             "validation_error": [None if math.isnan(v) else v for v in trained.validation_error],
             "validation_start_error": trained.start_error}
    (out / TRAINING_FILE).write_text(json.dumps(curve) + "\n")
    plot_training(trained, out / PLOT_FILE)
    return out


def plot_training(trained: Trained, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display here or on CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.semilogy(trained.steps, trained.loss, lw=0.8, alpha=0.6, label="training loss (weighted rounds)")
    val = [(s, v) for s, v in zip(trained.steps, trained.validation_error) if not math.isnan(v)]
    if val:
        ax.semilogy(*zip(*val), "o-", ms=3, label="validation: mean X error after the last round")
    ax.axhline(trained.start_error, color="grey", ls="--", lw=0.8, label="validation: before correction")
    ax.set_xlabel("training step")
    ax.set_ylabel("X gate error (Closed dynamics)")
    ax.set_title(f"Learned controller for {trained.controller.family_name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def load_controller(directory, spec: DeviceSpec, qubit: int = 0) -> Controller:
    """The controller saved in `directory`, checked against the device family it will run on."""
    folder = Path(directory)
    meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
    if not meta_path.is_file() or not weights_path.is_file():
        raise ControllerError(f"{folder} holds no controller: expected {META_FILE} and {WEIGHTS_FILE} "
                              "(written by `calibrate train-controller --out DIR`).")
    try:
        meta = json.loads(meta_path.read_text())
        fmt = meta["format"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ControllerError(f"{meta_path} is not a controller description: {exc}.") from None
    if fmt != FORMAT:
        raise ControllerError(f"{meta_path} has format {fmt!r}; this version reads format {FORMAT}: retrain it with "
                              "`calibrate train-controller`.")
    if not _is_int(qubit, 0) or qubit >= spec.n_qubits:
        raise ControllerError(f"Qubit {qubit!r} is not on {spec.name}: it has qubits 0..{spec.n_qubits - 1}.")
    mine = fingerprint(spec, qubit)
    if meta["fingerprint"] != mine:
        raise ControllerError(
            f"The controller in {folder} was trained for device family {meta['family']!r} (qubit {meta['qubit']}, "
            f"fingerprint {meta['fingerprint']}), but qubit {qubit} of {spec.name!r} has fingerprint {mine}: its "
            "design, fabrication prior or drift differ, so the controller's corrections would not apply. Train one "
            f"for it with `calibrate train-controller --device-family {spec.source or spec.name}`.")
    probes = ProbeSet.from_dict(meta["probes"])
    skeleton = ControllerNetwork(_n_inputs(probes), int(meta["hidden"]), int(meta["depth"]), jax.random.key(0))
    try:
        network = eqx.tree_deserialise_leaves(weights_path, skeleton)
    except Exception as exc:  # a truncated or foreign file: say which
        raise ControllerError(f"{weights_path} could not be read as this controller's weights: {exc}.") from None
    return Controller(network=network, probes=probes, scales=Scales(*meta["scales"]), rounds=int(meta["rounds"]),
                      family_name=meta["family"], fingerprint=meta["fingerprint"], qubit=int(meta["qubit"]),
                      design=tuple(map(float, meta["design"])), spreads=tuple(map(float, meta["spreads"])),
                      allowance=tuple(map(float, meta["allowance"])),
                      sensitivity=tuple(tuple(map(float, row)) for row in meta["sensitivity"]),
                      tolerances=check_tolerances(meta["tolerances"]), hidden=int(meta["hidden"]), depth=int(meta["depth"]))


# --- on a device --------------------------------------------------------------------------
class Recalibrated(NamedTuple):
    calibration: QubitCalibration  # the corrected calibration (whether or not it verified), fine step included
    verification: Verification  # the last one
    shots: int  # every shot played: rounds, fine-frequency step, verifications
    read_one: np.ndarray  # (rounds + 1 + len(corrections), n_probes): measured P(read 1), the rounds' then the verifications'
    history: list[QubitCalibration]  # the calibration probed in each round, then the rounds' final one
    fine: FineResult | None = None  # the fine-frequency step between the rounds and the verification
    corrections: tuple[Verification, ...] = ()  # out-of-spec verifications whose offsets were then corrected
    refined: Verification | None = None  # the in-spec verification whose significant offsets were then applied


@eqx.filter_jit
def _correct(controller: Controller, read_one, frequency, x_amp, beta):
    return controller.correct(read_one, frequency, x_amp, beta)


def measure_probes(device: Device, controller: Controller, calibration: QubitCalibration, qubit: int) -> np.ndarray:
    shots = controller.probes.shots
    counts = run_within_limits(device, probe_sequences(controller.probes, calibration), shots, qubits=(qubit,))["counts"]
    return np.asarray(counts.sel(qubit=qubit).values, dtype=float) / shots


def predict(controller: Controller, read_one: np.ndarray, calibration: QubitCalibration) -> QubitCalibration:
    """The calibration the controller moves to from measured probes (no device access)."""
    f, a, b = _correct(controller, jnp.asarray(read_one, dtype=jnp.float64),
                       jnp.asarray(calibration.frequency, dtype=jnp.float64),
                       jnp.asarray(calibration.x_amp, dtype=jnp.float64),
                       jnp.asarray(calibration.beta, dtype=jnp.float64))
    x_amp = float(np.clip(float(a), 1e-3, 1.0))
    ratio = calibration.sx_amp / calibration.x_amp if calibration.x_amp else 0.5
    return calibration.replace(frequency=float(f), x_amp=x_amp, sx_amp=x_amp * ratio, beta=float(b))


def recalibrate(device: Device, controller: Controller, calibration: QubitCalibration, qubit: int,
                fine: FineFrequency | None = FineFrequency(), retries: int = 1, refine: bool = True) -> Recalibrated:
    """probe -> correct for the controller's rounds, then the fine-frequency Ramsey step
    (calibrate.ml.fine_frequency; None leaves it out), then verify with one more probe measurement.
    A verification out of spec but consistent with one offset is corrected by its own estimate
    (calibrate.ml.verification.correct_offsets) and verified again, up to `retries` times: one
    probe measurement each, where the fallback nodes would cost tens of times more. With `refine`,
    a verification in spec moves amplitude and beta by its significant estimates
    (calibrate.ml.verification.refine_offsets; no shots)."""
    if not isinstance(calibration, QubitCalibration):
        raise ControllerError(f"Argument `calibration` must be a QubitCalibration, but is {type(calibration).__name__}.")
    if qubit not in device.qubits:
        raise ControllerError(f"Qubit {qubit!r} is not on device {device.name}: it has qubits {list(device.qubits)}.")
    if fine is not None and not isinstance(fine, FineFrequency):
        raise ControllerError(f"Argument `fine` must be a FineFrequency or None, but is {type(fine).__name__}.")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ControllerError(f"Argument `retries` is {retries!r}, but must be an integer >= 0.")
    if not isinstance(refine, bool):
        raise ControllerError(f"Argument `refine` is {refine!r}, but must be True or False.")
    history, measured = [calibration], []
    for _ in range(controller.rounds):
        measured.append(measure_probes(device, controller, history[-1], qubit))
        history.append(predict(controller, measured[-1], history[-1]))
    step = None if fine is None else fine_frequency(device, history[-1], qubit, fine)
    final = history[-1] if step is None else step.calibration
    measured.append(measure_probes(device, controller, final, qubit))
    check, corrections = verify(controller, measured[-1]), []
    while correctable(check) and len(corrections) < retries:
        final = correct_offsets(final, check, controller.tolerances)
        corrections.append(check)
        measured.append(measure_probes(device, controller, final, qubit))
        check = verify(controller, measured[-1])
    refined = check if refine and refinable(check).any() else None
    if refined is not None:
        final = refine_offsets(final, refined)
    shots = len(measured) * controller.probes.n_probes * controller.probes.shots + (0 if step is None else step.shots)
    return Recalibrated(calibration=final, verification=check, shots=shots, read_one=np.array(measured),
                        history=history, fine=step, corrections=tuple(corrections), refined=refined)


__all__ = ["Controller", "ControllerError", "ControllerNetwork", "Family", "Recalibrated", "Scales", "TrainOptions",
           "Trained", "Verification", "draw_devices", "family_of", "fingerprint", "initial_controller", "load_controller",
           "measure_probes", "predict", "recalibrate", "rollout", "save_controller", "train_controller", "verify",
           "verification_sensitivity", "verify_allowance", "x_gate_error"]
