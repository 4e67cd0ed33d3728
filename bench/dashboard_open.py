"""How long the live dashboard takes to open on a store with a lab's history.

Builds a store of 20 qubits (4 devices x 5) x 90 nights of nightly history (runs with a
truth block, every node's outcome, every calibrated value), then times what a page load
costs the server: opening the store read-only, the queries, building the Bokeh document
and serializing it for the browser. The target is under 2 s.

    .venv/bin/python bench/dashboard_open.py [--nights 90] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "dashboards"))

from synthetic_history import History, write_history  # noqa: E402

TARGET_S = 2.0


def open_dashboard(url: str) -> tuple[float, dict]:
    """Seconds from nothing to a serialized document, and what the document holds."""
    from bokeh.document import Document

    from dashboards.app import DashboardOptions, DashboardSession
    from dashboards.data import StoreReader

    started = time.perf_counter()
    with StoreReader.open(url) as reader:
        session = DashboardSession(reader, DashboardOptions())
        doc = Document()
        doc.add_root(session.layout())
        doc.to_json()  # what the server sends the browser first
    seconds = time.perf_counter() - started
    points = sum(len(panel.points.data["time"]) for panel in session.history.panels.values())
    return seconds, {"qubits": len(session.history.keys), "points": points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import dashboards.app  # noqa: F401  (imports are paid once per server, not per page)

    history = History(nights=args.nights)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/store.sqlite"
        t0 = time.perf_counter()
        rows = write_history(url, history)
        print(f"store: {history.qubits} qubits x {history.nights} nights: {rows} written in "
              f"{time.perf_counter() - t0:.2f} s")
        times = []
        for _ in range(args.repeat):
            seconds, shown = open_dashboard(url)
            times.append(seconds)
        best, worst = min(times), max(times)
        print(f"dashboard open (store read + document built + serialized): best {best:.3f} s, worst {worst:.3f} s "
              f"over {args.repeat}; {shown['qubits']} qubits, {shown['points']} points; target < {TARGET_S} s: "
              f"{'ok' if worst < TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
