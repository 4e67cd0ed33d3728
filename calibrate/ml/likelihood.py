"""The likelihood of a single-qubit device model given experiment datasets.

Every dataset made by `run_experiment` carries what is needed to replay it: the
experiment's name and options, the calibration values it played with and the shots.
`replay` rebuilds its schedules in the order of its counts, and `observations` groups
them as the simulated device does (schedules of one structure vmapped together, gate
sequences composed from their gate table), so one call of `read_one_probabilities`
simulates every dataset with the Lindblad model of one transmon.

Readout: level 0 reads 1 with probability p01, every level >= 1 with 1 - p10 (leaked
shots read as 1, as on the simulated device). Counts are binomial given P(read 1), so

    NLL(x) = -sum_i log Binomial(counts_i | shots_i, p_i(x)),   p_i clipped to [1e-9, 1 - 1e-9].

x is the natural parameter vector (PARAMETERS, internal units); the fit runs in the
unconstrained coordinates of `Reparametrisation` and evaluates the NLL through `Likelihood`
(the same numbers, computed group by group with the populations cached).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.scipy.special import gammaln
from scipy import special

from devices.chip import Chip
from devices.schedule import Schedule
from devices.sequences import GateSequence, bucket_capacity, length_buckets, padded_programs
from devices.side_by_side import run_side_by_side
from devices.simulated import (_batched_populations, _gate_superops, _group_key, _sequence_populations,
                               _split_varying, _table_key)
from devices.transmon import Transmon
from experiments.base import Experiment
from experiments.calibration import QubitCalibration

PARAMETERS = ("frequency", "anharmonicity", "drive_scale", "t1", "t2", "readout_p01", "readout_p10")
UNITS = {"frequency": "GHz", "anharmonicity": "GHz", "drive_scale": "GHz", "t1": "ns", "t2": "ns",
         "readout_p01": "", "readout_p10": ""}
N_LEVELS = 3  # the simulated devices' transmons keep three levels
P_FLOOR = 1e-9


class ModelLearningError(ValueError):
    """Datasets or options that a model cannot be learned from."""


# --- datasets -> schedules --------------------------------------------------------------------
@dataclass(frozen=True)
class Replayed:
    """One dataset's schedules in the order of its flattened counts."""

    source: str
    experiment: Experiment
    calibration: QubitCalibration  # of the measured qubit
    schedules: tuple
    counts: np.ndarray  # shots read as 1, one per schedule
    shots: int
    clock_s: float

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def qubit(self) -> int:
        return self.experiment.qubits[0]


def _attr(ds: xr.Dataset, key: str, source: str):
    if key not in ds.attrs:
        raise ModelLearningError(f"Dataset {source} has no `{key}` attribute: was it made by run_experiment?")
    return ds.attrs[key]


def _experiment(ds: xr.Dataset, source: str) -> Experiment:
    from experiments.registry import experiment_class

    name = str(_attr(ds, "experiment", source))
    try:
        return experiment_class(name)(**json.loads(_attr(ds, "options", source)))
    except (KeyError, TypeError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise ModelLearningError(f"Dataset {source} ({name}) cannot be replayed: {message}") from None


def measured_qubits(ds: xr.Dataset, source: str = "dataset") -> tuple[int, ...]:
    """The qubits a dataset's experiment drove."""
    return _experiment(ds, source).qubits


def readout_of(ds: xr.Dataset) -> tuple[float, ...] | None:
    """The calibrated readout (pulse and discriminator) a dataset's counts were read through, or
    None for the device's own discrimination: the model's one (p01, p10) describes datasets of
    one readout only, so those of different readouts are not learned from together."""
    used = json.loads(ds.attrs.get("calibration", "{}"))
    if len(used) != 1:
        return None
    values = next(iter(used.values()))
    if values.get("readout_angle") is None:
        return None
    return tuple(float(values[k]) for k in ("readout_frequency", "readout_amp", "readout_duration", "readout_angle",
                                            "readout_threshold"))


def replay(ds: xr.Dataset, source: str = "dataset") -> Replayed:
    """Rebuild the schedules a dataset was taken with, in run_experiment's grid order."""
    experiment = _experiment(ds, source)
    name = experiment.name
    try:
        used = json.loads(_attr(ds, "calibration", source))
        calibration = {int(q): QubitCalibration(**values) for q, values in used.items()}
    except (TypeError, ValueError) as exc:
        raise ModelLearningError(f"Dataset {source} ({name}) cannot be replayed: its calibration is {exc}") from None
    if len(experiment.qubits) != 1:
        raise ModelLearningError(
            f"Dataset {source} is a {name} experiment on qubits {list(experiment.qubits)}; model learning "
            "is single-qubit (couplings J are not learned), so give single-qubit experiments only.")
    qubit = experiment.qubits[0]
    sweeps = experiment.sweeps(calibration)
    for s in sweeps:
        stored = ds[s.name].values if s.name in ds.coords else None
        if stored is None or stored.shape != s.values.shape or not np.allclose(stored, s.values, rtol=1e-12, atol=0):
            raise ModelLearningError(
                f"Dataset {source} ({name}): its `{s.name}` sweep is not what its options and calibration "
                "rebuild, so its schedules cannot be replayed (was it made by another version of the toolkit?).")
    grid = list(itertools.product(*[s.values for s in sweeps]))
    names = [s.name for s in sweeps]
    schedules = tuple(experiment.schedule(calibration, dict(zip(names, point))) for point in grid)
    counts = ds["counts"].sel(qubit=qubit).transpose(*names).values.reshape(-1)
    shots = int(_attr(ds, "shots", source))
    if counts.shape != (len(schedules),) or np.any(counts < 0) or np.any(counts > shots):
        raise ModelLearningError(f"Dataset {source} ({name}): counts must be {len(schedules)} numbers in 0..{shots}.")
    return Replayed(source=source, experiment=experiment, calibration=calibration[qubit], schedules=schedules,
                    counts=np.asarray(counts, float), shots=shots, clock_s=float(ds.attrs.get("device_clock_s", 0.0)))


# --- grouped observations: a pytree the likelihood is jitted over ------------------------------
class PulseGroup(eqx.Module):
    """Schedules of one structure: the leaves they share and the stacked ones that vary."""

    shared: Schedule
    varying: Schedule | None
    counts: jax.Array
    shots: jax.Array
    size: int = eqx.field(static=True)


class SequenceGroup(eqx.Module):
    """Gate sequences on one gate table of one length bucket: `steps` steps of programs padded
    (-1 = no gate) to the capacity of the table's longest bucket, which its buckets share."""

    gates: tuple[Schedule, ...]
    programs: jax.Array
    phases: jax.Array
    steps: jax.Array
    counts: jax.Array
    shots: jax.Array


class Observations(eqx.Module):
    groups: tuple[PulseGroup | SequenceGroup, ...]
    dt: float = eqx.field(static=True)

    @property
    def n_points(self) -> int:
        return sum(int(g.counts.shape[0]) for g in self.groups)


def observations(replayed: Sequence[Replayed], dt: float) -> Observations:
    """Group every dataset's schedules as SimulatedDevice does, keeping their counts alongside."""
    groups: list = []
    for r in replayed:
        pulses: dict = defaultdict(list)
        tables: dict = defaultdict(list)
        for i, s in enumerate(r.schedules):
            if isinstance(s, GateSequence):
                tables[_table_key(s.gates)].append(i)
            else:
                pulses[_group_key(s)].append(i)
        shots = jnp.asarray(float(r.shots))
        for indices in pulses.values():
            shared, varying = _split_varying([r.schedules[i] for i in indices])
            varying = varying if jax.tree.leaves(varying) else None
            groups.append(PulseGroup(shared=shared, varying=varying, counts=jnp.asarray(r.counts[indices]),
                                     shots=shots, size=len(indices)))
        for indices in tables.values():
            sequences = [r.schedules[i] for i in indices]
            buckets = length_buckets([len(s.program) for s in sequences])
            capacity = bucket_capacity(buckets)
            for members, steps in buckets:
                programs, phases = padded_programs([sequences[k] for k in members], capacity)
                groups.append(SequenceGroup(gates=sequences[0].gates, programs=jnp.asarray(programs),
                                            phases=jnp.asarray(phases), steps=jnp.asarray(steps, dtype=jnp.int64),
                                            counts=jnp.asarray(r.counts[np.asarray(indices)[members]]), shots=shots))
    if not groups:
        raise ModelLearningError("No datasets to learn from: give at least one dataset.")
    return Observations(groups=tuple(groups), dt=float(dt))


# --- the model --------------------------------------------------------------------------------
def transmon_from(x: jax.Array) -> Transmon:
    """The transmon of natural parameters x (PARAMETERS order, internal units)."""
    return Transmon(frequency=x[0], anharmonicity=x[1], drive_scale=x[2], t1=x[3], t2=x[4],
                    readout_p01=x[5], readout_p10=x[6], n_levels=N_LEVELS)


def _group_populations(chip: Chip, group, dt: float) -> jax.Array:
    if isinstance(group, SequenceGroup):
        superops = _gate_superops(chip, group.gates, dt)
        return _sequence_populations(superops, group.programs, group.phases, group.steps)
    if group.varying is None:
        single = _batched_populations(chip, group.shared, None, dt, repeat=True)
        return jnp.broadcast_to(single, (group.size,) + single.shape)
    return _batched_populations(chip, group.shared, group.varying, dt)


PHYSICAL = 5  # x[:5] set the populations; the readout errors x[5:] only mix them


def _ground_and_excited(physical: jax.Array, group, dt: float) -> jax.Array:
    """(2, n): the ground and the excited (every level >= 1) population of each of a group's
    schedules, for the physical parameters x[:5] (the readout errors play no part)."""
    transmon = transmon_from(jnp.concatenate([physical, jnp.zeros((2,), physical.dtype)]))
    pops = jnp.clip(_group_populations(Chip([transmon]), group, dt), 0.0, None)
    pops = pops / jnp.sum(pops, axis=-1, keepdims=True)
    return jnp.stack([pops[:, 0], jnp.sum(pops[:, 1:], axis=-1)])


def _read_one(x, levels):
    """P(read 1) from (ground, excited) populations: level 0 reads 1 with p01, the others with 1 - p10."""
    return x[5] * levels[0] + (1.0 - x[6]) * levels[1]


def read_one_probabilities(x: jax.Array, obs: Observations) -> jax.Array:
    """P(read 1) of every observed schedule, groups concatenated, for natural parameters x."""
    return jnp.concatenate([_read_one(x, _ground_and_excited(x[:PHYSICAL], group, obs.dt)) for group in obs.groups])


# --- the likelihood the fit evaluates: group by group, populations cached ----------------------


# Compiled per group structure, not per run: the fit of the datasets without RB and the joint fit
# share every group's compiled function, and groups of one structure (sweeps of the same length)
# share one.
_group_levels = eqx.filter_jit(_ground_and_excited)


@eqx.filter_jit
def _group_levels_and_jacobian(physical: jax.Array, group, dt: float) -> tuple[jax.Array, jax.Array]:
    def both(y):
        levels = _ground_and_excited(y, group, dt)
        return levels, levels

    jac, levels = jax.jacfwd(both, has_aux=True)(physical)
    return levels, jac


class Likelihood:
    """The NLL of one set of observations and its gradient and expected Fisher information, as the
    fit evaluates them: `negative_log_likelihood` and `read_one_probabilities` are the definition.

    Two things make it cheap. The populations depend on the five physical parameters only (the
    readout errors mix ground and excited populations linearly), so those of the last CACHE points
    are kept: the curvature scans' moves in p01 and p10 simulate nothing. And the Jacobian is taken
    in the five physical directions; the readout columns are the populations themselves. The
    groups run side by side (devices.side_by_side), one thread per core."""

    CACHE = 64

    def __init__(self, obs: Observations):
        self.obs = obs
        counts, shots = (np.asarray(a, float) for a in _counts_and_shots(obs))
        self.counts, self.shots = counts, shots
        self._log_binomial = special.gammaln(shots + 1.0) - special.gammaln(counts + 1.0) - special.gammaln(
            shots - counts + 1.0)
        self._levels: dict[bytes, np.ndarray] = {}
        self._seconds = {"levels": np.zeros(len(obs.groups)), "jacobian": np.zeros(len(obs.groups))}

    def _each_group(self, what: str, function) -> list:
        """[function(group) for every group], side by side, the slowest first (by their last
        times): the threads then finish together, where in list order RB's longest buckets came
        last and left one thread idle."""
        seconds = self._seconds[what]
        order = np.argsort(-seconds, kind="stable")

        def timed(k):
            start = time.perf_counter()
            result = function(self.obs.groups[k])
            seconds[k] = time.perf_counter() - start
            return result

        results = [None] * len(order)
        for k, result in zip(order, run_side_by_side(timed, order)):
            results[k] = result
        return results

    def _remember(self, key: bytes, levels: np.ndarray) -> np.ndarray:
        self._levels.pop(key, None)
        self._levels[key] = levels
        while len(self._levels) > self.CACHE:
            self._levels.pop(next(iter(self._levels)))
        return levels

    def levels(self, x) -> np.ndarray:
        """(2, N): the ground and the excited (every level >= 1) population of each observation."""
        physical = np.asarray(x, float)[:PHYSICAL]
        key = physical.tobytes()
        if key in self._levels:
            return self._remember(key, self._levels[key])
        y = jnp.asarray(physical)
        return self._remember(key, np.concatenate(
            self._each_group("levels", lambda g: np.asarray(_group_levels(y, g, self.obs.dt))), axis=1))

    def _nll_at(self, p: np.ndarray) -> float:
        p = np.clip(p, P_FLOOR, 1.0 - P_FLOOR)
        return -float(np.sum(self._log_binomial + self.counts * np.log(p) + (self.shots - self.counts) * np.log1p(-p)))

    def nll(self, x) -> float:
        x = np.asarray(x, float)
        return self._nll_at(_read_one(x, self.levels(x)))

    def probabilities_and_jacobian(self, x) -> tuple[np.ndarray, np.ndarray]:
        """P(read 1) of every observation and its exact Jacobian d p / d x, shape (N, 7)."""
        x = np.asarray(x, float)
        y = jnp.asarray(x[:PHYSICAL])
        parts = self._each_group("jacobian", lambda g: tuple(map(np.asarray,
                                                                 _group_levels_and_jacobian(y, g, self.obs.dt))))
        levels = self._remember(x[:PHYSICAL].tobytes(), np.concatenate([v for v, _ in parts], axis=1))
        d_levels = np.concatenate([j for _, j in parts], axis=1)  # (2, N, 5)
        jac = np.empty((levels.shape[1], len(PARAMETERS)))
        jac[:, :PHYSICAL] = _read_one(x, d_levels)
        jac[:, 5], jac[:, 6] = levels[0], -levels[1]
        return _read_one(x, levels), jac

    def nll_gradient_fisher(self, x) -> tuple[float, np.ndarray, np.ndarray]:
        """NLL, its gradient and the expected Fisher information sum_i n_i grad p_i grad p_i^T / (p_i (1 - p_i)),
        all in natural parameters, from one Jacobian of the probabilities."""
        p, jac = self.probabilities_and_jacobian(x)
        counts, shots = self.counts, self.shots
        nll = self._nll_at(p)
        inside = (p > P_FLOOR) & (p < 1.0 - P_FLOOR)  # the clip's derivative vanishes outside
        p = np.clip(p, P_FLOOR, 1.0 - P_FLOOR)
        dnll_dp = np.where(inside, -(counts / p - (shots - counts) / (1.0 - p)), 0.0)
        weight = np.where(inside, shots / (p * (1.0 - p)), 0.0)
        return nll, jac.T @ dnll_dp, (jac * weight[:, None]).T @ jac


def _counts_and_shots(obs: Observations) -> tuple[jax.Array, jax.Array]:
    counts = jnp.concatenate([g.counts for g in obs.groups])
    shots = jnp.concatenate([jnp.broadcast_to(g.shots, g.counts.shape) for g in obs.groups])
    return counts, shots


def binomial_nll(p: jax.Array, counts: jax.Array, shots: jax.Array) -> jax.Array:
    p = jnp.clip(p, P_FLOOR, 1.0 - P_FLOOR)
    log_pmf = (gammaln(shots + 1.0) - gammaln(counts + 1.0) - gammaln(shots - counts + 1.0)
               + counts * jnp.log(p) + (shots - counts) * jnp.log1p(-p))
    return -jnp.sum(log_pmf)


def binomial_deviance(nll: float, obs: Observations) -> float:
    """2 (NLL - NLL of the saturated model, p_i = counts_i / shots_i): the likelihood-ratio
    misfit of a model whose NLL over `obs` is `nll`. Its expectation is the number of points
    less the number of fitted parameters when the model describes the data."""
    counts, shots = (np.asarray(a) for a in _counts_and_shots(obs))
    p = np.clip(counts / shots, P_FLOOR, 1.0 - P_FLOOR)
    saturated = -float(np.sum(special.gammaln(shots + 1.0) - special.gammaln(counts + 1.0)
                              - special.gammaln(shots - counts + 1.0)
                              + special.xlogy(counts, p) + special.xlogy(shots - counts, 1.0 - p)))
    return 2.0 * (float(nll) - saturated)


@eqx.filter_jit
def negative_log_likelihood(x: jax.Array, obs: Observations) -> jax.Array:
    """-log P(counts | x) over every observation, natural parameters x."""
    counts, shots = _counts_and_shots(obs)
    return binomial_nll(read_one_probabilities(x, obs), counts, shots)


def nll_gradient_fisher(x, obs: Observations) -> tuple[float, np.ndarray, np.ndarray]:
    """NLL, gradient and expected Fisher information at natural parameters x (Likelihood's)."""
    return Likelihood(obs).nll_gradient_fisher(x)


# --- unconstrained coordinates -----------------------------------------------------------------
class Reparametrisation(eqx.Module):
    """theta <-> x. theta is unconstrained and of order one per natural scale, so optimiser
    steps are well conditioned and every theta is a valid transmon:

        frequency     = reference + 1e-3 theta_0     (theta_0 in MHz from a reference)
        anharmonicity = -exp(theta_1)
        drive_scale   = exp(theta_2),  t1 = exp(theta_3)
        t2            = 2 t1 sigmoid(theta_4)         (so 0 < t2 < 2 t1)
        readout_pXY   = 0.5 sigmoid(theta_5|6)        (so 0 < p < 1/2)
    """

    reference: jax.Array

    def to_natural(self, theta: jax.Array) -> jax.Array:
        t1 = jnp.exp(theta[3])
        return jnp.stack([self.reference + 1e-3 * theta[0], -jnp.exp(theta[1]), jnp.exp(theta[2]), t1,
                          2.0 * t1 * jax.nn.sigmoid(theta[4]),
                          0.5 * jax.nn.sigmoid(theta[5]), 0.5 * jax.nn.sigmoid(theta[6])])

    def to_unconstrained(self, x) -> jax.Array:
        x = jnp.asarray(x, jnp.float64)

        def logit(u):
            return jnp.log(u) - jnp.log1p(-u)

        return jnp.stack([1e3 * (x[0] - self.reference), jnp.log(-x[1]), jnp.log(x[2]), jnp.log(x[3]),
                          logit(x[4] / (2.0 * x[3])), logit(2.0 * x[5]), logit(2.0 * x[6])])


def check_natural(x) -> np.ndarray:
    """x as a float array of valid transmon parameters, or a ModelLearningError naming the bad one."""
    x = np.asarray(x, float)
    if x.shape != (len(PARAMETERS),):
        raise ModelLearningError(f"Argument `x` must have shape ({len(PARAMETERS)},) ({', '.join(PARAMETERS)}), "
                                 f"but has shape {x.shape}.")
    rules = [(x[0] > 0, "frequency > 0 GHz"), (x[1] < 0, "anharmonicity < 0 GHz"), (x[2] > 0, "drive_scale > 0"),
             (x[3] > 0, "t1 > 0 ns"), (0 < x[4] < 2 * x[3], "0 < t2 < 2 t1"), (0 < x[5] < 0.5, "0 < readout_p01 < 0.5"),
             (0 < x[6] < 0.5, "0 < readout_p10 < 0.5")]
    for name, value, (ok, allowed) in zip(PARAMETERS, x, rules):
        if not (np.isfinite(value) and ok):
            raise ModelLearningError(f"Model parameter {name} is {value!r}, but must satisfy {allowed}.")
    return x
