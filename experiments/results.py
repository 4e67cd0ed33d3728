"""Typed analysis results: values with standard errors, a verdict and the fitted curve."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import xarray as xr


class Verdict(str, Enum):
    GOOD = "good"
    BAD = "bad"


@dataclass(frozen=True)
class Estimate:
    value: float
    stderr: float
    unit: str

    def as_dict(self) -> dict:
        return {"value": _json_float(self.value), "stderr": _json_float(self.stderr), "unit": self.unit}


def _json_float(x: float):
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class FitResult:
    """What an analysis concluded. A failed fit is verdict BAD with a reason; every
    declared value is present (NaN when unknown), never a missing key."""

    experiment: str
    qubit: int
    values: dict[str, Estimate]
    reduced_chi2: float
    verdict: Verdict
    reason: str
    curve: xr.Dataset | None = field(default=None, compare=False)

    @property
    def good(self) -> bool:
        return self.verdict is Verdict.GOOD

    def __getitem__(self, name: str) -> Estimate:
        return self.values[name]

    def as_dict(self) -> dict:
        return {
            "experiment": self.experiment,
            "qubit": self.qubit,
            "values": {k: v.as_dict() for k, v in self.values.items()},
            "reduced_chi2": _json_float(self.reduced_chi2),
            "verdict": self.verdict.value,
            "reason": self.reason,
        }


def bad_result(experiment: str, qubit: int, names_units: dict[str, str], reason: str) -> FitResult:
    nan = float("nan")
    return FitResult(experiment=experiment, qubit=qubit,
                     values={k: Estimate(nan, nan, u) for k, u in names_units.items()},
                     reduced_chi2=nan, verdict=Verdict.BAD, reason=reason)
