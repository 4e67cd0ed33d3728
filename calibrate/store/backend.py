"""Engines and transactions that behave the same on SQLite and PostgreSQL.

SQLite is used by several processes at once (a calibration run, the dashboard, a second
run on another device), so it runs in WAL mode (readers never block the writer), waits up
to 30 s for a lock instead of failing, and a write transaction takes the write lock when it
begins (BEGIN IMMEDIATE): a transaction that started as a reader and later wants to write can
otherwise fail at once, whatever the timeout. Python's sqlite3 module issues its own BEGIN
and COMMITs before DDL, which would break both the lock and atomic migrations, so we turn
that off and emit BEGIN ourselves.

PostgreSQL write transactions are SERIALIZABLE: a revert reads the history and then appends,
and must not interleave with a concurrent write to the same parameter. They also take one
transaction-level advisory lock first, so that writers run one at a time as SQLite's do:
sequences hand out ids at insert, not at commit, and two concurrent node updates could
otherwise interleave their outcome and value ids, so that "newest" would mean one update
for outcomes and the other for values (seen with two writers and two test workers). A transaction that
loses a conflict (serialization failure, deadlock, or SQLite's "database is locked") is
retried from the start, so concurrent writers lose nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from calibrate.store.urls import StoreError, StoreUrl, connect_args, engine_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
MAX_ATTEMPTS = 20
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected

T = TypeVar("T")


def make_engine(store_url: StoreUrl, *, read_only: bool) -> Engine:
    kwargs: dict = {"connect_args": connect_args(store_url, read_only=read_only)}
    if store_url.dialect == "sqlite" and store_url.sqlite_path is None:
        # one shared connection, or every pooled connection would see its own empty in-memory database
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    engine = create_engine(engine_url(store_url, read_only=read_only), **kwargs)
    if store_url.dialect == "sqlite":
        _configure_sqlite(engine, read_only=read_only)
    return engine


def _configure_sqlite(engine: Engine, *, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see module docstring
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection):
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def write_options(dialect: str) -> dict:
    return {"sqlite_begin": "IMMEDIATE"} if dialect == "sqlite" else {"isolation_level": "SERIALIZABLE"}


# any constant: the key of the one advisory lock every PostgreSQL write transaction takes
WRITE_LOCK_KEY = 0x5143414C  # "QCAL"


def begin_write(dialect: str) -> Callable[[Connection], None] | None:
    """What a write transaction runs first: PostgreSQL's writer lock (SQLite's BEGIN IMMEDIATE
    already is one)."""
    if dialect != "postgresql":
        return None
    return lambda c: c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})


def is_retryable(exc: BaseException) -> bool:
    """A conflict with another writer, which the same transaction will survive when run again."""
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "database table is locked" in message or "database is busy" in message


def describe(exc: BaseException) -> str:
    """The database's own message, first line only (SQLAlchemy appends SQL and a help link)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"


def with_retries(attempt: Callable[[], T]) -> T:
    """Call `attempt` again (after a short random back-off) while it loses a conflict."""
    for n in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except SQLAlchemyError as exc:
            if n + 1 < MAX_ATTEMPTS and is_retryable(exc):
                time.sleep(min(0.5, 0.005 * 2**n) * (0.5 + random.random()))
                continue
            raise
    raise AssertionError("unreachable")


def run_transaction(engine: Engine, body: Callable[[Connection], T], *, options: dict, what: str, url: str,
                    prelude: Callable[[Connection], None] | None = None) -> T:
    """Run `body` in one transaction (after `prelude`, e.g. a lock), from the start again after a
    lost conflict; SQLAlchemy errors become StoreErrors that name the store and the operation."""

    def attempt() -> T:
        with engine.connect() as connection:
            connection.execution_options(**options)
            with connection.begin():
                if prelude is not None:
                    prelude(connection)
                return body(connection)

    try:
        return with_retries(attempt)
    except SQLAlchemyError as exc:
        raise StoreError(f"Store {url}: {what} failed: {describe(exc)}") from exc
