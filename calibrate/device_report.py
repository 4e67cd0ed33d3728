"""What `calibrate device show` reports: nominal design or hidden truth, in internal units."""

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


def device_report(name_or_path: str, *, seed: int, truth: bool, progress: bool = False) -> dict:
    from devices.catalog import load_spec

    spec = load_spec(name_or_path)
    report: dict = {"device": spec.name, "description": spec.description, "dt_ns": spec.dt,
                    "units": PARAMETER_UNITS, "kind": "truth" if truth else "nominal"}
    if not truth:
        report["qubits"] = {str(q): {k: float(getattr(qs, k)) for k in PARAMETER_UNITS}
                            for q, qs in enumerate(spec.qubits)}
        report["couplings"] = [{"qubits": [q, r], "j": j} for q, r, j in spec.couplings]
        return report

    from devices.nominal import nominal_x_schedule
    from devices.simulated import SimulatedDevice
    from devices.truth import x_gate_truth

    device = SimulatedDevice(spec, seed=seed)
    chip = device.truth()
    n = chip.n_qubits
    report.update(seed=seed, clock_s=device.now())
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
