"""`calibrate export --to qibolab PLATFORM_DIR`: parse, read the store, call calibrate.export, print.

Registered in calibrate/cli/app.py (`app.command("export")(export)`); the command function is
self-contained so it can be tested on a Typer app of its own.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table


class ExportTarget(str, Enum):
    """The control stacks whose files `export` writes (typer lists them in --help)."""

    qibolab = "qibolab"


def store_device(device: str, seed: int | None):
    """(the store's name for the device, the pulse shape its values were calibrated with, the
    platform qubit of each of its qubits or None), resolved as every command resolves --device."""
    from calibrate.export import PulseShape
    from calibrate.resolve import resolve_device, store_id

    lab = resolve_device(device, seed=seed)
    names = getattr(lab, "qubit_ids", None)  # a qibolab device's platform qubits; else the file's order
    return (store_id(lab), PulseShape(duration=lab.spec.x_duration, sigma=lab.spec.x_sigma, dt=lab.dt),
            None if names is None else [str(n) for n in names])


def export(
    platform_dir: Annotated[str, typer.Argument(help="The qibolab platform folder (with parameters.json; qibocal's calibration.json there is updated too).")],
    to: Annotated[ExportTarget, typer.Option("--to", help="The control stack whose files to write.")],
    device: Annotated[str, typer.Option("--device", help="The device whose current values to export: catalog name or device TOML path.")],
    seed: Annotated[Optional[int], typer.Option("--seed", min=0, help="Which simulated device of the design, as in `calibrate run` (default 0); refused for devices without a seed.", show_default=False)] = None,
    qubits: Annotated[Optional[str], typer.Option("--qubits", help="Comma-separated qubits (default: every qubit with stored values); qubit i is the platform's i-th.")] = None,
    store: Annotated[Optional[str], typer.Option("--store", help="Store URL (default: sqlite:///calibration-data/store.sqlite).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff and write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Write the store's current calibrated values into a control stack's platform files.

    Drive frequency, RX/RX90 amplitudes and DRAG beta go into parameters.json; T1, echo T2,
    readout and RB fidelity into qibocal's calibration.json where the platform has one.
    Everything else in the files stays as it was; each file is replaced atomically.
    Exit status 0 (also when nothing changed), 2 on bad input (nothing written), 3 when
    writing a file failed (that file is left as it was)."""
    from calibrate.cli.app import crashed, fail
    from calibrate.export import ExportError
    from calibrate.export_files import export_to_qibolab
    from calibrate.store import Store, StoreError
    from devices.device_spec import DeviceSpecError

    try:
        from calibrate.cli.run import parse_qubits  # one parser for every --qubits

        chosen = parse_qubits(qubits)
        ident, shape, names = store_device(device, seed)
        with Store.open(store, read_only=True) as opened:
            current = opened.current(ident)
        result = export_to_qibolab(current, platform_dir, shape, qubits=chosen, qubit_names=names, dry_run=dry_run)
    except (ExportError, ValueError, DeviceSpecError, StoreError) as exc:
        fail(str(exc), as_json)
    except OSError as exc:  # a write that failed midway: write_atomically left the old file
        crashed(f"writing the platform files failed: {exc}", as_json, run_id=None, recorded=False)
    report = {"device": ident, "to": to.value, "platform": platform_dir, "dry_run": dry_run, **result.as_dict()}
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_export(report, Console())


def print_export(report: dict, console: Console) -> None:
    if report["changes"]:
        table = Table("qubit", "value", "file: path", "old", "new",
                      title=f"{report['device']} -> {report['platform']}" + (" (dry run)" if report["dry_run"] else ""))
        for c in report["changes"]:
            gate = c["path"].split("/")[3] if c["path"].startswith("native_gates/") else None
            table.add_row(str(c["qubit"]), c["name"] + (f" ({gate})" if gate else ""), f"{c['file']}: {c['path']}",
                          _short(c["old"]), _short(c["new"]))
        console.print(table)
    else:
        console.print(f"{report['platform']} already holds the current values of {report['device']}.")
    for s in report["skipped"]:
        console.print(f"[yellow]not exported[/] q{s['qubit']} {s['name']}: {s['reason']}", highlight=False)
    for note in report["notes"]:
        console.print(f"[cyan]note[/] {note}", highlight=False)
    if report["dry_run"]:
        for diff in report["diffs"].values():
            print(diff, end="")  # raw, not through rich: no wrapping, so it applies with `patch -p1`
        console.print("dry run: nothing written")
    else:
        console.print("written: " + (", ".join(report["written"]) or "nothing (no change)"), highlight=False)


def _short(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return f"{value:.10g}" if isinstance(value, float) else str(value)
