"""Readout on the dashboard and in reports: the assignment fidelity over time, the newest
assignment matrix of each qubit, and single-shot IQ points with the stored discriminator.

The readout graph's `discriminator` node (calibrate/graphs/readout.toml) stores readout_angle,
readout_threshold, assignment_fidelity, readout_p01 and readout_p10; its `single_shot`
datasets hold `iq` with dims (prepared, shot, qubit, quadrature). The fidelity is drawn with
its stderr on the history panels' time axis, in their colours and for their choice of qubits.
The matrix is P(read j | prepared i) = [[1 - p01, p01], [p10, 1 - p10]] from the newest p01
and p10. The IQ panel draws at most MAX_IQ_POINTS shots of each prepared state from the
newest single-shot dataset of the node (its calibrations': its check reads discriminated
counts), with the boundary I cos(angle) + Q sin(angle) = threshold of the newest stored values.

Like the pair panels, these are made when the first readout value comes and join the page
then: a store without readout values opens as fast as before and shows no empty panels. They
are laid out in rows and columns, never a gridplot: BokehJS does not paint a gridplot added
to an open page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, Div, Select

from dashboards.data import Columns, empty
from experiments.plotting import MAX_IQ_POINTS, decision_boundary, subsample
from dashboards.figures import iq_figure, time_figure
from dashboards.history import VALUE_FIELDS, HistoryPanels, SeriesKey, SeriesPanel, Trace, figure_name, split_rows

ASSIGNMENT_FIDELITY = "assignment_fidelity"
READOUT_PARAMETERS = (ASSIGNMENT_FIDELITY, "readout_p01", "readout_p10", "readout_angle", "readout_threshold")
DISCRIMINATOR_NODE = "discriminator"
SINGLE_SHOT = "single_shot"
FIDELITY = "readout|assignment_fidelity"  # the fidelity's points source
IQ_PANEL = "readout-iq"
IQ_COLUMNS = ("i", "q", "colour", "label")
BOUNDARY_COLUMNS = ("i", "q")
STATE_COLOURS = ("#1f77b4", "#d62728")  # prepared 0, prepared 1


def assignment_matrix(p01: float, p10: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """P(read j | prepared i), as row i."""
    return (1.0 - p01, p01), (p10, 1.0 - p10)


def boundary_segment(angle: float, threshold: float, i: np.ndarray, q: np.ndarray) -> Columns:
    """The ends of the line I cos(angle) + Q sin(angle) = threshold across the points (i, q), a
    tenth longer on each side, as `calibrate experiment --plot` draws it; none without points."""
    ends = decision_boundary(angle, threshold, np.column_stack([i, q])) if len(i) else None
    if ends is None:
        return empty(BOUNDARY_COLUMNS)
    return {"i": [float(e[0]) for e in ends], "q": [float(e[1]) for e in ends]}


@dataclass(frozen=True)
class IQBlobs:
    """What an IQ panel draws: shots (IQ_COLUMNS), the boundary's ends, and a note."""

    note: str
    points: Columns = field(default_factory=lambda: empty(IQ_COLUMNS))
    boundary: Columns = field(default_factory=lambda: empty(BOUNDARY_COLUMNS))


def iq_blobs(path: str, qubit: int, *, angle: float | None, threshold: float | None,
             max_points: int = MAX_IQ_POINTS) -> IQBlobs:
    """The shots of `qubit` in the single-shot dataset at `path` and the boundary (angle,
    threshold; None: none stored). A missing or unreadable file is a note, not an error: the
    store may outlive its datasets."""
    from experiments.storage import DatasetFileError, load_dataset

    try:
        iq = load_dataset(path)["iq"].sel(qubit=qubit, quadrature=["I", "Q"])
        iq = iq.transpose("prepared", "shot", "quadrature")
        states, shots = [int(p) for p in iq["prepared"].values], np.asarray(iq.values, dtype=float)
    except DatasetFileError as exc:
        return IQBlobs(str(exc))
    except (KeyError, ValueError) as exc:  # another experiment's data, or not of this qubit
        return IQBlobs(f"Dataset {path} holds no single-shot IQ points of qubit {qubit} ({exc}).")
    keep = subsample(np.arange(shots.shape[1]), max_points)  # the same shots at every redraw
    shown = shots[:, keep]  # (state, shot, quadrature)
    points = {"i": shown[..., 0].ravel(), "q": shown[..., 1].ravel(),
              "colour": [STATE_COLOURS[k % len(STATE_COLOURS)] for k in range(len(states)) for _ in keep],
              "label": [f"prepared {state}" for state in states for _ in keep]}
    note = f"{len(keep)} of {shots.shape[1]} shots of each prepared state, from {path}."
    if angle is None or threshold is None:
        return IQBlobs(f"{note} No stored readout_angle and readout_threshold to draw a boundary with.", points)
    return IQBlobs(f"{note} Boundary: I cos(a) + Q sin(a) = t with the stored a = {angle:.4g} rad, "
                   f"t = {threshold:.4g}.", points, boundary_segment(angle, threshold, points["i"], points["q"]))


def matrix_html(label: str, matrix, fidelity: tuple[float, float | None] | None) -> str:
    """One qubit's assignment matrix as a small table, under its name and fidelity ± stderr."""
    rows = "".join(f"<tr><th>{i}</th>{''.join(f'<td>{p:.4f}</td>' for p in matrix[i])}</tr>" for i in (0, 1))
    caption = ""
    if fidelity is not None:
        value, stderr = fidelity
        caption = f" F = {value:.4f}" + ("" if stderr is None else f" ± {stderr:.4f}")
    return (f"<div style='display: inline-block; margin: 0 20px 10px 0'><b>{html.escape(label)}</b>{caption}"
            "<table cellpadding='3' style='border-collapse: collapse; text-align: right'>"
            f"<tr><th>prepared \\ read</th><th>0</th><th>1</th></tr>{rows}</table></div>")


class IQPanel:
    """One IQ figure with its note; reads a dataset again only when what it shows changed."""

    def __init__(self, name: str, *, width: int):
        self.points = ColumnDataSource(empty(IQ_COLUMNS), name=f"{name}|points")
        self.boundary = ColumnDataSource(empty(BOUNDARY_COLUMNS), name=f"{name}|boundary")
        self.figure = iq_figure(self.points, self.boundary, width=width, name=figure_name(name))
        self.note = Div(text="", width=width, name=f"{name}|note")
        self._shown: tuple | None = None

    def show(self, key: SeriesKey | None, what: tuple[str, float | None, float | None] | None) -> None:
        """Draw `key`'s shots from (dataset path, angle, threshold)."""
        if (key, what) == self._shown:
            return
        self._shown = (key, what)
        if key is None or what is None:
            blobs = IQBlobs("No single-shot dataset of the discriminator yet.")
        else:
            path, angle, threshold = what
            blobs = iq_blobs(path, key.qubit, angle=angle, threshold=threshold)
        self.points.data, self.boundary.data = blobs.points, blobs.boundary
        self.figure.title.text = "IQ points" + ("" if key is None else f": {key.label}, newest single-shot dataset")
        self.note.text = html.escape(blobs.note)


class ReadoutPanels:
    """The readout section of a page (`live`: one IQ panel and a choice of qubit) or of a
    report (an IQ panel per qubit), made with the first readout value (see the module)."""

    def __init__(self, history: HistoryPanels, *, live: bool = True, width: int = 560):
        self._history, self._live, self._width = history, live, width
        # the newest by id, not by arrival: on PostgreSQL a late commit may come after a newer row
        self.values: dict[SeriesKey, dict[str, tuple[int, float, float | None]]] = {}  # name -> (id, value, stderr)
        self.datasets: dict[SeriesKey, tuple[int, str]] = {}  # the newest single-shot dataset: (outcome id, path)
        # made with the first readout value
        self.section = self.fidelity = self.matrices = self.iq_choice = self._iq_column = None
        self.iq: dict[SeriesKey | None, IQPanel] = {}  # live: one, under None
        self._holders: list = []  # layouts made before the section: they get it when it is made
        self._chosen: set[SeriesKey] | None = None  # None: every qubit
        self._stale = False  # added since the last redraw

    def layout(self):
        holder = column(*([] if self.section is None else [self.section]))
        if self.section is None:
            self._holders.append(holder)
        return holder

    def add_values(self, values: Columns) -> None:
        """Take value rows (StoreReader.parameter_rows; names other than READOUT_PARAMETERS are
        left out) and stream the fidelities; the matrices and IQ points wait for `redraw`."""
        for i, name in enumerate(values["name"]):
            if name in READOUT_PARAMETERS:
                newest = self.values.setdefault(SeriesKey(values["device"][i], values["qubit"][i]), {})
                if name not in newest or newest[name][0] < values["id"][i]:
                    newest[name] = (values["id"][i], values["value"][i], values["stderr"][i])
                    self._stale = True
        if not self.values:
            return
        if self.section is None:
            self._build()
            for holder in self._holders:  # before the rows: the figures arrive empty
                holder.children = [self.section]
            self._holders.clear()
        fidelity = [i for i, name in enumerate(values["name"]) if name == ASSIGNMENT_FIDELITY]
        if fidelity:
            rows = {c: [v[i] for i in fidelity] for c, v in values.items()}
            for (_, key), batch in split_rows(rows, VALUE_FIELDS, by_name=True).items():
                self.fidelity.add(key.label, batch)

    def add_datasets(self, outcomes: Columns) -> None:
        """Take node outcomes (StoreReader.outcomes, newest_datasets): those with a single-shot
        dataset of the discriminator are kept; the IQ points wait for `redraw`."""
        for i, path in enumerate(outcomes["dataset_path"]):
            if path and outcomes["node"][i] == DISCRIMINATOR_NODE and outcomes["experiment"][i] == SINGLE_SHOT:
                key = SeriesKey(outcomes["device"][i], outcomes["qubit"][i])
                if key not in self.datasets or self.datasets[key][0] < outcomes["id"][i]:
                    self.datasets[key] = (outcomes["id"][i], path)
                    self._stale = True

    def redraw(self) -> None:
        """Show what was added since the last redraw: once per refresh, since a discriminator's
        values and its dataset come together and each IQ redraw reads a file."""
        if not self._stale or self.section is None:
            return
        self._stale = False
        self.matrices.text = self._matrices_html()
        if self._live:
            options = [key.label for key in sorted(self.datasets)]
            if self.iq_choice.options != options:
                self.iq_choice.options = options
            if self.iq_choice.value not in options and options:  # at first: the qubit of the newest dataset
                self.iq_choice.value = max(self.datasets, key=lambda k: self.datasets[k][0]).label
        self._draw_iq()

    def show(self, keys: set[SeriesKey] | None) -> None:
        """The matrices of only these qubits (None: all)."""
        self._chosen = keys
        if self.section is not None:
            self.matrices.text = self._matrices_html()

    def newest_matrices(self) -> dict[SeriesKey, tuple]:
        """The newest assignment matrix of each qubit with a stored readout_p01 and readout_p10."""
        return {key: assignment_matrix(self.values[key]["readout_p01"][1], self.values[key]["readout_p10"][1])
                for key in sorted(self.values) if {"readout_p01", "readout_p10"} <= self.values[key].keys()}

    def _build(self) -> None:
        history = self._history
        fig = time_figure("Readout assignment fidelity (± stderr)", ASSIGNMENT_FIDELITY, x_range=history.time_range,
                          width=self._width, name=figure_name(FIDELITY))
        self.fidelity = SeriesPanel(fig, FIDELITY, VALUE_FIELDS, (Trace("value", size=5),), colours=history.colours,
                                    shown=history.shown, error_bars=True)
        self.matrices = Div(text="", width=self._width, name="readout-matrices")
        heading = Div(text="<b>Assignment matrices</b>: P(read j | prepared i), newest stored", width=self._width)
        matrices = column(heading, self.matrices)
        if self._live:
            self.iq_choice = Select(title="IQ points of", options=[], value="", width=300)
            self.iq_choice.on_change("value", lambda attr, old, new: self._draw_iq())
            panel = self.iq[None] = IQPanel(IQ_PANEL, width=self._width)
            self._iq_column = column(self.iq_choice, panel.figure, panel.note)
        else:
            self._iq_column = column()
        self.section = column(row(fig, matrices), self._iq_column, name="readout-panels")

    def _matrices_html(self) -> str:
        shown = [(key, matrix) for key, matrix in self.newest_matrices().items()
                 if self._chosen is None or key in self._chosen]
        if not shown:
            return "No qubit chosen has a stored readout_p01 and readout_p10."
        return "".join(matrix_html(key.label, matrix, self._value(key, ASSIGNMENT_FIDELITY)) for key, matrix in shown)

    def _value(self, key: SeriesKey, name: str) -> tuple[float, float | None] | None:
        newest = self.values.get(key, {}).get(name)
        return None if newest is None else newest[1:]

    def _draw_iq(self) -> None:
        if self._live:
            key = next((k for k in self.datasets if k.label == self.iq_choice.value), None)
            self.iq[None].show(key, self._iq_input(key))
            return
        for key in sorted(self.datasets):
            if key not in self.iq:
                self.iq[key] = IQPanel(f"{IQ_PANEL}|{key.label}", width=self._width)
                self._iq_column.children = [*self._iq_column.children, self.iq[key].figure, self.iq[key].note]
            self.iq[key].show(key, self._iq_input(key))

    def _iq_input(self, key: SeriesKey | None) -> tuple[str, float | None, float | None] | None:
        if key not in self.datasets:
            return None
        newest = self.values.get(key, {})
        angle, threshold = (newest[name][1] if name in newest else None
                            for name in ("readout_angle", "readout_threshold"))
        return self.datasets[key][1], angle, threshold
