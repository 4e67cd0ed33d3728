"""Schedules: pulses, delays and virtual-Z frame changes on drive channels.

Drive channel q drives transmon q of the chip at carrier `frequencies[q]`; the
simulation runs in the rotating frame of those carriers. Further channels are extra
tones on those drive lines (`lines[d]` names the line of channel d), such as a
cross-resonance tone: the control's line at the target's frequency. Instructions on one
channel play back to back; `Barrier` aligns channels to the latest of them.

A schedule lays out as a sequence of segments: `Driven` blocks of AWG samples
(static length), `Held` constant tones (a `Hold`, or a `Constant` pulse on a schedule's
only channel) and `Idle` periods in which no channel plays. An idle period's
length may be a traced value, so a sweep over delays is one compiled function
`vmap`ped over the delays, and a 300 us delay costs as little as a 1 ns one.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices._validate import DeviceModelError, check_finite, check_range, concrete
from devices.pulses import Constant, Pulse, n_samples_of


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
    """Wait `duration` ns on `channel`, or on every channel when channel is None.

    A delay on every channel (or on the only channel) is an idle period whose duration
    may be traced; a delay on one channel of several must be concrete, because it
    shifts that channel against the others."""

    channel: int | None = eqx.field(static=True)
    duration: jax.Array = eqx.field(converter=_f64)

    def __check_init__(self):
        if self.channel is not None:
            _check_channel("Delay", self.channel)
        check_range("Delay", "duration", self.duration, low=0.0, allowed="duration >= 0 ns")


class ShiftPhase(eqx.Module):
    """Virtual Z: later pulses on the channel are multiplied by exp(i phase).

    A pulse G played after ShiftPhase(theta) evolves as Rz(-theta) G Rz(theta), so
    ShiftPhase(theta) implements Rz(theta) before the later gates (the trailing frame
    rotation is invisible to a Z measurement). Note that qiskit's convention has the
    opposite sign.
    """

    channel: int = eqx.field(static=True)
    phase: jax.Array = eqx.field(converter=_f64)

    def __check_init__(self):
        _check_channel("ShiftPhase", self.channel)
        check_finite("ShiftPhase", "phase", self.phase)


class ChannelDelay(eqx.Module):
    """A delay on one channel of several, with its duration fixed (static) at schedule
    construction: it shifts the channel against the others, which fixes array shapes.
    Schedule builds these from `Delay(channel, duration)`."""

    channel: int = eqx.field(static=True)
    duration: float = eqx.field(static=True)


class Barrier(eqx.Module):
    """Aligns the listed channels (all channels when empty) to the latest of them."""

    channels: tuple[int, ...] = eqx.field(static=True, default=())


def _c128(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.complex128)


class Hold(eqx.Module):
    """Every listed channel holds a constant complex amplitude for `duration` ns while the
    others are silent: the flat top of a long pulse (a cross-resonance tone and its
    cancellation tone). Like a Delay on every channel it starts after all channels have
    finished, and its duration may be traced, so a sweep of flat-top lengths is one
    compiled function. The listed channels must share one carrier frequency: the drive is
    then static in that carrier's frame and the block is simulated exactly, one matrix
    exponential raised to the number of samples, whatever its length. Frame phases
    (ShiftPhase) apply as to a Play."""

    channels: tuple[int, ...] = eqx.field(static=True)
    amplitudes: jax.Array = eqx.field(converter=_c128)
    duration: jax.Array = eqx.field(converter=_f64)

    def __check_init__(self):
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise DeviceModelError(f"Hold.channels is {list(self.channels)}, but must list one or more "
                                   "different channels.")
        for ch in self.channels:
            _check_channel("Hold", ch)
        if self.amplitudes.shape[-1:] != (len(self.channels),):
            raise DeviceModelError(f"Hold.amplitudes has shape {self.amplitudes.shape}, but must hold one "
                                   f"amplitude for each of the {len(self.channels)} channels.")
        check_range("Hold", "|amplitudes|", jnp.abs(self.amplitudes), low=0.0, high=1.0,
                    allowed="|amplitude| <= 1 (the AWG's full scale)")
        check_range("Hold", "duration", self.duration, low=0.0, allowed="duration >= 0 ns")


Instruction = Play | Delay | ChannelDelay | ShiftPhase | Barrier | Hold


class Schedule(eqx.Module):
    """Instructions in program order plus the carrier frequency of each channel [GHz].

    lines[d]: the drive line (transmon of the chip) channel d plays on; default one
    channel per line. Channels 0..L-1 are the lines' own channels, in order, and their
    carriers set each transmon's rotating frame; channels from L on are extra tones on
    those lines (e.g. a cross-resonance tone at another transmon's frequency), reaching
    the chip through their line's crosstalk.

    shared_carriers: groups of channels whose carriers are equal (a cross-resonance tone
    and the target's own channel). A block of samples in which only the channels of one
    group play is static in that carrier's frame and is simulated exactly, one
    exponential per sample (devices.simulate.driven_propagator). None finds the groups
    from concrete frequencies (equal in every entry of a batch); traced frequencies give
    none unless declared here. A declared group whose concrete carriers differ is an
    error; traced ones that differ give NaN, as a Hold's channels do."""

    instructions: tuple[Instruction, ...]
    frequencies: jax.Array = eqx.field(converter=_f64)
    lines: tuple[int, ...] = eqx.field(static=True)
    shared_carriers: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    def __init__(self, instructions: Sequence[Instruction], frequencies, lines: Sequence[int] | None = None,
                 shared_carriers: Sequence[Sequence[int]] | None = None):
        self.frequencies = frequencies
        shape = jnp.shape(jnp.asarray(frequencies))  # a list may hold tracers
        multi = len(shape) >= 1 and shape[-1] > 1
        n_channels = shape[-1] if len(shape) >= 1 else 0
        self.lines = tuple(range(n_channels)) if lines is None else tuple(lines)
        self.shared_carriers = (_equal_carriers(frequencies, n_channels) if shared_carriers is None
                                else _declared_groups(shared_carriers, frequencies, n_channels))
        self.instructions = tuple(
            _fix_channel_delay(ins) if multi and isinstance(ins, Delay) and ins.channel is not None
            else ins
            for ins in instructions
        )

    def __check_init__(self):
        if self.frequencies.ndim < 1:
            raise DeviceModelError(
                "Argument `frequencies` must have shape (..., n_channels), but has shape "
                f"{self.frequencies.shape}."
            )
        check_range("Schedule", "frequencies", self.frequencies, low=0.0, low_open=True,
                    allowed="frequencies > 0 GHz")
        n = self.n_channels
        _check_lines(self.lines, n)
        for ins in self.instructions:
            if not isinstance(ins, (Play, Delay, ChannelDelay, ShiftPhase, Barrier, Hold)):
                raise DeviceModelError(
                    f"Schedule.instructions holds a {type(ins).__name__}, but only Play, Delay, "
                    "ShiftPhase, Barrier and Hold are allowed."
                )
            for ch in _channels_of(ins):
                if ch >= n:
                    raise DeviceModelError(
                        f"Schedule uses drive channel {ch}, but only channels 0..{n - 1} have a "
                        "frequency."
                    )

    @property
    def n_channels(self) -> int:
        return int(self.frequencies.shape[-1])

    @property
    def n_lines(self) -> int:
        """Drive lines played, one per transmon: the channels that set the frames."""
        return max(self.lines) + 1

    def duration(self, dt: float) -> jax.Array:
        """Length of the schedule in ns (traced when its idle periods are); from the
        layout alone, without sampling any pulse."""
        return dt * _n_samples(self, dt)

    def segments(self, dt: float) -> list["Driven | Idle | Held"]:
        """The schedule as Driven sample blocks, Idle periods and Held tones, in time order."""
        return _segments(self, dt)

    def render(self, dt: float) -> jax.Array:
        """Complex envelope samples, shape (n_channels, n_samples), phases applied;
        idle periods as zeros (their durations must be concrete)."""
        return _render(self, dt)


def _check_lines(lines: tuple[int, ...], n_channels: int) -> None:
    if n_channels == 0:
        raise DeviceModelError("Argument `frequencies` is empty, but a schedule needs one carrier per channel.")
    if len(lines) != n_channels or any(not isinstance(x, int) or isinstance(x, bool) for x in lines):
        raise DeviceModelError(
            f"Schedule.lines is {list(lines)}, but must hold one drive line (an int) for each of the "
            f"{n_channels} channels."
        )
    n_lines = max(lines) + 1
    if lines[:n_lines] != tuple(range(n_lines)) or min(lines) < 0:
        raise DeviceModelError(
            f"Schedule.lines is {list(lines)}, but channels 0..{n_lines - 1} must be lines "
            f"0..{n_lines - 1} in order (their carriers set the frames); extra tones come after "
            "them, each on one of those lines."
        )


def _concrete_frequencies(frequencies) -> np.ndarray | None:
    """The carriers as numpy, or None when traced (a list holding a tracer is one). Leaf by
    leaf in numpy: through jnp.asarray it cost 67 us per schedule instead of 3 us."""
    if any(concrete(f) is None for f in jax.tree.leaves(frequencies)):
        return None
    return np.asarray(frequencies, dtype=np.float64)


def _equal_carriers(frequencies, n_channels: int) -> tuple[tuple[int, ...], ...]:
    """Groups (two or more channels) of carriers equal in every entry; none when traced."""
    values = _concrete_frequencies(frequencies)
    if values is None or values.ndim < 1:
        return ()
    groups: list[list[int]] = []
    for ch in range(n_channels):
        match = next((g for g in groups if np.array_equal(values[..., g[0]], values[..., ch])), None)
        if match is None:
            groups.append([ch])
        else:
            match.append(ch)
    return tuple(tuple(g) for g in groups if len(g) > 1)


def _declared_groups(declared, frequencies, n_channels: int) -> tuple[tuple[int, ...], ...]:
    try:
        groups = tuple(tuple(operator.index(ch) for ch in group) for group in declared)
    except TypeError:
        groups = ((),)  # refused below
    channels = [ch for group in groups for ch in group]
    if (any(len(g) < 2 for g in groups) or len(set(channels)) != len(channels)
            or any(not 0 <= ch < n_channels for ch in channels)):
        raise DeviceModelError(
            f"Schedule.shared_carriers is {declared!r}, but must be groups of two or more different channels "
            f"of 0..{n_channels - 1}, each channel in at most one group.")
    values = _concrete_frequencies(frequencies)
    for group in groups if values is not None else ():
        carriers = values[..., list(group)]
        if np.any(carriers != carriers[..., :1]):
            raise DeviceModelError(
                f"Schedule.shared_carriers declares channels {list(group)} to share one carrier, but their "
                f"frequencies are {carriers.tolist()} GHz.")
    return groups


def _channels_of(ins) -> tuple[int, ...]:
    if isinstance(ins, (Barrier, Hold)):
        return ins.channels
    if isinstance(ins, Delay) and ins.channel is None:
        return ()
    return (ins.channel,)


class Driven(NamedTuple):
    """A block of samples (n_channels, k), static k >= 1.

    When one channel plays the whole block under one frame phase, `samples` are left
    unphased and `phase` holds that phase: the block's evolution is then R U(0) R^dag with
    R = exp(-i phase N), N the total excitation number (the static Hamiltonian, the
    exchange couplings and the dissipators all commute with or are covariant under N).
    A sweep of phases then reuses one pulse propagator. Otherwise `phase` is None and
    the phases are already in the samples."""

    samples: jax.Array
    phase: jax.Array | None = None
    channel: int | None = None  # the one playing channel when `phase` is factored out
    playing: tuple[int, ...] = ()  # the channels with a Play in the block (the others are silent)


class Idle(NamedTuple):
    n_samples: jax.Array  # int64 scalar, possibly traced


class Held(NamedTuple):
    """Constant amplitudes (n_channels,), frame phases applied, held for n samples; the
    playing channels (static) share the carrier of the first."""

    amplitudes: jax.Array
    n_samples: jax.Array  # int64 scalar, possibly traced
    channels: tuple[int, ...]


def _fix_channel_delay(ins: Delay) -> ChannelDelay:
    if isinstance(ins.duration, jax.core.Tracer) or ins.duration.ndim != 0:
        raise DeviceModelError(
            f"Delay on channel {ins.channel} of a multi-channel schedule needs one concrete "
            "duration (it shifts that channel against the others); to sweep a delay under "
            "jit/vmap, delay every channel: Delay(None, duration)."
        )
    return ChannelDelay(ins.channel, float(ins.duration))


def _static_samples(ins: ChannelDelay, dt: float) -> int:
    return 0 if ins.duration == 0 else n_samples_of(ins.duration, dt, "Delay")


def _idle_samples(ins: Delay | Hold, dt: float) -> jax.Array:
    name = type(ins).__name__
    n = ins.duration / dt
    rounded = jnp.round(n)
    off_grid = jnp.abs(n - rounded) > 1e-9 * jnp.maximum(1.0, n)
    if isinstance(n, jax.core.Tracer):
        # Under jit/vmap the value is unknown here: an off-grid duration becomes the count -1,
        # which the propagators turn into NaN (a check raising at run time would keep the
        # compiled program out of XLA's persistent cache: devices._validate.nan_where).
        rounded = jnp.where(off_grid, -1.0, rounded)
    elif bool(off_grid):
        raise DeviceModelError(
            f"{name}.duration is {float(ins.duration)} ns, but must be a multiple of the AWG "
            f"sample time dt = {dt} ns."
        )
    return rounded.astype(jnp.int64)


def _runs_of_playing_channels(spans, total: int) -> list[tuple[int, int]]:
    """Maximal [start, stop) sample ranges over which the set of playing channels is constant."""
    edges = sorted({s for spans_ch in spans for s, _, _, _ in spans_ch} | {total})

    def playing_at(k: int) -> frozenset[int]:
        return frozenset(ch for ch, spans_ch in enumerate(spans)
                         for s, e, _, f in spans_ch if f is not None and s <= k < e)

    runs: list[tuple[int, int]] = []
    for a, b in zip(edges[:-1], edges[1:]):
        if runs and playing_at(runs[-1][0]) == playing_at(a):
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs


def _driven_run(spans, a: int, b: int, phases) -> Driven:
    """The Driven block of samples [a, b); its frame phase factored out when one channel
    plays under one frame there."""
    parts = [[(x[max(s, a) - s:min(e, b) - s], f) for s, e, x, f in spans_ch if s < b and e > a]
             for spans_ch in spans]
    frames = {(ch, f) for ch, parts_ch in enumerate(parts) for _, f in parts_ch if f is not None}
    factor = len(frames) == 1
    rows = [jnp.concatenate([x if f is None or factor else x * jnp.exp(1j * phases[ch][f]) for x, f in parts_ch])
            for ch, parts_ch in enumerate(parts)]
    playing = tuple(sorted({ch for ch, _ in frames}))
    phase = channel = None
    if factor:
        channel, f = next(iter(frames))
        phase = phases[channel][f]
    return Driven(jnp.stack(rows), phase, channel, playing)


def _segments(schedule: Schedule, dt: float) -> list[Driven | Idle | Held]:
    # Which sample belongs to which instruction is static Python; only sample values,
    # phases and idle lengths are traced, so layout is jit- and grad-friendly.
    n_ch = schedule.n_channels
    segments: list[Driven | Idle | Held] = []
    # per channel: (samples, index of the channel's frame phase or None for padding)
    pieces: list[list[tuple[jax.Array, int | None]]] = [[] for _ in range(n_ch)]
    ends = [0] * n_ch
    phases: list[list[jax.Array]] = [[jnp.zeros((), jnp.float64)] for _ in range(n_ch)]

    def pad(ch: int, k: int) -> None:
        if k > 0:
            pieces[ch].append((jnp.zeros((k,), jnp.complex128), None))
            ends[ch] += k

    def flush() -> None:
        total = max(ends)
        if total == 0:
            return
        for ch in range(n_ch):
            pad(ch, total - ends[ch])
        spans = []  # per channel: (start, stop, samples, frame index or None for padding)
        for ch in range(n_ch):
            start, spans_ch = 0, []
            for x, f in pieces[ch]:
                spans_ch.append((start, start + x.shape[-1], x, f))
                start += x.shape[-1]
            spans.append(spans_ch)
        # One Driven block per run of samples in which the same channels play: a run whose
        # channels share a carrier is exact in its common frame (devices.simulate).
        for a, b in _runs_of_playing_channels(spans, total):
            segments.append(_driven_run(spans, a, b, phases))
        for ch in range(n_ch):
            pieces[ch].clear()
            ends[ch] = 0

    for ins in schedule.instructions:
        if isinstance(ins, Play) and n_ch == 1 and isinstance(ins.pulse, Constant):
            # On a lone channel nothing plays beside it, so a flat pulse is a held tone: one
            # exponential raised to its length instead of one per sample (a 1 us
            # spectroscopy pulse: 2000 exponentials). Same propagator to rounding.
            flush()
            amplitude = ins.pulse.amp * jnp.exp(1j * (ins.pulse.angle + phases[0][-1]))
            segments.append(Held(amplitude[None].astype(jnp.complex128),
                                 jnp.asarray(ins.pulse.n_samples(dt), jnp.int64), (0,)))
        elif isinstance(ins, Play):
            s = ins.pulse.samples(dt)
            pieces[ins.channel].append((s, len(phases[ins.channel]) - 1))
            ends[ins.channel] += s.shape[-1]
        elif isinstance(ins, Delay) and (ins.channel is None or n_ch == 1):
            flush()
            n_idle = _idle_samples(ins, dt)
            if isinstance(n_idle, jax.core.Tracer) or int(n_idle) > 0:
                segments.append(Idle(n_idle))
        elif isinstance(ins, Hold):
            flush()
            n_held = _idle_samples(ins, dt)
            if isinstance(n_held, jax.core.Tracer) or int(n_held) > 0:
                amplitudes = jnp.zeros((n_ch,), jnp.complex128)
                for k, ch in enumerate(ins.channels):
                    amplitudes = amplitudes.at[ch].set(ins.amplitudes[k] * jnp.exp(1j * phases[ch][-1]))
                segments.append(Held(amplitudes, n_held, ins.channels))
        elif isinstance(ins, ChannelDelay):
            pad(ins.channel, _static_samples(ins, dt))
        elif isinstance(ins, ShiftPhase):
            phases[ins.channel].append(phases[ins.channel][-1] + ins.phase)
        else:
            chans = ins.channels or tuple(range(n_ch))
            latest = max(ends[c] for c in chans)
            for c in chans:
                pad(c, latest - ends[c])
    flush()
    if not segments:
        raise DeviceModelError("Schedule plays nothing: it has no pulse or delay of nonzero length.")
    return segments


def _n_samples(schedule: Schedule, dt: float):
    """Total samples, following the same layout rules as _segments."""
    n_ch = schedule.n_channels
    ends = [0] * n_ch
    total = 0
    for ins in schedule.instructions:
        if isinstance(ins, Play):
            ends[ins.channel] += ins.pulse.n_samples(dt)
        elif isinstance(ins, Hold) or (isinstance(ins, Delay) and (ins.channel is None or n_ch == 1)):
            total = total + max(ends) + _idle_samples(ins, dt)
            ends = [0] * n_ch
        elif isinstance(ins, ChannelDelay):
            ends[ins.channel] += _static_samples(ins, dt)
        elif isinstance(ins, Barrier):
            chans = ins.channels or tuple(range(n_ch))
            latest = max(ends[c] for c in chans)
            for c in chans:
                ends[c] = latest
    return total + max(ends)


def _render(schedule: Schedule, dt: float) -> jax.Array:
    parts = []
    for seg in _segments(schedule, dt):
        if isinstance(seg, Driven):
            parts.append(seg.samples if seg.phase is None else seg.samples * jnp.exp(1j * seg.phase))
        elif isinstance(seg, Held):
            if isinstance(seg.n_samples, jax.core.Tracer):
                raise DeviceModelError("Schedule.render needs concrete hold durations.")
            parts.append(jnp.repeat(seg.amplitudes[:, None], int(seg.n_samples), axis=1))
        else:
            if isinstance(seg.n_samples, jax.core.Tracer):
                raise DeviceModelError("Schedule.render needs concrete delay durations.")
            parts.append(jnp.zeros((schedule.n_channels, int(seg.n_samples)), jnp.complex128))
    return jnp.concatenate(parts, axis=-1)
