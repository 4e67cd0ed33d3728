"""The learned controller's verification: are the measured probes those of a calibration within tolerance?

The probes are six (+, -) pairs (calibrate.ml.probes) whose differences P+ - P- are, near a
good calibration, linear in its three offsets from the device's optimum: u = (frequency
offset [GHz], log X-amplitude offset, beta offset [ns]),

    d = J u + noise,    noise_i ~ N(0, (P+(1 - P+) + P-(1 - P-)) / shots)

with J (pairs x 3) the sensitivity of the family's nominal transmon at its optimum (computed
once from the public design, `probe_sensitivity`). The verification estimates u by weighted
least squares, u_hat = (J' W J)^-1 J' W d, and accepts when every |u_hat_k| is within its
tolerance. u_hat is unbiased, so a calibration exactly one tolerance off is accepted half the
time whatever the shots: the accept curve's 50 % point sits at the tolerance, and more shots
only make the curve steeper (bench/verification.py measures it). An earlier design compared
each |d_i| with the difference one tolerance makes plus three standard deviations of shot
noise, which moved the 50 % point to about twice the tolerances.

Two guards keep a device far outside tolerance from passing through the linear model:
- consistency: the pairs must agree with one offset, chi^2 = |d - J u_hat|^2_W within the
  99.9 % quantile for (pairs - 3) degrees of freedom. A phase that has wrapped (a detuning
  so large that the long Ramsey pair's difference comes round to zero) leaves the short and
  long pairs inconsistent.
- per pair: |d_i| within the largest difference one tolerance makes in the model plus three
  standard deviations (the earlier test, now only a coarse guard).

A verification out of spec whose pairs are consistent (chi^2 within its limit: the offsets are
in the model's linear range) also says how far off the calibration is. `correct_offsets` moves
the calibration by -u_hat in each coordinate beyond its tolerance, a Gauss-Newton step: the
learned node takes it and verifies again before it gives up to its fallback nodes (see
calibrate.ml.controller.recalibrate). The moved coordinate's error is then u - u_hat, whose
standard error is the estimate's own, whatever the calibration's error was before.

A verification in spec estimates what is left as well. `refine_offsets` moves the X amplitude
and beta by -u_hat where the estimate is significant (|u_hat| > 2 standard errors), at no
shot cost: within tolerance is not at the optimum, and a controller trained on a design the
device departs from leaves a consistent remainder (beta 0.02-0.03 ns off on a family with 10 %
less anharmonicity: X at 1.25x its coherence limit, 1.10-1.14x once refined). The frequency is
left alone: the fine-frequency step measures it more precisely, and the estimate's frequency
depends on the design anharmonicity (~11 kHz off on that family).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from calibrate.ml.probes import ProbeSet, probe_read_one
from devices.transmon import Transmon

# Tolerances of (frequency [GHz], relative X amplitude, beta [ns]): each adds about a fifth of
# the coherence limit to sim-1q's 20 ns X gate, or ~1 % for the frequency's 1 us idle cost.
TOLERANCES = (3e-5, 4e-3, 0.05)
OFFSET_NAMES = ("frequency", "amplitude", "beta")
CONSISTENCY_QUANTILE = 0.999
# An in-spec estimate is applied where it exceeds this many standard errors: an offset of zero
# is then moved (by a noise-sized step) 4.6 % of the time.
REFINE_SIGNIFICANCE = 2.0
REFINED = (False, True, True)  # (frequency, amplitude, beta): the frequency is the fine step's
SX_RATIO = 0.5  # SX amplitude / X amplitude of the nominal calibration the model is evaluated at


class VerificationError(ValueError):
    """A probe set or tolerances the verification cannot use."""


class Verification(NamedTuple):
    in_spec: bool
    reason: str
    differences: np.ndarray  # measured P+ - P- per pair
    limits: np.ndarray  # per-pair guard: model difference at one tolerance + 3 sigma of shot noise
    offsets: np.ndarray  # estimated (frequency GHz, log amplitude, beta ns) offsets from the optimum
    offset_stderr: np.ndarray  # their shot-noise standard errors
    chi2: float  # consistency of the pairs with one offset
    chi2_limit: float


def check_tolerances(tolerances) -> tuple[float, float, float]:
    values = tuple(tolerances)
    if len(values) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                   and v > 0 for v in values):
        raise VerificationError(f"Verification tolerances are {tolerances!r}, but must be three finite numbers > 0 "
                                "(frequency GHz, relative amplitude, beta ns).")
    return tuple(float(v) for v in values)


def probe_sensitivity(probes: ProbeSet, transmon: Transmon, frequency: float, x_amp: float, beta: float, *,
                      duration: float, sigma: float, dt: float) -> np.ndarray:
    """(n_probes, 3): d P(read 1) / d (frequency offset [GHz], log X amplitude, beta offset [ns]) of
    `transmon` (the family's nominal one) at the calibration (frequency, x_amp, beta), its optimum."""
    sensitivity = np.asarray(_sensitivity(probes, transmon, *_as_floats(frequency, x_amp, beta),
                                          duration=duration, sigma=sigma, dt=dt))
    pairs = sensitivity[0::2] - sensitivity[1::2]
    if probes.n_pairs < 3 or np.linalg.matrix_rank(pairs / np.abs(pairs).max(axis=0)) < 3:
        raise VerificationError(f"The probe set {probes.as_dict()} cannot tell frequency, amplitude and beta apart: "
                                "give it at least one amplitude, one DRAG and one Ramsey pair.")
    return sensitivity


def pair_allowance(probes: ProbeSet, transmon: Transmon, frequency: float, x_amp: float, beta: float,
                   tolerances=TOLERANCES, **shape) -> np.ndarray:
    """Per pair, the largest |P+ - P-| of `transmon` with the calibration off by one tolerance in
    any one direction (the per-pair guard's base)."""
    df, da, db = check_tolerances(tolerances)
    moves = np.asarray([(df, 0, 0), (-df, 0, 0), (0, da, 0), (0, -da, 0), (0, 0, db), (0, 0, -db)])
    p = np.asarray(_read_one_moved(probes, transmon, *_as_floats(frequency, x_amp, beta), moves, **shape))
    return np.max(np.abs(p[:, 0::2] - p[:, 1::2]), axis=0)


def _as_floats(*values) -> list[jax.Array]:
    return [jnp.asarray(v, dtype=jnp.float64) for v in values]


# Compiled once per probe set and gate shape: run eagerly, these models took ~9 s of every
# controller's set-up (a training's, and each load's).
_SHAPE_ARGS = ("probes", "duration", "sigma", "dt")


@functools.partial(jax.jit, static_argnames=_SHAPE_ARGS)
def _sensitivity(probes: ProbeSet, transmon: Transmon, frequency, x_amp, beta, *, duration, sigma, dt):
    def read_one(u):
        amp = x_amp * jnp.exp(u[1])
        return probe_read_one(probes, transmon, frequency + u[0], amp, SX_RATIO * amp, beta + u[2],
                              duration=duration, sigma=sigma, dt=dt)

    return jax.jacfwd(read_one)(jnp.zeros(3, dtype=jnp.float64))


@functools.partial(jax.jit, static_argnames=_SHAPE_ARGS)
def _read_one_moved(probes: ProbeSet, transmon: Transmon, frequency, x_amp, beta, moves, *, duration, sigma, dt):
    """(n_moves, n_probes) P(read 1) with the calibration moved by each (frequency [GHz],
    relative amplitude, beta [ns])."""
    def read_one(u):
        amp = x_amp * (1.0 + u[1])
        return probe_read_one(probes, transmon, frequency + u[0], amp, SX_RATIO * amp, beta + u[2],
                              duration=duration, sigma=sigma, dt=dt)

    return jax.vmap(read_one)(moves)


def pair_names(probes: ProbeSet) -> list[str]:
    cost = probes.cost
    return ([f"amplitude N={n}" for n in cost.amplitude_repetitions] + [f"drag N={n}" for n in cost.drag_pairs]
            + [f"ramsey {tau:g} ns" for tau in cost.ramsey_delays])


def probe_variance(read_one: np.ndarray, shots: int) -> np.ndarray:
    """Binomial variance of each measured P(read 1); a count of 0 or `shots` still has noise."""
    p = np.clip(np.asarray(read_one, dtype=float), 0.0, 1.0)
    return np.clip(p * (1 - p), 1.0 / shots, None) / shots


def estimate_offsets(sensitivity: np.ndarray, read_one: np.ndarray, shots: int):
    """Weighted least squares of the pair differences: (offsets, covariance, chi2, differences, sd)."""
    p = np.asarray(read_one, dtype=float)
    jac = np.asarray(sensitivity)[0::2] - np.asarray(sensitivity)[1::2]
    variance = probe_variance(p[0::2], shots) + probe_variance(p[1::2], shots)
    diff = p[0::2] - p[1::2]
    weighted = jac / variance[:, None]
    covariance = np.linalg.inv(jac.T @ weighted)
    offsets = covariance @ (weighted.T @ diff)
    residual = diff - jac @ offsets
    return offsets, covariance, float(np.sum(residual**2 / variance)), diff, np.sqrt(variance)


def _format(k: int, value: float) -> str:
    return (f"{value * 1e6:.1f} kHz", f"{value * 100:.2f} %", f"{value:.3f} ns")[k]


def correctable(check: Verification) -> bool:
    """An out-of-spec verification whose offsets the linear model can be trusted to correct: the
    pairs agree with one offset (a wrapped Ramsey phase or an off-model device does not)."""
    return not check.in_spec and check.chi2 <= check.chi2_limit and bool(np.all(np.isfinite(check.offsets)))


def beyond_tolerance(check: Verification, tolerances) -> np.ndarray:
    """Which of (frequency, amplitude, beta) the verification estimated beyond its tolerance."""
    return np.abs(np.asarray(check.offsets, dtype=float)) > np.asarray(tolerances, dtype=float)


def correct_offsets(calibration, check: Verification, tolerances):
    """The calibration moved by -u_hat in the coordinates beyond their tolerance: frequency -= u_f,
    both amplitudes *= exp(-u_a) (their ratio kept), beta -= u_b."""
    return moved_by(calibration, check.offsets, beyond_tolerance(check, tolerances))


def refinable(check: Verification) -> np.ndarray:
    """Which of (frequency, amplitude, beta) an in-spec verification refines: amplitude and beta
    where the estimate is significant (see the module); nothing for one out of spec."""
    u, sd = np.asarray(check.offsets, dtype=float), np.asarray(check.offset_stderr, dtype=float)
    significant = np.isfinite(u) & np.isfinite(sd) & (np.abs(u) > REFINE_SIGNIFICANCE * sd)
    return significant & np.asarray(REFINED) & bool(check.in_spec)


def refine_offsets(calibration, check: Verification):
    """The calibration moved by -u_hat where `refinable` says so."""
    return moved_by(calibration, check.offsets, refinable(check))


def moved_by(calibration, offsets, moved):
    """The calibration moved by -offsets in the coordinates `moved` (frequency, amplitude, beta)."""
    u = np.asarray(offsets, dtype=float)
    scale = math.exp(-u[1]) if moved[1] else 1.0
    return calibration.replace(frequency=calibration.frequency - (u[0] if moved[0] else 0.0),
                               x_amp=calibration.x_amp * scale, sx_amp=calibration.sx_amp * scale,
                               beta=calibration.beta - (u[2] if moved[2] else 0.0))


def verify(controller, read_one: np.ndarray) -> Verification:
    """Model-free in the device (it reads only the probes' counts): in spec when the estimated
    offsets are within the controller's tolerances and both guards pass (see the module)."""
    probes = controller.probes
    tolerances = np.asarray(controller.tolerances)
    offsets, covariance, chi2, diff, sd = estimate_offsets(np.asarray(controller.sensitivity), read_one, probes.shots)
    stderr = np.sqrt(np.diag(covariance))
    dof = probes.n_pairs - 3
    from scipy.stats import chi2 as chi2_distribution  # here: ~0.4 s to import (see devices/drift.py)

    chi2_limit = float(chi2_distribution.ppf(CONSISTENCY_QUANTILE, dof)) if dof > 0 else math.inf
    limits = np.asarray(controller.allowance) + 3.0 * np.maximum(sd, 1.0 / probes.shots)
    problems = [f"{OFFSET_NAMES[k]} offset {_format(k, offsets[k])} +- {_format(k, stderr[k])} beyond the "
                f"tolerance {_format(k, tolerances[k])}" for k in range(3) if abs(offsets[k]) > tolerances[k]]
    if chi2 > chi2_limit:
        problems.append(f"the probe pairs disagree with any single offset (chi2 = {chi2:.1f} > {chi2_limit:.1f} "
                        f"for {dof} degrees of freedom)")
    names = pair_names(probes)
    problems += [f"{names[i]}: |P+ - P-| = {abs(diff[i]):.3f} > {limits[i]:.3f}" for i in range(len(diff))
                 if abs(diff[i]) > limits[i]]
    reason = ("verification out of spec: " + "; ".join(problems)) if problems else (
        "estimated offsets within tolerance: " + ", ".join(
            f"{OFFSET_NAMES[k]} {_format(k, offsets[k])} +- {_format(k, stderr[k])}" for k in range(3)))
    return Verification(not problems, reason, diff, limits, offsets, stderr, chi2, chi2_limit)


__all__ = ["REFINE_SIGNIFICANCE", "TOLERANCES", "Verification", "VerificationError", "beyond_tolerance",
           "check_tolerances", "correct_offsets", "correctable", "estimate_offsets", "moved_by", "pair_allowance",
           "pair_names", "probe_sensitivity", "probe_variance", "refinable", "refine_offsets", "verify"]
