"""Graph steps that are procedures rather than single experiments: adaptive, several rounds.

A calibration-graph step names an experiment of `experiments.registry`, or one of the
procedures here. A procedure is run by `QubitActions` the same way (its options come
from the graph file, it plays on the device, it returns a FitResult with the values the
node's update rule stores, and a dataset of what it measured), but it may run the device
several times and decide between runs. Procedures live in `calibrate` because they may
use what experiments must not know about (trained controllers, the device's family).

- `learned_recalibration`: the learned controller's probe -> correct rounds, a two-stage
  Ramsey fine-frequency step (calibrate.ml.fine_frequency), then a verification; one out of
  spec but consistent is corrected by its own estimate and verified again
  (calibrate.ml.controller.recalibrate). A last verification out of spec is a bad result, so
  the node fails and the graph runs the node's fallback nodes (see `Node.fallback`). Its values
  are the applied calibration, with standard errors from the shot noise of the rounds that
  produced it (calibrate.ml.uncertainty; the fine step's and the correcting verification's for
  what those set); its dataset keeps what the fine step, the corrections and the verification
  estimated.
- `learned_check`: one probe measurement, judged by the same model-free verification
  (Kelly's check_data: in spec or out of spec); its values are the calibration the
  controller would move to, recorded for the history but not what decides.

Both play the shots per probe that the controller was trained with.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from devices.device_spec import DeviceSpec
from devices.protocol import Device
from experiments.base import SCHEMA_VERSION
from experiments.calibration import UNITS, QubitCalibration
from experiments.results import Estimate, FitResult, Verdict

CORRECTED = ("frequency", "x_amp", "sx_amp", "beta")
LEARNED_UNITS = {name: UNITS[name] for name in CORRECTED}


@dataclass(frozen=True)
class JudgedResult(FitResult):
    """A result that carries its own in-spec verdict, for a check whose judgement is a test of
    the data rather than a comparison of fitted values with the stored ones."""

    in_spec: bool = False


def _controller(directory: str, spec: DeviceSpec, qubit: int):
    """The controller in `directory`, loaded once per version of its files: a long nightly
    process picks up a retrained controller."""
    from calibrate.ml.controller import META_FILE, WEIGHTS_FILE

    folder = Path(directory).resolve()
    versions = tuple((folder / f).stat().st_mtime_ns if (folder / f).is_file() else None
                     for f in (META_FILE, WEIGHTS_FILE))
    return _load_controller(str(folder), versions, spec, qubit)


@functools.lru_cache(maxsize=8)
def _load_controller(folder: str, versions: tuple, spec: DeviceSpec, qubit: int):
    from calibrate.ml.controller import load_controller

    return load_controller(folder, spec, qubit)


def applied_estimates(controller, read_one: np.ndarray, history: list[QubitCalibration],
                      fine=None, corrections=(), final: QubitCalibration | None = None,
                      refined=None) -> dict[str, Estimate]:
    """The applied calibration's values, with standard errors from the probes' binomial shot noise
    carried through the rounds that produced it (read_one[r] measured at history[r]; see
    calibrate.ml.uncertainty), the fine-frequency step's (`fine`, a FineResult) for the frequency
    it set and a verification's for what its correction moved (`corrections`) or, in spec, refined
    (`refined`). The calibration is `final`, by default history[-1] moved by the fine step when
    that was applied."""
    from calibrate.ml.uncertainty import applied_stderr, with_corrections, with_fine_frequency, with_refinement

    if final is None:
        final = history[-1] if fine is None else fine.calibration
    stderr = with_fine_frequency(applied_stderr(controller, read_one, history), fine)
    stderr = with_corrections(stderr, final, corrections, controller.tolerances)
    stderr = with_refinement(stderr, final, refined)
    return {name: Estimate(float(getattr(final, name)), stderr[name], LEARNED_UNITS[name]) for name in CORRECTED}


def _fine_attrs(fine) -> dict:
    """What the fine-frequency step measured and decided (frequencies in GHz)."""
    if fine is None:
        return {}
    return {"fine_frequency": {"applied": bool(fine.applied), "reason": fine.reason, "offset": fine.offset,
                               "stderr": fine.stderr, "stage_offsets": fine.stage_offsets.tolist(),
                               "stage_stderr": fine.stage_stderr.tolist(), "amplitudes": fine.amplitudes.tolist(),
                               "read_one": fine.read_one.tolist(), "shots": int(fine.shots),
                               "final_frequency": float(fine.calibration.frequency)}}


def recalibrated_estimates(controller, result) -> dict[str, Estimate]:
    """`applied_estimates` of a calibrate.ml.controller.Recalibrated: its rounds' probes (the
    measurements before the verifications), fine step, corrections, refinement and final calibration."""
    rounds = len(result.history) - 1
    return applied_estimates(controller, result.read_one[:rounds], result.history, result.fine, result.corrections,
                             result.calibration, refined=result.refined)


def _correction_attrs(corrections) -> dict:
    """The out-of-spec verifications whose estimated offsets were corrected, in order."""
    if not corrections:
        return {}
    return {"corrections": [{"offsets": c.offsets.tolist(), "offset_stderr": c.offset_stderr.tolist(),
                             "chi2": c.chi2, "reason": c.reason} for c in corrections]}


def _refinement_attrs(refined) -> dict:
    """What an in-spec verification refined (amplitude, beta: by -offset) and from which estimate."""
    from calibrate.ml.verification import OFFSET_NAMES, refinable

    if refined is None:
        return {}
    moved = refinable(refined)
    return {"refined": {"coordinates": [n for n, m in zip(OFFSET_NAMES, moved) if m],
                        "offsets": refined.offsets.tolist(), "offset_stderr": refined.offset_stderr.tolist()}}


def _verification_attrs(controller_dir: str, check) -> dict:
    """What the verification decided on: the per-pair guard (pair differences and limits), the
    estimated offsets of the calibration from the device's optimum with their standard errors
    (frequency GHz, log amplitude, beta ns), the tolerances and the consistency chi2."""
    return {"controller": controller_dir, "verified": bool(check.in_spec),
            "pair_differences": check.differences.tolist(), "pair_limits": check.limits.tolist(),
            "offsets": check.offsets.tolist(), "offset_stderr": check.offset_stderr.tolist(),
            "chi2": check.chi2, "chi2_limit": check.chi2_limit}


def _dataset(name: str, controller, read_one: np.ndarray, calibrations: list[QubitCalibration], qubit: int,
             device: Device, extra: dict) -> xr.Dataset:
    """What the procedure measured: P(read 1) and counts per round and probe."""
    shots = controller.probes.shots
    rounds = np.arange(read_one.shape[0])
    counts = np.rint(read_one * shots).astype(int)
    return xr.Dataset(
        {"counts": (("round", "probe", "qubit"), counts[:, :, None]),
         "probabilities": (("round", "probe", "qubit"), read_one[:, :, None])},
        coords={"round": ("round", rounds), "probe": ("probe", np.arange(read_one.shape[1])),
                "qubit": ("qubit", [qubit])},
        attrs={"experiment": name, "options": json.dumps({"controller": extra.get("controller", "")}),
               "device": getattr(device, "name", ""), "device_clock_s": float(device.now()), "shots": int(shots),
               "calibration": json.dumps({str(qubit): calibrations[0].as_dict()}),
               "calibrations": json.dumps([c.as_dict() for c in calibrations]),
               "probes": json.dumps(controller.probes.as_dict()), "schema_version": SCHEMA_VERSION,
               **{k: json.dumps(v) for k, v in extra.items() if k != "controller"}},
    )


@dataclass(frozen=True)
class LearnedRecalibration:
    """Probe -> correct for the controller's rounds, then verify (see calibrate.ml.controller)."""

    qubit: int
    controller: str

    name = "learned_recalibration"

    def run(self, device: Device, calibration: QubitCalibration, spec: DeviceSpec) -> tuple[FitResult, xr.Dataset, int]:
        from calibrate.ml.controller import recalibrate

        controller = _controller(self.controller, spec, self.qubit)
        result = recalibrate(device, controller, calibration, self.qubit)
        check = result.verification
        # what is stored is the verified calibration itself, with the noise of the rounds that made it
        values = recalibrated_estimates(controller, result)
        reason = check.reason if result.fine is None else f"{check.reason}; {result.fine.reason}"
        if result.corrections:
            reason += (f"; after {len(result.corrections)} correction(s) by the verification's own estimate "
                       f"(first: {result.corrections[0].reason})")
        if result.refined is not None:
            reason += f"; then refined {', '.join(_refinement_attrs(result.refined)['refined']['coordinates'])} by it"
        fit = FitResult(experiment=self.name, qubit=self.qubit, values=values, reduced_chi2=float("nan"),
                        verdict=Verdict.GOOD if check.in_spec else Verdict.BAD, reason=reason)
        ds = _dataset(self.name, controller, result.read_one, result.history, self.qubit, device,
                      {**_verification_attrs(self.controller, check), **_fine_attrs(result.fine),
                       **_correction_attrs(result.corrections), **_refinement_attrs(result.refined)})
        return fit, ds, result.shots


@dataclass(frozen=True)
class LearnedCheck:
    """One probe measurement, verified as the recalibration's last one is."""

    qubit: int
    controller: str

    name = "learned_check"

    def run(self, device: Device, calibration: QubitCalibration, spec: DeviceSpec) -> tuple[FitResult, xr.Dataset, int]:
        from calibrate.ml.controller import measure_probes, predict, verify

        controller = _controller(self.controller, spec, self.qubit)
        read_one = measure_probes(device, controller, calibration, self.qubit)
        check = verify(controller, read_one)
        values = applied_estimates(controller, read_one[None, :], [calibration, predict(controller, read_one, calibration)])
        fit = JudgedResult(experiment=self.name, qubit=self.qubit, values=values, reduced_chi2=float("nan"),
                           verdict=Verdict.GOOD, reason=check.reason, in_spec=check.in_spec)
        ds = _dataset(self.name, controller, read_one[None, :], [calibration], self.qubit, device,
                      _verification_attrs(self.controller, check))
        return fit, ds, controller.probes.n_probes * controller.probes.shots


PROCEDURES = {cls.name: cls for cls in (LearnedRecalibration, LearnedCheck)}


def is_procedure(name: str) -> bool:
    return name in PROCEDURES


def procedure_options(name: str) -> dict[str, type]:
    """The options a procedure takes from a graph file (name -> type)."""
    return {k: v for k, v in PROCEDURES[name].__annotations__.items() if k != "qubit" and v in ("str", str)}


def procedure_values(name: str) -> dict[str, str]:
    """The values (name -> unit) a procedure's result reports."""
    return dict(LEARNED_UNITS)


def check_procedure_options(name: str, options: dict) -> None:
    """Graph-file options: `controller`, a directory holding a trained controller."""
    allowed = set(procedure_options(name))
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"{name} has no option(s) {unknown}; its options are {sorted(allowed)}.")
    missing = sorted(allowed - set(options))
    if missing:
        raise ValueError(f"{name} needs option(s) {missing}: `controller` is the directory "
                         "`calibrate train-controller --out DIR` wrote.")
    if not isinstance(options["controller"], str) or not options["controller"]:
        raise ValueError(f"option `controller` of {name} must be a directory path, but is {options['controller']!r}.")
