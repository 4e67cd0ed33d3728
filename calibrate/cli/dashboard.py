"""`calibrate dashboard` and `calibrate report`: the store seen through dashboards/.

The dashboards package sits above calibrate (it reads the store), so it is imported here,
inside the commands, and never at the top of a calibrate module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rich.console import Console


def dashboard_command(*, store_url: str | None, host: str, port: int, allow_origins: list[str],
                      controllers: list[str], refresh_ms: int, console: Console) -> int:
    from dashboards.origins import ServerOptions, websocket_origins

    server = ServerOptions(host=host, port=port, allow_origins=tuple(allow_origins))
    websocket_origins(server)  # refuse an unsafe address at once, before any slow import or the store

    import experiments.registry  # noqa: F401  (the analyses behind the dataset panel: paid once, not by a page)
    from dashboards.app import DashboardOptions
    from dashboards.data import StoreReader
    from dashboards.server import serve
    from dashboards.training import check_controller_dir, read_training

    folders = tuple(check_controller_dir(c) for c in controllers)
    for folder in folders:
        read_training(folder)  # a malformed file is bad input now, not a blank panel later
    reader = StoreReader.open(store_url)
    options = DashboardOptions(controllers=folders, refresh_ms=refresh_ms)

    def listening(url: str) -> None:
        # stdout, flushed: scripts and tests wait for this line
        print(f"Dashboard of {reader.url} (read-only) at {url}", flush=True)
        console.print("Press Ctrl-C to stop.", highlight=False)

    try:
        serve(reader, options, server, on_listening=listening)
    finally:
        reader.close()
    return 0


def report_command(*, run: int | None, store_url: str | None, out: str, as_json: bool, console: Console) -> int:
    from dashboards.data import StoreReader
    from dashboards.report import write_report

    with StoreReader.open(store_url) as reader:
        path, chosen = write_report(reader, run, out)
    if as_json:
        print(json.dumps({"report": str(path.resolve()), "run_id": chosen.id, "device": chosen.device,
                          "status": chosen.status, "store": reader.url}, indent=2))
    else:
        console.print(f"Report of run {chosen.id} on {chosen.device} written to {path.resolve()}", highlight=False)
    return 0


def check_report_dir(folder: str) -> Path:
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--report-dir {folder}: the folder cannot be created ({exc.strerror or exc}).") from None
    return path


def write_night_reports(store_url: str, nights: list[dict], folder: str) -> None:
    """One report per device and night of a nightly job, its path added to the night's entry as
    `report`."""
    from dashboards.data import StoreReader
    from dashboards.report import write_report

    target = check_report_dir(folder)
    with StoreReader.open(store_url) as reader:
        for night in nights:
            device = re.sub(r"[^A-Za-z0-9_.-]", "_", night["device"])
            seed = "" if night["seed"] is None else f"-seed{night['seed']}"
            name = f"{device}{seed}-night{night['night']:03d}-run{night['run_id']}.html"
            path, _ = write_report(reader, night["run_id"], target / name)
            night["report"] = str(path.resolve())
