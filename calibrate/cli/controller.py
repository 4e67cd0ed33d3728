"""`calibrate train-controller`: train a learned recalibration controller for a device family.

Writes to --out: the weights (controller.eqx), what they were trained on (controller.json:
the family's fingerprint, prior, drift and the training options), the training curve
(training.json, read by the dashboard) and its plot (training-curve.png).
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def train_controller_command(*, device_family: str, out: str, qubit: int, steps: int, batch: int, rounds: int,
                             shots: int, seed: int, as_json: bool, console: Console, graph: str | None = None) -> int:
    """Returns the exit status 0; raises ValueError on bad input (exit 2) and RunError when
    training or saving crashes (exit 3; nothing is written before training has finished)."""
    from calibrate.cli.crashes import crash_boundary
    from calibrate.ml.controller import (META_FILE, PLOT_FILE, TRAINING_FILE, WEIGHTS_FILE, ProbeSet, TrainOptions,
                                         family_of, save_controller)
    from calibrate.graph.toml import graph_reference, load_graph
    from calibrate.ml.fine_frequency import FineFrequency
    from calibrate.resolve import resolve_device

    base_graph = graph_reference(graph)
    load_graph(base_graph)  # a bad --graph is bad input, found before training
    spec = resolve_device(device_family).spec  # the family: the device's nominal design, its prior and drift
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ValueError(f"--out is {out!r}, which is a file: give a directory for the controller's files.")
    options = TrainOptions(steps=steps, batch=batch, rounds=rounds, seed=seed, probes=ProbeSet(shots=shots))
    family = family_of(spec, qubit)
    # the input is accepted: from here an exception is a crash (exit 3), not bad input
    with crash_boundary("while training"):
        trained = _train(family, options, spec.name, qubit, steps, as_json, console)
    with crash_boundary(f"while saving the controller to {target}"):
        save_controller(trained, target, options=options, family=family, base_graph=base_graph)
    finals = [v for v in trained.validation_error if v == v]
    report = {
        "family": spec.name, "qubit": qubit, "fingerprint": family.fingerprint, "out": str(target),
        "graph": base_graph,
        "files": {"weights": str(target / WEIGHTS_FILE), "description": str(target / META_FILE),
                  "training_curve": str(target / TRAINING_FILE), "plot": str(target / PLOT_FILE)},
        "steps": steps, "seconds": round(trained.seconds, 1),
        "validation_start_error": trained.start_error, "validation_final_error": finals[-1] if finals else None,
        "shots_per_recalibration": (rounds + 1) * options.probes.n_probes * shots + FineFrequency().total_shots,
    }
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        console.print(f"Trained in {report['seconds']:.0f} s: mean X error of the validation devices "
                      f"{trained.start_error:.2e} before, {report['validation_final_error']:.2e} after "
                      f"{rounds} rounds (Closed dynamics; {report['shots_per_recalibration']} shots per recalibration "
                      "with its fine-frequency step and verification).")
        console.print(f"Wrote {target}/: {WEIGHTS_FILE}, {META_FILE}, {TRAINING_FILE}, {PLOT_FILE}")
    return 0


def _train(family, options, name: str, qubit: int, steps: int, as_json: bool, console: Console):
    """Train, with a progress bar unless the output is JSON."""
    from calibrate.ml.controller import train_controller

    if as_json:
        return train_controller(family, options)
    columns = (TextColumn("[bold]training[/]"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}  validation {task.fields[validation]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("train", total=steps, loss="-", validation="-")

        def progress(step: int, loss: float, validation: float | None) -> None:
            fields = {"loss": f"{loss:.2e}"}
            if validation is not None:
                fields["validation"] = f"{validation:.2e}"
            bar.update(task, completed=step, **fields)

        console.print(f"Compiling the probe model of {name} qubit {qubit} (first steps are slow)")
        return train_controller(family, options, progress=progress)
