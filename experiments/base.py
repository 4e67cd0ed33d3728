"""Experiments: a declared sweep, a schedule per sweep point, and a Dataset out.

An experiment is a frozen dataclass of its options. `run_experiment` builds one schedule
per sweep point from the calibration values in use, runs them on any `Device`, and
returns an xarray.Dataset: dims = sweep dims + `qubit`; `counts` (shots read as 1) and
`probabilities` (or `iq`, each shot's IQ point, for an Integrated acquisition; plus
`level_counts` where the device read three levels); attrs with the experiment's name and
options, the device and its clock, the calibration values used and the schema version. An
experiment's `references` play in the same call and come back as `reference_<name>` with a
`reference` dimension in place of the sweep's.

An experiment that plays random sequences (a field `rng_seed` left None: RB) draws them
fresh on every run. On a seeded device (a simulated one) `run_experiment` gives it a seed
from the device's seed and clock instead, so a run is reproducible like the device's own
shots and drift (two runs from one state play the same sequences: benchmarks compare
methods on the same data), yet each run still plays new ones. The dataset's options record
the seed used.
"""

from __future__ import annotations

import itertools
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields, replace
from typing import ClassVar

import numpy as np
import xarray as xr

from devices.limits import run_within_limits
from devices.protocol import Acquisition, Device, Discriminated, Integrated, Seeded
from devices.readout import ReadoutPulse
from devices.schedule import Schedule
from devices.sequences import GateSequence
from experiments.calibration import PairCalibration, QubitCalibration
from experiments.results import FitResult

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Sweep:
    """One swept coordinate: its name, values and units."""

    name: str
    values: np.ndarray
    units: str


class ExperimentError(ValueError):
    """Bad experiment options."""


@dataclass(frozen=True)
class Experiment(ABC):
    """Base of all experiments; subclasses are frozen dataclasses of their options."""

    name: ClassVar[str]
    summary: ClassVar[str]
    # the option naming the second qubit of a two-qubit experiment (`--qubits A,B` sets it to B)
    partner_option: ClassVar[str | None] = None
    qubit: int = 0

    @property
    def qubits(self) -> tuple[int, ...]:
        """Device qubits driven by channels 0, 1, ... of the schedules."""
        return (self.qubit,)

    @abstractmethod
    def sweeps(self, cal: dict[int, QubitCalibration]) -> list[Sweep]:
        """The swept coordinates, outermost first."""

    @abstractmethod
    def schedule(self, cal: dict[int, QubitCalibration], point: dict[str, float]) -> Schedule | GateSequence:
        """The schedule played at one sweep point."""

    @abstractmethod
    def analyze(self, ds: xr.Dataset) -> FitResult:
        """Dataset -> typed result (never raises for bad data: returns a BAD result)."""

    def acquisition(self, cal: dict[int, QubitCalibration]) -> Acquisition:
        """What the device returns: discriminated counts, unless the experiment reads IQ points.
        Qubits with a trained discriminator read through it (and its pulse); the others, or all
        before any is trained, through the device's own discrimination."""
        readouts = tuple(cal[q].calibrated_readout() for q in self.qubits)
        return Discriminated(readouts) if any(r is not None for r in readouts) else Discriminated()

    def readout_pulses(self, cal: dict[int, QubitCalibration], point: dict[str, float]) -> tuple[ReadoutPulse, ...] | None:
        """The readout pulses (one per qubit) of one sweep point, for experiments that sweep the
        readout itself; None: every point reads with `acquisition`'s pulses."""
        return None

    def references(self, cal: dict[int, QubitCalibration]) -> list[Schedule]:
        """Schedules played in the same device call after the sweep's, whose data the dataset
        keeps under a `reference` dimension (`reference_counts`, ...): what an analysis compares
        the sweep with at the same moment, e.g. each level prepared for a readout's confusion
        matrix. An experiment has none unless it says so."""
        return []

    def options(self) -> dict:
        return {k: _plain(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PairGateExperiment(Experiment):
    """An experiment that plays a directed pair's ECR (qubit = control, `target`): the gate's
    settings (PairCalibration's fields) are options, which a graph node fills from the pair's
    stored values."""

    partner_option: ClassVar[str | None] = "target"
    target: int = 1
    cr_amp: float = 0.0
    cr_angle: float = 0.0
    cr_width: float = 0.0
    cancel_amp: float = 0.0
    cancel_angle: float = 0.0
    target_phase: float = 0.0
    cr_ramp: float = 10.0
    cr_sigma: float = 5.0

    def __post_init__(self):
        if self.target == self.qubit:
            raise ExperimentError(f"{type(self).__name__}.target is {self.target}, but must differ from the "
                                  f"control qubit {self.qubit}.")

    @property
    def qubits(self) -> tuple[int, ...]:
        return (self.qubit, self.target)

    def pair(self) -> PairCalibration:
        """The ECR's settings; checked here, not at construction, as graph files name the
        experiment without them."""
        if self.cr_amp == 0.0:
            raise ExperimentError(f"{type(self).__name__}.cr_amp is 0: give the pair's ECR settings (cr_amp, "
                                  "cr_angle, cr_width, ...; a graph node takes them from the store).")
        return PairCalibration(cr_amp=self.cr_amp, cr_angle=self.cr_angle, cr_width=self.cr_width,
                               cancel_amp=self.cancel_amp, cancel_angle=self.cancel_angle,
                               target_phase=self.target_phase, cr_ramp=self.cr_ramp, cr_sigma=self.cr_sigma)


class ReadsIQ:
    """For an Experiment that reads each shot's IQ point with its qubits' calibrated readout
    pulses (mixed in before Experiment), leaving the telling of states apart to its analysis."""

    def acquisition(self, cal: dict[int, QubitCalibration]) -> Acquisition:
        return Integrated(tuple(cal[q].readout_pulse() for q in self.qubits))


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def with_sequence_seed(experiment: Experiment, device: Device) -> Experiment:
    """`experiment` with its random sequences seeded from a seeded device's seed and clock [us]
    when it draws them fresh (`rng_seed` None); unchanged otherwise (see the module)."""
    if "rng_seed" not in {f.name for f in fields(experiment)} or experiment.rng_seed is not None:
        return experiment
    if not isinstance(device, Seeded) or device.seed is None:
        return experiment
    clock_us = int(round(float(device.now()) * 1e6))
    entropy = np.random.SeedSequence([int(device.seed) % 2**63, abs(clock_us)])
    return replace(experiment, rng_seed=int(entropy.generate_state(1, np.uint32)[0]))


def run_experiment(experiment: Experiment, device: Device, calibration: dict[int, QubitCalibration],
                   *, shots: int, seed: int | None = None) -> xr.Dataset:
    missing = [q for q in experiment.qubits if q not in calibration]
    if missing:
        raise ExperimentError(f"No calibration values for qubit(s) {missing} of {experiment.name}.")
    experiment = with_sequence_seed(experiment, device)
    sweeps = experiment.sweeps(calibration)
    grid = list(itertools.product(*[s.values for s in sweeps]))
    schedules = [experiment.schedule(calibration, dict(zip([s.name for s in sweeps], point)))
                 for point in grid]
    references = list(experiment.references(calibration))
    acquisition = experiment.acquisition(calibration)
    swept = [experiment.readout_pulses(calibration, dict(zip([s.name for s in sweeps], point))) for point in grid]
    if isinstance(acquisition, Integrated) and swept and swept[0] is not None:
        # the references read with the calibrated pulses
        acquisition = Integrated.swept(swept + [acquisition.pulses] * len(references))
    played = run_within_limits(device, schedules + references, shots, seed, qubits=experiment.qubits,
                               acquisition=acquisition)
    raw = played.isel(schedule=slice(0, len(schedules)))
    shape = tuple(len(s.values) for s in sweeps) + (len(experiment.qubits),)
    dims = tuple(s.name for s in sweeps) + ("qubit",)
    coords = {s.name: (s.name, np.asarray(s.values), {"units": s.units}) for s in sweeps}
    coords["qubit"] = ("qubit", list(experiment.qubits))
    used = {str(q): calibration[q].as_dict() for q in experiment.qubits}
    if "iq" in raw:  # IQ points per shot: (sweep..., shot, qubit, quadrature)
        iq = np.asarray(raw["iq"].values)
        data = {"iq": (dims[:-1] + ("shot", "qubit", "quadrature"),
                       iq.reshape(shape[:-1] + iq.shape[1:]))}
        coords["quadrature"] = ("quadrature", list(raw["quadrature"].values))
    else:
        counts = np.asarray(raw["counts"].values).reshape(shape)
        data = {"counts": (dims, counts), "probabilities": (dims, counts / shots)}
    if "level_counts" in raw:  # shots read as each level (three-level discrimination)
        data["level_counts"] = (dims + ("level",), np.asarray(raw["level_counts"].values).reshape(shape + (-1,)))
        coords["level"] = ("level", list(raw["level"].values))
    if len(experiment.qubits) > 1 and "joint_counts" in raw:
        # two-qubit experiments read joint outcomes (bitstrings, the first qubit leftmost)
        joint = np.asarray(raw["joint_counts"].values)
        data["joint_counts"] = (dims[:-1] + ("outcome",), joint.reshape(shape[:-1] + (joint.shape[-1],)))
        coords["outcome"] = ("outcome", [str(o) for o in raw["outcome"].values])
    for name in ("counts", "level_counts", "joint_counts", "iq") if references else ():
        if name in played and (name != "joint_counts" or "joint_counts" in data):
            reference = played[name].isel(schedule=slice(len(schedules), None))
            data[f"reference_{name}"] = (("reference",) + reference.dims[1:], np.asarray(reference.values))
    return xr.Dataset(
        data,
        coords=coords,
        attrs={
            "experiment": experiment.name,
            "options": json.dumps(experiment.options()),
            "device": raw.attrs.get("device", getattr(device, "name", "")),
            "device_clock_s": float(raw.attrs.get("clock_s", device.now())),
            "shots": int(shots),
            "dt_ns": float(device.dt),
            "calibration": json.dumps(used),
            "schema_version": SCHEMA_VERSION,
        },
    )
