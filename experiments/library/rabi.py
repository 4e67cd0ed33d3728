"""Amplitude Rabi: P(1) against the X pulse's amplitude gives the pi amplitude."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Play
from experiments.base import Experiment, Sweep
from experiments.fitting import (FitFailure, best_fit, analyse, conclude, curve_dataset, measured,
                                 dominant_frequency)

UNITS = {"x_amp": "", "sx_amp": "", "contrast": "", "offset": ""}


def rabi_model(amp, amp_pi, contrast, offset, curvature):
    """A transmon's Rabi angle is not linear in amplitude: the drive Stark-shifts level 1
    through level 2, slowing the rotation by ~(Omega/alpha)^2. The cubic term models that,
    and is written so that the angle is exactly pi at amp_pi whatever the curvature; a
    purely linear model read the pi amplitude 0.2% (1.4 sigma) high on sim-1q."""
    x = amp / amp_pi
    return offset - 0.5 * contrast * np.cos(np.pi * (x + curvature * (x**3 - x)))


@dataclass(frozen=True)
class AmplitudeRabi(Experiment):
    """Sweeps the X pulse amplitude from 0 to `span` times its current value."""

    name = "rabi"
    summary = "Amplitude Rabi: pi-pulse amplitude (x_amp, sx_amp)"
    points: int = 41
    span: float = 2.5

    def sweeps(self, cal):
        top = min(1.0, self.span * cal[self.qubit].x_amp)
        return [Sweep("amplitude", np.linspace(0.0, top, self.points), "")]

    def schedule(self, cal, point):
        c = cal[self.qubit]
        return c.schedule([Play(0, c.x_pulse(amp=point["amplitude"]))])

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _fit(self, ds))


def _fit(exp: AmplitudeRabi, ds: xr.Dataset):
    x = ds["amplitude"].values
    y, sigma = measured(ds, qubit=exp.qubit)
    cycles = dominant_frequency(x, y)  # oscillation cycles per unit amplitude
    if cycles <= 0:
        raise FitFailure("no oscillation in the data.")
    # on ~1 period of a curved Rabi the periodogram's peak can sit a little off: try starts around it
    starts = [[k / (2.0 * cycles), np.ptp(y), np.mean(y), 0.0] for k in (0.8, 1.0, 1.25)]
    best = best_fit(rabi_model, x, y, sigma, starts,
                    bounds=([1e-4, 0.0, -0.5, -0.2], [10.0, 2.0, 1.5, 0.2]), what="Rabi")
    amp_pi = best.estimate(0, "")
    contrast = best.estimate(1, "")
    values = {"x_amp": amp_pi, "sx_amp": best.derived(lambda p: p[0] / 2, ""),
              "contrast": contrast, "offset": best.estimate(2, "")}
    fine = np.linspace(x.min(), x.max(), 400)
    checks = [
        (contrast.value > 5 * contrast.stderr and contrast.value > 0.2,
         f"no significant Rabi oscillation (contrast {contrast.value:.3f} +- {contrast.stderr:.3f})."),
        (amp_pi.value <= x.max(), f"the pi amplitude {amp_pi.value:.4f} lies beyond the sweep (max {x.max():.4f})."),
        (amp_pi.value <= 1.0, f"the pi amplitude {amp_pi.value:.4f} exceeds the AWG's full scale 1."),
    ]
    return conclude(exp.name, exp.qubit, values, best, checks,
                    curve_dataset("amplitude", "", fine, rabi_model(fine, *best.params)))
