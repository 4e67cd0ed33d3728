"""The X gate's true error on qibolab's emulator, from the emulator's own model, against ours.

tests/support/emulator_gate.py integrates the emulator's Hamiltonian and collapse operators
(lab frame, counter-rotating terms kept, its own solver) for the pulse the adapter plays; the
toolkit's model of the same transmon (rotating frame, its own solver) must give the same error
for every DRAG beta, and rank the betas alike. That is what lets the emulator tests score a
calibration by the emulator's physics rather than the toolkit's.
"""

import tomllib

import numpy as np
import pytest

pytest.importorskip("qibolab")

from devices.chip import Chip  # noqa: E402
from devices.metrics import gate_metrics  # noqa: E402
from devices.nominal import pi_amplitude  # noqa: E402
from devices.options import Open  # noqa: E402
from devices.pulses import Drag  # noqa: E402
from devices.adapters.qibolab import open_device  # noqa: E402
from devices.schedule import Play, Schedule  # noqa: E402
from devices.transmon import Transmon  # noqa: E402
from support.emulator_gate import x_gate_on_emulator  # noqa: E402
from support.qibolab_truth import EMULATED_TRANSMON, emulator_truth  # noqa: E402


@pytest.fixture(scope="module")
def device():
    path = EMULATED_TRANSMON.with_suffix(".toml")
    return open_device(tomllib.loads(path.read_text()), source=path)


def test_the_emulators_x_gate_error_matches_the_toolkits_model_of_the_same_transmon(device):
    truth = emulator_truth()
    spec = device.spec
    transmon = Transmon(frequency=truth.frequency, anharmonicity=truth.anharmonicity, drive_scale=truth.drive_scale,
                        t1=truth.t1, t2=truth.t2, readout_p01=0.0, readout_p10=0.0)
    amp = pi_amplitude(truth.drive_scale, Drag(spec.x_duration, amp=1.0, sigma=spec.x_sigma, beta=0.0), spec.dt)
    emulated, ours = [], []
    for beta, detuning in [(0.0, 0.0), (0.37, 0.0), (-0.37, 0.0), (-0.37, -0.002)]:
        schedule = Schedule([Play(0, Drag(spec.x_duration, amp=amp, sigma=spec.x_sigma, beta=beta))],
                            [truth.frequency + detuning])
        gate = x_gate_on_emulator(device, 0, schedule)
        emulated.append(gate.gate_error)
        ours.append(float(gate_metrics(Chip([transmon]), schedule, dt=spec.dt, dynamics=Open()).error))
        assert gate.duration == spec.x_duration
        assert gate.leakage < 2e-5
    # the emulator keeps the counter-rotating terms and a 1-2 T1 of its own: ~1e-4 apart
    np.testing.assert_allclose(emulated, ours, atol=2.5e-4)
    assert np.argsort(emulated).tolist() == np.argsort(ours).tolist()
    best = min(emulated)
    assert best < 1.2 * x_gate_on_emulator(device, 0, schedule).coherence_limit  # DRAG reaches the limit
    assert emulated[-1] > 5 * best  # 2 MHz off the qubit is a bad X gate in both
