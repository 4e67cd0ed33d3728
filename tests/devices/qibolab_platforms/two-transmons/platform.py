"""Two uncoupled fixed-frequency transmons on qibolab's emulator: the joint readout's test bed."""

from qibolab import AcquisitionChannel, ConfigKinds, Hardware, IqChannel, Qubit
from qibolab.instruments.emulator import DriveEmulatorConfig, EmulatorController, HamiltonianConfig

ConfigKinds.extend([HamiltonianConfig, DriveEmulatorConfig])


def create() -> Hardware:
    qubits, channels = {}, {}
    for q in range(2):
        qubits[q] = qubit = Qubit.default(q)
        channels |= {qubit.acquisition: AcquisitionChannel(probe=qubit.probe),
                     qubit.probe: IqChannel(mixer=None, lo=None),
                     qubit.drive: IqChannel(mixer=None, lo=None)}
    instruments = {"emulator": EmulatorController(address="0.0.0.0", channels=channels, sampling_rate_=1)}
    return Hardware(instruments=instruments, qubits=qubits)
