"""What a device, simulated or real, offers to experiments and calibration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import xarray as xr

from devices.schedule import Schedule


@runtime_checkable
class Device(Protocol):
    """A hardware adapter implements these; `SimulatedDevice` does too.

    name:   a stable identifier (stored with every dataset and calibration value)
    qubits: the qubit indices the device offers
    dt:     AWG sample time [ns]; schedules are sampled at it
    now():  the device clock [s], advancing as the device runs
    run():  play `schedules` (channel c drives qubit `qubits[c]`) `shots` times each and
            return an xarray.Dataset with `counts` (dims schedule, qubit) of shots read as 1
    """

    name: str

    @property
    def qubits(self) -> tuple[int, ...]: ...

    @property
    def dt(self) -> float: ...

    def now(self) -> float: ...

    def run(self, schedules: Sequence[Schedule], shots: int, seed: int | None = None, *,
            qubits: Sequence[int] = (0,)) -> xr.Dataset: ...
