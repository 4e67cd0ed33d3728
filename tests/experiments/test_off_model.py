"""Off-model fits: devices whose transmons have 4 levels, where the analyses assume 2-3.

The device file's `[simulation] n_levels` sets the levels each simulated transmon keeps.
On 4-level sim-1q devices the whole calibration chain runs (bench/off_model.py's
`measure`: spectroscopy, Rabi, Ramsey, DRAG, fine amplitude, fine DRAG, T1, echo) and
every fitted value is compared with the truth of the 4-level chip in its reported
standard errors, z = (fit - truth) / stderr. The benchmark (32 devices) finds no mean bias
beyond 0.4 sigma on 4 levels, so no analysis carries a systematic term for the levels it
leaves out; here, on 4 devices, each mean z must stay within 3 / sqrt(4) of 0 (three
standard errors of a mean of honest z ~ N(0, 1)), far inside the 3 sigma that would call
for one. The seeds are not the benchmark's (1000 on) nor the other experiment tests' (0..19).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from devices import Chip, Drag, Open, Play, Schedule, populations
from devices.catalog import load_spec
from devices.device_spec import DeviceSpecError
from devices.simulated import SimulatedDevice

ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(500, 504)


def _bench():
    spec = importlib.util.spec_from_file_location("off_model", ROOT / "bench" / "off_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _variant(tmp_path, extra: str) -> str:
    path = tmp_path / "levels.toml"
    path.write_text((ROOT / "devices" / "catalog" / "sim-1q.toml").read_text() + extra)
    return str(path)


# --- the device file option --------------------------------------------------------------
def test_device_files_choose_the_simulated_levels(tmp_path):
    assert load_spec("sim-1q").n_levels == 3  # the default: the catalog files do not say
    spec = load_spec(_variant(tmp_path, "\n[simulation]\nn_levels = 4\n"))
    assert spec.n_levels == 4
    four, three = SimulatedDevice(spec, 7).truth(), SimulatedDevice(load_spec("sim-1q"), 7).truth()
    assert four.n_levels == 4 and three.n_levels == 3
    # the same fabricated device, only with one more level
    for name in ("frequency", "anharmonicity", "drive_scale", "t1", "t2"):
        assert float(getattr(four.transmons[0], name)) == float(getattr(three.transmons[0], name))


@pytest.mark.parametrize("extra, message", [
    ("\n[simulation]\nn_levels = 7\n", r"levels.toml: simulation\.n_levels is 7, but must be an integer in 2\.\.6"),
    ("\n[simulation]\nn_levels = 3.5\n", r"simulation\.n_levels is 3\.5, but must be an integer"),
    ("\n[simulation]\nlevels = 4\n", r"simulation has unknown key\(s\) levels; allowed: n_levels"),
])
def test_bad_level_counts_are_refused(tmp_path, extra, message):
    with pytest.raises(DeviceSpecError, match=message):
        load_spec(_variant(tmp_path, extra))


def test_the_fourth_level_is_simulated():
    """A strong, short pulse climbs the ladder: with 4 levels population reaches |3> (a
    three-photon process, ~(Omega / alpha)^6 small), and the populations of |0>, |1> move by
    far less than they do when level 2 is dropped as well."""
    spec = load_spec("sim-1q")
    transmon = SimulatedDevice(spec, 7).truth().transmons[0]
    schedule = Schedule([Play(0, Drag(6.0, amp=1.0, sigma=1.5, beta=0.0))], [float(transmon.frequency)])
    pops = {lv: np.asarray(populations(Chip([dataclasses.replace(transmon, n_levels=lv)]), schedule,
                                       dt=0.5, dynamics=Open())) for lv in (2, 3, 4)}
    assert 1e-8 < pops[4][3] < 1e-4
    assert np.sum(pops[4]) == pytest.approx(1.0, abs=1e-9)
    assert np.abs(pops[4][:2] - pops[3][:2]).max() < np.abs(pops[3][:2] - pops[2][:2]).max()


# --- the benchmark's bias figures ----------------------------------------------------------
def test_bias_summarises_z_over_devices_and_skips_bad_fits():
    bench = _bench()
    b = bench.bias(np.array([0.5, -1.5, 2.5, np.nan, 0.5]))
    assert (b.n, b.devices) == (4, 5)
    assert b.mean == pytest.approx(0.5)
    assert b.stderr == pytest.approx(np.std([0.5, -1.5, 2.5, 0.5], ddof=1) / 2)
    assert b.coverage == pytest.approx(0.5)
    assert not b.significant  # 0.5 against 3 x 0.82
    assert bench.bias(np.array([1.0, 1.1, 0.9, 1.0])).significant
    assert np.isnan(bench.bias(np.array([np.nan, 1.0])).mean)
    row = bench.Row("x_amp", "rabi", value=0.51, stderr=0.002, truth=0.5)
    assert row.z == pytest.approx(5.0)


# --- no fitted value biased on the 4-level device -------------------------------------------
@pytest.fixture(scope="module")
def four_level_rows():
    bench = _bench()
    return bench, [bench.measure(seed, 4) for seed in SEEDS]


@pytest.mark.slow
def test_no_fitted_value_is_biased_on_four_level_devices(four_level_rows):
    bench, per_device = four_level_rows
    table = bench.z_table({4: per_device})
    expected = {("frequency", "spectroscopy (coarse)"), ("frequency", "spectroscopy (fine)"),
                ("x_amp", "rabi"), ("frequency", "ramsey"), ("beta", "drag"), ("x_amp", "fine_amplitude"),
                ("beta", "fine_drag"), ("t1", "t1"), ("t2", "echo")}
    assert expected <= set(table)
    n = len(SEEDS)
    for key, by in table.items():
        z = by[4]
        assert np.all(np.isfinite(z)), f"{key}: a fit was BAD on a 4-level device: z = {z}"
        # honest errors give z ~ N(0, 1): the mean of n is within 3 / sqrt(n) of 0
        assert abs(np.mean(z)) <= 3.0 / np.sqrt(n), f"{key}: mean bias {np.mean(z):+.2f} sigma, z = {np.round(z, 2)}"
