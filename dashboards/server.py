"""Starting the live dashboard: a Bokeh server on this machine, safe by default (see
dashboards/origins.py for who may connect)."""

from __future__ import annotations

from collections.abc import Callable

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.document import Document
from bokeh.server.server import Server

from dashboards.app import DashboardOptions, DashboardSession
from dashboards.data import StoreReader
from dashboards.origins import ServerOptions, websocket_origins


def make_server(reader: StoreReader, dashboard: DashboardOptions, options: ServerOptions) -> Server:
    """A Bokeh server (not yet started) with the dashboard at `/`; every page gets its own session
    over the one shared read-only reader."""
    origins = websocket_origins(options)

    def make_document(doc: Document) -> None:
        DashboardSession(reader, dashboard).attach(doc)

    application = Application(FunctionHandler(make_document))
    return Server({"/": application}, address=options.host, port=options.port, allow_websocket_origin=origins,
                  num_procs=1)


def serve(reader: StoreReader, dashboard: DashboardOptions, options: ServerOptions,
          on_listening: Callable[[str], None]) -> None:
    """Run the dashboard until Ctrl-C or SIGTERM; `on_listening` gets the page URL once it listens."""
    server = make_server(reader, dashboard, options)
    host = f"[{options.host}]" if ":" in options.host and not options.host.startswith("[") else options.host
    on_listening(f"http://{host}:{server.port}/")
    server.run_until_shutdown()
