"""Compiled programs are kept on disk between runs (calibrate/compilation_cache.py), which works
only while the simulator's compiled programs hold no host callback."""

import json
import os
import subprocess
import sys
from pathlib import Path

from calibrate.compilation_cache import FASTER_COMPILATION, MAX_BYTES, MIN_COMPILE_SECONDS, keep_compiled_programs

ROOT = Path(__file__).resolve().parents[2]


def test_the_cache_folder_follows_the_environment(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert keep_compiled_programs(env) == str(tmp_path / "xdg" / "calibrate" / "jax")
    assert env["JAX_COMPILATION_CACHE_MAX_SIZE"] == str(MAX_BYTES)
    assert float(env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]) == MIN_COMPILE_SECONDS == 0.0  # every program
    env = {"HOME": str(tmp_path), "CALIBRATE_JAX_CACHE": str(tmp_path / "mine")}
    assert keep_compiled_programs(env) == str(tmp_path / "mine") == env["JAX_COMPILATION_CACHE_DIR"]
    env = {"HOME": str(tmp_path), "CALIBRATE_JAX_CACHE": ""}
    assert keep_compiled_programs(env) is None and "JAX_COMPILATION_CACHE_DIR" not in env
    env = {"HOME": str(tmp_path), "JAX_COMPILATION_CACHE_DIR": "/users/own", "CALIBRATE_JAX_CACHE": "ignored"}
    assert keep_compiled_programs(env) == "/users/own" and len(env) == 4  # the user's JAX setting wins


def test_xla_is_told_to_compile_faster_unless_the_user_chose_the_emitters(tmp_path):
    env = {"HOME": str(tmp_path)}
    keep_compiled_programs(env)
    assert env["XLA_FLAGS"] == FASTER_COMPILATION == "--xla_cpu_use_fusion_emitters=false"
    keep_compiled_programs(env)  # once only
    assert env["XLA_FLAGS"] == FASTER_COMPILATION
    env = {"HOME": str(tmp_path), "XLA_FLAGS": "--xla_backend_optimization_level=2"}
    keep_compiled_programs(env)  # other flags are kept
    assert env["XLA_FLAGS"] == f"--xla_backend_optimization_level=2 {FASTER_COMPILATION}"
    env = {"HOME": str(tmp_path), "XLA_FLAGS": "--xla_cpu_use_fusion_emitters=true", "CALIBRATE_JAX_CACHE": ""}
    keep_compiled_programs(env)  # the user's choice wins, with or without a cache
    assert env["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"


PROGRAM = """
import json, sys, time
from calibrate.compilation_cache import keep_compiled_programs
keep_compiled_programs()
from devices import Chip, Delay, Drag, Hold, Open, Play, Schedule, Transmon, populations
from devices.catalog import load_spec
from devices.simulated import SimulatedDevice
import jax
device = SimulatedDevice(load_spec("sim-1q"), seed=1)
f = float(device.truth().transmons[0].frequency)
started = time.perf_counter()
# a delay sweep (traced durations) and a pulse: the checks of both sit in compiled code
ds = device.run([Schedule([Play(0, Drag(20.0, 0.3, 5.0)), Delay(None, tau)], [f]) for tau in (10.0, 500.0, 2000.0)],
                shots=10, seed=0)
print(json.dumps({"seconds": time.perf_counter() - started, "counts": ds.counts.values.tolist()}))
"""


def test_the_simulators_compiled_programs_are_kept_and_loaded(tmp_path):
    env = dict(os.environ, CALIBRATE_JAX_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROGRAM], env=env, cwd=tmp_path, check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    kept = [p.name for p in (tmp_path / "cache").iterdir()]
    # the sweep's program was written (one with a host callback never is) and the second run
    # read the same counts through it
    assert any(name.startswith("jit__batched_populations") for name in kept), kept
    assert runs[0]["counts"] == runs[1]["counts"]
