"""Who may open a dashboard session: loopback by default, named origins otherwise.

The server binds to 127.0.0.1. Served on any other address, the pages would be reachable
from other machines, so the operator must name the page origins allowed to open a session
(`--allow-origin HOST:PORT`); without that list the server refuses to start. The dashboard
only reads the store, but a calibration store still says a lot about a lab.

Kept free of Bokeh imports, so that an unsafe command line is refused at once.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

LOOPBACK_NAMES = ("localhost",)
_ORIGIN = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.*-]+)(:(?P<port>[0-9]{1,5}))?$")


class ServerOptionError(ValueError):
    """The server options are unsafe or malformed; the message names the option and the value."""


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 5006
    allow_origins: tuple[str, ...] = ()


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_origin(origin: str) -> str:
    match = _ORIGIN.match(origin)
    if match is None or (match["port"] is not None and not 0 < int(match["port"]) < 65536):
        raise ServerOptionError(f"--allow-origin is {origin!r}, but must be HOST or HOST:PORT (port 1-65535), "
                                f"the address a browser uses to open the page, e.g. labhost.example.org:5006.")
    return origin


def websocket_origins(options: ServerOptions) -> list[str]:
    """The page origins allowed to open a session. Refuses a non-loopback host without an explicit list."""
    if not 0 < options.port < 65536:
        raise ServerOptionError(f"--port is {options.port}, but must be between 1 and 65535.")
    origins = [check_origin(o) for o in options.allow_origins]
    if is_loopback(options.host):
        return [*origins, f"localhost:{options.port}", f"127.0.0.1:{options.port}"]
    if not origins:
        raise ServerOptionError(
            f"--host {options.host} is not a loopback address: the dashboard would be reachable from other "
            f"machines. Name the addresses browsers will use to open it with --allow-origin HOST:PORT "
            f"(e.g. --allow-origin {options.host}:{options.port}), or serve on --host 127.0.0.1.")
    return origins
