"""What `calibrate device show` and `device list` report: the nominal design of any device,
the hidden truth of a device that has one (HasTruth), the catalog and the adapters."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

PARAMETER_UNITS = {
    "frequency": "GHz", "anharmonicity": "GHz", "drive_scale": "GHz", "t1": "ns", "t2": "ns",
    "readout_p01": "", "readout_p10": "",
}


def _transmon_values(t) -> dict[str, float]:
    return {name: float(getattr(t, name)) for name in PARAMETER_UNITS}


def catalog_and_adapters() -> dict:
    """`device list --json`: the catalog's devices and every adapter a device file may name."""
    from devices.adapters import known_adapters
    from devices.catalog import device_names, load_spec

    specs = [load_spec(name) for name in device_names()]
    return {"devices": [{"name": s.name, "qubits": s.n_qubits, "description": s.description} for s in specs],
            "adapters": [{"name": a.name, "origin": a.origin} for a in known_adapters().values()]}


def device_report(name_or_path: str, *, seed: int | None, truth: bool, progress: bool = False) -> dict:
    from calibrate.resolve import resolve_device, seed_of
    from devices.adapters import AdapterError, adapter_of
    from devices.catalog import device_file
    from devices.device_spec import read_device_config
    from devices.protocol import HasTruth

    path = device_file(name_or_path)
    adapter = adapter_of(read_device_config(path), path).name
    device = resolve_device(name_or_path, seed=seed)
    spec = device.spec
    report: dict = {"device": device.name, "adapter": adapter, "description": spec.description, "dt_ns": device.dt,
                    "units": PARAMETER_UNITS, "kind": "truth" if truth else "nominal"}
    if not truth:
        report["qubits"] = {str(q): {k: float(getattr(qs, k)) for k in PARAMETER_UNITS}
                            for q, qs in enumerate(spec.qubits)}
        report["couplings"] = [{"qubits": [q, r], "j": j} for q, r, j in spec.couplings]
        return report
    if not isinstance(device, HasTruth):
        raise AdapterError(f"--truth: device {device.name} (adapter {adapter}) has no hidden truth to show; "
                           "leave --truth out for its nominal design.")

    from devices.nominal import nominal_x_schedule
    from devices.truth import x_gate_truth

    chip = device.truth()
    n = chip.n_qubits
    report.update(seed=seed_of(device), clock_s=device.now())
    report["qubits"] = {str(q): _transmon_values(chip.transmons[q]) for q in range(n)}
    report["couplings"] = [{"qubits": [q, r], "j": float(chip.couplings[q, r])}
                           for q in range(n) for r in range(q + 1, n) if float(chip.couplings[q, r]) != 0]
    gates = {}
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("Simulating the nominal X gates on the true device", total=n)
        for q in range(n):
            gates[str(q)] = x_gate_truth(device, q, nominal_x_schedule(spec, q))
            bar.advance(task)
    report["nominal_x_gate"] = gates
    return report


def print_report(report: dict, console: Console) -> None:
    title = f"{report['device']}: {'hidden true' if report['kind'] == 'truth' else 'nominal'} parameters"
    if report["kind"] == "truth":
        title += f" (seed {report['seed']})"
    elif report["adapter"] != "simulated":
        title += f" (adapter {report['adapter']})"
    table = Table("qubit", "f01 [GHz]", "alpha [MHz]", "drive MHz", "T1 us", "T2 us",
                  "P(1|0)", "P(0|1)", title=title)
    for q, v in report["qubits"].items():
        table.add_row(q, f"{v['frequency']:.6f}", f"{v['anharmonicity'] * 1e3:.2f}",
                      f"{v['drive_scale'] * 1e3:.2f}", f"{v['t1'] / 1e3:.1f}", f"{v['t2'] / 1e3:.1f}",
                      f"{v['readout_p01']:.3f}", f"{v['readout_p10']:.3f}")
    console.print(table)
    if report["couplings"]:
        console.print("couplings J: " + ", ".join(
            f"{c['qubits'][0]}-{c['qubits'][1]} {c['j'] * 1e3:.2f} MHz" for c in report["couplings"]))
    if "nominal_x_gate" in report:
        gates = Table("qubit", "gate error", "leakage", "coherence limit", "error / limit",
                      title="Nominal (uncalibrated) X gates on the true device")
        for q, g in report["nominal_x_gate"].items():
            gates.add_row(q, f"{g['gate_error']:.3e}", f"{g['leakage']:.2e}", f"{g['coherence_limit']:.2e}",
                          f"{g['gate_error'] / g['coherence_limit']:.0f}x")
        console.print(gates)
        console.print("These are the pulses of the design; calibration brings each gate error "
                      "down towards its coherence limit.")
