"""Device adapters: what turns a device file into a `Device`. One module (or package) per
adapter beside this registry: simulated.py, python.py, qibolab/.

A device file (TOML) names its adapter with `adapter = "..."`:

  simulated  (the default: files without `adapter`) the file describes a simulated device
             (devices/device_spec.py); `seed` draws the concrete device from its fabrication
             prior, 0 unless given.
  qibolab    a qibolab platform: a [qibolab] table with platform = "<name, or a path relative
             to the device file>" (devices/adapters/qibolab/; `pip install qubit-calibrate[qibolab]`).
  python     a lab's own code: factory = "package.module:function", called with the [options]
             table as keyword arguments, returning an object that satisfies
             devices.protocol.Device. The module is imported from the installed packages, else
             from the device file's folder.

Installed packages add adapters through entry points in the group `qubit_calibrate.adapters`:
the entry point's name is the adapter's name, its object an opener

    open_device(config: dict, *, source: pathlib.Path | None) -> Device

(`config`: the whole parsed device file; `source`: the file, None for a config built in code).
An opener that also takes a `seed` keyword is given the seed asked for; the others never are.
An entry point cannot replace a built-in adapter: one with a built-in's name is left out.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devices._validate import DeviceModelError
from devices.device_spec import SIMULATED_ADAPTER, DeviceSpecError, read_device_config
from devices.protocol import Device

ENTRY_POINT_GROUP = "qubit_calibrate.adapters"
QIBOLAB_INSTALL = "pip install qubit-calibrate[qibolab]"

Opener = Callable[..., Device]


class AdapterError(DeviceSpecError):
    """A device file names an adapter that is unknown or cannot open it, or the adapter's
    device does not satisfy the Device protocol. Bad input, like a malformed device file."""


@dataclass(frozen=True)
class Adapter:
    """One way of opening devices. `origin` says where it comes from ("built-in", or the
    entry point and its distribution); `load` imports the opener only when a device needs it."""

    name: str
    origin: str
    load: Callable[[], Opener]


# --- the built-in adapters ------------------------------------------------------------------

def _builtin(module: str, opener: str) -> Opener:
    # imported when a device needs it: the openers import this registry (AdapterError, ...)
    return getattr(importlib.import_module(f"devices.adapters.{module}"), opener)


def _load_qibolab() -> Opener:
    try:
        from devices.adapters.qibolab import open_device
    except ImportError as exc:
        raise AdapterError(f"The qibolab adapter cannot be loaded ({exc}): install it with `{QIBOLAB_INSTALL}`.") from None
    return open_device


BUILT_IN: dict[str, Adapter] = {
    SIMULATED_ADAPTER: Adapter(SIMULATED_ADAPTER, "built-in", lambda: _builtin("simulated", "open_simulated_device")),
    "qibolab": Adapter("qibolab", "built-in", _load_qibolab),
    "python": Adapter("python", "built-in", lambda: _builtin("python", "open_python_device")),
}


# --- the registry ------------------------------------------------------------------------------

def known_adapters() -> dict[str, Adapter]:
    """The built-in adapters, then those installed packages register as entry points."""
    adapters = dict(BUILT_IN)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in adapters:
            continue  # built-ins stay what the documentation says they are
        dist = getattr(entry, "dist", None)
        origin = f"entry point {entry.value}" + (f" ({dist.name})" if dist is not None else "")
        adapters[entry.name] = Adapter(entry.name, origin, _entry_point_loader(entry))
    return adapters


def _entry_point_loader(entry) -> Callable[[], Opener]:
    def load() -> Opener:
        try:
            opener = entry.load()
        except Exception as exc:  # an installed package that fails to import: say which one
            raise AdapterError(f"Adapter {entry.name!r} (entry point {entry.value}) cannot be loaded: "
                               f"{type(exc).__name__}: {exc}.") from None
        if not callable(opener):
            raise AdapterError(f"Adapter {entry.name!r} (entry point {entry.value}) is {opener!r}, which is not "
                               "callable: it must be open_device(config, *, source) -> Device.")
        return opener
    return load


def adapter_of(config: dict, source: Path | None) -> Adapter:
    """The adapter a device file names (`adapter`, default "simulated")."""
    adapters = known_adapters()
    name = config.get("adapter", SIMULATED_ADAPTER)
    if name not in adapters:
        raise AdapterError(f"{describe_source(source)}: adapter is {name!r}, but must be one of the known adapters: "
                           f"{', '.join(sorted(adapters))}.")
    return adapters[name]


def open_device(config: dict, *, source: Path | None, seed: int | None = None) -> Device:
    """The device a parsed device file describes, through its adapter. `seed` goes to openers
    that take one (whether the device is then seeded is for the caller to check: `Seeded`)."""
    adapter = adapter_of(config, source)
    opener = adapter.load()
    made_by = f"adapter {adapter.name!r}" + (f" ({config['factory']})" if adapter.name == "python"
                                             and "factory" in config else "")
    try:
        device = (opener(config, source=source, seed=seed) if seed is not None and takes_keyword(opener, "seed")
                  else opener(config, source=source))
    except (DeviceSpecError, DeviceModelError):
        raise
    except Exception as exc:  # a lab's driver that cannot reach its instrument, a broken platform file, ...
        raise AdapterError(f"{describe_source(source)}: {made_by} could not open the device: "
                           f"{type(exc).__name__}: {exc}") from exc
    check_device(device, made_by)
    return device


def open_device_file(path: Path, *, seed: int | None = None) -> Device:
    return open_device(read_device_config(path), source=path, seed=seed)


def check_device(device: object, made_by: str) -> None:
    """Refuse what is not a Device, naming what made it and each member it lacks."""
    if isinstance(device, Device):
        return
    missing = [name for name in device_members() if not hasattr(device, name)]
    what = f"{type(device).__module__}.{type(device).__qualname__}"
    raise AdapterError(f"{made_by} returned {what}, which is not a devices.protocol.Device: it lacks "
                       f"{', '.join(missing) or 'nothing by name, but a member failed when read'}.")


def device_members() -> list[str]:
    """What devices.protocol.Device asks for: its annotated attributes, properties and methods."""
    names = list(getattr(Device, "__annotations__", {}))
    names += [n for n in vars(Device) if not n.startswith("_") and n not in names]
    return names


# --- helpers -----------------------------------------------------------------------------------

def describe_source(source: Path | None) -> str:
    return f"Device file {source.name}" if source is not None else "The device config"


def takes_keyword(function: Callable, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) or p.kind == p.VAR_KEYWORD
               for p in parameters)
