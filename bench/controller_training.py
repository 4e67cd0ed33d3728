"""Benchmark: training the learned recalibration controller with sim-1q's defaults, as a user runs it.

Problem. `calibrate train-controller --device-family sim-1q` with its default options (800 steps of
64 devices, two rounds, 256 validation devices) and training seed --seed (held out from the tests,
which train with seed 0). Each training is a fresh process, so its time is what a user waits
for: import, set-up (the family's optimum, the verification's sensitivity), JAX compilation,
the training steps, the files.

Each `--tree` (a checkout of this repository; default: this one) trains `--repeats` times, the
trees interleaved, each tree with a compilation cache of its own (calibrate/compilation_cache.py):
its first training starts from an empty cache ("cold": the first training after installing),
the later ones load the programs it kept ("warm"). Trees without that cache compile every
time. Printed: wall and CPU seconds per repeat, the warm repeats' medians and bests, and each
tree's validation error (mean true X-gate error of the validation devices after the last
round) at the start and the end, so a faster tree can be checked to train as well.

Run: .venv/bin/python bench/controller_training.py [--seed 1000] [--repeats 3] [--tree PATH ...]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cli_timing import calibrate, tree_arguments  # noqa: E402


def main() -> None:
    args, trees = tree_arguments(__doc__.splitlines()[0])
    print(f"# train-controller --device-family sim-1q --seed {args.seed}, default options; "
          f"{args.repeats} repeats per tree, interleaved")
    times: dict[Path, list[tuple[float, float]]] = {t: [] for t in trees}
    reports: dict[Path, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for k, tree in enumerate(trees):
                out = Path(folder) / f"controller-{k}-{repeat}"
                report, wall, cpu = calibrate(tree, "train-controller", "--device-family", "sim-1q", "--out", str(out),
                                              "--seed", str(args.seed), cache=Path(folder) / f"cache-{k}")
                times[tree].append((wall, cpu))
                reports.setdefault(tree, report)
                print(f"{tree.name:>24}  repeat {repeat} {'cold' if repeat == 0 else 'warm'}  wall {wall:6.1f} s  "
                      f"cpu {cpu:6.1f} s  training {report['seconds']:6.1f} s", flush=True)
    print(f"{'tree':>24}  {'cold wall':>9}  {'warm wall median':>16}  {'best':>6}  {'warm cpu median':>15}  "
          f"{'validation start':>16}  {'final':>9}")
    for tree in trees:
        walls, cpus = zip(*(times[tree][1:] or times[tree]))
        report = reports[tree]
        print(f"{tree.name:>24}  {times[tree][0][0]:9.1f}  {statistics.median(walls):16.1f}  {min(walls):6.1f}  "
              f"{statistics.median(cpus):15.1f}  {report['validation_start_error']:16.3e}  "
              f"{report['validation_final_error']:9.3e}")
    for tree in trees[1:]:
        def warm_wall(t):
            return statistics.median(w for w, _ in (times[t][1:] or times[t]))

        print(f"# warm wall median {tree.name}/{trees[0].name}: {warm_wall(tree) / warm_wall(trees[0]):.2f}")


if __name__ == "__main__":
    main()
