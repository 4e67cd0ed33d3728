"""The learned node's fine-frequency step: a two-stage Ramsey, read analytically.

The controller's probes wait at most 1 us, so after its rounds a residual detuning of a few
to ~30 kHz is left (its verification accepts up to 30 kHz). This step measures it with long
Ramsey waits and corrects the drive frequency before the verification runs.

Each stage k plays SX, wait tau_k, ShiftPhase(psi), SX for psi = +pi/2, -pi/2, 0, pi. With
the drive at f_d and the qubit at f_q, the phase the qubit gathers between the two SX
centres (tau_k plus one gate duration) is phi_k = 2 pi (f_q - f_d) (tau_k + duration), and
in this codebase's convention (ShiftPhase(-theta) acts as an extra precession theta, as
`experiments.library.ramsey` uses it)

    P(psi) - P(psi + pi) = A_k cos(phi_k - psi)
    s = P(+pi/2) - P(-pi/2) = A_k sin(phi_k),   c = P(0) - P(pi) = A_k cos(phi_k)

so phi_k = atan2(s, c): both quadratures are measured, and the decay amplitude A_k
(T2, readout, the SX angle) cancels; no stored T2 or readout value is trusted. Its
variance by the delta method is (c^2 var s + s^2 var c) / (s^2 + c^2)^2 with binomial
variances. Stage 1 (2 us) is unambiguous for |f_q - f_d| < 1 / (2 * 2.02 us) = 248 kHz;
stage 2 (8 us) only within 62 kHz, and its phase is unwrapped (2 pi m added) to the value
nearest stage 1's estimate, which stage 1's ~4 kHz error makes safe. The two estimates are
combined by inverse variance. Expected precision on sim-1q (T2 ~60 us, readout errors
2-4 %): A ~0.93 at 2 us and ~0.85 at 8 us, so sigma_phi ~ sqrt(0.5 / shots) / A gives
~6 kHz for stage 1 (100 shots per sequence; ten of them inside stage 2's +-62 kHz) and
~0.83 kHz for stage 2 (400 per sequence): ~0.82 kHz combined, for 4 x 100 + 4 x 400 = 2,000
shots (~0.4 s of device time). Measured on 6 sim-1q devices, each with +20, -20 and +45 kHz
injected in turn (18 runs): error 0.81 kHz rms after the step, |error| <= stderr in 10 of 18.

The correction is not applied (and the step says why) when a stage shows no fringe (A
below five standard errors) or the two stages disagree by more than four standard errors;
the verification that follows then judges the controller's calibration alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from devices.limits import run_within_limits
from devices.protocol import Device
from devices.schedule import Delay, Play
from devices.sequences import GateSequence
from experiments.calibration import QubitCalibration

PHASES = (np.pi / 2, -np.pi / 2, 0.0, np.pi)  # the virtual-Z phase before the second SX, per sequence
MIN_FRINGE_SIGMAS = 5.0
MAX_DISAGREEMENT_SIGMAS = 4.0


class FineFrequencyError(ValueError):
    """Options the fine-frequency step cannot use."""


@dataclass(frozen=True)
class FineFrequency:
    """Ramsey waits (ns, increasing) and shots per sequence of each stage."""

    delays: tuple[float, ...] = (2000.0, 8000.0)
    shots: tuple[int, ...] = (100, 400)

    def __post_init__(self):
        delays, shots = tuple(self.delays), tuple(self.shots)
        if not delays or not all(isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) and d > 0
                                 for d in delays) or list(delays) != sorted(delays):
            raise FineFrequencyError(f"FineFrequency.delays is {self.delays!r}, but must be one or more increasing "
                                     "finite numbers > 0 (ns).")
        if len(shots) != len(delays) or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 10**6
                                                for n in shots):
            raise FineFrequencyError(f"FineFrequency.shots is {self.shots!r}, but must hold one integer in 1..10^6 "
                                     f"per delay ({len(delays)}).")
        object.__setattr__(self, "delays", tuple(float(d) for d in delays))
        object.__setattr__(self, "shots", shots)

    @property
    def total_shots(self) -> int:
        return len(PHASES) * sum(self.shots)

    def as_dict(self) -> dict:
        return {"delays": list(self.delays), "shots": list(self.shots)}


class FineResult(NamedTuple):
    calibration: QubitCalibration  # the input with the correction applied (or the input, if not applied)
    applied: bool
    reason: str
    offset: float  # estimated f_qubit - f_drive [GHz] at the input calibration (nan if no fringe)
    stderr: float  # its standard error [GHz]: that of the stored frequency when applied
    stage_offsets: np.ndarray  # per stage, unwrapped estimate [GHz]
    stage_stderr: np.ndarray
    amplitudes: np.ndarray  # per stage, fringe amplitude A_k (self-calibrated)
    read_one: np.ndarray  # (stages, 4) measured P(read 1), in PHASES order
    shots: int


def fine_sequences(calibration: QubitCalibration, delay: float) -> list[GateSequence]:
    """SX, wait `delay`, ShiftPhase(psi), SX for psi in PHASES."""
    table = (calibration.schedule([Play(0, calibration.sx_pulse())]), calibration.schedule([Delay(None, delay)]))
    return [GateSequence(table, [0, 1, 0], [0.0, 0.0, psi]) for psi in PHASES]


def _variance(p: np.ndarray, shots: int) -> np.ndarray:
    p = np.clip(p, 0.0, 1.0)
    return np.clip(p * (1 - p), 1.0 / shots, None) / shots


def stage_phase(read_one: np.ndarray, shots: int) -> tuple[float, float, float, float]:
    """(phase, its stderr, amplitude A, its stderr) of one stage's four P(read 1)."""
    p = np.asarray(read_one, dtype=float)
    var = _variance(p, shots)
    s, c = p[0] - p[1], p[2] - p[3]
    var_s, var_c = var[0] + var[1], var[2] + var[3]
    r2 = s * s + c * c
    amplitude = math.sqrt(r2)
    amplitude_sd = math.sqrt((s * s * var_s + c * c * var_c) / r2) if r2 > 0 else math.sqrt(max(var_s, var_c))
    phase_sd = math.sqrt((c * c * var_s + s * s * var_c) / (r2 * r2)) if r2 > 0 else math.inf
    return math.atan2(s, c), phase_sd, amplitude, amplitude_sd


def estimate_offset(read_one: np.ndarray, options: FineFrequency, duration: float):
    """From the stages' P(read 1): (offset, stderr, stage offsets, stage stderr, amplitudes, problem or '')."""
    offsets, errors, amplitudes, problems = [], [], [], []
    best, best_sd = None, None
    for k, (delay, shots) in enumerate(zip(options.delays, options.shots)):
        phase, phase_sd, amplitude, amplitude_sd = stage_phase(read_one[k], shots)
        amplitudes.append(amplitude)
        separation = delay + duration  # between the two SX centres
        if amplitude < MIN_FRINGE_SIGMAS * amplitude_sd:
            problems.append(f"no Ramsey fringe at {delay:g} ns (amplitude {amplitude:.3f} +- {amplitude_sd:.3f})")
            offsets.append(math.nan)
            errors.append(math.nan)
            continue
        period = 1.0 / separation
        offset = phase / (2 * math.pi * separation)
        if best is not None:  # unwrap to the value nearest what the shorter stages found
            offset += period * round((best - offset) / period)
            if abs(offset - best) > MAX_DISAGREEMENT_SIGMAS * math.hypot(best_sd, phase_sd / (2 * math.pi * separation)):
                problems.append(f"the {delay:g} ns stage ({offset * 1e6:.1f} kHz) disagrees with the shorter ones "
                                f"({best * 1e6:.1f} +- {best_sd * 1e6:.1f} kHz)")
        sd = phase_sd / (2 * math.pi * separation)
        offsets.append(offset)
        errors.append(sd)
        if best is None:
            best, best_sd = offset, sd
        else:
            w1, w2 = 1 / best_sd**2, 1 / sd**2
            best, best_sd = (w1 * best + w2 * offset) / (w1 + w2), 1 / math.sqrt(w1 + w2)
    if best is None:
        best, best_sd = math.nan, math.nan
    return best, best_sd, np.array(offsets), np.array(errors), np.array(amplitudes), "; ".join(problems)


def fine_frequency(device: Device, calibration: QubitCalibration, qubit: int,
                   options: FineFrequency = FineFrequency()) -> FineResult:
    """Measure the drive's residual detuning with `options`' Ramsey stages (one device run each) and
    move the drive frequency onto the qubit. Reads only the counts."""
    sequences = [s for delay in options.delays for s in fine_sequences(calibration, delay)]
    read_one = []
    for k, shots in enumerate(options.shots):  # one run per stage: stages may differ in shots
        counts = run_within_limits(device, sequences[4 * k:4 * k + 4], shots, qubits=(qubit,))["counts"]
        read_one.append(np.asarray(counts.sel(qubit=qubit).values, dtype=float) / shots)
    read_one = np.array(read_one)
    offset, stderr, stage_offsets, stage_stderr, amplitudes, problem = estimate_offset(read_one, options,
                                                                                       calibration.duration)
    applied = not problem
    if applied:
        moved = calibration.replace(frequency=calibration.frequency + offset)
        reason = (f"fine frequency: moved the drive by {offset * 1e6:+.2f} +- {stderr * 1e6:.2f} kHz "
                  f"(Ramsey {', '.join(f'{d:g}' for d in options.delays)} ns)")
    else:
        moved = calibration
        reason = f"fine frequency not applied: {problem}"
    return FineResult(moved, applied, reason, offset, stderr, stage_offsets, stage_stderr, amplitudes, read_one,
                      options.total_shots)


__all__ = ["FineFrequency", "FineFrequencyError", "FineResult", "estimate_offset", "fine_frequency", "fine_sequences",
           "stage_phase"]
