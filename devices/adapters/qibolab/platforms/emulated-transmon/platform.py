"""qubit-calibrate's emulated transmon: one fixed-frequency transmon, 3 levels, T1 and T2.

A qibolab platform (https://qibo.science/qibolab) run by qibolab's own emulator: its
Hamiltonian, its drive model and its solver (QuTiP), none of them written by this project.
`parameters.json` holds two kinds of values:
  configs.hamiltonian and the drive channels' `rabi_frequency`: the emulated chip itself (the
      truth: what a real platform has no file for). Only tests read them.
  the drive channels' `frequency`, native gates (RX, RX90, MZ) and `calibration.json`: what a
      lab knows of its chip before calibrating (the nominal design). These are deliberately
      off the truth, as a fresh chip's design values are: the drive frequency by 2 MHz, the
      RX amplitudes by 5 %.
"""

import pathlib

from qibolab import AcquisitionChannel, ConfigKinds, Hardware, IqChannel, Qubit
from qibolab.instruments.emulator import DriveEmulatorConfig, EmulatorController, HamiltonianConfig

FOLDER = pathlib.Path(__file__).parent

ConfigKinds.extend([HamiltonianConfig, DriveEmulatorConfig])


def create() -> Hardware:
    qubit = Qubit.default(0, drive_extra={(1, 2): "0/drive12"})
    channels = {
        qubit.acquisition: AcquisitionChannel(probe=qubit.probe),
        qubit.probe: IqChannel(mixer=None, lo=None),
        qubit.drive: IqChannel(mixer=None, lo=None),
        qubit.drive_extra[1, 2]: IqChannel(mixer=None, lo=None),
    }
    # 1 GSps: the AWG sample time is 1 ns
    instruments = {"emulator": EmulatorController(address="0.0.0.0", channels=channels, sampling_rate_=1)}
    return Hardware(instruments=instruments, qubits={0: qubit})
