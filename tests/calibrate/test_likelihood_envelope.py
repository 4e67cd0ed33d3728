"""The envelope of a rippling likelihood (calibrate.ml.information), against analytic NLLs.

A parabola of standard error 1 with a ripple of amplitude 2 and period 0.05 is what
randomized-benchmarking sequences do to the anharmonicity's NLL (ripple period tens of kHz,
DRAG data's well 0.3 MHz wide): one-step curvatures see the ripple; the envelope must see the well.
"""

from __future__ import annotations

import numpy as np
import pytest

from calibrate.ml.information import envelope, rippled, secant_information


def rippling(phase: float):
    return lambda x: 0.5 * (x[0] - 0.3) ** 2 + 2.0 * np.sin(2 * np.pi * x[0] / 0.05 + phase) + 50.0 * x[1] ** 2


def test_a_one_step_curvature_measures_the_ripple_and_is_flagged():
    nll = rippling(1.0)
    x = np.array([1.0, 0.0])
    steps = np.array([0.005, 0.1])  # the first about the ripple's own standard error
    curvature = secant_information(nll, x, [0, 1], steps)
    assert abs(curvature[0, 0]) > 100.0  # not the well's 1
    assert curvature[1, 1] == pytest.approx(100.0)
    assert rippled(nll, x, [0, 1], steps, curvature, np.array([np.inf, np.inf])) == [0]


def test_a_parabola_is_not_rippled_and_its_envelope_is_itself():
    def nll(x):
        return 0.5 * (x[0] - 0.3) ** 2 / 0.04

    x = np.array([1.0])
    curvature = secant_information(nll, x, [0], np.array([0.2]))
    assert rippled(nll, x, [0], np.array([0.2]), curvature, np.array([np.inf])) == []
    move, c = envelope(lambda d: nll(x + d), 0.001)
    assert move == pytest.approx(-0.7) and c == pytest.approx(25.0)


@pytest.mark.parametrize("phase", np.linspace(0.0, 2 * np.pi, 8, endpoint=False))
def test_the_envelope_finds_the_well_under_the_ripple(phase):
    nll = rippling(phase)
    x = np.array([1.0, 0.0])
    move, c = envelope(lambda d: nll(x + np.array([d, 0.0])), 0.05)
    assert abs(move + 0.7) < 0.35  # the well's minimum, 0.7 away, within a third of its standard error
    assert 0.7 < 1.0 / np.sqrt(c) < 1.4  # its standard error 1, not the ripple's 0.004


def test_no_well_within_reach_is_none_or_as_wide_as_the_reach():
    assert envelope(lambda d: -d ** 2, 0.1) is None
    found = envelope(lambda d: np.sin(d / 0.01), 0.05, bound=1.0)  # ripple alone: nothing pins it down
    assert found is None or 1.0 / np.sqrt(found[1]) >= 0.25, found
