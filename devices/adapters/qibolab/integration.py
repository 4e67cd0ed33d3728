"""`Integrated` acquisition on a qibolab platform: each shot's integrated IQ point.

A `ReadoutPulse` (devices/readout.py) becomes the platform's readout of its qubit:

  frequency  the probe channel's frequency [GHz -> Hz], set through the execute's config updates
             (a qibolab 0.2 channel frequency is the absolute one: a driver with an LO derives its
             IF from it). A channel has one frequency per execute, so runs are grouped by it as
             by their drive carriers.
  amplitude  the probe pulse's amplitude (of full scale in both), played Rectangular: the
             toolkit's readout pulse is a constant tone
  duration   the probe pulse's and the acquisition's duration (a shot integrates over the pulse),
             a whole number of AWG samples
The MZ native's time of flight, relative phase and the acquisition channel's config (delay,
kernel) are kept. qibolab returns each readout as (nshots, 2): I and Q.

What qibolab's emulator (EmulatorController, qibolab 0.2.17) does with a readout: it models none.
The Readout event sits on the acquisition channel, which the emulator leaves out of its
Hamiltonian (there is no resonator, and the probe pulse drives nothing); each shot's level is
drawn from the density matrix at the readout's start (no decay during the readout); with
INTEGRATION and SINGLESHOT the point is I = that level clipped to 0/1 (|2> reads 1) and Q = 0,
with no noise: the discriminated bit as a float, the same draws as DISCRIMINATION. Probe
frequency, amplitude and duration change nothing. So on the emulator only the platform's own
readout (its probe frequency, MZ amplitude and duration) is played and its points are returned as
they are, the dataset's `iq_model` attribute saying what they are; any other pulse is refused by
field, since a sweep of it would read a flat line that is the emulator's omission, not a
measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from devices._validate import DeviceModelError
from devices.adapters.qibolab import units
from devices.protocol import Integrated
from devices.readout import ReadoutPulse

FIELDS = ("frequency", "amplitude", "duration")
EMULATOR_IQ_MODEL = ("qibolab emulator: I is each shot's sampled level (0, or 1 for any excited level) and Q is 0, "
                     "noiseless; the readout resonator and probe are not modelled")
PLATFORM_IQ_MODEL = "the platform's integrated acquisition, in its instruments' units"
_UNITS = {"frequency": "GHz", "amplitude": "of full scale", "duration": "ns"}


@dataclass(frozen=True)
class NativeReadout:
    """A qubit's readout as its platform defines it: the MZ native's Readout event on the
    acquisition channel, and the probe channel whose frequency it plays at."""

    acquisition_channel: str
    probe_channel: str
    event: object  # qibolab Readout
    frequency: float  # GHz, the probe channel's configured frequency

    @property
    def pulse(self) -> ReadoutPulse:
        return ReadoutPulse(frequency=self.frequency, amplitude=abs(float(self.event.probe.amplitude)),
                            duration=float(self.event.probe.duration))


def native_readouts(platform, qubit_ids: Sequence) -> tuple[NativeReadout, ...]:
    """Each qubit's own readout (its MZ native, which must be one Readout event)."""
    from qibolab import Readout

    out = []
    for qid in qubit_ids:
        events = list(platform.natives.single_qubit[qid].ensure("MZ"))
        if len(events) != 1 or not isinstance(events[0][1], Readout):
            raise DeviceModelError(f"Qubit {qid}'s MZ native gate is {[type(e).__name__ for _, e in events]}, but "
                                   "Integrated acquisition needs one Readout event (probe and acquisition) to vary.")
        channel, event = events[0]
        probe = platform.qubits[qid].probe
        out.append(NativeReadout(channel, probe, event, units.ghz(platform.config(probe).frequency)))
    return tuple(out)


def is_emulator(platform) -> bool:
    """Whether qibolab's emulator plays the platform (it models no readout: module docstring)."""
    try:
        from qibolab.instruments.emulator import EmulatorController
    except ImportError:  # pragma: no cover - a qibolab without its emulator
        return False
    return any(isinstance(i, EmulatorController) for i in platform.instruments.values())


def schedule_pulses(acquisition: Integrated, n_schedules: int, qubits: tuple[int, ...],
                    natives: tuple[NativeReadout, ...], *, device: str, emulator: bool,
                    sampling_rate: float) -> list[tuple[ReadoutPulse, ...]]:
    """Each schedule's readout pulses, checked against what the platform plays."""
    if len(acquisition.pulses) != len(qubits):
        raise DeviceModelError(f"Integrated.pulses holds {len(acquisition.pulses)} readout pulse(s), but the run "
                               f"reads qubits {qubits}: give one per qubit.")
    if acquisition.per_schedule is not None and len(acquisition.per_schedule) != n_schedules:
        raise DeviceModelError(f"Integrated.per_schedule holds {len(acquisition.per_schedule)} schedules' pulses, "
                               f"but the run plays {n_schedules} schedules.")
    per_schedule = [acquisition.pulses_of(i) for i in range(n_schedules)]
    where = ("Integrated.pulses[{k}]" if acquisition.per_schedule is None
             else "Integrated.per_schedule[{i}][{k}]")
    checked = set()  # a sweep repeats its pulses: each is checked once, named by its first place
    for i, pulses in enumerate(per_schedule):
        for k, (pulse, native) in enumerate(zip(pulses, natives)):
            if (pulse, k) not in checked:
                checked.add((pulse, k))
                _check(pulse, native, where.format(i=i, k=k), device=device, emulator=emulator,
                       sampling_rate=sampling_rate)
    return per_schedule


def _check(pulse: ReadoutPulse, native: NativeReadout, where: str, *, device: str, emulator: bool,
           sampling_rate: float) -> None:
    if emulator:
        own = native.pulse
        for name in FIELDS:
            value, allowed = getattr(pulse, name), getattr(own, name)
            if not _same(name, value, allowed):
                raise DeviceModelError(
                    f"{where}.{name} is {value:.10g} {_UNITS[name]}, but {device} runs on qibolab's emulator, "
                    f"which models no readout (the probe drives nothing; each shot's IQ point is its sampled "
                    f"level): the readout {name} would change nothing. Allowed: {allowed:.10g} {_UNITS[name]}, "
                    "the platform's own readout (its probe frequency, MZ amplitude and duration).")
        return
    samples = pulse.duration * sampling_rate
    if abs(samples - round(samples)) > 1e-6:
        raise DeviceModelError(f"{where}.duration is {pulse.duration:.10g} ns, but must be a whole number of AWG "
                               f"samples (1 / {sampling_rate:g} ns each).")


def _same(name: str, value: float, allowed: float) -> bool:
    if name == "frequency":
        return abs(units.hz(value) - units.hz(allowed)) <= 1.0  # 1 Hz: below any probe's resolution
    return abs(value - allowed) <= 1e-9 * max(1.0, abs(allowed))


def readout_event(native: NativeReadout, pulse: ReadoutPulse, sampling_rate: float):
    """(acquisition channel, qibolab Readout) playing `pulse` (its frequency goes in the updates)."""
    from qibolab import Acquisition, Pulse, Readout, Rectangular

    n = int(round(pulse.duration * sampling_rate))
    duration = units.pulse_duration(n, sampling_rate)
    probe = Pulse(duration=duration, amplitude=float(pulse.amplitude), envelope=Rectangular(),
                  relative_phase=float(native.event.probe.relative_phase))
    event = Readout(acquisition=Acquisition(duration=duration), probe=probe,
                    time_of_flight=float(native.event.time_of_flight))
    return native.acquisition_channel, event


def probe_updates(natives: tuple[NativeReadout, ...], frequencies: tuple[float, ...]) -> dict:
    """Config updates setting each probe channel's frequency [GHz]."""
    return {n.probe_channel: {"frequency": units.hz(f)} for n, f in zip(natives, frequencies)}


def iq_points(result, shots: int) -> np.ndarray:
    """One readout's single-shot IQ points, shape (shots, 2)."""
    values = np.asarray(result, dtype=float)
    if values.shape != (shots, 2):
        raise DeviceModelError(f"The platform returned IQ points of shape {values.shape} for a readout, not "
                               f"({shots}, 2): it must support single-shot integration.")
    return values
