"""A lab's own device code, as a `python` adapter device file names it (lab-1q.toml beside it):
a simulated transmon behind a plain `Device`, without state, truth, drift or seed, as a
hardware driver would be. Nothing here is calibration code; tests use it as a lab's device."""

from __future__ import annotations

from dataclasses import replace

from devices.catalog import load_spec
from devices.simulated import SimulatedDevice

NAME = "lab-1q"


class LabDevice:
    """Only what devices.protocol.Device asks for: name, spec, qubits, dt, limits, now, run."""

    def __init__(self, inner: SimulatedDevice):
        self._inner = inner
        self.name = NAME

    @property
    def spec(self):
        return replace(self._inner.spec, name=NAME, description="a lab's transmon behind its own driver")

    @property
    def qubits(self):
        return self._inner.qubits

    @property
    def dt(self):
        return self._inner.dt

    @property
    def limits(self):
        return self._inner.limits

    def now(self):
        return self._inner.now()

    def run(self, schedules, shots, seed=None, *, qubits=(0,)):
        data = self._inner.run(schedules, shots, seed, qubits=qubits)
        data.attrs.update(device=NAME)
        del data.attrs["device_seed"]  # the lab's device was drawn from no prior
        return data


def open_lab(*, design: str = "sim-1q", draw: int = 0) -> LabDevice:
    """The [options] of lab-1q.toml arrive here as keyword arguments."""
    return LabDevice(SimulatedDevice(load_spec(design), seed=draw))


def open_lab_adapter(config: dict, *, source) -> LabDevice:
    """The same device as an installed package's adapter (entry point) would open it: its
    options in the device file's [lab] table."""
    return open_lab(**config.get("lab", {}))


def not_a_device(**options) -> object:
    """A factory that returns something without `run`, `spec`, ...: refused when opened."""
    return {"name": "lab-1q", **options}


def unreachable(**options) -> LabDevice:
    """A driver whose instrument does not answer."""
    raise ConnectionError("no answer from the instrument at 192.0.2.1")
