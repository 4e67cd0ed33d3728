"""Resonator spectroscopy: the readout resonator's line with the qubit in |0> (and |1>).

The readout pulse's frequency is swept across the resonator, the qubit prepared in |0> (an X
pulse of amplitude 0) and, with `states=2`, in |1> (its calibrated X). Each point's shots are
averaged to one complex IQ point m(f) with its standard error per quadrature (from the shots'
own scatter), and each state's line is fitted, real and imaginary parts together, with the
driven resonator's response averaged over the pulse:

    m(f) = c g(f),  g(f) = (1 - (1 - exp(-x)) / x) / (1 + 2i (f_r - f) / kappa),
    x = (pi kappa + 2 pi i (f_r - f)) tau

c complex (the chain's gain and phase), f_r the line's centre, kappa its linewidth (FWHM), tau
the pulse's duration: long pulses (the default, 2 us against 1 / (pi kappa) ~ 160 ns for a 2 MHz
line) see the steady Lorentzian, and the ring-up term keeps shorter ones unbiased.

Values: resonator_frequency (|0>'s line) and linewidth; with states=2 also the dispersive
shift chi = f_r(|1>) - f_r(|0>) and readout_frequency = f_r(|0>) + chi / 2, midway between the
two responses, where their separation in the IQ plane is largest for a shift below the
linewidth. Errors: the fit's covariance, scaled by the reduced chi-square when above 1. The
|1> line carries the shots that decayed during the pulse (a few % over 2 us): they pull it
towards |0>'s by a small fraction of chi.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.optimize import least_squares

from devices.protocol import Integrated
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.library.readout import prepared_schedule
from experiments.fitting import FitFailure, Fitted, analyse, conclude, curve_dataset
from experiments.results import Estimate

UNITS = {"resonator_frequency": "GHz", "linewidth": "GHz", "chi": "GHz", "readout_frequency": "GHz"}


def response(f: np.ndarray, f_r: float, kappa: float, tau: float) -> np.ndarray:
    """g(f): the resonator's field averaged over a pulse of duration tau at frequency f."""
    x = (np.pi * kappa + 2j * np.pi * (f_r - f)) * tau
    return (1.0 - (1.0 - np.exp(-x)) / x) / (1.0 + 2j * (f_r - f) / kappa)


@dataclass(frozen=True)
class ResonatorSpectroscopy(Experiment):
    """Options: span [GHz] and points of the sweep around the calibrated readout frequency, the
    pulse's duration [ns] and amplitude (None: the calibrated one), and the states (1: |0> only,
    before any pi pulse exists; 2: |0> and |1>, for chi and the readout frequency)."""

    name = "resonator_spectroscopy"
    summary = "Readout resonator line with the qubit in |0> and |1>: frequency, linewidth, chi"

    span: float = 0.012
    points: int = 61
    duration: float = 2000.0
    amplitude: float | None = None
    states: int = 2

    def __post_init__(self):
        if not (isinstance(self.points, int) and self.points >= 9):
            raise ExperimentError(f"Option points is {self.points!r}, but must be an integer >= 9 (a line needs its wings).")
        if not self.span > 0 or not self.duration > 0:
            raise ExperimentError(f"Options span and duration are {self.span!r} and {self.duration!r}, but must be > 0.")
        if self.states not in (1, 2):
            raise ExperimentError(f"Option states is {self.states!r}, but must be 1 (|0>) or 2 (|0> and |1>).")

    def sweeps(self, cal):
        centre = cal[self.qubit].readout_pulse().frequency
        return [Sweep("prepared", np.arange(self.states), ""),
                Sweep("frequency", centre + np.linspace(-self.span / 2, self.span / 2, self.points), "GHz")]

    def schedule(self, cal, point):
        return prepared_schedule(cal[self.qubit], point["prepared"])

    def acquisition(self, cal):
        return Integrated((self._pulse(cal, None),))

    def readout_pulses(self, cal, point):
        return (self._pulse(cal, float(point["frequency"])),)

    def _pulse(self, cal, frequency):
        return cal[self.qubit].readout_pulse(frequency=frequency, amp=self.amplitude, duration=self.duration)

    @staticmethod
    def fitted_units(options: dict) -> dict[str, str]:
        """With states=1 there is no |1> line: no chi, no readout frequency."""
        if options.get("states", 2) == 2:
            return dict(UNITS)
        return {k: UNITS[k] for k in ("resonator_frequency", "linewidth")}

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, self.fitted_units({"states": self.states}), ds, lambda: _estimate(self, ds))


@dataclass(frozen=True)
class _Line:
    f_r: float
    kappa: float
    params: np.ndarray  # f_r, kappa, Re c, Im c
    cov: np.ndarray
    reduced_chi2: float


def _fit_line(f: np.ndarray, mean: np.ndarray, sigma: np.ndarray, tau: float) -> _Line:
    """The response fitted to one state's mean IQ points (complex), sigma per quadrature."""
    magnitude = np.abs(mean)
    peak = int(np.argmax(magnitude))
    above = f[magnitude**2 >= magnitude[peak] ** 2 / 2]
    kappa0 = max(float(above.max() - above.min()), 2 * float(np.median(np.diff(f))))
    g0 = response(np.array([f[peak]]), f[peak], kappa0, tau)[0]
    c0 = mean[peak] / g0

    def residuals(p):
        model = complex(p[2], p[3]) * response(f, p[0], p[1], tau)
        return np.concatenate([(model.real - mean.real) / sigma, (model.imag - mean.imag) / sigma])

    lower = [f.min(), 1e-6, -np.inf, -np.inf]
    upper = [f.max(), 10 * (f.max() - f.min()), np.inf, np.inf]
    fit = least_squares(residuals, [f[peak], kappa0, c0.real, c0.imag], bounds=(lower, upper),
                        x_scale=[kappa0 / 10, kappa0 / 10, abs(c0), abs(c0)])
    dof = 2 * len(f) - 4
    chi2 = float(np.sum(fit.fun**2)) / dof
    jac = fit.jac
    try:
        cov = np.linalg.inv(jac.T @ jac) * max(1.0, chi2)
    except np.linalg.LinAlgError:
        raise FitFailure("the line's fit is degenerate (its parameters cannot be told apart).") from None
    return _Line(float(fit.x[0]), float(fit.x[1]), fit.x, cov, chi2)


def _estimate(exp: ResonatorSpectroscopy, ds: xr.Dataset):
    points = np.asarray(ds["iq"].sel(qubit=exp.qubit).transpose("prepared", "frequency", "shot", "quadrature").values)
    shots = points.shape[2]
    if shots < 10:
        raise FitFailure(f"{shots} shots per point are too few to average (>= 10).")
    f = np.asarray(ds["frequency"].values, float)
    complex_points = points[..., 0] + 1j * points[..., 1]
    means = complex_points.mean(axis=2)
    # one noise level per state: the amplifier's, the same at every frequency
    sigmas = np.sqrt(0.5 * (points[..., 0].var(axis=2, ddof=1) + points[..., 1].var(axis=2, ddof=1)).mean(axis=1) / shots)
    lines = [_fit_line(f, means[s], np.full(len(f), sigmas[s]), exp.duration) for s in range(exp.states)]
    zero = lines[0]
    edge = 0.1 * (f.max() - f.min())
    checks = [(f.min() + edge < line.f_r < f.max() - edge,
               f"the |{s}> line's centre {line.f_r:.6f} GHz lies at the edge of the sweep "
               f"({f.min():.6f}-{f.max():.6f} GHz): the line may be outside it.") for s, line in enumerate(lines)]
    contrast = np.abs(means[0]).max() - np.abs(means[0]).min()
    checks.append((contrast > 10 * sigmas[0], f"no line: the response varies by {contrast:.3g}, within the noise "
                                              f"({sigmas[0]:.3g} per point)."))
    checks.append((zero.kappa < 0.5 * (f.max() - f.min()),
                   f"the fitted linewidth {zero.kappa * 1e3:.3g} MHz is not resolved by a {1e3 * (f.max() - f.min()):.3g} MHz sweep."))
    values = {"resonator_frequency": Estimate(zero.f_r, float(np.sqrt(zero.cov[0, 0])), "GHz"),
              "linewidth": Estimate(zero.kappa, float(np.sqrt(zero.cov[1, 1])), "GHz")}
    params = zero.params
    cov = zero.cov
    if exp.states == 2:
        one = lines[1]
        s_chi = float(np.hypot(np.sqrt(zero.cov[0, 0]), np.sqrt(one.cov[0, 0])))  # independent shots
        chi = one.f_r - zero.f_r
        values["chi"] = Estimate(chi, s_chi, "GHz")
        values["readout_frequency"] = Estimate(0.5 * (zero.f_r + one.f_r),
                                               0.5 * float(np.sqrt(zero.cov[0, 0] + one.cov[0, 0])), "GHz")
        checks.append((abs(chi) > 3 * s_chi, f"|0> and |1> give the same line (chi = {chi * 1e3:.3g} +- "
                                              f"{s_chi * 1e3:.2g} MHz): the X pulse or the readout does not work."))
    worst = max(line.reduced_chi2 for line in lines)
    estimate = Fitted(params=params, cov=cov, reduced_chi2=worst, model=None)
    curve = curve_dataset("frequency", "GHz", f, np.abs(complex(params[2], params[3]) * response(f, zero.f_r, zero.kappa, exp.duration)))
    return conclude(exp.name, exp.qubit, values, estimate, checks, curve)
