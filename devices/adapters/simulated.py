"""The `simulated` adapter (the default): a device file describing a simulated device."""

from __future__ import annotations

from pathlib import Path

from devices.protocol import Device


def open_simulated_device(config: dict, *, source: Path | None, seed: int | None = None) -> Device:
    """A SimulatedDevice drawn with `seed` (0 unless given) from the file's fabrication prior."""
    from devices.device_spec import parse_spec
    from devices.simulated import SimulatedDevice

    spec = parse_spec(config, source.name if source is not None else "device config")
    return SimulatedDevice(spec, seed=0 if seed is None else seed)
