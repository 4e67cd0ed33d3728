"""Two-qubit RB: Clifford compilation to the pair's native gates, the programs it plays, and
interleaved RB of a calibrated ECR against the truth of a simulated pair."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import Clifford

from devices.catalog import load_spec
from devices.simulated import SimulatedDevice
from devices.truth import best_drag, pair_gate_truth
from experiments.base import ExperimentError, run_experiment
from experiments.calibration import PairCalibration, nominal_calibration
from experiments.library.cr_tomography import CrossResonanceTomography
from experiments.clifford2q import (GROUP_ORDER, _implements, _tableau_of, _unitary, clifford_of_index,
                                    native_gates, random_clifford, random_sequence)
from experiments.library.rb2q import CR_MINUS, CR_PLUS, SX_C, SX_T, X_C, TwoQubitInterleavedRB, TwoQubitRB, compile_program


def test_the_class_decomposition_reaches_every_two_qubit_clifford_once():
    # uniform indices are then uniform elements (qiskit 1.3's random_clifford(2) is not uniform)
    elements = {clifford_of_index(k).tableau.tobytes() for k in range(GROUP_ORDER)}
    assert len(elements) == GROUP_ORDER
    with pytest.raises(ValueError, match="must lie in 0..11519"):
        clifford_of_index(GROUP_ORDER)


def test_every_clifford_compiles_to_native_gates_that_implement_it():
    rng = np.random.default_rng(5)
    cliffords = [random_clifford(rng) for _ in range(300)]
    for clifford, gates in zip(cliffords, native_gates(cliffords)):
        assert {g[0] for g in gates} <= {"rz", "sx", "x", "ecr"}
        assert all(g[1] == (0, 1) for g in gates if g[0] == "ecr")  # the calibrated direction only
        overlap = abs(np.trace(clifford.to_matrix().conj().T @ _unitary(gates))) / 4
        assert overlap == pytest.approx(1.0, abs=1e-12)
    compiled = native_gates(cliffords)
    ecrs = np.mean([sum(g[0] == "ecr" for g in gates) for gates in compiled])
    pulses = np.mean([sum(g[0] in ("sx", "x") for g in gates) for gates in compiled])
    assert 1.3 < ecrs < 1.7  # 1.5 over the group: 576 need none, 5184 one, 5184 two, 576 three
    assert 5 < pulses < 9


def test_the_compilers_check_accepts_exactly_the_programs_that_play_the_clifford():
    # the check compares Pauli images with the tableau; qiskit's unitary is the independent reference
    rng = np.random.default_rng(8)
    cliffords = [random_clifford(rng) for _ in range(100)]
    verdicts = []
    for clifford, gates in zip(cliffords, native_gates(cliffords)):
        for program in (gates, gates[:-1], gates[1:], gates + (("rz", (1,), np.pi / 2),)):
            reference = abs(np.trace(clifford.to_matrix().conj().T @ _unitary(program))) / 4 > 1 - 1e-9
            assert _implements(clifford, _unitary(program)) == reference
            verdicts.append(reference)
    assert sum(verdicts) == 100  # every compiled program passes, and each of the 300 altered ones fails
    # a sequence's inverse is read off the unitary of its product: the tableau, signs included
    for clifford in cliffords:
        np.testing.assert_array_equal(_tableau_of(clifford.to_matrix()), clifford.tableau)
        np.testing.assert_array_equal(_tableau_of(clifford.to_matrix().conj().T), clifford.adjoint().tableau)


def test_a_sequence_and_its_recovery_compose_to_the_identity():
    rng = np.random.default_rng(6)
    for interleave in (False, True):
        elements = random_sequence(rng, 7, interleave)
        assert len(elements) == 7 * (2 if interleave else 1) + 1
        total = Clifford(np.eye(4, dtype=bool))
        for c in elements:
            total = total.compose(c)
        assert total == Clifford(np.eye(4, dtype=bool))


def test_the_program_follows_virtual_zs_and_the_ecr_plays_as_three_blocks():
    gates = [("rz", (1,), 0.3), ("sx", (0,), 0.0), ("rz", (0,), 0.5), ("ecr", (0, 1), 0.0), ("sx", (1,), 0.0)]
    program, increments = compile_program(gates, target_phase=-0.1)
    assert program == [SX_C, CR_PLUS, X_C, CR_MINUS, SX_T]
    np.testing.assert_allclose(increments, [[0, 0.3], [0.5, 0], [0, 0], [0, 0], [0, -0.1]])


def test_two_qubit_rb_needs_the_ecr_settings_and_its_pair():
    with pytest.raises(ExperimentError, match="cr_amp is 0"):
        TwoQubitRB(qubit=1, target=0).sweeps({})
    with pytest.raises(ExperimentError, match="must differ from the control qubit 1"):
        TwoQubitRB(qubit=1, target=1, cr_amp=0.5)
    with pytest.raises(ExperimentError, match="seeds is 2"):
        TwoQubitInterleavedRB(qubit=1, target=0, cr_amp=0.5, seeds=2)


@pytest.mark.slow
def test_interleaved_rb_measures_the_true_error_of_a_calibrated_ecr():
    # 20 sim-5q devices (seeds 1000-1019, one pair each) gave errors within ... (see README)
    device = SimulatedDevice(load_spec("sim-5q"), seed=21)
    spec, cal = device.spec, {}
    for q in (1, 0):  # the single-qubit gates as their own calibration would leave them
        best = best_drag(device, q, duration=spec.x_duration, sigma=spec.x_sigma)
        cal[q] = nominal_calibration(spec, q).replace(frequency=best["frequency"], x_amp=best["x_amp"],
                                                      sx_amp=best["x_amp"] / 2, beta=best["beta"])
    tomography = CrossResonanceTomography(qubit=1, target=0, amp=0.65, max_width=1000.0, derive_ecr=True)
    rates = tomography.analyze(run_experiment(tomography, device, cal, shots=1000, seed=3))
    pair = PairCalibration.from_values({k: v.value for k, v in rates.values.items()})
    truth = pair_gate_truth(device, 1, 0, pair.ecr_schedule(cal[1], cal[0]), target_gate=pair.pulses_unitary())
    irb = TwoQubitInterleavedRB(qubit=1, target=0, **pair.as_dict())
    result = irb.analyze(run_experiment(irb, device, cal, shots=300, seed=4))
    assert result.good, result.reason
    epg = result["epg"]
    assert abs(epg.value - truth["gate_error"]) < 2 * epg.stderr, (epg, truth)
    assert epg.stderr < 0.5 * truth["gate_error"]  # an error bar that says something
    # a Clifford is ~1.5 ECRs and ~5 single-qubit pulses: its error sits above one ECR's
    assert truth["gate_error"] < result["epc_reference"].value < 4 * truth["gate_error"]
