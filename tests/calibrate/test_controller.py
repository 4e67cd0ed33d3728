"""The learned recalibration controller: its probe model, its training, and its use on devices.

A controller trained briefly here (a few hundred devices' worth of steps, not the 800-step
default) must already reduce the true gate error of drifted devices it has never seen. Only
the tests read the simulated devices' truth (devices.truth), before and after the
controller has run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from calibrate.graph.toml import load_graph
from calibrate.ml.controller import (ControllerError, Trained, TrainOptions, draw_devices, family_of, initial_controller,
                                     load_controller, measure_probes, predict, recalibrate, rollout, save_controller,
                                     train_controller, x_gate_error)
from calibrate.ml.learned_graph import LEARNED_NODE
from calibrate.ml.probes import ProbeSet, probe_read_one, probe_sequences
from calibrate.ml.uncertainty import applied_covariance
from calibrate.ml.verification import TOLERANCES, Verification, refinable, verify
from calibrate.procedures import recalibrated_estimates
from calibrate.run import RunRequest, run_calibration
from calibrate.store import Store
from devices.catalog import load_spec
from devices.dressing import dressed_transmon
from devices.simulated import SimulatedDevice
from devices.truth import best_drag, x_gate_truth
from experiments.calibration import UNITS, nominal_calibration
from support.cli import calibrate_json
from support.graphs import AMPLITUDE_GRAPH

SPEC = load_spec("sim-1q")
SHAPE = {"duration": SPEC.x_duration, "sigma": SPEC.x_sigma, "dt": SPEC.dt}
BRIEF = TrainOptions(steps=150, batch=32, validation=64, evaluate_every=50)
UNSEEN_SEEDS = range(900, 908)  # SimulatedDevice seeds: training draws its devices from a JAX key
COVERAGE_SEEDS = range(700, 724)  # bench/recalibration.py draws from 1000, bench/verification.py from 3000
CURVE_SEEDS = range(760, 764)


@pytest.fixture(scope="module")
def family():
    return family_of(SPEC, 0)


@pytest.fixture(scope="module")
def trained(family):
    return train_controller(family, BRIEF)


def good_then_drifted(seed: int, hours: float = 24.0):
    """A device as a perfect calibration left it, `hours` later, and that calibration."""
    device = SimulatedDevice(SPEC, seed=seed)
    best = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
    calibration = nominal_calibration(SPEC, 0).replace(frequency=best["frequency"], x_amp=best["x_amp"],
                                                       sx_amp=best["x_amp"] / 2, beta=best["beta"])
    device.advance(hours=hours)
    return device, calibration


def ratio(truth: dict) -> float:
    return truth["gate_error"] / truth["coherence_limit"]


# --- the probe model --------------------------------------------------------------------------
def test_probe_model_agrees_with_the_simulated_device():
    """Closed dynamics plus readout error against the device's Lindblad simulation and readout
    (200k shots per probe): T1/T2 over these short probes move P(1) by less than 0.01."""
    device = SimulatedDevice(SPEC, seed=3)
    transmon = dressed_transmon(device.truth(), 0)
    calibration = nominal_calibration(SPEC, 0).replace(frequency=float(transmon.frequency) + 1e-4)
    probes = ProbeSet()
    model = probe_read_one(probes, transmon, calibration.frequency, calibration.x_amp, calibration.sx_amp,
                           calibration.beta, **SHAPE)
    shots = 200_000
    counts = device.run(probe_sequences(probes, calibration), shots, qubits=(0,))["counts"].sel(qubit=0).values
    assert len(model) == 12
    np.testing.assert_allclose(np.asarray(model), counts / shots, atol=0.01)


def test_probe_gradients_are_finite_and_match_finite_differences():
    transmon = dressed_transmon(SimulatedDevice(SPEC, seed=4).truth(), 0)
    start = nominal_calibration(SPEC, 0)
    probes = ProbeSet()
    weights = jnp.linspace(-1.0, 1.0, probes.n_probes)

    def scalar(x):  # frequency, x_amp, beta
        p = probe_read_one(probes, transmon, x[0], x[1], 0.5 * x[1], x[2], **SHAPE)
        return jnp.sum(weights * p)

    x = jnp.asarray([start.frequency + 2e-4, start.x_amp * 1.01, 0.2])
    grad = np.asarray(jax.grad(scalar)(x))
    assert np.all(np.isfinite(grad))
    for i, h in enumerate((1e-7, 1e-6, 1e-5)):
        e = np.zeros(3)
        e[i] = h
        fd = (float(scalar(x + e)) - float(scalar(x - e))) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-7)


# --- training ---------------------------------------------------------------------------------
def test_training_lowers_the_validation_error(trained):
    final = [v for v in trained.validation_error if v == v][-1]
    assert trained.start_error > 3e-4  # drifted calibrations are well above sim-1q's X floor
    assert final < 0.1 * trained.start_error
    assert np.all(np.isfinite(trained.loss))


def test_training_is_reproducible_for_a_seed(family, trained):
    again = train_controller(family, BRIEF)
    for a, b in zip(jax.tree.leaves(eqx.filter(trained.controller, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(again.controller, eqx.is_array))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert trained.loss == again.loss


def test_each_round_is_scored_on_the_x_gate_it_applied(family, trained):
    """The rollout simulates each calibration's gates once: a round's X error is read from the
    next round's probe gate table. It must be the error of the calibration that round applied."""
    draws = draw_devices(family, BRIEF, jax.random.key(11), 3)
    two_rounds = trained.controller
    one_round = dataclasses.replace(two_rounds, rounds=1)  # the same first round (same key)
    for i in range(3):
        device = (jax.tree.map(lambda x: x[i], draws.transmons), draws.frequency[i], draws.x_amp[i], draws.beta[i])
        gate, _, final = rollout(two_rounds, *device, jax.random.key(i), idle=100.0, **SHAPE)
        _, _, first = rollout(one_round, *device, jax.random.key(i), idle=100.0, **SHAPE)
        assert abs(float(first[0] - final[0])) > 1e-7  # the second round moved the calibration
        for error, calibration in zip(gate, (first, final)):
            assert float(error) == pytest.approx(float(x_gate_error(device[0], *calibration, **SHAPE)), rel=1e-9)


def test_an_untrained_controller_corrects_nothing(family):
    controller = initial_controller(family, BRIEF)
    start = nominal_calibration(SPEC, 0)
    moved = predict(controller, np.full(12, 0.3), start)
    assert (moved.frequency, moved.x_amp, moved.beta) == pytest.approx((start.frequency, start.x_amp, start.beta))


# --- on devices it has not seen ----------------------------------------------------------------
def test_it_reduces_the_true_error_of_unseen_drifted_devices(trained):
    left_alone, corrected, shots = [], [], set()
    for seed in UNSEEN_SEEDS:
        device, calibration = good_then_drifted(seed)
        left_alone.append(ratio(x_gate_truth(device, 0, calibration.x_schedule())))
        result = recalibrate(device, trained.controller, calibration, 0)
        corrected.append(ratio(x_gate_truth(device, 0, result.calibration.x_schedule())))
        shots.add(result.shots)
    left_alone, corrected = np.array(left_alone), np.array(corrected)
    # a day of drift costs these devices 5-400 % of their coherence limit; the brief controller
    # brings every one back near it
    assert np.mean(corrected) < 1.2 < np.mean(left_alone)
    assert np.all(corrected < np.maximum(left_alone, 1.3))
    # two rounds and the verification, 200 shots per probe; the fine step; a verification's correction
    # and its second verification where the first was out of spec
    assert shots <= {3 * 12 * 200 + 2000, 4 * 12 * 200 + 2000}


# --- files ----------------------------------------------------------------------------------------
def test_saved_controller_round_trips_and_refuses_another_family(tmp_path, family, trained):
    out = save_controller(trained, tmp_path / "ctl", options=BRIEF, family=family)
    for name in ("controller.eqx", "controller.json", "training.json", "training-curve.png"):
        assert (out / name).is_file()
    curve = json.loads((out / "training.json").read_text())
    assert curve["family"] == "sim-1q" and len(curve["steps"]) == BRIEF.steps == len(curve["loss"])
    meta = json.loads((out / "controller.json").read_text())
    assert meta["trained_on"]["drift"]["telegraph_jump"] == SPEC.drift.telegraph_jump

    loaded = load_controller(out, SPEC, 0)
    p = np.linspace(0.1, 0.9, 12)
    start = nominal_calibration(SPEC, 0)
    assert predict(loaded, p, start) == predict(trained.controller, p, start)

    with pytest.raises(ControllerError, match=r"trained for device family 'sim-1q'.*sim-5q"):
        load_controller(out, load_spec("sim-5q"), 0)
    with pytest.raises(ControllerError, match="holds no controller"):
        load_controller(tmp_path / "nothing", SPEC, 0)
    meta["format"] = 1
    (out / "controller.json").write_text(json.dumps(meta))
    with pytest.raises(ControllerError, match="has format 1; this version reads format 2: retrain"):
        load_controller(out, SPEC, 0)
    (out / "controller.json").write_text("{not json")
    with pytest.raises(ControllerError, match="is not a controller description"):
        load_controller(out, SPEC, 0)


# --- the graph node ---------------------------------------------------------------------------
# added to the small amplitude graph: a learned node that falls back to fine_amplitude
LEARNED_NODE_TOML = """
[nodes.learned_recalibration]
depends_on = ["rabi"]
fallback = ["fine_amplitude"]
timeout_h = 10.0
update = { frequency = "frequency", x_amp = "x_amp", sx_amp = "sx_amp", beta = "beta" }
tolerance.x_amp = { relative = 0.004 }
check = { experiment = "learned_check", options = { controller = "CONTROLLER" } }
[[nodes.learned_recalibration.calibrate]]
experiment = "learned_recalibration"
options = { controller = "CONTROLLER" }
"""


def run_after_a_good_calibration(tmp_path, controller, *, seed: int = 2, jump_ghz: float = 0.0):
    """The small learned graph on a device a perfect calibration left a day ago (its values set
    in the store by hand), with an optional frequency jump on top of the day's drift."""
    graph_file = tmp_path / "graph.toml"
    graph_file.write_text(AMPLITUDE_GRAPH + LEARNED_NODE_TOML.replace("CONTROLLER", str(controller)))
    device, calibration = good_then_drifted(seed)
    if jump_ghz:
        device.jump_frequency(0, ghz=jump_ghz)
    with Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        for name in ("frequency", "x_amp", "sx_amp", "beta"):
            store.set_value(f"sim-1q/seed-{seed}", 0, name, getattr(calibration, name), None, UNITS[name])
        request = RunRequest(qubits=(0,), graph=load_graph(str(graph_file)),
                             data_dir=tmp_path / "data")
        return run_calibration(store, request, device=device)["qubits"]["0"]


def test_the_learned_node_calibrates_and_verifies(tmp_path, family, trained):
    controller = save_controller(trained, tmp_path / "ctl", options=BRIEF, family=family)
    report = run_after_a_good_calibration(tmp_path, controller)
    assert [(n["node"], n["outcome"]) for n in report["nodes"]] == [
        ("rabi", "calibrated"), ("learned_recalibration", "calibrated")]
    assert report["nodes"][1]["shots"] == 7200 + 2000  # rounds and verification; fine-frequency Ramsey
    assert ratio(report["truth"]) < 1.3
    assert {"frequency", "x_amp", "sx_amp", "beta"} <= set(report["parameters"])
    assert all(report["parameters"][name]["stderr"] > 0 for name in ("frequency", "x_amp", "beta"))
    # what it measured is stored, and the dashboard shows its probes with the verification
    from dashboards.datasets import load_dataset_plot

    with Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}", read_only=True) as store:
        outcome = store.last_outcome("sim-1q/seed-2", 0, LEARNED_NODE)
    plot = load_dataset_plot(outcome.dataset_path, title=LEARNED_NODE)
    assert len(plot.points["x"]) == 3 * 12 and "verified" in plot.summary


def test_a_failed_verification_falls_back_to_the_classic_nodes(tmp_path, family):
    """An untrained controller corrects nothing: after a 400 kHz jump the verification fails,
    and fine_amplitude runs in the learned node's place."""
    untrained = Trained(controller=initial_controller(family, BRIEF), steps=[], loss=[], validation_error=[],
                        start_error=float("nan"), seconds=0.0)
    controller = save_controller(untrained, tmp_path / "ctl", options=BRIEF, family=family)
    report = run_after_a_good_calibration(tmp_path, controller, jump_ghz=4e-4)
    outcomes = [(n["node"], n["action"], n["outcome"]) for n in report["nodes"]]
    assert outcomes == [("rabi", "calibrate", "calibrated"), ("learned_recalibration", "calibrate", "failed"),
                        ("fine_amplitude", "calibrate", "calibrated")]
    assert "verification out of spec" in report["nodes"][1]["reason"]
    assert "frequency offset" in report["nodes"][1]["reason"]
    # ~400 kHz is beyond the fine-frequency step's unambiguous range (+-248 kHz): its aliased
    # correction is applied, and the verification after it still refuses the result
    assert "fine frequency: moved the drive" in report["nodes"][1]["reason"]
    assert "fallback for learned_recalibration" in report["nodes"][2]["reason"]
    assert report["status"] == "calibrated"


def test_a_controller_directory_is_a_graph(tmp_path, family, trained):
    controller = save_controller(trained, tmp_path / "ctl", options=BRIEF, family=family)
    graph = load_graph(str(controller))
    node = graph.node(LEARNED_NODE)
    assert node.fallback == ("ramsey", "drag", "fine_amplitude", "fine_drag")
    assert graph.node("rb").depends_on == (LEARNED_NODE, "t1", "t2")
    assert graph.node("t1").depends_on == graph.node("t2").depends_on == ("rabi",)  # not rechecked after it
    assert "ramsey" not in [n for n in graph.leaves()]


def test_a_controller_directory_builds_on_the_graph_it_was_trained_for(tmp_path, family, trained):
    """train-controller --graph emulator: `run --graph DIR` replaces the emulator graph's nodes
    (no spectroscopy, T1, echo or RB added back); a missing base graph is a clear error."""
    from calibrate.graph.toml import GraphFileError, graph_reference

    controller = save_controller(trained, tmp_path / "ctl", options=BRIEF, family=family,
                                 base_graph=graph_reference("emulator"))
    graph = load_graph(str(controller))
    assert graph.node(LEARNED_NODE).fallback == ("ramsey", "drag", "fine_amplitude", "fine_drag")
    assert sorted(n.name for n in graph.nodes) == sorted(["rabi", LEARNED_NODE, "ramsey", "drag", "fine_amplitude",
                                                          "fine_drag"])
    own = tmp_path / "mine.toml"
    own.write_text((Path(__file__).parents[2] / "calibrate" / "graphs" / "emulator.toml").read_text())
    assert graph_reference(str(own)) == str(own.resolve())
    controller = save_controller(trained, tmp_path / "ctl2", options=BRIEF, family=family,
                                 base_graph=graph_reference(str(own)))
    own.unlink()
    with pytest.raises(GraphFileError, match="mine.toml"):
        load_graph(str(controller))
    with pytest.raises(GraphFileError, match="a directory"):
        graph_reference(str(tmp_path))


@pytest.mark.slow  # a subprocess compiles the training step again (~50 s)
def test_train_controller_cli_writes_weights_prior_and_curve(tmp_path):
    out = tmp_path / "ctl"
    report, _ = calibrate_json("train-controller", "--device-family", "sim-1q", "--out", str(out),
                               "--steps", "2", "--batch", "4")
    assert report["family"] == "sim-1q" and report["shots_per_recalibration"] == 9200
    assert sorted(p.name for p in out.iterdir()) == ["controller.eqx", "controller.json", "training-curve.png",
                                                      "training.json"]
    (tmp_path / "file").write_text("")
    report, _ = calibrate_json("train-controller", "--device-family", "sim-1q", "--out", str(tmp_path / "file"),
                               expect=2)
    assert "--out" in report["error"] and "is a file" in report["error"]
    report, _ = calibrate_json("train-controller", "--device-family", "sim-1q", "--out", str(tmp_path / "ctl3"),
                               "--graph", str(tmp_path / "no-such-graph.toml"), expect=2)
    assert "no-such-graph.toml" in report["error"] and not (tmp_path / "ctl3").exists()


# --- error bars and verification ----------------------------------------------------------------
def perfect(seed: int):
    device = SimulatedDevice(SPEC, seed=seed)
    best = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
    return device, nominal_calibration(SPEC, 0).replace(frequency=best["frequency"], x_amp=best["x_amp"],
                                                        sx_amp=best["x_amp"] / 2, beta=best["beta"])


def off_by(calibration, k: int, offset: float):
    if k == 0:
        return calibration.replace(frequency=calibration.frequency + offset)
    if k == 1:
        return calibration.replace(x_amp=calibration.x_amp * (1 + offset), sx_amp=calibration.sx_amp * (1 + offset))
    return calibration.replace(beta=calibration.beta + offset)


def test_verification_accepts_well_inside_and_rejects_twice_the_tolerance(family):
    """The ends of the accept curve (bench/verification.py measures all of it): a quarter of a
    tolerance off the truth's optimum is accepted, twice a tolerance rejected, for each of
    frequency, amplitude and beta and both signs; and the estimated offset is the one applied."""
    controller = initial_controller(family, BRIEF)  # the verification does not use the network
    inside, outside, estimates = [], [], []
    for i, seed in enumerate(CURVE_SEEDS):
        device, calibration = perfect(seed)
        sign = (-1) ** i
        for k in range(3):
            check = verify(controller, measure_probes(device, controller, off_by(calibration, k, sign * TOLERANCES[k] / 4), 0))
            inside.append(check.in_spec)
            check = verify(controller, measure_probes(device, controller, off_by(calibration, k, sign * 2 * TOLERANCES[k]), 0))
            outside.append(check.in_spec)
            estimates.append((check.offsets[k] - sign * 2 * TOLERANCES[k]) / check.offset_stderr[k])
            assert "beyond the tolerance" in check.reason or check.in_spec
    assert sum(inside) >= len(inside) - 1
    assert sum(outside) <= 1
    # the offset estimate is unbiased within its error: what puts the 50 % point at the tolerance
    assert np.max(np.abs(estimates)) < 4 and abs(np.mean(estimates)) < 1.5


def test_an_out_of_spec_verification_corrects_its_own_estimate_and_verifies_again(family):
    """A calibration 2.5 tolerances off in frequency, amplitude and beta at once, left there by the
    rounds (an untrained network moves nothing) and no fine step: the verification rejects it,
    its estimated offsets move it back (one probe measurement) and the second verification
    accepts; the stored errors of what moved are that estimate's. Without retries the node fails."""
    controller = initial_controller(family, BRIEF)
    probe_shots = controller.probes.n_probes * controller.probes.shots
    verified, true_offsets = [], []
    for i, seed in enumerate(CURVE_SEEDS):
        device, best = perfect(seed)
        sign = (-1) ** i
        start = off_by(off_by(off_by(best, 0, 2.5 * sign * TOLERANCES[0]), 1, -2.5 * sign * TOLERANCES[1]),
                       2, 2.5 * sign * TOLERANCES[2])
        once = recalibrate(device, controller, start, 0, fine=None, retries=0)
        assert not once.verification.in_spec and once.corrections == ()
        result = recalibrate(device, controller, start, 0, fine=None, retries=1, refine=False)
        assert len(result.corrections) == 1 and result.shots == (controller.rounds + 2) * probe_shots
        verified.append(result.verification.in_spec)
        final = result.calibration
        true_offsets.append([(final.frequency - best.frequency) / TOLERANCES[0],
                             (final.x_amp / best.x_amp - 1) / TOLERANCES[1], (final.beta - best.beta) / TOLERANCES[2]])
        assert final.sx_amp / final.x_amp == pytest.approx(start.sx_amp / start.x_amp)
        values = recalibrated_estimates(controller, result)
        sd = result.corrections[0].offset_stderr
        assert values["frequency"].stderr == pytest.approx(sd[0]) and values["beta"].stderr == pytest.approx(sd[2])
        assert values["x_amp"].stderr == pytest.approx(sd[1] * final.x_amp)
    assert sum(verified) >= len(verified) - 1, verified
    assert np.all(np.abs(true_offsets) < 1.0), true_offsets  # each coordinate back within its tolerance


def test_an_in_spec_verification_refines_a_significant_beta_offset_at_no_shot_cost(family):
    """Beta 0.7 tolerances off (~4 standard errors of the verification's estimate), left there by
    the rounds (an untrained network moves nothing): the verification accepts it, and the
    refinement moves beta by its estimate, not the frequency, with no further shots; the stored
    error of beta is the estimate's."""
    controller = initial_controller(family, BRIEF)
    probe_shots = controller.probes.n_probes * controller.probes.shots
    before, after, gates = [], [], []
    for seed in CURVE_SEEDS:
        device, best = perfect(seed)
        start = off_by(best, 2, 0.7 * TOLERANCES[2])
        plain = recalibrate(device, controller, start, 0, fine=None, retries=0, refine=False)
        result = recalibrate(device, controller, start, 0, fine=None, retries=0)
        assert plain.refined is None and plain.calibration == start
        assert result.shots == plain.shots == (controller.rounds + 1) * probe_shots
        if not result.verification.in_spec:
            assert result.refined is None and result.calibration == start
            continue
        assert result.refined is result.verification
        final = result.calibration
        assert final.frequency == start.frequency  # the frequency is never refined
        before.append(abs(start.beta - best.beta))
        after.append(abs(final.beta - best.beta))
        assert recalibrated_estimates(controller, result)["beta"].stderr == pytest.approx(
            result.refined.offset_stderr[2])
        gates.append([ratio(x_gate_truth(device, 0, c.x_schedule())) for c in (start, final)])
    assert len(after) >= len(CURVE_SEEDS) - 1
    assert np.mean(after) < 0.5 * np.mean(before), (before, after)
    assert np.mean([g[1] for g in gates]) < np.mean([g[0] for g in gates]), gates


def test_only_significant_amplitude_and_beta_offsets_of_an_accepted_verification_are_refined():
    def check(in_spec: bool, offsets) -> Verification:
        return Verification(in_spec, "", np.zeros(6), np.ones(6), np.asarray(offsets, float),
                            np.array([1e-5, 1e-3, 1e-2]), 1.0, 20.0)

    assert refinable(check(True, [5e-5, 3e-3, 0.03])).tolist() == [False, True, True]
    assert refinable(check(True, [5e-5, 1e-3, -0.015])).tolist() == [False, False, False]  # within 2 stderr
    assert refinable(check(False, [5e-5, 3e-3, 0.03])).tolist() == [False, False, False]  # out of spec: corrected
    assert refinable(check(True, [5e-5, np.nan, 0.03])).tolist() == [False, False, True]


def test_a_frequency_jump_far_outside_tolerance_is_rejected(family):
    """Far drifts must fall back: 0.5 and 2 MHz (where the 1 us Ramsey pair comes round to zero) are
    caught by the pairs' consistency, not only by the estimated offset."""
    controller = initial_controller(family, BRIEF)
    device, calibration = perfect(CURVE_SEEDS[0])
    for jump in (5e-4, 2e-3):
        check = verify(controller, measure_probes(device, controller, off_by(calibration, 0, jump), 0))
        assert not check.in_spec and "verification out of spec" in check.reason


def test_bad_tolerances_are_refused():
    with pytest.raises(ControllerError, match=r"TrainOptions.tolerances.*\(0.0, 0.004, 0.05\).*three finite numbers > 0"):
        TrainOptions(tolerances=(0.0, 0.004, 0.05))


@pytest.mark.slow  # 24 devices recalibrated, each with the truth's optimum found twice (~1 min)
def test_stored_standard_errors_cover_the_true_optimum(trained):
    """The learned node's standard errors (the probes' shot noise carried through the rounds that
    were applied) hold |value - true optimum| <= stderr on 50-90 % of unseen devices, per parameter.
    The optimum: the true dressed frequency, and the truth's best DRAG amplitude and beta a day later."""
    inside = []
    for seed in COVERAGE_SEEDS:
        device, calibration = good_then_drifted(seed)
        result = recalibrate(device, trained.controller, calibration, 0)
        values = recalibrated_estimates(trained.controller, result)
        truth = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
        assert values["x_amp"].value == result.calibration.x_amp  # the applied calibration is what is stored
        inside.append([abs(values[name].value - truth[name]) <= values[name].stderr
                       for name in ("frequency", "x_amp", "beta")])
    coverage = np.mean(inside, axis=0)
    assert np.all((coverage >= 0.5) & (coverage <= 0.9)), coverage


def test_propagated_covariance_matches_the_spread_of_repeated_rounds(trained):
    """The delta-method covariance of the applied rounds against Monte Carlo: 400 runs of the
    controller's rounds on one model transmon, each with fresh (Gaussian) binomial noise on
    every probe, from a calibration 50 kHz, 1 % and 0.05 ns off its optimum."""
    controller = trained.controller
    device = SimulatedDevice(SPEC, seed=CURVE_SEEDS[1])
    transmon = dressed_transmon(device.truth(), 0)
    best = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
    start = (best["frequency"] + 5e-5, best["x_amp"] * 1.01, best["beta"] + 0.05)
    keys = jax.random.split(jax.random.key(11), 400)
    _, _, finals = jax.jit(jax.vmap(lambda k: rollout(controller, transmon, *start, k, idle=100.0, **SHAPE)))(keys)
    finals = np.stack([np.asarray(finals[0]), np.log(np.asarray(finals[1])), np.asarray(finals[2])], axis=1)

    history, read_one = [nominal_calibration(SPEC, 0).replace(frequency=start[0], x_amp=start[1], sx_amp=start[1] / 2,
                                                              beta=start[2])], []
    for _ in range(controller.rounds):  # the noiseless trajectory the linearisation is taken along
        c = history[-1]
        read_one.append(np.asarray(probe_read_one(controller.probes, transmon, c.frequency, c.x_amp, c.sx_amp, c.beta,
                                                  **SHAPE)))
        history.append(predict(controller, read_one[-1], c))
    propagated = np.sqrt(np.diag(applied_covariance(controller, np.array(read_one), history)))
    measured = finals.std(axis=0)
    np.testing.assert_allclose(propagated, measured, rtol=0.2)
