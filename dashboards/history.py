"""Fidelity and calibrated parameters over time, one colour per qubit or pair.

Each panel keeps all its points in one ColumnDataSource (named `parameter|NAME`,
`fidelity|estimated`, `fidelity|truth`) with a `series` column naming the qubit, and its
lines in a companion source (`...|lines|COLUMN`, one row per qubit). New records are
streamed into the points source; only the lines of the qubits that got a point are re-sent.
A shared filter shows the qubits chosen. One renderer per panel rather than per qubit keeps
a store of 20 qubits x 90 nights opening in well under a second: building and sending
Bokeh models, not the data, is what costs.

Pairs (two-qubit gates) get panels of their own, built the same way: `pair-fidelity|...`
for the ECR's error and `pair-parameter|NAME` for its settings. The store keeps a pair's
values on its control qubit as NAME@TARGET (calibrate/pairs.py); rows are routed by that
name, so a pair's `gate_error@0` never lands among the qubits' `gate_error`. The pair
panels are made when the first pair's rows come, and join the page then: a store without
pairs opens as fast as before and shows no empty pair panels. The readout panels (readout.py)
share the time axis, the colours and the choice of qubits.

The report fills the same panels once; the dashboard keeps streaming into them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from bokeh.layouts import column, gridplot, row
from bokeh.models import (CategoricalColorMapper, CDSView, ColumnDataSource, Div, GlyphRenderer, GroupFilter,
                          IndexFilter, MultiLine, Scatter, Segment, UnionFilter)

from calibrate.pairs import split_stored_name
from dashboards.data import Columns
from dashboards.figures import (ESTIMATED_GATE_ERROR, PAIR_PARAMETER_PANELS, PARAMETER_PANELS, ParameterPanel,
                                series_colour, shared_time_range, time_figure, whose)

# what the history panels draw: RB's estimate in the fidelity panel, the rest one panel each;
# for pairs (StoreReader.parameter_rows' pair_names) likewise, in the pair panels
TRACKED_PARAMETERS = (ESTIMATED_GATE_ERROR, *(p.name for p in PARAMETER_PANELS))
TRACKED_PAIR_PARAMETERS = (ESTIMATED_GATE_ERROR, *(p.name for p in PAIR_PARAMETER_PANELS))
VALUE_FIELDS = ("id", "time", "value", "stderr", "run_id")
TRUTH_FIELDS = ("time", "gate_error", "coherence_limit", "run_id")
ESTIMATED = "fidelity|estimated"
TRUTH = "fidelity|truth"
PAIR_ESTIMATED = "pair-fidelity|estimated"
PAIR_TRUTH = "pair-fidelity|truth"


@dataclass(frozen=True)
class SeriesKey:
    """Whose series: one qubit of one device (as the store names it: NAME/seed-N for seeded
    devices), or one directed pair of it (`qubit` its control, as the store keeps it)."""

    device: str
    qubit: int
    target: int | None = None  # a pair's target; None for a qubit's own series

    @property
    def is_pair(self) -> bool:
        return self.target is not None

    @property
    def label(self) -> str:
        return f"{self.device} {whose(self.qubit, self.target)}"

    def __lt__(self, other: SeriesKey) -> bool:
        # per device, its qubits and then its pairs
        return self._order() < other._order()

    def _order(self) -> tuple:
        return self.device, self.is_pair, self.qubit, -1 if self.target is None else self.target


def parameter_source_name(name: str, *, pair: bool = False) -> str:
    return f"pair-parameter|{name}" if pair else f"parameter|{name}"


def figure_name(points_name: str) -> str:
    """The name of the figure that draws the points source `points_name` (the fidelity figures:
    that of their estimate)."""
    return f"figure|{points_name}"


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
    """The points of one kind (one parameter, the RB estimate, the truth) in one figure; with
    `error_bars`, each `value` with a bar of ± its `stderr` (columns `low` and `high`)."""

    def __init__(self, fig, name: str, fields: tuple[str, ...], traces: tuple[Trace, ...], *,
                 colours: CategoricalColorMapper, shown: UnionFilter, error_bars: bool = False):
        self.error_bars = error_bars
        fields = (*fields, "low", "high") if error_bars else fields
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
        if error_bars:
            fig.renderers.append(GlyphRenderer(data_source=self.points, view=CDSView(filter=shown),
                                               glyph=Segment(x0="time", y0="low", x1="time", y1="high",
                                                             line_color=colour)))

    def add(self, label: str, rows: dict[str, np.ndarray]) -> None:
        """Append one qubit's new rows (arrays of `fields`; `low` and `high` are made here)."""
        if self.error_bars:  # a missing stderr (NaN) draws no bar
            rows = {**rows, "low": rows["value"] - rows["stderr"], "high": rows["value"] + rows["stderr"]}
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


def split_rows(columns: Columns, fields: tuple[str, ...], by_name: bool) -> dict[tuple, dict[str, np.ndarray]]:
    """Rows grouped by (name, SeriesKey), each group as float arrays of `fields` (None as NaN):
    Bokeh sends arrays as binary buffers, lists number by number. With `by_name` the stored name
    says the pair (NAME@TARGET: name NAME, the pair's key); without, name is None and the
    `target` column does (truth rows)."""
    rows: dict[tuple, list[int]] = defaultdict(list)
    for i, (device, qubit) in enumerate(zip(columns["device"], columns["qubit"])):
        name, target = split_stored_name(columns["name"][i]) if by_name else (None, columns["target"][i])
        rows[(name, SeriesKey(device, qubit, target))].append(i)
    return {group: {f: np.array([columns[f][i] for i in indices], dtype=float) for f in fields}
            for group, indices in rows.items()}


PAIR_PANELS = frozenset({PAIR_ESTIMATED, PAIR_TRUTH, *(parameter_source_name(p.name, pair=True)
                                                        for p in PAIR_PARAMETER_PANELS)})


def _panel_name(name: str | None, key: SeriesKey) -> str:
    """Which panel a group of rows goes to: a value row by its name (None: truth rows)."""
    if name is None:
        return PAIR_TRUTH if key.is_pair else TRUTH
    if name == ESTIMATED_GATE_ERROR:
        return PAIR_ESTIMATED if key.is_pair else ESTIMATED
    return parameter_source_name(name, pair=key.is_pair)


class HistoryPanels:
    """The fidelity panel and one panel per calibrated parameter, sharing a time axis and a
    choice of qubits; the same for pairs, below them, once a pair has values."""

    def __init__(self, *, width: int = 560):
        self._width = width
        self.time_range = shared_time_range()  # shared with the readout panels (readout.py) too
        self.colours = CategoricalColorMapper(factors=[], palette=[])
        self.shown = UnionFilter(operands=[IndexFilter(indices=[])])
        self.key = Div(text="", width=2 * width, name="series-key")
        self.panels: dict[str, SeriesPanel] = {}
        self.fidelity = self._fidelity_figure(
            "Gate error: ● RB estimate   ▲ true (simulated)   — coherence limit", ESTIMATED, TRUTH, "qubit")
        self.parameters = self._parameter_figures(PARAMETER_PANELS, pair=False)
        # Built when the first pair's rows come (_build_pair_panels): built at once, their figures
        # would cost a store without pairs a third to a half again its opening time
        # (bench/dashboard_open.py), for panels that stay empty.
        self.pair_fidelity = None
        self.pair_parameters: dict = {}
        self._waiting_layouts: list[tuple] = []  # (layout, skip_empty) made before any pair: they get the pair panels
        self._keys: list[SeriesKey] = []
        self._chosen: set[SeriesKey] | None = None  # None: every qubit

    def _fidelity_figure(self, title: str, estimated: str, truth: str, series_title: str):
        fig = time_figure(title, "error per gate", x_range=self.time_range, log=True, width=2 * self._width,
                          height=320, series_title=series_title, name=figure_name(estimated))
        common = {"colours": self.colours, "shown": self.shown}
        self.panels[estimated] = SeriesPanel(fig, estimated, VALUE_FIELDS, (Trace("value"),), **common)
        self.panels[truth] = SeriesPanel(fig, truth, TRUTH_FIELDS,
                                         (Trace("gate_error", marker="triangle", line_dash="dashed"),
                                          Trace("coherence_limit", marker="dash", size=12, line_dash=None)), **common)
        return fig

    def _parameter_figures(self, panels: tuple[ParameterPanel, ...], *, pair: bool) -> dict:
        figures = {}
        for p in panels:
            source = parameter_source_name(p.name, pair=pair)
            figures[p.name] = time_figure(p.title, p.name, x_range=self.time_range, width=self._width,
                                          series_title="pair" if pair else "qubit", name=figure_name(source))
            self.panels[source] = SeriesPanel(figures[p.name], source, VALUE_FIELDS, (Trace("value", size=5),),
                                              colours=self.colours, shown=self.shown)
        return figures

    def _build_pair_panels(self) -> None:
        if self.pair_fidelity is not None:
            return
        self.pair_fidelity = self._fidelity_figure(
            "Two-qubit (ECR) gate error: ● interleaved RB estimate   ▲ true (simulated)   — coherence limit",
            PAIR_ESTIMATED, PAIR_TRUTH, "pair")
        self.pair_parameters = self._parameter_figures(PAIR_PARAMETER_PANELS, pair=True)

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
        graph that never calibrates them). The live page keeps them: values may still come. The
        pair panels are there once a pair has values; a layout made before joins them then."""
        parts = [self.fidelity, self.key, *self._grid(self.parameters, pair=False, skip_empty=skip_empty)]
        if self.pair_fidelity is not None:
            parts.append(self._pair_section(skip_empty))
        layout = column(*parts)
        if self.pair_fidelity is None:
            self._waiting_layouts.append((layout, skip_empty))
        return layout

    def _shown(self, figures: dict, *, pair: bool, skip_empty: bool) -> list:
        return [fig for name, fig in figures.items()
                if not skip_empty or len(self.panels[parameter_source_name(name, pair=pair)].points.data["time"])]

    def _grid(self, figures: dict, *, pair: bool, skip_empty: bool) -> list:
        shown = self._shown(figures, pair=pair, skip_empty=skip_empty)
        return [gridplot(shown, ncols=2, merge_tools=False)] if shown else []

    def _pair_section(self, skip_empty: bool):
        # a row, not a gridplot: BokehJS 3.9 lays out a gridplot added to an open page but never
        # paints its figures (test_dashboard_browser checks that the pair figures are drawn)
        shown = self._shown(self.pair_parameters, pair=True, skip_empty=skip_empty)
        return column(self.pair_fidelity, *([row(*shown)] if shown else []), name="pair-panels")

    def add(self, parameters: Columns, truth: Columns) -> list[SeriesKey]:
        """Add value rows (StoreReader.parameter_rows, pairs' as stored: NAME@TARGET) and truth rows
        (data.truth_columns); returns the qubits and pairs seen for the first time. Rows of names
        no panel here draws are left out, but their qubits are series all the same: the readout
        panels (readout.py) draw theirs in these colours and follow this choice of qubits."""
        batches = [(_panel_name(name, key), key, rows)
                   for (name, key), rows in split_rows(parameters, VALUE_FIELDS, by_name=True).items()]
        batches += [(_panel_name(None, key), key, rows)
                    for (_, key), rows in split_rows(truth, TRUTH_FIELDS, by_name=False).items()]
        seen = {key for _, key, _ in batches}
        batches = [batch for batch in batches if batch[0] in self.panels or batch[0] in PAIR_PANELS]
        if self.pair_fidelity is None and any(key.is_pair for _, key, _ in batches):
            self._build_pair_panels()
            for layout, skip_empty in self._waiting_layouts:  # before the rows: the figures arrive empty
                layout.children = [*layout.children, self._pair_section(skip_empty)]
            self._waiting_layouts.clear()
        for stored, unit in dict(zip(parameters["name"], parameters["unit"])).items():
            name, target = split_stored_name(stored)
            figure = (self.parameters if target is None else self.pair_parameters).get(name)
            if figure is not None and unit:
                figure.yaxis.axis_label = f"{name} [{unit}]"
        new = sorted(seen - set(self._keys))
        if new:
            self._keys.extend(new)
            self.colours.palette = [series_colour(i) for i in range(len(self._keys))]
            self.colours.factors = [k.label for k in self._keys]  # colours stay with the series: in order seen
            self._update_key()
            if self._chosen is None:
                self.show(None)
        for panel, key, rows in sorted(batches, key=lambda batch: (batch[0], batch[1])):
            self.panels[panel].add(key.label, rows)
        return new

    def show(self, keys: Iterable[SeriesKey] | None) -> None:
        """Show only these qubits and pairs (None: all, including those still to come)."""
        self._chosen = None if keys is None else set(keys)
        chosen = self._keys if keys is None else sorted(self._chosen)
        self.shown.operands = ([GroupFilter(column_name="series", group=k.label) for k in chosen]
                               or [IndexFilter(indices=[])])

    def _update_key(self) -> None:
        def item(i: int, key: SeriesKey) -> str:
            return (f"<span style='white-space: nowrap'><span style='color: {series_colour(i)}'>■</span> "
                    f"{key.label}</span>")

        groups = [f"Qubits: {' '.join(item(i, k) for i, k in enumerate(self._keys) if not k.is_pair)}"]
        if self.pair_fidelity is not None:
            groups.append(f"Pairs: {' '.join(item(i, k) for i, k in enumerate(self._keys) if k.is_pair)}")
        self.key.text = " &nbsp; ".join(groups)
