"""A self-contained Bokeh page of an experiment's data and fit.

Counts datasets: probabilities with binomial error bars against the swept coordinate.
IQ datasets (`iq`, dims (sweep..., prepared, shot, qubit, quadrature)): without a sweep besides
`prepared`, each prepared state's shots in the IQ plane with the fitted discriminator's
boundary; with one, the prepared states' mean IQ points against it.
"""

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

# More points than this per state only hide the blobs' shape and make the page slow to load.
MAX_IQ_POINTS = 2000
TOOLS = "pan,wheel_zoom,box_zoom,reset,save,hover"


def _title(result: FitResult) -> str:
    shown = ", ".join(f"{k} = {v.value:.6g} +- {v.stderr:.2g} {v.unit}".rstrip()
                      for k, v in list(result.values.items())[:3])
    return f"{result.experiment} on qubit {result.qubit}: {result.verdict.value} ({shown})"


def _axis_label(ds: xr.Dataset, dim: str) -> str:
    units = ds[dim].attrs.get("units", "")
    return f"{dim} [{units}]" if units else dim


def plot_figure(ds: xr.Dataset, result: FitResult):
    """The Bokeh figure of `ds` (counts or IQ points) and its fit, on the result's qubit."""
    return _iq_figure(ds, result) if "iq" in ds else _probability_figure(ds, result)


def plot_html(ds: xr.Dataset, result: FitResult) -> str:
    """HTML with Bokeh's resources inlined, so the page works offline."""
    return file_html(plot_figure(ds, result), INLINE, title=f"{result.experiment} q{result.qubit}")


def _probability_figure(ds: xr.Dataset, result: FitResult):
    qubit = result.qubit
    data = ds.sel(qubit=qubit)
    sweep_dims = [d for d in data["probabilities"].dims]
    x_dim = sweep_dims[-1]
    outer = sweep_dims[:-1]
    fig = figure(title=_title(result), width=900, height=480, x_axis_label=_axis_label(ds, x_dim),
                 y_axis_label="P(read 1)", tools=TOOLS)
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
    return fig


def _iq_figure(ds: xr.Dataset, result: FitResult):
    iq = ds["iq"].sel(qubit=result.qubit, quadrature=["I", "Q"])
    if "prepared" not in iq.dims:
        raise ValueError(f"Dataset variable `iq` must have a `prepared` dim, but has dims {iq.dims}.")
    sweeps = [d for d in iq.dims if d not in ("prepared", "shot", "quadrature")]
    if len(sweeps) > 1:
        raise ValueError(f"Dataset variable `iq` has sweeps {sweeps} besides `prepared`, but an IQ plot "
                         "draws at most one.")
    fig = (_iq_sweep_figure(ds, iq, sweeps[0], result) if sweeps else _iq_scatter_figure(iq, result))
    fig.legend.click_policy = "hide"
    return fig


def subsample(points: np.ndarray, limit: int = MAX_IQ_POINTS) -> np.ndarray:
    """At most `limit` of `points` (along the first axis), evenly spaced: the same every time,
    and, as the device returns shots in random order, an unbiased sample."""
    n = len(points)
    m = min(n, limit)
    return points[(np.arange(m) * n) // m]


def decision_boundary(angle: float, threshold: float, points: np.ndarray) -> np.ndarray | None:
    """The two ends (2, 2) as (I, Q) of the line I cos(angle) + Q sin(angle) = threshold across
    the extent of `points` (n, 2) and a tenth beyond on each side (as the dashboard's IQ panel
    draws it), or None when the discriminator is unknown (NaN)."""
    if not (np.isfinite(angle) and np.isfinite(threshold)):
        return None
    normal = np.array([np.cos(angle), np.sin(angle)])
    along = np.array([-normal[1], normal[0]])
    reach = points @ along  # along the line from its point nearest the origin, threshold * normal
    pad = 0.1 * (reach.max() - reach.min())
    return threshold * normal + np.array([reach.min() - pad, reach.max() + pad])[:, None] * along


def _iq_scatter_figure(iq: xr.DataArray, result: FitResult):
    fig = figure(title=_title(result), width=700, height=640, match_aspect=True, x_axis_label="I",
                 y_axis_label="Q", tools=TOOLS)
    points = iq.transpose("prepared", "shot", "quadrature").values
    for k, (state, shots) in enumerate(zip(iq["prepared"].values, points)):
        shown = subsample(shots)
        fig.scatter(shown[:, 0], shown[:, 1], color=Category10[10][k % 10], size=3, alpha=0.4,
                    legend_label=f"prepared {state}", name=f"prepared {state}")
    if "readout_angle" in result.values and "readout_threshold" in result.values:
        ends = decision_boundary(result["readout_angle"].value, result["readout_threshold"].value,
                                 points.reshape(-1, 2))
        if ends is not None:
            fig.line(ends[:, 0], ends[:, 1], color="black", line_width=2, line_dash="dashed",
                     legend_label="decision boundary", name="decision boundary")
    return fig


def _iq_sweep_figure(ds: xr.Dataset, iq: xr.DataArray, x_dim: str, result: FitResult):
    """Each prepared state's |mean IQ| (the response's magnitude, which resonator_spectroscopy's
    fit curve is drawn in) and each state's distance from the first's, which is what makes the
    states readable, against the sweep."""
    fig = figure(title=_title(result), width=900, height=480, x_axis_label=_axis_label(ds, x_dim),
                 y_axis_label="mean IQ", tools=TOOLS)
    mean = iq.mean("shot").transpose("prepared", x_dim, "quadrature").values
    mean = mean[..., 0] + 1j * mean[..., 1]  # (prepared, sweep)
    x = np.asarray(ds[x_dim].values, float)
    order = np.argsort(x)
    states = iq["prepared"].values
    lines = [(f"|mean IQ| prepared {s}", np.abs(m)) for s, m in zip(states, mean)]
    lines += [(f"distance prepared {states[0]} to {s}", np.abs(m - mean[0])) for s, m in zip(states[1:], mean[1:])]
    for k, (label, y) in enumerate(lines):
        colour = Category10[10][k % 10]
        fig.line(x[order], y[order], color=colour, legend_label=label, name=label)
        fig.scatter(x[order], y[order], color=colour, size=5, legend_label=label)
    if result.curve is not None and "fit" in result.curve and result.curve["fit"].dims == (x_dim,):
        curve = result.curve["fit"]
        fig.line(curve[x_dim].values, curve.values, color="black", line_width=2, legend_label="fit", name="fit")
    return fig


def write_plot(ds: xr.Dataset, result: FitResult, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plot_html(ds, result))
    return path
