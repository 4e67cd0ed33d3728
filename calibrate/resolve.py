"""The one place a `--device` argument (a catalog name or a device file of any adapter) and
`--seed` become a `Device`, and what calibrate/ asks of a device beyond the protocol.

Every command resolves its device here; library code then sees the `Device` protocol only,
and each capability only a simulator has through its own small protocol (devices.protocol):
  Seeded    --seed applies; the store names the device NAME/seed-N (as it always has)
  Stateful  its state is kept in the store between commands
  HasTruth  reports carry a `truth` block (null for every other device)
  Drifting  --simulate-days may move its clock on
"""

from __future__ import annotations

from devices.adapters import AdapterError, open_device_file
from devices.catalog import device_file
from devices.protocol import Device, Drifting, Seeded, Stateful


def resolve_device(name_or_path: str, *, seed: int | None = None) -> Device:
    """The device of a catalog name or device file. `seed` (None: the device's own default,
    0 for simulated devices) is refused for devices that have none."""
    path = device_file(name_or_path)
    device = open_device_file(path, seed=seed)
    if seed is not None and not isinstance(device, Seeded):
        raise AdapterError(f"--seed is {seed}, but device {device.name} ({path.name}) has no seed: it is not "
                           "drawn from a fabrication prior. Leave --seed out for this device.")
    if seed is not None and device.seed != seed:
        raise AdapterError(f"--seed is {seed}, but the adapter of {path.name} opened device {device.name} with "
                           f"seed {device.seed}: its opener must take the seed it is given.")
    return device


def seed_of(device: Device) -> int | None:
    """The seed that drew the device from its prior; None for devices that have none."""
    return device.seed if isinstance(device, Seeded) else None


def seeded_id(name: str, seed: int) -> str:
    """The store's name for a device drawn with a seed: the design and the seed."""
    return f"{name}/seed-{seed}"


def store_id(device: Device) -> str:
    """Under which name the store keeps a device's values: NAME/seed-N for seeded devices (so
    stores written before adapters existed keep working), the device's own name otherwise."""
    return seeded_id(device.name, device.seed) if isinstance(device, Seeded) else device.name


def restore_state(store, device: Device) -> Device:
    """A Stateful device as the store last left it (as it is the first time); others as they are."""
    if isinstance(device, Stateful):
        state = store.load_device_state(store_id(device))
        if state is not None:
            device.restore(state)
    return device


def save_state(store, device: Device, *, run_id: int) -> None:
    """Keep a Stateful device's state for the next command; nothing for other devices."""
    if isinstance(device, Stateful):
        store.save_device_state(store_id(device), device.state(), run_id=run_id)


def require_drifting(device: Device, flag: str) -> Drifting:
    if not isinstance(device, Drifting):
        raise AdapterError(f"{flag} needs a device whose clock can be moved on (a simulated device), but device "
                           f"{device.name} has no such clock: leave {flag} out for it.")
    return device
