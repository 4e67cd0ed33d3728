"""Benchmark: bring your own device. The classic graph and the learned node on qibolab's emulator.

The device is `devices/adapters/qibolab/platforms/emulated-transmon.toml` through the qibolab
adapter: physics this project did not write (qibolab's emulator, its Hamiltonian and QuTiP
solver; ~2 s of CPU per simulated us, single-threaded). Calibration starts from the platform's
design, which is 2 MHz and 5 % (drive scale) off the emulated qubit.

  (a) classic graph  the `emulator` graph (calibrate/graphs/emulator.toml: rabi -> ramsey ->
                     drag -> fine_amplitude -> fine_drag) from the design, a fresh store.
                     T1, echo and RB are not in it (delays to 300 us, sequences to ~200 us:
                     tens of CPU minutes each on the emulator).
  (b) learned node   the emulated qubit then drifts (--drift-khz, --drift-drive: a copy of the
                     platform with the emulator's Hamiltonian moved; the design is unchanged) and
                     the same store is maintained over the emulator graph with the learned
                     controller in place of ramsey .. fine_drag (calibrate.ml.learned_graph),
                     those four as its fallbacks. The controller is trained on the platform's
                     nominal design with the device file's [fabrication] and [drift] prior
                     (`calibrate train-controller --device-family <device file>`): sim-to-real.
  (c) fallback       if (b) verified: the same drifted start with a copy of the controller whose
                     verification never passes, to show a failed verification falls back and
                     what the fallback ends with. If (b) fell back by itself, (b) shows it.
  (d) out of family  the learned graph after a drift far outside the family's drift prior
                     (--oof-khz, --oof-drive; default 1.5 MHz and -10 %, against a prior of
                     30 kHz/sqrt(h) walks and 200 kHz jumps): does the verification catch what
                     the controller was not trained for, and does the fallback repair it?

  (e) full graph     with --full, instead of (a)-(d): the `emulator-full` graph (the emulator
                     graph, then T1, echo and a short RB sized for the emulated T1 ~15 us;
                     ~25 min) from the design, with the T1, T2 and RB error per gate it stores
                     against the emulated qubit's T1, T2 and true X error.
Printed for each: shots, wall seconds split into the emulator's (QibolabDevice.execute_s, its
platform.execute calls) and ours (everything else: translation, analysis, the store, the
controller), the X gate's true error over its coherence limit (the emulator's own model,
tests/support/emulator_gate.py) and the frequency error against the frequency the emulator
really precesses the qubit at. Scoring time is not counted. One run of each (the emulator is
too slow for repeats; no medians).

Run: .venv/bin/python bench/byod.py [--controller DIR | --steps 800] [--drift-khz 300] [--drift-drive -0.03]
     [--skip-fallback] [--oof-khz 1500] [--oof-drive -0.10] [--skip-oof]
     .venv/bin/python bench/byod.py --full
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import devices  # noqa: E402,F401  (x64 on)
from bench._byod_emulator import (  # noqa: E402
    DEVICE_FILE,
    Drift,
    drifted_device_file,
    emulator_truth,
    open_emulated,
    precession_frequency,
    score,
    true_offsets,
)
from bench._recalibration_methods import never_verifying_copy  # noqa: E402
from calibrate.graph.toml import load_graph  # noqa: E402
from calibrate.ml.learned_graph import LEARNED_NODE, REPLACED, with_learned_recalibration  # noqa: E402
from calibrate.run import RunRequest, run_calibration  # noqa: E402
from calibrate.store import Store  # noqa: E402
from experiments.calibration import nominal_calibration  # noqa: E402

SEED = 1000  # numpy's global generator, which the emulator samples unseeded shots from
VALUES = ("frequency", "x_amp", "sx_amp", "beta")


def load_line(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"# load {when}: {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def load_or_train(controller: str | None, steps: int, folder: Path) -> tuple[Path, str]:
    from calibrate.ml.controller import TrainOptions, family_of, load_controller, save_controller, train_controller

    spec = open_emulated().spec
    if controller:
        load_controller(controller, spec, 0)  # refuses a controller of another family here, not mid-run
        return Path(controller), f"loaded from {controller}"
    options = TrainOptions(steps=steps, seed=SEED)
    family = family_of(spec, 0)
    trained = train_controller(family, options)
    out = folder / "controller"
    save_controller(trained, out, options=options, family=family)
    finals = [v for v in trained.validation_error if v == v]
    return out, (f"trained here: {steps} steps, seed {SEED}, {trained.seconds:.0f} s, validation X error "
                 f"{trained.start_error:.2e} -> {finals[-1]:.2e}")


def run_full_graph(folder: Path) -> None:
    """(e): the emulator-full graph from the design; what T1, echo and RB store, against the truth."""
    row = run_graph(DEVICE_FILE, folder / "full.sqlite", load_graph("emulator-full"), folder / "data")
    for line in report_lines("(e) emulator-full graph from the design", row):
        print(line, flush=True)
    truth = emulator_truth(DEVICE_FILE.parent / "emulated-transmon")
    with Store.open(f"sqlite:///{folder / 'full.sqlite'}") as store:
        current = store.current(open_emulated(DEVICE_FILE).name)
    for name, true, scale, unit in (("t1", truth.t1, 1e-3, "us"), ("t2", truth.t2, 1e-3, "us"),
                                    ("gate_error", row["after"].x_error, 1.0, "")):
        value = current.get((0, name))
        if value is None:
            print(f"    {name}: not stored (its node failed)")
            continue
        z = (value.value - true) / value.stderr if value.stderr else float("nan")
        what = "the true X error (RB's is per physical gate)" if name == "gate_error" else f"the emulated {name.upper()}"
        print(f"    {name}: stored {value.value * scale:.4g} +- {value.stderr * scale:.2g} {unit} against {what} "
              f"{true * scale:.4g} {unit} ({z:+.1f} stderr)", flush=True)


def run_graph(device_file: Path, store_path: Path, graph, data: Path) -> dict:
    """Maintain `graph` on the device the file opens, over the store at `store_path`."""
    device = open_emulated(device_file)
    precession = precession_frequency(device)
    with Store.open(f"sqlite:///{store_path}") as store:
        before = store.current(device.name)
        start = nominal_calibration(device.spec, 0)
        if (0, "frequency") in before:
            start = start.replace(**{k: before[(0, k)].value for k in VALUES})
        started = time.perf_counter()
        report = run_calibration(store, RunRequest(qubits=(0,), graph=graph, data_dir=data), device=device)
        wall = time.perf_counter() - started
        values = {k: store.current(device.name)[(0, k)].value for k in VALUES}
    q = report["qubits"]["0"]
    nodes = q["nodes"]
    learned = [n for n in nodes if n["node"] == LEARNED_NODE]
    return {
        "before": score(device, start, precession), "after": score(device, start.replace(**values), precession),
        "shots": report["shots"], "wall": wall, "emulator_s": device.execute_s, "executes": device.executes,
        "status": q["status"], "nodes": nodes,
        "verified": bool(learned) and LEARNED_NODE not in q["failed_nodes"] and LEARNED_NODE not in q["recovered_nodes"],
        "fallback_ran": any(n["node"] in REPLACED and n["action"] == "calibrate" for n in nodes),
        "learned_actions": [f"{n['action']}:{n['outcome']}" for n in learned],
    }


def report_lines(name: str, row: dict) -> list[str]:
    ours = row["wall"] - row["emulator_s"]
    ran = ", ".join(f"{n['node']} {n['action']}:{n['outcome']} ({n['shots']:,})" for n in row["nodes"])
    lines = [
        f"{name}: {row['status']}; {row['shots']:,} shots; wall {row['wall']:.0f} s = emulator {row['emulator_s']:.0f} s "
        f"({row['executes']} platform.execute) + ours {ours:.0f} s ({ours / row['wall']:.0%})",
        f"    start: {row['before'].describe()}",
        f"    end:   {row['after'].describe()}",
        f"    nodes: {ran}",
    ]
    lines += [f"    {n['node']} {n['outcome']}: {n['reason']}" for n in row["nodes"] if n["outcome"] == "failed"]
    if row["learned_actions"]:
        lines.append(f"    learned node: {' '.join(row['learned_actions'])}; verified: {'yes' if row['verified'] else 'no'}; "
                     f"fallback nodes ran: {'yes' if row['fallback_ran'] else 'no'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controller", help="a directory from `calibrate train-controller --device-family "
                                             f"{DEVICE_FILE.relative_to(Path.cwd()) if DEVICE_FILE.is_relative_to(Path.cwd()) else DEVICE_FILE}` "
                                             "(default: train one here)")
    parser.add_argument("--steps", type=int, default=800, help="training steps when no --controller is given")
    parser.add_argument("--drift-khz", type=float, default=300.0, help="the emulated qubit's frequency drift before (b)")
    parser.add_argument("--drift-drive", type=float, default=-0.03,
                        help="the relative drift of the emulated drive strength before (b)")
    parser.add_argument("--skip-fallback", action="store_true", help="leave out (c)")
    parser.add_argument("--oof-khz", type=float, default=1500.0, help="the out-of-family frequency drift of (d)")
    parser.add_argument("--oof-drive", type=float, default=-0.10, help="the out-of-family drive drift of (d)")
    parser.add_argument("--skip-oof", action="store_true", help="leave out (d)")
    parser.add_argument("--full", action="store_true", help="run (e), the emulator-full graph with T1, echo and RB, "
                                                            "instead of (a)-(d)")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps is {args.steps}, but must be >= 1")
    for name in ("drift_drive", "oof_drive"):
        if not -0.5 < getattr(args, name) < 0.5:
            parser.error(f"--{name.replace('_', '-')} is {getattr(args, name)}, but must be in (-0.5, 0.5)")
    np.random.seed(SEED)
    print(load_line("at start"), flush=True)
    drift = Drift(frequency=args.drift_khz * 1e-6, drive_rel=args.drift_drive)
    started = time.perf_counter()
    if args.full:
        with tempfile.TemporaryDirectory() as tmp:
            run_full_graph(Path(tmp))
        print(f"# total {time.perf_counter() - started:.0f} s (scoring with the emulator's model included)")
        print(load_line("at end"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        controller, how = load_or_train(args.controller, args.steps, folder)
        print(f"# controller {how}", flush=True)
        classic_graph = load_graph("emulator")
        learned_graph = with_learned_recalibration(classic_graph, controller)
        print(f"# emulated qubit: {true_offsets(DEVICE_FILE)}", flush=True)

        store_a = folder / "classic.sqlite"
        a = run_graph(DEVICE_FILE, store_a, classic_graph, folder / "data")
        for line in report_lines("(a) classic graph from the design", a):
            print(line, flush=True)

        drifted = drifted_device_file(drift, folder / "drifted")
        print(f"# drift before (b): {drift.describe()}; drifted qubit: {true_offsets(drifted)}", flush=True)
        store_b = folder / "learned.sqlite"
        shutil.copyfile(store_a, store_b)
        b = run_graph(drifted, store_b, learned_graph, folder / "data")
        for line in report_lines("(b) learned graph after the drift", b):
            print(line, flush=True)

        if b["fallback_ran"]:
            print("(c) not run: (b)'s own verification failed and its fallback nodes ran (above)")
        elif args.skip_fallback:
            print("(c) not run (--skip-fallback)")
        else:
            failing = never_verifying_copy(controller, folder / "never-verifying")
            store_c = folder / "fallback.sqlite"
            shutil.copyfile(store_a, store_c)
            c = run_graph(drifted, store_c, with_learned_recalibration(classic_graph, failing), folder / "data")
            for line in report_lines("(c) same start, verification forced to fail (allowance -1)", c):
                print(line, flush=True)

        if args.skip_oof:
            print("(d) not run (--skip-oof)")
        else:
            oof = Drift(frequency=args.oof_khz * 1e-6, drive_rel=args.oof_drive)
            far = drifted_device_file(oof, folder / "out-of-family")
            print(f"# drift before (d): {oof.describe()}; drifted qubit: {true_offsets(far)}", flush=True)
            store_d = folder / "out-of-family.sqlite"
            shutil.copyfile(store_a, store_d)
            d = run_graph(far, store_d, learned_graph, folder / "data")
            for line in report_lines("(d) learned graph after an out-of-family drift", d):
                print(line, flush=True)
    print(f"# total {time.perf_counter() - started:.0f} s (scoring with the emulator's model included)")
    print(load_line("at end"))


if __name__ == "__main__":
    main()
