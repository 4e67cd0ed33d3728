"""Schema revisions: every writable open brings a store to the code's head with Alembic.

The revisions ship inside the package (`migrations/`), so an installed toolkit upgrades the
stores it meets without an alembic.ini. A store whose revision this code does not know was
written by a newer toolkit: it is refused rather than read with the wrong schema in mind.

Two processes may open a new store at the same moment (two nightly workers, say). The upgrade
therefore runs in one transaction that first takes a store-wide lock (BEGIN IMMEDIATE on
SQLite, an advisory lock on PostgreSQL) and only then reads the revision.

To add a revision, edit schema.py and write the next file in migrations/versions, e.g.:
    python -c "from alembic import command; from calibrate.store.migrate import alembic_config; \
command.revision(alembic_config(), 'what changes')"
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, inspect, text

MIGRATIONS = Path(__file__).with_name("migrations")
# An arbitrary constant shared by every process that migrates a store.
_PG_LOCK_KEY = 7_401_311_922


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    return _script().get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the store (alembic_version), None for a store without schema."""
    return MigrationContext.configure(connection).get_current_revision()


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def schema_problem(revision: str | None) -> str | None:
    """Why a store at `revision` cannot be used by this code as it is; None when it is at head."""
    head = head_revision()
    if revision == head:
        return None
    if revision is None:
        return "it has no schema yet (open it once without read_only to create it)"
    if not _known(revision):
        return (
            f"its schema revision {revision!r} is unknown to this toolkit, whose newest is {head!r}: "
            f"the store was written by a newer version of the toolkit; upgrade the toolkit to use it"
        )
    return f"its schema revision {revision!r} is older than this toolkit's {head!r} (open it without read_only to upgrade)"


def upgrade_to_head(connection: Connection) -> None:
    """Bring the store to head in one locked transaction; raise RuntimeError for a newer schema."""
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        revision = current_revision(connection)
        if revision == head_revision():
            return
        if revision is not None and not _known(revision):
            raise RuntimeError(schema_problem(revision))
        if revision is None and inspect(connection).get_table_names():
            existing = ", ".join(sorted(inspect(connection).get_table_names()))
            raise RuntimeError(
                f"the database already holds tables ({existing}) but no store schema revision: "
                f"it is not a calibration store; give an empty database or a new SQLite file"
            )
        command.upgrade(alembic_config(connection), "head")
