"""Two-qubit gates on a coupled pair: the echoed cross-resonance (ECR) gate and its metrics.

Cross resonance: the control's drive line plays a tone at the target's frequency. Through
the exchange coupling J the target then rotates about X at a rate that depends on the
control's state (ZX), besides control-independent terms (IX from the tone's crosstalk and
the coupling, IY, IZ, ZI, ZZ). The echoed form cancels what does not flip with the
control: CR+ (tone at +amp), X on the control, CR- (tone at -amp). A cancellation tone on
the target's own line, in phase with the CR tone, takes out the rest of IX.

A pair schedule has three channels: 0 the control's own drive (its carrier sets the
control's frame), 1 the target's own drive (its carrier sets the target's frame, and it
plays the cancellation tone) and 2 the CR tone, on line 0 at the target's carrier. The
simulated chip is the pair's subchip, control first.

The ideal ECR here is (X ⊗ I) exp(-i pi/4 Z ⊗ X) = (XI - YX)/sqrt(2) with the control
leftmost: locally equivalent to a CNOT, and qiskit's ECRGate with the control on its qubit 0.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from devices._validate import DeviceModelError, check_range
from devices.chip import Chip
from devices.metrics import GateMetrics, coherence_limit
from devices.options import Closed, Dynamics, ExactSteps, Open, Solver
from devices.pulses import GaussianRamp, Pulse
from devices.schedule import Barrier, Hold, Play, Schedule
from devices.simulate import propagator

CONTROL, TARGET, CR_TONE = 0, 1, 2
PAIR_LINES = (CONTROL, TARGET, CONTROL)  # the CR tone plays on the control's line

_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Z = np.diag([1.0, -1.0]).astype(complex)
ECR = np.kron(_X, np.eye(2)) @ ((np.eye(4) - 1j * np.kron(_Z, _X)) / math.sqrt(2))
ECR.setflags(write=False)


def _f64(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.float64)


class CrossResonance(eqx.Module):
    """One directed pair's ECR settings. Each half is a GaussianSquare: a Gaussian ramp of
    `ramp` ns (width `sigma`), a flat top of `width` ns and the ramp down; the second half
    plays at -amp. The flat top is a `Hold` (exact, and its width may be traced, so a sweep
    of CR lengths compiles once).

    amp, angle: the CR tone on the control's line (fraction of full scale, rad).
    cancel_amp, cancel_angle: the cancellation tone on the target's line, same shape.
    cancel: False leaves the cancellation tone out altogether (cancel_amp must be 0): each
        ramp is then one channel under one frame, whose propagator a sweep of widths shares
        (a block of two channels after a traced-length hold is recomputed at every width).
    """

    ramp: float = eqx.field(static=True)
    sigma: jax.Array = eqx.field(converter=_f64)
    width: jax.Array = eqx.field(converter=_f64)
    amp: jax.Array = eqx.field(converter=_f64)
    angle: jax.Array = eqx.field(converter=_f64, default=0.0)
    cancel_amp: jax.Array = eqx.field(converter=_f64, default=0.0)
    cancel_angle: jax.Array = eqx.field(converter=_f64, default=0.0)
    cancel: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if not self.cancel and not (isinstance(self.cancel_amp, jax.core.Tracer) or float(self.cancel_amp) == 0.0):
            raise DeviceModelError(f"CrossResonance.cancel_amp is {float(self.cancel_amp)}, but must be 0 when "
                                   "cancel is False (no cancellation tone).")
        for field in ("amp", "cancel_amp"):
            check_range("CrossResonance", field, getattr(self, field), low=-1.0, high=1.0,
                        allowed="-1 <= amp <= 1 (the AWG's full scale)")
        check_range("CrossResonance", "width", self.width, low=0.0, allowed="width >= 0 ns")
        self.half(+1)  # the ramps check ramp and sigma with their own messages

    def half(self, sign: int) -> list:
        """Instructions of the first (sign +1) or second (-1) half: CR tone on channel 2 and
        cancellation tone on channel 1, ramp up | hold | ramp down."""
        tone_amp, cancel_amp = sign * self.amp, sign * self.cancel_amp

        def ramps(rising: bool) -> list:
            tone = [Play(CR_TONE, GaussianRamp(self.ramp, tone_amp, self.sigma, self.angle, rising))]
            if self.cancel:
                tone.append(Play(TARGET, GaussianRamp(self.ramp, cancel_amp, self.sigma, self.cancel_angle, rising)))
            return tone + [Barrier()]

        if self.cancel:
            held = Hold((CR_TONE, TARGET), jnp.stack([tone_amp * jnp.exp(1j * self.angle),
                                                      cancel_amp * jnp.exp(1j * self.cancel_angle)]), self.width)
        else:
            held = Hold((CR_TONE,), jnp.reshape(tone_amp * jnp.exp(1j * self.angle), (1,)), self.width)
        return ramps(True) + [held] + ramps(False)


def pair_frequencies(control_frequency, target_frequency) -> jax.Array:
    """Carriers of a pair schedule's channels: control, target, and the CR tone at the target's."""
    c = jnp.asarray(control_frequency, jnp.float64)
    t = jnp.asarray(target_frequency, jnp.float64)
    return jnp.stack([c, t, t])


def pair_schedule(instructions, control_frequency, target_frequency) -> Schedule:
    """A schedule on a pair's three channels (module docstring). The CR tone and the target's
    own channel are declared to share the target's carrier, so a block where they play is
    simulated exactly in its frame even when the frequencies are traced."""
    return Schedule(instructions, pair_frequencies(control_frequency, target_frequency), lines=PAIR_LINES,
                    shared_carriers=((TARGET, CR_TONE),))


def ecr_instructions(cr: CrossResonance, x_control: Pulse) -> list:
    """CR+ | X on the control | CR-, channels as in the module docstring."""
    if not isinstance(cr, CrossResonance):
        raise DeviceModelError(f"Argument `cr` must be a CrossResonance, but is {type(cr).__name__}.")
    if not isinstance(x_control, Pulse):
        raise DeviceModelError(f"Argument `x_control` must be a Pulse, but is {type(x_control).__name__}.")
    return cr.half(+1) + [Play(CONTROL, x_control), Barrier()] + cr.half(-1)


def ecr_schedule(control_frequency, target_frequency, cr: CrossResonance, x_control: Pulse) -> Schedule:
    """The ECR on a pair: the control's drive at `control_frequency`, the target's (and the
    CR tone's) at `target_frequency` [GHz]."""
    return pair_schedule(ecr_instructions(cr, x_control), control_frequency, target_frequency)


def computational_indices(n_levels: int) -> np.ndarray:
    """Indices of |00>, |01>, |10>, |11> (control leftmost) in a pair's n_levels^2 space."""
    return np.array([a * n_levels + b for a in (0, 1) for b in (0, 1)])


def channel_metrics(prop: jax.Array, target: jax.Array, n_levels: int, dynamics: Dynamics) -> GateMetrics:
    """Average gate fidelity and leakage of a pair's propagator (unitary, or column-stacking
    superoperator for Open) as the 4x4 `target`, on the computational subspace.

    With leakage the restricted channel S is not trace preserving; following Wood & Gambetta
    (PRA 97, 032306): F_avg = (d F_pro + 1 - L) / (d + 1), d = 4, F_pro = Tr(S_ideal^dag S)/d^2
    and L = 1 - Tr S(I/d)."""
    d, big = 4, n_levels**2
    idx = computational_indices(n_levels)
    if isinstance(dynamics, Closed):
        u = prop[np.ix_(idx, idx)]
        superop = jnp.kron(u.conj(), u)  # vec(U X U^dag) = (U* kron U) vec(X), column stacking
    else:
        vec = (idx[None, :] + big * idx[:, None]).reshape(-1)  # |i><j| at i + big j, j-major
        superop = prop[np.ix_(vec, vec)]
    target = jnp.asarray(target, jnp.complex128)
    ideal = jnp.kron(target.conj(), target)
    f_pro = jnp.real(jnp.trace(ideal.conj().T @ superop)) / d**2
    identity = jnp.eye(d, dtype=jnp.complex128).reshape(-1, order="F")
    leakage = 1.0 - jnp.real(jnp.trace((superop @ identity).reshape(d, d, order="F"))) / d
    fidelity = (d * f_pro + 1.0 - leakage) / (d + 1)
    return GateMetrics(fidelity=fidelity, leakage=leakage)


def pair_gate_metrics(chip: Chip, schedule: Schedule, target=ECR, *, dt: float,
                      dynamics: Dynamics = Open(), solver: Solver = ExactSteps()) -> GateMetrics:
    """Average gate fidelity and leakage of `schedule` on a two-transmon `chip` as `target`."""
    if chip.n_qubits != 2:
        raise DeviceModelError(f"Argument `chip` must hold a pair (2 transmons), but holds {chip.n_qubits}.")
    prop = propagator(chip, schedule, dt=dt, dynamics=dynamics, solver=solver)
    return channel_metrics(prop, target, chip.n_levels, dynamics)


def pair_coherence_limit(duration, t1, t2) -> jax.Array:
    """Average gate error of an otherwise perfect two-qubit gate of `duration` ns: both
    qubits idle that long under their T1 and T2 (sequences of two). Process fidelities of
    independent channels multiply; each qubit's is 1 - 3/2 e_q with e_q its one-qubit limit."""
    t1, t2 = jnp.asarray(t1, jnp.float64), jnp.asarray(t2, jnp.float64)
    f_pro = jnp.prod(1.0 - 1.5 * coherence_limit(duration, t1, t2))
    return 1.0 - (4.0 * f_pro + 1.0) / 5.0


_PAULI = {"I": np.eye(2), "X": _X, "Y": np.array([[0, -1j], [1j, 0]]), "Z": _Z}


def cr_rates(chip: Chip, control_frequency: float, target_frequency: float, amp: float,
             angle: float = 0.0) -> dict[str, float]:
    """Pauli rates nu_P [GHz] of H_eff = sum_P nu_P P / 2 on (control, target) under a held CR
    tone (crosstalk included): what CR tomography measures after adiabatic ramps.

    In the common frame at the tone's (the target's) carrier the driven pair is static, and
    its effective Hamiltonian is exact by block-diagonalisation (least action, as in Magesan &
    Gambetta, PRB 101, 052308) into the blocks {|k0>, |k1>} of each control state k: the target
    is driven resonantly, so its two states mix inside a block, while the tone's direct drive
    of the far-detuned control couples the blocks only virtually. For each block, the two
    eigenvectors with the largest weight in it, mapped back by the closest unitary to their
    overlaps with it. The control's carrier only adds ZI, which is left out; the rates are
    those in the control's own frame as well (they are diagonal in the control)."""
    if chip.n_qubits != 2:
        raise DeviceModelError(f"Argument `chip` must hold a pair (2 transmons), but holds {chip.n_qubits}.")
    from devices import hamiltonian

    common = jnp.full((3,), target_frequency, jnp.float64)
    tone = jnp.zeros((3, 1), jnp.complex128).at[CR_TONE, 0].set(amp * jnp.exp(1j * angle))
    coefficients = hamiltonian.control_coefficients(chip, common, tone, jnp.zeros((1,)), PAIR_LINES)[:, 0]
    ops = hamiltonian.control_operators(chip.n_qubits, chip.n_levels)
    h = np.asarray(hamiltonian.static_hamiltonian(chip, common[:2])) + np.einsum("k,kij->ij", np.asarray(coefficients), ops)
    energies, vectors = np.linalg.eigh(h)
    idx = computational_indices(chip.n_levels)
    h_eff = np.zeros((4, 4), complex)
    taken: set[int] = set()
    for k in (0, 1):
        block = idx[2 * k:2 * k + 2]
        weight = np.sum(np.abs(vectors[block, :]) ** 2, axis=0)
        chosen = [int(j) for j in np.argsort(weight)[::-1][:2]]
        if taken & set(chosen) or weight[chosen].min() < 0.5:
            raise DeviceModelError("cr_rates: the control's states are not separable under this tone "
                                   f"(block weights {weight[chosen].round(3).tolist()}): a collision.")
        taken |= set(chosen)
        w, _, vh = np.linalg.svd(vectors[np.ix_(block, chosen)])
        u = w @ vh  # the closest unitary to the overlaps
        h_eff[2 * k:2 * k + 2, 2 * k:2 * k + 2] = u @ np.diag(energies[chosen]) @ u.conj().T
    return {(a + b).lower(): float(np.real(np.trace(np.kron(_PAULI[a], _PAULI[b]) @ h_eff)) / 2)
            for a in "IZ" for b in "IXYZ" if a + b not in ("II", "ZI")}
