"""What the dashboard and the reports read from the store: SQL queries, columns out.

Each panel is one SQLAlchemy Core query against the store's tables, answered as plain
columns (name -> list) ready for a Bokeh ColumnDataSource, so that a store with months of
nightly history opens in well under a second instead of one Python call per qubit and
parameter. The reader opens the store read-only (SQLite `mode=ro`, PostgreSQL
`default_transaction_read_only`) and has no method that writes: the dashboard cannot
change what it shows.

Times leave here as milliseconds since the epoch (UTC), Bokeh's datetime unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, func, or_, select

from calibrate.pairs import SEPARATOR, split_stored_name
from calibrate.store import Store
from calibrate.store.backend import make_engine, run_transaction
from calibrate.store.schema import node_outcomes, parameter_values, runs
from calibrate.store.urls import StoreUrl, parse_store_url

PV = parameter_values.c
NO = node_outcomes.c
RUNNING = "running"

Columns = dict[str, list]

PARAMETER_COLUMNS = ("id", "device", "qubit", "name", "value", "stderr", "unit", "time", "run_id")
# a pair's truth row has its control as `qubit` and its `target`; a qubit's target is None
TRUTH_COLUMNS = ("run_id", "device", "qubit", "target", "time", "gate_error", "coherence_limit", "leakage")
OUTCOME_COLUMNS = ("id", "run_id", "device", "qubit", "node", "action", "outcome", "reason", "experiment", "time",
                   "shots", "dataset_path")


def epoch_ms(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp() * 1000.0


def empty(names: Iterable[str]) -> Columns:
    return {name: [] for name in names}


def _columns(rows, names: tuple[str, ...]) -> Columns:
    out = empty(names)
    for row in rows:
        mapping = row._mapping
        for name in names:
            value = mapping[name]
            out[name].append(epoch_ms(value) if isinstance(value, datetime) else value)
    return out


@dataclass(frozen=True)
class RunInfo:
    id: int
    device: str
    status: str
    qubits: list[int]
    command: str
    started: datetime
    finished: datetime | None
    shots: int | None
    seconds: float | None
    summary: dict | None


def _pair_of(label: str) -> tuple[int, int] | None:
    """(control, target) of a summary's pair key "c-t" (calibrate.pairs.pair_label)."""
    control, sep, target = label.partition("-")
    return (int(control), int(target)) if sep and control.isdigit() and target.isdigit() else None


def summary_entries(summary: dict | None) -> list[tuple[int, int | None, dict]]:
    """(qubit, target, entry) of each qubit (target None) and then each pair (qubit its control)
    of a run's summary, in order."""
    summary = summary or {}
    # qubit keys only: a crashed run's summary is {"error": reason}, a learn-model run's names its files
    qubits = sorted(((int(k), None, v or {}) for k, v in summary.items() if isinstance(k, str) and k.isdigit()),
                    key=lambda entry: entry[0])
    pairs = summary.get("pairs")
    found = [(_pair_of(k), v or {}) for k, v in pairs.items()] if isinstance(pairs, dict) else []
    return qubits + sorted(((*pair, v) for pair, v in found if pair is not None), key=lambda entry: entry[:2])


def truth_columns(finished_runs: Iterable[RunInfo]) -> Columns:
    """The truth block that `calibrate run` writes into a simulated run's summary, one row per
    qubit and per pair (its `pairs` entry), timed at the run's end (when it was computed)."""
    out = empty(TRUTH_COLUMNS)
    for run in finished_runs:
        for qubit, target, entry in summary_entries(run.summary):
            truth = entry.get("truth")
            if not truth:  # a real device: nothing hidden to compare with
                continue
            row = {"run_id": run.id, "device": run.device, "qubit": qubit, "target": target,
                   "time": epoch_ms(run.finished), "gate_error": truth.get("gate_error"),
                   "coherence_limit": truth.get("coherence_limit"), "leakage": truth.get("leakage")}
            for name in TRUTH_COLUMNS:
                out[name].append(row[name])
    return out


class StoreReader:
    """Read-only queries of one store. Open with `StoreReader.open(url)`; a bad or unreachable
    URL raises the store's own StoreError, which names the URL."""

    def __init__(self, store_url: StoreUrl, engine: Engine):
        self.url = store_url.masked  # for messages: never the password
        self.sqlite_path = store_url.sqlite_path
        self._engine = engine

    @classmethod
    def open(cls, url: str | None) -> StoreReader:
        # Store.open checks the URL, that the database is there and its schema is one this code
        # reads, and says clearly what is wrong; the reader then queries through an engine of its
        # own, made the same way and as read-only.
        with Store.open(url, read_only=True) as store:
            checked = parse_store_url(store.url)
        return cls(checked, make_engine(checked, read_only=True))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _read(self, what: str, query):
        return run_transaction(self._engine, lambda c: c.execute(query).all(), options={}, what=what, url=self.url)

    # --- parameter history ---------------------------------------------------------------

    def parameter_rows(self, names: Iterable[str], *, pair_names: Iterable[str] = (), after_id: int = 0,
                       device: str | None = None, until: datetime | None = None) -> Columns:
        """Valid values of the named parameters of qubits, and of `pair_names` of every pair (stored
        as NAME@TARGET, see calibrate.pairs), with id > after_id, oldest first (cleared rows,
        which carry no value, left out). Names come as stored: `gate_error@0` on qubit 1 is pair
        1-0's."""
        # one query for both, so that one id cursor (NewRows) follows qubits and pairs alike
        wanted = [PV.name.in_(list(names)),
                  *(PV.name.startswith(f"{name}{SEPARATOR}", autoescape=True) for name in pair_names)]
        query = (select(*(PV[c] for c in PARAMETER_COLUMNS))
                 .where(PV.id > after_id, or_(*wanted), PV.valid.is_(True), PV.value.is_not(None))
                 .order_by(PV.id))
        if device is not None:
            query = query.where(PV.device == device)
        if until is not None:
            query = query.where(PV.time <= until)
        rows = _columns(self._read("parameter_rows", query), PARAMETER_COLUMNS)
        # the prefix also matches names like `zx_rate@x`, which no pair writes
        kept = [i for i, name in enumerate(rows["name"])
                if SEPARATOR not in name or split_stored_name(name)[1] is not None]
        if len(kept) == len(rows["name"]):
            return rows
        return {column: [values[i] for i in kept] for column, values in rows.items()}

    # --- runs ------------------------------------------------------------------------------

    def runs(self, *, ids: Iterable[int] | None = None, device: str | None = None, running: bool = False,
             finished: bool = False, until: datetime | None = None) -> list[RunInfo]:
        """Runs, oldest first: those with the given ids, of one device, only running or only
        finished ones, or finished by `until`."""
        query = select(runs).order_by(runs.c.id)
        if ids is not None:
            query = query.where(runs.c.id.in_(list(ids)))
        if device is not None:
            query = query.where(runs.c.device == device)
        if running:
            query = query.where(runs.c.status == RUNNING)
        if finished:
            query = query.where(runs.c.finished.is_not(None))
        if until is not None:
            query = query.where(runs.c.finished.is_not(None), runs.c.finished <= until)
        return [RunInfo(id=r.id, device=r.device, status=r.status, qubits=list(r.qubits or []), command=r.command,
                        started=r.started, finished=r.finished, shots=r.shots, seconds=r.seconds, summary=r.summary)
                for r in self._read("runs", query)]

    def finished_run_ids(self, *, from_id: int) -> list[int]:
        """Ids of the finished runs from `from_id` on (cheap: no summaries)."""
        query = select(runs.c.id).where(runs.c.id >= from_id, runs.c.finished.is_not(None)).order_by(runs.c.id)
        return [r.id for r in self._read("finished_run_ids", query)]

    def newest_run_id(self) -> int | None:
        return self._read("newest_run_id", select(func.max(runs.c.id)))[0][0]

    def progress(self, run_ids: Iterable[int]) -> dict[int, tuple[int, dict | None]]:
        """Per run: the number of node updates recorded so far and the newest one (as a row dict)."""
        ids = list(run_ids)
        if not ids:
            return {}
        counts = self._read("progress", select(NO.run_id, func.count(), func.max(NO.id))
                            .where(NO.run_id.in_(ids)).group_by(NO.run_id))
        newest = {r.id: dict(r._mapping) for r in self._read(
            "progress", select(node_outcomes).where(NO.id.in_([newest_id for _, _, newest_id in counts])))}
        found = {run_id: (count, newest.get(newest_id)) for run_id, count, newest_id in counts}
        return {run_id: found.get(run_id, (0, None)) for run_id in ids}

    # --- node outcomes ---------------------------------------------------------------------

    def outcomes(self, *, after_id: int = 0, run_id: int | None = None, newest: int | None = None) -> Columns:
        """Node outcomes with id > after_id (of one run), oldest first; `newest`: only that many,
        the newest."""
        query = select(*(NO[c] for c in OUTCOME_COLUMNS)).where(NO.id > after_id)
        if run_id is not None:
            query = query.where(NO.run_id == run_id)
        if newest is not None:
            query = query.order_by(NO.id.desc()).limit(newest)
            rows = list(reversed(self._read("outcomes", query)))
        else:
            rows = self._read("outcomes", query.order_by(NO.id))
        return _columns(rows, OUTCOME_COLUMNS)

    def node_states(self, *, device: str | None = None, run_id: int | None = None) -> Columns:
        """The newest outcome of each (device, qubit, node), with `dataset_path` the newest dataset
        of that node (a skipped node has none of its own). With `run_id`, within that run only."""
        scope = []
        if device is not None:
            scope.append(NO.device == device)
        if run_id is not None:
            scope.append(NO.run_id == run_id)
        key = (NO.device, NO.qubit, NO.node)
        newest = select(func.max(NO.id)).where(*scope).group_by(*key)
        with_data = (select(*key, func.max(NO.id).label("data_id"))
                     .where(*scope, NO.dataset_path.is_not(None)).group_by(*key).subquery())
        data = node_outcomes.alias("data")
        query = (select(*(NO[c] for c in OUTCOME_COLUMNS if c != "dataset_path"), data.c.dataset_path)
                 .where(NO.id.in_(newest))
                 .outerjoin(with_data, and_(with_data.c.device == NO.device, with_data.c.qubit == NO.qubit,
                                            with_data.c.node == NO.node))
                 .outerjoin(data, data.c.id == with_data.c.data_id)
                 .order_by(NO.device, NO.qubit, NO.id))
        return _columns(self._read("node_states", query), OUTCOME_COLUMNS)

    def newest_datasets(self, node: str, experiment: str, *, device: str | None = None,
                        until: datetime | None = None) -> Columns:
        """Per (device, qubit): the newest outcome of `node` that ran `experiment` and stored a
        dataset (of one device, recorded by `until`), oldest first."""
        scope = [NO.node == node, NO.experiment == experiment, NO.dataset_path.is_not(None)]
        if device is not None:
            scope.append(NO.device == device)
        if until is not None:
            scope.append(NO.time <= until)
        newest = select(func.max(NO.id)).where(*scope).group_by(NO.device, NO.qubit)
        query = select(*(NO[c] for c in OUTCOME_COLUMNS)).where(NO.id.in_(newest)).order_by(NO.id)
        return _columns(self._read("newest_datasets", query), OUTCOME_COLUMNS)


class NewRows:
    """Which rows of an append-only table a session has not shown yet.

    Ids grow, but on PostgreSQL two writers may commit out of id order, so a row can appear
    below the newest id already seen. Each poll therefore asks from `OVERLAP` ids below the
    newest seen and drops the ids it already has: a late commit within that window still
    arrives, and nothing arrives twice."""

    OVERLAP = 1000

    def __init__(self, seen_ids: Iterable[int] = ()):
        self._seen: set[int] = set()
        self.newest = 0
        self._remember(seen_ids)

    @property
    def floor(self) -> int:
        """Ask for ids above this."""
        return max(0, self.newest - self.OVERLAP)

    def take(self, columns: Columns) -> Columns:
        """The rows of `columns` not seen before; remembers them."""
        fresh = [i for i, row_id in enumerate(columns["id"]) if row_id not in self._seen]
        self._remember(columns["id"][i] for i in fresh)
        return {name: [values[i] for i in fresh] for name, values in columns.items()}

    def _remember(self, ids: Iterable[int]) -> None:
        self._seen.update(ids)
        self.newest = max(self._seen, default=self.newest)
        self._seen = {i for i in self._seen if i > self.floor}  # older ids can no longer be asked for
