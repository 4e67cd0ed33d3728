"""NetCDF round trips are exact (complex values too); broken files are refused clearly."""

import numpy as np
import pytest
import xarray as xr

from experiments.base import SCHEMA_VERSION
from experiments.storage import DatasetFileError, load_dataset, save_dataset


def _dataset() -> xr.Dataset:
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {"counts": (("delay", "qubit"), rng.integers(0, 1000, (5, 1))),
         "probabilities": (("delay", "qubit"), rng.random((5, 1))),
         "iq": (("delay", "qubit"), rng.normal(size=(5, 1)) + 1j * rng.normal(size=(5, 1)))},
        coords={"delay": ("delay", np.linspace(0, 1e4, 5), {"units": "ns"}), "qubit": [0]},
        attrs={"experiment": "t1", "options": '{"points": 5}', "schema_version": SCHEMA_VERSION,
               "shots": 1000, "device_clock_s": 12.5},
    )


def test_round_trip_is_exact(tmp_path):
    ds = _dataset()
    back = load_dataset(save_dataset(ds, tmp_path / "a" / "t1.nc"))
    assert back.identical(ds)
    assert back["iq"].dtype == np.complex128
    assert back["delay"].attrs["units"] == "ns"
    assert not list(tmp_path.glob("**/*.partial"))


def test_truncated_and_foreign_files_are_refused(tmp_path):
    path = save_dataset(_dataset(), tmp_path / "t1.nc")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFileError, match="truncated.nc cannot be read: it is truncated, corrupted or not NetCDF"):
        load_dataset(truncated)
    text = tmp_path / "notes.nc"
    text.write_text("not a dataset")
    with pytest.raises(DatasetFileError, match="cannot be read"):
        load_dataset(text)
    with pytest.raises(DatasetFileError, match="does not exist"):
        load_dataset(tmp_path / "absent.nc")


def test_schema_versions_are_checked(tmp_path):
    newer = _dataset()
    newer.attrs["schema_version"] = SCHEMA_VERSION + 1
    path = tmp_path / "newer.nc"
    newer.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(DatasetFileError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this toolkit reads"):
        load_dataset(path)
    unversioned = _dataset()
    del unversioned.attrs["schema_version"]
    unversioned.to_netcdf(tmp_path / "plain.nc", engine="h5netcdf")
    with pytest.raises(DatasetFileError, match="has no schema_version"):
        load_dataset(tmp_path / "plain.nc")
    with pytest.raises(DatasetFileError, match="no schema_version attribute"):
        save_dataset(unversioned, tmp_path / "refused.nc")
