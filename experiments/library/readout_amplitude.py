"""Readout amplitude: the readout pulse amplitude whose single-shot assignment fidelity is highest.

More amplitude separates the |0> and |1> IQ blobs further against the same amplifier noise,
until the photons it puts in the resonator approach the critical number and the readout
itself excites the transmon (devices/readout.py): the assignment fidelity rises, peaks and
falls. At each amplitude the qubit is prepared in |0> and |1> and read as IQ points, as
`single_shot` does; the amplitude with the highest held-out fidelity is chosen.

How it runs and how it is analysed: as every readout-pulse sweep (experiments/library/
readout_sweep.py): one device call, the amplitude with the best held-out single-shot fidelity
chosen, its fidelity and discriminator reported from the other half of the shots, its stderr
the half-width of the amplitudes the data cannot tell from the best. Here the curve is a slow
rise, as the blobs' separation grows with the amplitude, then a cliff, as the induced
transitions grow with its eighth power: a parabola's vertex would sit off the optimum.

BAD when no amplitude tells the states apart, and when the best amplitude is the lowest swept
or the highest swept below full scale: the optimum may then lie outside the sweep. A best at
full scale (1) is the most the AWG plays, so it is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.library.readout_sweep import ReadoutPulseSweep, checked_sweep

UNITS = {"readout_amp": "", "assignment_fidelity": "", "readout_angle": "rad", "readout_threshold": ""}

# Geometric: the blobs' separation over the noise grows as the amplitude and the induced
# transitions as its eighth power, so a step of a fixed ratio moves both by the same factor
# wherever a device's photon numbers put the optimum. 16 points (steps of 17 %) lose at most
# 0.1 % of fidelity to the grid on sim-5q's qubits (12 points, 23 % steps, lose up to 0.25 %).
DEFAULT_AMPLITUDES = tuple(round(float(a), 4) for a in np.geomspace(0.1, 1.0, 16))
FULL_SCALE = 1.0


@dataclass(frozen=True)
class ReadoutAmplitude(ReadoutPulseSweep):
    """Single-shot readout of |0> and |1> at each of `amplitudes` (of full scale, 0..1]."""

    name = "readout_amplitude"
    summary = "Readout amplitude sweep: the amplitude with the best single-shot assignment fidelity"
    dim = "amplitude"
    pulse_field = "amp"
    value_name = "readout_amp"
    unit = ""
    units = UNITS
    below_advice = "sweep lower ones."
    above_advice = f"sweep higher ones (up to {FULL_SCALE:g}, full scale)."

    amplitudes: tuple[float, ...] = DEFAULT_AMPLITUDES

    def __post_init__(self):
        object.__setattr__(self, "amplitudes", checked_sweep(
            "ReadoutAmplitude.amplitudes", self.amplitudes,
            "at least 3 different readout amplitudes in 0 < a <= 1 (of full scale), e.g. (0.2, 0.3, ..., 1.0)",
            lambda a: 0 < a <= FULL_SCALE))

    def swept(self):
        return self.amplitudes

    def at_limit(self, value):
        return value >= FULL_SCALE
