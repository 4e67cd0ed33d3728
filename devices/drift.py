"""Drift of a device's parameters with time, each process advanced exactly over any step.

- frequency: a random walk (sigma * sqrt(hours)) plus a telegraph process (two-level
  fluctuator) jumping by `telegraph_jump` at `telegraph_rate` flips per hour;
- drive amplitude: a random walk of log(drive_scale);
- T1: log(T1) follows an Ornstein-Uhlenbeck process with stationary spread
  `t1_fluctuation_rel` and correlation time `t1_correlation_hours`; pure dephasing stays
  fixed, so T2 follows T1 through 1/T2 = 1/(2 T1) + gamma_phi;
- readout resonator frequency: a random walk (`resonator_walk` * sqrt(hours)), drawn from a
  stream of its own, so that the qubits' processes of every device are those they were
  before resonators drifted.

A simulated device's drift is a `DriftPath`: a function of its seed and clock alone, so two
copies of one device run differently (more shots, more runs, other advance() steps) see the
same drift at the same clock, and strategies compared on them are paired. `advance_drift`
draws one transition from an rng, for sampling drift where no device clock exists.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import equinox as eqx
import numpy as np

from devices.chip import Chip
from devices.device_spec import DriftSpec
from devices.transmon import Transmon

# The path lives on a grid of one minute. Each process's law from grid point to grid point
# is its exact transition law; between grid points the walks and log T1 are interpolated
# linearly and the telegraph holds its value. A minute is far below the processes' own
# time scales (T1 memory of hours, telegraph dwell of ~20 h) and below a night's
# calibration run, and the interpolation leaves out at most the Brownian bridge's spread,
# sigma * sqrt(1 min) / 2 = 0.65 kHz for the catalog's 10 kHz/sqrt(h) walk, well under a
# calibration's ~30 kHz tolerance. At 60 steps per hour, 90 days are 130k steps per
# qubit and process: tens of milliseconds to generate.
STEPS_PER_HOUR = 60
# Steps drawn at once from one counter-keyed stream (~17 h of drift).
BLOCK_STEPS = 1024
_CACHED_BLOCKS = 4  # whole blocks kept per path
# Block start states (5 numbers a qubit and block) are shared by every path of one
# (seed, n_qubits, spec), so a device reopened each night does not redo the months before.
_SHARED_STARTS: OrderedDict[tuple, list[np.ndarray]] = OrderedDict()
_SHARED_PATHS = 256
_STARTS_LOCK = threading.Lock()
_WALK, _TELEGRAPH, _LOG_AMP, _LOG_T1, _RESONATOR = range(5)


@dataclass(frozen=True)
class DriftState:
    walk: tuple[float, ...]  # GHz
    telegraph: tuple[int, ...]  # 0 or 1
    log_amplitude: tuple[float, ...]
    log_t1: tuple[float, ...]
    # GHz; () as in states from before resonators drifted: every resonator where it was made
    resonator_walk: tuple[float, ...] = ()

    def __post_init__(self):
        if not self.resonator_walk:
            object.__setattr__(self, "resonator_walk", (0.0,) * len(self.walk))
        elif len(self.resonator_walk) != len(self.walk):
            raise ValueError(f"DriftState.resonator_walk has {len(self.resonator_walk)} entries, but the state has "
                             f"{len(self.walk)} qubits: give one per qubit, or none.")

    @staticmethod
    def zero(n_qubits: int) -> "DriftState":
        z = (0.0,) * n_qubits
        return DriftState(walk=z, telegraph=(0,) * n_qubits, log_amplitude=z, log_t1=z, resonator_walk=z)

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in self.__dict__.items()}

    @staticmethod
    def from_dict(d: dict) -> "DriftState":
        return DriftState(walk=tuple(d["walk"]), telegraph=tuple(int(x) for x in d["telegraph"]),
                          log_amplitude=tuple(d["log_amplitude"]), log_t1=tuple(d["log_t1"]),
                          resonator_walk=tuple(d.get("resonator_walk", ())))

    def shifted(self, frequency: tuple[float, ...]) -> "DriftState":
        """This state with each qubit's frequency moved on by `frequency` (GHz)."""
        if len(frequency) != len(self.walk):
            raise ValueError(f"Argument `frequency` must have {len(self.walk)} entries (one per qubit), "
                             f"but has {len(frequency)}.")
        return replace(self, walk=tuple(w + float(f) for w, f in zip(self.walk, frequency)))


def advance_drift(state: DriftState, hours: float, spec: DriftSpec,
                  rng: np.random.Generator) -> DriftState:
    """The drift state `hours` later (exact transition law of each process)."""
    if hours < 0:
        raise ValueError(f"Argument `hours` must be >= 0, but is {hours}.")
    if hours == 0:
        return state
    n = len(state.walk)
    walk = np.asarray(state.walk) + spec.frequency_walk * np.sqrt(hours) * rng.standard_normal(n)
    # A two-state process flipping at rate r has flipped an odd number of times with
    # probability (1 - exp(-2 r t)) / 2.
    p_flip = 0.5 * (1.0 - np.exp(-2.0 * spec.telegraph_rate * hours))
    telegraph = np.asarray(state.telegraph) ^ (rng.random(n) < p_flip)
    log_amp = np.asarray(state.log_amplitude) + spec.amplitude_walk_rel * np.sqrt(hours) * rng.standard_normal(n)
    decay = np.exp(-hours / spec.t1_correlation_hours)
    log_t1 = (np.asarray(state.log_t1) * decay
              + spec.t1_fluctuation_rel * np.sqrt(1.0 - decay**2) * rng.standard_normal(n))
    resonator = np.asarray(state.resonator_walk)
    if spec.resonator_walk:  # drawn only when it walks: a still spec's rng gives the draws it gave before
        resonator = resonator + spec.resonator_walk * np.sqrt(hours) * rng.standard_normal(n)
    return DriftState(walk=tuple(walk.tolist()), telegraph=tuple(int(x) for x in telegraph),
                      log_amplitude=tuple(log_amp.tolist()), log_t1=tuple(log_t1.tolist()),
                      resonator_walk=tuple(resonator.tolist()))


class DriftPath:
    """The drift of one device as a deterministic function of (seed, clock).

    Grid step k's increments come from block k // BLOCK_STEPS, drawn from a stream keyed on
    (seed, 1, block) for all qubits and the qubits' processes at once, so a block's numbers do
    not depend on which clocks were asked for before; the resonators' walk from one keyed on
    (seed, 4, block), so adding it left the qubits' drift of every seed as it was. Each block
    starts from the previous block's end; those start states are cached (and shared by paths
    of the same seed, size and spec), so a clock far ahead costs one pass over the blocks in
    between, once.
    """

    def __init__(self, seed: int, n_qubits: int, spec: DriftSpec):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Argument `seed` must be an integer >= 0, but is {seed!r}.")
        if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
            raise ValueError(f"Argument `n_qubits` must be an integer >= 1, but is {n_qubits!r}.")
        self.seed, self.n_qubits, self.spec = int(seed), int(n_qubits), spec
        step = 1.0 / STEPS_PER_HOUR
        self._walk_step = spec.frequency_walk * np.sqrt(step)
        self._amp_step = spec.amplitude_walk_rel * np.sqrt(step)
        self._resonator_step = spec.resonator_walk * np.sqrt(step)
        self._p_flip = 0.5 * (1.0 - np.exp(-2.0 * spec.telegraph_rate * step))
        self._decay = np.exp(-step / spec.t1_correlation_hours)
        self._t1_step = spec.t1_fluctuation_rel * np.sqrt(1.0 - self._decay**2)
        key = (self.seed, self.n_qubits, spec)
        with _STARTS_LOCK:  # the state at each block's first grid point
            self._starts = _SHARED_STARTS.setdefault(key, [np.zeros((5, self.n_qubits))])
            _SHARED_STARTS.move_to_end(key)
            if len(_SHARED_STARTS) > _SHARED_PATHS:
                _SHARED_STARTS.popitem(last=False)
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def at(self, hours: float) -> DriftState:
        """The drift state at clock `hours` (0 at fabrication, where every process is 0)."""
        if not (np.isfinite(hours) and hours >= 0):
            raise ValueError(f"Argument `hours` must be finite and >= 0, but is {hours!r}.")
        x = float(hours) * STEPS_PER_HOUR
        k = int(np.floor(x))
        frac = x - k
        left = self._grid(k)
        values = left if frac == 0.0 else (1.0 - frac) * left + frac * self._grid(k + 1)
        return DriftState(walk=tuple(values[_WALK].tolist()),
                          telegraph=tuple(int(v) for v in left[_TELEGRAPH]),
                          log_amplitude=tuple(values[_LOG_AMP].tolist()),
                          log_t1=tuple(values[_LOG_T1].tolist()),
                          resonator_walk=tuple(values[_RESONATOR].tolist()))

    def _grid(self, k: int) -> np.ndarray:
        block, j = divmod(k, BLOCK_STEPS)
        return self._block(block)[j]

    def _block(self, b: int) -> np.ndarray:
        """Grid values (BLOCK_STEPS + 1, 5, n_qubits) of block b, its last row block b+1's first."""
        if b in self._blocks:
            self._blocks.move_to_end(b)
            return self._blocks[b]
        with _STARTS_LOCK:
            while len(self._starts) <= b:  # the start states in between, once
                self._starts.append(self._compute(len(self._starts) - 1)[-1])
        path = self._compute(b)
        self._blocks[b] = path
        if len(self._blocks) > _CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return path

    def _compute(self, b: int) -> np.ndarray:
        start = self._starts[b]
        rng = np.random.default_rng([self.seed, 1, b])
        normal = rng.standard_normal((3, BLOCK_STEPS, self.n_qubits))
        flips = rng.random((BLOCK_STEPS, self.n_qubits)) < self._p_flip
        path = np.empty((BLOCK_STEPS + 1, 5, self.n_qubits))
        path[0] = start
        path[1:, _WALK] = start[_WALK] + np.cumsum(self._walk_step * normal[0], axis=0)
        path[1:, _LOG_AMP] = start[_LOG_AMP] + np.cumsum(self._amp_step * normal[1], axis=0)
        # A Markov chain on the grid flipping with probability (1 - exp(-2 r step)) / 2 per
        # step has the continuous process's flip law over any whole number of steps.
        parity = np.cumsum(flips, axis=0) % 2
        path[1:, _TELEGRAPH] = np.logical_xor(start[_TELEGRAPH] > 0.5, parity)
        # log T1: the exact AR(1) recursion of the OU process, x' = a x + s eps.
        from scipy.signal import lfilter  # here: scipy.signal takes ~0.4 s to import, paid by every command
        path[1:, _LOG_T1] = lfilter([self._t1_step], [1.0, -self._decay], normal[2], axis=0,
                                    zi=(self._decay * start[_LOG_T1])[None, :])[0]
        resonator = np.random.default_rng([self.seed, 4, b]).standard_normal((BLOCK_STEPS, self.n_qubits))
        path[1:, _RESONATOR] = start[_RESONATOR] + np.cumsum(self._resonator_step * resonator, axis=0)
        return path


def apply_drift(chip: Chip, state: DriftState, spec: DriftSpec) -> Chip:
    """The fabricated chip with the drift state applied (a chip without resonators keeps none)."""
    transmons = []
    for q, t in enumerate(chip.transmons):
        t1 = float(t.t1) * np.exp(state.log_t1[q])
        gamma_phi = 1.0 / float(t.t2) - 0.5 / float(t.t1)
        transmons.append(Transmon(
            frequency=float(t.frequency) + state.walk[q] + spec.telegraph_jump * state.telegraph[q],
            anharmonicity=t.anharmonicity,
            drive_scale=float(t.drive_scale) * np.exp(state.log_amplitude[q]),
            t1=t1, t2=1.0 / (0.5 / t1 + gamma_phi),
            readout_p01=t.readout_p01, readout_p10=t.readout_p10, n_levels=t.n_levels,
        ))
    resonators = None if chip.resonators is None else [
        eqx.tree_at(lambda r: r.frequency, r, r.frequency + state.resonator_walk[q])
        for q, r in enumerate(chip.resonators)]
    return Chip(transmons, couplings=chip.couplings, crosstalk=chip.crosstalk, resonators=resonators)


__all__ = ["BLOCK_STEPS", "STEPS_PER_HOUR", "DriftPath", "DriftState", "advance_drift", "apply_drift"]
