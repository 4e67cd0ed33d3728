"""Stores for the dashboard tests: a synthetic nightly history (built in a second) and, in
test_dashboard_browser.py, one filled by a real `calibrate run`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.postgres import PostgresServer, PostgresUnavailable
from synthetic_history import History, write_history


@pytest.fixture(scope="session")
def history_store(tmp_path_factory) -> tuple[str, History]:
    """20 qubits x 90 nights of nightly history, read-only for the tests that share it."""
    history = History()
    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'store.sqlite'}"
    write_history(url, history)
    return url, history


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An empty database on a throwaway PostgreSQL server (see tests/support/postgres.py)."""
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server.new_database_url()
    finally:
        server.stop()
