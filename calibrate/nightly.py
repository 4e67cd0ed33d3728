"""Nightly tuning: maintain every qubit of one or many devices, as Dask tasks.

One task per device: a device's qubits share its clock and drift, so they run in turn
within the task, while devices run side by side on the workers. Each task opens the
store by URL itself and writes its node updates as it goes, so a worker lost mid-night
leaves every finished update stored. Each task resolves its device itself (calibrate/resolve.py),
as every command does. With `days`, a Drifting device's clock moves on to
the start of its next day between nights (as a nightly cron job starts), so a month of
operation replays in minutes, and strategies that spend different device time per night
meet the same drift at the same clocks.

Executors are option objects: `Serial()` runs in this process (the reference the Dask
result must equal), `LocalDask(workers)` starts a LocalCluster, `DaskScheduler(address)`
uses an existing cluster.

A device whose task crashes (or whose store writes fail) stops its own nights only: every
other device runs to the end, and `run_nightly` then raises `NightlyCrashed` with every
report that finished and one `DeviceCrash` per stopped device (its night, run id and reason).

Ctrl-C: serially, the interrupted run records itself as "error" (calibrate/run.py). On Dask the
interrupt reaches this process only; closing the cluster stops the workers mid-run, so this
process then finishes each of the job's nightly runs it finds still "running" (started after
the job began, on the job's devices) as "error", with the shots its stored nodes had spent,
and re-raises the KeyboardInterrupt carrying what it recorded (`run_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

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
    seed: int | None  # None: the device's own (0 for simulated devices; devices without a seed)


@dataclass(frozen=True)
class NightlyJob:
    devices: tuple[NightlyDevice, ...]
    store_url: str | None
    graph: str | None = None
    pair_graph: str | None = None  # each coupled pair's graph (calibrate.pairs.load_pair_graph; "none": no pairs)
    days: int = 0  # 0: one night now; N: N nights, advancing each device a day before each
    recalibrate_all: bool = False
    data_dir: str | None = None
    simultaneous: bool = False  # RunRequest.simultaneous


@dataclass(frozen=True)
class DeviceCrash:
    """How one device's nights stopped: the night, its run (None if the store never created
    one), whether the run is recorded as "error", and the reason."""
    device: str
    seed: int | None
    night: int
    run_id: int | None
    recorded: bool
    error: str


class DeviceCrashed(Exception):
    """Raised by `night_task`: the nights a device finished, and how the next one crashed."""

    def __init__(self, reports: list[dict], crash: DeviceCrash):
        super().__init__(reports, crash)  # all in args: it pickles back from a Dask worker
        self.reports, self.crash = reports, crash

    def __str__(self) -> str:
        return f"{self.crash.device} seed {self.crash.seed} night {self.crash.night}: {self.crash.error}"


class NightlyCrashed(Exception):
    """Some devices crashed; `reports` holds every device's finished nights (as run_nightly
    returns them) and `crashes` how each stopped device ended."""

    def __init__(self, reports: list[list[dict]], crashes: list[DeviceCrash]):
        super().__init__(reports, crashes)
        self.reports, self.crashes = reports, crashes

    def __str__(self) -> str:
        return "; ".join(f"{c.device} seed {c.seed} night {c.night}: {c.error}" for c in self.crashes)


def night_task(job: NightlyJob, target: NightlyDevice) -> list[dict]:
    """Every night of one device (runs on a worker): the run report of each night.
    Raises DeviceCrashed, with the nights that finished, when a night crashes."""
    from calibrate.run import RunError, crash_reason

    reports: list[dict] = []
    try:
        _nights(job, target, reports)
    except RunError as exc:
        raise DeviceCrashed(reports, DeviceCrash(target.device, target.seed, len(reports), exc.run_id,
                                                 exc.recorded, exc.message)) from exc
    except Exception as exc:  # before a run started: loading the device or graph, opening the store
        raise DeviceCrashed(reports, DeviceCrash(target.device, target.seed, len(reports), None, False,
                                                 crash_reason(exc, "before the night's run started"))) from exc
    return reports


def _nights(job: NightlyJob, target: NightlyDevice, reports: list[dict]) -> None:
    from calibrate.graph.toml import load_graph
    from calibrate.pairs import load_pair_graph
    from calibrate.resolve import require_drifting, resolve_device, restore_state
    from calibrate.run import Maintain, RecalibrateAll, RunRequest, data_dir_for, run_calibration
    from calibrate.store import Store

    graph = load_graph(job.graph)
    pair_graph = load_pair_graph(job.pair_graph)
    strategy = RecalibrateAll() if job.recalibrate_all else Maintain()
    with Store.open(job.store_url) as store:
        data_dir = data_dir_for(store, job.data_dir)
        for _ in range(max(job.days, 1)):
            device = restore_state(store, resolve_device(target.device, seed=target.seed))
            if job.days:
                day_s = HOURS_PER_DAY * 3600.0
                require_drifting(device, "--simulate-days").advance(
                    hours=((device.now() // day_s + 1.0) * day_s - device.now()) / 3600.0)
            request = RunRequest(qubits=tuple(device.qubits), graph=graph, pair_graph=pair_graph, strategy=strategy,
                                 data_dir=data_dir, command="nightly", simultaneous=job.simultaneous)
            reports.append(run_calibration(store, request, device=device))


def run_nightly(job: NightlyJob, executor: Serial | LocalDask | DaskScheduler = LocalDask(),
                on_done: Callable[[NightlyDevice], None] = lambda target: None) -> list[list[dict]]:
    """The nightly reports, per device in the order given. When devices crashed, raises
    NightlyCrashed after every other device has finished, with all the reports there are."""
    if isinstance(executor, Serial):
        outcomes = []
        for target in job.devices:
            try:
                outcomes.append(night_task(job, target))
            except DeviceCrashed as exc:
                outcomes.append(exc)
            on_done(target)
        return _reports_or_raise(outcomes)
    from dask.distributed import Client, LocalCluster

    with _interrupted_runs_recorded(job):
        if isinstance(executor, LocalDask):
            # One thread per worker process: JAX already uses the cores a worker has.
            with LocalCluster(n_workers=executor.workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                return _reports_or_raise(_gather(client, job, on_done))
        with Client(executor.address, timeout="10s") as client:
            return _reports_or_raise(_gather(client, job, on_done))


INTERRUPTED = "interrupted (KeyboardInterrupt): the nightly was stopped while this night ran on its Dask worker"


@contextmanager
def _interrupted_runs_recorded(job: NightlyJob):
    """On Ctrl-C (after the cluster has closed), finish this job's runs left "running" as "error"."""
    from calibrate.store import Store

    with Store.open(job.store_url) as store:
        last_run = max((r["id"] for r in store.runs()), default=0)
    try:
        yield
    except KeyboardInterrupt as exc:
        from calibrate.run import RunError

        try:
            recorded = _record_interrupted(job, last_run)
            message = ("interrupted (KeyboardInterrupt); the nights still running were recorded as error: "
                       f"run(s) {', '.join(map(str, recorded))}" if recorded else "interrupted (KeyboardInterrupt)")
            exc.run_error = RunError(message, recorded[0] if len(recorded) == 1 else None, bool(recorded))
        except Exception as failure:  # the store failed too: the runs stay "running", and the command says so
            exc.run_error = RunError(f"interrupted (KeyboardInterrupt); the nights still running could not be "
                                     f"recorded as error ({type(failure).__name__}: {failure})", None, False)
        raise


def _record_interrupted(job: NightlyJob, after_run: int) -> list[int]:
    """Finish as "error" every nightly run newer than `after_run` on the job's devices that is
    still "running"; their ids."""
    from calibrate.resolve import resolve_device, store_id
    from calibrate.store import Store

    devices = {store_id(resolve_device(t.device, seed=t.seed)) for t in job.devices}
    recorded = []
    with Store.open(job.store_url) as store:
        for run in store.runs():
            if run["id"] > after_run and run["status"] == "running" and run["command"] == "nightly" \
                    and run["device"] in devices:
                shots = sum(o.shots for o in store.outcomes(run_id=run["id"]))
                seconds = (datetime.now(timezone.utc) - run["started"]).total_seconds()
                store.finish_run(run["id"], status="error", shots=shots, seconds=max(seconds, 0.0),
                                 summary={"error": INTERRUPTED})
                recorded.append(run["id"])
    return recorded


def _gather(client, job: NightlyJob, on_done) -> list[list[dict] | DeviceCrashed]:
    """Each device's reports, or its DeviceCrashed: one device's crash hides no other's result."""
    from dask.distributed import as_completed

    from calibrate.run import crash_reason

    futures = [client.submit(night_task, job, target, pure=False, key=f"night-{i}-{target.device}-{target.seed}")
               for i, target in enumerate(job.devices)]
    targets = {f.key: t for f, t in zip(futures, job.devices)}
    outcomes: dict[str, list[dict] | DeviceCrashed] = {}
    for future in as_completed(futures):
        try:
            outcomes[future.key] = future.result()
        except DeviceCrashed as exc:
            outcomes[future.key] = exc
        except Exception as exc:  # the task never reported: its worker died, or the cluster failed
            target = targets[future.key]
            outcomes[future.key] = DeviceCrashed([], DeviceCrash(target.device, target.seed, 0, None, False,
                                                                 crash_reason(exc, "in its Dask task")))
        on_done(targets[future.key])
    return [outcomes[f.key] for f in futures]


def _reports_or_raise(outcomes: list[list[dict] | DeviceCrashed]) -> list[list[dict]]:
    crashes = [o for o in outcomes if isinstance(o, DeviceCrashed)]
    reports = [o.reports if isinstance(o, DeviceCrashed) else o for o in outcomes]
    if crashes:
        raise NightlyCrashed(reports, [c.crash for c in crashes])
    return reports


def summarize(reports: list[list[dict]]) -> dict:
    """Per night and device: shots, and the true error over the coherence limit per qubit and
    pair ("c-t"; None for devices without a truth)."""
    nights = []
    for per_device in reports:
        for night, report in enumerate(per_device):
            entries = {**report["qubits"], **report.get("pairs", {})}
            ratios = {k: v["truth"]["gate_error"] / v["truth"]["coherence_limit"] if v["truth"] is not None else None
                      for k, v in entries.items()}
            nights.append({"device": report["device"], "seed": report["seed"], "night": night,
                           "run_id": report["run_id"], "shots": report["shots"], "seconds": report["seconds"],
                           "error_over_limit": ratios,
                           "failed": {k: v["failed_nodes"] for k, v in entries.items() if v["failed_nodes"]}})
    return {"nights": nights}
