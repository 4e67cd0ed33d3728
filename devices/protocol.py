"""What a device, simulated or real, offers to experiments and calibration.

`Device` is all that calibration code may rely on. What only some devices have is a small
capability protocol of its own, checked with isinstance at run time:

    Stateful:  state() / restore(): a simulator whose state the store keeps between commands
    HasTruth:  truth(): hidden true parameters, for tests, benchmarks and `truth` report blocks
    Drifting:  advance(hours=): a device whose clock can be moved on (--simulate-days)
    Seeded:    seed: the device was drawn from a prior with this seed (--seed applies)
    Simultaneous: run_simultaneous(): runs on disjoint qubits played at once, in one call
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import xarray as xr

from devices.readout import Readout, ReadoutPulse
from devices.schedule import Schedule

if TYPE_CHECKING:
    from devices.device_spec import DeviceSpec
    from devices.sequences import GateSequence


@dataclass(frozen=True)
class DeviceLimits:
    """What one `run` call may ask of a device; experiments split their sweeps to fit.

    max_schedule_ns:  the longest schedule one shot may play [ns]
    max_schedules:    the most schedules in one `run` call
    max_shots:        the most shots per schedule
    max_qubits:       the most qubits one schedule may drive and read
    native_shapes:    pulse classes (by name, e.g. "Gaussian", "Drag") the device plays as its
                      own envelopes; any other pulse is played as sampled I/Q
    """

    max_schedule_ns: float
    max_schedules: int
    max_shots: int
    max_qubits: int = 1
    native_shapes: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self):
        for name in ("max_schedules", "max_shots", "max_qubits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DeviceLimits.{name} is {value!r}, but must be an integer >= 1.")
        if not (isinstance(self.max_schedule_ns, (int, float)) and self.max_schedule_ns > 0):
            raise ValueError(f"DeviceLimits.max_schedule_ns is {self.max_schedule_ns!r}, but must be a number > 0.")


@dataclass(frozen=True)
class Discriminated:
    """Each shot read as 0 or 1: `counts` and `joint_counts`.

    `readouts`, when given, holds one entry per qubit of the run: a calibrated `Readout` (the
    pulse to play and the discriminator to read its IQ point with, as a control stack uploads
    them) or None, for the device's own discrimination. Without `readouts` every qubit reads
    through the device's own discrimination.

    `levels` = 3 also reads each shot as level 0, 1 or 2 through every qubit's
    `Readout.levels` (each readout must carry one): `level_counts` (schedule, qubit, level),
    beside the two-state `counts` of the same shots."""

    readouts: tuple[Readout | None, ...] | None = None
    levels: int = 2

    def __post_init__(self):
        if self.readouts is not None and (
                not self.readouts or not all(r is None or isinstance(r, Readout) for r in self.readouts)):
            raise ValueError(f"Discriminated.readouts is {self.readouts!r}, but must hold one Readout (or None) "
                             "per qubit read.")
        if isinstance(self.levels, bool) or self.levels not in (2, 3):
            raise ValueError(f"Discriminated.levels is {self.levels!r}, but must be 2 or 3.")
        if self.levels == 3 and (self.readouts is None or not all(
                r is not None and r.levels is not None and r.levels.n_levels == 3 for r in self.readouts)):
            raise ValueError("Discriminated.levels is 3, but every qubit read needs a calibrated Readout with a "
                             "three-level LevelDiscriminator (`levels`); train one with three_state_readout.")

    @property
    def calibrated(self) -> bool:
        """Whether any qubit reads through a calibrated readout."""
        return self.readouts is not None and any(r is not None for r in self.readouts)


@dataclass(frozen=True)
class Integrated:
    """Each shot's integrated IQ point per qubit, read with `pulses[i]` on the run's i-th qubit:
    `iq` (schedule, shot, qubit, quadrature) with quadrature ["I", "Q"], in the device's units.
    No counts: telling the states apart is the caller's (a discriminator's) job.

    `per_schedule`, when given, holds each schedule's own pulses (one tuple per schedule, one
    pulse per qubit), as a sweep of the readout frequency or amplitude plays them; `pulses`
    then stands for the first schedule's."""

    pulses: tuple[ReadoutPulse, ...]
    per_schedule: tuple[tuple[ReadoutPulse, ...], ...] | None = None

    def __post_init__(self):
        for where, pulses in (("pulses", self.pulses), *((f"per_schedule[{i}]", p) for i, p in
                                                           enumerate(self.per_schedule or ()))):
            if not pulses or not all(isinstance(p, ReadoutPulse) for p in pulses):
                raise ValueError(f"Integrated.{where} is {pulses!r}, but must be one ReadoutPulse per qubit read.")
        if self.per_schedule is not None and len({len(p) for p in self.per_schedule} | {len(self.pulses)}) != 1:
            raise ValueError("Integrated.per_schedule must give every schedule as many pulses as `pulses` has.")

    @classmethod
    def swept(cls, per_schedule) -> "Integrated":
        """Each schedule read with its own pulses."""
        per_schedule = tuple(tuple(p) for p in per_schedule)
        return cls(per_schedule[0], per_schedule)

    def pulses_of(self, schedule: int) -> tuple[ReadoutPulse, ...]:
        return self.pulses if self.per_schedule is None else self.per_schedule[schedule]

    def for_schedules(self, start: int, stop: int) -> "Integrated":
        """The acquisition of schedules start..stop-1 (a run split to fit a device's limits)."""
        return self if self.per_schedule is None else Integrated.swept(self.per_schedule[start:stop])


Acquisition = Discriminated | Integrated
QUADRATURES = ["I", "Q"]


def outcome_labels(n_qubits: int) -> list[str]:
    """The `outcome` coordinate of `joint_counts`: bitstrings, the first qubit of the run's
    `qubits` leftmost ("01": first qubit read 0, second read 1), in binary order."""
    return [format(k, f"0{n_qubits}b") for k in range(2**n_qubits)]


@runtime_checkable
class Device(Protocol):
    """A hardware adapter implements these; `SimulatedDevice` does too.

    name:   a stable identifier (stored with every dataset and calibration value)
    spec:   the nominal design (DeviceSpec): what calibration starts from
    qubits: the qubit indices the device offers
    dt:     AWG sample time [ns]; schedules are sampled at it
    limits: what one `run` may ask (DeviceLimits)
    now():  the device clock [s], advancing as the device runs
    run():  play `schedules` (Schedule or GateSequence; channel c drives qubit `qubits[c]`)
            `shots` times each and return an xarray.Dataset with, for the default
            `acquisition=Discriminated()`,
              counts        (schedule, qubit):   shots read as 1, per qubit
              joint_counts  (schedule, outcome): shots per joint outcome, the `outcome`
                            coordinate holding bitstrings (see `outcome_labels`)
            or, for `Integrated(pulses)`, each shot's IQ point `iq` (a device without an
            IQ-level readout refuses it with a DeviceModelError).
            A program that reduces to no pulse at all (RB's Z-only Cliffords) plays as an idle
            of its length, never refused.
    """

    name: str

    @property
    def spec(self) -> DeviceSpec: ...

    @property
    def qubits(self) -> tuple[int, ...]: ...

    @property
    def dt(self) -> float: ...

    @property
    def limits(self) -> DeviceLimits: ...

    def now(self) -> float: ...

    def run(self, schedules: Sequence[Schedule | GateSequence], shots: int, seed: int | None = None, *,
            qubits: Sequence[int] = (0,), acquisition: Acquisition = Discriminated()) -> xr.Dataset: ...


@runtime_checkable
class Stateful(Protocol):
    """A device whose state (clock, drift, random streams) the store keeps between commands."""

    def state(self) -> dict: ...

    def restore(self, state: dict) -> None: ...


@runtime_checkable
class HasTruth(Protocol):
    """A device with hidden true parameters. Only tests, benchmarks and the `truth` block of
    reports may call `truth()`; calibration code never does."""

    def truth(self): ...


@runtime_checkable
class Drifting(Protocol):
    """A device whose clock can be moved on, drifting it (`--simulate-days`)."""

    def advance(self, *, hours: float) -> None: ...


@runtime_checkable
class Seeded(Protocol):
    """A device drawn from a prior with a seed (`--seed` chooses which)."""

    seed: int


@dataclass(frozen=True)
class DeviceCall:
    """The arguments of one `Device.run`, for `Simultaneous.run_simultaneous`."""

    schedules: tuple
    shots: int
    seed: int | None = None
    qubits: tuple[int, ...] = (0,)
    acquisition: Acquisition = Discriminated()


@runtime_checkable
class Simultaneous(Protocol):
    """A device that plays runs on disjoint qubits at once, as labs calibrate qubits that do not
    interact: one call, each run with its own schedules, shots and seed, the device busy for as
    long as the longest of them (each result is what `run` of that call alone would return, its
    `run_s` that run's own time)."""

    def run_simultaneous(self, calls: Sequence[DeviceCall]) -> list[xr.Dataset]: ...
