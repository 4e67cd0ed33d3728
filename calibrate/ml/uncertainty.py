"""Standard errors of the calibration the learned controller applied.

The controller's rounds are c_r = g(p_r, c_{r-1}), with p_r the probes measured at c_{r-1}:
p_r = P(c_{r-1}) + n_r, n_r the binomial shot noise. Linearised around what was measured,
a change dc_{r-1} moves the next calibration by

    dc_r = (G_c + G_p S) dc_{r-1} + G_p n_r

where G_p, G_c are the network step's Jacobians at the round's inputs and S = dP/dc the
probes' sensitivity (the family's nominal transmon, calibrate.ml.verification). So

    Cov(c_r) = A_r Cov(c_{r-1}) A_r' + G_p Sigma_r G_p',   A_r = G_c + G_p S,  Cov(c_0) = 0

carried through every round that was applied: the noise of the last round's probes, plus
what the later rounds did not correct of the earlier rounds' noise. Coordinates are
(frequency [GHz], log X amplitude, beta [ns]). What this leaves out is the controller's own
bias (what its training could not learn); tests/calibrate/test_controller_uncertainty.py
measures the coverage of these errors against the true optimum.

The fine-frequency step (calibrate.ml.fine_frequency) after the rounds measures the residual
detuning d of the rounds' frequency f_r directly and stores f = f_r + d_hat. Its error
f - f_qubit = d_hat - d does not depend on f_r's, so when the step was applied the stored
frequency's standard error is the step's own (`with_fine_frequency`), not the rounds'.

Likewise a correction by an out-of-spec verification's own estimate (calibrate.ml.verification.
correct_offsets) leaves each coordinate it moved off by u - u_hat: its standard error is that
estimate's, from the verification probes' shot noise (`with_corrections`), and so does each
coordinate an in-spec verification refined (calibrate.ml.verification.refine_offsets;
`with_refinement`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from calibrate.ml.verification import beyond_tolerance, probe_variance, refinable
from experiments.calibration import QubitCalibration


@eqx.filter_jit
def _step_jacobians(controller, read_one, u):
    def step(p, v):
        f, a, b = controller.correct(p, v[0], jnp.exp(v[1]), v[2])
        return jnp.stack([f, jnp.log(a), b])

    return jax.jacfwd(step, argnums=(0, 1))(read_one, u)


def _coordinates(calibration: QubitCalibration) -> jax.Array:
    return jnp.asarray([calibration.frequency, np.log(calibration.x_amp), calibration.beta], dtype=jnp.float64)


def applied_covariance(controller, read_one: np.ndarray, history: list[QubitCalibration]) -> np.ndarray:
    """(3, 3) covariance of (frequency, log x_amp, beta) of history[-1], the calibration after
    len(read_one) applied rounds; read_one[r] was measured at history[r]."""
    read_one = np.atleast_2d(np.asarray(read_one, dtype=float))
    if len(history) != read_one.shape[0] + 1:
        raise ValueError(f"Argument `history` must hold one calibration more than `read_one` has rounds "
                         f"({read_one.shape[0] + 1}), but holds {len(history)}.")
    sensitivity = np.asarray(controller.sensitivity)
    covariance = np.zeros((3, 3))
    for p, calibration in zip(read_one, history[:-1]):
        g_p, g_c = (np.asarray(j) for j in _step_jacobians(controller, jnp.asarray(p, dtype=jnp.float64),
                                                            _coordinates(calibration)))
        carry = g_c + g_p @ sensitivity
        covariance = carry @ covariance @ carry.T + (g_p * probe_variance(p, controller.probes.shots)) @ g_p.T
    return covariance


def applied_stderr(controller, read_one: np.ndarray, history: list[QubitCalibration]) -> dict[str, float]:
    """Standard errors of history[-1]'s frequency, x_amp, sx_amp (its ratio to x_amp kept) and beta."""
    final = history[-1]
    sd = np.sqrt(np.diag(applied_covariance(controller, read_one, history)))
    ratio = final.sx_amp / final.x_amp if final.x_amp else 0.5
    return {"frequency": float(sd[0]), "x_amp": float(sd[1] * final.x_amp),
            "sx_amp": float(sd[1] * final.x_amp * ratio), "beta": float(sd[2])}


def with_fine_frequency(stderr: dict[str, float], fine) -> dict[str, float]:
    """`stderr` (applied_stderr's) with the frequency's replaced by the fine-frequency step's
    when that step was applied (a FineResult, or None for no step)."""
    if fine is None or not fine.applied:
        return dict(stderr)
    return {**stderr, "frequency": float(fine.stderr)}


def with_corrections(stderr: dict[str, float], final: QubitCalibration, corrections, tolerances) -> dict[str, float]:
    """`stderr` with each coordinate that a verification's correction moved (a Verification
    whose |offset| exceeded its tolerance) given that estimate's standard error, the last one
    that moved it; `final` is the calibration after the corrections."""
    out = dict(stderr)
    for check in corrections:
        out = _from_estimate(out, final, check, beyond_tolerance(check, tolerances))
    return out


def with_refinement(stderr: dict[str, float], final: QubitCalibration, refined) -> dict[str, float]:
    """`stderr` with the coordinates an in-spec verification refined (`refined`, or None) given
    its estimate's standard error; `final` is the refined calibration."""
    return dict(stderr) if refined is None else _from_estimate(stderr, final, refined, refinable(refined))


def _from_estimate(stderr: dict[str, float], final: QubitCalibration, check, moved) -> dict[str, float]:
    out = dict(stderr)
    ratio = final.sx_amp / final.x_amp if final.x_amp else 0.5
    sd = np.asarray(check.offset_stderr, dtype=float)
    if moved[0]:
        out["frequency"] = float(sd[0])
    if moved[1]:
        out["x_amp"] = float(sd[1] * final.x_amp)
        out["sx_amp"] = float(sd[1] * final.x_amp * ratio)
    if moved[2]:
        out["beta"] = float(sd[2])
    return out


__all__ = ["applied_covariance", "applied_stderr", "with_corrections", "with_fine_frequency", "with_refinement"]
