"""A chip: coupled transmons with drive crosstalk."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices._validate import DeviceModelError, check_finite, concrete
from devices.readout import Resonator
from devices.transmon import Transmon


def _c128(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.complex128)


def _f64(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.float64)


class Chip(eqx.Module):
    """Transmons with exchange couplings and drive crosstalk.

    couplings[q, r]: exchange coupling J between transmons q and r [GHz], symmetric,
        zero diagonal; gives the static ZZ of the pair in second order.
    crosstalk[d, q]: complex amplitude with which drive channel d reaches transmon q,
        relative to its own transmon (crosstalk[q, q] == 1).
    resonators[q]: transmon q's readout resonator (devices/readout.py), or None for a chip
        read out through its transmons' assignment errors alone. The pulse simulation never
        reads them.
    """

    transmons: tuple[Transmon, ...]
    couplings: jax.Array = eqx.field(converter=_f64)
    crosstalk: jax.Array = eqx.field(converter=_c128)
    resonators: tuple[Resonator, ...] | None

    def __init__(self, transmons: Sequence[Transmon], couplings=None, crosstalk=None,
                 resonators: Sequence[Resonator] | None = None):
        transmons = tuple(transmons)
        n = len(transmons)
        self.transmons = transmons
        self.couplings = np.zeros((n, n)) if couplings is None else couplings
        self.crosstalk = np.eye(n) if crosstalk is None else crosstalk
        self.resonators = None if resonators is None else tuple(resonators)

    def __check_init__(self):
        n = len(self.transmons)
        if n == 0:
            raise DeviceModelError("Chip.transmons is empty, but a chip needs at least one transmon.")
        if self.resonators is not None and len(self.resonators) != n:
            raise DeviceModelError(f"Chip.resonators holds {len(self.resonators)}, but the chip has {n} transmons: "
                                   "give one resonator per transmon, or none.")
        levels = {t.n_levels for t in self.transmons}
        if len(levels) != 1:
            raise DeviceModelError(
                f"Chip.transmons have n_levels {sorted(levels)}, but all transmons of a chip "
                "must keep the same number of levels."
            )
        for field in ("couplings", "crosstalk"):
            shape = getattr(self, field).shape
            if shape[-2:] != (n, n):
                raise DeviceModelError(
                    f"Argument `{field}` must have shape (..., {n}, {n}) for {n} transmons, "
                    f"but has shape {shape}."
                )
            check_finite("Chip", field, getattr(self, field))
        j = concrete(self.couplings)
        if j is not None:
            if not np.allclose(j, np.swapaxes(j, -1, -2)):
                raise DeviceModelError(f"Chip.couplings must be symmetric, but is {j.tolist()}.")
            if np.any(np.diagonal(j, axis1=-2, axis2=-1) != 0):
                raise DeviceModelError("Chip.couplings must have a zero diagonal (no self-coupling).")
        c = concrete(self.crosstalk)
        if c is not None and not np.allclose(np.diagonal(c, axis1=-2, axis2=-1), 1.0):
            raise DeviceModelError(
                "Chip.crosstalk[q, q] must be 1 (each channel drives its own transmon at full "
                f"scale), but the diagonal is {np.diagonal(c, axis1=-2, axis2=-1).tolist()}."
            )

    @property
    def n_qubits(self) -> int:
        return len(self.transmons)

    @property
    def n_levels(self) -> int:
        return self.transmons[0].n_levels

    def subchip(self, qubits: Sequence[int]) -> "Chip":
        """The chip restricted to `qubits` (in that order); others are dropped."""
        qubits = [int(q) for q in qubits]
        for q in qubits:
            if not 0 <= q < self.n_qubits:
                raise DeviceModelError(
                    f"Qubit {q} is not on this chip: it has qubits 0..{self.n_qubits - 1}."
                )
        idx = np.asarray(qubits)
        return Chip(
            [self.transmons[q] for q in qubits],
            couplings=self.couplings[..., idx[:, None], idx[None, :]],
            crosstalk=self.crosstalk[..., idx[:, None], idx[None, :]],
            resonators=None if self.resonators is None else [self.resonators[q] for q in qubits],
        )

    def neighbours(self, qubit: int) -> list[int]:
        """Qubits with a nonzero coupling to `qubit` (needs concrete couplings)."""
        j = np.asarray(self.couplings)
        return [int(r) for r in np.nonzero(j[qubit])[0] if r != qubit]
