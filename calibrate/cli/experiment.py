"""`calibrate experiment NAME ...`: run one experiment, save its dataset, print its fit."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table


def _parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} {pair!r} must look like key=value.")
        out[key.strip()] = value.strip()
    return out


_TUPLES = {"tuple[int, ...]": int, "tuple[float, ...]": float}  # sweep lists, e.g. rb's lengths


def _typed(field_type, raw: str, where: str):
    element = _TUPLES.get(field_type if isinstance(field_type, str) else str(field_type))
    if element is not None:  # comma-separated, brackets allowed: lengths=1,10,100 or lengths=[1,10,100]
        parts = [p.strip() for p in raw.strip().strip("[]()").split(",")]
        try:
            if not all(parts):
                raise ValueError
            return tuple(element(p) for p in parts)
        except ValueError:
            raise ValueError(f"{where} is {raw!r}, but must be comma-separated {element.__name__}s, "
                             f"e.g. {'1,10,100' if element is int else '0.2,0.5,1.0'}.") from None
    try:
        if field_type in (int, "int"):
            return int(raw)
        if field_type in (float, "float"):
            return float(raw)
        if field_type in (bool, "bool"):
            return raw.lower() in ("1", "true", "yes")
        return raw
    except ValueError:
        raise ValueError(f"{where} is {raw!r}, but must be a {getattr(field_type, '__name__', field_type)}.") from None


def build_experiment(name: str, qubit: int, options: dict[str, str], partner: int | None = None):
    """The experiment `name` on `qubit`; `partner` is a two-qubit experiment's second qubit
    (the target of cr_tomography, the spectator of zz)."""
    from experiments.registry import experiment_class

    cls = experiment_class(name)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {"qubit": qubit}
    if partner is not None:
        if cls.partner_option is None:
            raise ValueError(f"--qubits names two qubits, but {name} measures one: use --qubit.")
        if cls.partner_option in options:
            raise ValueError(f"--qubits sets {cls.partner_option}; do not also give --option {cls.partner_option}=...")
        kwargs[cls.partner_option] = partner
    for key, raw in options.items():
        if key not in fields or key == "qubit":
            allowed = ", ".join(k for k in fields if k != "qubit")
            raise ValueError(f"Experiment {name} has no option {key!r}; its options are: {allowed}.")
        kwargs[key] = _typed(fields[key].type, raw, f"option {key}")
    return cls(**kwargs)


def calibration_for(spec, qubits, overrides: dict[str, str], target: int):
    from experiments.calibration import UNITS, nominal_calibration

    cal = {q: nominal_calibration(spec, q) for q in qubits}
    for key, raw in overrides.items():
        if key not in UNITS:
            raise ValueError(f"--set {key}: unknown calibration value; allowed: {', '.join(UNITS)}.")
        cal[target] = cal[target].replace(**{key: _typed(float, raw, f"--set {key}")})
    return cal


def run_command(name: str, device: str, seed: int | None, qubit: int, shots: int, out: str | None,
                plot: str | None, options: list[str], settings: list[str], as_json: bool,
                console: Console, partner: int | None = None) -> int:
    """Returns the exit status: 0 good fit, 1 bad fit (reason printed)."""
    from calibrate.resolve import resolve_device, seed_of
    from calibrate.run import describe_qubits
    from experiments.base import run_experiment

    lab = resolve_device(device, seed=seed)
    if qubit not in lab.qubits:
        raise ValueError(f"--qubit is {qubit}, but {lab.name} has qubits {describe_qubits(lab)}.")
    experiment = build_experiment(name, qubit, _parse_pairs(options, "--option"), partner)
    for q in experiment.qubits:
        if q not in lab.qubits:
            raise ValueError(f"{name} uses qubit {q}, but {lab.name} has qubits {describe_qubits(lab)}.")
    calibration = calibration_for(lab.spec, experiment.qubits, _parse_pairs(settings, "--set"), qubit)
    drawn = seed_of(lab)  # a seeded device's shots are reproducible with it; others' are the hardware's own
    with console.status(f"Running {name} on {lab.name} qubit {qubit}", spinner="dots") if not as_json else _nothing():
        ds = run_experiment(experiment, lab, calibration, shots=shots, seed=drawn)
        result = experiment.analyze(ds)
    saved = plotted = None
    if out:
        from experiments.storage import save_dataset
        saved = str(save_dataset(ds, out))
    if plot:
        from experiments.plotting import write_plot
        plotted = str(write_plot(ds, result, plot))
    report = {"device": lab.name, "seed": drawn, **result.as_dict(), "dataset": saved, "plot": plotted,
              "calibration_used": json.loads(ds.attrs["calibration"])}
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, console)
    return 0 if result.good else 1


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _print(report: dict, console: Console) -> None:
    table = Table("value", "estimate", "stderr", "unit",
                  title=f"{report['experiment']} on {report['device']} qubit {report['qubit']}")
    for key, v in report["values"].items():
        table.add_row(key, f"{v['value']:.8g}" if v["value"] is not None else "-",
                      f"{v['stderr']:.3g}" if v["stderr"] is not None else "-", v["unit"])
    console.print(table)
    colour = "green" if report["verdict"] == "good" else "red"
    console.print(f"verdict: [{colour}]{report['verdict']}[/] - {report['reason']}")
    for key in ("dataset", "plot"):
        if report[key]:
            console.print(f"{key}: {report[key]}")


def list_experiments(as_json: bool, console: Console) -> None:
    from experiments.registry import experiment_class, experiment_names

    rows = [(name, experiment_class(name).summary) for name in experiment_names()]
    if as_json:
        print(json.dumps({"experiments": [{"name": n, "summary": s} for n, s in rows]}, indent=2))
        return
    table = Table("name", "what it measures", title="Experiments")
    for n, s in rows:
        table.add_row(n, s)
    console.print(table)


NameArg = Annotated[str, typer.Argument(help="Experiment name, or `list` to name them all.")]
OptionOpt = Annotated[Optional[list[str]], typer.Option("--option", help="An experiment option, key=value (repeatable), e.g. points=61.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a calibration value of the qubit, key=value (repeatable), e.g. frequency=5.012.")]
