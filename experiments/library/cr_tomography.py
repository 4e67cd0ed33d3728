"""Cross-resonance Hamiltonian tomography: the rates of a CR tone from the target's Bloch
vector, with the control in |0> and in |1>.

One CR pulse (ramp up, flat top of `width` ns, ramp down) on the control's line at the
target's frequency; the flat top's width is swept; the target is read in X, Y and Z
(pre-rotations Ry(-pi/2), Rx(pi/2), none). With the control in |k> the target turns under
H_k = (Ox_k X + Oy_k Y + D_k Z) / 2 about n = (Ox, Oy, D) / O at O cycles/ns from |0>:

  x = n_y sin(th) + n_x n_z (1 - cos th),  y = -n_x sin(th) + n_y n_z (1 - cos th),
  z = cos(th) + n_z^2 (1 - cos th),        th = 2 pi O (width + t_off),

t_off the ramps' extra rotation time. The rates, H = sum_P nu_P P / 2 on (control, target):
IX = (Ox_0 + Ox_1) / 2, ZX = (Ox_0 - Ox_1) / 2, likewise IY, ZY from Oy and IZ, ZZ from D
[GHz]. The read-out adds P(read 1) = floor + contrast P(1), shared by the six curves.
After Sheldon et al., PRA 93, 060302 (2016) and qiskit-experiments' CrossResonanceHamiltonian.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from devices.nominal import unit_area
from devices.pulses import Drag
from devices.schedule import Barrier, Delay, Play, ShiftPhase
from devices.two_qubit import CONTROL, TARGET, CrossResonance, pair_schedule
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.calibration import PAIR_UNITS, PairCalibration
from experiments.results import Estimate, Verdict
from experiments.fitting import FitFailure, analyse, best_fit, conclude, dominant_frequency, measured, weighted_fit

RATES = ("ix", "iy", "iz", "zx", "zy", "zz")
UNITS = {**{f"{r}_rate": "GHz" for r in RATES}, "t_off": "ns", "floor": "", "contrast": ""}
BASES = ("x", "y", "z")


def bloch(width, ox, oy, d, t_off):
    """(x, y, z) of the target from |0> after the flat top `width` under (Ox, Oy, D)."""
    omega = np.sqrt(ox**2 + oy**2 + d**2)
    safe = np.where(omega > 0, omega, 1.0)
    nx, ny, nz = ox / safe, oy / safe, d / safe
    th = 2 * np.pi * omega * (np.asarray(width) + t_off)
    s, c = np.sin(th), 1 - np.cos(th)
    return np.stack([ny * s + nx * nz * c, -nx * s + ny * nz * c, 1 - c + nz**2 * c])


@dataclass(frozen=True)
class CrossResonanceTomography(Experiment):
    """`qubit` is the control, `target` the target; `amp`, `angle`: the CR tone."""

    name = "cr_tomography"
    summary = "Cross-resonance Hamiltonian tomography: IX, IY, IZ, ZX, ZY, ZZ rates of a CR tone"
    partner_option = "target"
    target: int = 1
    amp: float = 0.8
    angle: float = 0.0
    max_width: float = 800.0  # ns
    points: int = 17
    ramp: float = 10.0  # ns
    sigma: float = 5.0  # ns
    # also report a first ECR (ecr_settings) as the values cr_amp ... cancel_angle (PAIR_UNITS),
    # the target's drive scale taken from its calibrated X pulse: what a graph node stores
    derive_ecr: bool = False

    def __post_init__(self):
        if self.target == self.qubit:
            raise ExperimentError(f"CrossResonanceTomography.target is {self.target}, but must differ from the "
                                  f"control qubit {self.qubit}.")
        if not -1.0 <= self.amp <= 1.0:
            raise ExperimentError(f"CrossResonanceTomography.amp is {self.amp}, but must lie in -1..1 "
                                  "(the AWG's full scale).")
        if self.points < 6 or not self.max_width > 0:
            raise ExperimentError(f"CrossResonanceTomography needs points >= 6 and max_width > 0 ns, but has "
                                  f"points {self.points} and max_width {self.max_width}.")

    @property
    def qubits(self) -> tuple[int, ...]:
        return (self.qubit, self.target)

    def sweeps(self, cal):
        # widths on the AWG grid (0.5 ns on every device here; rounding to 1 ns keeps any grid of 0.5 or 1)
        widths = np.round(np.linspace(0.0, self.max_width, self.points))
        return [Sweep("control_state", np.array([0, 1]), ""), Sweep("basis", np.arange(3), ""),
                Sweep("width", widths, "ns")]

    def cr(self, width: float) -> CrossResonance:
        return CrossResonance(self.ramp, self.sigma, width, amp=self.amp, angle=self.angle, cancel=False)

    def schedule(self, cal, point):
        # Four structures (control prepared or not, a read-out rotation or not); within each,
        # the sweep shares every pulse's propagator: the flat top is a Hold whose width is
        # traced, and the X/Y rotations differ by a frame phase only, in a block of their own
        # (Delay(None, 0) closes a block), whose propagator is then rotated, not recomputed.
        control, target = cal[self.qubit], cal[self.target]
        prepare = [Play(CONTROL, control.x_pulse()), Barrier()] if point["control_state"] else []
        basis = int(point["basis"])  # Ry(-pi/2) (an SX about -Y) reads X, Rx(pi/2) reads Y, none reads Z
        rotate = [] if basis == 2 else [Delay(None, 0.0), ShiftPhase(TARGET, np.pi / 2 if basis == 0 else 0.0),
                                        Play(TARGET, target.sx_pulse())]
        instructions = prepare + self.cr(float(point["width"])).half(+1) + rotate
        return pair_schedule(instructions, control.frequency, target.frequency)

    @staticmethod
    def fitted_units(options: dict) -> dict[str, str]:
        return {**UNITS, **PAIR_UNITS} if options.get("derive_ecr") else dict(UNITS)

    def analyze(self, ds: xr.Dataset):
        units = self.fitted_units({"derive_ecr": self.derive_ecr})
        result = analyse(self.name, self.qubit, units, ds, lambda: _fit(self, ds))
        if not (self.derive_ecr and result.good):
            return result
        try:
            ecr = _ecr_values(self, result.values, ds)
        except ValueError as exc:
            nan = Estimate(float("nan"), float("nan"), "")
            values = {**result.values, **{k: replace(nan, unit=u) for k, u in PAIR_UNITS.items()}}
            return replace(result, values=values, verdict=Verdict.BAD, reason=f"no ECR from these rates: {exc}")
        return replace(result, values={**result.values, **ecr})


def ecr_settings(rates: dict[str, Estimate], exp: CrossResonanceTomography, target_drive_scale: float,
                 dt: float = 0.5) -> PairCalibration:
    """A first echoed CR gate from the rates tomography measured with `exp`'s tone: the tone's
    angle turned so that ZX is positive and ZY vanishes (rates X + iY turn as exp(-i angle));
    the cancellation tone on the target against what is left of IX + i IY (a tone c exp(i phi)
    on the target's own line adds drive_scale c exp(-i phi) to it); the flat top long enough
    for a ZX angle of pi/4 per half, exp(-i pi/8 ZX), ramps included; and a virtual Z on the
    target after the gate against IZ, which the echo does not undo (the X on the control
    leaves the target's Z alone): -2 pi IZ over both halves. `target_drive_scale`
    [GHz per unit amplitude] comes from the target's calibrated pulses (Rabi), never from a
    device's truth. Raises ValueError when the rates do not allow a gate within full scale."""
    zx = complex(rates["zx_rate"].value, rates["zy_rate"].value)
    ix = complex(rates["ix_rate"].value, rates["iy_rate"].value)
    turn = float(np.angle(zx))
    zx, ix = abs(zx), ix * np.exp(-1j * turn)
    cancel = -np.conj(ix) / target_drive_scale
    if abs(cancel) > 1.0:
        raise ValueError(f"cancelling IX + i IY = {abs(ix) * 1e6:.0f} kHz needs a cancellation amplitude "
                         f"{abs(cancel):.3g} beyond full scale 1.")
    width = float(np.round((1.0 / (8.0 * zx) - _ramp_time(exp, dt)) / dt) * dt)
    if width < 0:
        raise ValueError(f"ZX = {zx * 1e6:.0f} kHz turns by pi/8 within the ramps alone: lower the tone's amp.")
    return PairCalibration(cr_amp=float(exp.amp), cr_angle=float(exp.angle + turn), cr_width=width,
                           cancel_amp=float(abs(cancel)), cancel_angle=float(np.angle(cancel)),
                           target_phase=float(-2 * np.pi * rates["iz_rate"].value * _tone_time(exp, width, dt)),
                           cr_ramp=float(exp.ramp), cr_sigma=float(exp.sigma))


def _tone_time(exp: CrossResonanceTomography, width: float, dt: float) -> float:
    """The time both halves' tone acts at full strength, ramps counted by their area [ns]."""
    return 2 * (width + _ramp_time(exp, dt))


def _ecr_values(exp: CrossResonanceTomography, rates: dict[str, Estimate], ds: xr.Dataset) -> dict[str, Estimate]:
    """ecr_settings as stored values, with standard errors carried to first order from the rates'.
    The target's drive scale is that of the X pulse the dataset was measured with."""
    dt = float(ds.attrs.get("dt_ns", 0.5))
    target = json.loads(ds.attrs["calibration"])[str(exp.target)]
    x_unit = Drag(target["duration"], amp=1.0, sigma=target["sigma"], beta=target["beta"])
    drive_scale = 1.0 / (2.0 * target["x_amp"] * unit_area(x_unit, dt))
    cr = ecr_settings(rates, exp, drive_scale, dt)
    zx, zy = rates["zx_rate"], rates["zy_rate"]
    ix, iy = rates["ix_rate"], rates["iy_rate"]
    z2 = zx.value**2 + zy.value**2
    i2 = max(ix.value**2 + iy.value**2, 1e-30)
    angle_err = np.hypot(zy.value * zx.stderr, zx.value * zy.stderr) / z2
    zx_rel = np.hypot(zx.value * zx.stderr, zy.value * zy.stderr) / z2
    ix_abs = np.hypot(ix.value * ix.stderr, iy.value * iy.stderr) / np.sqrt(i2)
    ix_perp = np.hypot(iy.value * ix.stderr, ix.value * iy.stderr) / np.sqrt(i2)
    width = cr.cr_width
    return {
        "cr_amp": Estimate(cr.cr_amp, 0.0, ""),
        "cr_angle": Estimate(cr.cr_angle, float(angle_err), "rad"),
        "cr_width": Estimate(width, float((width + _ramp_time(exp, dt)) * zx_rel), "ns"),
        "cancel_amp": Estimate(cr.cancel_amp, float(ix_abs / drive_scale), ""),
        # the cancellation turns with the tone: its angle's error adds the tone angle's
        "cancel_angle": Estimate(cr.cancel_angle, float(np.hypot(ix_perp / np.sqrt(i2), angle_err)), "rad"),
        "target_phase": Estimate(cr.target_phase, float(2 * np.pi * rates["iz_rate"].stderr
                                                        * _tone_time(exp, width, dt)), "rad"),
        "cr_ramp": Estimate(cr.cr_ramp, 0.0, "ns"),
        "cr_sigma": Estimate(cr.cr_sigma, 0.0, "ns"),
    }


def _ramp_time(exp: CrossResonanceTomography, dt: float = 0.5) -> float:
    """The flat-top time the two ramps add for a rate linear in the tone: their area / amp."""
    ramp = exp.cr(0.0).half(+1)[0].pulse
    return 2 * float(np.real(np.sum(ramp.samples(dt)))) * dt / exp.amp if exp.amp else 0.0


def _fit(exp: CrossResonanceTomography, ds: xr.Dataset):
    widths = ds["width"].values
    ys, sigmas = [], []
    for k, b in itertools.product((0, 1), range(3)):
        y, s = measured(ds, qubit=exp.target, control_state=k, basis=b)
        ys.append(y)
        sigmas.append(s)
    y, sigma = np.concatenate(ys), np.concatenate(sigmas)
    index = np.arange(len(y))

    def model(i, ox0, oy0, d0, ox1, oy1, d1, t_off, floor, contrast):
        r = np.concatenate([bloch(widths, ox0, oy0, d0, t_off), bloch(widths, ox1, oy1, d1, t_off)]).reshape(-1)
        return (floor + contrast * (1 - r) / 2)[np.asarray(i, int)]

    t_off = _ramp_time(exp)
    starts = [list(a) + list(b) + [t_off, 0.02, 0.95] for a, b in itertools.product(
        _state_starts(exp, widths, ys[:3], sigmas[:3], t_off), _state_starts(exp, widths, ys[3:], sigmas[3:], t_off))]
    top = 0.5 / (widths[1] - widths[0])  # the sampling limit, cycles/ns
    bounds = ([-top] * 6 + [-50.0, -0.2, 0.3], [top] * 6 + [50.0 + 2 * t_off, 0.5, 1.2])
    fit = best_fit(model, index, y, sigma, starts, bounds, what="CR tomography")
    p = fit.params
    values = {}
    for name, (i0, i1) in zip(("x", "y", "z"), ((0, 3), (1, 4), (2, 5))):
        label_i, label_z = {"x": ("ix", "zx"), "y": ("iy", "zy"), "z": ("iz", "zz")}[name]
        values[f"{label_i}_rate"] = fit.derived(lambda q, i0=i0, i1=i1: (q[i0] + q[i1]) / 2, "GHz")
        values[f"{label_z}_rate"] = fit.derived(lambda q, i0=i0, i1=i1: (q[i0] - q[i1]) / 2, "GHz")
    values = {f"{r}_rate": values[f"{r}_rate"] for r in RATES}
    values.update(t_off=fit.estimate(6, "ns"), floor=fit.estimate(7, ""), contrast=fit.estimate(8, ""))
    zx = values["zx_rate"]
    span = 2 * np.pi * max(np.sqrt(p[0] ** 2 + p[1] ** 2 + p[2] ** 2), np.sqrt(p[3] ** 2 + p[4] ** 2 + p[5] ** 2)) \
        * (widths[-1] + p[6])
    checks = [
        (abs(zx.value) > 5 * zx.stderr, f"no significant ZX (ZX {zx.value * 1e6:.1f} +- {zx.stderr * 1e6:.1f} kHz)."),
        (span > np.pi, f"the sweep turns the target by {span / np.pi:.2f} pi only: widen it (max_width) to "
                       "determine the rates."),
    ]
    fine = np.linspace(widths.min(), widths.max(), 200)
    r = np.stack([bloch(fine, *p[0:3], p[6]), bloch(fine, *p[3:6], p[6])])  # (state, basis, width)
    curve = xr.Dataset({"fit": (("control_state", "basis", "width"), p[7] + p[8] * (1 - r) / 2)},
                       coords={"control_state": [0, 1], "basis": [0, 1, 2],
                               "width": ("width", fine, {"units": "ns"})})
    return conclude(exp.name, exp.qubit, values, fit, checks, curve)


def _state_starts(exp, widths, ys, sigmas, t_off) -> list[tuple[float, float, float]]:
    """Starting (Ox, Oy, D) for one control state: the turning rate from the periodogram of
    the three curves, then a small fit with the read-out fixed over a few axis directions."""
    r = [1 - 2 * (y - 0.02) / 0.95 for y in ys]  # rough Bloch components
    omega = max(dominant_frequency(widths, r[2]), 1.0 / (4 * (widths[-1] + t_off)))
    x = np.concatenate([widths] * 3)
    y, sigma = np.concatenate(ys), np.concatenate(sigmas)

    def model(w, ox, oy, d):
        n = len(widths)
        return 0.02 + 0.95 * (1 - np.concatenate([bloch(w[i * n:(i + 1) * n], ox, oy, d, t_off)[i]
                                                     for i in range(3)])) / 2

    candidates = []
    for nz, phi in itertools.product((0.0, 0.5, -0.5), np.linspace(0, 2 * np.pi, 4, endpoint=False)):
        s = np.sqrt(1 - nz**2)
        p0 = [omega * s * np.cos(phi), omega * s * np.sin(phi), omega * nz]
        try:
            candidates.append(weighted_fit(model, x, y, sigma, p0))
        except FitFailure:
            continue
    if not candidates:
        raise FitFailure("no starting rates could be found for the control in one of its states.")
    candidates.sort(key=lambda f: f.reduced_chi2)
    return [tuple(c.params) for c in candidates[:2]]

