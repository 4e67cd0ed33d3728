"""Fidelity and calibrated parameters over time, one colour per qubit.

Each panel keeps all its points in one ColumnDataSource (named `parameter|NAME`,
`fidelity|estimated`, `fidelity|truth`) with a `series` column naming the qubit, and its
lines in a companion source (`...|lines|COLUMN`, one row per qubit). New records are
streamed into the points source; only the lines of the qubits that got a point are re-sent.
A shared filter shows the qubits chosen. One renderer per panel rather than per qubit keeps
a store of 20 qubits x 90 nights opening in well under a second: building and sending
Bokeh models, not the data, is what costs.

The report fills the same panels once; the dashboard keeps streaming into them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from bokeh.layouts import column, gridplot
from bokeh.models import (CategoricalColorMapper, CDSView, ColumnDataSource, Div, GlyphRenderer, GroupFilter,
                          IndexFilter, MultiLine, Scatter, UnionFilter)

from dashboards.data import Columns
from dashboards.figures import (ESTIMATED_GATE_ERROR, PARAMETER_PANELS, series_colour, shared_time_range,
                                time_figure)

# what the history panels draw: RB's estimate in the fidelity panel, the rest one panel each
TRACKED_PARAMETERS = (ESTIMATED_GATE_ERROR, *(p.name for p in PARAMETER_PANELS))
VALUE_FIELDS = ("id", "time", "value", "stderr", "run_id")
TRUTH_FIELDS = ("time", "gate_error", "coherence_limit", "run_id")
ESTIMATED = "fidelity|estimated"
TRUTH = "fidelity|truth"


@dataclass(frozen=True, order=True)
class SeriesKey:
    """Whose series: one qubit of one device (as the store names it: NAME/seed-N for seeded devices)."""

    device: str
    qubit: int

    @property
    def label(self) -> str:
        return f"{self.device} q{self.qubit}"


def parameter_source_name(name: str) -> str:
    return f"parameter|{name}"


def lines_source_name(points_name: str, y: str) -> str:
    return f"{points_name}|lines|{y}"


@dataclass(frozen=True)
class Trace:
    """One column of a panel's points, drawn as markers, with a line per qubit unless line_dash is None."""

    y: str
    marker: str = "circle"
    size: int = 6
    line_dash: str | None = "solid"


class SeriesPanel:
    """The points of one kind (one parameter, the RB estimate, the truth) in one figure."""

    def __init__(self, fig, name: str, fields: tuple[str, ...], traces: tuple[Trace, ...], *,
                 colours: CategoricalColorMapper, shown: UnionFilter):
        self.fig, self.fields, self.traces = fig, fields, traces
        self.points = ColumnDataSource({"series": [], **{f: np.empty(0) for f in fields}}, name=name)
        self.lines: dict[str, ColumnDataSource] = {}
        self._line_rows: dict[str, int] = {}  # series label -> row of the lines sources
        colour = {"field": "series", "transform": colours}
        for trace in traces:
            if trace.line_dash is not None:
                lines = ColumnDataSource({"series": [], "xs": [], "ys": []}, name=lines_source_name(name, trace.y))
                self.lines[trace.y] = lines
                fig.renderers.append(GlyphRenderer(
                    data_source=lines, view=CDSView(filter=shown),
                    glyph=MultiLine(xs="xs", ys="ys", line_color=colour, line_dash=trace.line_dash, line_width=1.5)))
            fig.renderers.append(GlyphRenderer(
                data_source=self.points, view=CDSView(filter=shown),
                glyph=Scatter(x="time", y=trace.y, marker=trace.marker, size=trace.size, fill_color=colour,
                              line_color=colour, line_width=2 if trace.marker == "dash" else 1)))

    def add(self, label: str, rows: dict[str, np.ndarray]) -> None:
        """Append one qubit's new rows (arrays of `fields`)."""
        n = len(rows["time"])
        self.points.stream({"series": [label] * n, **rows})
        for y, lines in self.lines.items():
            row = self._line_rows.get(label)
            if row is None:
                self._line_rows[label] = len(lines.data["series"])
                lines.stream({"series": [label], "xs": [rows["time"]], "ys": [rows[y]]})
            else:
                lines.patch({"xs": [(row, np.concatenate([lines.data["xs"][row], rows["time"]]))],
                             "ys": [(row, np.concatenate([lines.data["ys"][row], rows[y]]))]})


def _split(columns: Columns, fields: tuple[str, ...], by_name: bool) -> dict[tuple, dict[str, np.ndarray]]:
    """Rows grouped by ((name,) device, qubit), each group as float arrays of `fields` (None as
    NaN): Bokeh sends arrays as binary buffers, lists number by number."""
    rows: dict[tuple, list[int]] = defaultdict(list)
    names = columns["name"] if by_name else [None] * len(columns["device"])
    for i, (device, qubit, name) in enumerate(zip(columns["device"], columns["qubit"], names)):
        rows[(name, SeriesKey(device, qubit))].append(i)
    return {group: {f: np.array([columns[f][i] for i in indices], dtype=float) for f in fields}
            for group, indices in rows.items()}


class HistoryPanels:
    """The fidelity panel and one panel per calibrated parameter, sharing a time axis and a
    choice of qubits."""

    def __init__(self, *, width: int = 560):
        time_range = shared_time_range()
        self.colours = CategoricalColorMapper(factors=[], palette=[])
        self.shown = UnionFilter(operands=[IndexFilter(indices=[])])
        self.fidelity = time_figure("Gate error: ● RB estimate   ▲ true (simulated)   — coherence limit",
                                    "error per gate", x_range=time_range, log=True, width=2 * width, height=320)
        self.key = Div(text="", width=2 * width, name="series-key")
        common = {"colours": self.colours, "shown": self.shown}
        self.panels = {
            ESTIMATED: SeriesPanel(self.fidelity, ESTIMATED, VALUE_FIELDS, (Trace("value"),), **common),
            TRUTH: SeriesPanel(self.fidelity, TRUTH, TRUTH_FIELDS,
                               (Trace("gate_error", marker="triangle", line_dash="dashed"),
                                Trace("coherence_limit", marker="dash", size=12, line_dash=None)), **common),
        }
        self.parameters = {}
        for p in PARAMETER_PANELS:
            fig = time_figure(p.title, p.name, x_range=time_range, width=width)
            self.parameters[p.name] = fig
            self.panels[parameter_source_name(p.name)] = SeriesPanel(
                fig, parameter_source_name(p.name), VALUE_FIELDS, (Trace("value", size=5),), **common)
        self._keys: list[SeriesKey] = []
        self._chosen: set[SeriesKey] | None = None  # None: every qubit

    @property
    def keys(self) -> list[SeriesKey]:
        return sorted(self._keys)

    @property
    def sources(self) -> dict[str, ColumnDataSource]:
        """Every points and lines source, by name."""
        out = {}
        for panel in self.panels.values():
            out[panel.points.name] = panel.points
            out.update({lines.name: lines for lines in panel.lines.values()})
        return out

    def layout(self, *, skip_empty: bool = False):
        """The panels; with `skip_empty`, without parameters that have no values (a report of a
        graph that never calibrates them). The live page keeps them: values may still come."""
        shown = [fig for name, fig in self.parameters.items()
                 if not skip_empty or len(self.panels[parameter_source_name(name)].points.data["time"])]
        figures = [self.fidelity, self.key]
        if shown:
            figures.append(gridplot(shown, ncols=2, merge_tools=False))
        return column(*figures)

    def add(self, parameters: Columns, truth: Columns) -> list[SeriesKey]:
        """Add value rows (StoreReader.parameter_rows) and truth rows (data.truth_columns); returns
        the qubits seen for the first time."""
        for name, unit in dict(zip(parameters["name"], parameters["unit"])).items():
            if name in self.parameters and unit:
                self.parameters[name].yaxis.axis_label = f"{name} [{unit}]"
        batches = [(ESTIMATED if name == ESTIMATED_GATE_ERROR else parameter_source_name(name), key, rows)
                   for (name, key), rows in _split(parameters, VALUE_FIELDS, by_name=True).items()]
        batches += [(TRUTH, key, rows) for (_, key), rows in _split(truth, TRUTH_FIELDS, by_name=False).items()]
        new = sorted({key for _, key, _ in batches} - set(self._keys))
        if new:
            self._keys.extend(new)
            self.colours.palette = [series_colour(i) for i in range(len(self._keys))]
            self.colours.factors = [k.label for k in self._keys]  # colours stay with the qubit: in order seen
            self._update_key()
            if self._chosen is None:
                self.show(None)
        for panel, key, rows in sorted(batches, key=lambda batch: (batch[0], batch[1])):
            if panel in self.panels:
                self.panels[panel].add(key.label, rows)
        return new

    def show(self, keys: Iterable[SeriesKey] | None) -> None:
        """Show only these qubits (None: all, including those still to come)."""
        self._chosen = None if keys is None else set(keys)
        chosen = self._keys if keys is None else sorted(self._chosen)
        self.shown.operands = ([GroupFilter(column_name="series", group=k.label) for k in chosen]
                               or [IndexFilter(indices=[])])

    def _update_key(self) -> None:
        self.key.text = "Qubits: " + " ".join(
            f"<span style='white-space: nowrap'><span style='color: {series_colour(i)}'>■</span> {k.label}</span>"
            for i, k in enumerate(self._keys))
