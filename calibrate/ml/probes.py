"""The learned controller's probe set, and a differentiable model of what it measures.

The probes are the twelve sequences of the closed loop's error-amplification cost (see
`calibrate.ml.closed_loop`): six pairs whose ideal P(1) are both 1/2 and whose difference
P+ - P- is, to first order, sin(N d) for the X gate's angle error d, sin(N kappa) for the
DRAG phase error kappa, and sin(2 pi df tau) for the drive detuning df. They are short
(at most ~1 us), so they are cheap in device time as well as in shots.

`probe_read_one` predicts P(read 1) of every probe for a transmon and a calibration, both
traced, so that a controller can be trained through it with `jax.grad`. It propagates the
gates with Closed (unitary) dynamics and then applies the readout assignment errors
(leaked shots read as 1, as on the simulated device). Leaving out T1 and T2 keeps training
cheap; over sequences this short they shrink the differences by 1-2 %, which the
controller's later rounds absorb. The real device, with decoherence, is what
`tests/calibrate/test_controller.py` and `bench/recalibration.py` judge the controller on.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from calibrate.ml.closed_loop import ErrorAmplificationCost, amplification_sequences
from devices.chip import Chip
from devices.options import Closed
from devices.pulses import Drag
from devices.schedule import Delay, Play, Schedule
from devices.sequences import GateSequence
from devices.simulate import ordered_product, propagator
from devices.transmon import Transmon
from experiments.calibration import QubitCalibration

MAX_PROBES = 12  # the limit on the probe set


class ProbeSet(eqx.Module):
    """The error-amplification pairs played as probes, and the shots of each probe."""

    cost: ErrorAmplificationCost = ErrorAmplificationCost()
    shots: int = 200

    def __check_init__(self):
        if not isinstance(self.cost, ErrorAmplificationCost):
            raise ValueError(f"ProbeSet.cost is {self.cost!r}, but must be an ErrorAmplificationCost.")
        if self.cost.n_sequences > MAX_PROBES:
            raise ValueError(f"ProbeSet.cost has {self.cost.n_sequences} sequences, but a probe set may hold at "
                             f"most {MAX_PROBES}.")
        if isinstance(self.shots, bool) or not isinstance(self.shots, int) or not 1 <= self.shots <= 10**6:
            raise ValueError(f"ProbeSet.shots is {self.shots!r}, but must be an integer in 1..10^6.")

    @property
    def n_probes(self) -> int:
        return self.cost.n_sequences

    @property
    def n_pairs(self) -> int:
        return self.cost.n_pairs

    def as_dict(self) -> dict:
        return {"amplitude_repetitions": list(self.cost.amplitude_repetitions),
                "drag_pairs": list(self.cost.drag_pairs),
                "ramsey_delays": list(self.cost.ramsey_delays), "shots": self.shots}

    @staticmethod
    def from_dict(d: dict) -> "ProbeSet":
        cost = ErrorAmplificationCost(amplitude_repetitions=tuple(d["amplitude_repetitions"]),
                                      drag_pairs=tuple(d["drag_pairs"]), ramsey_delays=tuple(d["ramsey_delays"]))
        return ProbeSet(cost=cost, shots=int(d["shots"]))


def probe_sequences(probes: ProbeSet, calibration: QubitCalibration) -> list[GateSequence]:
    """What the device plays: the probes for `calibration`, as (+, -) pairs."""
    return amplification_sequences(probes.cost, calibration)


@functools.lru_cache(maxsize=16)
def _layout(cost: ErrorAmplificationCost) -> tuple[np.ndarray, np.ndarray]:
    """(programs, frames): (n_probes, steps) gate indices, -1 padding the shorter probes, and
    the frame phase of each step (cumulative ShiftPhase). The layout does not depend on the
    calibration; cached, and built outside any trace, so a jitted caller sees constants."""
    start = QubitCalibration(frequency=5.0, x_amp=0.5, sx_amp=0.25, beta=0.0, duration=20.0, sigma=5.0)
    with jax.ensure_compile_time_eval():
        sequences = amplification_sequences(cost, start)
        steps = max(len(s.program) for s in sequences)
        programs = np.full((len(sequences), steps), -1)
        frames = np.zeros((len(sequences), steps))
        for i, s in enumerate(sequences):
            programs[i, :len(s.program)] = s.program
            frames[i, :len(s.program)] = np.cumsum(np.asarray(s.phases))
    return programs, frames


X_GATE = 1  # the X gate's index in a probe gate table


def probe_gate_table(probes: ProbeSet, transmon: Transmon, frequency, x_amp, sx_amp, beta, *, duration: float,
                     sigma: float, dt: float) -> jax.Array:
    """(n_gates, d, d): the probes' gate table SX, X (index X_GATE), then one idle per Ramsey
    delay: unitaries in the drive frame, differentiable in the transmon and the calibration."""
    chip = Chip([transmon])
    frequencies = jnp.reshape(frequency, (1,))

    def unitary(instruction):
        return propagator(chip, Schedule([instruction], frequencies), dt=dt, dynamics=Closed())

    gates = [unitary(Play(0, Drag(duration, amp=sx_amp, sigma=sigma, beta=beta))),
             unitary(Play(0, Drag(duration, amp=x_amp, sigma=sigma, beta=beta)))]
    gates += [unitary(Delay(None, tau)) for tau in probes.cost.ramsey_delays]
    return jnp.stack(gates)


def probe_read_one(probes: ProbeSet, transmon: Transmon, frequency, x_amp, sx_amp, beta, *,
                   duration: float, sigma: float, dt: float) -> jax.Array:
    """(n_probes,) P(read 1) of each probe, differentiable in the transmon and the calibration."""
    table = probe_gate_table(probes, transmon, frequency, x_amp, sx_amp, beta, duration=duration, sigma=sigma, dt=dt)
    return read_one_from_table(probes, transmon, table)


def read_one_from_table(probes: ProbeSet, transmon: Transmon, table: jax.Array) -> jax.Array:
    """(n_probes,) P(read 1) of each probe played with the gates of `table` (probe_gate_table):
    leaked shots read as 1, as on the simulated device."""
    steps = _step_unitaries(table, *_layout(probes.cost))
    # every probe starts in |0>: its final state is the first column of its steps' product,
    # taken by pairwise products (log2(steps) rounds) rather than a scan over the steps
    psi = ordered_product(jnp.moveaxis(steps, 1, 0))[..., 0]
    pops = jnp.abs(psi) ** 2
    return transmon.readout_p01 * pops[:, 0] + (1.0 - transmon.readout_p10) * jnp.sum(pops[:, 1:], axis=-1)


def _step_unitaries(table: jax.Array, programs: np.ndarray, frames: np.ndarray) -> jax.Array:
    """(n_probes, steps, d, d): each step's gate in the frame of its cumulative phase, the
    identity where a probe is padded. A pulse after ShiftPhase(phi) acts as R U R^dag with
    R = exp(-i phi n). The layout is constant, so the rotations are too."""
    d = table.shape[-1]
    one_hot = (programs[..., None] == np.arange(table.shape[0])).astype(float)  # padding (-1): all zero
    r = np.exp(-1j * frames[..., None] * np.arange(d))  # (n_probes, steps, d)
    rotations = r[..., :, None] * r.conj()[..., None, :]
    gates = jnp.einsum("psg,gij->psij", one_hot, table) * rotations
    padding = (programs < 0)[..., None, None] * np.eye(d)
    return gates + padding


def pair_features(read_one: jax.Array) -> jax.Array:
    """(..., n_probes) -> (..., n_probes): each pair's difference P+ - P-, then its mean - 1/2.

    The differences carry the calibration errors; the means carry readout and leakage, by
    which the network can judge how much a difference is worth."""
    plus, minus = read_one[..., 0::2], read_one[..., 1::2]
    return jnp.concatenate([plus - minus, 0.5 * (plus + minus) - 0.5], axis=-1)


__all__ = ["MAX_PROBES", "X_GATE", "ProbeSet", "pair_features", "probe_gate_table", "probe_read_one", "probe_sequences",
           "read_one_from_table"]
