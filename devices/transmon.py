"""A single transmon: the physical parameters that calibration estimates."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices._validate import DeviceModelError, check_range, concrete


def _f64(x) -> jax.Array:
    # Strongly typed float64 leaves: weak-typed scalars would make jitted code recompile.
    return jnp.asarray(x, dtype=jnp.float64)


class Transmon(eqx.Module):
    """A transmon in internal units (GHz, ns).

    frequency:      0-1 transition frequency f01 [GHz]
    anharmonicity:  f12 - f01 [GHz], negative for a transmon
    drive_scale:    Rabi frequency per unit drive amplitude [GHz]; amplitude a for a time t
                    rotates the qubit by 2*pi*drive_scale*a*t
    t1, t2:         energy relaxation and total dephasing times [ns], t2 <= 2*t1
    readout_p01:    probability of reading 1 when the qubit is in 0
    readout_p10:    probability of reading 0 when the qubit is in 1
    n_levels:       levels kept in the simulation (static)

    Leaves may carry leading batch axes (an ensemble of transmons is one Transmon).
    """

    frequency: jax.Array = eqx.field(converter=_f64)
    anharmonicity: jax.Array = eqx.field(converter=_f64)
    drive_scale: jax.Array = eqx.field(converter=_f64)
    t1: jax.Array = eqx.field(converter=_f64)
    t2: jax.Array = eqx.field(converter=_f64)
    readout_p01: jax.Array = eqx.field(converter=_f64, default=0.0)
    readout_p10: jax.Array = eqx.field(converter=_f64, default=0.0)
    n_levels: int = eqx.field(static=True, default=3)

    def __check_init__(self):
        owner = "Transmon"
        if not isinstance(self.n_levels, int) or self.n_levels < 2:
            raise DeviceModelError(
                f"{owner}.n_levels is {self.n_levels!r}, but must be an integer >= 2 "
                "(2 = qubit only, 3 or more to model leakage)."
            )
        check_range(owner, "frequency", self.frequency, low=0.0, low_open=True,
                    allowed="frequency > 0 GHz")
        check_range(owner, "anharmonicity", self.anharmonicity, high=0.0, high_open=True,
                    allowed="anharmonicity < 0 GHz (a transmon's f12 lies below f01)")
        check_range(owner, "drive_scale", self.drive_scale, low=0.0, low_open=True,
                    allowed="drive_scale > 0 GHz per unit amplitude")
        check_range(owner, "t1", self.t1, low=0.0, low_open=True, allowed="t1 > 0 ns")
        check_range(owner, "t2", self.t2, low=0.0, low_open=True, allowed="t2 > 0 ns")
        for name in ("readout_p01", "readout_p10"):
            check_range(owner, name, getattr(self, name), low=0.0, high=0.5, high_open=True,
                        allowed=f"0 <= {name} < 0.5")
        t1, t2 = concrete(self.t1), concrete(self.t2)
        if t1 is not None and t2 is not None and not np.all(t2 <= 2.0 * t1 * (1 + 1e-12)):
            raise DeviceModelError(
                f"Transmon.t2 is {np.asarray(t2).tolist()} ns, but must satisfy t2 <= 2*t1 = "
                f"{(2.0 * np.asarray(t1)).tolist()} ns (pure dephasing cannot be negative)."
            )

    @property
    def dephasing_rate(self) -> jax.Array:
        """Pure dephasing rate gamma_phi = 1/T2 - 1/(2 T1) [1/ns]."""
        return jnp.maximum(1.0 / self.t2 - 0.5 / self.t1, 0.0)
