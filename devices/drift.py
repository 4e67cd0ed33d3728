"""Drift of a device's parameters with time, each process advanced exactly over any step.

- frequency: a random walk (sigma * sqrt(hours)) plus a telegraph process (two-level
  fluctuator) jumping by `telegraph_jump` at `telegraph_rate` flips per hour;
- drive amplitude: a random walk of log(drive_scale);
- T1: log(T1) follows an Ornstein-Uhlenbeck process with stationary spread
  `t1_fluctuation_rel` and correlation time `t1_correlation_hours`; pure dephasing stays
  fixed, so T2 follows T1 through 1/T2 = 1/(2 T1) + gamma_phi.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.chip import Chip
from devices.device_spec import DriftSpec
from devices.transmon import Transmon


@dataclass(frozen=True)
class DriftState:
    walk: tuple[float, ...]  # GHz
    telegraph: tuple[int, ...]  # 0 or 1
    log_amplitude: tuple[float, ...]
    log_t1: tuple[float, ...]

    @staticmethod
    def zero(n_qubits: int) -> "DriftState":
        z = (0.0,) * n_qubits
        return DriftState(walk=z, telegraph=(0,) * n_qubits, log_amplitude=z, log_t1=z)

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in self.__dict__.items()}

    @staticmethod
    def from_dict(d: dict) -> "DriftState":
        return DriftState(walk=tuple(d["walk"]), telegraph=tuple(int(x) for x in d["telegraph"]),
                          log_amplitude=tuple(d["log_amplitude"]), log_t1=tuple(d["log_t1"]))


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
    return DriftState(walk=tuple(walk.tolist()), telegraph=tuple(int(x) for x in telegraph),
                      log_amplitude=tuple(log_amp.tolist()), log_t1=tuple(log_t1.tolist()))


def apply_drift(chip: Chip, state: DriftState, spec: DriftSpec) -> Chip:
    """The fabricated chip with the drift state applied."""
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
    return Chip(transmons, couplings=chip.couplings, crosstalk=chip.crosstalk)


__all__ = ["DriftState", "advance_drift", "apply_drift"]
