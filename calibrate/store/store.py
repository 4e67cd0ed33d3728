"""The parameter store: runs, node outcomes and the append-only history of calibrated values.

Everything the calibration graph learns goes through here, and every node update is one
transaction: the outcome row and all the values it wrote commit together or not at all, so a
run killed at any moment leaves either the whole update or none of it. The current value of a
parameter is the newest valid row of its history; nothing is ever overwritten, so a revert
(of one parameter or of a whole run) is itself a new row and can be reverted in turn. Bad fits
are recorded as outcomes with their numbers, but never reach the history (`write_values=False`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from pathlib import Path
from datetime import datetime, timezone
from typing import TypeVar

from alembic.util.exc import CommandError
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from calibrate.store import migrate
from calibrate.store.backend import begin_write, describe, make_engine, run_transaction, with_retries, write_options
from calibrate.store.records import NodeOutcome, ParameterValue, run_from_row
from calibrate.store.schema import device_states, node_outcomes, parameter_values, runs
from calibrate.store.urls import StoreError, StoreUrl, parse_store_url

T = TypeVar("T")
PV = parameter_values.c
RUNNING = "running"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _same_value(row, target) -> bool:
    """Whether history row `row` already says what `target` says (None: cleared)."""
    if target is None or target.value is None:
        return row is None or row.value is None
    return row is not None and _same(row.value, target.value) and _same(row.stderr, target.stderr) and row.unit == target.unit


def _check_name(field: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise StoreError(f"Argument `{field}` must be a non-empty string, but is {value!r}.")
    return value


def _check_qubit(qubit) -> int:
    try:
        index = operator.index(qubit)  # NumPy integers too
    except TypeError:
        index = -1
    if isinstance(qubit, bool) or index < 0:
        raise StoreError(f"Argument `qubit` must be a qubit index (an int >= 0), but is {qubit!r}.")
    return index


def _optional_int(field: str, value) -> int | None:
    if value is None:
        return None
    try:
        return operator.index(value)
    except TypeError:
        raise StoreError(f"Argument `{field}` must be an int or None, but is {value!r}.") from None


def _value_row(device, qubit, name, value, stderr, unit, *, run_id, experiment, device_time_s, note,
               outcome_id=None, time=None) -> dict:
    return {
        "device": device, "qubit": qubit, "name": name,
        "value": None if value is None else float(value), "stderr": None if stderr is None else float(stderr),
        "unit": str(unit), "time": time or _now(), "device_time_s": float(device_time_s), "run_id": run_id,
        "outcome_id": outcome_id, "experiment": experiment, "valid": True, "note": note,
    }


class Store:
    """A calibration store at a URL (see `Store.open`). Thread-safe; one per process is enough."""

    def __init__(self, store_url: StoreUrl, engine, *, read_only: bool):
        self._store_url = store_url
        self._engine = engine
        self.read_only = read_only
        self.url: str = store_url.text
        self.dialect: str = store_url.dialect
        self.sqlite_path: Path | None = store_url.sqlite_path  # None for PostgreSQL and in-memory SQLite

    # --- opening and closing -------------------------------------------------------------

    @classmethod
    def open(cls, url: str | None = None, *, read_only: bool = False) -> Store:
        """Open (and unless `read_only`, create or upgrade) the store at `url`, DEFAULT_STORE_URL
        when None. Fails fast with a StoreError when the database cannot be reached."""
        store_url = parse_store_url(url)
        path = store_url.sqlite_path
        if read_only and store_url.dialect == "sqlite":
            if path is None:
                raise StoreError(f"Store {store_url.masked} is in memory: opened read-only it would be empty.")
            if not path.is_file():
                raise StoreError(f"Store {store_url.masked} cannot be opened read-only: the file {path} does not exist.")
        if path is not None and not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"Store {store_url.masked}: cannot create the folder {path.parent} ({exc}).") from None
        engine = make_engine(store_url, read_only=read_only)
        try:
            problem = with_retries(lambda: cls._check_schema(engine) if read_only else cls._upgrade(engine))
        except SQLAlchemyError as exc:
            problem = f"cannot be opened: {describe(exc)}"
        except BaseException:
            engine.dispose()
            raise
        if problem:
            engine.dispose()
            raise StoreError(f"Store {store_url.masked} {problem}.")
        return cls(store_url, engine, read_only=read_only)

    @staticmethod
    def _check_schema(engine) -> str | None:
        with engine.connect() as connection:
            problem = migrate.schema_problem(migrate.current_revision(connection))
        return None if problem is None else f"cannot be read: {problem}"

    @staticmethod
    def _upgrade(engine) -> str | None:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.execution_options(sqlite_begin="IMMEDIATE")
            try:
                migrate.upgrade_to_head(connection)
            except RuntimeError as exc:
                return f"cannot be used: {exc}"
            except CommandError as exc:  # the revisions are missing or broken: an installation problem
                return f"cannot be upgraded to this toolkit's schema: {exc}"
        return None

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"Store({self._store_url.masked!r}{mode})"

    def _write(self, what: str, body: Callable[[Connection], T]) -> T:
        if self.read_only:
            raise StoreError(f"Store {self._store_url.masked} was opened read-only: {what} is a write; "
                             f"open it without read_only.")
        return run_transaction(self._engine, body, options=write_options(self.dialect), what=what,
                               url=self._store_url.masked, prelude=begin_write(self.dialect))

    def _read(self, what: str, body: Callable[[Connection], T]) -> T:
        return run_transaction(self._engine, body, options={}, what=what, url=self._store_url.masked)

    # --- runs ------------------------------------------------------------------------------

    def start_run(self, device: str, *, command: str, qubits: Iterable[int], device_seed: int | None = None) -> int:
        """Record a run as "running"; a run that is never finished (killed) keeps that status."""
        row = {"device": _check_name("device", device), "device_seed": _optional_int("device_seed", device_seed),
               "command": str(command), "qubits": [_check_qubit(q) for q in qubits], "status": RUNNING, "started": _now()}
        return self._write("start_run", lambda c: c.execute(insert(runs).values(row)).inserted_primary_key[0])

    def finish_run(self, run_id: int, *, status: str, shots: int, seconds: float, summary: dict | None = None) -> None:
        if _check_name("status", status) == RUNNING:
            raise StoreError(f"Argument `status` of finish_run must say how the run ended (e.g. 'ok', 'failed_nodes', "
                             f"'error', 'killed'), but is {status!r}.")

        def body(c: Connection) -> None:
            current = c.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar_one_or_none()
            if current is None:
                raise StoreError(f"Store {self._store_url.masked}: finish_run: there is no run {run_id}.")
            if current != RUNNING:
                raise StoreError(f"Store {self._store_url.masked}: run {run_id} is already finished with status {current!r}.")
            c.execute(update(runs).where(runs.c.id == run_id).values(
                status=status, finished=_now(), shots=int(shots), seconds=float(seconds), summary=summary))

        self._write("finish_run", body)

    def runs(self, device: str | None = None) -> list[dict]:
        """Runs, newest last, as dicts (id, device, device_seed, command, qubits, status, started,
        finished, shots, seconds, summary)."""
        query = select(runs).order_by(runs.c.id)
        if device is not None:
            query = query.where(runs.c.device == device)
        return self._read("runs", lambda c: [run_from_row(r) for r in c.execute(query)])

    def _require_run(self, c: Connection, run_id: int, what: str):
        row = c.execute(select(runs).where(runs.c.id == run_id)).one_or_none()
        if row is None:
            raise StoreError(f"Store {self._store_url.masked}: {what}: there is no run {run_id}.")
        return row

    # --- node outcomes -----------------------------------------------------------------------

    def record_node(self, run_id: int, *, device: str, qubit: int, node: str, action: str, outcome: str, reason: str,
                    experiment: str, device_time_s: float, shots: int, dataset_path: str | None = None,
                    values: dict[str, tuple[float, float, str]] | None = None, write_values: bool = True) -> NodeOutcome:
        """Record one node update in one transaction: its outcome, and when `write_values`, its
        values as valid rows of the history. With `write_values=False` (a bad fit, a check) the
        numbers stay in the outcome only."""
        device, node = _check_name("device", device), _check_name("node", node)
        qubit, run_id = _check_qubit(qubit), _optional_int("run_id", run_id)
        where = f"record_node({node!r}, qubit {qubit})"
        recorded: dict[str, dict] = {}
        for name, triple in (values or {}).items():
            _check_name("values key", name)
            try:
                value, stderr, unit = triple
                value = None if value is None else float(value)
                stderr = None if stderr is None else float(stderr)
            except (TypeError, ValueError):
                raise StoreError(f"{where}: values[{name!r}] must be a (value, stderr, unit) tuple of two numbers "
                                 f"and a unit, but is {triple!r}.") from None
            if write_values and (value is None or not math.isfinite(value)):
                raise StoreError(f"{where}: values[{name!r}] has value {value!r}: only a finite number can become "
                                 f"a valid parameter value; record the node with write_values=False (a bad fit).")
            # A failed fit's NaN is kept as null: JSON columns (PostgreSQL's above all) refuse NaN.
            recorded[name] = {"value": _finite_or_none(value), "stderr": _finite_or_none(stderr), "unit": str(unit)}
        now = _now()
        outcome_row = {"run_id": run_id, "device": device, "qubit": qubit, "node": node, "action": str(action),
                       "outcome": str(outcome), "reason": str(reason), "experiment": str(experiment), "time": now,
                       "device_time_s": float(device_time_s), "shots": int(shots),
                       "dataset_path": None if dataset_path is None else str(dataset_path),
                       "values": recorded, "wrote_values": bool(write_values and recorded)}

        def body(c: Connection) -> int:
            outcome_id = c.execute(insert(node_outcomes).values(outcome_row)).inserted_primary_key[0]
            if write_values and recorded:
                c.execute(insert(parameter_values), [
                    _value_row(device, qubit, name, v["value"], v["stderr"], v["unit"], run_id=run_id,
                               experiment=str(experiment), device_time_s=device_time_s, note=f"node {node}",
                               outcome_id=outcome_id, time=now)
                    for name, v in recorded.items()])
            return outcome_id

        outcome_id = self._write("record_node", body)
        fields = {k: v for k, v in outcome_row.items() if k not in ("experiment", "wrote_values")}
        return NodeOutcome(id=outcome_id, **fields)

    def outcomes(self, *, run_id: int | None = None, device: str | None = None, qubit: int | None = None,
                 node: str | None = None) -> list[NodeOutcome]:
        """Node outcomes matching every given filter, oldest first."""
        query = select(node_outcomes).order_by(node_outcomes.c.id)
        for column, wanted in (("run_id", run_id), ("device", device), ("qubit", qubit), ("node", node)):
            if wanted is not None:
                query = query.where(node_outcomes.c[column] == wanted)
        return self._read("outcomes", lambda c: [NodeOutcome.from_row(r) for r in c.execute(query)])

    def last_outcome(self, device: str, qubit: int, node: str, *,
                     outcomes: tuple[str, ...] | None = None) -> NodeOutcome | None:
        """The newest outcome of `node` on this qubit, optionally only among the given outcome kinds."""
        query = (select(node_outcomes)
                 .where(node_outcomes.c.device == device, node_outcomes.c.qubit == qubit, node_outcomes.c.node == node)
                 .order_by(node_outcomes.c.id.desc()).limit(1))
        if outcomes is not None:
            query = query.where(node_outcomes.c.outcome.in_(list(outcomes)))
        row = self._read("last_outcome", lambda c: c.execute(query).one_or_none())
        return None if row is None else NodeOutcome.from_row(row)

    # --- values --------------------------------------------------------------------------------

    def current(self, device: str, qubit: int | None = None) -> dict[tuple[int, str], ParameterValue]:
        """The newest valid row per (qubit, name); parameters whose newest row is cleared are absent."""
        newest = select(func.max(PV.id)).where(PV.device == device, PV.valid.is_(True)).group_by(PV.qubit, PV.name)
        if qubit is not None:
            newest = newest.where(PV.qubit == qubit)
        query = select(parameter_values).where(PV.id.in_(newest))
        rows = self._read("current", lambda c: c.execute(query).all())
        # sorted here, not in SQL: PostgreSQL would order names by its locale's collation
        return {(r.qubit, r.name): ParameterValue.from_row(r)
                for r in sorted(rows, key=lambda r: (r.qubit, r.name)) if r.value is not None}

    def history(self, device: str, name: str | None = None, qubit: int | None = None) -> list[ParameterValue]:
        """Every row, reverts and invalid rows included, oldest first."""
        query = select(parameter_values).where(PV.device == device).order_by(PV.id)
        if name is not None:
            query = query.where(PV.name == name)
        if qubit is not None:
            query = query.where(PV.qubit == qubit)
        return self._read("history", lambda c: [ParameterValue.from_row(r) for r in c.execute(query)])

    def set_value(self, device: str, qubit: int, name: str, value: float | None, stderr: float | None, unit: str, *,
                  run_id: int | None = None, experiment: str = "manual", device_time_s: float = 0.0,
                  note: str = "") -> ParameterValue:
        """Append a valid value by hand (value None clears the parameter)."""
        if value is not None and not math.isfinite(float(value)):
            raise StoreError(f"Argument `value` of set_value must be a finite number or None (clear), but is {value!r}.")
        row = _value_row(_check_name("device", device), _check_qubit(qubit), _check_name("name", name), value, stderr,
                         unit, run_id=run_id, experiment=experiment, device_time_s=device_time_s, note=note)
        row_id = self._write("set_value", lambda c: c.execute(insert(parameter_values).values(row)).inserted_primary_key[0])
        return ParameterValue(id=row_id, **{k: v for k, v in row.items() if k != "outcome_id"})

    @staticmethod
    def _newest_valid(c: Connection, device: str, qubit: int, name: str, *, before_id: int | None = None, n: int = 1):
        query = (select(parameter_values).where(PV.device == device, PV.qubit == qubit, PV.name == name,
                                                PV.valid.is_(True)).order_by(PV.id.desc()).limit(n))
        if before_id is not None:
            query = query.where(PV.id < before_id)
        return c.execute(query).all()

    def revert_parameter(self, device: str, qubit: int, name: str, *, run_id: int | None = None) -> ParameterValue | None:
        """Append a row restoring the value that was current before the current one (a cleared row
        when there was none) and return the new current value (None when cleared). Reverting
        twice restores the value the first revert replaced."""

        def body(c: Connection) -> ParameterValue | None:
            rows = self._newest_valid(c, device, qubit, name, n=2)
            if not rows:
                raise StoreError(f"Store {self._store_url.masked}: revert_parameter: device {device!r} qubit {qubit} "
                                 f"has no value of {name!r} to revert.")
            restored = rows[1] if len(rows) > 1 else None
            row = self._restoring_row(c, device, qubit, name, restored, run_id=run_id,
                                      note=f"revert of row {rows[0].id}")
            return None if row.value is None else row

        return self._write("revert_parameter", body)

    def revert_run(self, run_id: int, *, by_run: int | None = None) -> list[tuple[int, str]]:
        """For every parameter run `run_id` wrote, append a row restoring the value current just before
        the run's first write to it (a cleared row where there was none). Parameters that already
        hold that value get no row. Returns the (qubit, name) keys given a new row."""

        def body(c: Connection) -> list[tuple[int, str]]:
            self._require_run(c, run_id, "revert_run")
            first_writes = c.execute(
                select(PV.device, PV.qubit, PV.name, func.min(PV.id).label("first_id"))
                .where(PV.run_id == run_id).group_by(PV.device, PV.qubit, PV.name)
                .order_by(PV.device, PV.qubit, PV.name)).all()
            restored_keys = []
            for device, qubit, name, first_id in first_writes:
                before = self._newest_valid(c, device, qubit, name, before_id=first_id)
                target = before[0] if before else None
                now = self._newest_valid(c, device, qubit, name)
                if _same_value(now[0] if now else None, target):
                    continue
                self._restoring_row(c, device, qubit, name, target, run_id=by_run, note=f"revert of run {run_id}")
                restored_keys.append((qubit, name))
            return restored_keys

        return self._write("revert_run", body)

    @staticmethod
    def _restoring_row(c: Connection, device, qubit, name, restored, *, run_id, note) -> ParameterValue:
        """Append a copy of history row `restored` (None: a cleared row). The copy keeps the device
        time of the measurement it restores: the value is as old as that measurement."""
        if restored is None or restored.value is None:
            row = _value_row(device, qubit, name, None, None, "", run_id=run_id, experiment="revert",
                             device_time_s=0.0, note=f"{note}: no value before")
        else:
            row = _value_row(device, qubit, name, restored.value, restored.stderr, restored.unit, run_id=run_id,
                             experiment="revert", device_time_s=restored.device_time_s,
                             note=f"{note}: restores row {restored.id}")
        row_id = c.execute(insert(parameter_values).values(row)).inserted_primary_key[0]
        return ParameterValue(id=row_id, **{k: v for k, v in row.items() if k != "outcome_id"})

    # --- simulated-device state ----------------------------------------------------------------

    def save_device_state(self, key: str, state: dict, *, run_id: int | None = None) -> None:
        """Append a JSON state (a simulated device's clock and drift) under `key`."""
        row = {"key": _check_name("key", key), "state": state, "time": _now(), "run_id": run_id}
        self._write("save_device_state", lambda c: c.execute(insert(device_states).values(row)))

    def load_device_state(self, key: str) -> dict | None:
        """The newest state saved under `key`, None when there is none."""
        query = (select(device_states.c.state).where(device_states.c.key == key)
                 .order_by(device_states.c.id.desc()).limit(1))
        return self._read("load_device_state", lambda c: c.execute(query).scalar_one_or_none())
