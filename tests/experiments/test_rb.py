"""Randomized benchmarking: the Clifford group, its compilation to SX/X pulses with virtual
Z, and standard and interleaved RB against the truth metrics of simulated devices.

What RB should find. The survival decays as A p^m + B, r = (1 - p)/2 per Clifford. For
Markovian errors that do not depend much on the gate, r is the average gate error of the
mean Clifford; Z rotations are perfect frame changes, so r = (16 e_SX + 4 e_X)/24 (16
Cliffords play one SX, 4 play one X, 4 play nothing) to first order in the errors, and the
error per physical gate epg = r / (20/24) = (16 e_SX + 4 e_X)/20. Interleaved RB estimates
e_G itself. e_G is `gate_metrics` of the pulse on the true device against the ideal X or
SX = sqrt(X): 1 - average gate fidelity including leakage (Wood & Gambetta). Truth-optimal
pulses on sim-1q are limited by T1/T2 (e ~ 1.5e-4, near the coherence limit): incoherent
errors, for which RB and IRB are unbiased. Leakage (~1e-6 per DRAG pulse here) adds a slow
second decay; at these levels it is far inside the error bars.

Statistics: the default lengths stop at 1000 Cliffords, where a T1-limited sim-1q qubit has
decayed by only ~25%, which leaves A, B and p correlated and r uncertain by ~35%. The
truth comparisons play up to 3000 Cliffords (~ 1/(2r)) and 4000 shots per sequence (shots
cost device time only, not simulation), for r to ~8%.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from scipy.optimize import minimize

from devices import Chip, Closed, Drag, Play, Schedule, Transmon, gate_metrics, propagator
from devices.catalog import load_spec
from devices.dressing import dressed_transmon
from devices.nominal import pi_amplitude
from devices.sequences import GateSequence, evolve_programs
from devices.simulated import SimulatedDevice
from experiments.base import ExperimentError, run_experiment
from experiments.calibration import QubitCalibration, nominal_calibration
from experiments.clifford import (CLIFFORDS, FRAME_PHASE_PER_RZ, IDENTITY, INVERSE, MULTIPLY, SX_MATRIX,
                                  X_MATRIX, PhysicalGate, clifford_index, decompose,
                                  mean_pulses_per_clifford, random_cliffords, rz, same_up_to_phase)
from experiments.library.rb import TABLE, InterleavedRB, StandardRB, rb_sequence
from experiments.results import Verdict

DT = 0.5
LONG = (1, 200, 500, 1000, 1500, 2000, 3000)  # reaches ~1/(2 r) on sim-1q: see the docstring
SEEDS, SHOTS = 12, 4000


# --- the group ---------------------------------------------------------------------------

def test_the_24_cliffords_form_a_group_with_table_and_inverses():
    assert CLIFFORDS.shape == (24, 2, 2)
    for u in CLIFFORDS:
        np.testing.assert_allclose(u @ u.conj().T, np.eye(2), atol=1e-12)
    for i in range(24):
        for j in range(i + 1, 24):
            assert not same_up_to_phase(CLIFFORDS[i], CLIFFORDS[j])
    assert same_up_to_phase(CLIFFORDS[IDENTITY], np.eye(2))
    for a in range(24):
        for b in range(24):
            assert same_up_to_phase(CLIFFORDS[MULTIPLY[a, b]], CLIFFORDS[a] @ CLIFFORDS[b])
        assert MULTIPLY[a, INVERSE[a]] == MULTIPLY[INVERSE[a], a] == IDENTITY
    # every row and column of a group table is a permutation
    assert all(sorted(row) == list(range(24)) for row in MULTIPLY)
    assert all(sorted(col) == list(range(24)) for col in MULTIPLY.T)
    # Cliffords map Paulis to Paulis
    paulis = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]
    for u in CLIFFORDS:
        for p in paulis:
            image = u @ p @ u.conj().T
            assert any(np.allclose(image, s * q) for q in paulis for s in (1, -1))


@pytest.mark.parametrize("use_x", [True, False])
def test_decompositions_reproduce_each_clifford_with_few_pulses(use_x):
    counts = []
    for i in range(24):
        d = decompose(i, use_x=use_x)
        assert same_up_to_phase(d.unitary(), CLIFFORDS[i])
        assert d.gates.count(PhysicalGate.SX) <= 2
        assert use_x or PhysicalGate.X not in d.gates
        quarters = np.asarray(d.z_angles) / (np.pi / 2)
        np.testing.assert_allclose(quarters, np.round(quarters), atol=1e-12)  # Clifford frames
        counts.append(len(d.gates))
    # 4 Z-only Cliffords, 16 with one SX, 4 Z-flips: X (1 pulse) or SX SX (2 pulses)
    assert sorted(counts) == ([0] * 4 + [1] * 20 if use_x else [0] * 4 + [1] * 16 + [2] * 4)
    assert mean_pulses_per_clifford(use_x=use_x) == pytest.approx(20 / 24 if use_x else 1.0)
    assert clifford_index(X_MATRIX) != clifford_index(SX_MATRIX)
    assert same_up_to_phase(SX_MATRIX @ SX_MATRIX, X_MATRIX)


# --- the frame convention, against the simulator --------------------------------------------

@pytest.fixture(scope="module")
def ideal():
    """An ideal 2-level transmon on resonance and its exact SX and X pulses: the propagator
    of a DRAG pulse with beta 0 is an exact x rotation there."""
    t = Transmon(frequency=5.0, anharmonicity=-0.24, drive_scale=0.08, t1=1e9, t2=1e9, n_levels=2)
    amp = pi_amplitude(0.08, Drag(20.0, amp=1.0, sigma=5.0), DT)
    cal = QubitCalibration(frequency=5.0, x_amp=amp, sx_amp=amp / 2, beta=0.0, duration=20.0, sigma=5.0)
    return Chip([t]), cal


def _played(chip, cal, program, phases) -> np.ndarray:
    if len(program) == 0:
        return np.eye(2)
    seq = GateSequence(rb_sequence(cal, []).gates, program, phases)
    return np.asarray(propagator(chip, seq.to_schedule(), dt=DT, dynamics=Closed()))


def test_pulses_are_sx_and_x_and_a_frame_change_is_a_z_rotation(ideal):
    chip, cal = ideal
    sx_index, x_index = TABLE.index(PhysicalGate.SX), TABLE.index(PhysicalGate.X)
    assert same_up_to_phase(_played(chip, cal, [sx_index], [0.0]), SX_MATRIX)
    assert same_up_to_phase(_played(chip, cal, [x_index], [0.0]), X_MATRIX)
    # ShiftPhase(FRAME_PHASE_PER_RZ * theta) before a pulse G plays G Rz(theta), seen from
    # a frame Rz(theta) behind: U = Rz(-theta) G Rz(theta). The other sign does not.
    theta = 0.7
    for sign, expect in ((FRAME_PHASE_PER_RZ, True), (-FRAME_PHASE_PER_RZ, False)):
        u = _played(chip, cal, [sx_index], [sign * theta])
        assert same_up_to_phase(rz(theta) @ u, SX_MATRIX @ rz(theta)) is expect


@pytest.mark.parametrize("use_x", [True, False])
def test_each_compiled_clifford_plays_its_unitary_on_the_simulator(ideal, use_x):
    chip, cal = ideal
    for i in range(24):
        d = decompose(i, use_x=use_x)
        program = [TABLE.index(g) for g in d.gates]
        phases = [FRAME_PHASE_PER_RZ * z for z in d.z_angles[:-1]]
        u = _played(chip, cal, program, phases)
        # the frame left after the last pulse is the sum of the Z angles played so far
        assert same_up_to_phase(rz(sum(d.z_angles)) @ u, CLIFFORDS[i]), f"Clifford {i}: {d}"


@pytest.mark.parametrize("interleaved", [None, PhysicalGate.X, PhysicalGate.SX])
def test_random_sequences_with_recovery_return_to_ground(ideal, interleaved, rng):
    # Composed as the simulated device does it: each table pulse propagated once.
    chip, cal = ideal
    gates = rb_sequence(cal, []).gates
    unitaries = [propagator(chip, g, dt=DT, dynamics=Closed()) for g in gates]
    superops = jnp.stack([jnp.kron(u.conj(), u) for u in unitaries])  # column-stacking vec
    ground = jnp.zeros(4, jnp.complex128).at[0].set(1.0)
    for length in (1, 7, 60, 500):
        seq = rb_sequence(cal, random_cliffords(rng, length), interleaved=interleaved)
        final = evolve_programs(superops, jnp.asarray([seq.program], dtype=jnp.int64), jnp.asarray([seq.phases]),
                                ground, 2)[0]
        assert abs(final[3]) < 1e-10  # P(1) = rho_11, column-stacked index 1 + 2*1
    # Flipping every frame sign conjugates the whole sequence by X (X Rz(t) X = Rz(-t), and
    # X commutes with SX and X): RB survival cannot tell the sign; the unitaries above can.


def test_interleaved_sequences_hold_the_gate_after_every_clifford(ideal):
    _, cal = ideal
    cliffords = [0, 2, 5, 10]  # Z-only Cliffords: no pulses of their own
    for gate in PhysicalGate:
        seq = rb_sequence(cal, cliffords, interleaved=gate)
        played = [TABLE[k] for k in seq.program]
        assert played.count(gate) >= len(cliffords)
    assert rb_sequence(cal, [0]).program == ()  # identity and its recovery: nothing to play


# --- options -------------------------------------------------------------------------------

def test_options_are_checked_and_recorded():
    with pytest.raises(ExperimentError, match="at least 4 different"):
        StandardRB(lengths=(1, 2, 3))
    with pytest.raises(ExperimentError, match="at least 4 different"):
        StandardRB(lengths=(0, 1, 2, 3))
    with pytest.raises(ExperimentError, match="seeds is 2"):
        StandardRB(seeds=2)
    with pytest.raises(ExperimentError, match=r"must be one of \['sx', 'x'\]"):
        InterleavedRB(gate="y")
    assert InterleavedRB(gate="sx").gate is PhysicalGate.SX
    assert json.loads(json.dumps(InterleavedRB().options()))["gate"] == "x"
    rb = StandardRB(rng_seed=3)
    assert StandardRB.name == "rb" and InterleavedRB.name == "interleaved_rb"
    cal = {0: QubitCalibration(5.0, 0.5, 0.25, 0.0, 20.0, 5.0)}
    point = {"length": 50, "seed": 4}
    # the same rng_seed draws the same sequence
    assert rb.schedule(cal, point).program == StandardRB(rng_seed=3).schedule(cal, point).program


def test_a_seeded_device_seeds_the_sequences_from_its_seed_and_clock():
    # fresh sequences every run, yet two runs from one device state play the same ones: what lets
    # benchmarks compare methods on the same data (they once drew from the OS per process)
    spec = load_spec("sim-1q")
    cal = {0: nominal_calibration(spec, 0)}
    exp = StandardRB(lengths=(1, 2, 3, 4), seeds=3)
    device = SimulatedDevice(spec, seed=5)
    state = device.state()
    first = run_experiment(exp, device, cal, shots=50)
    second = run_experiment(exp, device, cal, shots=50)
    device.restore(state)
    again = run_experiment(exp, device, cal, shots=50)
    seeds = [json.loads(ds.attrs["options"])["rng_seed"] for ds in (first, second, again)]
    assert seeds[0] is not None and seeds[0] == seeds[2] != seeds[1]
    assert np.array_equal(first["counts"].values, again["counts"].values)
    assert run_experiment(StandardRB(lengths=(1, 2, 3, 4), seeds=3, rng_seed=11), device, cal,
                          shots=50).attrs["options"] == json.dumps(StandardRB(lengths=(1, 2, 3, 4), seeds=3,
                                                                              rng_seed=11).options())

    class Unseeded:  # a lab's device: no seed, so the sequences stay fresh
        def __init__(self, inner):
            self.inner = inner
            self.qubits, self.dt, self.limits = inner.qubits, inner.dt, inner.limits

        def now(self):
            return self.inner.now()

        def run(self, schedules, shots, seed=None, *, qubits=(0,)):
            return self.inner.run(schedules, shots, seed, qubits=qubits)

    assert json.loads(run_experiment(exp, Unseeded(device), cal, shots=50).attrs["options"])["rng_seed"] is None


# --- analysis on synthetic data: verdicts and honest error bars ----------------------------

def _synthetic(rng, *, alpha, lengths=(1, 10, 30, 100, 300, 1000), seeds=20, shots=1000,
               amplitude=0.45, offset=0.52, seed_spread=0.01) -> xr.Dataset:
    m = np.asarray(lengths, float)[:, None]
    # each sequence has its own survival (its own error sum): spread growing with m
    spread = seed_spread * (1 - alpha**m) * rng.standard_normal((len(lengths), seeds))
    survival = amplitude * alpha**m + offset + spread
    counts = rng.binomial(shots, np.clip(1 - survival, 0, 1))[..., None]
    return xr.Dataset({"counts": (("length", "seed", "qubit"), counts),
                       "probabilities": (("length", "seed", "qubit"), counts / shots)},
                      coords={"length": list(lengths), "seed": np.arange(seeds), "qubit": [0]},
                      attrs={"shots": shots, "experiment": "rb"})


def test_rb_error_bars_cover_the_true_decay_on_synthetic_data(rng):
    # Seed-to-seed spread 3x the shot noise at long lengths: binomial errors alone would
    # claim too much; the standard error across seeds must cover the truth ~95% at 2 sigma.
    alpha, inside, runs = 0.995, 0, 60
    for _ in range(runs):
        res = StandardRB().analyze(_synthetic(rng, alpha=alpha, seed_spread=0.05))
        assert res.good, res.reason
        assert set(res.values) == {"epc", "epg", "alpha", "amplitude", "offset"}
        epc = res["epc"]
        inside += abs(epc.value - (1 - alpha) / 2) < 2 * epc.stderr
        assert res["epg"].value == pytest.approx(epc.value / (20 / 24))
    assert 0.85 <= inside / runs <= 1.0


def test_bad_data_gives_bad_results_with_a_reason(rng):
    good = _synthetic(rng, alpha=0.995)
    assert StandardRB().analyze(good).good
    nan = good.copy(deep=True)
    nan["probabilities"][3, 2, 0] = np.nan
    res = StandardRB().analyze(nan)
    assert res.verdict is Verdict.BAD and "NaN" in res.reason
    assert set(res.values) == {"epc", "epg", "alpha", "amplitude", "offset"}
    assert np.isnan(res["epc"].value)
    flat = _synthetic(rng, alpha=1.0)
    res = StandardRB().analyze(flat)
    assert res.verdict is Verdict.BAD and res.reason
    noise = good.copy(deep=True)
    counts = rng.integers(0, 1000, size=noise["counts"].shape)
    noise["counts"][:] = counts
    noise["probabilities"][:] = counts / 1000
    res = StandardRB().analyze(noise)
    assert res.verdict is Verdict.BAD and res.reason
    # IRB: a missing interleaved set's decay is reported, never raised
    both = xr.concat([good, flat], dim=xr.DataArray(["reference", "interleaved"], dims="sequence"))
    res = InterleavedRB().analyze(both)
    assert res.verdict is Verdict.BAD and "interleaved" in res.reason
    assert set(res.values) == {"epg", "epc_reference", "alpha_reference", "alpha_interleaved"}


def test_irb_propagates_both_fits_on_synthetic_data(rng):
    ref, inter = _synthetic(rng, alpha=0.995), _synthetic(rng, alpha=0.990)
    both = xr.concat([ref, inter], dim=xr.DataArray(["reference", "interleaved"], dims="sequence"))
    res = InterleavedRB().analyze(both)
    assert res.good, res.reason
    r_ref, r_int = StandardRB().analyze(ref), StandardRB().analyze(inter)
    p_r, p_i = r_ref["alpha"], r_int["alpha"]
    assert res["epg"].value == pytest.approx((1 - p_i.value / p_r.value) / 2)
    # independent fits: the variances add (delta method)
    sigma = 0.5 * np.hypot(p_i.stderr / p_r.value, p_i.value * p_r.stderr / p_r.value**2)
    assert res["epg"].stderr == pytest.approx(sigma, rel=1e-3)
    true = (1 - 0.990 / 0.995) / 2
    assert abs(res["epg"].value - true) < 3 * res["epg"].stderr


# --- on simulated devices, against the truth ------------------------------------------------

@jax.jit
def _pulse_errors(x, chip, frequency):
    """Truth errors of the X and SX pulses for (x_amp, sx_amp, beta, frequency offset [MHz])."""
    carrier = jnp.stack([frequency + 1e-3 * x[3]])
    x_pulse = Schedule([Play(0, Drag(20.0, amp=x[0], sigma=5.0, beta=x[2]))], carrier)
    sx_pulse = Schedule([Play(0, Drag(20.0, amp=x[1], sigma=5.0, beta=x[2]))], carrier)
    return jnp.stack([gate_metrics(chip, x_pulse, jnp.asarray(X_MATRIX), dt=DT).error,
                      gate_metrics(chip, sx_pulse, jnp.asarray(SX_MATRIX), dt=DT).error])


_objective = jax.jit(jax.value_and_grad(lambda x, chip, f: 1e4 * jnp.sum(_pulse_errors(x, chip, f))))


def _truth_optimal(device: SimulatedDevice) -> QubitCalibration:
    """The calibration minimising the true X + SX errors (a test may read the truth)."""
    spec = device.spec
    chip = Chip([dressed_transmon(device.truth(), 0)])
    f = float(chip.transmons[0].frequency)
    start = nominal_calibration(spec, 0)
    assert (spec.x_duration, spec.x_sigma) == (20.0, 5.0)
    best = minimize(lambda x: [np.asarray(v) for v in _objective(x, chip, f)],
                    np.array([start.x_amp, start.sx_amp, 0.0, 0.0]), jac=True, method="L-BFGS-B")
    x_amp, sx_amp, beta, offset = best.x
    return start.replace(frequency=f + 1e-3 * offset, x_amp=x_amp, sx_amp=sx_amp, beta=beta)


def _true_errors(device: SimulatedDevice, cal: QubitCalibration) -> dict[PhysicalGate, float]:
    chip = Chip([dressed_transmon(device.truth(), 0)])
    x = np.array([cal.x_amp, cal.sx_amp, cal.beta, 0.0])
    e_x, e_sx = np.asarray(_pulse_errors(x, chip, cal.frequency))
    return {PhysicalGate.X: float(e_x), PhysicalGate.SX: float(e_sx)}


DEVICES = range(4)


@pytest.fixture(scope="module")
def spec():
    return load_spec("sim-1q")


@pytest.fixture(scope="module")
def truth_optimal(spec):
    """Truth-optimal calibrations of devices 0..3 at clock 0 (fresh devices start there)."""
    return {seed: _truth_optimal(SimulatedDevice(spec, seed=seed)) for seed in DEVICES}


@pytest.mark.slow
def test_default_rb_runs_and_lays_out_its_dataset(spec, truth_optimal):
    device = SimulatedDevice(spec, seed=0)
    cal = {0: truth_optimal[0]}
    started = time.perf_counter()
    ds = run_experiment(StandardRB(rng_seed=1), device, cal, shots=1000, seed=1)
    seconds = time.perf_counter() - started
    print(f"\nStandardRB, 10 lengths up to 1000 Cliffords x 30 seeds on sim-1q: {seconds:.1f} s "
          "(first run, with compilation)")
    assert ds["probabilities"].dims == ("length", "seed", "qubit")
    assert dict(ds.sizes) == {"length": 10, "seed": 30, "qubit": 1} and int(ds["length"].max()) == 3000
    assert json.loads(ds.attrs["options"])["lengths"] == list(StandardRB().lengths)
    res = StandardRB().analyze(ds)
    assert set(res.values) == {"epc", "epg", "alpha", "amplitude", "offset"}
    e = _true_errors(device, cal[0])
    truth = (16 * e[PhysicalGate.SX] + 4 * e[PhysicalGate.X]) / 20
    # only ~25% decay by 1000 Cliffords: a loose check (the verdict may say "not resolved")
    assert abs(res["epg"].value - truth) < 3 * res["epg"].stderr


@pytest.mark.slow
def test_rb_on_truth_calibrated_devices_measures_the_true_gate_error(spec, truth_optimal):
    z_scores = []
    for seed in DEVICES:
        device = SimulatedDevice(spec, seed=seed)
        cal = truth_optimal[seed]
        e = _true_errors(device, cal)  # before the run: the device drifts during it
        truth = (16 * e[PhysicalGate.SX] + 4 * e[PhysicalGate.X]) / 20
        exp = StandardRB(lengths=LONG, seeds=SEEDS, rng_seed=seed)
        res = exp.analyze(run_experiment(exp, device, {0: cal}, shots=SHOTS, seed=seed))
        assert res.good, res.reason
        epg = res["epg"]
        z_scores.append((epg.value - truth) / epg.stderr)
        print(f"\ndevice {seed}: RB epg {epg.value:.3e} +- {epg.stderr:.1e}, truth {truth:.3e}, "
              f"z = {z_scores[-1]:+.2f}")
        assert epg.stderr < 0.15 * truth  # a meaningful comparison, not a wide error bar
    z = np.abs(z_scores)
    assert z.max() < 3 and np.sum(z < 2) >= 3


@pytest.mark.slow
def test_interleaved_rb_measures_the_true_x_and_sx_errors_over_devices(spec, truth_optimal):
    z_scores = []
    for seed in DEVICES:
        device = SimulatedDevice(spec, seed=seed)
        cal = truth_optimal[seed]
        for gate in PhysicalGate:
            exp = InterleavedRB(gate=gate, lengths=LONG, seeds=SEEDS, rng_seed=seed)
            truth = _true_errors(device, cal)[gate]
            res = exp.analyze(run_experiment(exp, device, {0: cal}, shots=SHOTS, seed=seed))
            assert res.good, res.reason
            epg = res["epg"]
            z_scores.append((epg.value - truth) / epg.stderr)
            print(f"\ndevice {seed} {gate.value:>2}: IRB {epg.value:.3e} +- {epg.stderr:.1e}, "
                  f"truth {truth:.3e}, z = {z_scores[-1]:+.2f}")
            assert epg.stderr < 0.2 * truth
    z = np.abs(z_scores)
    # 8 estimates: all within 3 sigma, and at least 6 within 2 sigma (P > 0.99 if honest;
    # Birge scaling makes the errors, if anything, a little conservative)
    assert z.max() < 3 and np.sum(z < 2) >= 6


@pytest.mark.slow
def test_interleaved_rb_sees_a_miscalibrated_x_amplitude(spec, truth_optimal):
    # A 5% over-rotation of X is a coherent error of ~4e-3, 25x the incoherent one: the
    # interleaved decay is over within ~200 Cliffords, so the default lengths suit it.
    device = SimulatedDevice(spec, seed=0)
    cal = truth_optimal[0]
    results = {}
    for label, c in (("good", cal), ("+5%", cal.replace(x_amp=1.05 * cal.x_amp))):
        exp = InterleavedRB(gate=PhysicalGate.X, rng_seed=7)
        truth = _true_errors(device, c)[PhysicalGate.X]
        res = exp.analyze(run_experiment(exp, device, {0: c}, shots=1000, seed=7))
        results[label] = res["epg"]
        print(f"\nX {label}: IRB {res['epg'].value:.3e} +- {res['epg'].stderr:.1e}, truth {truth:.3e} "
              f"({res.verdict.value}: {res.reason})")
    good, bad = results["good"], results["+5%"]
    assert bad.value > 10 * good.value
    assert bad.value - good.value > 5 * np.hypot(bad.stderr, good.stderr)
