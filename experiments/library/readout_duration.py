"""Readout duration: the readout pulse duration whose single-shot assignment fidelity is highest.

A longer pulse averages the amplifier noise down, so the |0> and |1> IQ blobs' separation over
their width grows as sqrt(duration), and the resonator's ring-up (a time 1 / (pi linewidth),
160 ns at 2 MHz) costs a smaller share of the contrast; but the transmon decays at T1 during
the readout, and a shot of |1> that decays mid-way lands between the blobs, a share that grows
with the duration (devices/readout.py). The assignment fidelity rises steeply, peaks and
declines slowly. At each duration, at the calibrated readout frequency and amplitude, the qubit
is prepared in |0> and |1> and read as IQ points, as `single_shot` does.

How it runs and how it is analysed: as every readout-pulse sweep (experiments/library/
readout_sweep.py): one device call, held-out single-shot fidelities on one half of the shots
choose the duration, whose fidelity and discriminator are reported from the other half.

Which duration: the middle (the median, a tie to the longer) of those the data cannot tell
from the best (fidelity within one combined stderr of it), not the best itself. The top is
broad, a slow decline at T1 on the long side (on sim-5q, 30 % longer than the optimum costs
0.1 % of fidelity, about one stderr at 6000 shots), so several durations read alike and the
largest of them lands anywhere on the plateau. Over 160 sim-5q cases (32 qubits, each at its
calibrated amplitude and the design's; 6000 shots) the middle fell short of the model's best by
0.03 % on average, 0.12 % at the 98th percentile, more than 0.2 % once; the largest by 0.05 %,
0.20 %, 4 times (on a 16-point sweep, up to 0.38 %). A tie goes to the longer duration because
the curve falls more slowly that way (30 % shorter costs 0.2 %).

Its stderr is the half-width of those same durations, each end widened by half the gap to the
next duration swept (the optimum may lie anywhere between two swept points), so the value sits
inside the interval its stderr describes; it covered the model's best within one stderr on
86 % of the study's cases. Half a grid step alone would claim too much where two or three
durations read alike; the gap between the durations the two halves would choose is one draw
of a discrete choice, most often 0.

Durations are whole ns: a readout pulse of any duration > 0 plays (`ReadoutPulse`), and
whole ns keep the stored value and the dataset's coordinate exact.

BAD when no duration tells the states apart, and when the best or the chosen is the shortest
or the longest swept: an edge is a failure, not a warning, because the optimum may then lie
outside the sweep and the stderr, which says where it lies, could not (a GOOD result is
stored by a calibration graph, a BAD one sends it to diagnose the nodes before). A best
at the longest is the usual sign that the amplitude is low or the frequency off the resonator
(the blobs barely separate, so only more time helps): a failure to look into, not a value to
store. What was found is still reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.library.readout_sweep import ReadoutPulseSweep, alike, checked_sweep

UNITS = {"readout_duration": "ns", "assignment_fidelity": "", "readout_angle": "rad", "readout_threshold": ""}

# Geometric: the separation grows as sqrt(duration) and the decay's share as the duration, so a
# step of a fixed ratio costs alike wherever T1 and the photon numbers put the optimum. On
# sim-5q (T1 65-95 us, a 2 MHz linewidth) the optimum lies at 0.8-1.4 us at the calibrated
# amplitude and at 2-3.3 us at the design's (0.3); 200 ns (ring-up dominated) to 4 us brackets
# both. 20 points (steps of 17 %, as readout_amplitude's): in the study above, 4 of 160 cases
# were BAD at the edge, each with its optimum beyond 4 us; 16 points (22 % steps) put the best
# of 2 more on the edge by noise, 12 points up to 3 us (23 % steps) 26 or more of the 160.
DEFAULT_DURATIONS = tuple(float(round(d)) for d in np.geomspace(200.0, 4000.0, 20))


@dataclass(frozen=True)
class ReadoutDuration(ReadoutPulseSweep):
    """Single-shot readout of |0> and |1> at each of `durations` (whole ns > 0)."""

    name = "readout_duration"
    summary = "Readout duration sweep: the duration with the best single-shot assignment fidelity"
    dim = "duration"
    pulse_field = "duration"
    value_name = "readout_duration"
    unit = "ns"
    units = UNITS
    below_advice = "sweep shorter ones."
    above_advice = ("sweep longer ones (if the sweep already reaches microseconds, check the readout amplitude "
                    "and frequency: the states barely separate).")

    durations: tuple[float, ...] = DEFAULT_DURATIONS

    def __post_init__(self):
        object.__setattr__(self, "durations", checked_sweep(
            "ReadoutDuration.durations", self.durations,
            "at least 3 different readout durations in whole ns > 0, e.g. (200, 300, ..., 4000)",
            lambda d: d >= 1 and float(d).is_integer()))

    def swept(self):
        return self.durations

    def choose(self, fidelity, sigma):
        # the middle of the durations the data cannot tell from the best (see the module)
        return int(np.median(alike(fidelity, sigma)) + 0.5)

    def describe(self, value):
        return f"{value:.0f} ns"
