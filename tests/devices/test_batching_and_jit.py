"""Ensembles and sweeps are one vmapped call, and new values never recompile.

vmapped and one-by-one results are compared at 1e-12: the same operations on the same
numbers, batched or not; XLA may reorder sums in batched products, ~1e-16 per
operation over a few hundred steps.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import (
    Chip,
    Closed,
    Constant,
    Delay,
    Drag,
    Gaussian,
    Open,
    Play,
    Schedule,
    ShiftPhase,
    Transmon,
    populations,
    propagator,
)
from devices import simulate

DT = 0.5
N_DEVICES = 16


def stack(trees):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def random_chip(rng, n_qubits: int) -> Chip:
    transmons = []
    for q in range(n_qubits):
        t1 = rng.uniform(1e3, 5e4)
        transmons.append(Transmon(frequency=5.0 - 0.25 * q + rng.normal(0, 0.005),
                                  anharmonicity=rng.uniform(-0.34, -0.2), drive_scale=rng.uniform(0.03, 0.06),
                                  t1=t1, t2=t1 * rng.uniform(0.3, 2.0)))
    if n_qubits == 1:
        return Chip(transmons)
    j = rng.uniform(0.002, 0.006)
    crosstalk = np.array([[1.0, rng.normal(0, 0.05) + 1j * rng.normal(0, 0.05)],
                          [rng.normal(0, 0.05) + 1j * rng.normal(0, 0.05), 1.0]])
    return Chip(transmons, couplings=[[0.0, j], [j, 0.0]], crosstalk=crosstalk)


def _schedule(n_qubits):
    instructions = [Play(0, Drag(16.0, 0.6, 4.0, 0.2, beta=0.3)), ShiftPhase(0, 0.4)]
    if n_qubits == 2:
        instructions += [Play(1, Gaussian(12.0, -0.5, 3.0)), Play(0, Constant(4.0, 0.3))]
    return Schedule(instructions, frequencies=[5.0, 4.75][:n_qubits])


@pytest.mark.parametrize(("n_qubits", "dynamics"), [(1, Open()), (2, Closed())], ids=["1q-open", "2q-closed"])
def test_vmap_over_devices_equals_separate_runs(rng, n_qubits, dynamics):
    chips = [random_chip(rng, n_qubits) for _ in range(N_DEVICES)]
    ensemble = stack(chips)
    assert ensemble.transmons[0].frequency.shape == (N_DEVICES,)
    schedule = _schedule(n_qubits)
    batched = jax.vmap(lambda chip: propagator(chip, schedule, dt=DT, dynamics=dynamics))(ensemble)
    separate = np.stack([propagator(chip, schedule, dt=DT, dynamics=dynamics) for chip in chips])
    np.testing.assert_allclose(np.asarray(batched), separate, rtol=0, atol=1e-12)
    # The devices really differ: the sweep is not 16 copies of one result.
    assert np.abs(separate - separate[0]).max() > 1e-3


def test_vmap_over_pulse_parameters_equals_separate_runs(rng):
    chip = random_chip(rng, 1)
    n = 16
    amps, betas = rng.uniform(-1, 1, n), rng.uniform(-2, 2, n)
    sigmas, angles = rng.uniform(2.0, 6.0, n), rng.uniform(-np.pi, np.pi, n)
    phases, carriers = rng.uniform(-np.pi, np.pi, n), 5.0 + rng.uniform(-0.02, 0.02, n)

    def run(amp, beta, sigma, angle, phase, carrier):
        schedule = Schedule([Play(0, Drag(20.0, amp, sigma, angle, beta=beta)), ShiftPhase(0, phase),
                             Play(0, Constant(6.0, 0.5 * amp))], frequencies=jnp.stack([carrier]))
        return populations(chip, schedule, dt=DT)

    args = (amps, betas, sigmas, angles, phases, carriers)
    batched = jax.vmap(run)(*map(jnp.asarray, args))
    separate = np.stack([run(*(float(a[k]) for a in args)) for k in range(n)])
    np.testing.assert_allclose(np.asarray(batched), separate, rtol=0, atol=1e-12)
    assert np.ptp(separate[:, 1]) > 0.1


def test_vmap_over_idle_durations_equals_separate_runs(rng):
    """Idle periods have a traced length: a delay sweep is one vmapped call. Two coupled
    transmons, so that the idle period's frame rotations (from its start time) matter;
    single-transmon delay sweeps run vmapped in test_analytic_physics."""
    chip = random_chip(rng, 2)
    first = [Play(0, Gaussian(8.0, 0.55, 2.0)), Play(1, Gaussian(8.0, 0.55, 2.0))]
    last = [Play(0, Gaussian(8.0, 0.55, 2.0, 0.3))]
    delays = np.array([0.5, 3.0, 40.0, 511.5, 2e4, 1.23e5])

    def run(delay):
        schedule = Schedule(first + [Delay(None, delay)] + last, [5.0, 4.75])
        return populations(chip, schedule, dt=DT)

    batched = jax.vmap(run)(jnp.asarray(delays))
    separate = np.stack([run(float(d)) for d in delays])
    np.testing.assert_allclose(np.asarray(batched), separate, rtol=0, atol=1e-12)
    assert np.abs(separate - separate[0]).max() > 1e-2


def _cache_size() -> int:
    return simulate._exact_propagator._cached._cache_size()


def test_new_values_do_not_recompile():
    """The library's jitted propagator keeps one compilation per structure, whatever
    the numbers and however they are typed (converters make every leaf a strongly
    typed float64 / complex128 array)."""
    def build(freq, amp, beta, carrier, phase, j):
        chip = Chip([Transmon(frequency=freq, anharmonicity=-0.3, drive_scale=0.05, t1=2e4, t2=1e4),
                     Transmon(frequency=4.8, anharmonicity=-0.31, drive_scale=0.05, t1=3e4, t2=2e4)],
                    couplings=[[0.0, j], [j, 0.0]])
        schedule = Schedule([Play(0, Drag(12.0, amp, 3.0, beta=beta)), ShiftPhase(1, phase),
                             Play(1, Constant(4.0, 0.5))], frequencies=[carrier, 4.8])
        return chip, schedule

    values = [
        (5.0, 0.5, 0.1, 5.0, 0.0, 0.003),  # Python floats
        (5.01, 0.4, -0.2, 5.002, 1.0, 0.004),
        tuple(np.float64(v) for v in (5.02, 0.3, 0.2, 5.001, 2.0, 0.002)),  # numpy scalars
        tuple(jnp.asarray(v, jnp.float64) for v in (5.03, 0.2, 0.4, 4.999, -1.0, 0.005)),  # strong
        tuple(jnp.asarray(v) for v in (5.04, 0.1, 0.3, 4.998, 0.5, 0.001)),  # weakly typed
        tuple(np.float32(v) for v in (5.05, 0.6, 0.0, 5.003, 0.2, 0.006)),  # single precision
        (5, 1, 0, 5, 0, 0.003),  # Python ints
    ]
    results = []
    chip, schedule = build(*values[0])
    results.append(propagator(chip, schedule, dt=DT))
    compiled = _cache_size()
    for v in values[1:]:
        chip, schedule = build(*v)
        results.append(propagator(chip, schedule, dt=DT))
        assert _cache_size() == compiled, f"recompiled for values {v}"
    # Each call did use its new values.
    distinct = {np.round(np.asarray(r), 10).tobytes() for r in results}
    assert len(distinct) == len(results)
    # ... and the cache does grow for a new structure, so the count above is a real check.
    single = Chip([Transmon(frequency=5.0, anharmonicity=-0.3, drive_scale=0.05, t1=2e4, t2=1e4, n_levels=2)])
    propagator(single, Schedule([Play(0, Constant(1.0, 0.5))], frequencies=[5.0]), dt=DT)
    assert _cache_size() == compiled + 1


def test_user_jitted_simulation_traces_once():
    traces = []

    @eqx.filter_jit
    def ramsey(chip, schedule):
        traces.append(1)  # runs only while tracing
        return populations(chip, schedule, dt=DT, dynamics=Open())

    def build(freq, t2, amp, delay):
        chip = Chip([Transmon(frequency=freq, anharmonicity=-0.3, drive_scale=0.05, t1=4e4, t2=t2)])
        half_pi = Gaussian(10.0, amp, 2.5)
        return chip, Schedule([Play(0, half_pi), Delay(0, delay), Play(0, half_pi)], frequencies=[5.0])

    outputs = [ramsey(*build(5.0, 2e4, 0.5, 100.0)),
               ramsey(*build(5.001, 1e4, 0.45, 250.0)),
               ramsey(*build(np.float64(5.002), jnp.float64(3e4), jnp.asarray(0.4), np.float64(1e3)))]
    assert len(traces) == 1
    assert len({float(p[1]) for p in outputs}) == 3
    # A new pulse length is a new structure: the counter does see retraces.
    ramsey(build(5.0, 2e4, 0.5, 100.0)[0],
           Schedule([Play(0, Gaussian(12.0, 0.5, 2.5)), Delay(0, 100.0)], frequencies=[5.0]))
    assert len(traces) == 2
