"""Every conversion between this toolkit's units and frames and qibolab's, in one place.

Toolkit (devices/pulses.py, devices/hamiltonian.py)      qibolab 0.2 (its emulator is the model)
-------------------------------------------------------  ---------------------------------------------
frequencies in GHz                                        frequencies in Hz
times in ns, AWG sample time dt [ns]                      times in ns, sampling rate [GSps] = 1 / dt
pulse amplitude: fraction of the AWG's full scale         Pulse.amplitude: fraction of the channel's
                                                          full scale (the same number, scale 1)
complex envelope s(t), lab drive Re[s e^{i 2 pi f t}]     I and Q envelopes, lab drive
                                                          cos(2 pi f t + phi) I + sin(2 pi f t + phi) Q
                                                          = Re[(I - iQ) e^{i (2 pi f t + phi)}]
ShiftPhase(theta): later pulses times e^{i theta}         VirtualZ(phase): phi of later pulses += phase
drive_scale: Rabi frequency per unit amplitude [GHz]      drive-emulator rabi_frequency [Hz]

Envelope. qibolab's lab drive is Re[(I - iQ) e^{i(2 pi f t + phi)}], so the toolkit envelope of a
qibolab pulse is s = (I - iQ) e^{i phi}: the quadrature changes sign, s = I - iQ. Both hold each
sample over one AWG period: the toolkit evaluates sample k at (k + 1/2) dt and holds it over
[k dt, (k + 1) dt); qibolab's emulator plays sample floor(t / dt) at time t, the same hold.
So a toolkit pulse plays exactly as `Custom(i_=Re s, q_=-Im s)` with amplitude 1.

Coupling. The emulator drives the charge quadrature -i(a - a^dag) rather than (a + a^dag): in the
frame of the carrier this is the toolkit's (s a + s* a^dag)/2 with a -> -i a, a fixed basis change
(|n> -> i^n |n>) that commutes with the static Hamiltonian and the dissipators and leaves every
population unchanged. Hence no extra phase, and:

Virtual Z. With s = (I - iQ) e^{i phi}, adding `phase` to phi multiplies every later envelope by
e^{i phase}: exactly ShiftPhase(phase). VirtualZ(phase=theta) = ShiftPhase(theta), same sign.
(qibolab's own compiler writes the gate RZ(theta) as VirtualZ(-theta): in qibolab's Bloch frame,
the mirror image of the toolkit's through the conjugated quadrature, that is the same rotation
the toolkit's ShiftPhase(theta), i.e. Rz(theta), is in its own.)

Frequency. Both rotate at the carrier: the qubit sees (f01 - f_carrier) n in either, so a carrier
f GHz is a channel frequency f * 1e9 Hz, no sign flip.

Drive scale. The emulator's drive term is 2 pi rabi_frequency (I cos + Q sin)(...), which in the
rotating frame is the toolkit's drive_scale/2 (s a + s* a^dag) with drive_scale = rabi_frequency
* 1e-9 GHz per unit amplitude. A platform's RX native gate is a pi rotation by definition, so the
nominal drive scale of a real platform (no rabi_frequency) follows from it:
2 pi drive_scale A sum_k e_k dt = pi, i.e. drive_scale = 1 / (2 A dt sum_k e_k).
"""

from __future__ import annotations

import math

import numpy as np

GHZ_PER_HZ = 1e-9


def hz(ghz: float) -> float:
    """A frequency in GHz as qibolab's Hz."""
    return float(ghz) / GHZ_PER_HZ


def ghz(hz_value: float) -> float:
    """A qibolab frequency in Hz as GHz."""
    return float(hz_value) * GHZ_PER_HZ


def dt_of(sampling_rate: float) -> float:
    """The AWG sample time [ns] of a qibolab sampling rate [GSps]."""
    if not (isinstance(sampling_rate, (int, float)) and math.isfinite(sampling_rate) and sampling_rate > 0):
        raise ValueError(f"The platform's sampling_rate is {sampling_rate!r} GSps, but must be a number > 0.")
    return 1.0 / float(sampling_rate)


def iq_of(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """qibolab's (I, Q) envelopes of toolkit complex samples: I = Re s, Q = -Im s."""
    s = np.asarray(samples, dtype=complex)
    return np.ascontiguousarray(s.real, dtype=float), np.ascontiguousarray(-s.imag, dtype=float)


def samples_of(i: np.ndarray, q: np.ndarray, relative_phase: float = 0.0) -> np.ndarray:
    """The toolkit's complex samples of qibolab envelopes played with `relative_phase`:
    s = (I - iQ) e^{i relative_phase}. The inverse of `iq_of` (at relative phase 0)."""
    return (np.asarray(i, dtype=float) - 1j * np.asarray(q, dtype=float)) * np.exp(1j * relative_phase)


def virtual_z_phase(shift_phase: float) -> float:
    """qibolab's VirtualZ phase for the toolkit's ShiftPhase(shift_phase): the same number."""
    return float(shift_phase)


def pulse_duration(n_samples: int, sampling_rate: float) -> float:
    """qibolab's duration [ns] of `n_samples` samples: qibolab counts int(duration * rate)
    samples, so the float is nudged up until that count is exact (1/3 ns grids and the like)."""
    duration = n_samples / sampling_rate
    while int(duration * sampling_rate) < n_samples:
        duration = math.nextafter(duration, math.inf)
    return duration


def drive_scale_from_pi_pulse(amplitude: float, envelope_i: np.ndarray, dt: float) -> float:
    """Rabi frequency per unit amplitude [GHz] that makes a pi pulse of the in-phase envelope
    samples `envelope_i` (unit peak) played at `amplitude`: 1 / (2 |A| dt sum_k e_k)."""
    area = abs(float(amplitude)) * dt * float(np.sum(envelope_i))
    if not area > 0:
        raise ValueError(f"The RX native gate has in-phase area {area!r} ns (amplitude {amplitude!r}): "
                         "a pi pulse needs a nonzero area to give the drive scale.")
    return 1.0 / (2.0 * area)
