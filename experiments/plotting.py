"""A self-contained Bokeh page of an experiment's data (with binomial error bars) and fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from bokeh.embed import file_html
from bokeh.models import ColumnDataSource, Whisker
from bokeh.palettes import Category10
from bokeh.plotting import figure
from bokeh.resources import INLINE

from experiments.fitting import binomial_sigma
from experiments.results import FitResult


def _title(result: FitResult) -> str:
    shown = ", ".join(f"{k} = {v.value:.6g} +- {v.stderr:.2g} {v.unit}".rstrip()
                      for k, v in list(result.values.items())[:3])
    return f"{result.experiment} on qubit {result.qubit}: {result.verdict.value} ({shown})"


def plot_html(ds: xr.Dataset, result: FitResult) -> str:
    """HTML with Bokeh's resources inlined, so the page works offline."""
    qubit = result.qubit
    data = ds.sel(qubit=qubit)
    sweep_dims = [d for d in data["probabilities"].dims]
    x_dim = sweep_dims[-1]
    outer = sweep_dims[:-1]
    units = ds[x_dim].attrs.get("units", "")
    fig = figure(title=_title(result), width=900, height=480, x_axis_label=f"{x_dim} [{units}]" if units else x_dim,
                 y_axis_label="P(read 1)", tools="pan,wheel_zoom,box_zoom,reset,save,hover")
    groups = [{}] if not outer else [dict(zip(outer, idx)) for idx in
                                     np.ndindex(*[data.sizes[d] for d in outer])]
    for k, index in enumerate(groups):
        colour = Category10[10][k % 10]
        sel = {d: i for d, i in index.items()}
        p = data["probabilities"].isel(sel).values
        err = binomial_sigma(data["counts"].isel(sel).values, ds.attrs["shots"])
        x = ds[x_dim].values
        label = ", ".join(f"{d}={data[d].values[i]}" for d, i in index.items()) or "data"
        source = ColumnDataSource({"x": x, "p": p, "low": p - err, "high": p + err})
        fig.scatter("x", "p", source=source, color=colour, legend_label=label, size=5)
        fig.add_layout(Whisker(source=source, base="x", lower="low", upper="high", line_color=colour))
        if result.curve is not None and "fit" in result.curve:
            curve = result.curve["fit"]
            curve = curve.isel({d: i for d, i in index.items() if d in curve.dims})
            fig.line(curve[curve.dims[-1]].values, curve.values, color=colour, line_width=2,
                     legend_label=f"fit {label}" if outer else "fit")
    fig.legend.location = "top_right"
    fig.legend.click_policy = "hide"
    return file_html(fig, INLINE, title=f"{result.experiment} q{qubit}")


def write_plot(ds: xr.Dataset, result: FitResult, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plot_html(ds, result))
    return path
