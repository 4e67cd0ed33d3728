"""Posterior ensembles: many plausible models of one qubit, as one Chip with a leading axis.

Robust control averages a pulse's error over such an ensemble with `jax.vmap`. An
ensemble is drawn either from a DeviceSpec (its nominal values and fabrication spread;
model learning writes a learned model as such a spec, nominal = learned values and
spread = their standard errors) or around a given Transmon with an explicit spread.
`posterior_spread` builds that spread from learned values and standard errors: a parameter
the data left unconstrained (standard error NaN) varies by the prior's fabrication spread,
never by zero, which would claim it known exactly.
The distributions are those of `devices.simulated.fabricate`: normal for frequency and
anharmonicity, log-normal for drive scale, T1 and T2 (so they stay positive).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import numpy as np

from devices.chip import Chip
from devices.device_spec import DeviceSpec
from devices.transmon import Transmon

# 1-sigma spreads an ensemble may vary, in internal units (GHz, or relative).
SPREAD_KEYS = ("frequency", "anharmonicity", "drive_scale_rel", "t1_rel", "t2_rel")
_LEAST_ANHARMONICITY = -0.05  # GHz: the draws stay transmons (fabricate clips the same way)


def _check_count(n, seed) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"Argument `n` (ensemble size) is {n!r}, but must be an integer >= 1.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"Argument `seed` is {seed!r}, but must be an integer >= 0.")


def _check_spread(spread: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(spread, Mapping):
        raise ValueError(f"Argument `spread` must be a dict of 1-sigma spreads, but is {type(spread).__name__}.")
    unknown = sorted(set(spread) - set(SPREAD_KEYS))
    if unknown:
        raise ValueError(f"spread has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(SPREAD_KEYS)}.")
    out = {}
    for key in SPREAD_KEYS:
        value = spread.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"spread[{key!r}] is {value!r}, but must be a finite number >= 0.")
        out[key] = float(value)
    return out


def _scalar(transmon: Transmon, name: str) -> float:
    value = np.asarray(getattr(transmon, name))
    if value.shape != ():
        raise ValueError(
            f"Argument `transmon` must be one transmon (scalar parameters), but its {name} has shape "
            f"{value.shape}; draw an ensemble around each member separately."
        )
    return float(value)


def _normal_draws(n: int, seed: int, antithetic: bool) -> np.ndarray:
    """(5, n) standard normal draws; antithetic: in +- pairs (with one zero column when n
    is odd), so a small ensemble's mean sits exactly on the centre instead of ~1/sqrt(n) off."""
    rng = np.random.default_rng([seed, 7])
    if not antithetic:
        return rng.standard_normal((5, n))
    half = rng.standard_normal((5, n // 2))
    return np.concatenate([np.zeros((5, n % 2)), half, -half], axis=1)


def ensemble_around(transmon: Transmon, spread: Mapping[str, float], n: int, seed: int, *,
                    antithetic: bool = True) -> Chip:
    """`n` single-transmon models drawn around `transmon` with 1-sigma `spread`
    (keys in SPREAD_KEYS; missing keys do not vary): a Chip whose leaves lead with n."""
    _check_count(n, seed)
    s = _check_spread(spread)
    g = _normal_draws(n, seed, antithetic)
    t1 = _scalar(transmon, "t1") * np.exp(s["t1_rel"] * g[3])
    t2 = np.minimum(_scalar(transmon, "t2") * np.exp(s["t2_rel"] * g[4]), 2.0 * t1)  # T2 <= 2 T1
    members = Transmon(
        frequency=_scalar(transmon, "frequency") + s["frequency"] * g[0],
        anharmonicity=np.minimum(_scalar(transmon, "anharmonicity") + s["anharmonicity"] * g[1],
                                 _LEAST_ANHARMONICITY),
        drive_scale=_scalar(transmon, "drive_scale") * np.exp(s["drive_scale_rel"] * g[2]),
        t1=t1, t2=t2,
        readout_p01=np.full(n, _scalar(transmon, "readout_p01")),
        readout_p10=np.full(n, _scalar(transmon, "readout_p10")),
        n_levels=transmon.n_levels,
    )
    return Chip([members], couplings=np.zeros((n, 1, 1)), crosstalk=np.ones((n, 1, 1), complex))


def spec_spread(spec: DeviceSpec) -> dict[str, float]:
    """The DeviceSpec's fabrication spread as an ensemble spread."""
    fab = spec.fabrication
    return {"frequency": fab.frequency, "anharmonicity": fab.anharmonicity,
            "drive_scale_rel": fab.drive_scale_rel, "t1_rel": fab.t1_rel, "t2_rel": fab.t2_rel}


# learned parameter -> (its spread key, whether that spread is relative to the value)
_POSTERIOR_KEYS = {"frequency": ("frequency", False), "anharmonicity": ("anharmonicity", False),
                   "drive_scale": ("drive_scale_rel", True), "t1": ("t1_rel", True), "t2": ("t2_rel", True)}


def posterior_spread(values: Mapping[str, float], stderr: Mapping[str, float], prior: DeviceSpec) -> dict[str, float]:
    """The 1-sigma ensemble spread around learned `values` (frequency and anharmonicity in GHz,
    drive_scale, t1 and t2 relative): each parameter's standard error, or, where it is NaN or
    missing (the data did not constrain it, or it was held fixed), the prior's fabrication spread."""
    for label, arg in (("values", values), ("stderr", stderr)):
        if not isinstance(arg, Mapping):
            raise ValueError(f"Argument `{label}` must be a dict of name -> number, but is {type(arg).__name__}.")
    if not isinstance(prior, DeviceSpec):
        raise ValueError(f"Argument `prior` must be a DeviceSpec, but is {type(prior).__name__}.")
    prior_spread = spec_spread(prior)
    out = {}
    for name, (key, relative) in _POSTERIOR_KEYS.items():
        value = values.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"values[{name!r}] is {value!r}, but must be a finite number (the learned {name}).")
        if relative and value <= 0:
            raise ValueError(f"values[{name!r}] is {value!r}, but must be > 0: its spread is relative to it.")
        error = stderr.get(name, math.nan)
        if isinstance(error, bool) or not isinstance(error, (int, float)) or error < 0:
            raise ValueError(f"stderr[{name!r}] is {error!r}, but must be a number >= 0, or NaN where not learned.")
        if not math.isfinite(error):
            out[key] = prior_spread[key]
        else:
            out[key] = float(error) / float(value) if relative else float(error)
    return out


def nominal_transmon(spec: DeviceSpec, qubit: int, n_levels: int = 3) -> Transmon:
    """Qubit `qubit` of the spec at its nominal (design or learned) values."""
    if isinstance(qubit, bool) or not isinstance(qubit, int) or not 0 <= qubit < spec.n_qubits:
        raise ValueError(f"Qubit {qubit!r} is not on {spec.name}: it has qubits 0..{spec.n_qubits - 1}.")
    q = spec.qubits[qubit]
    return Transmon(frequency=q.frequency, anharmonicity=q.anharmonicity, drive_scale=q.drive_scale,
                    t1=q.t1, t2=q.t2, readout_p01=q.readout_p01, readout_p10=q.readout_p10, n_levels=n_levels)


def ensemble_from_spec(spec: DeviceSpec, qubit: int, n: int, seed: int, *, antithetic: bool = True) -> Chip:
    """`n` models of `qubit` drawn from the spec's spread around its nominal values."""
    return ensemble_around(nominal_transmon(spec, qubit), spec_spread(spec), n, seed, antithetic=antithetic)


def ensemble_size(ensemble: Chip) -> int:
    """Length of the ensemble's leading axis (checks that every leaf has it)."""
    if not isinstance(ensemble, Chip):
        raise ValueError(f"Argument `ensemble` must be a Chip, but is {type(ensemble).__name__}.")
    shapes = {np.shape(leaf)[:1] for leaf in jax.tree.leaves(ensemble)}
    frequency = np.shape(ensemble.transmons[0].frequency)
    if len(frequency) != 1 or shapes != {frequency}:
        raise ValueError(
            "Argument `ensemble` must be a Chip whose every leaf has one leading ensemble axis (see "
            f"ensemble_around), but its frequency has shape {frequency} and its leaves lead with "
            f"{sorted(shapes)}."
        )
    return frequency[0]


def member(ensemble: Chip, index: int) -> Chip:
    """One model of the ensemble, as a plain Chip."""
    return jax.tree.map(lambda leaf: leaf[index], ensemble)
