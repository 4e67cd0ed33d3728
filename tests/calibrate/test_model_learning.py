"""Model learning on simulated devices, judged against their hidden truth.

Datasets come from the real experiments on `sim-1q-steady` (sim-1q with its drift off,
so the truth read before the runs is the truth of every shot), calibrated as an operator
would: spectroscopy and a short Ramsey set the drive frequency, Rabi the pi amplitude;
then Rabi, a long Ramsey, T1, echo and readout are learned from. Every test uses the same
experiment options, so the simulator compiles once per session. Seeds here were not used
while developing the learner (held out).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from calibrate.cli import app
from calibrate.ml.likelihood import (PARAMETERS, ModelLearningError, Reparametrisation, binomial_deviance,
                                     negative_log_likelihood, nll_gradient_fisher, observations,
                                     read_one_probabilities, replay)
from calibrate.ml.model_learning import LearnOptions, learn_model
from calibrate.store import Store
from devices.catalog import load_spec
from devices.dressing import dressed_transmon
from devices.simulated import SimulatedDevice
from experiments.base import run_experiment
from experiments.calibration import nominal_calibration
from experiments.registry import experiment_class
from experiments.storage import save_dataset
from support.cli import calibrate

STEADY = Path(__file__).with_name("sim-1q-steady.toml")
SHORT_RAMSEY = {"max_delay": 2000.0, "points": 41, "detuning": 0.004}
# (experiment, options, shots, calibration values it updates, learned from)
PLAN = (
    ("spectroscopy", {}, 200, ("frequency",), False),
    ("rabi", {"points": 31}, 300, ("x_amp", "sx_amp"), True),
    ("ramsey", SHORT_RAMSEY, 300, ("frequency",), False),
    ("ramsey", {}, 300, ("frequency",), True),
    ("t1", {"points": 21}, 300, (), True),
    ("echo", {"points": 15}, 300, (), True),
    ("readout", {}, 2000, (), True),
)
LEARNED = ("frequency", "drive_scale", "t1", "t2", "readout_p01", "readout_p10")

# What these datasets recover: over 30 development devices the largest errors were 0.32 kHz,
# 0.9 %, 4.8 %, 8.8 %, 0.0032 and 0.0056 (2.1 to 2.8 standard errors); the tolerances sit above.
TOLERANCE = {"frequency": 5e-7, "drive_scale": 0.015, "t1": 0.12, "t2": 0.15, "readout_p01": 0.008,
             "readout_p10": 0.012}  # GHz, relative, relative, relative, absolute, absolute


@pytest.fixture(scope="module")
def spec():
    return load_spec(str(STEADY))


def truth_of(device: SimulatedDevice) -> dict[str, float]:
    transmon = dressed_transmon(device.truth(), 0)
    return {p: float(getattr(transmon, p)) for p in PARAMETERS}


_MEASURED: dict[tuple[str, int], tuple[dict, dict]] = {}


def measure(spec, seed: int) -> tuple[dict[str, float], dict]:
    """(truth before the runs, the datasets to learn from by experiment name) of device `seed`."""
    if (spec.name, seed) not in _MEASURED:
        device = SimulatedDevice(spec, seed=seed)
        truth = truth_of(device)
        cal = {0: nominal_calibration(spec, 0)}
        datasets = {}
        for name, options, shots, updates, learn in PLAN:
            experiment = experiment_class(name)(qubit=0, **options)
            ds = run_experiment(experiment, device, cal, shots=shots)
            if learn:
                datasets[name] = ds
            result = experiment.analyze(ds) if updates else None
            if result is not None and result.good:
                cal = {0: cal[0].replace(**{k: result[k].value for k in updates})}
        _MEASURED[spec.name, seed] = truth, datasets
    return _MEASURED[spec.name, seed]


def error(model, truth: dict, name: str) -> float:
    """Absolute error (frequency, readout) or relative error (drive scale, T1, T2)."""
    e = abs(model.values[name] - truth[name])
    return e / truth[name] if name in ("drive_scale", "t1", "t2") else e


@pytest.mark.parametrize("seed", [101, 102, 103])
def test_the_learned_model_recovers_the_true_device(spec, seed):
    truth, datasets = measure(spec, seed)
    model = learn_model(datasets, spec, 0)
    assert model.converged, model.reason
    assert model.learned == LEARNED
    if seed in RECORDED:
        assert_as_recorded(model, seed)
    for name in LEARNED:
        assert error(model, truth, name) < TOLERANCE[name], (name, model.values[name], truth[name])
        assert 0 < model.stderr[name] < math.inf
    # the model describes these counts: deviance/dof within 4 of its standard deviations sqrt(2 / dof) of 1
    # (device 102's counts sit 3.2 of them above 1 even at the truth, mostly in its Ramsey dataset;
    # over the 40 devices of the coverage test deviance/dof was 1.014 +- 0.094, at most 1.17)
    assert model.dof == model.n_points - len(LEARNED)
    assert abs(model.deviance_per_dof - 1.0) < 4.0 * math.sqrt(2.0 / model.dof), model.deviance_per_dof
    assert model.covariance_scale == max(1.0, model.deviance_per_dof)
    # no experiment here probes level 2: the anharmonicity is reported as not learned, never
    # with a made-up error bar
    assert model.fixed == ("anharmonicity",)
    assert math.isnan(model.stderr["anharmonicity"])
    assert "anharmonicity not constrained by these datasets" in model.reason
    assert np.all(np.isnan(model.covariance[1])) and np.all(np.isfinite(model.covariance[np.ix_([0, 2, 3], [0, 2, 3])]))


@pytest.mark.slow
def test_standard_errors_cover_the_truth_about_two_times_in_three(spec):
    """Over 40 devices the 1-sigma intervals of every learned parameter must cover the truth
    50-90% of the time (68% expected). With six parameters asserted, 20 devices would fail
    perfect error bars 17% of the time (3.1% each); 40 put the band at -2.4 and +3.0 binomial
    standard deviations, 0.5% each, 3% in all."""
    seeds = range(200, 240)
    hits = {name: [] for name in LEARNED}
    for seed in seeds:
        truth, datasets = measure(spec, seed)
        model = learn_model(datasets, spec, 0)
        assert model.converged, (seed, model.reason)
        for name in LEARNED:
            hits[name].append(abs(model.values[name] - truth[name]) < model.stderr[name])
        _MEASURED.pop((spec.name, seed))  # keep the module's memory flat
    coverage = {name: float(np.mean(h)) for name, h in hits.items()}
    print("1-sigma coverage over 40 devices:", coverage)
    for name in LEARNED:
        assert 0.5 <= coverage[name] <= 0.9, coverage


def _with_readout_p10(tmp_path, p10: float):
    """sim-1q-steady whose design readout_p10 is `p10` (the prior the model is learned with keeps 0.04)."""
    text = STEADY.read_text()
    assert text.count("readout_p10 = 0.04") == 1
    path = tmp_path / "sim-1q-steady-p10.toml"
    path.write_text(text.replace("readout_p10 = 0.04", f"readout_p10 = {p10}")
                    .replace('name = "sim-1q-steady"', 'name = "sim-1q-steady-p10"'))
    return load_spec(str(path))


@pytest.mark.slow
def test_an_off_model_fit_shows_in_the_deviance_and_widens_the_errors(spec, tmp_path):
    """Counts of a device whose readout_p10 is 0.08, learned without the readout dataset: with
    readout_p10 free the model describes them (deviance/dof ~1); held at the prior's 0.04 it cannot,
    so deviance/dof exceeds 1 by far more than its spread (0.87 and 1.88, sqrt(2 / dof) = 0.10) and
    every error bar widens by its root."""
    device_spec = _with_readout_p10(tmp_path, 0.08)
    truth, datasets = measure(device_spec, 111)
    assert abs(truth["readout_p10"] - 0.08) < 0.02
    datasets = {k: v for k, v in datasets.items() if k != "readout"}
    free = learn_model(datasets, spec, 0)
    held = learn_model(datasets, spec, 0, options=LearnOptions(fixed=("readout_p10",)))
    assert free.converged and held.converged, (free.reason, held.reason)
    print("deviance/dof: p10 free", free.deviance_per_dof, "held", held.deviance_per_dof)
    assert abs(free.deviance_per_dof - 1.0) < 3.0 * math.sqrt(2.0 / free.dof), free.deviance_per_dof
    assert abs(free.values["readout_p10"] - truth["readout_p10"]) < 3 * free.stderr["readout_p10"]
    assert held.values["readout_p10"] == pytest.approx(0.04) and held.dof == free.dof + 1
    assert held.deviance_per_dof > 1.0 + 5.0 * math.sqrt(2.0 / held.dof), held.deviance_per_dof  # 1.88 here
    assert held.covariance_scale == held.deviance_per_dof
    assert f"covariance scaled by deviance/dof {held.deviance_per_dof:.3f}" in held.reason
    for name in held.learned:  # one parameter fewer to confuse them with, yet wider: the scaling shows
        assert held.stderr[name] > free.stderr[name], (name, held.stderr[name], free.stderr[name])


def test_the_deviance_is_twice_the_nll_above_the_saturated_model(spec):
    """binomial_deviance against its definition 2 sum k log(k / n p) + (n - k) log((n - k) / (n (1 - p)))."""
    truth, datasets = measure(spec, 101)
    obs = observations([replay(ds, name) for name, ds in datasets.items()], spec.dt)
    x = np.array([truth[p] for p in PARAMETERS])
    p = np.asarray(read_one_probabilities(jnp.asarray(x), obs))
    k = np.concatenate([np.asarray(g.counts) for g in obs.groups])
    n = np.concatenate([np.broadcast_to(np.asarray(g.shots), g.counts.shape) for g in obs.groups])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (np.where(k > 0, k * np.log(k / (n * p)), 0.0)
                 + np.where(k < n, (n - k) * np.log((n - k) / (n * (1 - p))), 0.0))
    deviance = binomial_deviance(float(negative_log_likelihood(jnp.asarray(x), obs)), obs)
    assert deviance == pytest.approx(2.0 * np.sum(terms), rel=1e-9)
    assert abs(deviance / obs.n_points - 1.0) < 3.0 * math.sqrt(2.0 / obs.n_points)  # the truth describes them


def test_the_nll_gradient_equals_central_differences(spec):
    """The gradient the fit uses (forward-mode Jacobian, chain rule through the reparametrisation)
    against central differences of the NLL, at a point off the optimum in every direction.
    The steps are tiny in frequency and anharmonicity: long delays make the NLL ripple there at
    the kHz scale."""
    truth, datasets = measure(spec, 101)
    obs = observations([replay(ds, name) for name, ds in datasets.items()], spec.dt)
    x = np.array([truth[p] for p in PARAMETERS]) + np.array(
        [5e-6, -5e-3, 0.01 * truth["drive_scale"], -0.1 * truth["t1"], 0.1 * truth["t2"], 0.005, -0.005])
    reparam = Reparametrisation(reference=jnp.asarray(x[0] - 2e-6))
    theta = np.asarray(reparam.to_unconstrained(x))
    _, grad_x, _ = nll_gradient_fisher(x, obs)
    grad = np.asarray(jax.jacfwd(reparam.to_natural)(jnp.asarray(theta))).T @ grad_x
    assert np.all(np.isfinite(grad)) and np.all(grad != 0)

    def nll(t):
        return float(negative_log_likelihood(reparam.to_natural(jnp.asarray(t)), obs))

    steps = np.array([1e-6, 4e-9, 1e-6, 1e-4, 1e-4, 1e-4, 1e-4])
    central = np.array([(nll(theta + h * e) - nll(theta - h * e)) / (2 * h) for h, e in zip(steps, np.eye(7))])
    np.testing.assert_allclose(grad, central, rtol=1e-5)


def test_the_fits_likelihood_is_the_definition_and_caches_populations_only(spec, monkeypatch):
    """Likelihood (group by group, populations cached by the five physical parameters, a five-column
    Jacobian) against negative_log_likelihood and the seven-column forward-mode Jacobian of
    read_one_probabilities; a move in p01 and p10 alone simulates nothing."""
    from calibrate.ml import likelihood as lk

    truth, datasets = measure(spec, 101)
    obs = observations([replay(ds, name) for name, ds in datasets.items()], spec.dt)
    x = np.array([truth[p] for p in PARAMETERS]) + np.array([3e-6, 2e-3, 0.0, 0.05 * truth["t1"], 0.0, 0.004, -0.003])
    likelihood = lk.Likelihood(obs)
    p, jac = likelihood.probabilities_and_jacobian(x)
    np.testing.assert_allclose(p, read_one_probabilities(jnp.asarray(x), obs), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(jac, jax.jacfwd(read_one_probabilities)(jnp.asarray(x), obs), rtol=1e-9, atol=1e-12)
    assert likelihood.nll(x) == pytest.approx(float(negative_log_likelihood(jnp.asarray(x), obs)), rel=1e-12)
    simulated = []
    real = lk._group_levels
    monkeypatch.setattr(lk, "_group_levels", lambda *a: simulated.append(1) or real(*a))
    moved = x + np.array([0, 0, 0, 0, 0, -0.002, 0.001])
    assert likelihood.nll(moved) == pytest.approx(float(negative_log_likelihood(jnp.asarray(moved), obs)), rel=1e-12)
    assert not simulated
    likelihood.nll(x + np.array([1e-7, 0, 0, 0, 0, 0, 0]))
    assert len(simulated) == len(obs.groups)


# learn_model's results on these datasets before its likelihood was evaluated group by group with
# cached populations and the simulator held flat pulses and bucketed gate sequences (2.4x faster
# on seed 131): the values must agree to a thousandth of a standard error, the errors to 1e-6.
RECORDED = {  # seed: (values, standard errors), PARAMETERS order
    101: ((4.976295178378381, -0.24, 0.08381065924958833, 91232.15064867203,
           55697.70225015172, 0.021581683736198065, 0.04853161915628998),
          (1.606096208285325e-07, math.nan, 0.000326708231041273, 2077.068484418722,
           1711.6402600643698, 0.002076655188819909, 0.00275131402217555)),
    131: ((4.997896216682549, -0.23327748407179513, 0.07626823761234897, 72368.53471422805,
           88983.22576199741, 0.02461677802802808, 0.03906724207945947),
          (1.5289265054381584e-07, 0.0003659958556473492, 8.186588678578035e-05, 1600.503212610927,
           2174.1745901163977, 0.0011192236055132224, 0.0015595261391136038)),
}


def assert_as_recorded(model, seed: int) -> None:
    values, stderr = (np.array(a) for a in RECORDED[seed])
    learned = np.array([model.values[p] for p in PARAMETERS])
    reported = np.array([model.stderr[p] for p in PARAMETERS])
    pinned = np.isfinite(stderr)
    np.testing.assert_array_equal(np.isfinite(reported), pinned)
    assert np.all(np.abs(learned - values)[pinned] < 1e-3 * stderr[pinned]), (learned - values) / stderr
    assert np.all(learned[~pinned] == values[~pinned])
    np.testing.assert_allclose(reported[pinned], stderr[pinned], rtol=1e-6)


def test_the_learned_model_is_a_simulated_device_of_its_own(spec, tmp_path):
    truth, datasets = measure(spec, 101)
    model = learn_model(datasets, spec, 0)
    learned = model.to_device_spec()
    q = learned.qubits[0]
    assert learned.n_qubits == 1 and learned.name == "sim-1q-steady-learned"
    assert (q.frequency, q.drive_scale, q.t1) == (model.values["frequency"], model.values["drive_scale"],
                                                 model.values["t1"])
    # the fabrication spread is the learned uncertainty; the anharmonicity keeps the prior's
    assert learned.fabrication.frequency == model.stderr["frequency"]
    assert learned.fabrication.t1_rel == pytest.approx(model.stderr["t1"] / model.values["t1"])
    assert learned.fabrication.anharmonicity == spec.fabrication.anharmonicity
    path = model.write_device_file(tmp_path / "learned.toml")
    again = load_spec(str(path))
    assert again.qubits[0].frequency == q.frequency and again.fabrication == learned.fabrication
    assert again.qubits[0].t1 == pytest.approx(q.t1, rel=1e-12)
    assert "# frequency = " in path.read_text()  # the values with their errors head the file
    # a device drawn from it runs experiments
    device = SimulatedDevice(again, seed=1)
    drawn = device.truth().transmons[0]
    assert abs(float(drawn.frequency) - q.frequency) < 6 * model.stderr["frequency"]
    rabi = experiment_class("rabi")(qubit=0, points=31)
    result = rabi.analyze(run_experiment(rabi, device, {0: nominal_calibration(again, 0)}, shots=300))
    assert result.good, result.reason


def test_a_fit_that_cannot_converge_is_a_result_with_its_reason(spec):
    _, datasets = measure(spec, 102)
    model = learn_model(datasets, spec, 0, options=LearnOptions(max_iterations=1, tolerance=1e-30))
    assert not model.converged
    assert "not converged in 1 steps" in model.reason
    with pytest.raises(ModelLearningError, match="did not converge"):
        model.to_device_spec()


def test_bad_input_is_refused_with_the_reason(spec):
    _, datasets = measure(spec, 102)
    with pytest.raises(ModelLearningError, match="No datasets"):
        learn_model([], spec, 0)
    with pytest.raises(ModelLearningError, match="qubit 0, not qubit 1|qubits 0..0"):
        learn_model(datasets, spec, 1)
    moved = _on_qubit(datasets["rabi"], 1)
    with pytest.raises(ModelLearningError, match="measured qubit 1, not qubit 0"):
        learn_model({"moved.nc": moved}, spec, 0)
    with pytest.raises(ModelLearningError, match="LearnOptions.fixed"):
        LearnOptions(fixed=("t3",))
    with pytest.raises(ModelLearningError, match="constrained_fraction"):
        LearnOptions(constrained_fraction=0.0)


def _on_qubit(ds, qubit: int):
    """The same dataset as if taken on another qubit."""
    moved = ds.assign_coords(qubit=[qubit])
    options = json.loads(ds.attrs["options"]) | {"qubit": qubit}
    calibration = {str(qubit): json.loads(ds.attrs["calibration"])["0"]}
    moved.attrs.update(options=json.dumps(options), calibration=json.dumps(calibration))
    return moved


# --- the command ------------------------------------------------------------------------------
GRAPH = """
schema = 1
name = "learnable"
[nodes.rabi]
timeout_h = 10.0
update = { x_amp = "x_amp", sx_amp = "sx_amp" }
tolerance.x_amp = { relative = 0.03 }
check = { experiment = "rabi", shots = 300, options = { points = 31 } }
[[nodes.rabi.calibrate]]
experiment = "rabi"
shots = 300
options = { points = 31 }
[nodes.ramsey]
depends_on = ["rabi"]
timeout_h = 10.0
update = { frequency = "frequency" }
tolerance.frequency = { absolute = 5e-5 }
check = { experiment = "ramsey", shots = 300 }
[[nodes.ramsey.calibrate]]
experiment = "ramsey"
shots = 300
options = { max_delay = 2000.0, points = 41, detuning = 0.004 }
[[nodes.ramsey.calibrate]]
experiment = "ramsey"
shots = 300
[nodes.t1]
depends_on = ["ramsey"]
timeout_h = 10.0
update = { t1 = "t1" }
tolerance.t1 = { relative = 0.3 }
check = { experiment = "t1", shots = 300, options = { points = 21 } }
[[nodes.t1.calibrate]]
experiment = "t1"
shots = 300
options = { points = 21 }
[nodes.t2]
depends_on = ["ramsey"]
timeout_h = 10.0
update = { t2 = "t2" }
tolerance.t2 = { relative = 0.3 }
check = { experiment = "echo", shots = 300, options = { points = 15 } }
[[nodes.t2.calibrate]]
experiment = "echo"
shots = 300
options = { points = 15 }
[nodes.readout]
depends_on = ["rabi"]
timeout_h = 10.0
update = { p01 = "readout_p01", p10 = "readout_p10" }
tolerance.p01 = { absolute = 0.01 }
check = { experiment = "readout", shots = 2000 }
[[nodes.readout.calibrate]]
experiment = "readout"
shots = 2000
"""
CLI_SEED = 105  # a device 2 MHz from its design frequency: the graph has no spectroscopy


def invoke(*args: str, expect: int = 0) -> dict:
    """The command in this process (so it reuses the compiled simulator), as one JSON object."""
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == expect, (result.exit_code, result.stdout[-3000:], result.exception)
    return json.loads(result.stdout)


def test_learn_model_from_the_datasets_of_a_calibration_run(spec, tmp_path):
    truth = truth_of(SimulatedDevice(spec, seed=CLI_SEED))
    (tmp_path / "graph.toml").write_text(GRAPH)
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    device = ["--device", str(STEADY), "--seed", str(CLI_SEED), "--store", url]
    run = invoke("run", *device, "--graph", str(tmp_path / "graph.toml"))
    assert run["qubits"]["0"]["status"] == "calibrated", run["qubits"]["0"]["failed_nodes"]

    out = invoke("learn-model", *device, "--datasets", str(run["run_id"]))
    assert {"device", "seed", "qubit", "datasets", "values", "nll", "converged", "reason", "device_file", "deviance",
            "dof", "deviance_per_dof", "covariance_scale"} <= set(out)
    assert out["deviance_per_dof"] == pytest.approx(out["deviance"] / out["dof"])
    assert abs(out["deviance_per_dof"] - 1.0) < 4.0 * math.sqrt(2.0 / out["dof"])  # on-model: the device holds still
    assert out["covariance_scale"] == max(1.0, out["deviance_per_dof"])
    assert (out["device"], out["seed"], out["qubit"], out["converged"]) == ("sim-1q-steady", CLI_SEED, 0, True)
    assert [Path(p).name for p in out["datasets"]] == [
        f"run{run['run_id']:06d}-q0-{node}.nc"
        for node in ("rabi-calibrate0", "ramsey-calibrate1", "t1-calibrate0", "t2-calibrate0", "readout-calibrate0")]
    assert set(out["values"]) == set(PARAMETERS)
    for name in LEARNED:
        v = out["values"][name]
        assert set(v) == {"value", "stderr", "unit"} and v["stderr"] > 0
        assert abs(v["value"] - truth[name]) / (truth[name] if name in ("drive_scale", "t1", "t2") else 1) \
            < TOLERANCE[name], (name, v, truth[name])
    assert out["values"]["anharmonicity"]["stderr"] is None  # not learned: JSON null, not a number
    assert math.isfinite(out["nll"])

    # the learned model is a device of its own, and the store holds it under the device id
    learned = load_spec(out["device_file"])
    assert learned.qubits[0].frequency == out["values"]["frequency"]["value"]
    shown = invoke("device", "show", "--device", out["device_file"])
    assert shown["qubits"]["0"]["t1"] == out["values"]["t1"]["value"]
    with Store.open(url, read_only=True) as store:
        current = store.current(f"sim-1q-steady/seed-{CLI_SEED}", 0)
        outcome = store.outcomes(run_id=out["run_id"])[0]
    for name in LEARNED:
        stored = current[(0, f"model.{name}")]
        assert (stored.value, stored.stderr) == (out["values"][name]["value"], out["values"][name]["stderr"])
    assert (0, "model.anharmonicity") not in current
    assert (outcome.node, outcome.outcome) == ("learn_model", "calibrated")

    # the same files named one by one, with an explicit device file
    files = out["datasets"]
    again = invoke("learn-model", *device, "--out", str(tmp_path / "mine.toml"), "--datasets", *files)
    assert again["values"] == out["values"] and again["device_file"] == str(tmp_path / "mine.toml")

    # bad input: exit 2, with the reason
    other = save_dataset(_on_qubit(_load(files[0]), 1), tmp_path / "other-qubit.nc")
    for args, reason in [
        (["--datasets", "999"], "no run 999"),
        (["--datasets", str(tmp_path / "missing.nc")], "does not exist"),
        (["--qubit", "0", "--datasets", files[1], str(other)], "measured qubit 1, not qubit 0"),
        ([], "--datasets is required"),
    ]:
        refused = invoke("learn-model", *device, *args, expect=2)
        assert reason in refused["error"], (args, refused)


def _load(path):
    from experiments.storage import load_dataset

    return load_dataset(path)


def test_learn_model_refuses_bad_input_as_a_real_command(tmp_path):
    out = calibrate("learn-model", "--device", "sim-1q", "--datasets", str(tmp_path / "nope.nc"), "--json")
    assert out.returncode == 2, out.stderr
    assert "does not exist" in json.loads(out.stdout)["error"]



# DRAG, fine-DRAG and a short randomized benchmarking on top of the calibration: the RB sequences
# (up to ~1000 gates) make the NLL ripple in the anharmonicity, which DRAG data pin down smoothly
RIPPLE_SEED = 131
RIPPLE_PLAN = (
    ("drag", {"points": 21, "repetitions": [1, 3, 5]}, 500, ("beta",), True),
    ("fine_drag", {"max_repetitions": 20}, 500, ("beta",), True),
    ("rb", {"lengths": [1, 100, 250, 500], "seeds": 4, "rng_seed": 131}, 500, (), True),
)


# RB's sequences are seeded (rng_seed here; a seeded device seeds them from its clock anyway):
# they were drawn from the OS, which made this test pass or fail by the draw (once 'not
# constrained' inside make test). Over rng_seed 1-4 and 131 the anharmonicity was learned every
# time, 1.0-2.1 standard errors below the truth (they share the DRAG data, so not independently).
@pytest.mark.slow
def test_the_anharmonicity_from_drag_data_survives_randomized_benchmarking(spec):
    """With RB datasets the NLL ripples in the anharmonicity (every ~0.1 MHz) over the smooth well
    DRAG data dig; the fit must find that well and report its width, not a ripple's (sim-1q seed 4
    once sat 1 MHz off with an 11 kHz error bar, 94 of them)."""
    truth, datasets = measure(spec, RIPPLE_SEED)
    device = SimulatedDevice(spec, seed=RIPPLE_SEED)
    assert truth_of(device) == truth
    cal = {0: nominal_calibration(spec, 0)}
    for name, options, shots, updates, _ in PLAN:  # the same calibration as measure(), on a fresh copy
        experiment = experiment_class(name)(qubit=0, **options)
        result = experiment.analyze(run_experiment(experiment, device, cal, shots=shots)) if updates else None
        if result is not None and result.good:
            cal = {0: cal[0].replace(**{k: result[k].value for k in updates})}
    datasets = dict(datasets)
    for name, options, shots, updates, _ in RIPPLE_PLAN:
        experiment = experiment_class(name)(qubit=0, **options)
        datasets[name] = ds = run_experiment(experiment, device, cal, shots=shots)
        result = experiment.analyze(ds) if updates else None
        if result is not None and result.good:
            cal = {0: cal[0].replace(**{k: result[k].value for k in updates})}
    model = learn_model(datasets, spec, 0)
    assert model.converged, model.reason
    assert "anharmonicity" in model.learned, model.reason
    assert_as_recorded(model, RIPPLE_SEED)
    alpha, stderr = model.values["anharmonicity"], model.stderr["anharmonicity"]
    assert 2e-5 < stderr < 1e-3, (alpha, stderr)  # GHz: wider than the ripple's wells, narrower than the prior
    assert abs(alpha - truth["anharmonicity"]) < 3.0 * stderr, (alpha, stderr, truth["anharmonicity"])


def test_datasets_of_one_readout_are_learned_from_together(tmp_path):
    from calibrate.cli.learn import _load
    from experiments.library.readout import ReadoutAssignment
    from experiments.library.single_shot import SingleShot

    spec = load_spec("sim-1q")
    device = SimulatedDevice(spec, seed=23)
    own = nominal_calibration(spec, 0)
    calibrated = own.replace(readout_angle=1.0, readout_threshold=0.1)
    paths = {}
    for name, experiment, cal in (("own", ReadoutAssignment(), own), ("cal-a", ReadoutAssignment(), calibrated),
                                  ("cal-b", ReadoutAssignment(), calibrated), ("iq", SingleShot(), own)):
        ds = run_experiment(experiment, device, {0: cal}, shots=50, seed=1)
        paths[name] = str(save_dataset(ds, tmp_path / f"{name}.nc"))
    # a run's datasets: those of the readout most used, no IQ points
    data, qubit = _load(list(paths.values()), spec, device.name, None, from_run=True)
    assert sorted(data) == sorted([paths["cal-a"], paths["cal-b"]]) and qubit == 0
    with pytest.raises(ValueError, match="read through 2 different readouts"):
        _load([paths["own"], paths["cal-a"]], spec, device.name, None, from_run=False)
    with pytest.raises(ValueError, match="holds IQ points, not counts"):
        _load([paths["iq"]], spec, device.name, None, from_run=False)
