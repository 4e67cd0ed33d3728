"""Three-state discrimination on the device and the leakage readout built on it: the stored level
discriminator decides as scikit-learn's LDA, the device reads three levels through it as the
three-state experiment judged it, and the leakage per gate of an ECR (and of short X pulses)
against the truth of simulated devices, including a pair that leaks 3 % per gate."""

from __future__ import annotations

import numpy as np
import pytest

from devices import DeviceModelError
from devices.catalog import load_spec
from devices.dressing import dressed_transmon
from devices.nominal import pi_amplitude
from devices.protocol import Discriminated
from devices.pulses import Drag
from devices.readout import LevelDiscriminator, Readout
from devices.simulated import SimulatedDevice
from devices.truth import pair_gate_truth, x_gate_truth
from experiments.base import ExperimentError, run_experiment
from experiments.calibration import (LEVEL_DISCRIMINATOR_FIELDS, PairCalibration, level_discriminator_from,
                                     level_discriminator_values, nominal_calibration)
from experiments.library.cr_tomography import CrossResonanceTomography
from experiments.library.leakage import EcrLeakage, Leakage, level_populations
from experiments.library.single_shot import SingleShot
from experiments.library.three_state import ThreeStateReadout, level_schedule, train_levels
from experiments.results import Verdict
from support.readout_truth import truth_calibration


def blobs(rng, n: int) -> np.ndarray:
    """(level, shot, 2) points of three Gaussian blobs sharing a tilted covariance."""
    centres = np.array([[0.0, 0.0], [1.0, 0.3], [0.6, 1.1]])
    cholesky = np.array([[0.35, 0.0], [0.15, 0.25]])
    return centres[:, None, :] + rng.standard_normal((3, n, 2)) @ cholesky.T


def test_a_level_discriminator_decides_as_scikit_learns_lda_and_round_trips_through_the_store():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(3)
    train, fresh = blobs(rng, 3000), blobs(rng, 3000).reshape(-1, 2)
    ours = train_levels(train)
    lda = LinearDiscriminantAnalysis().fit(train.reshape(-1, 2), np.repeat(np.arange(3), 3000))
    assert np.array_equal(ours.levels(fresh), lda.predict(fresh))
    # the blobs overlap, so the decisions near the boundaries are tested too
    assert 0.01 < np.mean(ours.levels(fresh) != np.repeat(np.arange(3), 3000)) < 0.3
    values = level_discriminator_values(ours)
    assert set(values) == set(LEVEL_DISCRIMINATOR_FIELDS)
    assert level_discriminator_from(values) == ours


@pytest.mark.parametrize(("centres", "covariance", "field"), [
    (((0.0, 0.0),), ((1.0, 0.0), (0.0, 1.0)), "centres"),
    (((0.0, 0.0), (1.0, float("nan"))), ((1.0, 0.0), (0.0, 1.0)), "centres"),
    (((0.0, 0.0), (1.0, 0.0)), ((1.0, 2.0), (2.0, 1.0)), "covariance"),
    (((0.0, 0.0), (1.0, 0.0)), ((1.0, 0.1), (0.0, 1.0)), "covariance"),
])
def test_a_level_discriminator_refuses_what_cannot_discriminate(centres, covariance, field):
    with pytest.raises(DeviceModelError, match=f"LevelDiscriminator.{field}"):
        LevelDiscriminator(centres, covariance)


def test_three_level_reads_need_a_level_discriminator_on_every_qubit():
    with pytest.raises(ValueError, match="levels is 4, but must be 2 or 3"):
        Discriminated(levels=4)
    with pytest.raises(ValueError, match="three-level LevelDiscriminator"):
        Discriminated(levels=3)
    with pytest.raises(ExperimentError, match=r"three-state discriminator on qubit\(s\) \[0\]"):
        Leakage(qubit=0).acquisition({0: nominal_calibration(load_spec("sim-5q"), 0)})
    with pytest.raises(ExperimentError, match="seeds is 1"):
        Leakage(qubit=0, seeds=1)
    with pytest.raises(ExperimentError, match="repetitions is"):
        EcrLeakage(qubit=1, target=0, repetitions=(0, 1, 2))
    with pytest.raises(ExperimentError, match="cr_amp is 0"):
        EcrLeakage(qubit=1, target=0).sweeps({})


def test_unmixing_recovers_the_populations_behind_confused_reads():
    confusion = np.array([[0.93, 0.05, 0.02], [0.04, 0.80, 0.16], [0.03, 0.20, 0.77]])
    populations = np.array([[0.7, 0.25, 0.05], [0.1, 0.6, 0.3]])
    np.testing.assert_allclose(level_populations(populations @ confusion, confusion), populations, atol=1e-12)


def with_level_discriminator(device, qubit: int, cal, seed: int):
    """`cal` with a two-state discriminator and the three-state one trained on the device."""
    single = SingleShot(qubit=qubit).analyze(run_experiment(SingleShot(qubit=qubit), device, {qubit: cal},
                                                            shots=2000, seed=seed))
    cal = cal.replace(readout_angle=single["readout_angle"].value, readout_threshold=single["readout_threshold"].value)
    three = ThreeStateReadout(qubit=qubit)
    result = three.analyze(run_experiment(three, device, {qubit: cal}, shots=4000, seed=seed + 1))
    assert result.verdict is Verdict.GOOD, result.reason
    return cal.replace(**{name: result[name].value for name in LEVEL_DISCRIMINATOR_FIELDS}), result


def test_the_device_reads_three_levels_through_the_stored_discriminator_as_it_was_judged():
    device = SimulatedDevice(load_spec("sim-5q"), seed=19)
    qubit = 1
    truth = device.truth()
    cal = truth_calibration(device.spec, device, qubit).replace(
        anharmonicity=float(dressed_transmon(truth, qubit).anharmonicity))
    cal, judged = with_level_discriminator(device, qubit, cal, seed=3)
    readout = cal.calibrated_readout()
    assert isinstance(readout, Readout) and readout.levels == level_discriminator_from(
        {name: judged[name].value for name in LEVEL_DISCRIMINATOR_FIELDS})
    shots = 8000
    ds = device.run([level_schedule(cal, level) for level in range(3)], shots, seed=5, qubits=(qubit,),
                    acquisition=Discriminated((readout,), levels=3))
    read = ds["level_counts"].sel(qubit=qubit).values
    assert read.shape == (3, 3) and np.all(read.sum(axis=1) == shots)
    for i in range(3):
        for j in range(3):
            if i != j:  # fresh shots read as the held-out ones were judged
                p = judged[f"p{i}{j}"]
                sigma = np.hypot(p.stderr, np.sqrt(max(p.value, 1e-3) / shots))
                assert abs(read[i, j] / shots - p.value) < 4 * sigma, (i, j, read[i, j] / shots, p)
    # the two-state counts come from the same shots, through the two-state boundary
    assert ds["counts"].sel(qubit=qubit).values[0] < 0.2 * shots < ds["counts"].sel(qubit=qubit).values[1]


def covers(measured, truth: float, *, relative: float) -> bool:
    """Within 3 standard errors, plus `relative` of the truth for what the estimator leaves out
    (|2>'s decay during the sequences, the random phases' imperfect average over states)."""
    return abs(measured.value - truth) < 3 * measured.stderr + relative * truth


@pytest.mark.slow
def test_the_leakage_readout_of_a_leaking_ecr_finds_its_true_leakage_and_fails_it():
    device = SimulatedDevice(load_spec("sim-5q"), seed=0)
    control, target = 1, 0
    spec, truth, cal = device.spec, device.truth(), {}
    for q in (control, target):  # Rabi-level X pulses at the true frequencies, three-state readouts
        anharmonicity = float(dressed_transmon(truth, q).anharmonicity)
        start = truth_calibration(spec, device, q).replace(anharmonicity=anharmonicity)
        cal[q], _ = with_level_discriminator(device, q, start, seed=10 + q)
    # at 0.8 of full scale |11> -> |22> (a two-photon line near the tone) leaks; the graph's 0.65
    # leaks ~1e-3, which the pair graph's test reads (tests/calibrate/test_readout_graph.py)
    tomography = CrossResonanceTomography(qubit=control, target=target, amp=0.8, max_width=1000.0, derive_ecr=True)
    rates = tomography.analyze(run_experiment(tomography, device, cal, shots=1000, seed=20))
    pair = PairCalibration.from_values({k: v.value for k, v in rates.values.items()})
    true_leak = pair_gate_truth(device, control, target, pair.ecr_schedule(cal[control], cal[target]),
                                target_gate=pair.pulses_unitary())["leakage"]
    experiment = EcrLeakage(qubit=control, target=target, rng_seed=7, **pair.as_dict())
    ds = run_experiment(experiment, device, cal, shots=2000, seed=21)
    assert ds.sizes["reference"] == 3 * experiment.seeds and "reference_level_counts" in ds
    leaking = experiment.analyze(ds)
    assert true_leak > 0.02
    assert leaking.verdict is Verdict.BAD and "above the allowed 0.005" in leaking.reason, leaking.reason
    assert covers(leaking["leakage"], true_leak, relative=0.2), (leaking["leakage"], true_leak)
    # |11> -> |22>: both qubits leak together
    assert leaking["leakage_control"].value > 3 * leaking["leakage_control"].stderr
    assert leaking["leakage_target"].value > 3 * leaking["leakage_target"].stderr


def test_the_leakage_readout_of_short_x_pulses_finds_their_true_leakage():
    device = SimulatedDevice(load_spec("sim-5q"), seed=12)
    qubit = 2
    transmon = dressed_transmon(device.truth(), qubit)
    cal = truth_calibration(device.spec, device, qubit).replace(anharmonicity=float(transmon.anharmonicity))
    cal, _ = with_level_discriminator(device, qubit, cal, seed=30)
    for duration, sigma in ((20.0, 5.0), (12.0, 3.0)):  # the design's X, and one with 10x its leakage
        amp = pi_amplitude(float(transmon.drive_scale), Drag(duration, amp=1.0, sigma=sigma, beta=0.0), device.dt)
        short = cal.replace(duration=duration, sigma=sigma, x_amp=amp, sx_amp=amp / 2)
        true = x_gate_truth(device, qubit, short.x_schedule())["leakage"]
        experiment = Leakage(qubit=qubit, rng_seed=8)
        result = experiment.analyze(run_experiment(experiment, device, {qubit: short}, shots=2000, seed=31))
        assert result.verdict is Verdict.GOOD, result.reason
        assert covers(result["leakage"], true, relative=0.2), (duration, result["leakage"], true)
        assert result["leakage"].stderr < 2.5e-4
