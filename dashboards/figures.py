"""Figure and table builders shared by the live dashboard and the static report.

Each builder takes ColumnDataSources and returns a Bokeh model; whether the sources then
grow by streaming (the server app) or stay as they are (a report) is the caller's business,
so both show the same plots.
"""

from __future__ import annotations

from dataclasses import dataclass

from bokeh.core.validation import silence
from bokeh.core.validation.warnings import MISSING_RENDERERS
from bokeh.models import (CDSView, ColumnDataSource, DataRange1d, DataTable, DateFormatter, HoverTool,
                          HTMLTemplateFormatter, NumberFormatter, Range1d, TableColumn, Whisker)
from bokeh.palettes import Category20
from bokeh.plotting import figure

from calibrate.pairs import pair_label, split_stored_name

# A live panel without renderers is a parameter no run has calibrated yet, not a mistake.
silence(MISSING_RENDERERS, True)

PALETTE = Category20[20]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# What each node outcome looks like in the nodes table: good, attention, failed, nothing done.
OUTCOME_COLOURS = {
    "calibrated": "#b7e4b0",
    "in_spec": "#dff3d8",
    "out_of_spec": "#ffe0a6",
    "bad_data": "#ffc0b0",
    "failed": "#f4877a",
    "skipped": "#dddddd",
}
UNKNOWN_OUTCOME_COLOUR = "#ffffff"


def outcome_colour(outcome: str) -> str:
    return OUTCOME_COLOURS.get(outcome, UNKNOWN_OUTCOME_COLOUR)


@dataclass(frozen=True)
class ParameterPanel:
    """One calibrated parameter, drawn over time in a panel of its own."""

    name: str  # as the calibration graph stores it
    title: str


# The names the default graph (calibrate/graphs/single-qubit.toml) writes.
PARAMETER_PANELS = (
    ParameterPanel("frequency", "Qubit frequency"),
    ParameterPanel("x_amp", "X pulse amplitude"),
    ParameterPanel("beta", "DRAG beta"),
    ParameterPanel("t1", "T1"),
    ParameterPanel("t2", "T2 (echo)"),
)
# The names the pair graph (calibrate/graphs/two-qubit.toml) writes, stored on the pair's control
# as NAME@TARGET (calibrate/pairs.py): the rates and settings of its echoed cross-resonance gate.
# Two panels, not one per setting: ZX says the coupling and the drive moved, the amplitude what
# the calibration did about it; each figure more costs the page, most when the first pair's
# rows bring the pair panels onto an open page.
PAIR_PARAMETER_PANELS = (
    ParameterPanel("zx_rate", "ZX rate of the CR tone"),
    ParameterPanel("cr_amp", "CR tone amplitude"),
)
ESTIMATED_GATE_ERROR = "gate_error"  # what the rb node stores: RB's error per gate (a pair's: interleaved RB's)


def whose(qubit: int, target: int | None) -> str:
    """How series, nodes and the log name a qubit ("q1") or a directed pair ("pair 1-0"), given
    the store's qubit (a pair's control) and the pair's target (None for a qubit)."""
    return f"q{qubit}" if target is None else f"pair {pair_label(qubit, target)}"


def node_name(qubit: int, stored_node: str) -> tuple[str, str]:
    """(whose, node) of a stored node: ("q1", "rabi"), or ("pair 1-0", "ecr_irb") for the
    store's `ecr_irb@0` on qubit 1."""
    node, target = split_stored_name(stored_node)
    return whose(qubit, target), node


def series_colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def shared_time_range() -> DataRange1d:
    # only_visible: the view follows the qubits selected, not every qubit of the store
    return DataRange1d(only_visible=True)


def time_figure(title: str, y_label: str, *, x_range: DataRange1d, log: bool = False, height: int = 260,
                width: int = 560, series_title: str = "qubit", name: str | None = None):
    fig = figure(title=title, x_axis_type="datetime", y_axis_type="log" if log else "linear", x_range=x_range,
                 y_range=DataRange1d(only_visible=True), height=height, width=width, y_axis_label=y_label,
                 tools="pan,box_zoom,wheel_zoom,reset,save", name=name)
    fig.add_tools(HoverTool(tooltips=[(series_title, "@series"), ("time", f"@time{{{TIME_FORMAT}}}"), ("value", "$y"),
                                      ("run", "@run_id")],
                            formatters={"@time": "datetime"}))
    return fig


NODE_FIELDS = ("id", "run_id", "device", "qubit", "node", "action", "outcome", "reason", "time", "dataset_path")


def node_rows(outcomes: dict[str, list]) -> dict[str, list]:
    """Node outcome columns (StoreReader.outcomes / node_states) as nodes-table rows, with the
    colour of each outcome. A pair's node shows as the pair's (`subject` "pair 1-0", `node`
    "ecr_irb"), not as the store keeps it (`ecr_irb@0` on qubit 1); `qubit` stays the store's."""
    rows = {name: list(outcomes[name]) for name in NODE_FIELDS}
    named = [node_name(q, n) for q, n in zip(outcomes["qubit"], outcomes["node"])]
    rows["subject"] = [subject for subject, _ in named]
    rows["node"] = [node for _, node in named]
    rows["colour"] = [outcome_colour(o) for o in outcomes["outcome"]]
    return rows


def node_table(source: ColumnDataSource, *, height: int | None = None, width: int = 760,
               view: CDSView | None = None) -> DataTable:
    """Nodes coloured by their newest outcome (`view`: which rows of `source` are shown)."""
    coloured = HTMLTemplateFormatter(
        template='<div style="background:<%= colour %>; padding: 0 4px"><%= value %></div>')
    columns = [
        TableColumn(field="device", title="device", width=110),
        TableColumn(field="subject", title="qubit/pair", width=70),
        TableColumn(field="node", title="node", width=110),
        TableColumn(field="outcome", title="outcome", formatter=coloured, width=90),
        TableColumn(field="action", title="action", width=80),
        TableColumn(field="reason", title="reason", width=260),
        TableColumn(field="time", title="time (UTC)", formatter=DateFormatter(format=TIME_FORMAT), width=140),
        TableColumn(field="run_id", title="run", formatter=NumberFormatter(format="0"), width=40),
    ]
    if height is None:  # as tall as the rows, up to a scrolling 300 px
        height = min(300, 30 + 26 * max(1, len(source.data["id"])))
    return DataTable(source=source, columns=columns, height=height, width=width, index_position=None,
                     selectable=True, name="nodes-table", view=view or CDSView())


def dataset_figure(points: ColumnDataSource, fits: ColumnDataSource, *, title: str, x_label: str, y_label: str,
                   width: int = 620, height: int = 360):
    """A node's data (with binomial error bars) and its fitted curves."""
    fig = figure(title=title, width=width, height=height, x_axis_label=x_label, y_axis_label=y_label,
                 y_range=Range1d(-0.05, 1.05), tools="pan,box_zoom,wheel_zoom,reset,save,hover")
    fig.scatter("x", "p", source=points, color="colour", size=5)
    fig.add_layout(Whisker(source=points, base="x", lower="low", upper="high", line_color="colour"))
    fig.multi_line("xs", "ys", source=fits, line_color="colour", line_width=2)
    return fig


def training_figure(source: ColumnDataSource, *, title: str, width: int = 560, height: int = 280):
    """A learned controller's training: loss and validation error against the step."""
    fig = figure(title=title, y_axis_type="log", width=width, height=height, x_axis_label="step",
                 tools="pan,box_zoom,wheel_zoom,reset,save,hover")
    fig.line("step", "loss", source=source, color=PALETTE[0], line_width=2, legend_label="training loss")
    fig.line("step", "validation_error", source=source, color=PALETTE[2], line_width=2, line_dash="dashed",
             legend_label="validation error")
    fig.legend.location = "top_right"
    fig.legend.click_policy = "hide"
    return fig


def iq_figure(points: ColumnDataSource, boundary: ColumnDataSource, *, title: str = "IQ points", width: int = 560,
              height: int = 420, name: str | None = None):
    """Single shots in the IQ plane coloured by prepared state, and a discriminator's boundary
    line. Equal scales on I and Q, so that the boundary meets the line between the blobs at its
    true angle."""
    fig = figure(title=title, width=width, height=height, x_axis_label="I", y_axis_label="Q", match_aspect=True,
                 tools="pan,box_zoom,wheel_zoom,reset,save", name=name)
    fig.scatter("i", "q", source=points, color="colour", size=3, alpha=0.35, legend_field="label")
    fig.line("i", "q", source=boundary, color="black", line_width=2, line_dash="dashed",
             legend_label="stored boundary")
    fig.legend.location = "top_right"
    fig.legend.background_fill_alpha = 0.6  # the blobs may lie under it
    fig.legend.click_policy = "hide"
    return fig
