"""The qibolab adapter: a qibolab platform (a lab's chip, or qibolab's emulator) as a Device.

`adapter = "qibolab"` in a device file opens it (devices/adapters.py calls `open_device`).
Needs the optional extra: `pip install qubit-calibrate[qibolab]`.

  units.py           every unit and sign convention between the toolkit and qibolab
  translate.py       Schedule / GateSequence -> qibolab PulseSequence
  integration.py     Integrated acquisition: ReadoutPulse -> probe, acquisition and probe frequency;
                     what qibolab's emulator models of a readout (nothing but the level)
  platform_files.py  finding and loading a platform; its nominal design as a DeviceSpec
  adapter.py         QibolabDevice (the Device protocol) and `open_device`
  platforms/         the project's own emulated transmon (a qibolab emulator platform) and its
                     device file, emulated-transmon.toml
"""

from devices.adapters.qibolab.adapter import QibolabDevice, open_device

__all__ = ["QibolabDevice", "open_device"]
