"""The real `calibrate` command, in its own process, with one experiment's analysis broken.

    python faulty_cli.py --raise-in EXPERIMENT -- run --device ...      # RuntimeError in its analysis
    python faulty_cli.py --interrupt-in EXPERIMENT -- run --device ...  # KeyboardInterrupt (Ctrl-C) there

Everything after `--` is the command line of `calibrate`, run through its own entry point, so
the exit status is the one a cron job would see. The fault strikes when a node analyses that
experiment's data, after the run row exists: a crash no error handling expected.
"""

from __future__ import annotations

import sys

FAULTS = ("--raise-in", "--interrupt-in")


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 3 or args[0] not in FAULTS or args[2] != "--":
        sys.exit(f"usage: faulty_cli.py {{{'|'.join(FAULTS)}}} EXPERIMENT -- CALIBRATE ARGS")
    fault, name, command = args[0], args[1], args[3:]
    import devices  # noqa: F401  (first, as everywhere: JAX in float64 before any experiment module)
    from experiments.registry import experiment_class

    cls = experiment_class(name)

    def broken_analyze(self, ds):
        if fault == "--raise-in":
            raise RuntimeError(f"injected fault in the analysis of {name}")
        raise KeyboardInterrupt

    cls.analyze = broken_analyze
    sys.argv = ["calibrate", *command]
    from calibrate.cli import main as calibrate_main

    calibrate_main()


if __name__ == "__main__":
    main()
