"""The `calibrate` command: one module per group of commands, each thin (parse, resolve the
device through calibrate/resolve.py, call the library, print). `app` is the typer
application (the console script `calibrate = calibrate.cli:app`), `main` its entry point
for `python -m calibrate`."""

from calibrate.cli.app import app, main

__all__ = ["app", "main"]
