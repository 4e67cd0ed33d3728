"""Compiled programs kept on disk between runs: JAX's persistent compilation cache.

Most of a short command's time is XLA compiling the simulator (learning a model from a
default-graph run: ~25 s of compilation for ~1 s of fitting), and every new process compiled
the same programs again. With the cache, a second `calibrate run`, `learn-model` or nightly
job loads them instead. Compiled code that holds a host callback cannot be cached, which is
why the simulator reports a step it cannot use as NaN (devices._validate.nan_where).

Programs are also compiled faster: XLA's CPU backend is told to use its classic fusion
emitters instead of the MLIR-based ones jaxlib 0.10 defaults to. Interleaved benchmarks on a
2-core machine, from an empty cache, against the code before: learn-model of sim-1q's
default-graph run 81 s against 120 s (bench/model_learning.py), `calibrate run --device
sim-5q` 88 s against 119 s (bench/calibrate_run.py), with the same values; from kept programs
both ran as fast as before (45 s and 57 s). Controller training's first run gained nothing
(52 s against 50 s). With the flag, the simulator's own benchmark (bench/simulation.py, which
does not call this module) ran its batches of DRAG and CR gates from 27 % faster to 17 %
slower (one run of each; runs on this machine vary by ~15 %), so `devices` on its own keeps
XLA's default: call keep_compiled_programs() before importing JAX to have both.

Only environment variables are set, before JAX is imported, so that `calibrate --help` stays
instant and a setting of the user's own wins:

    CALIBRATE_JAX_CACHE   the folder (default $XDG_CACHE_HOME/calibrate/jax, i.e.
                          ~/.cache/calibrate/jax); empty: no cache
    JAX_COMPILATION_CACHE_DIR and JAX's other cache settings, when set, are left as they are.
    XLA_FLAGS             kept, with the emitter flag added unless it names that flag itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

# Every program is kept, however quick to compile. Building schedules runs hundreds of small
# eager operations, each its own program: a sim-1q default-graph run compiled 276 of them
# (~12 ms each, 3.3 s in all) where loading one takes ~2.5 ms. Keeping them took that run
# from 11.0 s to 7.5 s of its own time with the same values (2-core machine).
MIN_COMPILE_SECONDS = 0.0
MAX_BYTES = 2**30  # JAX drops the least recently used programs beyond this
# jaxlib is pinned to 0.10.* (pyproject.toml), which knows this flag: XLA aborts on one it does not.
EMITTER_FLAG = "xla_cpu_use_fusion_emitters"
FASTER_COMPILATION = f"--{EMITTER_FLAG}=false"


def default_folder(environ: MutableMapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "calibrate" / "jax"


def keep_compiled_programs(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Point JAX's persistent compilation cache at the toolkit's folder, and XLA at its faster
    compiling emitters; returns the folder in use (None when turned off). Call before JAX is
    imported: JAX reads these at import, XLA when it first compiles."""
    compile_faster(environ)
    if "JAX_COMPILATION_CACHE_DIR" in environ:
        return environ["JAX_COMPILATION_CACHE_DIR"] or None
    folder = environ.get("CALIBRATE_JAX_CACHE")
    if folder == "":
        return None
    environ["JAX_COMPILATION_CACHE_DIR"] = folder or str(default_folder(environ))
    environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", str(MIN_COMPILE_SECONDS))
    environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(MAX_BYTES))
    if environ is os.environ and "jax" in sys.modules:  # imported already: it read its environment then
        import jax

        jax.config.update("jax_compilation_cache_dir", environ["JAX_COMPILATION_CACHE_DIR"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          float(environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
        jax.config.update("jax_compilation_cache_max_size", int(environ["JAX_COMPILATION_CACHE_MAX_SIZE"]))
    return environ["JAX_COMPILATION_CACHE_DIR"]


def compile_faster(environ: MutableMapping[str, str]) -> None:
    """Add FASTER_COMPILATION to XLA_FLAGS, keeping the flags there, unless they set the
    emitters themselves."""
    flags = environ.get("XLA_FLAGS", "")
    if EMITTER_FLAG not in flags:
        environ["XLA_FLAGS"] = f"{flags} {FASTER_COMPILATION}".strip()
