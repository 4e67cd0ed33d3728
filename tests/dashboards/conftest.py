"""Stores for the dashboard tests: a synthetic nightly history (built in a second) and, in
test_dashboard_browser.py, one filled by a real `calibrate run`."""

from __future__ import annotations

import pytest
from synthetic_history import History, write_history


@pytest.fixture(scope="session")
def history_store(tmp_path_factory) -> tuple[str, History]:
    """20 qubits x 90 nights of nightly history, read-only for the tests that share it."""
    history = History()
    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'store.sqlite'}"
    write_history(url, history)
    return url, history
