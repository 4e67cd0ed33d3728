"""Benchmark: model learning from one whole default-graph run, as a user runs it.

Problem. `calibrate run` of the default graph on a fresh sim-1q (seed --seed, held out from the
tests), then `calibrate learn-model --datasets RUN_ID --qubit 0`: the maximum-likelihood model
from every dataset of counts that run stored (the issue's "qubit 0 of a whole default-graph
run"). The run is made once; each learn-model is a fresh process, so its time is what a user
waits for: import, JAX compilation, the fit and its uncertainties.

Each `--tree` (a checkout of this repository; default: this one) learns from the same run
`--repeats` times, the trees interleaved, each tree with a compilation cache of its own
(calibrate/compilation_cache.py): its first learn-model starts from an empty cache ("cold":
what the first model learning after installing costs), the later ones load the programs it
kept ("warm": every later one). Trees without that cache compile every time. Wall and CPU
seconds (the process and its children) are printed per repeat, with medians and bests of the
warm repeats, and the learned values and standard errors of every tree's first repeat, so a
faster tree can be checked to learn the same model.

Run: .venv/bin/python bench/model_learning.py [--seed 1000] [--repeats 3] [--tree PATH ...]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cli_timing import ROOT, calibrate, tree_arguments  # noqa: E402


def main() -> None:
    args, trees = tree_arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as folder:
        store = f"sqlite:///{Path(folder) / 'store.sqlite'}"
        run, wall, _ = calibrate(ROOT, "run", "--device", "sim-1q", "--seed", str(args.seed), "--store", store,
                                 "--data-dir", str(Path(folder) / "data"))
        print(f"# default graph on sim-1q seed {args.seed}: run {run['run_id']} in {wall:.0f} s; "
              f"learn-model --qubit 0, {args.repeats} repeats per tree, interleaved")
        learn = ["learn-model", "--device", "sim-1q", "--seed", str(args.seed), "--datasets", str(run["run_id"]),
                 "--qubit", "0", "--store", store]
        times: dict[Path, list[tuple[float, float]]] = {t: [] for t in trees}
        models: dict[Path, dict] = {}
        for repeat in range(args.repeats):
            for k, tree in enumerate(trees):
                report, wall, cpu = calibrate(tree, *learn, cache=Path(folder) / f"cache-{k}")
                times[tree].append((wall, cpu))
                models.setdefault(tree, report)
                print(f"{tree.name:>24}  repeat {repeat} {'cold' if repeat == 0 else 'warm'}  wall {wall:7.1f} s  "
                      f"cpu {cpu:7.1f} s", flush=True)
    print(f"{'tree':>24}  {'cold wall':>9}  {'warm wall median':>16}  {'best':>6}  {'warm cpu median':>15}  points")
    for tree in trees:
        cold = times[tree][0][0]
        walls, cpus = zip(*(times[tree][1:] or times[tree]))
        print(f"{tree.name:>24}  {cold:9.1f}  {statistics.median(walls):16.1f}  {min(walls):6.1f}  "
              f"{statistics.median(cpus):15.1f}  {models[tree].get('points')}")
    if len(trees) > 1:
        def warm_cpu(tree):
            return statistics.median(c for _, c in (times[tree][1:] or times[tree]))

        for tree in trees[1:]:
            print(f"# warm cpu median {trees[0].name}/{tree.name}: {warm_cpu(trees[0]) / warm_cpu(tree):.2f}")
    for tree in trees:
        params = models[tree].get("values", {})
        print(f"# {tree.name}: " + "; ".join(f"{k} {v.get('value')!r} +- {v.get('stderr')!r}" for k, v in params.items()))


if __name__ == "__main__":
    main()
