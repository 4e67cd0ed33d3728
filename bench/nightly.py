"""Benchmark: a month of nightly tuning, maintain against recalibrating every node.

Problem. One simulated `sim-5q` (seed --seed) with its catalog drift: frequency random
walk and telegraph jumps, drive-amplitude walk, T1 fluctuation. Night 0 calibrates every
qubit from the public design (the same for both strategies, and left out of the
figures); then --days nights follow, night n starting at n days on the device clock. Each
strategy runs on its own copy of the device and its own store, through the same code as
`calibrate nightly`. The drift is paired: a simulated device's drift is a function of its
seed and clock alone (devices/drift.py), so both copies meet the same drift path, night by
night, however many shots and runs each strategy spends; within a night they differ only
by where on that path their runs fall (each row's clock gap is printed).

  maintain        Kelly et al.'s policy with the default graph's timeouts and tolerances
  recalibrate-all every node of the default graph calibrated every night

Figures per strategy, over the nights after night 0 and all qubits:
  shots/night     mean shots per night (every check and calibration experiment)
  error/limit     mean of true gate error / coherence limit at the end of each night's run
                  (the X pulse as calibrated, on the true device then), and its maximum
  pairs           the same for the coupled pairs' ECRs (mean, max), when the pair graph runs
  failed nodes    node failures over the month (bad fits; values were not written)
  wall            seconds for the whole month (simulation + store), one process each

Paired, night by night: each night's mean error/limit over the qubits, maintain minus
recalibrate-all; the number of nights maintain was at or below recalibrate-all, and the
mean paired difference with its standard error (std / sqrt(nights)).

Target: maintain uses at most 1/5 of the shots of recalibrate-all at an equal or better
mean error/limit. The truth is read by the run reports' truth block only.

Run: .venv/bin/python bench/nightly.py [--days 30] [--device sim-5q] [--seed 0] [--pair-graph none]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibrate.nightly import NightlyDevice, NightlyJob, Serial, run_nightly  # noqa: E402


def month(strategy: str, device: str, seed: int, days: int, folder: Path, pair_graph: str | None) -> dict:
    url = f"sqlite:///{folder / strategy / 'store.sqlite'}"
    target = NightlyDevice(device, seed)
    recalibrate_all = strategy == "recalibrate-all"
    started = time.perf_counter()
    first = run_nightly(NightlyJob((target,), url, days=0, recalibrate_all=recalibrate_all, pair_graph=pair_graph,
                                   data_dir=str(folder / strategy / "data")), Serial())[0]
    nights = run_nightly(NightlyJob((target,), url, days=days, recalibrate_all=recalibrate_all, pair_graph=pair_graph,
                                    data_dir=str(folder / strategy / "data")), Serial())[0]
    wall = time.perf_counter() - started
    ratios = np.array([[q["truth"]["gate_error"] / q["truth"]["coherence_limit"] for q in n["qubits"].values()]
                       for n in nights])
    pairs = np.array([[p["truth"]["gate_error"] / p["truth"]["coherence_limit"] if p["truth"] else np.nan
                       for p in n["pairs"].values()] for n in nights]).reshape(len(nights), -1)
    failed = sum(len(q["failed_nodes"]) for n in nights for q in [*n["qubits"].values(), *n["pairs"].values()])
    night, column = np.unravel_index(np.argmax(ratios), ratios.shape)
    qubit = list(nights[night]["qubits"])[column]
    done = [f"{n['node']}:{n['outcome']}" for n in nights[night]["qubits"][qubit]["nodes"]]
    worst = f"night {night + 1} q{qubit} error/limit {ratios[night, column]:.3f} after {' '.join(done) or 'nothing'}"
    return {"strategy": strategy, "first_shots": first[0]["shots"], "shots": np.array([n["shots"] for n in nights]),
            "ratios": ratios, "pair_ratios": pairs, "failed": failed, "wall": wall, "worst": worst,
            "clock_s": np.array([n["device_clock_s"] for n in nights])}


def paired(maintain: dict, full: dict) -> None:
    """Night by night on the same drift: maintain's mean error/limit minus recalibrate-all's."""
    m, f = maintain["ratios"].mean(axis=1), full["ratios"].mean(axis=1)
    diff = m - f
    n = len(diff)
    stderr = diff.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
    gap_h = np.abs(maintain["clock_s"] - full["clock_s"]) / 3600.0
    print(f"# paired nights (same drift path; run ends {gap_h.mean():.2f} h apart on average, at most "
          f"{gap_h.max():.2f} h): maintain <= recalibrate-all on {int(np.sum(diff <= 0))} of {n} nights; "
          f"mean difference {diff.mean():+.4f} +- {stderr:.4f} (1 s.e.) in error/limit")
    print("# per night, error/limit maintain - recalibrate-all:", " ".join(f"{d:+.3f}" for d in diff))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--device", default="sim-5q")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pair-graph", default=None, help="the coupled pairs' graph (default two-qubit; none: no pairs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [month(s, args.device, args.seed, args.days, Path(tmp), args.pair_graph)
                   for s in ("maintain", "recalibrate-all")]
    print(f"# {args.device} seed {args.seed}: {args.days} nights after an initial calibration "
          f"({results[0]['first_shots']:,} shots)")
    print(f"{'strategy':16s} {'shots/night':>12s} {'min':>9s} {'max':>9s} {'error/limit':>12s} {'max':>7s} "
          f"{'pairs':>7s} {'max':>7s} {'failed':>7s} {'wall_s':>8s}")
    for r in results:
        pairs = r["pair_ratios"]
        pair_cols = f"{np.nanmean(pairs):7.3f} {np.nanmax(pairs):7.3f}" if pairs.size else f"{'-':>7s} {'-':>7s}"
        print(f"{r['strategy']:16s} {r['shots'].mean():12,.0f} {r['shots'].min():9,d} {r['shots'].max():9,d} "
              f"{r['ratios'].mean():12.4f} {r['ratios'].max():7.3f} {pair_cols} {r['failed']:7d} {r['wall']:8.1f}")
    maintain, full = results
    shot_ratio = maintain["shots"].mean() / full["shots"].mean()
    error_ratio = maintain["ratios"].mean() / full["ratios"].mean()
    met = shot_ratio <= 0.2 and error_ratio <= 1.0
    print(f"# maintain/recalibrate-all: shots {shot_ratio:.3f} (target <= 0.2), mean error/limit "
          f"{error_ratio:.4f} (target <= 1): {'met' if met else 'NOT met'}")
    print("# per night, maintain shots:", " ".join(f"{s // 1000}k" for s in maintain["shots"]))
    paired(maintain, full)
    for r in results:
        print(f"# worst {r['strategy']}: {r['worst']}")


if __name__ == "__main__":
    main()
