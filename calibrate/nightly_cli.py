"""`calibrate nightly`: check everything first, then hand the nights to Dask."""

from __future__ import annotations

import json

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def nightly_command(*, devices: list[str], seeds: str, days: int, scheduler: str | None, workers: int,
                    store_url: str | None, graph: str | None, recalibrate_all: bool, as_json: bool,
                    console: Console, report_dir: str | None = None) -> int:
    from calibrate.graph.toml import load_graph
    from calibrate.nightly import DaskScheduler, LocalDask, NightlyDevice, NightlyJob, run_nightly, summarize
    from calibrate.run_cli import parse_qubits
    from calibrate.store import Store
    from devices.catalog import load_spec

    seed_list = parse_qubits(seeds) or []
    if not seed_list or any(s < 0 for s in seed_list):
        raise ValueError(f"--seeds is {seeds!r}, but must be comma-separated integers >= 0, such as 0,1.")
    for name in devices:
        load_spec(name)
    load_graph(graph)
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise ValueError(f"--scheduler is {scheduler!r}, but must be a Dask address such as tcp://127.0.0.1:8786.")
    if report_dir is not None:
        from calibrate.dashboard_cli import check_report_dir

        check_report_dir(report_dir)  # before the nights, not after hours of them
    # Opening once here creates or upgrades the schema before any worker writes.
    with Store.open(store_url) as store:
        url = store.url
    targets = tuple(NightlyDevice(name, seed) for name in devices for seed in seed_list)
    job = NightlyJob(devices=targets, store_url=url, graph=graph, days=days, recalibrate_all=recalibrate_all)
    executor = DaskScheduler(scheduler) if scheduler else LocalDask(workers=min(workers, len(targets)))
    if as_json:
        reports = run_nightly(job, executor)
    else:
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True))
        with progress:
            task = progress.add_task(f"{len(targets)} device(s) x {max(days, 1)} night(s)", total=len(targets))
            reports = run_nightly(job, executor, on_done=lambda target: progress.advance(task))
    summary = summarize(reports)
    summary.update(store=url, days=days, devices=[{"device": t.device, "seed": t.seed} for t in targets])
    if report_dir is not None:
        from calibrate.dashboard_cli import write_night_reports

        write_night_reports(url, summary["nights"], report_dir)  # adds each night's `report` path
    failed = any(night["failed"] for night in summary["nights"])
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        table = Table("device", "seed", "night", "shots", "true error / coherence limit", "failed nodes",
                      title="Nightly tuning")
        for n in summary["nights"]:
            ratios = ", ".join(f"q{q} {r:.2f}" for q, r in n["error_over_limit"].items())
            table.add_row(n["device"], str(n["seed"]), str(n["night"]), f"{n['shots']:,}", ratios,
                          ", ".join(f"q{q}: {', '.join(nodes)}" for q, nodes in n["failed"].items()) or "-")
        console.print(table)
        if report_dir is not None:
            console.print(f"Reports, one per device and night: {report_dir}", highlight=False)
    return 1 if failed else 0
