"""Dispersive readout: each shot's integrated IQ point from the transmon's level during the readout.

The model, per qubit (internal units: GHz, ns; `Resonator` holds the chip's hidden values,
`ReadoutPulse` what the control stack plays):

  Response. With the transmon in level s the resonator sits at f_s = f_r + chi_s (chi_0 = 0:
  f_r is the resonator with the qubit in |0>). A pulse at f_p, amplitude a (of full scale),
  drives the field towards
      alpha_s = sqrt(n_max) a / (1 + 2i (f_s - f_p) / kappa)         (|alpha_s|^2 photons)
  ringing up as alpha_s (1 - exp(-lambda_s t)), lambda_s = pi kappa + 2 pi i (f_s - f_p)
  (the field's amplitude decays at half the linewidth kappa, FWHM [GHz]). The IQ point of a
  shot is the field averaged over the pulse: V_s = alpha_s (1 - (1 - exp(-lambda_s tau)) /
  (lambda_s tau)) for a shot that stays in s, so short pulses lose contrast to the ring-up.

  Noise. The amplifier chain adds `noise_photons` of noise (0.5 for a quantum-limited chain):
  each quadrature of V gets Gaussian noise of standard deviation sqrt(noise_photons /
  (2 pi kappa tau)). The blobs' separation over their width grows as a sqrt(tau): longer and
  stronger pulses read better, until the two effects below.

  Decay during the readout. A shot's level jumps down at rate s / t1 (|1> -> |0> at 1/T1,
  |2> -> |1> at 2/T1, the transmon's near-harmonic ladder) at exponentially distributed times;
  a shot's V is the time-weighted mean of the V_s of the levels it passed through, so shots
  that decay mid-way land between the blobs (the ring-up after the jump is neglected).

  Measurement-induced transitions. Above the critical photon number the dispersive picture
  breaks down and the drive excites the transmon: level s jumps up (s -> s+1, the top level
  kept excepted) at rate induced_rate * (|alpha_s|^2 / n_crit)^4, negligible at a few tenths of
  n_crit and fast beyond it, so that more amplitude is not always better.

Everything here is numpy (shots are random draws, not differentiated): `sample_iq` draws the
IQ points of shots whose levels at the start of the readout are given, `blob_centres` gives
the noiseless V_s.

A calibrated readout (`Readout`) is a pulse and the linear discriminator trained for it (and,
where one has been trained, a `LevelDiscriminator` telling |0>, |1> and |2> apart): a device
asked for discriminated counts with one plays the pulse and reads each shot's IQ point
through the discriminator(s), as a control stack's state discrimination does.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices._validate import DeviceModelError, check_range, concrete

JUMPS = 3  # jumps followed per shot during one readout: more are vanishingly rare (< 1e-6)
INDUCED_POWER = 4  # how steeply measurement-induced transitions rise with photons / n_crit


def _f64(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.float64)


class Resonator(eqx.Module):
    """A qubit's readout resonator and amplifier chain: the chip's hidden truth (a pytree of
    float64 leaves, so that a Chip carrying one per transmon keeps its structure under drift).

    frequency:      f_r with the transmon in |0> [GHz]
    linewidth:      kappa, full width at half maximum [GHz]
    chi:            the resonator's shift with the transmon in |0>, |1>, |2>, ... [GHz]; chi[0] = 0
    n_max:          photons in the resonator driven on resonance at full amplitude
    noise_photons:  noise the amplifier chain adds, in photons (>= 0.5, the quantum limit)
    critical_photons: n_crit, where measurement-induced transitions set in
    induced_rate:   their rate at n_crit [1/ns]
    """

    frequency: jax.Array = eqx.field(converter=_f64)
    linewidth: jax.Array = eqx.field(converter=_f64)
    chi: jax.Array = eqx.field(converter=_f64)
    n_max: jax.Array = eqx.field(converter=_f64)
    noise_photons: jax.Array = eqx.field(converter=_f64)
    critical_photons: jax.Array = eqx.field(converter=_f64)
    induced_rate: jax.Array = eqx.field(converter=_f64)

    def __check_init__(self):
        owner = "Resonator"
        check_range(owner, "frequency", self.frequency, low=0.0, low_open=True, allowed="frequency > 0 GHz")
        check_range(owner, "linewidth", self.linewidth, low=0.0, low_open=True, high=0.1, high_open=True,
                    allowed="0 < linewidth < 0.1 GHz")
        chi = concrete(self.chi)
        if chi is not None and (chi.ndim != 1 or chi.size < 2 or chi[0] != 0.0 or not np.all(np.isfinite(chi))):
            raise DeviceModelError(f"Resonator.chi is {chi.tolist()}, but must be finite shifts for |0>, |1>, ... "
                                   "with chi[0] = 0 (the frequency is the resonator's with the qubit in |0>).")
        check_range(owner, "n_max", self.n_max, low=0.0, low_open=True, allowed="n_max > 0 photons")
        check_range(owner, "noise_photons", self.noise_photons, low=0.5,
                    allowed="noise_photons >= 0.5 (the quantum limit)")
        check_range(owner, "critical_photons", self.critical_photons, low=0.0, low_open=True,
                    allowed="critical_photons > 0")
        check_range(owner, "induced_rate", self.induced_rate, low=0.0, allowed="induced_rate >= 0 per ns")

    def shift(self, level: np.ndarray) -> np.ndarray:
        """chi of each level; levels above those given respond as the highest given."""
        chi = np.asarray(self.chi)
        return chi[np.minimum(level, len(chi) - 1)]


@dataclass(frozen=True)
class ReadoutPulse:
    """What the control stack plays to read a qubit out: frequency [GHz], amplitude (of full
    scale, 0..1) and duration [ns]."""

    frequency: float
    amplitude: float
    duration: float

    def __post_init__(self):
        for name, ok, allowed in (("frequency", self.frequency > 0, "frequency > 0 GHz"),
                                  ("amplitude", 0 < self.amplitude <= 1, "0 < amplitude <= 1"),
                                  ("duration", self.duration > 0, "duration > 0 ns")):
            value = getattr(self, name)
            if isinstance(value, bool) or not (np.isfinite(value) and ok):
                raise DeviceModelError(f"ReadoutPulse.{name} is {value!r}, but must satisfy {allowed}.")


@dataclass(frozen=True)
class LinearDiscriminator:
    """Reads 1 when I cos(angle) + Q sin(angle) > threshold (angle [rad], threshold in the
    device's IQ units): the boundary control stacks store for a two-state readout."""

    angle: float
    threshold: float

    def __post_init__(self):
        for name in ("angle", "threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not np.isfinite(value):
                raise DeviceModelError(f"LinearDiscriminator.{name} is {value!r}, but must be a finite number.")

    def reads_one(self, points: np.ndarray) -> np.ndarray:
        """points (..., 2) as (I, Q)."""
        return points[..., 0] * np.cos(self.angle) + points[..., 1] * np.sin(self.angle) > self.threshold


@dataclass(frozen=True)
class LevelDiscriminator:
    """Reads each shot as the level whose blob centre is nearest in the metric of the blobs'
    shared covariance: a linear discriminant with equal priors (scikit-learn's LDA trained on
    as many shots of each level decides the same), the multi-state discrimination control
    stacks store as one centre per level and one noise covariance.

    centres:    the (I, Q) centre of each level's blob, level 0 first (two or more levels)
    covariance: ((var_I, cov_IQ), (cov_IQ, var_Q)), positive definite, in the device's IQ units
    """

    centres: tuple[tuple[float, float], ...]
    covariance: tuple[tuple[float, float], tuple[float, float]]

    def __post_init__(self):
        centres, covariance = np.asarray(self.centres, dtype=float), np.asarray(self.covariance, dtype=float)
        if centres.ndim != 2 or centres.shape[1] != 2 or len(centres) < 2 or not np.all(np.isfinite(centres)):
            raise DeviceModelError(f"LevelDiscriminator.centres is {self.centres!r}, but must be finite (I, Q) "
                                   "pairs, one per level, for two or more levels.")
        if (covariance.shape != (2, 2) or not np.all(np.isfinite(covariance))
                or covariance[0, 1] != covariance[1, 0] or covariance[0, 0] <= 0
                or np.linalg.det(covariance) <= 0):
            raise DeviceModelError(f"LevelDiscriminator.covariance is {self.covariance!r}, but must be a symmetric "
                                   "positive definite 2x2 matrix ((var_I, cov_IQ), (cov_IQ, var_Q)).")

    @property
    def n_levels(self) -> int:
        return len(self.centres)

    def levels(self, points: np.ndarray) -> np.ndarray:
        """The level each IQ point (..., 2) reads as (int, shape ...)."""
        gaps = np.asarray(points, dtype=float)[..., None, :] - np.asarray(self.centres)  # (..., level, 2)
        precision = np.linalg.inv(np.asarray(self.covariance))
        return np.argmin(np.einsum("...li,ij,...lj->...l", gaps, precision, gaps), axis=-1)


@dataclass(frozen=True)
class Readout:
    """A calibrated readout of one qubit: the pulse played, the discriminator trained for it
    and, once a three-state readout has been trained at that pulse, its level discriminator."""

    pulse: ReadoutPulse
    discriminator: LinearDiscriminator
    levels: LevelDiscriminator | None = None


def steady_fields(resonator: Resonator, pulse: ReadoutPulse, levels: np.ndarray) -> np.ndarray:
    """alpha_s: the field each level drives the resonator to (complex, sqrt(photons))."""
    detuning = float(resonator.frequency) + resonator.shift(levels) - pulse.frequency
    return np.sqrt(float(resonator.n_max)) * pulse.amplitude / (1.0 + 2j * detuning / float(resonator.linewidth))


def blob_centres(resonator: Resonator, pulse: ReadoutPulse, levels: np.ndarray) -> np.ndarray:
    """V_s: the noiseless IQ point of a shot that stays in level s, ring-up included."""
    levels = np.asarray(levels)
    detuning = float(resonator.frequency) + resonator.shift(levels) - pulse.frequency
    rate = np.pi * float(resonator.linewidth) + 2j * np.pi * detuning  # lambda_s [1/ns]
    x = rate * pulse.duration
    return steady_fields(resonator, pulse, levels) * (1.0 - (1.0 - np.exp(-x)) / x)


def noise_sigma(resonator: Resonator, pulse: ReadoutPulse) -> float:
    """Standard deviation of each quadrature of V."""
    return float(np.sqrt(float(resonator.noise_photons) / (2 * np.pi * float(resonator.linewidth) * pulse.duration)))


def photons(resonator: Resonator, pulse: ReadoutPulse, levels: np.ndarray) -> np.ndarray:
    """Mean photons in the resonator with the transmon in each level."""
    return np.abs(steady_fields(resonator, pulse, levels)) ** 2


def induced_rates(resonator: Resonator, pulse: ReadoutPulse, levels: np.ndarray) -> np.ndarray:
    """Measurement-induced excitation rate of each level [1/ns]."""
    ratio = photons(resonator, pulse, levels) / float(resonator.critical_photons)
    return float(resonator.induced_rate) * ratio**INDUCED_POWER


def level_paths(start: np.ndarray, resonator: Resonator, pulse: ReadoutPulse, t1: float, n_levels: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each shot's levels during the readout and the time spent in each, from its level at
    the start: (levels, dwell), both (shots, JUMPS + 1), dwell [ns] summing to the duration."""
    tau = pulse.duration
    top = n_levels - 1
    levels = np.empty((start.size, JUMPS + 1), dtype=np.int64)
    dwell = np.zeros((start.size, JUMPS + 1))
    level, elapsed = start.astype(np.int64), np.zeros(start.size)
    all_levels = np.arange(n_levels)
    up_rate = np.where(all_levels < top, induced_rates(resonator, pulse, all_levels), 0.0)
    for k in range(JUMPS + 1):
        levels[:, k] = level
        down, up = level / t1, up_rate[level]
        total = down + up
        with np.errstate(divide="ignore"):
            wait = np.where(total > 0, rng.exponential(1.0, start.size) / np.where(total > 0, total, 1.0), np.inf)
        stay = np.minimum(wait, tau - elapsed) if k < JUMPS else tau - elapsed
        dwell[:, k] = stay
        elapsed = elapsed + stay
        jumped = elapsed < tau
        goes_up = rng.random(start.size) * np.where(total > 0, total, 1.0) < up
        level = np.where(jumped, np.where(goes_up, level + 1, level - 1), level)
    return levels, dwell


def sample_iq(start: np.ndarray, resonator: Resonator, pulse: ReadoutPulse, t1: float, n_levels: int,
              rng: np.random.Generator) -> np.ndarray:
    """The IQ points (complex) of shots starting the readout in levels `start`."""
    levels, dwell = level_paths(start, resonator, pulse, t1, n_levels, rng)
    centres = blob_centres(resonator, pulse, np.arange(n_levels))
    mean = (centres[levels] * dwell).sum(axis=1) / pulse.duration
    sigma = noise_sigma(resonator, pulse)
    return mean + sigma * (rng.standard_normal(start.size) + 1j * rng.standard_normal(start.size))
