"""The calibration values an experiment plays with: one qubit's X and SX gates.

Experiments never see a device's truth: they start from these values, which come from
the parameter store or, before any calibration, from the device's public design.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from devices.device_spec import DeviceSpec
from devices.nominal import nominal_x_pulse
from devices.pulses import Drag
from devices.readout import LevelDiscriminator, LinearDiscriminator, Readout, ReadoutPulse
from devices.schedule import Barrier, Play, Schedule
from devices.two_qubit import ECR, CrossResonance, ecr_schedule


@dataclass(frozen=True)
class QubitCalibration:
    """Drive frequency [GHz], X and SX amplitudes, DRAG beta [ns], pulse shape [ns]; the
    readout pulse's frequency [GHz], amplitude and duration [ns] where the device has an
    IQ-level readout (None where it does not), and the discriminator trained for that pulse
    (angle [rad], threshold) once one has been (None before); the 1-2 transition's offset from
    the qubit's frequency [GHz] (the design's until measured) and its pi amplitude (None until
    measured: `ef_pi_amp` then estimates it); and, once a three-state readout has been trained
    for the readout pulse, its level discriminator (devices.readout.LevelDiscriminator: the
    blob centres of |0>, |1>, |2> and their shared covariance, in the device's IQ units)."""

    frequency: float
    x_amp: float
    sx_amp: float
    beta: float
    duration: float
    sigma: float
    readout_frequency: float | None = None
    readout_amp: float | None = None
    readout_duration: float | None = None
    readout_angle: float | None = None
    readout_threshold: float | None = None
    anharmonicity: float | None = None
    ef_amp: float | None = None
    readout_level0_i: float | None = None
    readout_level0_q: float | None = None
    readout_level1_i: float | None = None
    readout_level1_q: float | None = None
    readout_level2_i: float | None = None
    readout_level2_q: float | None = None
    readout_level_var_i: float | None = None
    readout_level_var_q: float | None = None
    readout_level_cov_iq: float | None = None

    def replace(self, **changes) -> "QubitCalibration":
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def x_pulse(self, *, amp: float | None = None, beta: float | None = None) -> Drag:
        return Drag(self.duration, amp=self.x_amp if amp is None else amp, sigma=self.sigma,
                    beta=self.beta if beta is None else beta)

    def sx_pulse(self, *, amp: float | None = None, beta: float | None = None) -> Drag:
        return Drag(self.duration, amp=self.sx_amp if amp is None else amp, sigma=self.sigma,
                    beta=self.beta if beta is None else beta)

    def schedule(self, instructions, *, frequency: float | None = None) -> Schedule:
        return Schedule(instructions, [self.frequency if frequency is None else frequency])

    def x_schedule(self) -> Schedule:
        return self.schedule([Play(0, self.x_pulse())])

    @property
    def ef_frequency(self) -> float:
        """The 1-2 transition [GHz]."""
        if self.anharmonicity is None:
            raise ValueError("These calibration values have no anharmonicity: the 1-2 transition is unknown.")
        return self.frequency + self.anharmonicity

    @property
    def ef_pi_amp(self) -> float:
        """The 1-2 pi amplitude: measured, or estimated from the X pulse's (the 1-2 matrix element
        of a transmon is sqrt(2) times the 0-1 one)."""
        return self.x_amp / np.sqrt(2.0) if self.ef_amp is None else self.ef_amp

    def ef_pulse(self, *, amp: float | None = None) -> Drag:
        """The 1-2 pi pulse: the X pulse's shape without DRAG (no |3> to avoid in a three-level model)."""
        return Drag(self.duration, amp=self.ef_pi_amp if amp is None else amp, sigma=self.sigma, beta=0.0)

    def ef_schedule(self, x_amp: float, ef_pulse, *, ef_frequency: float | None = None) -> Schedule:
        """The X pulse at `x_amp`, then `ef_pulse` on a second tone of the qubit's line at the 1-2
        transition: |1> -> |2> for the calibrated pair, |0> for both amplitudes 0 (one schedule
        structure, one compilation, for every level prepared)."""
        frequency = self.ef_frequency if ef_frequency is None else ef_frequency
        return Schedule([Play(0, self.x_pulse(amp=x_amp)), Barrier((0, 1)), Play(1, ef_pulse)],
                        [self.frequency, frequency], lines=[0, 0])

    def readout_pulse(self, *, frequency: float | None = None, amp: float | None = None,
                      duration: float | None = None) -> ReadoutPulse:
        """The readout pulse these values describe (each may be overridden, as a sweep does)."""
        chosen = (self.readout_frequency if frequency is None else frequency,
                  self.readout_amp if amp is None else amp,
                  self.readout_duration if duration is None else duration)
        if any(v is None for v in chosen):
            raise ValueError("These calibration values have no readout pulse: the device has no IQ-level readout "
                             "(its design gives no [qubits.readout] table).")
        return ReadoutPulse(*(float(v) for v in chosen))

    def calibrated_readout(self) -> Readout | None:
        """The readout pulse and its trained discriminator, which discriminated runs read
        through; None until a discriminator has been trained (the device's own is used)."""
        if self.readout_angle is None or self.readout_threshold is None:
            return None
        return Readout(self.readout_pulse(), LinearDiscriminator(float(self.readout_angle),
                                                                 float(self.readout_threshold)),
                       self.level_discriminator())

    def level_discriminator(self) -> LevelDiscriminator | None:
        """The stored three-state discriminator; None until all its values are stored."""
        values = [getattr(self, name) for name in LEVEL_DISCRIMINATOR_FIELDS]
        if any(v is None for v in values):
            return None
        return level_discriminator_from(dict(zip(LEVEL_DISCRIMINATOR_FIELDS, values)))


LEVEL_DISCRIMINATOR_FIELDS = ("readout_level0_i", "readout_level0_q", "readout_level1_i", "readout_level1_q",
                              "readout_level2_i", "readout_level2_q", "readout_level_var_i", "readout_level_var_q",
                              "readout_level_cov_iq")
UNITS = {"frequency": "GHz", "x_amp": "", "sx_amp": "", "beta": "ns", "duration": "ns", "sigma": "ns",
         "readout_frequency": "GHz", "readout_amp": "", "readout_duration": "ns", "readout_angle": "rad",
         "readout_threshold": "", "anharmonicity": "GHz", "ef_amp": "",
         **dict.fromkeys(LEVEL_DISCRIMINATOR_FIELDS, "")}  # the device's IQ units (squared for the covariance)


def level_discriminator_values(discriminator: LevelDiscriminator) -> dict[str, float]:
    """A three-level discriminator as the calibration values that store it."""
    (c0, c1, c2), ((vi, ciq), (_, vq)) = discriminator.centres, discriminator.covariance
    return dict(zip(LEVEL_DISCRIMINATOR_FIELDS, (*c0, *c1, *c2, vi, vq, ciq)))


def level_discriminator_from(values: dict[str, float]) -> LevelDiscriminator:
    """The inverse of `level_discriminator_values`."""
    v = [float(values[name]) for name in LEVEL_DISCRIMINATOR_FIELDS]
    return LevelDiscriminator(centres=((v[0], v[1]), (v[2], v[3]), (v[4], v[5])),
                              covariance=((v[6], v[8]), (v[8], v[7])))


def nominal_calibration(spec: DeviceSpec, qubit: int) -> QubitCalibration:
    """Starting values from the design alone: design frequency, pi amplitude from the
    design drive scale, no DRAG."""
    x = nominal_x_pulse(spec, qubit)
    readout = spec.qubits[qubit].readout
    pulse = {} if readout is None else {"readout_frequency": readout.pulse_frequency,
                                        "readout_amp": readout.pulse_amplitude,
                                        "readout_duration": readout.pulse_duration}
    return QubitCalibration(frequency=spec.qubits[qubit].frequency, x_amp=float(x.amp),
                            sx_amp=float(x.amp) / 2, beta=0.0, duration=spec.x_duration,
                            sigma=spec.x_sigma, anharmonicity=spec.qubits[qubit].anharmonicity, **pulse)


PAIR_UNITS = {"cr_amp": "", "cr_angle": "rad", "cr_width": "ns", "cr_ramp": "ns", "cr_sigma": "ns",
              "cancel_amp": "", "cancel_angle": "rad", "target_phase": "rad"}


@dataclass(frozen=True)
class PairCalibration:
    """A directed pair's echoed cross-resonance gate (devices.two_qubit.CrossResonance): the CR
    tone's amplitude and angle, the flat top's width, the ramps, and the cancellation tone on
    the target. The echo's X on the control is the control's own calibrated X pulse.
    `target_phase` is a virtual Z on the target after the pulses (ShiftPhase on its frame: the
    target's channel and the CR tone's), so the pulses themselves should implement
    Rz_t(-target_phase) ECR (`pulses_unitary`)."""

    cr_amp: float
    cr_angle: float
    cr_width: float
    cancel_amp: float
    cancel_angle: float
    target_phase: float = 0.0
    cr_ramp: float = 10.0
    cr_sigma: float = 5.0

    @classmethod
    def from_values(cls, values: dict[str, float]) -> "PairCalibration | None":
        """From stored values (name -> value); None while any setting without a default is missing."""
        known = {k: float(v) for k, v in values.items() if k in PAIR_UNITS}
        if not {"cr_amp", "cr_angle", "cr_width", "cancel_amp", "cancel_angle"} <= set(known):
            return None
        return cls(**known)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def cross_resonance(self, **changes) -> CrossResonance:
        p = replace(self, **changes)
        return CrossResonance(p.cr_ramp, p.cr_sigma, p.cr_width, amp=p.cr_amp, angle=p.cr_angle,
                              cancel_amp=p.cancel_amp, cancel_angle=p.cancel_angle)

    def ecr_schedule(self, control: QubitCalibration, target: QubitCalibration, **changes) -> Schedule:
        """The ECR (CR+ | the control's X | CR-) with the qubits' calibrated carriers."""
        return ecr_schedule(control.frequency, target.frequency, self.cross_resonance(**changes), control.x_pulse())

    def pulses_unitary(self) -> np.ndarray:
        """What the ECR's pulses should implement, before the virtual Z that follows them:
        Rz_t(-target_phase) ECR, Rz(theta) = exp(-i theta Z / 2) (ShiftPhase's convention)."""
        half = np.exp(0.5j * self.target_phase)  # Rz(-phase) on the target: diag(e^{i p/2}, e^{-i p/2})
        return np.kron(np.eye(2), np.diag([half, np.conj(half)])) @ ECR
