"""Datasets on disk as NetCDF (h5netcdf): lossless, complex values included.

A file that is truncated, is not NetCDF, lacks the schema version, or was written by a
newer schema is refused with a DatasetFileError that says which and why.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from experiments.base import SCHEMA_VERSION


class DatasetFileError(ValueError):
    """A dataset file cannot be read back."""


def save_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write `ds` to `path` atomically (a partial file never takes the final name)."""
    path = Path(path)
    if "schema_version" not in ds.attrs:
        raise DatasetFileError("The dataset has no schema_version attribute: was it made by run_experiment?")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    ds.to_netcdf(partial, engine="h5netcdf")
    partial.replace(path)
    return path


def load_dataset(path: str | Path) -> xr.Dataset:
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"Dataset file {path} does not exist.")
    try:
        ds = xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetFileError(
            f"Dataset file {path} cannot be read: it is truncated, corrupted or not NetCDF ({type(exc).__name__}: {exc})."
        ) from None
    version = ds.attrs.get("schema_version")
    if version is None:
        raise DatasetFileError(f"Dataset file {path} has no schema_version: it was not written by this toolkit.")
    if int(version) > SCHEMA_VERSION:
        raise DatasetFileError(
            f"Dataset file {path} has schema version {int(version)}, newer than this toolkit reads "
            f"({SCHEMA_VERSION}); upgrade the toolkit."
        )
    return ds
