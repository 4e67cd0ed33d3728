"""The `python` adapter: a lab's own factory function opens the device.

    adapter = "python"
    factory = "package.module:function"   # called with the [options] table as keyword arguments

The module is imported from the installed packages, else from the device file's folder.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

from devices.adapters import AdapterError, describe_source, takes_keyword
from devices.protocol import Device

PYTHON_KEYS = ("adapter", "description", "factory", "options", "schema")


def open_python_device(config: dict, *, source: Path | None, seed: int | None = None) -> Device:
    """The device a lab's factory function returns, called with the file's [options]."""
    where = describe_source(source)
    unknown = sorted(set(config) - set(PYTHON_KEYS))
    if unknown:
        raise AdapterError(f"{where} has unknown key(s) {', '.join(unknown)}; a python device file allows: "
                           f"{', '.join(PYTHON_KEYS)}.")
    reference = config.get("factory")
    if not isinstance(reference, str) or reference.count(":") != 1 or not all(reference.split(":")):
        raise AdapterError(f"{where}: factory is {reference!r}, but must be \"package.module:function\", the "
                           "function that opens the device.")
    options = config.get("options", {})
    if not isinstance(options, dict):
        raise AdapterError(f"{where}: options must be a table [options] of keyword arguments, but is {options!r}.")
    factory = _import_factory(reference, source)
    kwargs = dict(options)
    if seed is not None:
        if "seed" in options:
            raise AdapterError(f"{where}: [options] already holds seed = {options['seed']!r}; give the seed "
                               "there or by --seed, not both.")
        if takes_keyword(factory, "seed"):
            kwargs["seed"] = seed
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise AdapterError(f"{where}: factory {reference} cannot take the keyword arguments "
                           f"{sorted(kwargs)} ([options]): {exc}.") from None
    except ValueError:  # no signature to check (a builtin): the call itself will tell
        pass
    return factory(**kwargs)


def _import_factory(reference: str, source: Path | None) -> Callable:
    """`package.module:function`, from the installed packages, else from the device file's
    folder (a lab keeps its driver module beside its device file)."""
    module_name, function_name = reference.split(":")
    folder = str(source.resolve().parent) if source is not None else None
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.append(folder)  # last: an installed package of the same name wins
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterError(f"{describe_source(source)}: factory {reference}: module {module_name!r} cannot be imported "
                           f"({exc}); it must be installed or sit beside the device file.") from None
    finally:
        if added:
            sys.path.remove(folder)
    factory = getattr(module, function_name, None)
    if not callable(factory):
        raise AdapterError(f"{describe_source(source)}: factory {reference}: module {module_name} has no function "
                           f"{function_name!r}.")
    return factory
