"""Schedules: pulses, delays and virtual-Z frame changes on drive channels.

Drive channel q drives transmon q of the chip at carrier `frequencies[q]`; the
simulation runs in the rotating frame of those carriers. Instructions on one
channel play back to back; `Barrier` aligns channels to the latest of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

from devices._validate import DeviceModelError, check_finite, check_range
from devices.pulses import Pulse, n_samples_of


def _f64(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.float64)


def _check_channel(owner: str, channel) -> None:
    if not isinstance(channel, int) or isinstance(channel, bool) or channel < 0:
        raise DeviceModelError(f"{owner}.channel is {channel!r}, but must be a drive channel index >= 0.")


class Play(eqx.Module):
    channel: int = eqx.field(static=True)
    pulse: Pulse

    def __check_init__(self):
        _check_channel("Play", self.channel)
        if not isinstance(self.pulse, Pulse):
            raise DeviceModelError(f"Play.pulse must be a Pulse, but is {type(self.pulse).__name__}.")


class Delay(eqx.Module):
    channel: int = eqx.field(static=True)
    duration: float = eqx.field(static=True)

    def __check_init__(self):
        _check_channel("Delay", self.channel)
        if not isinstance(self.duration, (int, float)) or not self.duration >= 0:
            raise DeviceModelError(f"Delay.duration is {self.duration!r}, but must be >= 0 ns.")


class ShiftPhase(eqx.Module):
    """Virtual Z: later pulses on the channel are multiplied by exp(i phase).

    The frame of a qubit rotated by ShiftPhase(-theta) implements Rz(theta).
    """

    channel: int = eqx.field(static=True)
    phase: jax.Array = eqx.field(converter=_f64)

    def __check_init__(self):
        _check_channel("ShiftPhase", self.channel)
        check_finite("ShiftPhase", "phase", self.phase)


class Barrier(eqx.Module):
    """Aligns the listed channels (all channels when empty) to the latest of them."""

    channels: tuple[int, ...] = eqx.field(static=True, default=())


Instruction = Play | Delay | ShiftPhase | Barrier


class Schedule(eqx.Module):
    """Instructions in program order plus the carrier frequency of each drive channel [GHz]."""

    instructions: tuple[Instruction, ...]
    frequencies: jax.Array = eqx.field(converter=_f64)

    def __init__(self, instructions: Sequence[Instruction], frequencies):
        self.instructions = tuple(instructions)
        self.frequencies = frequencies

    def __check_init__(self):
        if self.frequencies.ndim < 1:
            raise DeviceModelError(
                "Argument `frequencies` must have shape (..., n_channels), but has shape "
                f"{self.frequencies.shape}."
            )
        check_range("Schedule", "frequencies", self.frequencies, low=0.0, low_open=True,
                    allowed="frequencies > 0 GHz")
        n = self.n_channels
        for ins in self.instructions:
            if not isinstance(ins, (Play, Delay, ShiftPhase, Barrier)):
                raise DeviceModelError(
                    f"Schedule.instructions holds a {type(ins).__name__}, but only Play, Delay, "
                    "ShiftPhase and Barrier are allowed."
                )
            for ch in _channels_of(ins):
                if ch >= n:
                    raise DeviceModelError(
                        f"Schedule uses drive channel {ch}, but only channels 0..{n - 1} have a "
                        "frequency (one per transmon)."
                    )

    @property
    def n_channels(self) -> int:
        return int(self.frequencies.shape[-1])

    def duration(self, dt: float) -> float:
        """Length of the schedule in ns."""
        return dt * max(_channel_ends(self, dt))

    def render(self, dt: float) -> jax.Array:
        """Complex envelope samples, shape (n_channels, n_samples), phases applied."""
        return _render(self, dt)


def _channels_of(ins) -> tuple[int, ...]:
    if isinstance(ins, Barrier):
        return ins.channels
    return (ins.channel,)


def _delay_samples(ins: Delay, dt: float) -> int:
    return 0 if ins.duration == 0 else n_samples_of(ins.duration, dt, "Delay")


def _channel_ends(schedule: Schedule, dt: float) -> list[int]:
    ends = [0] * schedule.n_channels
    for ins in schedule.instructions:
        if isinstance(ins, Play):
            ends[ins.channel] += ins.pulse.n_samples(dt)
        elif isinstance(ins, Delay):
            ends[ins.channel] += _delay_samples(ins, dt)
        elif isinstance(ins, Barrier):
            chans = ins.channels or tuple(range(schedule.n_channels))
            latest = max(ends[c] for c in chans)
            for c in chans:
                ends[c] = latest
    return ends


def _render(schedule: Schedule, dt: float) -> jax.Array:
    # Layout (which sample belongs to which instruction) is static Python; only the
    # sample values and phases are traced, so rendering is jit- and grad-friendly.
    n_ch = schedule.n_channels
    pieces: list[list[jax.Array]] = [[] for _ in range(n_ch)]
    ends = [0] * n_ch
    phase = [jnp.zeros((), jnp.float64) for _ in range(n_ch)]

    def pad(ch: int, k: int) -> None:
        if k > 0:
            pieces[ch].append(jnp.zeros((k,), jnp.complex128))
            ends[ch] += k

    for ins in schedule.instructions:
        if isinstance(ins, Play):
            s = ins.pulse.samples(dt)
            pieces[ins.channel].append(s * jnp.exp(1j * phase[ins.channel]))
            ends[ins.channel] += s.shape[-1]
        elif isinstance(ins, Delay):
            pad(ins.channel, _delay_samples(ins, dt))
        elif isinstance(ins, ShiftPhase):
            phase[ins.channel] = phase[ins.channel] + ins.phase
        else:
            chans = ins.channels or tuple(range(n_ch))
            latest = max(ends[c] for c in chans)
            for c in chans:
                pad(c, latest - ends[c])
    total = max(ends) if ends else 0
    if total == 0:
        raise DeviceModelError("Schedule plays nothing: it has no pulse or delay of nonzero length.")
    for ch in range(n_ch):
        pad(ch, total - ends[ch])
    return jnp.stack([jnp.concatenate(p) for p in pieces])
