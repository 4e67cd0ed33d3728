"""Plots of IQ datasets: single-shot scatters with the discriminator's boundary, swept IQ
datasets as the prepared states' mean IQ points, checked in the figure and in the written page."""

from __future__ import annotations

import base64
import gzip
import json
import re

import numpy as np
import pytest
import xarray as xr
from bokeh.models import GlyphRenderer

from devices.catalog import load_spec
from devices.simulated import SimulatedDevice
from experiments.base import run_experiment
from experiments.library.single_shot import SingleShot
from experiments.plotting import MAX_IQ_POINTS, decision_boundary, plot_figure, subsample, write_plot
from experiments.results import Estimate, FitResult, Verdict
from support.readout_truth import truth_calibration

QUBIT = 3  # not the first index: the plot must select the result's qubit by label


def _result(experiment: str = "single_shot", curve: xr.Dataset | None = None, **values: float) -> FitResult:
    return FitResult(experiment=experiment, qubit=QUBIT, values={k: Estimate(v, 0.01, "") for k, v in values.items()},
                     reduced_chi2=float("nan"), verdict=Verdict.GOOD, reason="", curve=curve)


def _single_shot(shots: int, seed: int = 1) -> xr.Dataset:
    """Blobs at (0, 0) for |0> and (2, 1) for |1>, next to another qubit's noise."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [2.0, 1.0]])
    iq = centres[:, None, None, :] + 0.3 * rng.standard_normal((2, shots, 2, 2))
    return xr.Dataset({"iq": (("prepared", "shot", "qubit", "quadrature"), iq)},
                      coords={"prepared": [0, 1], "qubit": [0, QUBIT], "quadrature": ["I", "Q"]})


def _swept(x: np.ndarray, mean0: np.ndarray, mean1: np.ndarray, shots: int = 4) -> xr.Dataset:
    """IQ points (amplitude, prepared, shot, qubit, quadrature), every shot at its state's mean."""
    means = np.stack([mean0, mean1], axis=1)  # (amplitude, prepared, 2)
    iq = np.broadcast_to(means[:, :, None, None, :], (len(x), 2, shots, 1, 2))
    return xr.Dataset({"iq": (("amplitude", "prepared", "shot", "qubit", "quadrature"), iq.copy())},
                      coords={"amplitude": ("amplitude", x, {"units": ""}), "prepared": [0, 1], "qubit": [QUBIT],
                              "quadrature": ["I", "Q"]})


def _renderer(fig, name: str) -> dict[str, np.ndarray]:
    found = [g for g in fig.select(GlyphRenderer) if g.name == name]
    assert len(found) == 1, [g.name for g in fig.select(GlyphRenderer)]
    return {k: np.asarray(v) for k, v in found[0].data_source.data.items()}


def _page_sources(html: str) -> dict[str, dict[str, np.ndarray]]:
    """The named renderers' data as the page embeds it (gzipped base64 float arrays)."""
    match = re.search(r'<script type="application/json" id="[^"]*">\s*(.*?)\s*</script>', html, re.S)
    sources = {}

    def array(value):
        raw = base64.b64decode(value["array"]["data"])
        return np.frombuffer(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw, dtype=value["dtype"])

    def walk(node):
        if isinstance(node, dict):
            attributes = node.get("attributes", {})
            if node.get("name") == "GlyphRenderer" and attributes.get("name"):
                data = attributes["data_source"]["attributes"]["data"]["entries"]
                sources[attributes["name"]] = {k: array(v) for k, v in data}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(match.group(1)))
    return sources


def test_subsample_keeps_at_most_the_limit_evenly_spaced_and_all_of_a_small_set():
    points = np.arange(10_000)
    shown = subsample(points)
    assert len(shown) == MAX_IQ_POINTS and len(set(shown.tolist())) == MAX_IQ_POINTS
    np.testing.assert_array_equal(np.diff(shown), 5)
    np.testing.assert_array_equal(subsample(points[:1500]), points[:1500])


def test_a_single_shot_plot_draws_each_states_points_and_the_fitted_boundary():
    ds = _single_shot(shots=5000)
    angle, threshold = float(np.arctan2(1.0, 2.0)), 1.1  # perpendicular to the blobs' axis, between them
    fig = plot_figure(ds, _result(readout_angle=angle, readout_threshold=threshold))
    points = ds["iq"].sel(qubit=QUBIT).values
    for state in (0, 1):
        drawn = _renderer(fig, f"prepared {state}")
        assert len(drawn["x"]) == MAX_IQ_POINTS
        np.testing.assert_array_equal(np.stack([drawn["x"], drawn["y"]], axis=1), subsample(points[state]))
    ends = _renderer(fig, "decision boundary")
    np.testing.assert_allclose(ends["x"] * np.cos(angle) + ends["y"] * np.sin(angle), threshold, atol=1e-12)
    # it spans the points along the boundary's direction, and a tenth more on each side
    along = points.reshape(-1, 2) @ np.array([-np.sin(angle), np.cos(angle)])
    reach = -ends["x"] * np.sin(angle) + ends["y"] * np.cos(angle)
    pad = 0.1 * np.ptp(along)
    np.testing.assert_allclose(np.sort(reach), [along.min() - pad, along.max() + pad], atol=1e-12)


def test_the_written_page_embeds_the_subsampled_points_and_the_boundary(tmp_path):
    ds = _single_shot(shots=2500)
    path = write_plot(ds, _result(readout_angle=0.0, readout_threshold=1.0), tmp_path / "iq" / "single_shot.html")
    sources = _page_sources(path.read_text())
    assert set(sources) == {"prepared 0", "prepared 1", "decision boundary"}
    points = ds["iq"].sel(qubit=QUBIT).values
    for state in (0, 1):
        np.testing.assert_array_equal(sources[f"prepared {state}"]["x"], subsample(points[state])[:, 0])
    np.testing.assert_allclose(sources["decision boundary"]["x"], [1.0, 1.0], atol=1e-12)  # the line I = 1
    q = points[..., 1]
    pad = 0.1 * np.ptp(q)
    np.testing.assert_allclose(sorted(sources["decision boundary"]["y"]), [q.min() - pad, q.max() + pad], atol=1e-12)


def test_no_boundary_without_a_fitted_discriminator():
    ds = _single_shot(shots=100)
    for result in (_result(readout_angle=float("nan"), readout_threshold=float("nan")), _result(p01=0.02)):
        names = {g.name for g in plot_figure(ds, result).select(GlyphRenderer)}
        assert names == {"prepared 0", "prepared 1"}
    assert decision_boundary(float("nan"), 1.0, np.zeros((3, 2))) is None


def test_a_swept_plot_draws_the_mean_iq_and_the_states_distance_against_the_sweep():
    x = np.array([0.4, 0.1, 0.2])  # unsorted: lines go along the sweep
    mean0 = np.stack([x, np.zeros(3)], axis=1)
    mean1 = np.stack([x, 3 * x], axis=1)
    fig = plot_figure(_swept(x, mean0, mean1), _result("readout_amplitude", readout_angle=0.3, readout_threshold=0.1))
    order = np.argsort(x)
    for name, y in (("|mean IQ| prepared 0", x), ("|mean IQ| prepared 1", np.hypot(x, 3 * x)),
                    ("distance prepared 0 to 1", 3 * x)):
        drawn = _renderer(fig, name)
        np.testing.assert_array_equal(drawn["x"], x[order])
        np.testing.assert_allclose(drawn["y"], y[order], rtol=1e-12)
    assert "decision boundary" not in {g.name for g in fig.select(GlyphRenderer)}  # one per amplitude: not drawn


def test_a_swept_plot_draws_a_fit_curve_on_its_sweep():
    x = np.linspace(0.1, 0.5, 5)
    mean = np.stack([x, x], axis=1)
    curve = xr.Dataset({"fit": (("amplitude",), 2 * x)}, coords={"amplitude": x})
    fit = _renderer(plot_figure(_swept(x, mean, mean), _result("resonator_spectroscopy", curve=curve)), "fit")
    np.testing.assert_array_equal(fit["y"], 2 * x)


def test_an_iq_dataset_with_two_sweeps_is_refused_clearly():
    ds = _swept(np.array([0.1, 0.2]), np.zeros((2, 2)), np.ones((2, 2))).expand_dims(repeat=[0, 1])
    with pytest.raises(ValueError, match=r"sweeps \['repeat', 'amplitude'\] besides `prepared`"):
        plot_figure(ds, _result())


def test_a_real_single_shot_dataset_plots_with_a_boundary_between_the_states():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=41)
    ds = run_experiment(SingleShot(qubit=QUBIT), device, {QUBIT: truth_calibration(spec, device, QUBIT)},
                        shots=2400, seed=41)
    result = SingleShot(qubit=QUBIT).analyze(ds)
    assert result.good, result.reason
    fig = plot_figure(ds, result)
    angle, threshold = result["readout_angle"].value, result["readout_threshold"].value
    for state in (0, 1):
        drawn = _renderer(fig, f"prepared {state}")
        assert len(drawn["x"]) == MAX_IQ_POINTS
        # most of each state's drawn shots lie on its side of the drawn boundary
        reads_one = drawn["x"] * np.cos(angle) + drawn["y"] * np.sin(angle) > threshold
        assert np.mean(reads_one == bool(state)) > 0.8
    ends = _renderer(fig, "decision boundary")
    np.testing.assert_allclose(ends["x"] * np.cos(angle) + ends["y"] * np.sin(angle), threshold, rtol=1e-9)
