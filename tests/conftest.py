"""Shared by every test folder: import `devices` first, so that JAX runs in float64
before any test module touches jax.numpy; warnings are errors (pyproject.toml)."""

import devices  # noqa: F401  (must come before jax.numpy is used anywhere)
import jax
import numpy as np
import pytest

assert jax.config.jax_enable_x64, "importing devices must turn on float64 for JAX"


@pytest.fixture
def dt() -> float:
    """The AWG sample time [ns] of the simulated devices."""
    return 0.5


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test: tests stay reproducible and independent."""
    return np.random.default_rng(20240521)
