"""Benchmark: the single-qubit graph with the readout calibrated first, against the default graph.

Problem. `calibrate run` on a fresh simulated sim-5q (seed --seed, from its public design), every
qubit, once with the default graph (`single-qubit`: every discriminated experiment reads through
the device's own assignment errors) and once with the `readout` graph (the same nodes, with the
readout resonator, readout amplitude and an LDA discriminator calibrated after Rabi, so that
Ramsey onwards read each shot's IQ point through the calibrated pulse and boundary). Each graph
runs on its own copy of the device and its own store, after one warm-up run of each on another
seed, so that JAX compilation is counted in neither.

Figures per graph and qubit:
  x_err/limit  the true error of the final X gate over its coherence limit (the report's
               truth block): the issue's "final gate errors unchanged or better"
  rb_epg       the error per gate the RB node measured, with its stderr
  F_assign     the assignment fidelity the final readout reaches, measured by the run (the
               discriminator node; the default graph measures none)
Per graph: device time [h] (shots x (schedule + repetition)), wall seconds, failed nodes.

Run: .venv/bin/python bench/readout.py [--seed 1000] [--warmup-seed 1001]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibrate.graph.toml import load_graph  # noqa: E402
from calibrate.run import RunRequest, run_calibration  # noqa: E402
from calibrate.store import Store  # noqa: E402
from devices.catalog import load_spec  # noqa: E402
from devices.simulated import SimulatedDevice  # noqa: E402

GRAPHS = ("single-qubit", "readout")


def one_run(graph: str, seed: int, folder: Path) -> dict:
    device = SimulatedDevice(load_spec("sim-5q"), seed=seed)
    request = RunRequest(qubits=tuple(device.qubits), graph=load_graph(graph), data_dir=folder / "data")
    started = time.perf_counter()
    with Store.open(f"sqlite:///{folder / 'store.sqlite'}") as store:
        report = run_calibration(store, request, device=device)
    wall = time.perf_counter() - started
    rows = {}
    for q, v in report["qubits"].items():
        values = v["parameters"]
        truth = v.get("truth") or {}
        rb = values.get("gate_error", {})
        fidelity = values.get("assignment_fidelity", {})
        rows[int(q)] = {"ratio": truth.get("gate_error", np.nan) / truth.get("coherence_limit", np.nan),
                        "epg": rb.get("value", np.nan), "epg_err": rb.get("stderr", np.nan),
                        "fidelity": fidelity.get("value", np.nan), "failed": len(v["failed_nodes"])}
    return {"device_h": device.now() / 3600.0, "wall_s": wall, "rows": rows}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--warmup-seed", type=int, default=1001)
    args = parser.parse_args(argv)
    print(f"# sim-5q seed {args.seed}, every qubit from the design (warm-up: seed {args.warmup_seed}, not shown)")
    print(f"{'graph':<14}{'qubit':>6}{'x_err/limit':>13}{'rb_epg':>11}{'+-':>9}{'F_assign':>10}{'failed':>8}")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for graph in GRAPHS:
            one_run(graph, args.warmup_seed, Path(tmp) / f"warm-up-{graph}")
        for graph in GRAPHS:
            r = runs[graph] = one_run(graph, args.seed, Path(tmp) / graph)
            for q, row in sorted(r["rows"].items()):
                print(f"{graph:<14}{q:>6}{row['ratio']:>13.3f}{row['epg']:>11.2e}{row['epg_err']:>9.1e}"
                      f"{row['fidelity']:>10.4f}{row['failed']:>8}", flush=True)
            print(f"# {graph}: device {r['device_h']:.4f} h, wall {r['wall_s']:.0f} s", flush=True)
    a, b = (np.array([row["ratio"] for row in runs[g]["rows"].values()]) for g in GRAPHS)
    print(f"# readout/single-qubit: mean x_err/limit {b.mean():.3f} vs {a.mean():.3f} (max {b.max():.3f} vs "
          f"{a.max():.3f}); device time {runs['readout']['device_h'] / runs['single-qubit']['device_h']:.3f}")


if __name__ == "__main__":
    main()
