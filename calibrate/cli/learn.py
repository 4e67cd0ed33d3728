"""`calibrate learn-model`: learn a qubit's device model from datasets, store it, write it as a device.

    calibrate learn-model --device sim-1q --seed 4 --datasets 12 --json          # the datasets of run 12
    calibrate learn-model --device sim-1q --datasets rabi.nc ramsey.nc t1.nc --json

Everything is checked before anything is written (device, store, run, files, qubit), so
bad input exits 2 with nothing stored. The report carries the goodness of fit (`deviance_per_dof`:
binomial deviance of the counts per degree of freedom, ~1 on-model; above 1 the standard errors
are widened by its square root, `covariance_scale`). The learned values go to the store as one node
update (node `learn_model`, parameters `model.frequency`, ...) of a `learn-model` run
under the device id; the learned device file goes to --out, else next to the datasets.

The model has one readout (p01, p10): datasets read through different readouts (the device's
own discrimination, or a calibrated pulse and discriminator: the readout graph's nodes after
its discriminator) are not learned from together. Of a run's datasets those of the readout
most of them used are kept (the report lists them), IQ datasets are left out; named files
of several readouts are refused.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from calibrate.cli.crashes import crash_boundary, recorded_run
from calibrate.store import Store

NODE = "learn_model"
PREFIX = "model."


def _run_datasets(store_url: str | None, run_id: int, ident: str, qubit: int | None) -> tuple[list[str], int]:
    """(dataset paths, qubit) of a stored run of device `ident`."""
    with Store.open(store_url, read_only=True) as store:
        run = next((r for r in store.runs() if r["id"] == run_id), None)
        if run is None or run["device"] != ident:
            raise ValueError(f"--datasets {run_id}: there is no run {run_id} of {ident} in store {store.url}.")
        outcomes = store.outcomes(run_id=run_id)
    qubits = sorted({o.qubit for o in outcomes if o.dataset_path})
    if qubit is None:
        if len(qubits) > 1:
            raise ValueError(f"Run {run_id} measured qubits {qubits}: choose one with --qubit.")
        qubit = qubits[0] if qubits else 0
    paths = list(dict.fromkeys(o.dataset_path for o in outcomes if o.dataset_path and o.qubit == qubit))
    if not paths:
        raise ValueError(f"Run {run_id} of {ident} stored no datasets of qubit {qubit} to learn from.")
    return paths, qubit


def _load(paths: list[str], spec, name: str, qubit: int | None, *, from_run: bool) -> tuple[dict, int]:
    """Datasets by path, checked to be single-qubit experiments of one qubit on this device.
    A run's two-qubit experiments (ZZ) are left out; named files must all be single-qubit."""
    from calibrate.ml.likelihood import measured_qubits, readout_of, replay
    from experiments.storage import load_dataset

    data = {path: load_dataset(path) for path in paths}
    if from_run:
        # IQ points (the readout nodes') are no counts to learn from
        data = {path: ds for path, ds in data.items() if len(measured_qubits(ds, path)) == 1 and "iq" not in ds}
        if not data:
            raise ValueError("The run stored no single-qubit datasets of counts to learn from.")
        data = _one_readout(data, readout_of)
    for path, ds in data.items():
        if "iq" in ds:
            raise ValueError(f"Dataset {path} holds IQ points, not counts: model learning fits counts; leave it out.")
    readouts = {readout_of(ds) for ds in data.values()}
    if len(readouts) > 1:
        raise ValueError(f"The datasets were read through {len(readouts)} different readouts (the device's own "
                         "discrimination or a calibrated pulse and discriminator): the model has one readout "
                         "(p01, p10), so give datasets of one readout only.")
    measured = {}
    for path, ds in data.items():
        taken_on = ds.attrs.get("device")
        if taken_on != name:
            raise ValueError(f"Dataset {path} was taken on device {taken_on!r}, not on {name!r} (--device).")
        measured[path] = replay(ds, path).qubit
    if qubit is None:
        qubits = sorted(set(measured.values()))
        if len(qubits) > 1:
            raise ValueError(f"The datasets measured qubits {qubits}: learn one qubit at a time (--qubit).")
        qubit = qubits[0]
    other = {p: q for p, q in measured.items() if q != qubit}
    if other:
        path, q = next(iter(other.items()))
        raise ValueError(f"Dataset {path} measured qubit {q}, not qubit {qubit}: give datasets of qubit {qubit} only.")
    if not 0 <= qubit < spec.n_qubits:
        raise ValueError(f"--qubit is {qubit}, but {spec.name} has qubits 0..{spec.n_qubits - 1}.")
    return data, qubit


def _one_readout(data: dict, readout_of) -> dict:
    """The datasets read through the readout most of them used. A run of the readout graph
    reads its first nodes through the device's own discrimination and the rest through the
    discriminator it calibrates: the model's one (p01, p10) describes one of the two."""
    groups: dict = {}
    for path, ds in data.items():
        groups.setdefault(readout_of(ds), {})[path] = ds
    return max(groups.values(), key=len)


def learn_model_command(*, device: str, seed: int | None, qubit: int | None, datasets: list[str], store_url: str | None,
                        out: str | None, as_json: bool, console: Console) -> int:
    """Returns the exit status: 0 learned, 1 the fit did not converge (nothing learned is stored).
    Raises RunError when learning or storing crashes (exit 3; a run row it created is finished
    as "error")."""
    from calibrate.ml.model_learning import learn_model
    from calibrate.resolve import resolve_device, seed_of, store_id
    from calibrate.run import data_dir_for

    started = time.perf_counter()
    lab = resolve_device(device, seed=seed)
    spec, ident, seed = lab.spec, store_id(lab), seed_of(lab)
    if qubit is not None and not 0 <= qubit < spec.n_qubits:
        raise ValueError(f"--qubit is {qubit}, but {spec.name} has qubits 0..{spec.n_qubits - 1}.")
    if not datasets:
        raise ValueError("--datasets is required: a run id of the store, or one or more dataset files (FILE.nc).")
    if out is not None and not out.endswith(".toml"):
        raise ValueError(f"--out is {out!r}, but must name a device file ending in .toml.")
    from_run = len(datasets) == 1 and datasets[0].isdigit()
    if from_run:
        paths, qubit = _run_datasets(store_url, int(datasets[0]), ident, qubit)
    else:
        paths = datasets
    data, qubit = _load(paths, spec, lab.name, qubit, from_run=from_run)
    # the input is accepted: from here an exception is a crash (exit 3), not bad input
    with crash_boundary("while learning"), console.status(
            f"Learning the model of {ident} qubit {qubit} from {len(data)} datasets",
            spinner="dots") if not as_json else _Quiet():
        model = learn_model(data, spec, qubit)
    clock = max(float(ds.attrs.get("device_clock_s", 0.0)) for ds in data.values())
    with Store.open(store_url) as store:
        with crash_boundary("before the run started"):
            run_id = store.start_run(ident, command="learn-model", qubits=[qubit], device_seed=seed)
        with recorded_run(store, run_id, "while storing the learned model", started):
            device_file = None
            if model.converged:
                target = Path(out) if out else (data_dir_for(store, None).parent / "learned" /
                                                f"{re.sub(r'[^A-Za-z0-9_.-]', '_', ident)}-q{qubit}-run{run_id:06d}.toml")
                device_file = str(model.write_device_file(target))
            record_learned_model(store, model, run_id=run_id, device=ident, device_time_s=clock)
            store.finish_run(run_id, status="ok" if model.converged else "failed_nodes", shots=0,
                             seconds=time.perf_counter() - started,
                             summary={"datasets": list(data), "device_file": device_file})
        url = store.url
    report = {"device": lab.name, "seed": seed, "device_id": ident, "qubit": qubit, "datasets": list(data),
              "values": {name: model.estimate(name).as_dict() for name in model.values},
              "learned": list(model.learned), "fixed": list(model.fixed), "nll": _finite(model.nll),
              "deviance": _finite(model.deviance), "dof": model.dof,
              "deviance_per_dof": _finite(model.deviance_per_dof), "covariance_scale": _finite(model.covariance_scale),
              "converged": model.converged, "reason": model.reason, "iterations": model.iterations,
              "points": model.n_points, "device_file": device_file, "store": url, "run_id": run_id}
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, console)
    return 0 if model.converged else 1


def record_learned_model(store: Store, model, *, run_id: int, device: str, device_time_s: float) -> None:
    """One node update: the learned parameters as `model.<name>` values (only if the fit converged;
    otherwise the outcome keeps the numbers and the reason, and nothing becomes current)."""
    values = {PREFIX + name: (model.values[name], _finite(model.stderr[name]), model.estimate(name).unit)
              for name in model.learned}
    store.record_node(run_id, device=device, qubit=model.qubit, node=NODE, action="calibrate",
                      outcome="calibrated" if model.converged else "failed", reason=model.reason,
                      experiment="learn_model", device_time_s=device_time_s, shots=model.shots,
                      values=values, write_values=model.converged)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _print(report: dict, console: Console) -> None:
    table = Table("parameter", "value", "stderr", "unit",
                  title=f"Learned model of {report['device_id']} qubit {report['qubit']}")
    for name, v in report["values"].items():
        table.add_row(name, f"{v['value']:.8g}" if v["value"] is not None else "-",
                      f"{v['stderr']:.3g}" if v["stderr"] is not None else "not learned", v["unit"])
    console.print(table)
    if report["deviance_per_dof"] is not None:
        scaled = (f", standard errors widened {math.sqrt(report['covariance_scale']):.3f}x (its square root)"
                  if report["covariance_scale"] > 1 else "")
        console.print(f"goodness of fit: deviance/dof {report['deviance_per_dof']:.3f} "
                      f"({report['deviance']:.1f} / {report['dof']}){scaled}", highlight=False)
    colour = "green" if report["converged"] else "red"
    console.print(f"[{colour}]{'converged' if report['converged'] else 'failed'}[/]: {report['reason']}", highlight=False)
    if report["device_file"]:
        console.print(f"device file: {report['device_file']} (use it as --device)", highlight=False)
