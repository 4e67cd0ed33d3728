"""Reading and writing a qibolab platform folder for `calibrate export`: its files parsed with
clear errors, the plan's edits spliced into their texts, a unified diff, atomic replacement."""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calibrate.export import (CALIBRATION_FILE, PARAMETERS_FILE, ExportError, ExportPlan, PulseShape, StoredValue,
                              plan_qibolab_export)
from calibrate.json_edit import apply_edits


# --- the files --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlatformFile:
    path: Path
    text: str
    data: Any


def read_platform(platform_dir: str | os.PathLike) -> tuple[PlatformFile, PlatformFile | None]:
    """The platform's parameters.json and, where there is one, qibocal's calibration.json."""
    folder = Path(platform_dir)
    if not folder.is_dir():
        raise ExportError(f"PLATFORM_DIR is {str(platform_dir)!r}, but that is "
                          f"{'a file' if folder.exists() else 'not there'}: give a qibolab platform folder "
                          f"(the one holding {PARAMETERS_FILE}).")
    if not (folder / PARAMETERS_FILE).is_file():
        raise ExportError(f"PLATFORM_DIR {str(platform_dir)!r} has no {PARAMETERS_FILE}: give a qibolab platform "
                          "folder (its platform.py and parameters.json).")
    parameters = _read_json(folder / PARAMETERS_FILE)
    if not isinstance(parameters.data, dict):
        raise ExportError(f"{parameters.path} holds a JSON {type(parameters.data).__name__}, but must hold an object.")
    calibration = _read_json(folder / CALIBRATION_FILE) if (folder / CALIBRATION_FILE).is_file() else None
    if calibration is not None and not isinstance(calibration.data, dict):
        raise ExportError(f"{calibration.path} holds a JSON {type(calibration.data).__name__}, but must hold an object.")
    return parameters, calibration


def _read_json(path: Path) -> PlatformFile:
    try:
        text = path.read_text(encoding="utf-8")
        return PlatformFile(path, text, json.loads(text))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} cannot be read: {exc}.") from None


def unified_diff(old: str, new: str, name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` by `text` so that a reader, or a crash at any moment, sees the old file
    or the new one whole: a temporary file in the same folder (same file system), flushed to
    disk, then renamed over it; the folder is synced so the rename itself survives a crash."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@dataclass(frozen=True)
class ExportResult:
    plan: ExportPlan
    diffs: dict[str, str]  # file name -> unified diff ("" when unchanged)
    written: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"changes": [c.as_dict() for c in self.plan.changes],
                "skipped": [s.as_dict() for s in self.plan.skipped], "notes": list(self.plan.notes),
                "diffs": self.diffs, "written": list(self.written)}


def export_to_qibolab(current: Mapping[tuple[int, str], StoredValue], platform_dir: str | os.PathLike,
                      shape: PulseShape, *, qubits: Sequence[int] | None = None,
                      qubit_names: Sequence[str] | None = None, dry_run: bool = False) -> ExportResult:
    """Plan, splice and (unless `dry_run`) write. Everything is checked and every new text is
    built before the first file is replaced; each file is replaced atomically."""
    parameters, calibration = read_platform(platform_dir)
    if not current:
        raise ExportError("The store has no current values for this device: run `calibrate run` first "
                          "(or check --device and --store).")
    plan = plan_qibolab_export(current, parameters.data, None if calibration is None else calibration.data,
                               shape, qubits=qubits, qubit_names=qubit_names)
    if qubits is not None and not any(q in qubits for q, _ in current):
        raise ExportError(f"The store has no current values for qubits {', '.join(map(str, qubits))} of this "
                          "device: run `calibrate run` on them first (or check --qubits).")
    files = [f for f in (parameters, calibration) if f is not None]
    new_texts = {f.path.name: apply_edits(f.text, plan.edits(f.path.name)) for f in files}
    diffs = {f.path.name: unified_diff(f.text, new_texts[f.path.name], f.path.name) for f in files}
    written = []
    if not dry_run:
        for f in files:
            if new_texts[f.path.name] != f.text:
                write_atomically(f.path, new_texts[f.path.name])
                written.append(f.path.name)
    return ExportResult(plan, diffs, tuple(written))
