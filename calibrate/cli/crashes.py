"""Crash boundaries for the commands that are not `run`: once a command has accepted its input,
any exception is a crash (exit 3), not bad input (exit 2), whatever its type.

`run` gets the same from calibrate/run.py (RunError, the run recorded as "error"); these
boundaries give `learn-model`, `optimize-pulse` and `train-controller` the same contract.
A KeyboardInterrupt passes through (the command exits 130), carrying the run it stopped as
`run_error` where a run row exists, as `run_calibration` does.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from calibrate.run import RunError, crash_reason


@contextmanager
def crash_boundary(where: str) -> Iterator[None]:
    """Work after the input was accepted and before any run row exists: an exception becomes a
    RunError naming `where` (no run to record)."""
    try:
        yield
    except Exception as exc:
        raise RunError(crash_reason(exc, where)) from exc


@contextmanager
def recorded_run(store, run_id: int, where: str, started: float) -> Iterator[None]:
    """Work on a run row the command created: a crash or Ctrl-C finishes the run as "error"
    with its reason (where the store still answers), then raises RunError (or re-raises the
    KeyboardInterrupt, carrying the RunError as `run_error`)."""
    try:
        yield
    except BaseException as exc:
        reason = crash_reason(exc, where)
        recorded = record_error(store, run_id, reason, time.perf_counter() - started)
        if isinstance(exc, Exception):
            raise RunError(reason, run_id, recorded) from exc
        exc.run_error = RunError(reason, run_id, recorded)
        raise


def record_error(store, run_id: int, reason: str, seconds: float) -> bool:
    """Finish the run as "error" with its reason; False when the store no longer answers."""
    try:
        store.finish_run(run_id, status="error", shots=0, seconds=seconds, summary={"error": reason})
    except Exception:  # the store failed too: the run stays "running", and the command says so
        return False
    return True
