"""A static HTML report of one run: the dashboard's plots, frozen, in one offline file.

The report holds the history of the run's device up to the end of the run (gate error with
its truth and coherence limit, each calibrated parameter; the same for its pairs' two-qubit
gates when it has pairs; readout fidelity, assignment matrices and IQ points when it has
readout values), the run's nodes coloured by
outcome, and the newest dataset and fit of every node the run visited. Bokeh's JavaScript
is inlined, so the file opens anywhere, without network access.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, Div
from bokeh.resources import INLINE

from dashboards.data import RunInfo, StoreReader, truth_columns
from dashboards.datasets import DatasetPlot, load_dataset_plot
from dashboards.figures import ESTIMATED_GATE_ERROR, dataset_figure, node_name, node_rows, node_table
from dashboards.history import TRACKED_PAIR_PARAMETERS, TRACKED_PARAMETERS, HistoryPanels
from dashboards.readout import DISCRIMINATOR_NODE, READOUT_PARAMETERS, SINGLE_SHOT, ReadoutPanels


class ReportError(ValueError):
    """No such run, or the report cannot be written; the message names the value."""


def choose_run(reader: StoreReader, run_id: int | None) -> RunInfo:
    """The run `run_id`, the newest run when None."""
    newest = reader.newest_run_id()
    if newest is None:
        raise ReportError(f"Store {reader.url} has no runs yet: run `calibrate run` or `calibrate nightly` first.")
    found = reader.runs(ids=[newest if run_id is None else run_id])
    if not found:
        raise ReportError(f"RUN is {run_id}, but store {reader.url} has no such run; its runs are numbered "
                          f"1 to {newest} (leave RUN out for the newest).")
    return found[0]


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec)


def _summary_html(run: RunInfo, estimated: dict[int, float]) -> str:
    ended = run.finished.strftime("%Y-%m-%d %H:%M:%S UTC") if run.finished else "not finished"
    rows = []
    for qubit in run.qubits:
        entry = (run.summary or {}).get(str(qubit)) or {}
        truth = entry.get("truth") or {}
        rows.append(f"<tr><td>{qubit}</td><td>{html.escape(str(entry.get('status', '-')))}</td>"
                    f"<td>{_fmt(estimated.get(qubit))}</td><td>{_fmt(truth.get('gate_error'))}</td>"
                    f"<td>{_fmt(truth.get('coherence_limit'))}</td><td>{_fmt(truth.get('leakage'))}</td></tr>")
    for pair, entry in ((run.summary or {}).get("pairs") or {}).items():  # "c-t": the pair's ECR
        truth = entry.get("truth") or {}
        rows.append(f"<tr><td>pair {html.escape(pair)}</td><td>{html.escape(str(entry.get('status', '-')))}</td>"
                    f"<td>{_fmt(entry.get('estimated_gate_error'))}</td><td>{_fmt(truth.get('gate_error'))}</td>"
                    f"<td>{_fmt(truth.get('coherence_limit'))}</td><td>{_fmt(truth.get('leakage'))}</td></tr>")
    table = ("<table border='1' cellpadding='4' style='border-collapse: collapse'><tr><th>qubit</th><th>status</th>"
             "<th>gate error (RB; pairs: interleaved RB of the ECR)</th><th>true gate error</th><th>coherence limit</th>"
             "<th>true leakage</th></tr>" + "".join(rows) + "</table>")
    return (f"<h2>Run {run.id} on {html.escape(run.device)}: {html.escape(run.status)}</h2>"
            f"<p>Command <code>{html.escape(run.command)}</code>; started {run.started:%Y-%m-%d %H:%M:%S UTC}, ended {ended}; "
            f"{_fmt(run.shots, ',')} shots, {_fmt(run.seconds, '.1f')} s.</p>{table}"
            "<p>True values exist only for devices with a hidden truth, simulated ones (the truth at the end of each run); "
            "for any other device these columns show -.</p>")


def _dataset_panel(plot: DatasetPlot):
    points = ColumnDataSource(plot.points, name=f"dataset-points|{plot.title}")
    fits = ColumnDataSource(plot.fits, name=f"dataset-fit|{plot.title}")
    return column(dataset_figure(points, fits, title=plot.title, x_label=plot.x_label, y_label=plot.y_label),
                  Div(text=html.escape(plot.summary), width=620))


def report_layout(reader: StoreReader, run: RunInfo):
    until = run.finished or datetime.now(timezone.utc)
    values = reader.parameter_rows((*TRACKED_PARAMETERS, *READOUT_PARAMETERS), pair_names=TRACKED_PAIR_PARAMETERS,
                                   device=run.device, until=until)
    history = HistoryPanels()
    history.add(values, truth_columns(reader.runs(device=run.device, until=until)))
    readout = ReadoutPanels(history, live=False)
    readout.add_values(values)
    readout.add_datasets(reader.newest_datasets(DISCRIMINATOR_NODE, SINGLE_SHOT, device=run.device, until=until))
    readout.redraw()
    estimated = {q: v for name, q, v in zip(values["name"], values["qubit"], values["value"])
                 if name == ESTIMATED_GATE_ERROR}  # the newest wins: rows come oldest first; a pair's is NAME@TARGET
    states = reader.node_states(run_id=run.id)
    datasets = [load_dataset_plot(path, title=f"{' '.join(node_name(qubit, node))}: {outcome} (run {run.id})")
                for qubit, node, outcome, path in
                zip(states["qubit"], states["node"], states["outcome"], states["dataset_path"]) if path]
    return column(Div(text=_summary_html(run, estimated), width=1100, name="run-summary"),
                  history.layout(skip_empty=True), readout.layout(),
                  Div(text=f"<h3>Nodes of run {run.id}</h3>"), node_table(ColumnDataSource(node_rows(states),
                                                                                           name="nodes")),
                  Div(text="<h3>Newest dataset and fit of each node</h3>"), *(_dataset_panel(p) for p in datasets))


def report_html(reader: StoreReader, run: RunInfo) -> str:
    return file_html(report_layout(reader, run), INLINE, title=f"Calibration report: run {run.id} on {run.device}")


def write_report(reader: StoreReader, run_id: int | None, out: str | Path) -> tuple[Path, RunInfo]:
    run = choose_run(reader, run_id)
    path = Path(out)
    text = report_html(reader, run)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # a reader never sees half a report
    except OSError as exc:
        raise ReportError(f"--out {out}: the report cannot be written ({exc.strerror or exc}).") from None
    return path, run
