"""`calibrate optimize-pulse`: a robust X pulse for one qubit, over its posterior ensemble.

The ensemble is centred on the store's current values for the device (frequency, the
drive scale implied by the calibrated X amplitude, T1, T2), or the device file's nominal
values where the store has none: a learned model written as a device TOML is read the
same way. Each parameter's spread is its stored standard error where it has one, else
the file's fabrication spread (for a learned model: its learned standard errors).
Strings from the command line become option objects here, at the boundary.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

SHAPES = ("drag-corrected", "samples")
MIN_SAMPLES = 4


def parse_shape(name: str, cutoff: float):
    from calibrate.ml.pulse_shapes import BoundedSamples, DragCorrected

    if name == "drag-corrected":
        return DragCorrected()
    if name == "samples":
        return BoundedSamples(cutoff=cutoff)
    raise ValueError(f"--shape is {name!r}, but must be one of: {', '.join(SHAPES)}.")


def check_duration(duration: float, dt: float) -> None:
    n = duration / dt
    if not math.isfinite(n) or abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
        raise ValueError(f"--duration is {duration:g} ns, but must be a multiple of the AWG sample time dt = {dt:g} ns.")
    if round(n) < MIN_SAMPLES:
        raise ValueError(f"--duration is {duration:g} ns, but must be at least {MIN_SAMPLES} samples "
                         f"({MIN_SAMPLES * dt:g} ns at dt = {dt:g} ns).")


def _open_store(store_url: str | None):
    """The store read-only; None when no --store was given and the default file is absent."""
    from calibrate.store import Store
    from calibrate.store.urls import parse_store_url

    if store_url is None:
        path = parse_store_url(None).sqlite_path
        if path is None or not path.is_file():
            return None
    return Store.open(store_url, read_only=True)


def posterior(spec, qubit: int, current: dict, calibration) -> tuple[object, dict, dict]:
    """(centre Transmon, spread, description) from stored values, else the device file."""
    from calibrate.ml.ensemble import nominal_transmon, spec_spread
    from devices.nominal import pi_amplitude

    nominal = nominal_transmon(spec, qubit)
    spread = spec_spread(spec)
    centre = {name: float(getattr(nominal, name)) for name in ("frequency", "anharmonicity", "drive_scale", "t1", "t2")}
    source = dict.fromkeys(centre, "device file")

    def stored(name):
        v = current.get((qubit, name))
        return None if v is None or v.value is None else v

    if (v := stored("frequency")) is not None:
        centre["frequency"], source["frequency"] = v.value, "store"
        if v.stderr is not None and math.isfinite(v.stderr):
            spread["frequency"] = v.stderr
    if (v := stored("x_amp")) is not None and v.value > 0:
        # the calibrated pi amplitude says how hard the drive turns the qubit
        centre["drive_scale"] = pi_amplitude(1.0, calibration.x_pulse(), spec.dt) / v.value
        source["drive_scale"] = "store"
        if v.stderr is not None and math.isfinite(v.stderr):
            spread["drive_scale_rel"] = v.stderr / v.value
    for name in ("t1", "t2"):
        if (v := stored(name)) is not None and v.value > 0:
            centre[name], source[name] = v.value, "store"
            if v.stderr is not None and math.isfinite(v.stderr):
                spread[f"{name}_rel"] = v.stderr / v.value
    centre["t2"] = min(centre["t2"], 2.0 * centre["t1"])
    from devices.transmon import Transmon

    transmon = Transmon(**centre, readout_p01=nominal.readout_p01, readout_p10=nominal.readout_p10)
    described = {name: {"centre": centre[name], "source": source[name]} for name in centre}
    for key, value in spread.items():
        described[key.removesuffix("_rel")]["spread" + ("_rel" if key.endswith("_rel") else "")] = value
    return transmon, spread, described


def save_pulse(path: Path, report: dict) -> None:
    """The pulse as JSON (or .npz arrays): samples, dt, carrier, duration, shape."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pulse = report["pulse"]
    if path.suffix == ".npz":
        np.savez(path, i=np.asarray(pulse["i"]), q=np.asarray(pulse["q"]), dt=pulse["dt"],
                 duration=report["duration"], frequency=pulse["frequency"])
    else:
        path.write_text(json.dumps({k: report[k] for k in ("device", "seed", "qubit", "duration", "shape")}
                                   | {"pulse": pulse}, indent=1))


def optimize_pulse_command(*, device: str, seed: int | None, qubit: int, duration: float, shape: str, cutoff: float,
                           ensemble: int, steps: int, store_url: str | None, out: str | None, as_json: bool,
                           console: Console) -> int:
    """Returns the exit status 0; raises ValueError on bad input (exit 2) and RunError when the
    optimization or saving the pulse crashes (exit 3)."""
    from calibrate.cli.crashes import crash_boundary
    from calibrate.ml.ensemble import ensemble_around
    from calibrate.ml.robust_control import RobustOptions, optimize_pulse
    from calibrate.node_actions import QubitActions
    from calibrate.resolve import resolve_device, restore_state, seed_of, store_id
    from calibrate.run import describe_qubits, truth_block
    from devices.schedule import Play, Schedule

    started = time.perf_counter()
    lab = resolve_device(device, seed=seed)
    spec, seed = lab.spec, seed_of(lab)
    if qubit not in lab.qubits:
        raise ValueError(f"--qubit is {qubit}, but {lab.name} has qubits {describe_qubits(lab)}.")
    check_duration(duration, spec.dt)
    shape_option = parse_shape(shape, cutoff)
    store = _open_store(store_url)
    try:
        # the input is accepted: from here an exception is a crash (exit 3), not bad input
        with crash_boundary("while optimizing"):
            current = store.current(store_id(lab), qubit) if store is not None else {}
            calibration = QubitActions.calibration_from(current, spec, qubit)
            centre, spread, described = posterior(spec, qubit, current, calibration)
            draws = seed or 0  # the ensemble's and optimizer's random draws
            models = ensemble_around(centre, spread, ensemble, draws)
            result = optimize_pulse(models, calibration, duration=duration, dt=spec.dt, shape=shape_option,
                                    options=RobustOptions(steps=steps, seed=draws))
            # The one place this command reads a hidden truth: devices that have one (HasTruth), as
            # the store last left them; null for the others.
            if store is not None:
                restore_state(store, lab)
            drag = Schedule([Play(0, result.initial)], [calibration.frequency])
            optimized = truth_block(lab, qubit, result.schedule)
            truth = None if optimized is None else {"optimized": optimized, "drag": truth_block(lab, qubit, drag)}
    finally:
        if store is not None:
            store.close()
    samples = result.samples
    report = {
        "device": lab.name, "seed": seed, "qubit": qubit, "duration": duration, "shape": shape,
        "ensemble": {"size": ensemble, "parameters": described},
        "steps": steps,
        "before": result.before._asdict(), "after": result.after._asdict(),
        "loss": {"first": float(result.loss_history[0]), "last": float(result.loss_history[-1])},
        "pulse": {"dt": spec.dt, "frequency": calibration.frequency, "i": samples.real.tolist(),
                  "q": samples.imag.tolist(), "max_amplitude": float(np.abs(samples).max()),
                  "amp_max": shape_option.amp_max},
        "store": store.url if store is not None else None,
    }
    path = Path(out) if out else _default_path(store_url, lab.name, seed, qubit, shape, duration)
    with crash_boundary(f"while saving the pulse to {path}"):
        save_pulse(path, report)
    report["saved"] = str(path)
    report["truth"] = truth
    report["seconds"] = round(time.perf_counter() - started, 3)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, console)
    return 0


def _default_path(store_url: str | None, name: str, seed: int | None, qubit: int, shape: str, duration: float) -> Path:
    from calibrate.store.urls import parse_store_url

    sqlite = parse_store_url(store_url).sqlite_path
    folder = sqlite.resolve().parent if sqlite is not None else Path("calibration-data")
    seeded = "" if seed is None else f"-seed-{seed}"
    return folder / "pulses" / f"{name}{seeded}-q{qubit}-{shape}-{duration:g}ns.json"


def print_report(report: dict, console: Console) -> None:
    table = Table("", "mean gate error", "mean leakage", "worst error",
                  title=f"{report['device']}{'' if report['seed'] is None else ' seed ' + str(report['seed'])} "
                        f"q{report['qubit']}: {report['shape']} "
                        f"{report['duration']:g} ns over {report['ensemble']['size']} models")
    for label, key in (("calibrated DRAG", "before"), ("optimized", "after")):
        m = report[key]
        table.add_row(label, f"{m['mean_error']:.3g}", f"{m['mean_leakage']:.3g}", f"{m['worst_error']:.3g}")
    truth = report["truth"]
    if truth is not None:  # devices with a hidden truth only
        table.add_section()
        for label, key in (("true device: DRAG", "drag"), ("true device: optimized", "optimized")):
            table.add_row(label, f"{truth[key]['gate_error']:.3g}", f"{truth[key]['leakage']:.3g}", "")
        table.add_row("coherence limit", f"{truth['optimized']['coherence_limit']:.3g}", "", "")
    console.print(table)
    console.print(f"pulse saved to {report['saved']} ({report['seconds']:.1f} s)", highlight=False)
