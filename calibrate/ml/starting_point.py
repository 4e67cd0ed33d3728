"""Where model learning starts, and how wide the prior is around it.

Start: each dataset's own analysis where it is good (the most precise value of each
parameter wins): Ramsey or spectroscopy frequency, Rabi or fine-amplitude pi amplitude
(-> drive scale through the X pulse's area), T1, echo T2, readout errors; the prior's
nominal values elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from calibrate.ml.likelihood import PARAMETERS, Replayed
from devices.device_spec import DeviceSpec
from experiments.results import Estimate

# Floors of the prior widths, for priors with (almost) no fabrication spread (e.g. a learned device).
WIDTH_FLOORS = {"frequency": 1e-3, "anharmonicity": 2e-3, "drive_scale": 0.02, "t1": 0.1, "t2": 0.1,
                "readout_p01": 0.01, "readout_p10": 0.01}  # GHz, GHz, relative, relative, relative, abs, abs


@dataclass(frozen=True)
class StartFromFits:
    """Start from each dataset's own analysis where it is good, the prior elsewhere."""


@dataclass(frozen=True)
class StartFromPrior:
    """Start from the prior's nominal values."""


# --- start values -------------------------------------------------------------------------------
def prior_values(prior: DeviceSpec, qubit: int) -> dict[str, float]:
    q = prior.qubits[qubit]
    return {p: float(getattr(q, p)) for p in PARAMETERS}


def _from_fit(r: Replayed, ds: xr.Dataset, dt: float) -> dict[str, Estimate]:
    """Start values one dataset's own analysis offers (empty when its fit is bad)."""
    from devices.nominal import unit_area

    result = r.experiment.analyze(ds)
    if not result.good:
        return {}
    got = {}
    if r.name in ("ramsey", "spectroscopy"):
        got["frequency"] = result["frequency"]
    if r.name in ("rabi", "fine_amplitude"):
        amp = result["x_amp"]
        area = unit_area(r.calibration.x_pulse(amp=1.0), dt)
        value = 1.0 / (2.0 * amp.value * area)
        got["drive_scale"] = Estimate(value, value * amp.stderr / amp.value, "GHz")
    if r.name == "t1":
        got["t1"] = result["t1"]
    if r.name == "echo":  # not Ramsey's T2*: a short Ramsey bounds it only from below
        got["t2"] = result["t2"]
    if r.name == "readout":
        got["readout_p01"], got["readout_p10"] = result["p01"], result["p10"]
    return got


def start_values(replayed: Sequence[Replayed], datasets: Sequence[xr.Dataset], prior: DeviceSpec, qubit: int,
                 start: StartFromFits | StartFromPrior) -> dict[str, float]:
    values = prior_values(prior, qubit)
    if isinstance(start, StartFromFits):
        best: dict[str, Estimate] = {}
        for r, ds in zip(replayed, datasets):
            for name, e in _from_fit(r, ds, prior.dt).items():
                usable = math.isfinite(e.value) and math.isfinite(e.stderr) and e.value >= 0
                if usable and (name not in best or e.stderr < best[name].stderr):
                    best[name] = e
        values.update({k: float(e.value) for k, e in best.items()})
    values["t2"] = min(values["t2"], 1.9 * values["t1"])
    for p in ("readout_p01", "readout_p10"):
        values[p] = float(np.clip(values[p], 1e-3, 0.45))
    return values


def prior_widths(prior: DeviceSpec, x: np.ndarray) -> np.ndarray:
    """Natural-unit widths of the prior around x: its fabrication spread, floored."""
    fab = prior.fabrication
    spread = [fab.frequency, fab.anharmonicity, fab.drive_scale_rel * x[2], fab.t1_rel * x[3], fab.t2_rel * x[4],
              fab.readout_abs, fab.readout_abs]
    floors = [WIDTH_FLOORS[p] * (x[i] if p in ("drive_scale", "t1", "t2") else 1.0) for i, p in enumerate(PARAMETERS)]
    return np.maximum(np.asarray(spread), np.asarray(floors))
