"""Store URLs for the calibrate tests: every store test runs on SQLite and on PostgreSQL.

The PostgreSQL server starts once per session, and only when a test asks for it; each
test gets its own empty database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.postgres import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request) -> str:
    """The URL of a new, empty store, on each backend in turn."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param])
