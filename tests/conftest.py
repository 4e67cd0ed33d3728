"""Shared by every test folder: import `devices` first, so that JAX runs in float64
before any test module touches jax.numpy; warnings are errors (pyproject.toml)."""

import os
from collections.abc import Iterator
from pathlib import Path

# Both pytest-xdist workers, and the CLI processes tests start, share one folder of compiled
# programs (before JAX is imported): a program one of them compiled, the others load.
os.environ.setdefault("CALIBRATE_JAX_CACHE", str(Path(__file__).resolve().parents[1] / ".jax-cache"))
from calibrate.compilation_cache import keep_compiled_programs  # noqa: E402

keep_compiled_programs()

import devices  # noqa: E402, F401  (must come before jax.numpy is used anywhere)
import jax
import numpy as np
import pytest
from support.postgres import PostgresServer, PostgresUnavailable

assert jax.config.jax_enable_x64, "importing devices must turn on float64 for JAX"


@pytest.fixture
def dt() -> float:
    """The AWG sample time [ns] of the simulated devices."""
    return 0.5


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test: tests stay reproducible and independent."""
    return np.random.default_rng(20240521)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server (tests/support/postgres.py), started once per session and
    only when a test asks for it."""
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
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on that server."""
    return postgres_server.new_database_url()
