"""The policy's actions for one qubit, or one directed pair, of one device: run a node's
experiments, judge the fits, and record each node update in the store as one transaction.

A pair's nodes and values are stored under its control qubit as `NAME@TARGET` (see
calibrate.pairs). Its experiments take the target as their second qubit and the pair's stored
settings (PairCalibration's fields, e.g. cr_width) as options of the same name, so a node
plays the pair's current gate; options in the graph file come on top.

Calibration values come from the store (newest valid), falling back to the device's
public design for what was never calibrated. A bad fit, an experiment that refuses its
options, or a device that refuses a schedule fails the node with the reason: nothing is
written to the history, the outcome is recorded, and the run goes on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibrate.graph.policy import DataCheck, NodeRecord
from calibrate.graph.spec import Node, Step
from calibrate.pairs import SEPARATOR, stored_name
from calibrate.procedures import JudgedResult
from calibrate.store import NodeOutcome, Store
from devices.device_spec import DeviceSpec
from devices.protocol import Device
from experiments.calibration import LEVEL_DISCRIMINATOR_FIELDS, PAIR_UNITS, QubitCalibration, nominal_calibration
from experiments.results import FitResult

CALIBRATION_FIELDS = ("frequency", "x_amp", "sx_amp", "beta", "readout_frequency", "readout_amp", "readout_duration",
                      "readout_angle", "readout_threshold", "anharmonicity", "ef_amp", *LEVEL_DISCRIMINATOR_FIELDS)
GOOD_OUTCOMES = ("calibrated", "in_spec")


@dataclass(frozen=True)
class NodeEvent:
    """What happened to a node in a run, for progress displays and reports."""

    qubit: int
    node: str
    action: str
    outcome: str
    reason: str
    shots: int


class QubitActions:
    """`Actions` (see calibrate.graph.policy) for `qubit` of `device`, backed by `store`; for
    the directed pair (qubit, target) when `target` is given."""

    def __init__(self, *, store: Store, run_id: int, device: Device, device_id: str, spec: DeviceSpec,
                 qubit: int, data_dir: Path | None, on_event: Callable[[NodeEvent], None] | None = None,
                 on_start: Callable[[int, str, str], None] | None = None, target: int | None = None):
        self.store, self.run_id, self.device = store, run_id, device
        self.device_id, self.spec, self.qubit, self.target = device_id, spec, qubit, target
        self.data_dir = data_dir
        self.on_event = on_event or (lambda event: None)
        self.on_start = on_start or (lambda qubit, node, action: None)
        self.shots = 0
        self.events: list[NodeEvent] = []
        self._outcomes: list[NodeOutcome] = store.outcomes(device=device_id, qubit=qubit)
        # the qubits a pair's nodes rest on (their gates play in its experiments), and the newest
        # calibration of their own nodes: the pair runs after them, so it is fixed from here on
        self._spanned = () if target is None else (qubit, target)
        self._upstream_seq = max((o.id for q in self._spanned for o in store.outcomes(device=device_id, qubit=q)
                                  if o.outcome == "calibrated" and SEPARATOR not in o.node), default=None)

    def _key(self, name: str) -> str:
        """The store's name of a node or parameter of this qubit or pair."""
        return stored_name(name, self.target)

    # --- what the policy reads --------------------------------------------------------
    def now_hours(self) -> float:
        return self.device.now() / 3600.0

    def record(self, node: Node) -> NodeRecord:
        mine = [o for o in self._outcomes if o.node == self._key(node.name)]
        good = [o for o in mine if o.outcome in GOOD_OUTCOMES]
        calibrated = [o for o in mine if o.outcome == "calibrated"]
        last_good = good[-1] if good else None
        failed = [o for o in mine if o.action == "calibrate" and o.outcome == "failed"]
        return NodeRecord(
            last_good_seq=last_good.id if last_good else None,
            last_good_hours=last_good.device_time_s / 3600.0 if last_good else None,
            last_calibrated_seq=calibrated[-1].id if calibrated else None,
            failed_since_good=bool(failed) and (last_good is None or failed[-1].id > last_good.id),
            upstream_calibrated_seq=self._upstream_seq,
        )

    def _calibrations(self) -> dict[int, QubitCalibration]:
        """The calibrations of the qubits the node's experiments play on."""
        qubits = self._spanned or (self.qubit,)
        current = self.store.current(self.device_id)
        return {q: self.calibration_from(current, self.spec, q) for q in qubits}

    def pair_settings(self) -> dict[str, float]:
        """A pair's stored gate settings (PairCalibration's fields) by name; {} for a qubit."""
        if self.target is None:
            return {}
        current = self.store.current(self.device_id, self.qubit)
        return {name: current[(self.qubit, self._key(name))].value for name in PAIR_UNITS
                if (self.qubit, self._key(name)) in current}

    @staticmethod
    def calibration_from(current: dict, spec: DeviceSpec, qubit: int) -> QubitCalibration:
        """Stored values where there are any, the public design elsewhere."""
        stored = {name: current[(qubit, name)].value for name in CALIBRATION_FIELDS if (qubit, name) in current}
        return nominal_calibration(spec, qubit).replace(**stored)

    # --- what the policy does ---------------------------------------------------------
    def check_data(self, node: Node) -> tuple[DataCheck, str]:
        self.on_start(self.qubit, self._key(node.name), "check_data")
        started = self.device.now()
        result, dataset, shots, error = self._run_step(node, node.check, self._calibrations(), self.pair_settings(),
                                                       "check")
        if error is not None:
            verdict, reason = DataCheck.BAD_DATA, error
        elif not result.good:
            verdict, reason = DataCheck.BAD_DATA, f"bad fit: {result.reason}"
        elif isinstance(result, JudgedResult):  # a procedure's own test of its data
            verdict, reason = (DataCheck.IN_SPEC if result.in_spec else DataCheck.OUT_OF_SPEC), result.reason
        else:
            verdict, reason = self._compare(node, result)
        self._record(node, "check_data", verdict.value, reason, node.check.experiment, started, shots, dataset,
                     _values(node, result), write=False)
        return verdict, reason

    def calibrate(self, node: Node, reason: str) -> tuple[bool, str]:
        self.on_start(self.qubit, self._key(node.name), "calibrate")
        started = self.device.now()
        cal, settings = self._calibrations(), self.pair_settings()
        values: dict[str, tuple[float, float, str]] = {}
        shots, dataset = 0, None
        for i, step in enumerate(node.calibrate):
            result, dataset, step_shots, error = self._run_step(node, step, cal, settings, f"calibrate{i}")
            shots += step_shots
            if error is None and not result.good:
                error = f"bad fit in {step.experiment}: {result.reason}"
            if error is None:
                error = _unusable(node, result)
            if error is not None:
                self._record(node, "calibrate", "failed", error, step.experiment, started, shots, dataset,
                             _values(node, result), write=False)
                return False, error
            values.update(_values(node, result))
            if self.target is None:
                cal = {self.qubit: cal[self.qubit].replace(
                    **{p: values[p][0] for p in values if p in CALIBRATION_FIELDS})}
            else:
                settings = {**settings, **{p: values[p][0] for p in values if p in PAIR_UNITS}}
        self._record(node, "calibrate", "calibrated", reason, node.calibrate[-1].experiment, started, shots,
                     dataset, values, write=True)
        return True, reason

    def skip(self, node: Node, reason: str) -> None:
        self._record(node, "skip", "skipped", reason, node.check.experiment, self.device.now(), 0, None, {},
                     write=False)

    # --- internals ----------------------------------------------------------------------
    def _run_step(self, node: Node, step: Step, cal: dict[int, QubitCalibration], settings: dict[str, float],
                  label: str):
        """(result, dataset path, shots, error): error is a reason when nothing could be fitted.
        `settings`: a pair's gate settings, given to the experiment as the options it declares."""
        from calibrate.procedures import PROCEDURES
        from devices import DeviceModelError
        from experiments.base import ExperimentError, run_experiment
        from experiments.registry import experiment_class

        if step.experiment in PROCEDURES:
            return self._run_procedure(node, step, cal[self.qubit], label)
        try:
            kind = experiment_class(step.experiment)
            pair = {} if self.target is None else {kind.partner_option: self.target, **{
                k: v for k, v in settings.items() if k in kind.__dataclass_fields__}}
            experiment = kind(qubit=self.qubit, **{**pair, **step.options})
            ds = run_experiment(experiment, self.device, cal, shots=step.shots)
        except (ExperimentError, DeviceModelError, ValueError) as exc:
            return None, None, 0, f"{step.experiment} could not run: {exc}"
        shots = int(ds.attrs["shots"]) * _sweep_points(ds)
        self.shots += shots
        result = experiment.analyze(ds)
        return result, self._save(ds, node, label), shots, None

    def _run_procedure(self, node: Node, step: Step, cal: QubitCalibration, label: str):
        """A step that is a procedure (calibrate.procedures), with the same results as an experiment's."""
        from calibrate.ml.controller import ControllerError
        from calibrate.procedures import PROCEDURES
        from devices import DeviceModelError

        try:
            procedure = PROCEDURES[step.experiment](qubit=self.qubit, **step.options)
            result, ds, shots = procedure.run(self.device, cal, self.spec)
        except (ControllerError, DeviceModelError, ValueError) as exc:
            return None, None, 0, f"{step.experiment} could not run: {exc}"
        self.shots += shots
        return result, self._save(ds, node, label), shots, None

    def _save(self, ds, node: Node, label: str) -> str | None:
        if self.data_dir is None:
            return None
        from experiments.storage import save_dataset

        folder = self.data_dir / re.sub(r"[^A-Za-z0-9_.-]", "_", self.device_id)
        who = f"q{self.qubit}" if self.target is None else f"q{self.qubit}-{self.target}"
        path = folder / f"run{self.run_id:06d}-{who}-{node.name}-{label}.nc"
        return str(save_dataset(ds, path))

    def _compare(self, node: Node, result: FitResult) -> tuple[DataCheck, str]:
        current = self.store.current(self.device_id, self.qubit)
        cal = self.calibration_from(current, self.spec, self.qubit)
        outside = []
        for value_name, tolerance in node.tolerance.items():
            parameter = node.update[value_name]
            if (self.qubit, self._key(parameter)) in current:
                stored = current[(self.qubit, self._key(parameter))].value
            elif parameter in CALIBRATION_FIELDS and self.target is None:
                stored = getattr(cal, parameter)
            else:
                return DataCheck.OUT_OF_SPEC, f"{parameter} has no stored value to compare with"
            checked = result[value_name].value
            if not tolerance.allows(checked, stored):
                outside.append(f"{parameter} {checked:.6g} vs stored {stored:.6g} (tolerance {tolerance.describe()})")
        if outside:
            return DataCheck.OUT_OF_SPEC, "; ".join(outside)
        return DataCheck.IN_SPEC, "within tolerance of the stored values"

    def _record(self, node: Node, action: str, outcome: str, reason: str, experiment: str, started: float,
                shots: int, dataset: str | None, values: dict, *, write: bool) -> None:
        recorded = self.store.record_node(
            self.run_id, device=self.device_id, qubit=self.qubit, node=self._key(node.name), action=action,
            outcome=outcome, reason=reason, experiment=experiment, device_time_s=started, shots=shots,
            dataset_path=dataset, values={self._key(k): v for k, v in values.items()}, write_values=write)
        self._outcomes.append(recorded)
        event = NodeEvent(self.qubit, self._key(node.name), action, outcome, reason, shots)
        self.events.append(event)
        self.on_event(event)


def _values(node: Node, result: FitResult | None) -> dict[str, tuple[float, float, str]]:
    """The node's update rule applied to a fit: parameter -> (value, stderr, unit)."""
    if result is None:
        return {}
    out = {}
    for value_name, parameter in node.update.items():
        if value_name not in result.values:  # a check fits only what its tolerance compares
            continue
        estimate = result[value_name]
        out[parameter] = (_finite(estimate.value), _finite(estimate.stderr), estimate.unit)
    return out


def _finite(x: float) -> float | None:
    # A failed fit's NaNs are kept as None: JSON columns (PostgreSQL's above all) refuse NaN.
    return float(x) if math.isfinite(x) else None


def _unusable(node: Node, result: FitResult) -> str | None:
    """A good verdict with a non-finite value to store would still corrupt the history."""
    for value_name in node.update:
        estimate = result[value_name]
        if not (math.isfinite(estimate.value) and math.isfinite(estimate.stderr)):
            return f"{value_name} is not finite ({estimate.value} +- {estimate.stderr})"
    return None


def _sweep_points(ds) -> int:
    """Schedules a dataset's run played: its sweep points (counts per qubit, or IQ shots' points)
    and its references."""
    data = ds["iq"] if "iq" in ds else ds["counts"]
    references = ds.sizes.get("reference", 0)  # played in the same call (Experiment.references)
    return int(np.prod([ds.sizes[d] for d in data.dims if d not in ("qubit", "shot", "quadrature")])) + references
