"""A calibration run reduced to its store writes, for tests that kill it or race two of them.

    python store_writer.py URL --tag T --updates N [--values K] [--wait-go]

Opens the store, starts a run, prints "ready RUN_ID", optionally waits for a line on stdin
(so that two writers start writing at the same moment), then records N node updates of K
values each and prints "done". The numbers say who wrote them, so a test can check every
one: update i of writer T writes p{j} = value(T, i, j) on qubit i % 2.
"""

from __future__ import annotations

import argparse
import sys

from calibrate.store import Store

DEVICE = "sim-writer"


def value(tag: int, update: int, j: int) -> float:
    return tag * 1_000_000.0 + update * 100.0 + j


def stderr(j: int) -> float:
    return j + 0.25


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--tag", type=int, required=True)
    parser.add_argument("--updates", type=int, required=True)
    parser.add_argument("--values", type=int, default=6)
    parser.add_argument("--wait-go", action="store_true")
    args = parser.parse_args()
    with Store.open(args.url) as store:
        run_id = store.start_run(DEVICE, command=f"store_writer --tag {args.tag}", qubits=[0, 1])
        print(f"ready {run_id}", flush=True)
        if args.wait_go:
            sys.stdin.readline()
        for i in range(args.updates):
            store.record_node(
                run_id, device=DEVICE, qubit=i % 2, node=f"node{i % 3}", action="calibrate", outcome="good",
                reason=f"writer {args.tag} update {i}", experiment="synthetic", device_time_s=float(i), shots=100,
                values={f"p{j}": (value(args.tag, i, j), stderr(j), "GHz") for j in range(args.values)},
            )
        store.finish_run(run_id, status="ok", shots=100 * args.updates, seconds=0.0)
    print("done", flush=True)


if __name__ == "__main__":
    main()
