"""Qubit spectroscopy: P(1) after a long weak rectangular pulse, against its frequency.

The pulse is a `Constant` of `duration` ns whose amplitude makes an `angle` rotation on
resonance, scaled from the calibration's X pulse by pulse area, so no per-device value
is tuned by hand. Its line is the Rabi formula for a rectangular pulse,

    P1(delta) = W^2 / (W^2 + u^2) sin^2(pi sqrt(W^2 + u^2)),  u = delta T, W = Omega T,

(Omega the Rabi rate in GHz, T the duration), which is what is fitted. A Lorentzian is
the line of a steady state, reached only for pulses much longer than T1 and T2 (hundreds
of us); for T << T2 a Lorentzian misdescribes the line (its core and its side lobes) well
beyond shot noise: at 1000 shots its reduced chi-square is 60-80 on the fine scan and
12-16 on the coarse one, against ~1 for the Rabi formula.

Two stages: the defaults scan +-150 MHz (the fabrication spread is 30 MHz) with an 80 ns
pulse whose line is ~10 MHz wide, so 2 MHz steps cannot miss it; `QubitSpectroscopy.fine()`
then scans +-2 MHz around the coarse result with a 1 us pulse (line ~0.8 MHz wide). The
cost of a scan grows as points x duration, i.e. as the square of span / linewidth, which is
why one narrow scan of the whole range is not used.

The drive pushes the 0-1 line up by the AC Stark shift of the 1-2 transition,
Omega^2 / (2 |alpha|): ~80 kHz for the coarse pulse, ~0.5 kHz for the fine one. Given
the `anharmonicity` (the design value is good enough: its spread changes the shift by a
few percent) the analysis removes it, using the fitted Rabi rate. The two-photon 0-2 line
at f01 + alpha/2 is driven at a rate ~Omega^2 / |alpha|, far too weak to be seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.optimize import brentq
from scipy.special import erf

from devices.pulses import Constant
from devices.schedule import Play
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.fitting import (FitFailure, best_fit, analyse, conclude, curve_dataset, measured)
from experiments.results import Estimate

UNITS = {"frequency": "GHz", "linewidth": "GHz", "contrast": "", "rabi_rate": "GHz", "offset": ""}

FWHM_OF_PI_PULSE = 0.80  # the line of a rectangular pi pulse is 0.80 / T wide (FWHM)


def line_shape(u, w):
    """P1 of a rectangular pulse with detuning u and Rabi rate w, both times its duration."""
    g2 = w**2 + u**2
    return w**2 / g2 * np.sin(np.pi * np.sqrt(g2)) ** 2


def spectroscopy_model(u, u0, w, scale, offset):
    return offset + scale * line_shape(u - u0, w)


def line_fwhm(w: float) -> float:
    """Full width at half maximum of `line_shape` in units of 1/T (for 0 < w < 1, where the
    line peaks at zero detuning and first vanishes at u = sqrt(1 - w^2))."""
    if not 0.0 < w < 1.0:
        return float("nan")
    half = 0.5 * line_shape(0.0, w)
    zero = np.sqrt(1.0 - w**2)
    return 2.0 * brentq(lambda u: line_shape(u, w) - half, 1e-12, zero, xtol=1e-15, rtol=1e-15)


def unit_area(duration: float, sigma: float) -> float:
    """In-phase area per unit amplitude [ns] of the lifted Gaussian the X pulse plays."""
    half = 0.5 * duration
    g0 = np.exp(-0.5 * (half / sigma) ** 2)
    gauss = sigma * np.sqrt(2 * np.pi) * erf(half / (np.sqrt(2) * sigma))
    return float((gauss - duration * g0) / (1.0 - g0))


@dataclass(frozen=True)
class QubitSpectroscopy(Experiment):
    """Sweeps the carrier of a rectangular `angle` pulse over `span` GHz around the
    calibrated frequency."""

    name = "spectroscopy"
    summary = "Qubit spectroscopy: qubit frequency (frequency, linewidth)"
    span: float = 0.3  # GHz, full width of the sweep
    points: int = 151
    duration: float = 80.0  # ns, a multiple of the AWG sample time
    angle: float = np.pi  # rotation on resonance
    anharmonicity: float | None = None  # GHz (< 0); None leaves the AC Stark shift in

    def __post_init__(self):
        if not (self.span > 0 and self.points >= 8 and self.duration > 0 and 0 < self.angle < 2 * np.pi):
            raise ExperimentError(
                f"QubitSpectroscopy needs span > 0, points >= 8, duration > 0 and 0 < angle < 2 pi, "
                f"but has span={self.span}, points={self.points}, duration={self.duration}, angle={self.angle}."
            )
        if self.anharmonicity is not None and not self.anharmonicity < 0:
            raise ExperimentError(
                f"QubitSpectroscopy.anharmonicity is {self.anharmonicity} GHz, but must be < 0 (or None)."
            )

    @classmethod
    def fine(cls, qubit: int = 0, *, span: float = 0.004, points: int = 41, duration: float = 1000.0,
             anharmonicity: float | None = None) -> "QubitSpectroscopy":
        """The second stage: a narrow scan around a coarse result (line ~0.8 MHz wide)."""
        return cls(qubit=qubit, span=span, points=points, duration=duration, anharmonicity=anharmonicity)

    def sweeps(self, cal):
        f = cal[self.qubit].frequency
        return [Sweep("frequency", f + np.linspace(-0.5 * self.span, 0.5 * self.span, self.points), "GHz")]

    def amplitude(self, cal) -> float:
        """The amplitude that rotates by `angle` on resonance, by area against the X pulse."""
        c = cal[self.qubit]
        amp = (self.angle / np.pi) * c.x_amp * unit_area(c.duration, c.sigma) / self.duration
        if not 0 < amp <= 1:
            raise ExperimentError(
                f"The spectroscopy pulse needs amplitude {amp:.4g} for a {self.angle:.3g} rad rotation in "
                f"{self.duration} ns, outside (0, 1]: lengthen `duration`."
            )
        return float(amp)

    def schedule(self, cal, point):
        c = cal[self.qubit]
        return c.schedule([Play(0, Constant(self.duration, amp=self.amplitude(cal)))],
                          frequency=point["frequency"])

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _fit(self, ds))


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return y
    padded = np.pad(y, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _fit(exp: QubitSpectroscopy, ds: xr.Dataset):
    f = ds["frequency"].values
    y, sigma = measured(ds, qubit=exp.qubit)
    if len(f) < 8:
        raise FitFailure(f"{len(f)} frequencies are too few for a spectroscopy fit.")
    # Fit in units of the pulse's own scale: detuning from the sweep centre times T.
    T = exp.duration
    centre = 0.5 * (f.min() + f.max())
    u = (f - centre) * T
    step = float(np.median(np.diff(u)))
    w0 = exp.angle / (2 * np.pi)
    # Starting point by peak finding: argmax after smoothing over about one linewidth.
    width = max(1, int(round(FWHM_OF_PI_PULSE / step / 2)))
    peak = int(np.argmax(_smooth(y, width)))
    baseline = float(np.median(y))
    height = max(float(y[max(0, peak - width // 2):peak + width // 2 + 1].mean()) - baseline, 0.05)
    starts = [[u[peak], w, min(height / line_shape(0.0, w), 1.4), baseline]
              for w in (0.7 * w0, w0, min(1.4 * w0, 0.9))]
    best = best_fit(spectroscopy_model, u, y, sigma, starts,
                    bounds=([u.min(), 0.05, 0.0, -0.5], [u.max(), 0.95, 1.5, 1.5]), what="spectroscopy")
    w = best.params[1]
    stark = 0.0 if exp.anharmonicity is None else 0.5 / abs(exp.anharmonicity)
    # Offset from the sweep centre first: a finite difference on centre + offset
    # (5 GHz + a few kHz) could not resolve the offset's error.
    from_centre = best.derived(lambda p: p[0] / T - stark * (p[1] / T) ** 2, "GHz")
    frequency = Estimate(float(centre + from_centre.value), from_centre.stderr, "GHz")
    linewidth = best.derived(lambda p: line_fwhm(p[1]) / T, "GHz")
    contrast = best.derived(lambda p: p[2] * line_shape(0.0, p[1]), "")
    values = {"frequency": frequency, "linewidth": linewidth, "contrast": contrast,
              "rabi_rate": best.derived(lambda p: p[1] / T, "GHz"), "offset": best.estimate(3, "")}
    span = f.max() - f.min()
    df = span / (len(f) - 1)
    checks = [
        (contrast.value > 5 * contrast.stderr and contrast.value > 0.2,
         f"no significant spectral line (contrast {contrast.value:.3f} +- {contrast.stderr:.3f})."),
        (f.min() + 0.5 * linewidth.value < frequency.value < f.max() - 0.5 * linewidth.value,
         f"the line ({frequency.value:.6f} GHz) lies at the edge of the sweep "
         f"({f.min():.6f}..{f.max():.6f} GHz): recentre or widen it."),
        (linewidth.value >= 2 * df,
         f"the line ({linewidth.value * 1e3:.3f} MHz wide) is narrower than two sweep steps "
         f"({df * 1e3:.3f} MHz each): use more points or a shorter pulse."),
        (w < 0.94, f"the pulse over-rotates (Rabi rate x duration = {w:.3f}): the line is split; "
                   "lower the pulse angle."),
    ]
    fine = np.linspace(f.min(), f.max(), 2000)
    curve = curve_dataset("frequency", "GHz", fine, spectroscopy_model((fine - centre) * T, *best.params))
    return conclude(exp.name, exp.qubit, values, best, checks, curve)
