"""Schedules and gate sequences as qibolab pulse sequences.

Instruction by instruction (conversions in devices/adapters/qibolab/units.py):

  Play(c, pulse)        a qibolab Pulse on the drive channel of qubit `qubits[c]`: a `Constant`
                        as qibolab's `Rectangular` envelope (it samples identically), every other
                        pulse as `Custom` I/Q samples. qibolab's Gaussian, Drag and GaussianSquare
                        are not the toolkit's: theirs are not lifted to zero at the edges (Gaussian,
                        Drag) or lifted half a sample off (GaussianSquare), so those play sampled.
  Delay(c or None, d)   qibolab Delay(d) on that drive channel, or on every drive channel
  ShiftPhase(c, theta)  qibolab VirtualZ(theta) on the drive channel (same sign, see units.py)
  Barrier(channels)     qibolab Align of those drive channels (all when empty)
  readout               after aligning every channel, the platform's MZ native gate of each
                        qubit read, all at once (or, for Integrated acquisition, the Readout
                        events given: devices/adapters/qibolab/integration.py)

A GateSequence is translated table gate by table gate once, then stitched: VirtualZ(phase_k)
and gate program[k] per step; an empty program is the readout alone (an idle of length 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from qibolab import Align, Custom, Delay, Pulse, PulseSequence, Rectangular, VirtualZ

from devices._validate import DeviceModelError
from devices.pulses import Constant
from devices.pulses import Pulse as ToolkitPulse
from devices.adapters.qibolab import units
from devices.schedule import Barrier, ChannelDelay, Hold, Play, Schedule, ShiftPhase
from devices.schedule import Delay as ToolkitDelay
from devices.sequences import GateSequence

NATIVE_SHAPES = frozenset({"Constant"})  # toolkit pulses played as qibolab envelopes


@dataclass(frozen=True)
class Channels:
    """The qibolab channels of the qubits one run reads: `drive[c]` plays toolkit channel c,
    `readout[c]` is the MZ native sequence of the same qubit."""

    drive: tuple[str, ...]
    readout: tuple  # qibolab Native sequences (MZ)


def _concrete(value, what: str) -> float:
    try:
        return float(np.asarray(value))
    except Exception:  # a tracer (jit/vmap) has no value a device could play
        raise DeviceModelError(f"{what} must be a concrete number to play on hardware, but is {value!r}.") from None


def qibolab_pulse(pulse: ToolkitPulse, dt: float, sampling_rate: float) -> Pulse:
    """The qibolab Pulse that plays `pulse`'s samples at `sampling_rate` [GSps]."""
    n = pulse.n_samples(dt)
    duration = units.pulse_duration(n, sampling_rate)
    if isinstance(pulse, Constant):
        return Pulse(duration=duration, amplitude=_concrete(pulse.amp, "Constant.amp"),
                     envelope=Rectangular(), relative_phase=_concrete(pulse.angle, "Constant.angle"))
    samples = np.asarray(pulse.samples(dt))
    if samples.ndim != 1:
        raise DeviceModelError(f"A {type(pulse).__name__} with batched parameters (samples of shape "
                               f"{samples.shape}) cannot play: give one schedule per sweep point.")
    i, q = units.iq_of(samples)
    return Pulse(duration=duration, amplitude=1.0, envelope=Custom(i_=i, q_=q), relative_phase=0.0)


def _elements(schedule: Schedule, drive: Sequence[str], dt: float, sampling_rate: float) -> list:
    """The schedule's instructions as (channel, qibolab instruction) pairs, in program order."""
    out = []
    for ins in schedule.instructions:
        if isinstance(ins, Play):
            out.append((drive[ins.channel], qibolab_pulse(ins.pulse, dt, sampling_rate)))
        elif isinstance(ins, ToolkitDelay):
            duration = _concrete(ins.duration, "Delay.duration")
            if duration > 0:
                channels = drive if ins.channel is None else (drive[ins.channel],)
                if ins.channel is None and len(drive) > 1:
                    out.extend(_align(drive))  # an idle of every channel starts when all are done
                out.extend((ch, Delay(duration=duration)) for ch in channels)
        elif isinstance(ins, ChannelDelay):
            if ins.duration > 0:
                out.append((drive[ins.channel], Delay(duration=ins.duration)))
        elif isinstance(ins, ShiftPhase):
            out.append((drive[ins.channel],
                        VirtualZ(phase=units.virtual_z_phase(_concrete(ins.phase, "ShiftPhase.phase")))))
        elif isinstance(ins, Barrier):
            chans = ins.channels or tuple(range(len(drive)))
            if len(chans) > 1:
                out.extend(_align([drive[c] for c in chans]))
        elif isinstance(ins, Hold):
            duration = _concrete(ins.duration, "Hold.duration")
            if duration > 0:
                if len(drive) > 1:
                    out.extend(_align(drive))  # a hold starts when every channel is done
                amplitudes = np.asarray(ins.amplitudes)
                for ch in range(len(drive)):
                    if ch in ins.channels:
                        a = amplitudes[ins.channels.index(ch)]
                        out.append((drive[ch], qibolab_pulse(Constant(duration, abs(a), np.angle(a)), dt,
                                                             sampling_rate)))
                    else:
                        out.append((drive[ch], Delay(duration=duration)))
        else:  # pragma: no cover - Schedule validates its instructions
            raise DeviceModelError(f"Cannot translate a {type(ins).__name__} instruction.")
    return out


def _align(channels: Sequence[str]) -> list:
    align = Align()  # one Align object on each channel: qibolab synchronises them by its id
    return [(ch, align) for ch in channels]


def _with_readout(elements: list, channels: Channels, readouts: Sequence | None = None) -> PulseSequence:
    sequence = PulseSequence(elements)
    readout = PulseSequence()
    if readouts is None:
        for mz in channels.readout:
            readout.extend(mz.create_sequence())  # fresh ids: acquisitions must be unique per execute
    else:
        readout.extend((ch, event.new()) for ch, event in readouts)
    sequence |= readout  # aligns every channel first: the readout starts after the last pulse
    return sequence


def to_pulse_sequence(program: Schedule | GateSequence, channels: Channels, *, dt: float,
                      sampling_rate: float, table_cache: dict | None = None,
                      readouts: Sequence | None = None) -> PulseSequence:
    """`program` followed by the readout of every qubit, as one qibolab PulseSequence.

    `readouts`, when given, holds one (acquisition channel, qibolab Readout) per qubit, played
    (with fresh ids) instead of the MZ natives. `table_cache` (id of a gate table -> its translated gates) lets sequences of one sweep share
    the translation, and the Pulse objects, of their gate table."""
    if isinstance(program, GateSequence):
        cache = {} if table_cache is None else table_cache
        key = id(program.gates)
        if key not in cache:
            cache[key] = (program.gates, [_elements(g, channels.drive, dt, sampling_rate)
                                          for g in program.gates])
        gates = cache[key][1]
        phases = np.asarray(program.phases, dtype=float)
        if phases.ndim != 1:
            raise DeviceModelError(f"GateSequence.phases has shape {phases.shape}: give one sequence per "
                                   "sweep point to play on hardware.")
        elements = []
        drive = channels.drive[0]
        for step, k in enumerate(program.program):
            if phases[step] != 0.0:
                elements.append((drive, VirtualZ(phase=units.virtual_z_phase(phases[step]))))
            elements.extend(gates[k])
        return _with_readout(elements, channels, readouts)
    if not isinstance(program, Schedule):
        raise DeviceModelError(f"Expected a Schedule or GateSequence, but got {type(program).__name__}.")
    return _with_readout(_elements(program, channels.drive, dt, sampling_rate), channels, readouts)


def carrier_frequencies(program: Schedule | GateSequence) -> tuple[float, ...]:
    """The carrier of each drive channel [GHz], as plain floats (one per channel)."""
    f = np.asarray(program.frequencies, dtype=float)
    if f.ndim != 1:
        raise DeviceModelError(f"The schedule's frequencies have shape {f.shape}: give one schedule per "
                               "sweep point to play on hardware.")
    return tuple(float(x) for x in f)
