"""A node's stored dataset and its fit, as columns for a plot.

The fit is the experiment's own analysis run again on the stored dataset (the experiment is
rebuilt from the options the dataset carries), so the dashboard shows exactly what the
calibration graph judged, with no fitting code of its own. Points and error bars are drawn
as experiments/plotting.py draws them: probabilities against the swept coordinate, one
colour per outer sweep value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from bokeh.palettes import Category10

from experiments.fitting import binomial_sigma
from experiments.results import FitResult

POINT_COLUMNS = ("x", "p", "low", "high", "colour", "label")
FIT_COLUMNS = ("xs", "ys", "colour", "label")
# Randomized benchmarking fits the survival probability, P(read 0), not P(read 1).
SURVIVAL_FITS = frozenset({"rb", "interleaved_rb"})


@dataclass(frozen=True)
class DatasetPlot:
    """What the dataset panel shows: points with error bars, fitted curves, and words."""

    title: str
    x_label: str
    y_label: str
    summary: str
    points: dict[str, list] = field(default_factory=lambda: {c: [] for c in POINT_COLUMNS})
    fits: dict[str, list] = field(default_factory=lambda: {c: [] for c in FIT_COLUMNS})


def message_plot(title: str, summary: str) -> DatasetPlot:
    """An empty panel that says why there is nothing to show."""
    return DatasetPlot(title=title, x_label="", y_label="", summary=summary)


def reanalyze(ds: xr.Dataset) -> FitResult:
    from calibrate.procedures import is_procedure
    from experiments.registry import experiment_class

    if is_procedure(ds.attrs["experiment"]):
        return procedure_result(ds)
    experiment = experiment_class(ds.attrs["experiment"])(**json.loads(ds.attrs["options"]))
    return experiment.analyze(ds)


def procedure_result(ds: xr.Dataset) -> FitResult:
    """A learned procedure's probes have no curve to fit: its verdict is the verification it
    stored (probe pairs' |P+ - P-| against their limits), shown over the probes of each round."""
    from experiments.results import Verdict

    qubit = int(ds["qubit"].values[0])
    verified = json.loads(ds.attrs["verified"]) if "verified" in ds.attrs else None
    if verified is None:
        reason = f"{ds.sizes['round']} round(s) of {ds.sizes['probe']} probes"
    else:
        differences = json.loads(ds.attrs.get("pair_differences", "[]"))
        limits = json.loads(ds.attrs.get("pair_limits", "[]"))
        pairs = ", ".join(f"{abs(d):.3f}/{lim:.3f}" for d, lim in zip(differences, limits))
        reason = f"{'verified' if verified else 'verification out of spec'}: |P+ - P-| / limit per pair {pairs}"
    return FitResult(experiment=ds.attrs["experiment"], qubit=qubit, values={}, reduced_chi2=float("nan"),
                     verdict=Verdict.BAD if verified is False else Verdict.GOOD, reason=reason)


def load_dataset_plot(path: str | None, *, title: str) -> DatasetPlot:
    """The dataset at `path` with its fit; a missing or unreadable file is a message, not an error,
    since the store may outlive (or be copied without) its datasets."""
    from experiments.storage import DatasetFileError, load_dataset

    if path is None:
        return message_plot(title, "This node has no stored dataset (skipped, or run without a data folder).")
    try:
        ds = load_dataset(Path(path))
        result = reanalyze(ds)
    except DatasetFileError as exc:
        return message_plot(title, str(exc))
    except (KeyError, TypeError, ValueError) as exc:  # options this toolkit no longer understands
        return message_plot(title, f"Dataset {path} cannot be analysed again: {exc}")
    return dataset_plot(ds, result, title=title)


def _short(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float, np.number)) else str(value)


def _fit_summary(result: FitResult) -> str:
    shown = ", ".join(f"{name} = {v.value:.6g} ± {v.stderr:.2g} {v.unit}".rstrip()
                      for name, v in list(result.values.items())[:3])
    verdict = result.verdict.value + (f" ({result.reason})" if result.reason else "")
    chi2 = f"reduced chi² {result.reduced_chi2:.3g}" if np.isfinite(result.reduced_chi2) else ""
    return f"{result.experiment} on qubit {result.qubit}: " + "; ".join(p for p in (verdict, shown, chi2) if p)


def dataset_plot(ds: xr.Dataset, result: FitResult, *, title: str) -> DatasetPlot:
    if "probabilities" not in ds:  # the readout experiments keep each shot's IQ point, not counts
        return message_plot(title, f"{_fit_summary(result)}. The dataset holds IQ points per shot, which this panel "
                                   "does not draw; the readout panels show those of the discriminator's.")
    survival = result.experiment in SURVIVAL_FITS
    data = ds.sel(qubit=result.qubit)
    sweep_dims = list(data["probabilities"].dims)
    curve = result.curve["fit"] if result.curve is not None and "fit" in result.curve else None
    # The fitted variable is the curve's last axis; outer curve axes are groups (one colour each);
    # sweep axes the fit pools over (RB seeds, echo phases) stay as separate points.
    x_dim = curve.dims[-1] if curve is not None and curve.dims[-1] in sweep_dims else sweep_dims[-1]
    outer = [d for d in (curve.dims[:-1] if curve is not None else sweep_dims[:-1]) if d in sweep_dims and d != x_dim]
    shots = ds.attrs["shots"]
    points = {c: [] for c in POINT_COLUMNS}
    fits = {c: [] for c in FIT_COLUMNS}
    for k, index in enumerate(np.ndindex(*[data.sizes[d] for d in outer])):
        selection = dict(zip(outer, index))
        colour = Category10[10][k % 10]
        label = ", ".join(f"{d}={_short(data[d].values[i])}" for d, i in selection.items()) or "data"
        group = data.isel(selection)
        probabilities = group["probabilities"].transpose(x_dim, ...)
        p = probabilities.values.reshape(group.sizes[x_dim], -1)
        err = binomial_sigma(group["counts"].transpose(x_dim, ...).values.reshape(p.shape), shots)
        if survival:
            p = 1.0 - p
        x = np.broadcast_to(ds[x_dim].values.astype(float)[:, None], p.shape)
        for name, values in (("x", x), ("p", p), ("low", p - err), ("high", p + err)):
            points[name].extend(np.ravel(values).tolist())
        points["colour"].extend([colour] * p.size)
        points["label"].extend([label] * p.size)
        if curve is not None:
            line = curve.isel({d: i for d, i in selection.items() if d in curve.dims})
            fits["xs"].append(line[line.dims[-1]].values.astype(float).tolist())
            fits["ys"].append(line.values.astype(float).tolist())
            fits["colour"].append(colour)
            fits["label"].append(f"fit {label}" if outer else "fit")
    units = ds[x_dim].attrs.get("units", "")
    return DatasetPlot(title=title, x_label=f"{x_dim} [{units}]" if units else x_dim,
                       y_label="P(read 0) (survival)" if survival else "P(read 1)",
                       summary=_fit_summary(result), points=points, fits=fits)
