"""The `calibrate` command.

Every command takes --json and then prints exactly one JSON object on stdout.
Exit status: 0 success, 1 calibration finished with failed nodes, 2 bad input (nothing
written; with --json `{"error": ...}`), 3 crashed or the store failed mid-run: the run is
recorded as "error" with its reason where the store still answers; with --json `run`,
`learn-model`, `optimize-pulse`, `train-controller` (and the other store commands) print
`{"error": ..., "run_id": ..., "recorded": ...}` (run_id null: the crash came before any run
row) and `nightly` (the worst over its devices) its usual object plus `error` and `errors`.
130 interrupted (Ctrl-C): the run, if one was under way, is recorded as "error", and the same
object as for 3 is printed.
Heavy imports (JAX) happen inside commands so that --help stays instant.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

DEVICE_FILES = """A device is a catalog name (`calibrate device list`) or a device file (TOML) that names its adapter:

- simulated (the default): the catalog's format (devices/catalog/sim-1q.toml); --seed draws the device.

- qibolab: adapter = "qibolab" and a \\[qibolab] table with platform = "NAME or PATH" (relative to the file); needs `pip install qubit-calibrate\\[qibolab]`.

- python: adapter = "python", factory = "package.module:function" and an optional \\[options] table of keyword arguments; the function returns a devices.protocol.Device (the module may sit beside the file).

Installed packages add adapters through the entry-point group qubit_calibrate.adapters."""

app = typer.Typer(help="Pulse-level calibration of superconducting qubits.\n\n" + DEVICE_FILES, no_args_is_help=True,
                  add_completion=False)
device_app = typer.Typer(help="Simulated and real devices, and the adapters that open them.\n\n" + DEVICE_FILES,
                         no_args_is_help=True)
app.add_typer(device_app, name="device")


@app.callback()
def _before_every_command() -> None:
    # environment variables only (no JAX import, so --help stays instant): compiled programs are
    # kept between runs unless CALIBRATE_JAX_CACHE is empty (calibrate/compilation_cache.py)
    from calibrate.compilation_cache import keep_compiled_programs

    keep_compiled_programs()

console = Console()
EXIT_BAD_INPUT = 2
EXIT_CRASHED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it; click's default (1) would read as "failed nodes"

DeviceOption = Annotated[str, typer.Option("--device", help="Catalog name (see `device list`) or path of a device TOML file (any adapter: see `calibrate --help`).")]
SeedOption = Annotated[Optional[int], typer.Option("--seed", min=0, help="Draws the concrete simulated device from its fabrication prior (default 0); refused for devices without a seed.", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def fail(message: str, as_json: bool) -> NoReturn:
    """Bad input: a clear message, exit status 2, nothing written."""
    if as_json:
        print(json.dumps({"error": message}))
    # soft_wrap: no line breaks inside the message, so paths and values stay whole for scripts
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def crashed(message: str, as_json: bool, *, run_id: int | None, recorded: bool) -> NoReturn:
    """A crash or a store failure after the input was accepted: exit status 3. `run_id` names
    the run the store created (None: none), `recorded` whether it holds the run as "error"."""
    if as_json:
        print(json.dumps({"error": message, "run_id": run_id, "recorded": recorded}))
    where = "" if run_id is None else (f" (run {run_id}, recorded as error)" if recorded else
                                       f" (run {run_id}; the store could not record it as error)")
    Console(stderr=True).print(f"[bold red]error:[/] {message}{where}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_CRASHED)


def emit(obj: dict) -> None:
    print(json.dumps(obj, indent=2, sort_keys=False))


@device_app.command("list")
def device_list(as_json: JsonOption = False) -> None:
    """The built-in simulated devices, and the adapters that open device files."""
    from calibrate.device_report import catalog_and_adapters

    listing = catalog_and_adapters()
    if as_json:
        emit(listing)
        return
    table = Table("name", "qubits", "description", title="Built-in simulated devices")
    for d in listing["devices"]:
        table.add_row(d["name"], str(d["qubits"]), d["description"])
    console.print(table)
    adapters = Table("adapter", "from", title="Adapters a device file may name")
    for a in listing["adapters"]:
        adapters.add_row(a["name"], a["origin"])
    console.print(adapters)


@device_app.command("show")
def device_show(
    device: DeviceOption,
    seed: SeedOption = None,
    truth: Annotated[bool, typer.Option("--truth", help="Show the hidden true parameters of a simulated device and how good its nominal X gates really are (devices with a truth only).")] = False,
    as_json: JsonOption = False,
) -> None:
    """A device's nominal description, or with --truth its hidden parameters."""
    from calibrate.device_report import device_report
    from devices import DeviceModelError
    from devices.device_spec import DeviceSpecError

    try:
        report = device_report(device, seed=seed, truth=truth, progress=not as_json)
    except (DeviceSpecError, DeviceModelError) as exc:
        fail(str(exc), as_json)
    if as_json:
        emit(report)
        return
    from calibrate.device_report import print_report

    print_report(report, console)


@app.command("experiment")
def experiment(
    name: Annotated[str, typer.Argument(help="Experiment name, or `list` to name them all.")],
    device: Annotated[Optional[str], typer.Option("--device", help="Catalog name or path of a device TOML file.")] = None,
    seed: SeedOption = None,
    qubit: Annotated[int, typer.Option("--qubit", help="The qubit to measure.")] = 0,
    qubits: Annotated[Optional[str], typer.Option("--qubits", help="A two-qubit experiment's qubits A,B (control,target for cr_tomography; qubit,spectator for zz); replaces --qubit.")] = None,
    shots: Annotated[int, typer.Option("--shots", min=1, max=10**7, help="Shots per sweep point.")] = 1000,
    out: Annotated[Optional[str], typer.Option("--out", help="Save the dataset as NetCDF (FILE.nc).")] = None,
    plot: Annotated[Optional[str], typer.Option("--plot", help="Write a Bokeh page of data and fit (FILE.html).")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="Experiment option key=value (repeatable), e.g. points=61.")] = None,
    setting: Annotated[Optional[list[str]], typer.Option("--set", help="Override a calibration value of the qubit, key=value (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run one experiment with the device's nominal calibration and print its fit.

    Exit status 1 when the analysis is bad (its reason is printed), 2 on bad input."""
    from calibrate.cli.experiment import list_experiments, run_command

    if name == "list":
        list_experiments(as_json, console)
        return
    if device is None:
        fail("--device is required: a catalog name (see `calibrate device list`) or a device TOML path.", as_json)
    from devices import DeviceModelError
    from devices.device_spec import DeviceSpecError

    try:
        partner = None
        if qubits is not None:
            from calibrate.cli.run import parse_qubits

            pair = parse_qubits(qubits)
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(f"--qubits is {qubits!r}, but must name two different qubits A,B.")
            qubit, partner = pair
        status = run_command(name, device, seed, qubit, shots, out, plot, option or [], setting or [],
                             as_json, console, partner)
    except (KeyError, ValueError, DeviceSpecError, DeviceModelError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        fail(str(message), as_json)
    raise typer.Exit(status)


StoreOption = Annotated[Optional[str], typer.Option("--store", help="Store URL: sqlite:///FILE or postgresql+psycopg://user@host/db (default: sqlite:///calibration-data/store.sqlite).")]
GraphOption = Annotated[Optional[str], typer.Option("--graph", help="Built-in graph name or graph TOML file (default: single-qubit).")]
SimultaneousOption = Annotated[bool, typer.Option("--simultaneous", help="Run qubits (then pairs) that do not interact (not coupled, no drive crosstalk) together, their experiments sharing device calls, as labs do: it saves device time on devices that play simultaneous calls (simulated ones); others play the calls in turn.")]
PairGraphOption = Annotated[Optional[str], typer.Option("--pair-graph", help="Graph of each coupled pair among the qubits, run after their own (control: the higher design frequency): a built-in name, a graph TOML file, or none (default: two-qubit).")]


def _guarded(as_json: bool, body) -> None:
    """Run a store-backed command: bad input of any kind exits 2 with its message; a run that
    crashed or whose store failed after it started (RunError), or any other exception, exits 3;
    Ctrl-C exits 130."""
    from calibrate.graph.spec import GraphError
    from calibrate.run import RunError
    from calibrate.store import StoreError
    from devices import DeviceModelError
    from devices.device_spec import DeviceSpecError

    try:
        status = body()
    except RunError as exc:
        crashed(exc.message, as_json, run_id=exc.run_id, recorded=exc.recorded)
    except (KeyError, ValueError, DeviceSpecError, DeviceModelError, GraphError, StoreError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        fail(str(message), as_json)
    except KeyboardInterrupt as exc:
        run = getattr(exc, "run_error", None) or RunError("interrupted (KeyboardInterrupt)")
        if as_json:
            print(json.dumps({"error": run.message, "run_id": run.run_id, "recorded": run.recorded}))
        Console(stderr=True).print(f"[bold red]error:[/] {run.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:  # a crash no command anticipated: still 3, never a traceback's 1 ("failed nodes")
        from calibrate.run import crash_reason

        crashed(crash_reason(exc), as_json, run_id=None, recorded=False)
    raise typer.Exit(status)


@app.command("run")
def run(
    device: DeviceOption,
    seed: SeedOption = None,
    qubits: Annotated[Optional[str], typer.Option("--qubits", help="Comma-separated qubits (default: all).")] = None,
    store: StoreOption = None,
    graph: GraphOption = None,
    pair_graph: PairGraphOption = None,
    simultaneous: SimultaneousOption = False,
    recalibrate_all: Annotated[bool, typer.Option("--recalibrate-all", help="Calibrate every node instead of maintaining.")] = False,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Folder for the NetCDF datasets (default: beside a SQLite store).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Maintain the calibration graph on all or chosen qubits (Kelly et al.'s policy), then the
    pair graph on each coupled pair among them (control: the higher design frequency).

    Exit status 0 when every qubit is calibrated, 1 when some node failed (the others still
    ran), 2 on bad input (nothing written), 3 when the run crashed or its store failed (the run
    is recorded as error where the store still answers; finished node updates stay, the
    interrupted node wrote nothing)."""
    from calibrate.cli.run import run_command

    _guarded(as_json, lambda: run_command(device=device, seed=seed, qubits=qubits, store_url=store, graph=graph,
                                          pair_graph=pair_graph, simultaneous=simultaneous, recalibrate_all=recalibrate_all,
                                          data_dir=data_dir, as_json=as_json,
                                          console=console))


@app.command("status")
def status(device: DeviceOption, seed: SeedOption = None, store: StoreOption = None, as_json: JsonOption = False) -> None:
    """Table of current calibrated values (newest valid) of a device."""
    from calibrate.cli.run import status_command

    _guarded(as_json, lambda: status_command(device=device, seed=seed, store_url=store, as_json=as_json, console=console))


@app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="Parameter name, e.g. frequency, x_amp, beta, t1, gate_error.")],
    device: DeviceOption,
    seed: SeedOption = None,
    qubit: Annotated[Optional[int], typer.Option("--qubit", help="Only this qubit.")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every stored value of a parameter, oldest first (reverts included)."""
    from calibrate.cli.run import history_command

    _guarded(as_json, lambda: history_command(name=name, device=device, seed=seed, qubit=qubit, store_url=store,
                                              as_json=as_json, console=console))


@app.command("revert")
def revert(
    device: DeviceOption,
    seed: SeedOption = None,
    run_id: Annotated[Optional[int], typer.Option("--run", help="Revert every value this run wrote.")] = None,
    parameter: Annotated[Optional[str], typer.Option("--parameter", help="Revert one parameter to its previous value.")] = None,
    qubit: Annotated[Optional[int], typer.Option("--qubit", help="The qubit of --parameter.")] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore previous values (appended to the history; nothing is deleted)."""
    from calibrate.cli.run import revert_command

    _guarded(as_json, lambda: revert_command(device=device, seed=seed, run_id=run_id, name=parameter, qubit=qubit,
                                             store_url=store, as_json=as_json, console=console))


@app.command("nightly")
def nightly(
    device: Annotated[list[str], typer.Option("--device", help="Device(s) to tune (repeatable): catalog name or TOML path.")],
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Comma-separated seeds: one simulated device per device and seed (default 0); refused for devices without a seed.", show_default=False)] = None,
    simulate_days: Annotated[int, typer.Option("--simulate-days", min=0, max=3650, help="Replay N nights, each device drifting one day before each (devices that drift, i.e. simulated ones, only).")] = 0,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="An existing Dask scheduler, tcp://host:port (default: a LocalCluster).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=256, help="LocalCluster worker processes.")] = 2,
    store: StoreOption = None,
    graph: GraphOption = None,
    pair_graph: PairGraphOption = None,
    simultaneous: SimultaneousOption = False,
    recalibrate_all: Annotated[bool, typer.Option("--recalibrate-all", help="Calibrate every node every night (the baseline).")] = False,
    report_dir: Annotated[Optional[str], typer.Option("--report-dir", help="Write an offline HTML report per device and night into this folder (see `calibrate report`).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Maintain every qubit (and coupled pair) of one or many devices as Dask tasks, night after night.

    Exit status, the worst over the devices: 3 when a device crashed or its store writes failed
    (the other devices still run; see `errors`), else 1 when a night had failed nodes, else 0;
    2 on bad input, before anything ran (nothing written)."""
    from calibrate.cli.nightly import nightly_command

    _guarded(as_json, lambda: nightly_command(devices=device, seeds=seeds, days=simulate_days, scheduler=scheduler,
                                              workers=workers, store_url=store, graph=graph, pair_graph=pair_graph,
                                              simultaneous=simultaneous, recalibrate_all=recalibrate_all, as_json=as_json, console=console,
                                              report_dir=report_dir))


@app.command("optimize-pulse")
def optimize_pulse_cmd(
    device: DeviceOption,
    qubit: Annotated[int, typer.Option("--qubit", help="The qubit whose X gate to optimize.")],
    seed: SeedOption = None,
    duration: Annotated[float, typer.Option("--duration", help="Gate length [ns]: a multiple of the AWG sample time, at least 4 samples.")] = 20.0,
    shape: Annotated[str, typer.Option("--shape", help="drag-corrected (DRAG plus smooth corrections) or samples (filtered samples at the AWG rate).")] = "drag-corrected",
    cutoff: Annotated[float, typer.Option("--cutoff", help="Low-pass cutoff [GHz] of --shape samples (-40 dB from there up).")] = 0.5,
    ensemble: Annotated[int, typer.Option("--ensemble", min=1, max=4096, help="Models drawn from the posterior around the stored values.")] = 16,
    steps: Annotated[int, typer.Option("--steps", min=1, max=100_000, help="Optimizer (Adam) steps.")] = 300,
    store: StoreOption = None,
    out: Annotated[Optional[str], typer.Option("--out", help="Where to save the pulse (.json or .npz; default: beside the store, under pulses/).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Robust optimal control: the X pulse with the least mean error and leakage over the
    qubit's posterior ensemble (the stored calibration with its uncertainties).

    Exit status 0 saved, 2 on bad input, 3 when the optimization crashed, 130 interrupted."""
    from calibrate.cli.pulse import optimize_pulse_command

    _guarded(as_json, lambda: optimize_pulse_command(device=device, seed=seed, qubit=qubit, duration=duration, shape=shape,
                                                     cutoff=cutoff, ensemble=ensemble, steps=steps, store_url=store,
                                                     out=out, as_json=as_json, console=console))


@app.command("learn-model")
def learn_model_cmd(
    device: DeviceOption,
    datasets: Annotated[Optional[list[str]], typer.Option("--datasets", help="A run id of the store (its datasets), or dataset files FILE.nc ... (several may follow one --datasets).")] = None,
    more: Annotated[Optional[list[str]], typer.Argument(help="More dataset files after --datasets.", show_default=False)] = None,
    seed: SeedOption = None,
    qubit: Annotated[Optional[int], typer.Option("--qubit", help="The qubit to learn (default: the one the datasets measured).")] = None,
    store: StoreOption = None,
    out: Annotated[Optional[str], typer.Option("--out", help="Write the learned device file here (.toml; default: beside the store, under learned/).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Model learning: the maximum-likelihood model of a qubit (frequency, anharmonicity, drive
    scale, T1, T2, readout errors) from datasets, with uncertainties; stored, and written as a
    simulated device of its own. Exit status 1 when the fit does not converge, 2 on bad input, 3
    when learning or storing crashed (a run row it created is recorded as error), 130 interrupted."""
    from calibrate.cli.learn import learn_model_command

    _guarded(as_json, lambda: learn_model_command(device=device, seed=seed, qubit=qubit,
                                                  datasets=[*(datasets or []), *(more or [])], store_url=store,
                                                  out=out, as_json=as_json, console=console))


@app.command("train-controller")
def train_controller_cmd(
    device_family: Annotated[str, typer.Option("--device-family", help="Catalog name or device TOML file whose prior and drift to train over.")],
    out: Annotated[str, typer.Option("--out", help="Directory for the weights, their prior and the training curve.")],
    qubit: Annotated[int, typer.Option("--qubit", min=0, help="The qubit design of the family to train for.")] = 0,
    steps: Annotated[int, typer.Option("--steps", min=1, max=100_000, help="Adam steps.")] = 800,
    batch: Annotated[int, typer.Option("--batch", min=1, max=4096, help="Simulated devices per step.")] = 64,
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=5, help="Probe -> correct rounds before the verification.")] = 2,
    shots: Annotated[int, typer.Option("--shots", min=1, max=100_000, help="Shots per probe circuit.")] = 200,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Initial weights, training devices and shot noise.")] = 0,
    graph: Annotated[Optional[str], typer.Option("--graph", help="The graph whose nodes the learned node stands in for when `run --graph DIR` loads it: a built-in name (e.g. emulator) or a graph TOML file (default: single-qubit).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Train a learned recalibration controller through the differentiable simulator, over the
    family's fabrication prior and drift, with shot noise (see calibrate/ml/controller.py).

    Exit status 0 trained, 2 on bad input, 3 when training crashed, 130 interrupted (nothing written)."""
    from calibrate.cli.controller import train_controller_command

    _guarded(as_json, lambda: train_controller_command(device_family=device_family, out=out, qubit=qubit, steps=steps,
                                                       batch=batch, rounds=rounds, shots=shots, seed=seed,
                                                       graph=graph, as_json=as_json, console=console))


# --- dashboards (calibrate/cli/dashboard.py; the dashboards package is imported lazily) -------

def _guarded_reader(as_json: bool, body) -> None:
    """_guarded for the commands that only read the store: bad input exits 2 with its message,
    without importing the simulator first."""
    from calibrate.store import StoreError

    try:
        status = body()
    except (ValueError, StoreError) as exc:
        fail(str(exc), as_json)
    raise typer.Exit(status)


@app.command("dashboard")
def dashboard(
    store: StoreOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to serve on. Anything but loopback needs --allow-origin.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port to serve on.")] = 5006,
    allow_origin: Annotated[Optional[list[str]], typer.Option("--allow-origin", help="HOST:PORT a browser may open the dashboard from (repeatable); required off loopback.")] = None,
    controller: Annotated[Optional[list[str]], typer.Option("--controller", help="Directory written by `calibrate train-controller`: show its training curves (repeatable).")] = None,
    refresh_ms: Annotated[int, typer.Option("--refresh-ms", min=100, max=60_000, help="How often each page looks for new records [ms].")] = 500,
) -> None:
    """Live Bokeh dashboard of a store (read-only): fidelity and parameters over time, node
    outcomes with their datasets and fits, running jobs. Runs until Ctrl-C."""
    from calibrate.cli.dashboard import dashboard_command

    _guarded_reader(False, lambda: dashboard_command(store_url=store, host=host, port=port,
                                                     allow_origins=allow_origin or [], controllers=controller or [],
                                                     refresh_ms=refresh_ms, console=console))


@app.command("report")
def report(
    run: Annotated[Optional[int], typer.Argument(help="Run id (default: the newest run).", show_default=False)] = None,
    store: StoreOption = None,
    out: Annotated[str, typer.Option("--out", help="The HTML file to write (self-contained, works offline).")] = "report.html",
    as_json: JsonOption = False,
) -> None:
    """Static HTML report of a run: the dashboard's plots for its device, its nodes, datasets and fits."""
    from calibrate.cli.dashboard import report_command

    _guarded_reader(as_json, lambda: report_command(run=run, store_url=store, out=out, as_json=as_json,
                                                    console=console))


# --- end of dashboards ---------------------------------------------------------------------------

# `calibrate export --to qibolab PLATFORM_DIR`: typer and rich only at import, like the rest
from calibrate.cli.export import export as _export  # noqa: E402

app.command("export")(_export)


def main() -> None:  # pragma: no cover - console entry point
    if "--json" not in sys.argv[1:]:
        sys.exit(app())
    # With --json, errors that click finds itself (an option out of range, a missing option)
    # also print one JSON object: scripts parse stdout whatever the exit status.
    try:
        status = app(standalone_mode=False)
    except typer.Abort:
        print(json.dumps({"error": "aborted"}))
        sys.exit(1)
    except typer.TyperException as exc:  # click's errors (typer vendors click): usage errors exit 2
        print(json.dumps({"error": exc.format_message()}))
        Console(stderr=True).print(f"[bold red]error:[/] {exc.format_message()}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    sys.exit(status if isinstance(status, int) else 0)
