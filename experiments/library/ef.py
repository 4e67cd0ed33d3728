"""The 1-2 transition, read as IQ points: its frequency (ef_spectroscopy) and pi amplitude (ef_rabi).

Both prepare |1> with the calibrated X pulse, then drive the 1-2 transition with a second tone
on the qubit's line near `frequency + anharmonicity`. A two-state discriminator cannot tell |2>
from |1> (both lie on the far side of its boundary), so each sweep point is read as IQ points
with the calibrated readout pulse, and the signal is the points' mean, projected onto the
direction in which the sweep's means spread: the |1> -> |2> axis (`iq_signal`). That signal
is linear in the population moved to |2>, so the qubit spectroscopy's line and the Rabi model
fit it as they fit P(1), with the signal in units of its own range.

The stderr of each point's signal is that of a mean of its shots along the axis (their spread
there: amplifier noise and the shots' different levels), so the fits' chi-squares keep their
meaning. The 0-1 AC Stark shift the 1-2 drive causes (~Omega^2 / (2 |alpha|), a few kHz for
these pulses) is left in: it is far below the line's width.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.pulses import Constant
from experiments.base import Experiment, ExperimentError, ReadsIQ, Sweep
from experiments.fitting import FitFailure, analyse, best_fit, conclude, curve_dataset, dominant_frequency
from experiments.library.rabi import rabi_model
from experiments.library.spectroscopy import line_fwhm, line_shape, spectroscopy_model, unit_area
from experiments.results import Estimate

SPECTROSCOPY_UNITS = {"anharmonicity": "GHz", "ef_frequency": "GHz", "linewidth": "GHz", "contrast": ""}
RABI_UNITS = {"ef_amp": "", "contrast": "", "offset": ""}
MIN_SIGNAL_SIGMAS = 8.0  # the signal's range over its typical stderr, below which there is nothing to fit


def iq_signal(ds: xr.Dataset, qubit: int, dim: str, baseline: int | None) -> tuple[np.ndarray, np.ndarray, float]:
    """(signal, stderr, range) along `dim`: each point's mean IQ projected onto the principal
    direction of the means, shifted and scaled so that the point of `baseline` (index; None:
    the median point, for a line on a flat background) reads 0 and the one farthest from it 1."""
    points = np.asarray(ds["iq"].sel(qubit=qubit).transpose(dim, "shot", "quadrature").values)
    means = points.mean(axis=1)
    centred = means - means.mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]  # (I, Q) unit vector
    projected = points @ direction  # (point, shot)
    signal = projected.mean(axis=1)
    stderr = projected.std(axis=1, ddof=1) / np.sqrt(projected.shape[1])
    zero = float(np.median(signal)) if baseline is None else float(signal[baseline])
    far = signal[int(np.argmax(np.abs(signal - zero)))] - zero
    if far == 0.0:
        raise FitFailure("every sweep point reads the same mean IQ point: there is no signal.")
    if abs(far) < MIN_SIGNAL_SIGMAS * float(np.median(stderr)):
        raise FitFailure(f"the mean IQ points move by {abs(far):.3g} along the sweep, under {MIN_SIGNAL_SIGMAS:g} "
                         f"times their stderr ({float(np.median(stderr)):.3g}): no |1> -> |2> signal.")
    return (signal - zero) / far, stderr / abs(far), abs(float(far))


@dataclass(frozen=True)
class EfSpectroscopy(ReadsIQ, Experiment):
    """Sweeps a rectangular 1-2 pi pulse over `span` GHz around the calibrated 1-2 transition,
    after the X pulse; its amplitude by pulse area from the X pulse's, over sqrt(2)."""

    name = "ef_spectroscopy"
    summary = "1-2 transition spectroscopy from IQ points: anharmonicity"
    span: float = 0.05  # GHz: +-25 MHz, four times the design's fabrication spread of sim-5q
    points: int = 51
    duration: float = 200.0  # ns: a line 4 MHz wide (0.8 / T), two steps of 1 MHz across its half width

    def __post_init__(self):
        if not (self.span > 0 and self.points >= 8 and self.duration > 0):
            raise ExperimentError(f"EfSpectroscopy needs span > 0, points >= 8 and duration > 0, but has "
                                  f"span={self.span}, points={self.points}, duration={self.duration}.")

    @classmethod
    def fitted_units(cls, options: dict) -> dict[str, str]:
        return dict(SPECTROSCOPY_UNITS)

    def sweeps(self, cal):
        f12 = cal[self.qubit].ef_frequency
        return [Sweep("ef_frequency", f12 + np.linspace(-0.5 * self.span, 0.5 * self.span, self.points), "GHz")]

    def amplitude(self, cal) -> float:
        c = cal[self.qubit]
        amp = c.x_amp / np.sqrt(2.0) * unit_area(c.duration, c.sigma) / self.duration
        if not 0 < amp <= 1:
            raise ExperimentError(f"The 1-2 spectroscopy pulse needs amplitude {amp:.4g} in {self.duration} ns, "
                                  "outside (0, 1]: lengthen `duration`.")
        return float(amp)

    def schedule(self, cal, point):
        c = cal[self.qubit]
        return c.ef_schedule(c.x_amp, Constant(self.duration, amp=self.amplitude(cal)),
                             ef_frequency=point["ef_frequency"])

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, SPECTROSCOPY_UNITS, ds, lambda: _fit_line(self, ds))


def _fit_line(exp: EfSpectroscopy, ds: xr.Dataset):
    f = ds["ef_frequency"].values
    y, sigma, _ = iq_signal(ds, exp.qubit, "ef_frequency", baseline=None)
    used = json_calibration(ds, exp.qubit)
    T = exp.duration
    centre = 0.5 * (f.min() + f.max())
    u = (f - centre) * T
    peak = int(np.argmax(y))
    starts = [[u[peak], w, 1.0 / max(np.sin(np.pi * w) ** 2, 0.3), 0.0] for w in (0.35, 0.5, 0.7)]
    best = best_fit(spectroscopy_model, u, y, sigma, starts,
                    bounds=([u.min(), 0.05, 0.0, -0.5], [u.max(), 0.95, 3.0, 0.5]), what="1-2 line")
    from_centre = best.derived(lambda p: p[0] / T, "GHz")
    ef_frequency = Estimate(float(centre + from_centre.value), from_centre.stderr, "GHz")
    # the 0-1 frequency the run used is exact (a setting), so the anharmonicity's error is the line's
    anharmonicity = Estimate(ef_frequency.value - used["frequency"], from_centre.stderr, "GHz")
    linewidth = best.derived(lambda p: line_fwhm(p[1]) / T, "GHz")
    contrast = best.derived(lambda p: p[2] * line_shape(0.0, p[1]), "")
    values = {"anharmonicity": anharmonicity, "ef_frequency": ef_frequency, "linewidth": linewidth,
              "contrast": contrast}
    checks = [
        (contrast.value > 5 * contrast.stderr and contrast.value > 0.5,
         f"no clear 1-2 line (contrast {contrast.value:.3f} +- {contrast.stderr:.3f} of the signal's range)."),
        (f.min() + 0.5 * linewidth.value < ef_frequency.value < f.max() - 0.5 * linewidth.value,
         f"the 1-2 line ({ef_frequency.value:.6f} GHz) lies at the edge of the sweep "
         f"({f.min():.6f}..{f.max():.6f} GHz): recentre or widen it."),
        (anharmonicity.value < 0, f"the 1-2 line lies above the 0-1 transition (anharmonicity "
                                  f"{anharmonicity.value * 1e3:.2f} MHz): not a transmon's."),
    ]
    fine = np.linspace(f.min(), f.max(), 1000)
    curve = curve_dataset("ef_frequency", "GHz", fine, spectroscopy_model((fine - centre) * T, *best.params))
    return conclude(exp.name, exp.qubit, values, best, checks, curve)


def json_calibration(ds: xr.Dataset, qubit: int) -> dict:
    """The calibration values the dataset was taken with, for `qubit`."""
    return json.loads(ds.attrs["calibration"])[str(qubit)]


@dataclass(frozen=True)
class EfRabi(ReadsIQ, Experiment):
    """Sweeps the 1-2 pulse's amplitude from 0 to `span` times its current value, after the X pulse."""

    name = "ef_rabi"
    summary = "1-2 amplitude Rabi from IQ points: 1-2 pi amplitude (ef_amp)"
    points: int = 31
    span: float = 2.5

    def __post_init__(self):
        if not (self.points >= 8 and self.span > 1):
            raise ExperimentError(f"EfRabi needs points >= 8 and span > 1, but has points={self.points}, "
                                  f"span={self.span}.")

    @classmethod
    def fitted_units(cls, options: dict) -> dict[str, str]:
        return dict(RABI_UNITS)

    def sweeps(self, cal):
        top = min(1.0, self.span * cal[self.qubit].ef_pi_amp)
        return [Sweep("ef_amplitude", np.linspace(0.0, top, self.points), "")]

    def schedule(self, cal, point):
        c = cal[self.qubit]
        return c.ef_schedule(c.x_amp, c.ef_pulse(amp=point["ef_amplitude"]))

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, RABI_UNITS, ds, lambda: _fit_rabi(self, ds))


def _fit_rabi(exp: EfRabi, ds: xr.Dataset):
    x = ds["ef_amplitude"].values
    y, sigma, scale = iq_signal(ds, exp.qubit, "ef_amplitude", baseline=0)  # amplitude 0: |1> untouched
    cycles = dominant_frequency(x, y)
    if cycles <= 0:
        raise FitFailure("no oscillation in the data.")
    starts = [[k / (2.0 * cycles), 1.0, 0.5, 0.0] for k in (0.8, 1.0, 1.25)]
    best = best_fit(rabi_model, x, y, sigma, starts, bounds=([1e-4, 0.0, -0.5, -0.2], [10.0, 2.0, 1.5, 0.2]),
                    what="1-2 Rabi")
    amp_pi = best.estimate(0, "")
    contrast = best.estimate(1, "")
    values = {"ef_amp": amp_pi, "contrast": Estimate(contrast.value * scale, contrast.stderr * scale, ""),
              "offset": best.estimate(2, "")}
    checks = [
        (contrast.value > 5 * contrast.stderr and contrast.value > 0.5,
         f"no clear 1-2 Rabi oscillation (contrast {contrast.value:.3f} +- {contrast.stderr:.3f} of the signal's range)."),
        (amp_pi.value <= x.max(), f"the 1-2 pi amplitude {amp_pi.value:.4f} lies beyond the sweep (max {x.max():.4f})."),
        (amp_pi.value <= 1.0, f"the 1-2 pi amplitude {amp_pi.value:.4f} exceeds the AWG's full scale 1."),
    ]
    fine = np.linspace(x.min(), x.max(), 400)
    return conclude(exp.name, exp.qubit, values, best, checks,
                    curve_dataset("ef_amplitude", "", fine, rabi_model(fine, *best.params)))
