"""Weighted least squares with honest uncertainties, and the checks behind a verdict.

Errors of measured probabilities are binomial. Covariances are scaled by the reduced
chi-square when it exceeds 1 (the Birge ratio), so a model that describes the data only
roughly reports correspondingly wider error bars instead of overconfident ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.optimize import OptimizeWarning, curve_fit

from experiments.results import Estimate, FitResult, Verdict, bad_result

CHI2_LIMIT = 10.0


class FitFailure(Exception):
    """A fit could not be made; the message is the reason a result is BAD."""


def binomial_sigma(counts: np.ndarray, shots: int) -> np.ndarray:
    """Standard error of k/n, with the (k+1)/(n+2) estimate so that 0 or n counts still
    get a nonzero error."""
    p = (np.asarray(counts, float) + 1.0) / (shots + 2.0)
    return np.sqrt(p * (1.0 - p) / shots)


@dataclass(frozen=True)
class Fitted:
    params: np.ndarray
    cov: np.ndarray
    reduced_chi2: float
    model: Callable

    def estimate(self, index: int, unit: str) -> Estimate:
        return Estimate(float(self.params[index]), float(np.sqrt(self.cov[index, index])), unit)

    def derived(self, fn: Callable[[np.ndarray], float], unit: str) -> Estimate:
        """A function of the parameters with its delta-method standard error."""
        value = float(fn(self.params))
        grad = np.zeros(len(self.params))
        for i, p in enumerate(self.params):
            h = 1e-6 * max(abs(p), 1e-9)
            up, down = self.params.copy(), self.params.copy()
            up[i] += h
            down[i] -= h
            grad[i] = (fn(up) - fn(down)) / (2 * h)
        return Estimate(value, float(np.sqrt(max(grad @ self.cov @ grad, 0.0))), unit)


def measured(ds: xr.Dataset, **selection) -> tuple[np.ndarray, np.ndarray]:
    """P(read 1) and its binomial standard error at `selection` (e.g. qubit=0)."""
    y = ds["probabilities"].sel(selection).values
    return y, binomial_sigma(ds["counts"].sel(selection).values, ds.attrs["shots"])


def weighted_fit(model: Callable, x: np.ndarray, y: np.ndarray, sigma: np.ndarray,
                 p0: Sequence[float], bounds=(-np.inf, np.inf)) -> Fitted:
    """curve_fit with absolute sigma, then Birge scaling; raises FitFailure with a reason."""
    x, y, sigma = (np.asarray(a, float) for a in (x, y, sigma))
    if len(x) <= len(p0):
        raise FitFailure(f"{len(x)} points cannot fit {len(p0)} parameters.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            params, cov = curve_fit(model, x, y, p0=p0, sigma=sigma, absolute_sigma=True,
                                    bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError, OptimizeWarning) as exc:
        raise FitFailure(f"the fit did not converge ({exc}).") from None
    if not np.all(np.isfinite(cov)):
        raise FitFailure("the fit's parameters are not determined by the data (infinite covariance).")
    residual = (y - model(x, *params)) / sigma
    dof = len(x) - len(params)
    chi2 = float(residual @ residual / dof)
    return Fitted(params=params, cov=cov * max(1.0, chi2), reduced_chi2=chi2, model=model)


def best_fit(model: Callable, x: np.ndarray, y: np.ndarray, sigma: np.ndarray,
             starts: Sequence[Sequence[float]], bounds, what: str) -> Fitted:
    """The lowest-chi-square fit over several starting points (starting values from a
    coarse periodogram or peak search can sit a little off); FitFailure if none converges."""
    best = None
    for p0 in starts:
        try:
            fit = weighted_fit(model, x, y, sigma, p0, bounds=bounds)
        except FitFailure:
            continue
        if best is None or fit.reduced_chi2 < best.reduced_chi2:
            best = fit
    if best is None:
        raise FitFailure(f"the {what} fit did not converge from any starting point.")
    return best


def check_data(ds: xr.Dataset) -> str | None:
    """The reason a dataset cannot be analysed, or None."""
    for name in (("iq",) if "iq" in ds else ("counts", "probabilities")):
        if name not in ds:
            return f"the dataset has no `{name}` variable."
        if not np.all(np.isfinite(ds[name].values)):
            bad = int(np.sum(~np.isfinite(ds[name].values)))
            return f"the dataset's `{name}` holds {bad} NaN or inf value(s)."
    return None


def conclude(experiment: str, qubit: int, values: dict[str, Estimate], fitted: Fitted,
             checks: Sequence[tuple[bool, str]], curve: xr.Dataset | None) -> FitResult:
    """GOOD unless the fit misdescribes the data or a check fails (its reason is given)."""
    reason = "fit describes the data and all checks pass."
    verdict = Verdict.GOOD
    failed = [why for ok, why in checks if not ok]
    bad_values = [k for k, v in values.items() if not (np.isfinite(v.value) and np.isfinite(v.stderr))]
    if bad_values:
        verdict, reason = Verdict.BAD, f"{', '.join(bad_values)} could not be determined."
    elif fitted.reduced_chi2 > CHI2_LIMIT:
        verdict = Verdict.BAD
        reason = f"the model does not describe the data (reduced chi-square {fitted.reduced_chi2:.1f} > {CHI2_LIMIT:g})."
    elif failed:
        verdict, reason = Verdict.BAD, failed[0]
    return FitResult(experiment=experiment, qubit=qubit, values=values,
                     reduced_chi2=fitted.reduced_chi2, verdict=verdict, reason=reason, curve=curve)


def analyse(experiment: str, qubit: int, units: dict[str, str], ds: xr.Dataset,
            body: Callable[[], FitResult]) -> FitResult:
    """Run an analysis body; any data problem or fit failure becomes a BAD result."""
    problem = check_data(ds)
    if problem:
        return bad_result(experiment, qubit, units, problem)
    try:
        return body()
    except FitFailure as exc:
        return bad_result(experiment, qubit, units, str(exc))
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        # Numerical trouble on odd data is a failed analysis with its reason, never a crash.
        return bad_result(experiment, qubit, units, f"the analysis failed on this data ({type(exc).__name__}: {exc}).")


def curve_dataset(x_name: str, x_unit: str, x: np.ndarray, y: np.ndarray) -> xr.Dataset:
    return xr.Dataset({"fit": ((x_name,), np.asarray(y, float))},
                      coords={x_name: (x_name, np.asarray(x, float), {"units": x_unit})})


def dominant_frequency(x: np.ndarray, y: np.ndarray) -> float:
    """Frequency (cycles per unit of x) of the sinusoid plus constant that best fits evenly
    spaced samples: scipy's floating-mean Lomb-Scargle periodogram on a grid 16x finer than
    the record's resolution, up to the sampling limit. A starting value that needs no
    per-device tuning and, unlike the peak of a windowed FFT, is not pulled off when the
    record holds about one period: the FFT read the one-period Rabi sweep on qibolab's
    emulator 2-3x low, and 15 % of its 300-shot fits then settled in a false minimum."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    span, step = float(x[-1] - x[0]), float(x[1] - x[0])
    grid = 1.0 / (16.0 * span)
    freqs = np.arange(grid, 0.5 / step, grid)
    from scipy.signal import lombscargle  # here: ~0.4 s to import (see devices/drift.py)

    power = lombscargle(x, y, 2.0 * np.pi * freqs, floating_mean=True)
    return float(freqs[int(np.argmax(power))])
