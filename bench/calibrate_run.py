"""Benchmark: `calibrate run` on sim-5q, the main job (`make demo`), as a user runs it.

Problem. `calibrate run --device sim-5q --seed --seed` (held out from the tests, which use seed 7):
the default graph on its five qubits, then the two-qubit graph on its four coupled pairs, into a
fresh store. Each run is a fresh process, so its time is what an operator or a nightly job waits
for: import, JAX compilation or loading, the experiments, the fits, the store.

Each `--tree` (a checkout of this repository; default: this one) runs `--repeats` times, the trees
interleaved, each tree with a compilation cache of its own (calibrate/compilation_cache.py): its
first run starts from an empty cache ("cold"), the later ones load the programs it kept
("warm"). Trees share this interpreter's packages. Printed: wall and CPU seconds per repeat, the
run's own `seconds`, the warm repeats' medians and bests, and how the values each tree stored
(each qubit's and pair's calibrated parameters) compare with the first tree's: identical, or how
many differ and the largest relative difference. A tree that is only faster must calibrate alike;
one that changes the physics (a more exact simulation) shows by how much.

Run: .venv/bin/python bench/calibrate_run.py [--seed 1000] [--repeats 3] [--tree PATH ...]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cli_timing import calibrate, tree_arguments  # noqa: E402


def stored_values(report: dict) -> dict:
    """Each qubit's and pair's calibrated values, as the run reported them."""
    return {(kind, label): {name: p["value"] for name, p in entry["parameters"].items()}
            for kind in ("qubits", "pairs") for label, entry in report.get(kind, {}).items()}


def largest_difference(ours: dict, theirs: dict) -> str:
    """The largest relative difference between two runs' values, with the parameter it is in;
    "identical" when every value is the same, "different parameters" when the sets differ."""
    if ours == theirs:
        return "identical"
    if ours.keys() != theirs.keys() or any(ours[k].keys() != theirs[k].keys() for k in ours):
        return "different parameters"
    diffs = [(abs(a - b) / max(abs(a), abs(b)), f"{label} {name}")
             for (kind, label), entry in ours.items() for name, a in entry.items()
             for b in [theirs[(kind, label)][name]]
             if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a != b]
    if not diffs:
        return "non-numeric values differ"
    rel, where = max(diffs)
    return f"{len(diffs)} differ, largest {rel:.1e} relative ({where})"


def main() -> None:
    args, trees = tree_arguments(__doc__.splitlines()[0])
    print(f"# calibrate run --device sim-5q --seed {args.seed}, default graphs; {args.repeats} repeats per tree, "
          "interleaved")
    times: dict[Path, list[tuple[float, float, float]]] = {t: [] for t in trees}
    values: dict[Path, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for k, tree in enumerate(trees):
                store = f"sqlite:///{Path(folder) / f'store-{k}-{repeat}.sqlite'}"
                report, wall, cpu = calibrate(tree, "run", "--device", "sim-5q", "--seed", str(args.seed),
                                              "--store", store, "--data-dir", str(Path(folder) / f"data-{k}-{repeat}"),
                                              cache=Path(folder) / f"cache-{k}")
                times[tree].append((wall, cpu, report["seconds"]))
                values.setdefault(tree, stored_values(report))
                print(f"{tree.name:>24}  repeat {repeat} {'cold' if repeat == 0 else 'warm'}  wall {wall:6.1f} s  "
                      f"cpu {cpu:6.1f} s  run {report['seconds']:6.1f} s  shots {report['shots']}", flush=True)
    print(f"{'tree':>24}  {'cold wall':>9}  {'warm wall median':>16}  {'best':>6}  {'warm cpu median':>15}  "
          f"{'warm run median':>15}  values against the first tree")
    for tree in trees:
        warm = times[tree][1:] or times[tree]
        walls, cpus, runs = zip(*warm)
        print(f"{tree.name:>24}  {times[tree][0][0]:9.1f}  {statistics.median(walls):16.1f}  {min(walls):6.1f}  "
              f"{statistics.median(cpus):15.1f}  {statistics.median(runs):15.1f}  "
              f"{largest_difference(values[tree], values[trees[0]])}")
    for tree in trees[1:]:
        def warm_wall(t):
            return statistics.median(w for w, _, _ in (times[t][1:] or times[t]))

        print(f"# warm wall median {tree.name}/{trees[0].name}: {warm_wall(tree) / warm_wall(trees[0]):.2f}")


if __name__ == "__main__":
    main()
