"""Built-in simulated devices, as TOML package data, and the lookup of a `--device` argument
(a catalog name or the path of a device file, of any adapter)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from devices.device_spec import DeviceSpec, DeviceSpecError, parse_spec, read_spec


def _catalog_files() -> dict[str, Path]:
    folder = resources.files(__name__)
    return {Path(f.name).stem: Path(str(f)) for f in folder.iterdir() if f.name.endswith(".toml")}


def device_names() -> list[str]:
    return sorted(_catalog_files())


def device_file(name_or_path: str) -> Path:
    """The device file of a catalog name (`sim-1q`) or a path to a TOML file."""
    files = _catalog_files()
    if name_or_path in files:
        return files[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise DeviceSpecError(f"Device file {name_or_path} does not exist.")
        return path
    raise DeviceSpecError(
        f"Unknown device {name_or_path!r}: give a catalog name ({', '.join(device_names())}) "
        "or the path of a device TOML file."
    )


def load_spec(name_or_path: str) -> DeviceSpec:
    """A simulated device's description by catalog name (`sim-1q`) or by path to a TOML file.
    Files of other adapters are refused: their design comes from the device itself
    (devices.adapters.open_device_file)."""
    return read_spec(device_file(name_or_path))


__all__ = ["DeviceSpec", "DeviceSpecError", "device_file", "device_names", "load_spec", "parse_spec"]
