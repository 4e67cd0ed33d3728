"""Readout on the dashboard: the assignment fidelity over time with its stderr, the newest
assignment matrix of each qubit, and the newest single-shot IQ points with the stored boundary,
read from a store that the readout graph's discriminator node could have written; a missing
dataset is a note; a store without readout values gets no readout panels until one comes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from bokeh.document.events import ColumnsStreamedEvent, ModelChangedEvent
from synthetic_history import History, write_history
from test_dashboard_session import open_session

from calibrate.store import Store
from dashboards.data import StoreReader
from dashboards.readout import FIDELITY, IQ_PANEL, MAX_IQ_POINTS, STATE_COLOURS, iq_blobs
from dashboards.report import choose_run, report_layout
from experiments.base import SCHEMA_VERSION
from experiments.storage import save_dataset

HISTORY = History(devices=1, qubits_per_device=2, nights=2)
DEVICE = HISTORY.device(0)
SHOTS = 2500  # more than MAX_IQ_POINTS: the panel shows a spread of them
QUBITS = [0, 3]  # the dataset's qubits: the panel must pick its own
# what the discriminator node stores, per update: assignment_fidelity is 1 - (p01 + p10) / 2
FIRST = {"assignment_fidelity": (0.95, 0.004, ""), "readout_p01": (0.03, 0.003, ""), "readout_p10": (0.07, 0.005, ""),
         "readout_angle": (1.5, 0.01, "rad"), "readout_threshold": (0.1, 0.02, "")}
SECOND = {"assignment_fidelity": (0.9625, 0.003, ""), "readout_p01": (0.02, 0.002, ""),
          "readout_p10": (0.055, 0.004, ""), "readout_angle": (1.52, 0.01, "rad"),
          "readout_threshold": (0.12, 0.02, "")}
OTHER = {"assignment_fidelity": (0.9, 0.01, ""), "readout_p01": (0.05, 0.004, ""), "readout_p10": (0.15, 0.007, ""),
         "readout_angle": (0.3, 0.02, "rad"), "readout_threshold": (-0.2, 0.03, "")}


def iq_points(seed: int = 7) -> np.ndarray:
    """(prepared, shot, qubit, quadrature): blobs at Q = -1 and +1, the second qubit's 10 to the right."""
    rng = np.random.default_rng(seed)
    centres = np.array([[[1.0, -1.0], [11.0, -1.0]], [[1.0, 1.0], [11.0, 1.0]]])  # (prepared, qubit, quadrature)
    return centres[:, None] + 0.3 * rng.standard_normal((2, SHOTS, len(QUBITS), 2))


def write_iq_dataset(path, points: np.ndarray) -> str:
    """A single-shot dataset as run_experiment lays one out and experiments/storage.py writes it."""
    ds = xr.Dataset({"iq": (("prepared", "shot", "qubit", "quadrature"), points)},
                    coords={"prepared": ("prepared", [0, 1], {"units": ""}), "qubit": ("qubit", QUBITS),
                            "quadrature": ("quadrature", ["I", "Q"])},
                    attrs={"experiment": "single_shot", "options": json.dumps({"qubit": 0}), "device": DEVICE,
                           "device_clock_s": 0.0, "shots": SHOTS, "dt_ns": 0.5, "calibration": "{}",
                           "schema_version": SCHEMA_VERSION})
    return str(save_dataset(ds, path))


def discriminator_run(url: str, qubit: int, values: dict, dataset_path: str | None, device: str = DEVICE) -> None:
    """One run whose discriminator node calibrates `qubit`, as calibrate.run records it."""
    with Store.open(url) as store:
        run = store.start_run(device, command="run", qubits=[qubit])
        store.record_node(run, device=device, qubit=qubit, node="discriminator", action="calibrate",
                          outcome="calibrated", reason="no value yet", experiment="single_shot", device_time_s=1.0,
                          shots=2 * SHOTS, dataset_path=dataset_path, values=values)
        store.finish_run(run, status="ok", shots=2 * SHOTS, seconds=1.0, summary={})


@pytest.fixture(scope="module")
def readout_store(tmp_path_factory) -> tuple[str, np.ndarray]:
    """Two nights of history, then q0's discriminator twice (the second with a dataset), then q1's
    with a dataset that is gone."""
    folder = tmp_path_factory.mktemp("readout")
    url = f"sqlite:///{folder / 'store.sqlite'}"
    write_history(url, HISTORY)
    points = iq_points()
    discriminator_run(url, 0, FIRST, None)
    discriminator_run(url, 0, SECOND, write_iq_dataset(folder / "q0-single_shot.nc", points))
    discriminator_run(url, 1, OTHER, str(folder / "gone.nc"))
    return url, points


def fidelity_series(panel, label: str) -> dict[str, list[float]]:
    data = panel.points.data
    return {c: [float(v) for s, v in zip(data["series"], data[c]) if s == label]
            for c in ("value", "stderr", "low", "high")}


def expected_shots(points: np.ndarray, qubit_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(I, Q) of the spread of shots the panel should draw: prepared 0's, then prepared 1's."""
    keep = np.arange(MAX_IQ_POINTS) * SHOTS // MAX_IQ_POINTS
    shown = points[:, keep, qubit_index]
    return shown[..., 0].ravel(), shown[..., 1].ravel()


def check_boundary(boundary: dict, angle: float, threshold: float, i: np.ndarray, q: np.ndarray) -> None:
    """The two ends lie on I cos(a) + Q sin(a) = t and reach a tenth past the points along it."""
    ends_i, ends_q = np.array(boundary["i"]), np.array(boundary["q"])
    assert ends_i * np.cos(angle) + ends_q * np.sin(angle) == pytest.approx([threshold] * 2, abs=1e-12)
    along = np.array([-np.sin(angle), np.cos(angle)])
    reach = i * along[0] + q * along[1]
    span = reach.max() - reach.min()
    assert sorted(ends_i * along[0] + ends_q * along[1]) == pytest.approx(
        [reach.min() - 0.1 * span, reach.max() + 0.1 * span], rel=1e-12)


def test_the_session_shows_the_fidelity_the_matrices_and_the_newest_iq_points(readout_store):
    url, points = readout_store
    reader, session, doc = open_session(url)
    try:
        doc.to_json()
        readout = session.readout
        q0, q1 = f"{DEVICE} q0", f"{DEVICE} q1"
        # the fidelity over time with its stderr bars, on the history's time axis, colours and choice
        expected = {"value": [0.95, 0.9625], "stderr": [0.004, 0.003], "low": [0.946, 0.9595], "high": [0.954, 0.9655]}
        for column, values in fidelity_series(readout.fidelity, q0).items():
            assert values == pytest.approx(expected[column], rel=1e-12), column
        assert fidelity_series(readout.fidelity, q1)["value"] == [0.9]
        assert readout.fidelity.fig.x_range is session.history.time_range
        assert doc.get_model_by_name(FIDELITY) is readout.fidelity.points
        # the newest p01 and p10 of each qubit as P(read j | prepared i)
        matrices = {key.label: np.array(matrix) for key, matrix in readout.newest_matrices().items()}
        assert matrices.keys() == {q0, q1}
        np.testing.assert_allclose(matrices[q0], [[0.98, 0.02], [0.055, 0.945]], rtol=1e-12)
        np.testing.assert_allclose(matrices[q1], [[0.95, 0.05], [0.15, 0.85]], rtol=1e-12)
        text = readout.matrices.text
        assert "F = 0.9625 ± 0.0030" in text and "<td>0.9800</td><td>0.0200</td>" in text
        assert "<td>0.0550</td><td>0.9450</td>" in text and "<td>0.1500</td><td>0.8500</td>" in text
        # the qubits' choice applies to the matrices too
        session.qubits.value = [q1]
        assert q1 in readout.matrices.text and q0 not in readout.matrices.text
        session.qubits.value = [q0, q1]

        # at first the qubit of the newest dataset, q1's, which is gone: a note, no points, no crash
        panel = readout.iq[None]
        assert readout.iq_choice.options == [q0, q1] and readout.iq_choice.value == q1
        assert "gone.nc does not exist" in panel.note.text
        assert panel.points.data["i"] == [] and panel.boundary.data["i"] == []
        # q0's newest dataset: a spread of 2000 of its 2500 shots per state, its own qubit's, with the
        # boundary its newest stored angle and threshold make
        readout.iq_choice.value = q0
        i, q = expected_shots(points, QUBITS.index(0))
        assert list(panel.points.data["i"]) == list(i) and list(panel.points.data["q"]) == list(q)
        assert panel.points.data["colour"] == [STATE_COLOURS[0]] * MAX_IQ_POINTS + [STATE_COLOURS[1]] * MAX_IQ_POINTS
        assert panel.points.data["label"][0] == "prepared 0" and panel.points.data["label"][-1] == "prepared 1"
        check_boundary(panel.boundary.data, 1.52, 0.12, i, q)
        assert panel.note.text.startswith(f"{MAX_IQ_POINTS} of {SHOTS} shots of each prepared state")
        assert "a = 1.52 rad, t = 0.12" in panel.note.text
        assert panel.figure.title.text == f"IQ points: {q0}, newest single-shot dataset"

        # the nodes table's dataset panel names what a single-shot dataset holds instead of failing on it
        row = session._node_index[(DEVICE, 0, "discriminator")]
        session.nodes.selected.indices = [row]
        assert "single_shot on qubit 0" in session.dataset_note.text
        assert "IQ points per shot" in session.dataset_note.text and session.points.data["x"] == []
    finally:
        reader.close()


def test_iq_blobs_of_files_that_are_no_single_shot_dataset(tmp_path):
    points = iq_points()
    broken = tmp_path / "broken.nc"
    broken.write_bytes(b"not netcdf")
    blobs = iq_blobs(str(broken), 0, angle=1.0, threshold=0.0)
    assert "cannot be read" in blobs.note and blobs.points["i"] == [] and blobs.boundary["i"] == []
    path = write_iq_dataset(tmp_path / "iq.nc", points)
    absent = iq_blobs(path, 5, angle=1.0, threshold=0.0)
    assert "holds no single-shot IQ points of qubit 5" in absent.note and absent.points["i"] == []
    # the other qubit of the same file; without a stored discriminator, no boundary
    other = iq_blobs(path, 3, angle=None, threshold=None, max_points=SHOTS)
    assert list(other.points["i"]) == list(points[:, :, 1, 0].ravel())
    assert other.boundary["i"] == [] and "No stored readout_angle and readout_threshold" in other.note


def test_without_readout_values_no_readout_panels_until_a_discriminator_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    write_history(url, HISTORY)
    reader, session, doc = open_session(url)
    try:
        assert session.readout.section is None and session.readout.fidelity is None
        assert doc.get_model_by_name("readout-panels") is None and doc.get_model_by_name(FIDELITY) is None
        events = []
        doc.on_change(lambda event: events.append(event))
        points = iq_points(seed=11)
        discriminator_run(url, 0, OTHER, write_iq_dataset(tmp_path / "q0.nc", points))
        session.refresh()
        # the panels join the page (one change of a layout's children), before their rows stream in
        assert doc.get_model_by_name("readout-panels") is session.readout.section
        changed = [i for i, e in enumerate(events) if isinstance(e, ModelChangedEvent) and e.attr == "children"]
        streams = [i for i, e in enumerate(events) if isinstance(e, ColumnsStreamedEvent) and e.model.name == FIDELITY]
        assert len(changed) == 1 and len(streams) == 1 and changed[0] < streams[0]
        assert [float(v) for v in events[streams[0]].data["value"]] == [0.9]
        assert "<td>0.9500</td><td>0.0500</td>" in session.readout.matrices.text
        panel = session.readout.iq[None]
        i, q = expected_shots(points, QUBITS.index(0))
        assert list(panel.points.data["i"]) == list(i)
        check_boundary(panel.boundary.data, 0.3, -0.2, i, q)
        events.clear()
        session.refresh()
        assert not any(isinstance(e, ColumnsStreamedEvent) for e in events), "nothing twice"
    finally:
        reader.close()


def test_the_report_has_readout_panels_with_an_iq_panel_per_qubit_only_with_readout_values(readout_store, tmp_path):
    url, points = readout_store
    with StoreReader.open(url) as reader:
        layout = report_layout(reader, choose_run(reader, None))
        assert layout.select_one({"name": "readout-panels"}) is not None
        assert list(layout.select_one({"name": FIDELITY}).data["value"]) == [0.95, 0.9625, 0.9]
        q0 = layout.select_one({"name": f"{IQ_PANEL}|{DEVICE} q0|points"})
        assert list(q0.data["i"]) == list(expected_shots(points, QUBITS.index(0))[0])
        assert "does not exist" in layout.select_one({"name": f"{IQ_PANEL}|{DEVICE} q1|note"}).text
    without = f"sqlite:///{tmp_path / 'store.sqlite'}"
    write_history(without, HISTORY)
    with StoreReader.open(without) as reader:
        assert report_layout(reader, choose_run(reader, None)).select_one({"name": "readout-panels"}) is None
