"""The real `calibrate` command, in its own process, with one experiment's analysis (or one
function) broken.

    python faulty_cli.py --raise-in EXPERIMENT -- run --device ...      # RuntimeError in its analysis
    python faulty_cli.py --interrupt-in EXPERIMENT -- run --device ...  # KeyboardInterrupt (Ctrl-C) there
    python faulty_cli.py --raise-in calibrate.ml.model_learning:learn_model -- learn-model ...

Everything after `--` is the command line of `calibrate`, run through its own entry point, so
the exit status is the one a cron job would see. The fault strikes when a node analyses that
experiment's data, after the run row exists, or when the command calls MODULE:FUNCTION (the
commands import their workers when they call them): a crash no error handling expected.
"""

from __future__ import annotations

import sys

FAULTS = ("--raise-in", "--interrupt-in")


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 3 or args[0] not in FAULTS or args[2] != "--":
        sys.exit(f"usage: faulty_cli.py {{{'|'.join(FAULTS)}}} EXPERIMENT|MODULE:FUNCTION -- CALIBRATE ARGS")
    fault, name, command = args[0], args[1], args[3:]
    import devices  # noqa: F401  (first, as everywhere: JAX in float64 before any experiment module)

    if ":" in name:
        import importlib

        module, function = name.split(":")
        setattr(importlib.import_module(module), function, broken(fault, f"injected fault in {function}"))
    else:
        from experiments.registry import experiment_class

        fails = broken(fault, f"injected fault in the analysis of {name}")
        experiment_class(name).analyze = lambda self, ds: fails()
    sys.argv = ["calibrate", *command]
    from calibrate.cli import main as calibrate_main

    calibrate_main()


def broken(fault: str, message: str):
    """A stand-in that fails as `fault` says, whatever it is called with."""
    def fails(*args, **kwargs):
        if fault == "--raise-in":
            raise RuntimeError(message)
        raise KeyboardInterrupt

    return fails


if __name__ == "__main__":
    main()
