"""Benchmark: simultaneous calibration against qubit-by-qubit, on sim-5q.

Problem. `calibrate run` on a fresh simulated sim-5q (seed --seed, from its public design):
the default graph on every qubit, then the two-qubit graph on every coupled pair. Once with
each qubit (and pair) in turn, once with `--simultaneous`: qubits that do not interact (not
coupled, no drive crosstalk) run as lanes whose experiments share device calls, on sim-5q
(0, 2, 4) then (1, 3), and pairs (1-0, 3-4), then 1-2, then 3-2 (calibrate/simultaneous.py).
Each mode runs on its own copy of the device and its own store, after one warm-up run on
another seed, so that JAX compilation (shared by the modes) is counted in neither.

Figures per mode:
  device_h     the device's busy time for the run [h] (shots x (schedule + repetition), one
               simultaneous call counting as its longest lane): what a lab waits for
  wall_s       seconds of this process (simulation, fits, store)
  calls        device calls, and the lane calls they carried (simultaneous only)
  qubits       mean and max true X error / coherence limit after the run
  pairs        mean and max true ECR error / coherence limit after the run
  failed       failed nodes

What users care about is the device time at equal quality: the ratio line prints both.
The truth is read by the run reports' truth blocks only.

Run: .venv/bin/python bench/simultaneous.py [--seed 1000] [--warmup-seed 1001]
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
from calibrate.pairs import load_pair_graph  # noqa: E402
from calibrate.run import RunRequest, run_calibration  # noqa: E402
from calibrate.simultaneous import LaneStats  # noqa: E402
from calibrate.store import Store  # noqa: E402
from devices.catalog import load_spec  # noqa: E402
from devices.simulated import SimulatedDevice  # noqa: E402


def one_run(simultaneous: bool, seed: int, folder: Path) -> dict:
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=seed)
    request = RunRequest(qubits=tuple(device.qubits), graph=load_graph(None), pair_graph=load_pair_graph(None),
                         simultaneous=simultaneous, data_dir=folder / "data")
    stats = LaneStats()
    started = time.perf_counter()
    with Store.open(f"sqlite:///{folder / 'store.sqlite'}") as store:
        report = run_calibration(store, request, device=device, lane_stats=stats)
    wall = time.perf_counter() - started

    def ratios(part: str) -> np.ndarray:
        return np.array([v["truth"]["gate_error"] / v["truth"]["coherence_limit"]
                         for v in report[part].values() if v.get("truth")])

    return {"device_h": device.now() / 3600.0, "wall_s": wall, "stats": stats, "shots": report["shots"],
            "qubits": ratios("qubits"), "pairs": ratios("pairs"),
            "failed": sum(len(v["failed_nodes"]) for part in ("qubits", "pairs") for v in report[part].values())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--warmup-seed", type=int, default=1001)
    args = parser.parse_args(argv)
    print(f"# sim-5q seed {args.seed}: default graph on 5 qubits, then the two-qubit graph on 4 pairs, "
          f"from the design (warm-up run: seed {args.warmup_seed}, not shown)")
    print(f"{'mode':<14}{'device_h':>10}{'wall_s':>9}{'calls':>13}{'shots':>12}"
          f"{'qubits':>8}{'max':>7}{'pairs':>8}{'max':>7}{'failed':>8}")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        one_run(False, args.warmup_seed, Path(tmp) / "warm-up")
        for mode, simultaneous in (("in-turn", False), ("simultaneous", True)):
            r = rows[mode] = one_run(simultaneous, args.seed, Path(tmp) / mode)
            calls = f"{r['stats'].device_calls}/{r['stats'].lane_calls}" if simultaneous else "-"
            print(f"{mode:<14}{r['device_h']:>10.4f}{r['wall_s']:>9.1f}{calls:>13}{r['shots']:>12,}"
                  f"{r['qubits'].mean():>8.3f}{r['qubits'].max():>7.3f}{r['pairs'].mean():>8.3f}"
                  f"{r['pairs'].max():>7.3f}{r['failed']:>8}", flush=True)
    a, b = rows["in-turn"], rows["simultaneous"]
    print(f"# simultaneous/in-turn: device time {b['device_h'] / a['device_h']:.3f}, wall {b['wall_s'] / a['wall_s']:.3f}; "
          f"mean error/limit qubits {b['qubits'].mean():.3f} vs {a['qubits'].mean():.3f}, "
          f"pairs {b['pairs'].mean():.3f} vs {a['pairs'].mean():.3f}")


if __name__ == "__main__":
    main()
