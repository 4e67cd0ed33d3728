"""The live dashboard: one Bokeh document per browser page, kept current by polling the store.

A periodic callback asks the store for the rows it has not shown yet (ids above the newest
seen, see data.NewRows) and streams them into the sources of their series and of the nodes
table, and redraws the small job and log panels only when they changed. A
page therefore follows a run or a nightly job as it writes, within one refresh period,
without reloading and without re-sending what it already has.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bokeh.document import Document
from bokeh.layouts import column, row
from bokeh.models import CDSView, ColumnDataSource, Div, IndexFilter, MultiChoice

from calibrate.store import StoreError
from dashboards.data import NewRows, RunInfo, StoreReader, empty, truth_columns
from dashboards.datasets import FIT_COLUMNS, POINT_COLUMNS, DatasetPlot, load_dataset_plot
from dashboards.figures import dataset_figure, node_name, node_rows, node_table, training_figure
from dashboards.history import TRACKED_PAIR_PARAMETERS, TRACKED_PARAMETERS, HistoryPanels, SeriesKey
from dashboards.readout import DISCRIMINATOR_NODE, READOUT_PARAMETERS, SINGLE_SHOT, ReadoutPanels
from dashboards.training import TRAINING_FILE, TrainingCurves, TrainingFileError, read_training

QUBIT_PARAMETERS = (*TRACKED_PARAMETERS, *READOUT_PARAMETERS)  # what the history and readout panels draw


@dataclass(frozen=True)
class DashboardOptions:
    """What a dashboard page shows and how often it looks for news."""

    controllers: tuple[Path, ...] = ()
    refresh_ms: int = 500
    log_lines: int = 30
    default_series: int = 10  # more qubits and pairs than this: show those of the newest run at first
    training_check_every: int = 4  # refreshes between looks at the training files


def _when(ms: float | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000.0, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def log_html(outcomes: dict[str, list]) -> str:
    lines = []
    for i in reversed(range(len(outcomes["id"]))):
        reason = f": {outcomes['reason'][i]}" if outcomes["reason"][i] else ""
        who, node = node_name(outcomes["qubit"][i], outcomes["node"][i])
        lines.append(f"{_when(outcomes['time'][i])}  run {outcomes['run_id'][i]}  {outcomes['device'][i]} "
                     f"{who}  {node} {outcomes['action'][i]} → {outcomes['outcome'][i]}{reason}")
    body = html.escape("\n".join(lines)) or "No node updates yet."
    return f"<b>Log</b> (newest first)<pre style='max-height: 260px; overflow-y: auto; margin: 0'>{body}</pre>"


def jobs_html(running: list[RunInfo], progress: dict[int, tuple[int, dict | None]]) -> str:
    if not running:
        return "<b>Running jobs</b>: none."
    items = []
    for run in running:
        done, newest = progress.get(run.id, (0, None))
        current = "no node finished yet"
        if newest is not None:
            who, node = node_name(newest["qubit"], newest["node"])
            current = (f"newest: {who} {node} {newest['action']} → {newest['outcome']} "
                       f"at {_when(newest['time'].timestamp() * 1000.0)}")
        qubits = ", ".join(str(q) for q in run.qubits)
        items.append(f"<li>run {run.id} on {html.escape(run.device)} (qubits {qubits}; {html.escape(run.command)}; "
                     f"started {_when(run.started.timestamp() * 1000.0)} UTC): <b>{done} node update(s) done</b>, "
                     f"{html.escape(current)}</li>")
    return f"<b>Running jobs</b><ul style='margin: 0'>{''.join(items)}</ul>"


class TrainingPanel:
    """One controller's training curves; follows the file as training rewrites it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.source = ColumnDataSource(TrainingCurves("", [], [], []).columns(), name=f"training|{folder}")
        self.note = Div(text="")
        self.figure = training_figure(self.source, title=f"Controller training: {folder}")
        self._stamp: tuple | None = None
        self._curves: TrainingCurves | None = None
        self.refresh()

    def refresh(self) -> None:
        path = self.folder / TRAINING_FILE
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            curves = read_training(self.folder)
        except TrainingFileError as exc:  # e.g. caught half-written: keep what is shown, say why
            self.note.text = html.escape(str(exc))
            return
        if curves is None:
            self.note.text = f"No {TRAINING_FILE} in {html.escape(str(self.folder))} yet."
            return
        old = self._curves
        if old is not None and curves.steps[:len(old.steps)] == old.steps:
            if len(curves.steps) > len(old.steps):
                self.source.stream(curves.columns(start=len(old.steps)))
        else:  # a new training replaced the file
            self.source.data = curves.columns()
        self._curves = curves
        self.figure.title.text = f"Controller training: {curves.family} ({self.folder})"
        self.note.text = f"{len(curves.steps)} step(s) recorded."


class DashboardSession:
    """The models of one page and what it has shown so far."""

    def __init__(self, reader: StoreReader, options: DashboardOptions):
        self.reader, self.options = reader, options
        self.history = HistoryPanels()
        values = reader.parameter_rows(QUBIT_PARAMETERS, pair_names=TRACKED_PAIR_PARAMETERS)
        finished = reader.runs(finished=True)
        self.history.add(values, truth_columns(finished))
        # read before the recent outcomes, which the readout panels take too: a dataset recorded in between is there
        datasets = reader.newest_datasets(DISCRIMINATOR_NODE, SINGLE_SHOT)
        self._values = NewRows(values["id"])
        self._finished = {run.id for run in finished}
        self._truth_floor = 0
        # read the recent outcomes before the node states: an update committed in between is then
        # in the table already, and the first refresh merely shows it again as its node's newest row
        recent = reader.outcomes(newest=NewRows.OVERLAP)
        self._outcomes = NewRows(recent["id"])
        self._recent_log = {name: values[-options.log_lines:] for name, values in recent.items()}
        states = reader.node_states()
        # The nodes source is append-only like the store: a node's new outcome is a new row, and
        # the table shows the newest row of each node (an index filter). Patching rows in place
        # would not do: BokehJS's DataTable does not redraw on a patch.
        self.nodes = ColumnDataSource(node_rows(states), name="nodes")
        self._node_index = {(d, q, n): i for i, (d, q, n) in
                            enumerate(zip(states["device"], states["qubit"], states["node"]))}
        self.points = ColumnDataSource(empty(POINT_COLUMNS), name="dataset-points")
        self.fits = ColumnDataSource(empty(FIT_COLUMNS), name="dataset-fit")
        self.dataset = dataset_figure(self.points, self.fits, title="Dataset", x_label="", y_label="")
        self.dataset_note = Div(text="Choose a node in the table to see its newest dataset and fit.", width=620)
        self.nodes.selected.on_change("indices", lambda attr, old, new: self._show_selected_node())
        self.table = node_table(self.nodes, height=300,
                                view=CDSView(filter=IndexFilter(indices=sorted(self._node_index.values()))))
        self.jobs = Div(text="", width=1100, name="jobs")
        self.log = Div(text=log_html(self._recent_log), width=1100, name="log")
        self.readout = ReadoutPanels(self.history)
        self.readout.add_values(values)
        self.readout.add_datasets(datasets)
        self.readout.add_datasets(recent)
        self.readout.redraw()
        self.status = Div(text="", width=1100, name="status")
        self.qubits = MultiChoice(title="Qubits and pairs", options=[k.label for k in self.history.keys],
                                  value=[k.label for k in self._default_series()], width=1100)
        self.qubits.on_change("value", lambda attr, old, new: self._apply_selection())
        self._apply_selection()
        self.training = [TrainingPanel(folder) for folder in options.controllers]
        self._ticks = 0
        self._store_trouble = False
        self._refresh_jobs()
        self._say(f"Store {html.escape(reader.url)}, read-only.")
        self._show_newest_dataset()

    def layout(self):
        parts = [self.status, self.jobs, self.qubits, self.history.layout(), self.readout.layout(),
                 row(column(self.table), column(self.dataset, self.dataset_note)), self.log]
        for panel in self.training:
            parts.append(column(panel.figure, panel.note))
        return column(*parts)

    def attach(self, doc: Document) -> None:
        doc.title = "Calibration dashboard"
        doc.add_root(self.layout())
        doc.add_periodic_callback(self.refresh, self.options.refresh_ms)

    # --- refresh ---------------------------------------------------------------------------

    def refresh(self) -> None:
        try:
            self._refresh_history()
            self._refresh_nodes()
            self.readout.redraw()
            self._refresh_jobs()
        except StoreError as exc:  # the store may be briefly unreachable (a PostgreSQL restart): say so, retry
            self._say(f"<span style='color: #b00'>{html.escape(str(exc))}</span>")
            self._store_trouble = True
            return
        if self._store_trouble:
            self._say(f"Store {html.escape(self.reader.url)}, read-only (reachable again).")
            self._store_trouble = False
        self._ticks += 1
        if self._ticks % self.options.training_check_every == 0:
            for panel in self.training:
                panel.refresh()

    def _refresh_history(self) -> None:
        values = self._values.take(self.reader.parameter_rows(QUBIT_PARAMETERS, pair_names=TRACKED_PAIR_PARAMETERS,
                                                              after_id=self._values.floor))
        unseen = [i for i in self.reader.finished_run_ids(from_id=self._truth_floor) if i not in self._finished]
        finished = self.reader.runs(ids=unseen) if unseen else []
        self._finished.update(run.id for run in finished)
        truth = truth_columns(finished)
        if values["id"] or truth["run_id"]:
            new_keys = self.history.add(values, truth)
            if new_keys:  # a new qubit, pair or device started writing: show it
                self.qubits.options = [k.label for k in self.history.keys]
                self.qubits.value = [*self.qubits.value, *(k.label for k in new_keys)]
            self.readout.add_values(values)

    def _refresh_nodes(self) -> None:
        fresh = self._outcomes.take(self.reader.outcomes(after_id=self._outcomes.floor))
        if not fresh["id"]:
            return
        rows = node_rows(fresh)
        first_new = len(self.nodes.data["id"])
        for i, key in enumerate(zip(fresh["device"], fresh["qubit"], fresh["node"])):
            previous = self._node_index.get(key)
            if rows["dataset_path"][i] is None and previous is not None:
                # a skip or a check without data: the node's newest dataset is still the last one
                rows["dataset_path"][i] = self._dataset_path(previous, rows, first_new)
            self._node_index[key] = first_new + i
        self.nodes.stream(rows)
        self.table.view.filter.indices = sorted(self._node_index.values())
        for name, values in fresh.items():
            self._recent_log[name] = (self._recent_log[name] + values)[-self.options.log_lines:]
        self.log.text = log_html(self._recent_log)
        self.readout.add_datasets(fresh)

    def _dataset_path(self, index: int, pending: dict[str, list], first_pending: int) -> str | None:
        if index >= first_pending:
            return pending["dataset_path"][index - first_pending]
        return self.nodes.data["dataset_path"][index]

    def _refresh_jobs(self) -> None:
        running = self.reader.runs(running=True)
        newest = self.reader.newest_run_id() or 0
        # finished runs are looked for from the oldest run still running on (a run finishes once)
        self._truth_floor = min((run.id for run in running), default=newest + 1)
        text = jobs_html(running, self.reader.progress(run.id for run in running))
        if text != self.jobs.text:
            self.jobs.text = text

    def _say(self, text: str) -> None:
        self.status.text = f"<b>Calibration dashboard</b> — {text}"

    # --- widgets -----------------------------------------------------------------------------

    def _default_series(self) -> list[SeriesKey]:
        keys = self.history.keys
        if len(keys) <= self.options.default_series:
            return keys
        newest = self.reader.newest_run_id()
        runs = self.reader.runs(ids=[newest]) if newest is not None else []
        chosen = [k for k in keys if runs and k.device == runs[0].device and k.qubit in runs[0].qubits
                  and (k.target is None or k.target in runs[0].qubits)]
        return chosen or keys[:self.options.default_series]

    def _apply_selection(self) -> None:
        chosen = set(self.qubits.value)
        keys = {k for k in self.history.keys if k.label in chosen}
        self.history.show(keys)
        self.readout.show(keys)

    def _show_newest_dataset(self) -> None:
        data = self.nodes.data
        with_data = [(data["time"][i], i) for i in self._node_index.values() if data["dataset_path"][i]]
        if with_data:
            self.nodes.selected.indices = [max(with_data)[1]]
            self._show_selected_node()

    def _show_selected_node(self) -> None:
        indices = self.nodes.selected.indices
        if not indices:
            return
        i = indices[0]
        data = self.nodes.data
        title = f"{data['device'][i]} {data['subject'][i]} {data['node'][i]}: newest dataset"
        self._draw_dataset(load_dataset_plot(data["dataset_path"][i], title=title))

    def _draw_dataset(self, plot: DatasetPlot) -> None:
        self.points.data = plot.points
        self.fits.data = plot.fits
        self.dataset.title.text = plot.title
        self.dataset.xaxis.axis_label = plot.x_label
        self.dataset.yaxis.axis_label = plot.y_label
        self.dataset_note.text = html.escape(plot.summary)

