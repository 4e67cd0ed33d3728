"""`calibrate run | status | history | revert`: the graph on a device, and the store's view.

Every command resolves --device (and --seed) through calibrate/resolve.py, whatever the adapter.

Everything a command needs is checked before the store is opened for writing (device,
graph file, qubits, data folder, store URL), so bad input exits 2 with nothing written.
Once the store is open, `run` is running: whatever fails from there on (a crash, a store
that stops answering) is a RunError, exit 3, with the run recorded as "error" where the
store still answers.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from calibrate.store import Store


def parse_qubits(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--qubits is {text!r}, but must be comma-separated qubit indices such as 0,1.") from None


def check_folder(flag: str, value: str | None) -> None:
    """A folder option must name a folder or one that can be created (not under a file).
    Checked without creating it, so that bad input leaves nothing behind."""
    if value is None:
        return
    path = Path(value).absolute()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} is {value!r}, but that is a file: give a folder (created if missing).")
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{flag} is {value!r}, but {existing} is a file: give a folder (created if missing).")


@contextmanager
def node_progress(total: int, enabled: bool):
    """A progress bar over node updates on stderr; the JSON on stdout stays clean."""
    if not enabled:
        yield (lambda event: None), (lambda qubit, node, action: None)
        return
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=False)
    task = progress.add_task("starting", total=total)

    def on_event(event) -> None:
        done = event.action in ("calibrate", "skip") or event.outcome == "in_spec"
        progress.update(task, advance=1 if done else 0,
                        description=f"q{event.qubit} {event.node}: {event.outcome}")

    def on_start(qubit: int, node: str, action: str) -> None:
        progress.update(task, description=f"q{qubit} {node}: {action.replace('_', ' ')}")

    with progress:
        yield on_event, on_start


def run_command(*, device: str, seed: int | None, qubits: str | None, store_url: str | None, graph: str | None,
                pair_graph: str | None, recalibrate_all: bool, data_dir: str | None, as_json: bool, console: Console,
                simultaneous: bool = False) -> int:
    from calibrate.graph.toml import load_graph
    from calibrate.pairs import check_graph_kind, load_pair_graph
    from calibrate.resolve import resolve_device, restore_state
    from calibrate.run import (Maintain, RecalibrateAll, RunError, RunRequest, all_calibrated, check_qubits,
                               crash_reason, data_dir_for, run_calibration)

    lab = resolve_device(device, seed=seed)
    chosen = check_qubits(lab, parse_qubits(qubits))
    graph_spec = load_graph(graph)
    check_graph_kind(graph_spec, pairs=False)
    pair_spec = load_pair_graph(pair_graph)
    check_folder("--data-dir", data_dir)
    with Store.open(store_url) as store:  # the last check: a bad or unreachable store is bad input
        request = RunRequest(qubits=chosen, graph=graph_spec, pair_graph=pair_spec, simultaneous=simultaneous,
                             strategy=RecalibrateAll() if recalibrate_all else Maintain(),
                             data_dir=data_dir_for(store, data_dir), command="run")
        try:
            restore_state(store, lab)
        except Exception as exc:  # a saved state the device cannot take: the run has not started
            raise RunError(crash_reason(exc, "before the run started")) from exc
        try:
            total = len(chosen) * len(graph_spec.nodes) + len(request.pairs(lab)) * len(getattr(pair_spec, "nodes", ()))
            with node_progress(total, enabled=not as_json) as (on_event, on_start):
                report = run_calibration(store, request, device=lab, on_event=on_event, on_start=on_start)
        except RunError:
            raise
        except Exception as exc:  # outside the run itself (the progress display): still a crash
            raise RunError(crash_reason(exc)) from exc
        report["store"] = store.url
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_run(report, console)
    return 0 if all_calibrated(report) else 1


PAIR_TABLE_ROWS = ("zx_rate", "cr_amp", "cr_width", "cr_angle", "cancel_amp", "cancel_angle", "target_phase")


def print_run(report: dict, console: Console) -> None:
    qubits = report["qubits"]
    seeded = f" seed {report['seed']}" if report["seed"] is not None else ""
    table = Table("", *[f"q{q}" for q in qubits], title=f"{report['device']}{seeded}: run {report['run_id']}")
    table.add_row("status", *[q["status"] for q in qubits.values()])
    for name in dict.fromkeys(n for q in qubits.values() for n in q["parameters"]):
        table.add_row(name, *[_value(q["parameters"][name]) if name in q["parameters"] else "-" for q in qubits.values()])
    table.add_section()
    table.add_row("estimated gate error (RB)", *[_number(q["estimated_gate_error"]) for q in qubits.values()])
    if any(q["truth"] is not None for q in qubits.values()):  # devices with a hidden truth only
        table.add_row("true gate error", *[_number((q["truth"] or {}).get("gate_error")) for q in qubits.values()])
        table.add_row("coherence limit", *[_number((q["truth"] or {}).get("coherence_limit")) for q in qubits.values()])
    console.print(table)
    pairs = report.get("pairs") or {}
    if pairs:
        table = Table("", *pairs, title="pairs (control-target): echoed cross-resonance")
        table.add_row("status", *[p["status"] for p in pairs.values()])
        for name in PAIR_TABLE_ROWS:  # the gate's settings; every value is in --json and `status`
            table.add_row(name, *[_value(p["parameters"][name]) if name in p["parameters"] else "-"
                                  for p in pairs.values()])
        table.add_section()
        table.add_row("estimated gate error", *[_number(p["estimated_gate_error"]) for p in pairs.values()])
        if any(p["truth"] is not None for p in pairs.values()):
            for key, label in (("gate_error", "true gate error"), ("leakage", "true leakage"),
                               ("coherence_limit", "coherence limit")):
                table.add_row(label, *[_number((p["truth"] or {}).get(key)) for p in pairs.values()])
        console.print(table)
    for who, entry in [(f"q{q}", v) for q, v in qubits.items()] + [(f"pair {p}", v) for p, v in pairs.items()]:
        for node, reason in entry["failed_nodes"].items():
            console.print(f"[red]{who} {node}[/]: {reason}", highlight=False)
        for node, reason in entry.get("recovered_nodes", {}).items():
            console.print(f"[yellow]{who} {node}[/] failed, its fallback nodes calibrated instead: {reason}",
                          highlight=False)
    console.print(f"{report['shots']:,} shots in {report['seconds']:.1f} s; store {report['store']}", highlight=False)


def _value(v: dict) -> str:
    if v["value"] is None:
        return "-"
    text = f"{v['value']:.7g}"
    if v.get("stderr") is not None and math.isfinite(v["stderr"]):
        text += f" ± {v['stderr']:.1g}"
    return text + (f" {v['unit']}" if v.get("unit") else "")


def _number(x) -> str:
    return "-" if x is None else f"{x:.3g}"


# --- status, history, revert ----------------------------------------------------------
def _device_id(device: str, seed: int | None) -> str:
    """The store's name of the device: the same resolution as `run`'s, so every command agrees."""
    from calibrate.resolve import resolve_device, store_id

    return store_id(resolve_device(device, seed=seed))


def _row(v) -> dict:
    return {"qubit": v.qubit, "name": v.name, "value": v.value, "stderr": v.stderr, "unit": v.unit,
            "time": v.time.isoformat(), "device_time_s": v.device_time_s, "run_id": v.run_id,
            "experiment": v.experiment, "valid": v.valid, "note": v.note}


def status_command(*, device: str, seed: int | None, store_url: str | None, as_json: bool, console: Console) -> int:
    from calibrate.pairs import pair_label, regroup

    ident = _device_id(device, seed)
    with Store.open(store_url, read_only=True) as store:
        current = store.current(ident)
        runs = store.runs(ident)
    def rows(values: dict) -> dict:
        return {name: {k: _row(v)[k] for k in ("value", "stderr", "unit", "time", "run_id")}
                for name, v in sorted(values.items())}

    by_qubit, by_pair = regroup(current)
    qubits = {str(q): rows(v) for q, v in sorted(by_qubit.items())}
    pairs = {pair_label(*p): rows(v) for p, v in sorted(by_pair.items())}
    report = {"device": ident, "qubits": qubits, "pairs": pairs, "last_run": runs[-1] if runs else None}
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    if not qubits and not pairs:
        console.print(f"No calibrated values for {ident} in this store yet.")
    for title, columns in ((f"Current values of {ident}", {f"q{q}": v for q, v in qubits.items()}),
                           (f"Current values of {ident}'s pairs (control-target)", pairs)):
        if columns:
            table = Table("", *columns, title=title)
            for name in dict.fromkeys(n for values in columns.values() for n in values):
                table.add_row(name, *[_value(v[name]) if name in v else "-" for v in columns.values()])
            console.print(table)
    return 0


def history_command(*, name: str, device: str, seed: int | None, qubit: int | None, store_url: str | None,
                    as_json: bool, console: Console) -> int:
    ident = _device_id(device, seed)
    with Store.open(store_url, read_only=True) as store:
        rows = [_row(v) for v in store.history(ident, name, qubit)]
    if as_json:
        print(json.dumps({"device": ident, "name": name, "history": rows}, indent=2))
        return 0
    table = Table("time", "qubit", "value", "stderr", "unit", "run", "experiment", "note",
                  title=f"History of {name} on {ident}")
    for r in rows:
        table.add_row(r["time"][:19], str(r["qubit"]), _number(r["value"]) if r["value"] is None else f"{r['value']:.7g}",
                      _number(r["stderr"]), r["unit"], str(r["run_id"] or "-"), r["experiment"], r["note"])
    console.print(table if rows else f"No history of {name!r} for {ident}.")
    return 0


def revert_command(*, device: str, seed: int | None, run_id: int | None, name: str | None, qubit: int | None,
                   store_url: str | None, as_json: bool, console: Console) -> int:
    if (run_id is None) == (name is None):
        raise ValueError("Give either --run RUN_ID (revert a whole run) or --parameter NAME --qubit Q.")
    if name is not None and qubit is None:
        raise ValueError("--parameter needs --qubit: which qubit's value to revert.")
    ident = _device_id(device, seed)
    with Store.open(store_url) as store:
        if run_id is not None:
            run = next((r for r in store.runs() if r["id"] == run_id), None)
            if run is None or run["device"] != ident:
                raise ValueError(f"--run {run_id} is not a run of {ident} in this store.")
            keys = store.revert_run(run_id)
        else:
            if (qubit, name) not in store.current(ident, qubit) and not store.history(ident, name, qubit):
                raise ValueError(f"{ident} qubit {qubit} has no parameter {name!r} to revert.")
            store.revert_parameter(ident, qubit, name)
            keys = [(qubit, name)]
        current = store.current(ident)
    restored = [{"qubit": q, "name": n, "value": current[(q, n)].value if (q, n) in current else None}
                for q, n in keys]
    if as_json:
        print(json.dumps({"device": ident, "reverted": restored}, indent=2))
    else:
        for r in restored:
            console.print(f"q{r['qubit']} {r['name']} -> {r['value'] if r['value'] is not None else 'no value'}")
    return 0
