"""The store's tables, as SQLAlchemy Core metadata.

Values, node outcomes and device states are append-only: a correction or a revert is a new
row, so the history answers "what did we believe, when, and why" without an audit log of
its own. Only `runs` rows are updated, once, when a run finishes.

Column types are the portable subset of SQLite and PostgreSQL: JSON is TEXT written by
`json.dumps` (no dialect JSON type, whose NULL and float handling differ between the two), and
times are UTC. This module describes the newest schema; the tables in a database are created
and changed only by the Alembic revisions in `migrations/versions`, and a test checks that the
two agree.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both dialects. PostgreSQL stores `timestamptz`; SQLite has
    no time zones, so it stores naive UTC and we attach UTC again on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"Store times must be timezone-aware (UTC), but got the naive datetime {value!r}.")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _plain(obj):
    """NumPy scalars and arrays (a device state, a run summary) as plain JSON numbers and lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"A {type(obj).__name__} cannot be stored as JSON: give numbers, strings, lists and dicts.")


class JSONText(TypeDecorator):
    """A JSON document kept as TEXT: identical on both dialects, NaN and infinities included."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value, default=_plain)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


NAME = String(200)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("device", NAME, nullable=False),
    Column("device_seed", Integer, nullable=True),
    Column("command", Text, nullable=False),
    Column("qubits", JSONText, nullable=False),
    Column("status", String(50), nullable=False),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime, nullable=True),
    Column("shots", Integer, nullable=True),
    Column("seconds", Float, nullable=True),
    Column("summary", JSONText, nullable=True),
    Index("ix_runs_device", "device"),
)

node_outcomes = Table(
    "node_outcomes", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("device", NAME, nullable=False),
    Column("qubit", Integer, nullable=False),
    Column("node", NAME, nullable=False),
    Column("action", String(50), nullable=False),
    Column("outcome", String(50), nullable=False),
    Column("reason", Text, nullable=False),
    Column("experiment", NAME, nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("device_time_s", Float, nullable=False),
    Column("shots", Integer, nullable=False),
    Column("dataset_path", Text, nullable=True),
    Column("values", JSONText, nullable=False),
    Column("wrote_values", Boolean, nullable=False),
    Index("ix_node_outcomes_key", "device", "qubit", "node"),
    Index("ix_node_outcomes_run", "run_id"),
)

parameter_values = Table(
    "parameter_values", metadata,
    Column("id", Integer, primary_key=True),
    Column("device", NAME, nullable=False),
    Column("qubit", Integer, nullable=False),
    Column("name", NAME, nullable=False),
    Column("value", Float, nullable=True),  # NULL: the key was cleared (reverted to "no value")
    Column("stderr", Float, nullable=True),
    Column("unit", String(50), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("device_time_s", Float, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    # the node update that wrote the row, so that a reader can check an update is complete
    Column("outcome_id", Integer, ForeignKey("node_outcomes.id"), nullable=True),
    Column("experiment", NAME, nullable=False),
    Column("valid", Boolean, nullable=False),
    Column("note", Text, nullable=False),
    Index("ix_parameter_values_key", "device", "qubit", "name", "id"),
    Index("ix_parameter_values_run", "run_id"),
)

device_states = Table(
    "device_states", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", NAME, nullable=False),
    Column("state", JSONText, nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Index("ix_device_states_key", "key", "id"),
)
