"""`calibrate nightly`: check everything first, then hand the nights to Dask.

Exit status, the worst over the devices: 3 when a device's task crashed or its store writes
failed (the other devices still run to the end and are reported; each crashed device is
listed under `errors`, its run recorded as "error" where the store still answers), else 1
when a night finished with failed nodes, else 0. 2 is bad input, found before anything ran:
nothing is written.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

EXIT_CRASHED = 3


def parse_seeds(text: str | None) -> list[int | None]:
    """None (no --seeds): each device's own seed."""
    if text is None:
        return [None]
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"--seeds is {text!r}, but must be comma-separated integers >= 0, such as 0,1.")
    return seeds


def check_scheduler(address: str) -> None:
    """The --scheduler must answer before the store is opened: a wrong address is bad input."""
    if not address.startswith(("tcp://", "tls://", "inproc://")):
        raise ValueError(f"--scheduler is {address!r}, but must be a Dask address such as tcp://127.0.0.1:8786.")
    from dask.distributed import Client

    try:
        _refuse_fast(address)
        Client(address, timeout="10s").close()
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"--scheduler is {address!r}, but no Dask scheduler answers there ({exc}).") from None


def _refuse_fast(address: str) -> None:
    """Raise the connection's OSError (refused, unreachable) at once for a tcp:// address where
    nothing listens: Dask's Client retries a refused connection until its timeout (10 s)."""
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed port: Dask's own message says what is wrong
        return
    if parts.scheme != "tcp" or not host or port is None:
        return
    socket.create_connection((host, port), timeout=10).close()


def nightly_command(*, devices: list[str], seeds: str | None, days: int, scheduler: str | None, workers: int,
                    store_url: str | None, graph: str | None, recalibrate_all: bool, as_json: bool,
                    console: Console, report_dir: str | None = None, pair_graph: str | None = None,
                    simultaneous: bool = False) -> int:
    from calibrate.graph.toml import load_graph
    from calibrate.pairs import check_graph_kind, load_pair_graph
    from calibrate.nightly import (DaskScheduler, LocalDask, NightlyCrashed, NightlyDevice, NightlyJob,
                                   run_nightly, summarize)
    from calibrate.run import RunError, crash_reason
    from calibrate.cli.run import check_folder
    from calibrate.resolve import require_drifting, resolve_device, seed_of
    from calibrate.store import Store

    seed_list = parse_seeds(seeds)
    targets = []
    for name in devices:  # every device opens here first: bad input before any night
        for seed in seed_list:
            device = resolve_device(name, seed=seed)
            if days:
                require_drifting(device, "--simulate-days")
            targets.append(NightlyDevice(name, seed_of(device)))
    check_graph_kind(load_graph(graph), pairs=False)
    load_pair_graph(pair_graph)
    check_folder("--report-dir", report_dir)  # before the nights, not after hours of them
    if scheduler is not None:
        check_scheduler(scheduler)
    # Opening once here creates or upgrades the schema before any worker writes.
    with Store.open(store_url) as store:
        url = store.url
    if report_dir is not None:
        from calibrate.cli.dashboard import check_report_dir

        check_report_dir(report_dir)  # creates it
    targets = tuple(targets)
    job = NightlyJob(devices=targets, store_url=url, graph=graph, pair_graph=pair_graph, days=days,
                     recalibrate_all=recalibrate_all, simultaneous=simultaneous)
    executor = DaskScheduler(scheduler) if scheduler else LocalDask(workers=min(workers, len(targets)))
    crashes = []
    try:
        if as_json:
            reports = run_nightly(job, executor)
        else:
            progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True))
            with progress:
                task = progress.add_task(f"{len(targets)} device(s) x {max(days, 1)} night(s)", total=len(targets))
                reports = run_nightly(job, executor, on_done=lambda target: progress.advance(task))
    except NightlyCrashed as exc:
        reports, crashes = exc.reports, exc.crashes
    except Exception as exc:  # the cluster itself failed: no device's result came back
        raise RunError(crash_reason(exc, "running the nights on Dask")) from exc
    summary = summarize(reports)
    summary.update(store=url, days=days, devices=[{"device": t.device, "seed": t.seed} for t in targets])
    errors = [{"device": c.device, "seed": c.seed, "night": c.night, "run_id": c.run_id, "recorded": c.recorded,
               "error": c.error} for c in crashes]
    if report_dir is not None:
        from calibrate.cli.dashboard import write_night_reports

        try:
            write_night_reports(url, summary["nights"], report_dir)  # adds each night's `report` path
        except Exception as exc:
            errors.append({"device": None, "seed": None, "night": None, "run_id": None, "recorded": False,
                           "error": crash_reason(exc, f"writing the night reports into {report_dir}")})
    if errors:
        summary["error"] = "; ".join(e["error"] if e["device"] is None else
                                     f"{e['device']} seed {e['seed']} night {e['night']}: {e['error']}"
                                     for e in errors)
        summary["errors"] = errors
    failed = any(night["failed"] for night in summary["nights"])
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        table = Table("device", "seed", "night", "shots", "true error / coherence limit", "failed nodes",
                      title="Nightly tuning")
        for n in summary["nights"]:
            ratios = ", ".join(f"{_who(q)} {r:.2f}" for q, r in n["error_over_limit"].items() if r is not None) or "-"
            table.add_row(n["device"], "-" if n["seed"] is None else str(n["seed"]), str(n["night"]), f"{n['shots']:,}", ratios,
                          ", ".join(f"{_who(q)}: {', '.join(nodes)}" for q, nodes in n["failed"].items()) or "-")
        console.print(table)
        if report_dir is not None:
            console.print(f"Reports, one per device and night: {report_dir}", highlight=False)
    if errors:
        Console(stderr=True).print(f"[bold red]error:[/] {summary['error']}", highlight=False, soft_wrap=True)
        return EXIT_CRASHED
    return 1 if failed else 0


def _who(key: str) -> str:
    """A report key as a label: q3 for a qubit, pair 1-0 for a pair."""
    return f"pair {key}" if "-" in key else f"q{key}"
