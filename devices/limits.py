"""Running more than a device takes at once: split a request to fit its `DeviceLimits`.

Experiments and calibration call `run_within_limits` instead of `Device.run`: a sweep longer
than the device's `max_schedules` goes in several calls, and more shots than its `max_shots`
in several passes whose counts add up. The result is what one call would have returned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from devices.protocol import Acquisition, Device, Discriminated, Integrated
from devices.schedule import Schedule
from devices.sequences import GateSequence


class LimitError(ValueError):
    """A request no split can fit (e.g. a schedule longer than the device plays)."""


def _chunk_seed(seed: int | None, k: int, n_chunks: int) -> int | None:
    # One call keeps the caller's seed (the same result as before any split); several calls
    # get independent seeds derived from it, so their shot noise is not repeated.
    if seed is None or n_chunks == 1:
        return seed
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def acquiring(acquisition: Acquisition) -> dict:
    """`run`'s acquisition keyword, left out for the default: a device written before the
    keyword existed (a lab's own adapter) still takes every run through its own discrimination."""
    return {} if isinstance(acquisition, Discriminated) and not acquisition.calibrated else {"acquisition": acquisition}


def run_within_limits(device: Device, schedules: Sequence[Schedule | GateSequence], shots: int,
                      seed: int | None = None, *, qubits: Sequence[int] = (0,),
                      acquisition: Acquisition = Discriminated()) -> xr.Dataset:
    """`device.run(schedules, shots, seed, qubits=qubits, acquisition=acquisition)`, in as few
    calls as its limits allow (IQ points of several passes are joined along `shot`)."""
    limits = device.limits
    if len(tuple(qubits)) > limits.max_qubits:
        raise LimitError(f"Argument `qubits` is {list(qubits)}, but {device.name} reads at most "
                         f"{limits.max_qubits} qubit(s) in one schedule.")
    schedules = list(schedules)
    if not schedules:
        raise LimitError("Argument `schedules` is empty: give at least one schedule.")
    per_call = limits.max_schedules
    passes = [limits.max_shots] * (shots // limits.max_shots)
    if shots % limits.max_shots:
        passes.append(shots % limits.max_shots)
    starts = range(0, len(schedules), per_call)
    chunks = [schedules[i:i + per_call] for i in starts]
    n_calls = len(chunks) * len(passes)
    parts, run_s, k = [], 0.0, 0
    for start, chunk in zip(starts, chunks):
        counted = None
        part = acquisition.for_schedules(start, start + len(chunk)) if isinstance(acquisition, Integrated) else acquisition
        for pass_shots in passes:
            ds = device.run(chunk, pass_shots, _chunk_seed(seed, k, n_calls), qubits=qubits, **acquiring(part))
            k += 1
            run_s += float(ds.attrs.get("run_s", 0.0))
            if counted is None:
                counted = ds
            elif "iq" in ds:  # another pass of the same schedules: more shots
                counted = xr.concat([counted, ds], dim="shot", combine_attrs="override")
            else:  # another pass of the same schedules: counts add up, the first pass's attrs stay
                counted = counted.copy(data={name: counted[name].values + ds[name].values
                                             for name in counted.data_vars})
        parts.append(counted)
    if n_calls == 1:
        return parts[0]
    out = parts[0] if len(parts) == 1 else xr.concat(
        parts, dim="schedule", data_vars="minimal", coords="minimal", compat="override",
        combine_attrs="override")
    out = out.assign_coords(schedule=np.arange(len(schedules))).assign_attrs(shots=int(shots), calls=n_calls)
    return out.assign_attrs(run_s=run_s) if "run_s" in out.attrs else out
