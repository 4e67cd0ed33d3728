"""A learned controller's training curves, as `calibrate train-controller` writes them.

The controller's directory holds `training.json`:
    {"family": str, "steps": [int, ...], "loss": [float, ...], "validation_error": [float, ...]}
with the three lists of equal length. The file is rewritten while training runs, so the
dashboard reads it again when it changes; a directory without the file yet is a controller
still starting, not an error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

TRAINING_FILE = "training.json"
CURVES = ("loss", "validation_error")


class TrainingFileError(ValueError):
    """A controller directory or its training.json cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TrainingCurves:
    family: str
    steps: list[int]
    loss: list[float]
    validation_error: list[float]

    def columns(self, start: int = 0) -> dict[str, list]:
        """Rows from index `start` on, as ColumnDataSource columns."""
        return {"step": self.steps[start:], "loss": self.loss[start:],
                "validation_error": self.validation_error[start:]}


def check_controller_dir(path: str | Path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise TrainingFileError(f"--controller {path}: no such directory; give the directory "
                                f"`calibrate train-controller` wrote (it holds {TRAINING_FILE}).")
    return folder


def _number_list(data: dict, name: str, where: Path, *, integers: bool) -> list:
    values = data.get(name)
    kind = "integers" if integers else "numbers"
    if not isinstance(values, list):
        raise TrainingFileError(f"{where}: field `{name}` must be a list of {kind}, but is {values!r:.80}.")
    for i, v in enumerate(values):
        ok = isinstance(v, int) if integers else isinstance(v, (int, float)) or v is None
        if isinstance(v, bool) or not ok:
            raise TrainingFileError(f"{where}: `{name}[{i}]` must be one of the {kind}, but is {v!r:.80}.")
    # a diverged step (NaN, inf, null) is drawn as a gap, not refused
    return [v if integers or (v is not None and math.isfinite(v)) else float("nan") for v in values]


def read_training(folder: str | Path) -> TrainingCurves | None:
    """The curves in `folder`/training.json; None when there is no such file (yet)."""
    path = Path(folder) / TRAINING_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TrainingFileError(f"{path} cannot be read: {exc}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrainingFileError(f"{path} is not JSON ({exc}); expected {{\"family\", \"steps\", \"loss\", "
                                f"\"validation_error\"}}.") from None
    if not isinstance(data, dict):
        raise TrainingFileError(f"{path} must hold a JSON object, but holds a {type(data).__name__}.")
    family = data.get("family")
    if not isinstance(family, str):
        raise TrainingFileError(f"{path}: field `family` must be a string, but is {family!r:.80}.")
    steps = _number_list(data, "steps", path, integers=True)
    curves = {name: _number_list(data, name, path, integers=False) for name in CURVES}
    lengths = {"steps": len(steps), **{name: len(values) for name, values in curves.items()}}
    if len(set(lengths.values())) != 1:
        raise TrainingFileError(f"{path}: `steps`, `loss` and `validation_error` must have one entry per step, "
                                f"but have {lengths}.")
    return TrainingCurves(family=family, steps=steps, **curves)
