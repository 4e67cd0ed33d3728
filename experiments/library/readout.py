"""Readout assignment: prepare |0> (idle) and |1> (X pulse), count shots read as 1.

p01 = P(read 1 | prepared 0) and p10 = P(read 0 | prepared 1) are binomial proportions;
no curve is fitted (two numbers from two points: zero degrees of freedom, so the reduced
chi-square is NaN). What p10 measures is P(read 0) after the X pulse, so it also holds
the X pulse's error (population left in |0>, ~1e-3 for a calibrated pulse; leakage reads
as 1 and lowers it) and, on hardware, T1 decay during the readout itself (not simulated:
the simulated readout is instantaneous). Run it after the pi pulse is calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Play
from experiments.base import Experiment, Sweep
from experiments.fitting import FitFailure, Fitted, analyse, binomial_sigma, conclude, curve_dataset
from experiments.results import Estimate

UNITS = {"p01": "", "p10": "", "assignment_fidelity": ""}

MAX_ERROR_SUM = 0.5  # p01 + p10 at or beyond this: the readout barely tells 0 from 1


def prepared_schedule(c, prepared: float):
    """|0> (the X pulse at amplitude 0, the same schedule structure: one compilation) or |1>
    (the calibrated X): what every readout experiment reads."""
    return c.schedule([Play(0, c.x_pulse(amp=float(prepared) * c.x_amp))])


def readout_model(prepared, p01, p10):
    """P(read 1) for a prepared population `prepared` of |1>."""
    return p01 + prepared * (1.0 - p01 - p10)


@dataclass(frozen=True)
class ReadoutAssignment(Experiment):
    """Plays the X pulse with amplitude 0 (prepared 0) or its calibrated amplitude
    (prepared 1): both points share one schedule structure, so one compilation."""

    name = "readout"
    summary = "Readout assignment errors (p01, p10, assignment_fidelity)"

    def sweeps(self, cal):
        return [Sweep("prepared", np.array([0, 1]), "")]

    def schedule(self, cal, point):
        return prepared_schedule(cal[self.qubit], point["prepared"])

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _estimate(self, ds))


def _estimate(exp: ReadoutAssignment, ds: xr.Dataset):
    prepared = list(np.asarray(ds["prepared"].values).tolist())
    if sorted(prepared) != [0, 1]:
        raise FitFailure(f"the dataset prepares {prepared}, but readout assignment needs exactly 0 and 1.")
    shots = int(ds.attrs["shots"])
    counts = ds["counts"].sel(qubit=exp.qubit)
    ones0, ones1 = float(counts.sel(prepared=0)), float(counts.sel(prepared=1))
    if not (0 <= ones0 <= shots and 0 <= ones1 <= shots):
        raise FitFailure(f"counts ({ones0:g}, {ones1:g}) lie outside 0..{shots} shots.")
    p01, p10 = ones0 / shots, 1.0 - ones1 / shots
    s01 = float(binomial_sigma(ones0, shots))
    s10 = float(binomial_sigma(ones1, shots))  # same error for P(read 0) as for P(read 1)
    # the two proportions come from independent shots: no covariance
    estimate = Fitted(params=np.array([p01, p10]), cov=np.diag([s01**2, s10**2]),
                      reduced_chi2=float("nan"), model=readout_model)
    values = {"p01": Estimate(p01, s01, ""), "p10": Estimate(p10, s10, ""),
              "assignment_fidelity": estimate.derived(lambda p: 1.0 - 0.5 * (p[0] + p[1]), "")}
    separation = 1.0 - p01 - p10
    s_sep = float(np.hypot(s01, s10))
    checks = [
        (separation > 5 * s_sep,
         f"prepared 0 and 1 read alike (P(1) differs by {separation:.3f} +- {s_sep:.3f}): "
         "the X pulse or the readout does not work."),
        (p01 + p10 < MAX_ERROR_SUM,
         f"assignment errors p01 + p10 = {p01 + p10:.3f} >= {MAX_ERROR_SUM}: the readout barely tells 0 from 1."),
    ]
    x = np.array([0.0, 1.0])
    return conclude(exp.name, exp.qubit, values, estimate, checks,
                    curve_dataset("prepared", "", x, readout_model(x, p01, p10)))
