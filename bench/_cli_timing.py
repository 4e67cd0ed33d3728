"""Time one `calibrate` command as a user runs it: a fresh process from a given checkout, with
a compilation cache of the benchmark's choosing (calibrate/compilation_cache.py)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-c", "from calibrate.cli import app; app()"]
ROOT = Path(__file__).resolve().parents[1]


def tree_arguments(description: str) -> tuple[argparse.Namespace, list[Path]]:
    """(--seed, --repeats) and the checkouts to time (--tree, repeatable; default: this one)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tree", action="append", type=Path, help="checkout to time (repeatable)")
    args = parser.parse_args()
    return args, [t.resolve() for t in (args.tree or [ROOT])]


def calibrate(tree: Path, *args: str, cache: Path | None = None) -> tuple[dict, float, float]:
    """(its JSON, wall s, CPU s of the process and its children) of `calibrate ARGS --json` run
    from `tree`; cache None runs it without a compilation cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.update(PYTHONPATH=str(tree), CALIBRATE_JAX_CACHE=str(cache) if cache else "")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(CLI + list(args) + ["--json"], cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        return json.loads(done.stdout), wall, cpu
    except json.JSONDecodeError:
        raise SystemExit(f"calibrate {' '.join(args)} failed in {tree} (exit {done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}") from None
