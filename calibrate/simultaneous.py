"""Simultaneous calibration: qubits (and pairs) that do not interact run in the same device call.

Labs calibrate qubits that do not interact at once: while qubit 0 plays its Rabi sweep, qubit 2
plays its own. `groups` splits the qubits (or the pairs) into such sets from the design: two
units conflict when they share a qubit or when any of their qubits are coupled or share drive
crosstalk. `run_lanes` then runs one task per unit of a group (a qubit's policy pass), each with
a `LaneDevice`: its `run` hands the call to a hub and waits. When every lane waits (or has
finished), the hub plays all the waiting calls as one `Simultaneous.run_simultaneous` on devices
that offer it (each lane's own call on those that do not, which saves nothing but is correct).

The lanes are greenlets, not threads: they take turns in one thread and switch only inside
`run`, so the store, the JAX caches and the device see one caller at a time, and a run is
deterministic. Per group, a lane that raises (a crash, a store failure, Ctrl-C) ends the group:
the other lanes are unwound with GreenletExit (their pending device calls are dropped) and the
exception is raised to the caller, as a sequential run would raise it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import greenlet
import xarray as xr

from devices.device_spec import DeviceSpec
from devices.limits import acquiring
from devices.protocol import Acquisition, Device, DeviceCall, Discriminated, Simultaneous


def conflicts(spec: DeviceSpec) -> set[frozenset[int]]:
    """Pairs of qubits that may not be driven independently: coupled, or joined by drive crosstalk."""
    linked = {frozenset((q, r)) for q, r, _ in spec.couplings}
    linked |= {frozenset((line, q)) for line, q, _ in spec.crosstalk if line != q}
    return linked


def groups(spec: DeviceSpec, units: Sequence[tuple[int, ...]]) -> list[tuple[tuple[int, ...], ...]]:
    """`units` (each a qubit tuple: (q,) or a pair) split into groups that may run at once, in the
    order given: each unit joins the first group with no conflict (greedy colouring). On sim-5q's
    line, qubits 0..4 give [(0, 2, 4), (1, 3)] and pairs 1-0, 1-2, 3-2, 3-4 give
    [(1-0, 3-4), (1-2,), (3-2,)]."""
    linked = conflicts(spec)

    def clash(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
        return bool(set(a) & set(b)) or any(frozenset((q, r)) in linked for q in a for r in b)

    found: list[list[tuple[int, ...]]] = []
    for unit in units:
        for group in found:
            if not any(clash(unit, other) for other in group):
                group.append(unit)
                break
        else:
            found.append([unit])
    return [tuple(g) for g in found]


@dataclass
class _Waiting:
    call: DeviceCall


class LaneDevice:
    """What one lane sees as its device: the device itself, except that `run` waits for the
    hub to play the call together with the other lanes' calls."""

    def __init__(self, device: Device, hub: greenlet.greenlet):
        self._device = device
        self._hub = hub

    def __getattr__(self, name: str) -> Any:
        return getattr(self._device, name)

    def run(self, schedules, shots: int, seed: int | None = None, *, qubits: Sequence[int] = (0,),
            acquisition: Acquisition = Discriminated()) -> xr.Dataset:
        return self._hub.switch(_Waiting(DeviceCall(tuple(schedules), shots, seed, tuple(qubits), acquisition)))


@dataclass
class LaneStats:
    """What the hub did: device calls made, and how many lanes' calls they carried."""

    device_calls: int = 0
    lane_calls: int = 0


def run_lanes(device: Device, tasks: Sequence[Callable[[Device], Any]],
              stats: LaneStats | None = None) -> list[Any]:
    """Run `tasks` (each given its LaneDevice) as simultaneous lanes; their return values in
    order. The first exception a lane raises is raised here after the other lanes are unwound."""
    stats = stats if stats is not None else LaneStats()
    hub = greenlet.getcurrent()
    lanes = [greenlet.greenlet(task) for task in tasks]
    results: list[Any] = [None] * len(lanes)
    waiting: dict[int, DeviceCall] = {}
    # what to send each lane that is ready to go on: its LaneDevice at first, then its results
    ready: dict[int, Any] = {i: LaneDevice(device, hub) for i in range(len(lanes))}
    try:
        while ready:
            for i in sorted(ready):
                got = lanes[i].switch(ready.pop(i))
                if isinstance(got, _Waiting) and not lanes[i].dead:
                    waiting[i] = got.call
                else:
                    results[i] = got
            if waiting:
                order = sorted(waiting)
                played = _play(device, [waiting[i] for i in order])
                stats.device_calls += 1 if isinstance(device, Simultaneous) else len(order)
                stats.lane_calls += len(order)
                ready = dict(zip(order, played))
                waiting.clear()
    except BaseException:
        for lane in lanes:
            if lane and not lane.dead:
                lane.throw(greenlet.GreenletExit)
        raise
    return results


def _play(device: Device, calls: list[DeviceCall]) -> list[xr.Dataset]:
    if isinstance(device, Simultaneous):
        return device.run_simultaneous(calls)
    return [device.run(c.schedules, c.shots, c.seed, qubits=c.qubits, **acquiring(c.acquisition)) for c in calls]
