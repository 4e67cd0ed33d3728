"""Model learning: the maximum-likelihood single-transmon model behind a set of datasets.

    model = learn_model(datasets, prior, qubit=0, options=LearnOptions())

The seven parameters (frequency, anharmonicity, drive scale, T1, T2, readout p01 and
p10) are fitted jointly to the raw counts of every dataset through the Lindblad
simulator (binomial likelihood, see calibrate.ml.likelihood).

Start: each dataset's own analysis where it is good (Ramsey or spectroscopy frequency,
Rabi / fine-amplitude pi amplitude -> drive scale, T1, echo T2, readout errors), the
prior's nominal values elsewhere.

Optimiser: Levenberg-Marquardt-damped Fisher scoring (Gauss-Newton for the binomial
likelihood) in the unconstrained coordinates of `Reparametrisation`. With seven
parameters, the forward-mode Jacobian of every P(read 1) gives the gradient and the
expected Fisher information at once, and scoring converges in 3-10 steps from the
analyses' start. `calibrate.ml.likelihood.Likelihood` evaluates it: compiled per dataset
group (so the fit without RB and the joint fit share their compilations), populations
cached, so the curvature scans' moves in the readout errors simulate nothing. optax's
first-order methods (adam, L-BFGS) were not used: they need a second compiled function
(the reverse-mode gradient, ~25 s to compile here) and many steps on curvatures that span
ten orders of magnitude.

Uncertainties: the inverse of the NLL's curvature measured over one standard error
(`calibrate.ml.information.secant_information`), not the local Fisher information or
Hessian: those see a kHz-scale ripple of the likelihood in the frequency and the
anharmonicity and overstate what the data tell (see calibrate.ml.information). Where the
ripple outgrows that curvature (randomized benchmarking's long gate sequences make the NLL
ripple by +-2 in the anharmonicity, every ~0.1 MHz, inside the 0.3 MHz well DRAG data
dig), the parameter is measured by the parabola fitted over its well (the envelope), and
moved to the envelope's minimum before the others are refitted: Fisher scoring alone stops
in the ripple's well nearest its start, which put the anharmonicity of sim-1q seed 4 1 MHz
from the truth with an 11 kHz error bar (94 sigma). So that the envelope only has to measure the
well, datasets with long gate sequences (over LONG_SEQUENCE gates: RB) are first left out: the
fit of the others (DRAG and fine-DRAG pin the anharmonicity smoothly) is where the joint fit starts.
A parameter is learned only if the data alone pin it to within `constrained_fraction`
of its prior width (the prior's fabrication spread, floored); the others (typically the
anharmonicity, which no standard experiment probes well) are kept at their start
values with NaN standard errors, and the reason says so.

Goodness of fit: the binomial deviance of the counts against the fitted model per degree
of freedom (points less learned parameters), ~1 when the model describes the data. When
it exceeds 1 the covariance is scaled by it, as experiments.fitting scales by the reduced
chi-square (the Birge ratio): a model that misses part of the data (a drift, a parameter
held at a wrong value) reports correspondingly wider error bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from calibrate.ml.information import (RIPPLE_SCALE, envelope, poorly_constrained, rippled, scaled_covariance,
                                      secant_information)
from calibrate.ml.likelihood import (PARAMETERS, UNITS, Likelihood, ModelLearningError, Reparametrisation,
                                     binomial_deviance, check_natural, observations, replay)
from calibrate.ml.starting_point import StartFromFits, StartFromPrior, prior_widths, start_values
from devices.device_spec import DeviceSpec
from devices.sequences import GateSequence
from experiments.results import Estimate

__all__ = ["LearnOptions", "LearnedModel", "StartFromFits", "StartFromPrior", "learn_model"]


@dataclass(frozen=True)
class LearnOptions:
    """max_iterations: Fisher-scoring steps at most (each costs one Jacobian of all data).
    tolerance: converged when the Newton decrement g^T F^-1 g / 2 falls below it (NLL units; 1e-4
        puts the optimum within about 0.01 standard errors).
    constrained_fraction: a parameter is learned when the data alone pin it to within this
        fraction of its prior width; otherwise it is kept at its start value.
    fixed: parameters held at their start values whatever the data say.
    start: StartFromFits() or StartFromPrior()."""

    max_iterations: int = 100
    tolerance: float = 1e-4
    constrained_fraction: float = 0.5
    fixed: tuple[str, ...] = ()
    start: StartFromFits | StartFromPrior = field(default_factory=StartFromFits)

    def __post_init__(self):
        if isinstance(self.max_iterations, bool) or not isinstance(self.max_iterations, int) or self.max_iterations < 1:
            raise ModelLearningError(
                f"LearnOptions.max_iterations is {self.max_iterations!r}, but must be an integer >= 1.")
        if not (isinstance(self.tolerance, (int, float)) and self.tolerance > 0):
            raise ModelLearningError(f"LearnOptions.tolerance is {self.tolerance!r}, but must be a number > 0.")
        if not (isinstance(self.constrained_fraction, (int, float)) and 0 < self.constrained_fraction <= 1):
            raise ModelLearningError(
                f"LearnOptions.constrained_fraction is {self.constrained_fraction!r}, but must satisfy 0 < fraction <= 1.")
        unknown = [p for p in self.fixed if p not in PARAMETERS]
        if unknown or isinstance(self.fixed, str):
            raise ModelLearningError(f"LearnOptions.fixed is {self.fixed!r}, but must be a tuple of parameter names "
                                     f"from: {', '.join(PARAMETERS)}.")
        if not isinstance(self.start, (StartFromFits, StartFromPrior)):
            raise ModelLearningError(
                f"LearnOptions.start is {self.start!r}, but must be StartFromFits() or StartFromPrior().")


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class LearnedModel:
    """values / stderr: name -> number in internal units (stderr NaN where not learned);
    covariance: 7x7 in PARAMETERS order (NaN rows and columns where not learned), the inverse of
    the NLL's curvature over one standard error times covariance_scale; local_stderr: from the
    expected Fisher information at the optimum, unscaled (smaller where the likelihood ripples,
    see calibrate.ml.information).
    deviance: binomial deviance of the counts against the fitted model; dof: points less learned
    parameters; covariance_scale: max(1, deviance / dof), by which the covariance was multiplied.
    converged: the fit converged and the NLL's curvature at the optimum is positive definite."""

    qubit: int
    values: Mapping[str, float]
    stderr: Mapping[str, float]
    covariance: np.ndarray = field(compare=False)
    local_stderr: Mapping[str, float]
    nll: float
    deviance: float
    dof: int
    covariance_scale: float
    converged: bool
    reason: str
    learned: tuple[str, ...]
    fixed: tuple[str, ...]
    start: Mapping[str, float]
    iterations: int
    n_points: int
    shots: int
    sources: tuple[str, ...]
    prior: DeviceSpec | None = field(default=None, compare=False, repr=False)

    @property
    def deviance_per_dof(self) -> float:
        """The goodness of fit: ~1 (within a few sqrt(2 / dof)) when the model describes the data."""
        return self.deviance / self.dof if self.dof > 0 else float("nan")

    def estimate(self, name: str) -> Estimate:
        if name not in self.values:
            raise KeyError(f"No model parameter {name!r}: choose one of {', '.join(PARAMETERS)}.")
        return Estimate(self.values[name], self.stderr[name], UNITS[name])

    def as_dict(self) -> dict:
        return {name: self.estimate(name).as_dict() for name in PARAMETERS}

    def to_device_spec(self, prior: DeviceSpec | None = None, *, name: str | None = None) -> DeviceSpec:
        """A simulated device of its own: nominal = learned values, spread = their uncertainty."""
        from calibrate.ml.device_file import learned_spec

        return learned_spec(self, self._prior(prior), name=name)

    def device_toml(self, prior: DeviceSpec | None = None, *, name: str | None = None) -> str:
        from calibrate.ml.device_file import spec_toml

        return spec_toml(self.to_device_spec(prior, name=name), header=self._header())

    def write_device_file(self, path, prior: DeviceSpec | None = None, *, name: str | None = None):
        from calibrate.ml.device_file import write_device_file

        return write_device_file(self.to_device_spec(prior, name=name), path, header=self._header())

    def _prior(self, prior: DeviceSpec | None) -> DeviceSpec:
        prior = prior if prior is not None else self.prior
        if prior is None:
            raise ModelLearningError("This LearnedModel carries no prior DeviceSpec: pass `prior`.")
        return prior

    def _header(self) -> str:
        lines = [f"Learned by maximum likelihood from {len(self.sources)} dataset(s), {self.n_points} points, "
                 f"{self.shots} shots: {', '.join(self.sources)}", f"NLL {self.nll:.6f}; deviance/dof {self.deviance_per_dof:.3f}; {self.reason}"]
        for p in PARAMETERS:
            lines.append(f"{p} = {self.values[p]!r} +- {self.stderr[p]!r} {UNITS[p]}".rstrip())
        return "\n".join(lines)


# --- the fit -------------------------------------------------------------------------------------
LONG_SEQUENCE = 100  # gates: datasets with longer sequences (RB) ripple in the anharmonicity; DRAG's and
# fine-DRAG's (at most ~2 x 20 gates) do not and define its smooth well
ENVELOPE_MOVES = 3  # times a rippling parameter is moved to its envelope's minimum and the rest refitted

@dataclass
class _State:
    theta: np.ndarray
    nll: float
    grad: np.ndarray  # theta space
    fisher: np.ndarray  # theta space
    fisher_x: np.ndarray  # natural space


@eqx.filter_jit
def _natural_and_jacobian(reparam: Reparametrisation, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
    return reparam.to_natural(theta), jax.jacfwd(reparam.to_natural)(theta)  # x, dx / dtheta


def _evaluate(theta: np.ndarray, likelihood: Likelihood, reparam: Reparametrisation) -> _State:
    x, jac = (np.asarray(a) for a in _natural_and_jacobian(reparam, jnp.asarray(theta, jnp.float64)))
    nll, grad_x, fisher_x = likelihood.nll_gradient_fisher(x)
    return _State(theta=np.asarray(theta, float), nll=nll, grad=jac.T @ grad_x, fisher=jac.T @ fisher_x @ jac,
                  fisher_x=fisher_x)


def _score(state: _State, likelihood: Likelihood, reparam, free: list[int],
           options: LearnOptions) -> tuple[_State, bool, int, str]:
    """Levenberg-Marquardt-damped Fisher scoring over the `free` coordinates."""
    damping = 1e-3
    for iteration in range(options.max_iterations + 1):
        g = state.grad[free]
        f = state.fisher[np.ix_(free, free)]
        try:
            decrement = 0.5 * float(g @ np.linalg.solve(f, g))
        except np.linalg.LinAlgError:
            decrement = float("inf")
        if 0 <= decrement < options.tolerance:
            return state, True, iteration, f"Newton decrement {decrement:.1e}"
        if iteration == options.max_iterations:
            break
        while True:
            step = -np.linalg.solve(f + damping * np.diag(np.diag(f)), g)
            theta = state.theta.copy()
            theta[free] += step
            try:
                trial = _evaluate(theta, likelihood, reparam)
            except RuntimeError:  # a step the computation refuses: reject it (a NaN NLL is rejected below)
                trial = None
            lower = trial is not None and np.isfinite(trial.nll) and trial.nll <= state.nll + 1e-12 * abs(state.nll)
            if lower and np.all(np.isfinite(trial.grad)):
                state, damping = trial, max(damping / 3.0, 1e-9)
                break
            damping *= 4.0
            if damping > 1e8:
                return state, False, iteration, f"no step lowers the NLL (Newton decrement {decrement:.2e})"
    return state, False, options.max_iterations, f"not converged in {options.max_iterations} steps"


def _as_datasets(datasets) -> tuple[list[str], list[xr.Dataset]]:
    if isinstance(datasets, xr.Dataset):
        datasets = [datasets]
    if isinstance(datasets, Mapping):
        return [str(k) for k in datasets], list(datasets.values())
    datasets = list(datasets)
    for i, ds in enumerate(datasets):
        if not isinstance(ds, xr.Dataset):
            raise ModelLearningError(f"datasets[{i}] must be an xarray.Dataset, but is {type(ds).__name__}.")
    return [f"datasets[{i}]" for i in range(len(datasets))], datasets


def learn_model(datasets, prior: DeviceSpec, qubit: int = 0, *, options: LearnOptions = LearnOptions()) -> LearnedModel:
    """Fit the single-transmon model of `qubit` to `datasets` (a sequence of Datasets, or a
    mapping source name -> Dataset). Bad input raises ModelLearningError; a fit that fails
    numerically is returned with converged=False and its reason."""
    if not isinstance(prior, DeviceSpec):
        raise ModelLearningError(f"Argument `prior` must be a DeviceSpec, but is {type(prior).__name__}.")
    if isinstance(qubit, bool) or not isinstance(qubit, int) or not 0 <= qubit < prior.n_qubits:
        raise ModelLearningError(f"Argument `qubit` is {qubit!r}, but {prior.name} has qubits 0..{prior.n_qubits - 1}.")
    sources, data = _as_datasets(datasets)
    if not data:
        raise ModelLearningError("No datasets to learn from: give at least one dataset.")
    replayed = [replay(ds, source) for source, ds in zip(sources, data)]
    for r in replayed:
        if r.qubit != qubit:
            raise ModelLearningError(f"Dataset {r.source} ({r.name}) measured qubit {r.qubit}, not qubit {qubit}.")
    likelihood = Likelihood(observations(replayed, prior.dt))
    start = start_values(replayed, data, prior, qubit, options.start)
    x0 = check_natural([start[p] for p in PARAMETERS])
    reparam = Reparametrisation(reference=jnp.asarray(x0[0]))
    widths = prior_widths(prior, x0)
    common = dict(qubit=qubit, start=_frozen(start), n_points=likelihood.obs.n_points,
                  shots=int(sum(r.counts.size * r.shots for r in replayed)), sources=tuple(sources), prior=prior)
    try:
        return _fit(likelihood, reparam, x0, widths, options, common,
                    begin=_smooth_start(replayed, prior.dt, reparam, x0, widths, options, common))
    except (FloatingPointError, np.linalg.LinAlgError, RuntimeError) as exc:  # XlaRuntimeError is a RuntimeError
        return _failed(x0, float("nan"), 0, f"the fit failed numerically ({type(exc).__name__}: {exc})", common)


def _smooth_start(replayed, dt: float, reparam, x0: np.ndarray, widths: np.ndarray, options: LearnOptions,
                  common: dict) -> np.ndarray:
    """Where the joint fit begins: x0, or where the datasets without long gate sequences (over
    LONG_SEQUENCE gates) put the parameters they learn, when there are both kinds. Gate sequences
    hundreds of gates long (randomized benchmarking) make the NLL ripple in the anharmonicity (every
    ~0.1 MHz, +-2), and Fisher scoring stops in the ripple's well nearest its start, while DRAG and
    fine-DRAG data define a smooth well ~0.3 MHz wide: from their optimum the joint fit starts inside
    that well (sim-1q seed 4 started 1 MHz away, at the prior). Parameters those datasets do not pin
    down keep their start values."""
    smooth = [r for r in replayed
              if not any(isinstance(s, GateSequence) and len(s.program) > LONG_SEQUENCE for s in r.schedules)]
    if not smooth or len(smooth) == len(replayed):
        return x0
    sub = Likelihood(observations(smooth, dt))
    try:
        first = _fit(sub, reparam, x0, widths, options, dict(common, n_points=sub.obs.n_points))
    except (FloatingPointError, np.linalg.LinAlgError, RuntimeError):  # the joint fit starts at x0 instead
        return x0
    if not first.converged:
        return x0
    begin = x0.copy()
    for name in first.learned:
        begin[PARAMETERS.index(name)] = first.values[name]
    return begin


def _failed(x: np.ndarray, nll: float, iterations: int, reason: str, common: dict) -> LearnedModel:
    nan = float("nan")
    nothing = _frozen({p: nan for p in PARAMETERS})
    return LearnedModel(values=_frozen(dict(zip(PARAMETERS, map(float, x)))), stderr=nothing,
                        covariance=np.full((7, 7), nan), local_stderr=nothing, nll=nll, deviance=nan,
                        dof=common["n_points"], covariance_scale=nan, converged=False,
                        reason=reason, learned=(), fixed=PARAMETERS, iterations=iterations, **common)


def _fit(likelihood: Likelihood, reparam, x0, widths, options: LearnOptions, common: dict,
         begin: np.ndarray | None = None) -> LearnedModel:
    """The fit from `begin` (default x0); a parameter found not pinned down goes back to x0."""
    held = [PARAMETERS.index(p) for p in options.fixed]
    theta0 = np.asarray(reparam.to_unconstrained(x0))
    state = _evaluate(np.asarray(reparam.to_unconstrained(begin)) if begin is not None else theta0, likelihood, reparam)
    free = [i for i in range(len(PARAMETERS)) if i not in held]
    dropped = poorly_constrained(state.fisher_x, widths, free, options.constrained_fraction)
    free = [i for i in free if i not in dropped]
    # the local information overstates rippling parameters: screen with the curvature over a
    # standard error too, so the fit never wanders along a direction the data do not pin down
    _, curvature, _, _ = _uncertainty(x0 if begin is None else begin, state.fisher_x, free, likelihood)
    if curvature is not None:  # away from the optimum it may be indefinite: a direction curving down is not pinned
        w = widths[free]  # in units of the prior widths, where the parameters compare
        eigenvalues, vectors = np.linalg.eigh(curvature * np.outer(w, w))
        information = np.zeros((7, 7))
        information[np.ix_(free, free)] = ((vectors * np.clip(eigenvalues, 0.0, None)) @ vectors.T) / np.outer(w, w)
        dropped.update(poorly_constrained(information, widths, free, options.constrained_fraction))
    iterations, converged, how, covariance, failure, moves = 0, False, "", None, "", {}
    envelope_moves = ENVELOPE_MOVES
    # refit while the optimum's uncertainties show a parameter is not pinned down, or a rippling one
    # sits away from its envelope's minimum (Fisher scoring stops in the ripple's well nearest its start)
    for _ in range(len(PARAMETERS) + ENVELOPE_MOVES):
        free = [i for i in free if i not in dropped]
        if not free:
            break
        state, converged, steps, how = _score(state, likelihood, reparam, free, options)
        iterations += steps
        x = np.asarray(reparam.to_natural(jnp.asarray(state.theta)))
        covariance, _, failure, moves = _uncertainty(x, state.fisher_x, free, likelihood)
        if covariance is None:
            break
        far = {i: d for i, d in moves.items() if abs(d) > 0.1 * np.sqrt(covariance[free.index(i), free.index(i)])}
        if far and envelope_moves > 0:
            envelope_moves -= 1
            moved = x.copy()
            for i, d in far.items():
                moved[i] += d
            state, covariance = _evaluate(np.asarray(reparam.to_unconstrained(moved)), likelihood, reparam), None
            continue
        ratio = np.sqrt(np.diag(covariance)) / widths[free]
        if np.max(ratio) <= options.constrained_fraction:
            break
        worst = free[int(np.argmax(ratio))]
        dropped[worst] = float(np.max(ratio) * widths[worst])
        theta = state.theta.copy()
        theta[worst] = theta0[worst]  # back to its start value, where a parameter that is not learned stays
        state, covariance = _evaluate(theta, likelihood, reparam), None
    x = np.asarray(reparam.to_natural(jnp.asarray(state.theta)))
    free = [i for i in free if i not in dropped]
    if not free:
        return _failed(x, state.nll, iterations, "no parameter is constrained by these datasets", common)
    notes = [_fixed_note(i, dropped.get(i), widths, options) for i in range(7) if i not in free]
    notes += [f"{PARAMETERS[i]} measured by the envelope of its well (its NLL ripples within one standard error)"
              for i in moves if i in free and covariance is not None]
    full = np.full((7, 7), np.nan)
    local = np.full(7, np.nan)
    local_cov, _ = scaled_covariance(state.fisher_x[np.ix_(free, free)])
    if local_cov is not None:
        local[free] = np.sqrt(np.diag(local_cov))
    deviance = binomial_deviance(state.nll, likelihood.obs)
    dof = likelihood.obs.n_points - len(free)
    scale = max(1.0, deviance / dof) if dof > 0 else 1.0
    if dof <= 0:
        notes.insert(0, f"{likelihood.obs.n_points} points leave no degree of freedom to judge the fit "
                        "(covariance unscaled)")
    elif scale > 1.0:
        notes.insert(0, f"covariance scaled by deviance/dof {scale:.3f}")
    if covariance is None:
        converged, reason = False, failure or "the uncertainties could not be computed"
    else:
        full[np.ix_(free, free)] = covariance * scale
        reason = (f"converged in {iterations} Fisher-scoring steps ({how})" if converged
                  else f"did not converge: {how}")
    stderr = np.sqrt(np.clip(np.diag(full), 0.0, None))
    full.setflags(write=False)
    return LearnedModel(values=_frozen(dict(zip(PARAMETERS, map(float, x)))),
                        stderr=_frozen(dict(zip(PARAMETERS, map(float, stderr)))), covariance=full,
                        local_stderr=_frozen(dict(zip(PARAMETERS, map(float, local)))),
                        nll=float(state.nll), deviance=deviance, dof=dof, covariance_scale=scale,
                        converged=converged, reason="; ".join([reason] + notes),
                        learned=tuple(PARAMETERS[i] for i in free),
                        fixed=tuple(PARAMETERS[i] for i in range(7) if i not in free), iterations=iterations,
                        **common)


def _uncertainty(x: np.ndarray, fisher_x: np.ndarray, free: list[int],
                 likelihood: Likelihood) -> tuple[np.ndarray | None, np.ndarray | None, str, dict[int, float]]:
    """(covariance, curvature, failure, moves) of the free parameters from the secant information, with
    steps of one standard error (first the expected Fisher's, then the secant's own until they agree
    within 50%). A parameter whose NLL ripples (calibrate.ml.information.rippled) is measured by its
    envelope instead: its curvature is the envelope's, its correlations are dropped, and `moves` maps
    its index to the offset from x of the envelope's minimum."""
    names = ", ".join(PARAMETERS[i] for i in free)
    if not free:
        return None, None, "no free parameters", {}
    local, smallest = scaled_covariance(fisher_x[np.ix_(free, free)])
    if local is None:
        return None, None, (f"the Fisher information of {names} is not positive definite (smallest scaled "
                            f"eigenvalue {smallest:.2e}): these datasets cannot tell them apart"), {}
    # a step never reaches a bound: positive parameters move by at most half their value
    bound = np.array([np.inf if i < 2 else 0.5 * abs(x[i]) for i in free])

    nll = likelihood.nll
    steps = np.minimum(np.sqrt(np.diag(local)), bound)
    envelopes: dict[int, tuple[float, float] | None] = {}  # position in free -> (move, curvature)
    for _ in range(3):
        curvature = secant_information(nll, x, free, steps)
        for k in rippled(nll, x, free, steps, curvature, bound):
            if k not in envelopes:
                i = free[k]
                envelopes[k] = envelope(lambda d, i=i: nll(x + d * np.eye(len(x))[i]), RIPPLE_SCALE * steps[k],
                                        bound[k])
        for k, found in envelopes.items():
            curvature[k, :] = curvature[:, k] = 0.0
            # no well within reach: a million steps wide, so the parameter counts as not pinned down
            curvature[k, k] = found[1] if found is not None else (1e-6 / steps[k]) ** 2
            steps[k] = 1.0 / np.sqrt(found[1]) if found is not None else steps[k]
        covariance, smallest = scaled_covariance(curvature)
        if covariance is None:
            return None, curvature, (f"the NLL's curvature over one standard error in {names} is not positive "
                                     f"definite (smallest scaled eigenvalue {smallest:.2e}): the optimum is not a "
                                     "clear minimum"), {}
        wanted = np.minimum(np.sqrt(np.diag(covariance)), bound)
        wanted[list(envelopes)] = steps[list(envelopes)]
        if np.all(np.abs(wanted / steps - 1.0) < 0.5):
            break
        steps = wanted
    moves = {free[k]: found[0] for k, found in envelopes.items() if found is not None}
    return covariance, curvature, "", moves


def _fixed_note(i: int, marginal: float | None, widths: np.ndarray, options: LearnOptions) -> str:
    name = PARAMETERS[i]
    if name in options.fixed or marginal is None:
        return f"{name} held at its start value (LearnOptions.fixed)"
    return (f"{name} not constrained by these datasets (they pin it to +-{marginal:.3g} {UNITS[name]}, not within "
            f"{options.constrained_fraction:g} of its prior width {widths[i]:.3g}): kept at its start value, stderr NaN")
