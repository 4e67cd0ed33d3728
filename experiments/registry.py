"""Every experiment by name, for the CLI and calibration graphs."""

from __future__ import annotations

import importlib

from experiments.base import Experiment

# name -> "module:Class"; modules import lazily so listing stays cheap
_EXPERIMENTS = {
    "spectroscopy": "experiments.library.spectroscopy:QubitSpectroscopy",
    "rabi": "experiments.library.rabi:AmplitudeRabi",
    "ramsey": "experiments.library.ramsey:Ramsey",
    "t1": "experiments.library.t1:T1",
    "echo": "experiments.library.echo:HahnEcho",
    "drag": "experiments.library.drag:DragCalibration",
    "fine_amplitude": "experiments.library.fine_amplitude:FineAmplitude",
    "fine_drag": "experiments.library.fine_drag:FineDrag",
    "readout": "experiments.library.readout:ReadoutAssignment",
    "single_shot": "experiments.library.single_shot:SingleShot",
    "resonator_spectroscopy": "experiments.library.resonator_spectroscopy:ResonatorSpectroscopy",
    "readout_amplitude": "experiments.library.readout_amplitude:ReadoutAmplitude",
    "readout_duration": "experiments.library.readout_duration:ReadoutDuration",
    "ef_spectroscopy": "experiments.library.ef:EfSpectroscopy",
    "ef_rabi": "experiments.library.ef:EfRabi",
    "three_state_readout": "experiments.library.three_state:ThreeStateReadout",
    "leakage": "experiments.library.leakage:Leakage",
    "rb": "experiments.library.rb:StandardRB",
    "interleaved_rb": "experiments.library.rb:InterleavedRB",
    "zz": "experiments.library.zz:StaticZZ",
    "cr_tomography": "experiments.library.cr_tomography:CrossResonanceTomography",
    "rb_2q": "experiments.library.rb2q:TwoQubitRB",
    "interleaved_rb_2q": "experiments.library.rb2q:TwoQubitInterleavedRB",
    "ecr_leakage": "experiments.library.leakage:EcrLeakage",
}


def experiment_names() -> list[str]:
    return list(_EXPERIMENTS)


def experiment_class(name: str) -> type[Experiment]:
    if name not in _EXPERIMENTS:
        raise KeyError(f"Unknown experiment {name!r}: choose one of {', '.join(_EXPERIMENTS)}.")
    module, cls = _EXPERIMENTS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def fitted_values(name: str, options: dict | None = None) -> dict[str, str]:
    """The values (name -> unit) an experiment's analysis reports (with these options, for an
    experiment whose values depend on them: it says so with a `fitted_units(options)`)."""
    cls = experiment_class(name)
    if hasattr(cls, "fitted_units"):
        return cls.fitted_units(dict(options or {}))
    module = importlib.import_module(cls.__module__)
    units = {"rb": "RB_UNITS", "interleaved_rb": "IRB_UNITS", "rb_2q": "RB_UNITS",
             "interleaved_rb_2q": "IRB_UNITS"}.get(name, "UNITS")
    return dict(getattr(module, units))
