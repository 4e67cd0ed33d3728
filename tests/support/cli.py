"""Run the `calibrate` command as a real subprocess, as operators and cron jobs do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CALIBRATE = [sys.executable, "-m", "calibrate"]


def calibrate(*args: str, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([*CALIBRATE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def calibrate_json(*args: str, cwd: Path | None = None, expect: int = 0) -> tuple[dict, subprocess.CompletedProcess]:
    """The command's one JSON object, after checking its exit status."""
    out = calibrate(*args, "--json", cwd=cwd)
    assert out.returncode == expect, (out.returncode, out.stdout[-2000:], out.stderr[-3000:])
    return json.loads(out.stdout), out
