"""The calibration values an experiment plays with: one qubit's X and SX gates.

Experiments never see a device's truth: they start from these values, which come from
the parameter store or, before any calibration, from the device's public design.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from devices.device_spec import DeviceSpec
from devices.nominal import nominal_x_pulse
from devices.pulses import Drag
from devices.schedule import Play, Schedule


@dataclass(frozen=True)
class QubitCalibration:
    """Drive frequency [GHz], X and SX amplitudes, DRAG beta [ns], pulse shape [ns]."""

    frequency: float
    x_amp: float
    sx_amp: float
    beta: float
    duration: float
    sigma: float

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


UNITS = {"frequency": "GHz", "x_amp": "", "sx_amp": "", "beta": "ns", "duration": "ns", "sigma": "ns"}


def nominal_calibration(spec: DeviceSpec, qubit: int) -> QubitCalibration:
    """Starting values from the design alone: design frequency, pi amplitude from the
    design drive scale, no DRAG."""
    x = nominal_x_pulse(spec, qubit)
    return QubitCalibration(frequency=spec.qubits[qubit].frequency, x_amp=float(x.amp),
                            sx_amp=float(x.amp) / 2, beta=0.0, duration=spec.x_duration,
                            sigma=spec.x_sigma)
