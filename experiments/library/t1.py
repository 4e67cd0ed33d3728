"""T1: an X pulse, a delay, a measurement; P(1) relaxes exponentially with the delay.

Read out, P(read 1) = p01 + (1 - p01 - p10) P1(tau) with P1(tau) = P1(0) exp(-tau / T1),
so `offset + amplitude exp(-tau / T1)` describes the data exactly (up to the leakage
the X pulse leaves in |2>, which reads as 1 and decays at 2 / T1: ~1e-3 of the signal).
The X pulse's own length only rescales `amplitude`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Delay, Play
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.fitting import (FitFailure, best_fit, analyse, conclude, curve_dataset, measured)

UNITS = {"t1": "ns", "amplitude": "", "offset": ""}

DELAY_GRAIN = 4.0  # ns: delays are whole multiples of this, so of any AWG sample time dividing it


def decay_model(tau, t, amplitude, offset):
    return offset + amplitude * np.exp(-tau / t)


def delay_sweep(max_delay: float, points: int) -> np.ndarray:
    return np.round(np.linspace(0.0, max_delay, points) / DELAY_GRAIN) * DELAY_GRAIN


def fit_decay(x: np.ndarray, y: np.ndarray, sigma: np.ndarray):
    """Weighted fit of offset + amplitude exp(-x / t), started from the data alone: the
    offset from the tail, the amplitude from the first point and t from the first point
    that has decayed below 1/e."""
    if len(x) < 5:
        raise FitFailure(f"{len(x)} delays are too few for a decay fit.")
    tail = float(np.mean(y[-max(2, len(y) // 10):]))
    amplitude = float(y[0]) - tail
    below = np.nonzero((y - tail) / amplitude < np.exp(-1.0))[0] if amplitude != 0 else []
    t0 = float(x[below[0]]) if len(below) and x[below[0]] > 0 else float(x.max()) / 3
    starts = [[t, amplitude, tail] for t in (0.5 * t0, t0, 2.0 * t0)]
    return best_fit(decay_model, x, y, sigma, starts,
                    bounds=([1e-3 * x.max(), -1.5, -0.5], [1e3 * x.max(), 1.5, 1.5]), what="decay")


def decay_checks(name: str, x: np.ndarray, fit) -> list[tuple[bool, str]]:
    """What a decay fit must satisfy for its time constant to be trusted."""
    t = fit.estimate(0, "ns")
    amplitude = fit.estimate(1, "")
    step = float(x[1] - x[0])
    return [
        (abs(amplitude.value) > 5 * amplitude.stderr and abs(amplitude.value) > 0.2,
         f"no significant decay (amplitude {amplitude.value:.3f} +- {amplitude.stderr:.3f})."),
        (t.value > 2 * step, f"{name} = {t.value:.4g} ns is shorter than two delay steps "
                             f"({step:.4g} ns each): lower `max_delay`."),
        (x.max() > 2 * t.value, f"the delays reach {x.max():.4g} ns, less than 2 {name} = "
                                f"{2 * t.value:.4g} ns: the decay's end is not seen; raise `max_delay`."),
    ]


@dataclass(frozen=True)
class T1(Experiment):
    """Sweeps the delay between an X pulse and the measurement from 0 to `max_delay`."""

    name = "t1"
    summary = "T1: energy relaxation time (t1)"
    max_delay: float = 300_000.0  # ns; the device plays at most 500 us per shot
    points: int = 51

    def __post_init__(self):
        if not (self.max_delay > 0 and self.points >= 5):
            raise ExperimentError(f"T1 needs max_delay > 0 and points >= 5, but has max_delay="
                                  f"{self.max_delay}, points={self.points}.")

    def sweeps(self, cal):
        return [Sweep("delay", delay_sweep(self.max_delay, self.points), "ns")]

    def schedule(self, cal, point):
        c = cal[self.qubit]
        # The idle period spans every channel, so the delay sweep compiles once.
        return c.schedule([Play(0, c.x_pulse()), Delay(None, point["delay"])])

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _fit(self, ds))


def _fit(exp: T1, ds: xr.Dataset):
    x = ds["delay"].values
    y, sigma = measured(ds, qubit=exp.qubit)
    fit = fit_decay(x, y, sigma)
    values = {"t1": fit.estimate(0, "ns"), "amplitude": fit.estimate(1, ""), "offset": fit.estimate(2, "")}
    checks = decay_checks("T1", x, fit) + [
        (values["amplitude"].value > 0, "P(1) rises with the delay: the X pulse did not excite the qubit."),
    ]
    fine = np.linspace(x.min(), x.max(), 400)
    return conclude(exp.name, exp.qubit, values, fit, checks,
                    curve_dataset("delay", "ns", fine, decay_model(fine, *fit.params)))
