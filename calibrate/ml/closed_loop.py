"""Model-free closed loop: CMA-ES (evosax) on an error-amplification cost measured on the device.

    options = ClosedLoopOptions(shot_budget=150_000)
    result = closed_loop_cmaes(device, calibration, 0, options=options)
    result.calibration, result.shots, result.generations, result.reason

A baseline for the model-based calibrations, and a tool where no model is trusted: the
search sees nothing but the counts `device.run` returns, so it works on any `Device`.

Search space: three coordinates z, normalized around the starting calibration c0,

    frequency = c0.frequency + sigma_init.frequency * z[0]         [GHz]
    x_amp     = c0.x_amp * (1 + sigma_init.x_amp * z[1])            (relative)
    beta      = c0.beta + sigma_init.beta * z[2]                    [ns]

CMA-ES starts at z = 0 with step size 1, so `sigma_init` is each parameter's initial spread
in its own units. SX is scaled with X (its ratio to X is kept from c0, as fine_amplitude
does): the cost below is blind to SX's own error to first order, so a fourth coordinate
would be a direction the search cannot see. x_amp is clipped to the AWG's full scale.

The cost. Every term is a pair of sequences whose ideal P(1) are equal (both 1/2) and
which differ only by the sign of one pi/2 rotation; the term is the squared difference of
their measured P(1), whose ideal value is 0:

    amplitude  (+-SX) X^N             P+ - P- = +-sin(N d) cos(c)      d: X's angle error, c: SX's
    DRAG       (X, -X)^N (+-Y90)      P+ - P- = +-sin(N kappa) cos(e)  kappa: phase error per pair
    frequency  SX, wait tau, (+-Y90)  P+ - P- ~ +-sin(2 pi df tau)     df: qubit - drive frequency

(e: the Y90's angle error; Y90 is SX in a frame turned by pi/2, -X is X in a frame turned by
pi; see experiments/library/fine_amplitude.py, fine_drag.py and drag.py for the sequences).
Measuring the difference rather than P(1) - 1/2 matters: anything that maps P(1) affinely
and equally for both members (readout assignment errors, leakage read as 1, relaxation's
pull towards |0>) cancels, whereas a deviation from 1/2 would pull the optimum to where
the gate errors offset the readout asymmetry. With S shots per sequence each difference
has shot noise of variance ~1/(2 S), so the measured cost has a floor of
n_pairs / (2 S) (`ClosedLoopResult.noise_floor`); ranking is what CMA-ES uses.

Shots: each generation plays population x shots_per_candidate shots in one `device.run`
(the candidates' sequences together, so the device batches them); a generation that would
overrun `shot_budget` is not started, so the budget is never exceeded. The returned
calibration is the mean of the search distribution after the last generation, not the
candidate with the lowest measured cost, whose cost is biased low by its own shot noise.
The device's truth is never read. Results are deterministic for `seed` and a device whose
counts are (a SimulatedDevice from the same seed and state).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from evosax.algorithms import CMA_ES

from devices.limits import run_within_limits
from devices.protocol import Device
from devices.schedule import Delay, Play
from devices.sequences import GateSequence
from experiments.calibration import UNITS, QubitCalibration
from experiments.library.drag import pair_program

SEARCHED = ("frequency", "x_amp", "beta")


class ClosedLoopError(ValueError):
    """Bad closed-loop options or inputs."""


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
        and math.isfinite(value)


class ParameterScales(eqx.Module):
    """One number per searched parameter, in its natural units: frequency [GHz], x_amp
    (relative to the starting amplitude), beta [ns]."""

    frequency: float = 1e-4
    x_amp: float = 0.01
    beta: float = 0.1

    def __check_init__(self):
        for name, unit in zip(SEARCHED, ("GHz", "relative", "ns")):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise ClosedLoopError(f"ParameterScales.{name} is {value!r}, but must be a finite number > 0 ({unit}).")


class ErrorAmplificationCost(eqx.Module):
    """The sequences of the cost (see the module docstring): one +- pair per entry.

    amplitude_repetitions: N of the (+-SX) X^N pairs; drag_pairs: N of the
    (X, -X)^N (+-Y90) pairs; ramsey_delays: tau [ns] of the SX, wait, (+-Y90) pairs.
    Keep N |d|, N |kappa| and 2 pi |df| tau below ~pi/2 over the searched range, or the
    cost wraps round; the shorter entries keep the far landscape single-valleyed."""

    amplitude_repetitions: tuple[int, ...] = eqx.field(default=(4, 12), converter=tuple)
    drag_pairs: tuple[int, ...] = eqx.field(default=(2, 6), converter=tuple)
    ramsey_delays: tuple[float, ...] = eqx.field(default=(250.0, 1000.0), converter=tuple)

    def __check_init__(self):
        for name in ("amplitude_repetitions", "drag_pairs"):
            values = getattr(self, name)
            if not all(_is_int(v) and v >= 1 for v in values):
                raise ClosedLoopError(f"ErrorAmplificationCost.{name} is {values!r}, but must hold integers >= 1.")
        if not all(_is_number(v) and v > 0 for v in self.ramsey_delays):
            raise ClosedLoopError(
                f"ErrorAmplificationCost.ramsey_delays is {self.ramsey_delays!r}, but must hold numbers > 0 (ns).")
        if self.n_pairs == 0:
            raise ClosedLoopError("ErrorAmplificationCost has no sequences: give at least one repetition or delay.")

    @property
    def n_pairs(self) -> int:
        return len(self.amplitude_repetitions) + len(self.drag_pairs) + len(self.ramsey_delays)

    @property
    def n_sequences(self) -> int:
        return 2 * self.n_pairs


class ClosedLoopOptions(eqx.Module):
    """shot_budget: shots the whole search may spend (never exceeded); population:
    candidates per generation; shots_per_candidate: shots of one candidate's cost, split
    evenly over the cost's sequences (a multiple of `cost.n_sequences`); sigma_init: the
    initial spread of each parameter; seed: CMA-ES's sampling; max_generations: an
    optional stop before the budget is spent."""

    shot_budget: int
    population: int = 8
    shots_per_candidate: int = 1200
    sigma_init: ParameterScales = ParameterScales()
    seed: int = 0
    cost: ErrorAmplificationCost = ErrorAmplificationCost()
    max_generations: int | None = None

    def __check_init__(self):
        lows = {"shot_budget": 1, "population": 2, "shots_per_candidate": 1, "seed": 0}
        for name, low in lows.items():
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                why = " (CMA-ES ranks candidates against each other)" if name == "population" else ""
                raise ClosedLoopError(f"ClosedLoopOptions.{name} is {value!r}, but must be an integer >= {low}{why}.")
        if self.max_generations is not None and (not _is_int(self.max_generations) or self.max_generations < 1):
            raise ClosedLoopError(
                f"ClosedLoopOptions.max_generations is {self.max_generations!r}, but must be None or an integer >= 1.")
        if not isinstance(self.sigma_init, ParameterScales):
            raise ClosedLoopError(f"ClosedLoopOptions.sigma_init is {self.sigma_init!r}, but must be a ParameterScales.")
        if not isinstance(self.cost, ErrorAmplificationCost):
            raise ClosedLoopError(f"ClosedLoopOptions.cost is {self.cost!r}, but must be an ErrorAmplificationCost.")
        n = self.cost.n_sequences
        if self.shots_per_candidate % n:
            raise ClosedLoopError(
                f"ClosedLoopOptions.shots_per_candidate is {self.shots_per_candidate}, but must be a multiple of "
                f"the cost's {n} sequences (e.g. {max(1, round(self.shots_per_candidate / n)) * n}).")
        if self.shot_budget < self.shots_per_generation:
            raise ClosedLoopError(
                f"ClosedLoopOptions.shot_budget is {self.shot_budget}, but one generation needs population x "
                f"shots_per_candidate = {self.population} x {self.shots_per_candidate} = {self.shots_per_generation} "
                "shots: raise the budget or lower population or shots_per_candidate.")

    @property
    def shots_per_sequence(self) -> int:
        return self.shots_per_candidate // self.cost.n_sequences

    @property
    def shots_per_generation(self) -> int:
        return self.population * self.shots_per_candidate


class ClosedLoopResult(NamedTuple):
    calibration: QubitCalibration  # the search distribution's mean after the last generation
    cost_history: np.ndarray  # (generations, population): the measured cost of every candidate
    mean_history: np.ndarray  # (generations + 1, 3): the normalized mean z, the start first
    shots: int  # shots played, <= options.shot_budget
    generations: int
    reason: str  # why the search stopped
    noise_floor: float  # the cost's expectation from shot noise alone (P(1) = 1/2)


# --- the cost --------------------------------------------------------------------------------
def amplification_sequences(cost: ErrorAmplificationCost, c: QubitCalibration) -> list[GateSequence]:
    """The cost's sequences for calibration c, as consecutive (+, -) pairs: amplitude,
    DRAG, then frequency terms. One gate table (SX, X, one idle per delay) serves them all."""
    table = (c.schedule([Play(0, c.sx_pulse())]), c.schedule([Play(0, c.x_pulse())]),
             *(c.schedule([Delay(None, tau)]) for tau in cost.ramsey_delays))
    sequences = []
    for n in cost.amplitude_repetitions:
        sequences.append(GateSequence(table, [0] + [1] * n, np.zeros(n + 1)))
        # -SX: SX in the frame pi, then back to frame 0 for the X gates. A new array: on CPU
        # JAX may share an aligned numpy buffer, so editing one in place could change both.
        minus = np.zeros(n + 1)
        minus[:2] = np.pi, -np.pi
        sequences.append(GateSequence(table, [0] + [1] * n, minus))
    for n in cost.drag_pairs:
        program, phases = pair_program(1, n)
        for sign in (1.0, -1.0):  # ShiftPhase increments add up: end in the frame +-pi/2
            sequences.append(GateSequence(table, program + [0], np.append(phases, sign * np.pi / 2 - phases.sum())))
    for k in range(len(cost.ramsey_delays)):
        for sign in (1.0, -1.0):
            sequences.append(GateSequence(table, [0, 2 + k, 0], [0.0, 0.0, sign * np.pi / 2]))
    return sequences


def pair_cost(probabilities: np.ndarray) -> np.ndarray:
    """Sum over the pairs of (P+ - P-)^2; probabilities (..., n_sequences) in pair order."""
    p = np.asarray(probabilities, dtype=float)
    return np.sum((p[..., 0::2] - p[..., 1::2]) ** 2, axis=-1)


# --- the search ------------------------------------------------------------------------------
def candidate_calibration(start: QubitCalibration, scales: ParameterScales, z) -> QubitCalibration:
    """The calibration at normalized coordinates z (see the module docstring)."""
    z = np.asarray(z, dtype=float)
    x_amp = float(np.clip(start.x_amp * (1.0 + scales.x_amp * z[1]), 0.0, 1.0))
    ratio = start.sx_amp / start.x_amp if start.x_amp else 0.5
    return start.replace(frequency=float(start.frequency + scales.frequency * z[0]), x_amp=x_amp,
                         sx_amp=x_amp * ratio, beta=float(start.beta + scales.beta * z[2]))


@functools.lru_cache(maxsize=8)
def _strategy(population: int) -> CMA_ES:
    # ask/tell are jitted with the strategy as a static argument: one instance per
    # population size keeps them compiled across calls
    return CMA_ES(population_size=population, solution=jnp.zeros(len(SEARCHED)))


def _check_inputs(device: Device, calibration: QubitCalibration, qubit: int) -> None:
    if not isinstance(calibration, QubitCalibration):
        raise ClosedLoopError(f"Argument `calibration` must be a QubitCalibration, but is {type(calibration).__name__}.")
    if not _is_int(qubit) or qubit not in device.qubits:
        raise ClosedLoopError(f"Qubit {qubit!r} is not on device {device.name}: it has qubits {list(device.qubits)}.")
    if not 0 < calibration.x_amp <= 1:
        raise ClosedLoopError(f"calibration.x_amp is {calibration.x_amp!r}, but must be in (0, 1] to search around it.")


def closed_loop_cmaes(device: Device, calibration: QubitCalibration, qubit: int, *,
                      options: ClosedLoopOptions) -> ClosedLoopResult:
    """Tune frequency, x_amp (sx_amp with it) and beta of `qubit` by CMA-ES on the measured
    error-amplification cost, within `options.shot_budget` shots."""
    if not isinstance(options, ClosedLoopOptions):
        raise ClosedLoopError(f"Argument `options` must be a ClosedLoopOptions, but is {type(options).__name__}.")
    _check_inputs(device, calibration, qubit)
    strategy = _strategy(options.population)
    params = strategy.default_params.replace(std_init=jnp.asarray(1.0))
    key, init_key = jax.random.split(jax.random.key(options.seed))
    state = strategy.init(init_key, jnp.zeros(len(SEARCHED)), params)
    per_sequence, n_sequences = options.shots_per_sequence, options.cost.n_sequences

    costs, means, shots = [], [np.zeros(len(SEARCHED))], 0
    while True:
        if options.max_generations is not None and len(costs) >= options.max_generations:
            reason = f"reached max_generations = {options.max_generations}"
            break
        if shots + options.shots_per_generation > options.shot_budget:
            reason = (f"shot budget: another generation ({options.shots_per_generation} shots) would exceed "
                      f"{options.shot_budget} with {shots} spent")
            break
        key, ask_key, tell_key = jax.random.split(key, 3)
        z, state = strategy.ask(ask_key, state, params)
        candidates = [candidate_calibration(calibration, options.sigma_init, zi) for zi in np.asarray(z)]
        schedules = [s for c in candidates for s in amplification_sequences(options.cost, c)]
        counts = run_within_limits(device, schedules, per_sequence, qubits=(qubit,))["counts"].sel(qubit=qubit).values
        shots += per_sequence * len(schedules)
        cost = pair_cost(np.asarray(counts, dtype=float).reshape(options.population, n_sequences) / per_sequence)
        if not np.all(np.isfinite(cost)):
            raise ClosedLoopError(f"device {device.name} returned counts that give a non-finite cost "
                                  f"in generation {len(costs)}: {cost}.")
        state, _ = strategy.tell(tell_key, z, jnp.asarray(cost), state, params)
        costs.append(cost)
        means.append(np.asarray(state.mean))

    return ClosedLoopResult(
        calibration=candidate_calibration(calibration, options.sigma_init, means[-1]),
        cost_history=np.array(costs).reshape(len(costs), options.population),
        mean_history=np.array(means), shots=shots, generations=len(costs), reason=reason,
        noise_floor=options.cost.n_pairs / (2.0 * per_sequence))


class Recalibration(NamedTuple):
    """What a calibration-graph step needs: name -> value and unit, and the shots spent."""

    values: dict[str, float]
    units: dict[str, str]
    shots: int
    reason: str


def cmaes_recalibration(device: Device, calibration: QubitCalibration, qubit: int, *,
                        options: ClosedLoopOptions) -> Recalibration:
    """closed_loop_cmaes reduced to the values it updates (frequency, x_amp, sx_amp, beta),
    so that a benchmark can set it beside the classic calibration graph."""
    result = closed_loop_cmaes(device, calibration, qubit, options=options)
    names = ("frequency", "x_amp", "sx_amp", "beta")
    values = {name: float(getattr(result.calibration, name)) for name in names}
    return Recalibration(values=values, units={name: UNITS[name] for name in names}, shots=result.shots,
                         reason=result.reason)
