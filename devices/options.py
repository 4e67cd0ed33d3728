"""Option objects that select how a schedule is simulated (never strings that select code)."""

from __future__ import annotations

import math

import equinox as eqx


class Closed(eqx.Module):
    """Unitary dynamics: T1 and T2 are ignored."""


class Open(eqx.Module):
    """Lindblad dynamics with each transmon's T1 and T2."""


Dynamics = Closed | Open


class ExactSteps(eqx.Module):
    """Exact propagation of the piecewise-constant Hamiltonian (the fast path).

    With one transmon the rotating-frame Hamiltonian is constant over each AWG sample
    and one matrix exponential per sample is exact. So is a block of several transmons in
    which every playing channel has one carrier (a cross-resonance tone and its
    cancellation tone, or one transmon's gate): in that carrier's common frame the drive,
    the couplings and the detunings are static over a sample (`common_frame`). Blocks
    with channels at different carriers carry phases rotating at the carrier differences
    within a sample, so each sample is split in `substeps` fourth-order Magnus steps.
    In those exact blocks `substeps` only divides each exponent, exp(G dt) = exp(G dt / m)^m,
    which raises the squaring budget by log2(m). None picks 1 for a single transmon, 8 for
    Magnus steps and 2 for the exact blocks of several transmons: their exponents' 1-norm
    reaches ~3.3 for 3-level transmons 450 MHz apart (Open, in the common frame), within the
    0.68 x 2^(3 + 1) = 10.9 that the default max_squarings and one more keep exact.

    common_frame: False steps every block of several transmons (or channels) by Magnus
        substeps: the scheme of qiskit-dynamics' `magnus_order=2`, kept to compare the two.

    max_squarings: squarings budget of the matrix exponential; steps whose generator
    norm needs more raise an error naming this option (3 covers ||2 pi H dt|| < 5.4,
    far beyond any rotating-frame model the RWA is valid for at dt = 0.5 ns).
    """

    substeps: int | None = eqx.field(static=True, default=None)
    max_squarings: int = eqx.field(static=True, default=3)
    common_frame: bool = eqx.field(static=True, default=True)

    def resolve(self, n_qubits: int) -> int:
        if self.substeps is None:
            return 1 if n_qubits == 1 else 8
        if not isinstance(self.substeps, int) or self.substeps < 1:
            raise ValueError(f"ExactSteps.substeps is {self.substeps!r}, but must be an integer >= 1.")
        return self.substeps

    def common_frame_squarings(self) -> int:
        """The squaring budget of an exact block in a common frame: max_squarings + log2 of
        the substeps (None: 2)."""
        substeps = 2 if self.substeps is None else self.resolve(2)
        return self.max_squarings + math.ceil(math.log2(substeps))


class QiskitDynamics(eqx.Module):
    """Solve with qiskit-dynamics (`solve_lmde`, array_library='jax') on the same model.

    method: qiskit-dynamics' own solver name, e.g. 'jax_expm' or 'jax_odeint'.
    magnus_order: for the exponential solvers; 2 is the scheme ExactSteps uses.
    max_dt: largest step [ns]; None uses the AWG sample time divided by `ExactSteps`'
        default substeps, so a variable-step solver cannot step over a short pulse.
    """

    method: str = eqx.field(static=True, default="jax_expm")
    max_dt: float | None = eqx.field(static=True, default=None)
    magnus_order: int = eqx.field(static=True, default=2)
    atol: float = eqx.field(static=True, default=1e-10)
    rtol: float = eqx.field(static=True, default=1e-10)


Solver = ExactSteps | QiskitDynamics
