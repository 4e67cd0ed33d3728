"""Ramsey: two pi/2 pulses around a delay; the fringe gives the detuning and T2*.

The second pulse's phase advances by 2 pi `detuning` tau (virtual Z), so fringes run at
`detuning` plus the qubit's offset from the drive: f_qubit = f_drive + f_fringe - detuning.
`detuning` must exceed the offset expected after spectroscopy, so the fringe frequency
stays positive and unaliased.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Delay, Play, ShiftPhase
from experiments.base import Experiment, Sweep
from experiments.fitting import (FitFailure, best_fit, analyse, conclude, curve_dataset, measured,
                                 dominant_frequency, weighted_fit)

UNITS = {"frequency": "GHz", "frequency_offset": "GHz", "t2_star": "ns", "contrast": "", "offset": ""}


def ramsey_model(tau, freq, t2, contrast, offset, phase):
    return offset + 0.5 * contrast * np.exp(-tau / t2) * np.cos(2 * np.pi * freq * tau + phase)


@dataclass(frozen=True)
class Ramsey(Experiment):
    name = "ramsey"
    summary = "Ramsey: qubit frequency offset and T2*"
    max_delay: float = 20_000.0  # ns
    points: int = 81
    detuning: float = 1e-3  # GHz of artificial detuning

    def sweeps(self, cal):
        return [Sweep("delay", np.linspace(0.0, self.max_delay, self.points), "ns")]

    def schedule(self, cal, point):
        c = cal[self.qubit]
        sx = c.sx_pulse()
        # The idle period spans every channel, so the delay sweep compiles once.
        phase = 2 * np.pi * self.detuning * point["delay"]
        return c.schedule([Play(0, sx), Delay(None, point["delay"]), ShiftPhase(0, -phase), Play(0, sx)])

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _fit(self, ds))


def fit_fringe(x: np.ndarray, y: np.ndarray, sigma: np.ndarray):
    """Fit a decaying fringe. The periodogram gives the frequency; with it (and a decay time of
    the window's length) offset, amplitude and phase are linear, so a weighted linear
    least-squares gives the remaining start values and the fit converges in a few steps
    (blind starting phases made the bounded fit grind through thousands of evaluations)."""
    f0 = dominant_frequency(x, y)
    t2 = x.max()
    envelope = np.exp(-x / t2)
    basis = np.stack([np.ones_like(x), envelope * np.cos(2 * np.pi * f0 * x),
                      envelope * np.sin(2 * np.pi * f0 * x)], axis=1)
    coef, *_ = np.linalg.lstsq(basis / sigma[:, None], y / sigma, rcond=None)
    offset, a, b = coef
    start = [f0, t2, min(2 * np.hypot(a, b), 2.0), offset, np.arctan2(-b, a)]
    bounds = ([0.0, 10.0, 0.0, -0.5, -2 * np.pi], [0.5 / (x[1] - x[0]), 1e8, 2.0, 1.5, 2 * np.pi])
    try:
        return weighted_fit(ramsey_model, x, y, sigma, start, bounds=bounds)
    except FitFailure:
        pass
    # fallback: blind starting phases
    starts = [[f0, t2, np.ptp(y), np.mean(y), phase] for phase in (0.0, np.pi / 2, np.pi, -np.pi / 2)]
    return best_fit(ramsey_model, x, y, sigma, starts, bounds=bounds, what="Ramsey")


def fringe_checks(best, x: np.ndarray, label: str = "") -> list[tuple[bool, str]]:
    contrast, fringe = best.estimate(2, ""), best.estimate(0, "GHz")
    nyquist = 0.5 / (x[1] - x[0])
    return [
        (contrast.value > 5 * contrast.stderr and contrast.value > 0.2,
         f"no significant Ramsey fringe{label} (contrast {contrast.value:.3f} +- {contrast.stderr:.3f})."),
        (fringe.value > 0.1 / x.max(), f"fewer than 0.1 fringe periods{label}: the detuning is too small to resolve."),
        (fringe.value < 0.8 * nyquist, f"the fringe{label} ({fringe.value * 1e3:.3f} MHz) is near the sampling "
                                       "limit; sample the delay more finely."),
    ]


def _fit(exp: Ramsey, ds: xr.Dataset):
    x = ds["delay"].values
    y, sigma = measured(ds, qubit=exp.qubit)
    best = fit_fringe(x, y, sigma)
    drive = float(calibrated(ds, exp.qubit, "frequency"))
    values = {"frequency": best.derived(lambda p: drive + p[0] - exp.detuning, "GHz"),
              "frequency_offset": best.derived(lambda p: p[0] - exp.detuning, "GHz"),
              "t2_star": best.estimate(1, "ns"),
              "contrast": best.estimate(2, ""), "offset": best.estimate(3, "")}
    fine = np.linspace(x.min(), x.max(), 800)
    return conclude(exp.name, exp.qubit, values, best, fringe_checks(best, x),
                    curve_dataset("delay", "ns", fine, ramsey_model(fine, *best.params)))


def calibrated(ds: xr.Dataset, qubit: int, name: str) -> float:
    """A calibration value the dataset was taken with (from its attrs)."""
    return json.loads(ds.attrs["calibration"])[str(qubit)][name]
