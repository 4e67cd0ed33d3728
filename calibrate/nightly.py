"""Nightly tuning: maintain every qubit of one or many devices, as Dask tasks.

One task per device: a device's qubits share its clock and drift, so they run in turn
within the task, while devices run side by side on the workers. Each task opens the
store by URL itself and writes its node updates as it goes, so a worker lost mid-night
leaves every finished update stored. With `days`, a simulated device's clock moves on to
the start of its next day between nights (as a nightly cron job starts), so a month of
operation replays in minutes, and strategies that spend different device time per night
meet the same drift at the same clocks.

Executors are option objects: `Serial()` runs in this process (the reference the Dask
result must equal), `LocalDask(workers)` starts a LocalCluster, `DaskScheduler(address)`
uses an existing cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class Serial:
    """Every device in this process, one after the other."""


@dataclass(frozen=True)
class LocalDask:
    workers: int = 2


@dataclass(frozen=True)
class DaskScheduler:
    address: str  # tcp://host:port


@dataclass(frozen=True)
class NightlyDevice:
    device: str  # catalog name or TOML path
    seed: int


@dataclass(frozen=True)
class NightlyJob:
    devices: tuple[NightlyDevice, ...]
    store_url: str | None
    graph: str | None = None
    days: int = 0  # 0: one night now; N: N nights, advancing each device a day before each
    recalibrate_all: bool = False
    data_dir: str | None = None


def night_task(job: NightlyJob, target: NightlyDevice) -> list[dict]:
    """Every night of one device (runs on a worker): the run report of each night."""
    from calibrate.graph.toml import load_graph
    from calibrate.run import Maintain, RecalibrateAll, RunRequest, open_device, run_calibration
    from calibrate.run_cli import data_dir_for
    from calibrate.store import Store
    from devices.catalog import load_spec

    spec = load_spec(target.device)
    graph = load_graph(job.graph)
    strategy = RecalibrateAll() if job.recalibrate_all else Maintain()
    reports = []
    with Store.open(job.store_url) as store:
        data_dir = data_dir_for(store, job.data_dir)
        for _ in range(max(job.days, 1)):
            device = open_device(store, spec, target.seed)
            if job.days:
                day_s = HOURS_PER_DAY * 3600.0
                device.advance(hours=((device.now() // day_s + 1.0) * day_s - device.now()) / 3600.0)
            request = RunRequest(spec=spec, seed=target.seed, qubits=tuple(range(spec.n_qubits)), graph=graph,
                                 strategy=strategy, data_dir=data_dir, command="nightly")
            reports.append(run_calibration(store, request, device=device))
    return reports


def run_nightly(job: NightlyJob, executor: Serial | LocalDask | DaskScheduler = LocalDask(),
                on_done: Callable[[NightlyDevice], None] = lambda target: None) -> list[list[dict]]:
    """The nightly reports, per device in the order given."""
    if isinstance(executor, Serial):
        out = []
        for target in job.devices:
            out.append(night_task(job, target))
            on_done(target)
        return out
    from dask.distributed import Client, LocalCluster

    if isinstance(executor, LocalDask):
        # One thread per worker process: JAX already uses the cores a worker has.
        with LocalCluster(n_workers=executor.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            return _gather(client, job, on_done)
    with Client(executor.address, timeout="10s") as client:
        return _gather(client, job, on_done)


def _gather(client, job: NightlyJob, on_done) -> list[list[dict]]:
    from dask.distributed import as_completed

    futures = [client.submit(night_task, job, target, pure=False, key=f"night-{i}-{target.device}-{target.seed}")
               for i, target in enumerate(job.devices)]
    targets = {f.key: t for f, t in zip(futures, job.devices)}
    for future in as_completed(futures):
        future.result()  # a task's exception surfaces here, with its traceback
        on_done(targets[future.key])
    return client.gather(futures)


def summarize(reports: list[list[dict]]) -> dict:
    """Per night and device: shots, and the true error over the coherence limit per qubit."""
    nights = []
    for per_device in reports:
        for night, report in enumerate(per_device):
            ratios = {q: v["truth"]["gate_error"] / v["truth"]["coherence_limit"] for q, v in report["qubits"].items()}
            nights.append({"device": report["device"], "seed": report["seed"], "night": night,
                           "run_id": report["run_id"], "shots": report["shots"], "seconds": report["seconds"],
                           "error_over_limit": ratios,
                           "failed": {q: v["failed_nodes"] for q, v in report["qubits"].items() if v["failed_nodes"]}})
    return {"nights": nights}
