"""Store URLs for the calibrate tests: every store test runs on SQLite and on PostgreSQL.

The PostgreSQL server and its databases come from tests/conftest.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request) -> str:
    """The URL of a new, empty store, on each backend in turn."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param])
