"""Static ZZ: Ramsey of a qubit with its neighbour in |0> and in |1>.

The fringe frequency moves by ZZ = E11 - E10 - E01 + E00 when the neighbour is
excited. Both Ramsey sweeps run in one experiment (dim `spectator_state`).

The excited neighbour relaxes during the delay (at its T1): the target then turns at
f1 until the decay time and at f0 after it, so its fringe averages
exp(i 2 pi (f1 - f0) min(t_decay, t)) over the decay time (`decaying_spectator_model`).
Ignoring the decay read ZZ about 6% small on sim-5q (5 sigma); the fit takes the
neighbour's T1 as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from devices.schedule import Barrier, Delay, Play, ShiftPhase
from experiments.base import Experiment, ExperimentError, Sweep
from experiments.fitting import analyse, conclude, measured, weighted_fit
from experiments.library.ramsey import fit_fringe, fringe_checks, ramsey_model
from experiments.results import Estimate

UNITS = {"zz": "GHz", "fringe_spectator_0": "GHz", "fringe_spectator_1": "GHz"}


@dataclass(frozen=True)
class StaticZZ(Experiment):
    name = "zz"
    summary = "Static ZZ: Ramsey of a qubit with its neighbour in 0 and in 1"
    partner_option = "spectator"
    spectator: int = 1
    max_delay: float = 20_000.0  # ns
    points: int = 81
    detuning: float = 1e-3  # GHz

    def __post_init__(self):
        if self.spectator == self.qubit:
            raise ExperimentError(f"StaticZZ.spectator is {self.spectator}, but must differ from qubit {self.qubit}.")

    @property
    def qubits(self) -> tuple[int, ...]:
        return (self.qubit, self.spectator)

    def sweeps(self, cal):
        return [Sweep("spectator_state", np.array([0, 1]), ""),
                Sweep("delay", np.linspace(0.0, self.max_delay, self.points), "ns")]

    def schedule(self, cal, point):
        target, spectator = cal[self.qubit], cal[self.spectator]
        prepare = [Play(1, spectator.x_pulse()), Barrier()] if point["spectator_state"] else []
        phase = 2 * np.pi * self.detuning * point["delay"]
        sx = target.sx_pulse()
        from devices.schedule import Schedule
        return Schedule(prepare + [Play(0, sx), Delay(None, point["delay"]), ShiftPhase(0, -phase), Play(0, sx)],
                        [target.frequency, spectator.frequency])

    def analyze(self, ds: xr.Dataset):
        return analyse(self.name, self.qubit, UNITS, ds, lambda: _fit(self, ds))


def decaying_spectator_model(tau, f1, t2, contrast, offset, phase, f0, t1_spectator):
    """Ramsey of the target while the neighbour, excited at t = 0, relaxes at 1/t1."""
    g = 1.0 / t1_spectator
    w = 2 * np.pi * (f1 - f0)
    z = (g - 1j * w)
    survival = np.exp(-z * tau)
    mean_phase = g / z * (1 - survival) + survival  # E exp(i w min(tau_decay, t))
    carrier = np.exp(1j * (2 * np.pi * f0 * tau + phase)) * mean_phase
    return offset + 0.5 * contrast * np.exp(-tau / t2) * np.real(carrier)


def _fit_excited(x, y, sigma, f0: float, start):
    """Fit the spectator-in-1 fringe with the neighbour's decay, f0 fixed from the other fit."""
    def model(tau, f1, t2, contrast, offset, phase, t1_spectator):
        return decaying_spectator_model(tau, f1, t2, contrast, offset, phase, f0, t1_spectator)

    f1, t2, contrast, offset, phase = start
    return weighted_fit(model, x, y, sigma, [f1, t2, contrast, offset, phase, 50_000.0],
                        bounds=([0.0, 10.0, 0.0, -0.5, -2 * np.pi, 1_000.0],
                                [0.5 / (x[1] - x[0]), 1e8, 2.0, 1.5, 2 * np.pi, 1e7]))


def _fit(exp: StaticZZ, ds: xr.Dataset):
    x = ds["delay"].values
    fits, checks, curves = [], [], {}
    fine = np.linspace(x.min(), x.max(), 800)
    for state in (0, 1):
        sel = dict(qubit=exp.qubit, spectator_state=state)
        y, sigma = measured(ds, **sel)
        fit = fit_fringe(x, y, sigma)
        checks += fringe_checks(fit, x, f" with the spectator in {state}")
        if state == 1:
            f0 = fits[0].params[0]
            fit = _fit_excited(x, y, sigma, f0, fit.params)
            curves[state] = fit.model(fine, *fit.params)
        else:
            curves[state] = ramsey_model(fine, *fit.params)
        fits.append(fit)
    f0, f1 = fits[0].estimate(0, "GHz"), fits[1].estimate(0, "GHz")
    zz = Estimate(f1.value - f0.value, float(np.hypot(f0.stderr, f1.stderr)), "GHz")
    worst = max(fits, key=lambda f: f.reduced_chi2)
    curve = xr.Dataset({"fit": (("spectator_state", "delay"), np.stack([curves[0], curves[1]]))},
                       coords={"spectator_state": [0, 1], "delay": ("delay", fine, {"units": "ns"})})
    return conclude(exp.name, exp.qubit, {"zz": zz, "fringe_spectator_0": f0, "fringe_spectator_1": f1},
                    worst, checks, curve)
