"""The simulator against closed-form physics: Rabi, Ramsey, T1, T2 and static ZZ.

Conventions under test (devices/hamiltonian.py): rotating frame of each channel's
carrier, H/2pi = (f01 - f) n + alpha/2 n(n-1) + drive_scale/2 (z a + conj(z) a^dag) + J
terms; T1 via sqrt(1/T1) a, pure dephasing via sqrt(2 gamma_phi) n.
Parameter sweeps are `jax.vmap`ped, so that each test compiles once.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

from devices import (
    Chip,
    Constant,
    Delay,
    Open,
    Play,
    Samples,
    Schedule,
    Transmon,
    basis_state,
    evolve,
    populations,
    propagator,
)

DT = 0.5


def transmon(**overrides) -> Transmon:
    params = dict(frequency=5.0, anharmonicity=-0.3, drive_scale=0.05, t1=1e5, t2=1e5)
    params.update(overrides)
    return Transmon(**params)


def fit_frequency(t: np.ndarray, y: np.ndarray, f_max: float, max_residual: float = 1e-9) -> float:
    """Frequency f of y = A + B cos(2 pi f t) + C sin(2 pi f t) by least squares.

    A scan of the variable-projection residual over (0, f_max] finds the basin without
    any prior knowledge of f, then least_squares refines all four parameters."""
    def design(f):
        w = 2 * np.pi * f * t
        return np.stack([np.ones_like(t), np.cos(w), np.sin(w)], axis=1)

    def projected_residual(f):
        coef, *_ = np.linalg.lstsq(design(f), y, rcond=None)
        return np.sum((design(f) @ coef - y) ** 2)

    grid = np.linspace(f_max / 2000, f_max, 2000)
    f0 = grid[np.argmin([projected_residual(f) for f in grid])]
    coef0, *_ = np.linalg.lstsq(design(f0), y, rcond=None)
    fit = scipy.optimize.least_squares(
        lambda p: design(p[3]) @ p[:3] - y, np.append(coef0, f0),
        x_scale=np.append(np.ones(3), f0), xtol=1e-15, ftol=1e-15, gtol=1e-15,
    )
    assert np.max(np.abs(fit.fun)) < max_residual, "the signal is not a single sinusoid"
    return float(fit.x[3])


# --------------------------------------------------------------------------- Rabi

# A constant pulse of n_on samples at amplitude amp, then zeros: the pulse length is a
# traced value, so a (amplitude x length) grid is one compiled, vmapped function.
N_RABI = 240  # 120 ns
RABI_AMPS = np.array([-0.4, 0.4, 0.55, 0.7, 0.85, 1.0])  # >= 1 Rabi period at drive_scale 0.02
RABI_N_ON = np.arange(0, N_RABI + 1, 2)


@eqx.filter_jit
def _rabi_p1(chip: Chip, amps: jax.Array, n_on: jax.Array) -> jax.Array:
    def p1(amp, n):
        values = jnp.where(jnp.arange(N_RABI) < n, amp, 0.0)
        schedule = Schedule([Play(0, Samples(values))], frequencies=[5.0])
        return populations(chip, schedule, dt=DT)[1]

    return jax.vmap(lambda a: jax.vmap(lambda n: p1(a, n))(n_on))(amps)


@pytest.mark.parametrize("n_levels", [2, 3])
def test_rabi_oscillation_follows_sin_squared(n_levels):
    drive_scale = 0.02
    chip = Chip([transmon(n_levels=n_levels, drive_scale=drive_scale, anharmonicity=-0.3)])
    amps, n_on = RABI_AMPS, RABI_N_ON
    p1 = np.asarray(_rabi_p1(chip, jnp.asarray(amps), jnp.asarray(n_on)))
    t = n_on * DT
    expected = np.sin(np.pi * drive_scale * amps[:, None] * t[None, :]) ** 2
    if n_levels == 2:
        # Piecewise-constant H, one exact exponential per sample: only rounding remains.
        np.testing.assert_allclose(p1, expected, rtol=0, atol=1e-10)
    else:
        # The 1-2 transition, detuned by alpha, is driven sqrt(2) more strongly: it shifts
        # level 1 by ~Omega^2/(2|alpha|) and leaks ~Omega^2/(2 alpha^2) into level 2, so
        # P1 departs from sin^2 by ~(Omega/alpha)^2 over a few Rabi periods (1.03 times
        # that in an exact 3-level calculation); allow twice it, per amplitude.
        omega = drive_scale * np.abs(amps)[:, None]
        bound = 2 * (omega / 0.3) ** 2
        assert np.all(np.abs(p1 - expected) <= bound + 1e-12)
        # ... and the bound is not vacuous: the strongest drive does depart from sin^2.
        assert np.max(np.abs(p1 - expected)[-1]) > 0.1 * bound[-1, 0]


@pytest.mark.parametrize("n_levels", [2, 3])
def test_rabi_frequency_is_linear_in_amplitude(n_levels):
    drive_scale = 0.02
    chip = Chip([transmon(n_levels=n_levels, drive_scale=drive_scale)])
    amps, n_on = RABI_AMPS, RABI_N_ON
    p1 = np.asarray(_rabi_p1(chip, jnp.asarray(amps), jnp.asarray(n_on)))
    # P1 = (1 - cos(2 pi Omega t)) / 2 for a two-level system; with a third level it
    # carries small (~(Omega/alpha)^2) components at other frequencies.
    max_residual = 1e-9 if n_levels == 2 else 2 * (drive_scale / 0.3) ** 2
    rates = np.array([fit_frequency(n_on * DT, row, f_max=0.05, max_residual=max_residual)
                      for row in p1])
    slope = rates / np.abs(amps)
    if n_levels == 2:
        # Exact propagation; the fit converges to ~1e-12.
        np.testing.assert_allclose(slope, drive_scale, rtol=1e-9)
    else:
        # Eliminating level 2 adiabatically: level 1 shifts by Omega^2/(2|alpha|), which
        # raises the generalized Rabi rate by (Omega/alpha)^2/8, and the dressed |1> keeps
        # 1 - (Omega/alpha)^2/4 of the drive's matrix element: net -(Omega/alpha)^2/8
        # (-5.6e-4 at amp = 1), up to O((Omega/alpha)^4) = 2e-5 and the fit's bias from the
        # small leakage oscillation (~2e-6 at amp = 1).
        ratio_sq = (drive_scale * np.abs(amps) / 0.3) ** 2
        np.testing.assert_allclose(slope / drive_scale - 1, -ratio_sq / 8, rtol=0, atol=np.max(ratio_sq**2))
        # Linear up to that correction, which the data do show:
        assert np.all(slope / drive_scale - 1 < -ratio_sq / 16)


# -------------------------------------------------------------------------- Ramsey

def _ramsey_reference(delta, rabi, pulse_time, second_angle, taus):
    """Exact 2-level Ramsey signal, pulses included (numpy/scipy)."""
    a = np.array([[0, 1], [0, 0]], complex)
    n = a.T @ a

    def pulse(angle):
        z = np.exp(1j * angle)  # the envelope's phase: H/2pi drive term rabi/2 (z a + z* a^dag)
        h = delta * n + rabi / 2 * (z * a + np.conj(z) * a.T)
        return scipy.linalg.expm(-2j * np.pi * h * pulse_time)

    first, second = pulse(0.0), pulse(second_angle)
    out = []
    for tau in taus:
        free = np.diag([1.0, np.exp(-2j * np.pi * delta * tau)])
        out.append(abs((second @ free @ first)[1, 0]) ** 2)
    return np.array(out)


def test_ramsey_fringes_oscillate_at_the_detuning():
    # Hard pi/2 pulses: 1 ns at a Rabi rate of 250 MHz, next to a 4 MHz detuning.
    f01, delta, drive_scale, amp, pulse_time = 5.0, 0.004, 0.5, 0.5, 1.0
    chip = Chip([transmon(n_levels=2, frequency=f01, drive_scale=drive_scale)])
    second_angle = np.pi / 2  # a Y pulse makes P1 depend on the sign of delta

    @eqx.filter_jit
    def signal(taus):
        def one(tau):
            schedule = Schedule(
                [Play(0, Constant(pulse_time, amp)), Delay(0, tau),
                 Play(0, Constant(pulse_time, amp, angle=second_angle))],
                frequencies=[f01 - delta],
            )
            return populations(chip, schedule, dt=DT)[1]
        return jax.vmap(one)(taus)

    taus = np.arange(0.0, 750.0, 5.0)  # three fringes
    p1 = np.asarray(signal(jnp.asarray(taus)))
    # One exact exponential per sample and an exact idle propagator: rounding only.
    expected = _ramsey_reference(delta, drive_scale * amp, pulse_time, second_angle, taus)
    np.testing.assert_allclose(p1, expected, rtol=0, atol=1e-10)
    # The fringe frequency is the detuning: a 4-parameter fit of an exact sinusoid
    # recovers it to ~1e-12 relative; 1e-8 leaves room for the fit's own rounding.
    assert fit_frequency(taus, p1, f_max=0.02) == pytest.approx(delta, rel=1e-8)
    # The sign of the detuning is visible through the Y pulse: +delta and -delta differ.
    mirrored = _ramsey_reference(-delta, drive_scale * amp, pulse_time, second_angle, taus)
    assert np.max(np.abs(p1 - mirrored)) > 0.1


# ----------------------------------------------------------------------- T1 and T2

# One compiled function for every decay test: an ensemble of transmons (leading axis)
# x a sweep of idle times, from a given initial state, with Lindblad dynamics.
@eqx.filter_jit
def _decayed_states(chip: Chip, psi0: jax.Array, times: jax.Array, delta: jax.Array):
    def one(c, t):
        schedule = Schedule([Delay(0, t)], frequencies=jnp.stack([5.0 - delta]))
        return evolve(c, schedule, psi0, dt=DT, dynamics=Open())

    return jax.vmap(lambda c: jax.vmap(lambda t: one(c, t))(times))(chip)


def _ensemble(t1s, t2s, n_levels=3) -> Chip:
    """Single-transmon chips stacked along a leading axis."""
    chips = [Chip([transmon(t1=t1, t2=t2, n_levels=n_levels)]) for t1, t2 in zip(t1s, t2s)]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *chips)


T1S = np.array([1e3, 2e4, 5e4, 8e4])
T2S = np.array([2e3, 1e4, 3e4, 5e3])  # includes T2 = 2 T1 (no pure dephasing)
TIMES = np.array([0.5, 100.0, 1000.0, 2e4, 1.5e5])


def test_t1_decay_is_exponential():
    chip = _ensemble(T1S, T2S)
    rho = np.asarray(_decayed_states(chip, basis_state(Chip([transmon()]), [1]),
                                     jnp.asarray(TIMES), jnp.asarray(0.0)))
    pops = np.real(np.diagonal(rho, axis1=-2, axis2=-1))  # (transmon, time, level)
    expected = np.exp(-TIMES[None, :] / T1S[:, None])
    # Exact idle propagator (one exponential, binary powering): rounding only. 1e-9
    # relative where P1 > 1e-6, 1e-15 absolute below (the longest delay leaves exp(-150)
    # of the T1 = 1 us transmon).
    big = expected > 1e-6
    np.testing.assert_allclose(pops[..., 1][big], expected[big], rtol=1e-9)
    np.testing.assert_allclose(pops[..., 1][~big], expected[~big], rtol=0, atol=1e-15)
    # Decay goes to |0>, never up to |2>, and the trace is kept. The one-sample
    # exponential's rounding (~1e-16) is raised to the n-th power: allow n * 1e-15.
    rounding = TIMES / DT * 1e-15
    assert np.all(np.abs(pops[..., 0] - (1 - expected)) <= rounding)
    assert np.all(np.abs(pops[..., 2]) <= rounding)


@pytest.mark.parametrize("n_levels", [2, 3])
@pytest.mark.parametrize("delta", [0.0, 0.0013])
def test_t2_decay_of_coherence(n_levels, delta):
    chip = _ensemble(T1S, T2S, n_levels=n_levels)
    plus = np.zeros(n_levels, complex)
    plus[:2] = 1 / np.sqrt(2)
    rho = np.asarray(_decayed_states(chip, jnp.asarray(plus), jnp.asarray(TIMES), jnp.asarray(delta)))
    rho01 = rho[..., 0, 1]
    # L = sqrt(2 gamma_phi) n damps rho01 at gamma_phi, relaxation at 1/(2 T1): 1/T2 in all.
    # In a frame detuned by delta = f01 - f, H = delta n turns rho01 as exp(+i 2 pi delta t).
    decay = 0.5 * np.exp(-TIMES[None, :] / T2S[:, None])
    expected = decay * np.exp(2j * np.pi * delta * TIMES[None, :])
    big = decay > 1e-7
    np.testing.assert_allclose(np.abs(rho01[big]), decay[big], rtol=1e-9)
    np.testing.assert_allclose(rho01[big], expected[big], rtol=1e-9)
    np.testing.assert_allclose(rho01[~big], expected[~big], rtol=0, atol=1e-15)
    # The populations of |+> do not dephase: P1 = exp(-t/T1) / 2.
    p1 = np.real(rho[..., 1, 1])
    np.testing.assert_allclose(p1, 0.5 * np.exp(-TIMES[None, :] / T1S[:, None]), rtol=1e-9, atol=1e-15)


# -------------------------------------------------------------------------- static ZZ

F1, F2, ALPHA1, ALPHA2 = 5.0, 4.8, -0.30, -0.32
J_VALUES = np.array([0.002, 0.004])
# Ramsey delays: multiples of 5 ns, so that f1 tau and f2 tau are whole numbers and the
# rotating frame of the carriers (at the bare frequencies) coincides with the lab frame.
RAMSEY_TAUS = np.array([250.0, 500.0, 750.0, 1000.0])


def _lab_hamiltonian(j: float) -> np.ndarray:
    b = np.diag(np.sqrt([1.0, 2.0]), 1)
    eye = np.eye(3)
    a1, a2 = np.kron(b, eye), np.kron(eye, b)
    n1, n2 = a1.T @ a1, a2.T @ a2
    one = np.eye(9)
    return (F1 * n1 + F2 * n2 + ALPHA1 / 2 * n1 @ (n1 - one) + ALPHA2 / 2 * n2 @ (n2 - one)
            + j * (a1.T @ a2 + a2.T @ a1))


def _dressed(j: float):
    """Dressed |00>, |01>, |10>, |11> (as columns) and their energies [GHz]."""
    energies, vectors = np.linalg.eigh(_lab_hamiltonian(j))
    picks = [int(np.argmax(np.abs(vectors[k]) ** 2)) for k in (0, 1, 3, 4)]
    return vectors[:, picks], energies[picks]


def _ramsey_phases(final_states: np.ndarray, dressed: np.ndarray) -> np.ndarray:
    """Phase of qubit 0's coherence, arg <1s|psi> / <0s|psi>, for spectator s = 0, 1."""
    amps = dressed.conj().T @ final_states  # rows: |00>, |01>, |10>, |11>
    return np.array([np.angle(amps[2, 0] / amps[0, 0]), np.angle(amps[3, 1] / amps[1, 1])])


def _coupled_chip() -> Chip:
    pair = [transmon(frequency=F1, anharmonicity=ALPHA1), transmon(frequency=F2, anharmonicity=ALPHA2)]
    chips = [Chip(pair, couplings=[[0.0, j], [j, 0.0]]) for j in J_VALUES]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *chips)


def _ramsey_initial_states() -> np.ndarray:
    # (|0 s> + |1 s>)/sqrt(2) in the dressed basis: ideal pi/2 pulses on qubit 0 with the
    # spectator qubit 1 idle in s = 0 or s = 1. Shape (J, s, 9).
    out = []
    for j in J_VALUES:
        dressed, _ = _dressed(j)
        out.append([(dressed[:, 0] + dressed[:, 2]) / np.sqrt(2),
                    (dressed[:, 1] + dressed[:, 3]) / np.sqrt(2)])
    return np.array(out)


def test_static_zz_matches_second_order_perturbation_theory():
    chip = _coupled_chip()
    psi0 = jnp.asarray(_ramsey_initial_states())

    @eqx.filter_jit
    def ramsey(chip, psi0, taus):
        def one(c, states, tau):
            schedule = Schedule([Delay(None, tau)], frequencies=[F1, F2])
            return jax.vmap(lambda s: evolve(c, schedule, s, dt=DT))(states)
        return jax.vmap(lambda c, s: jax.vmap(lambda tau: one(c, s, tau))(taus))(chip, psi0)

    finals = np.asarray(ramsey(chip, psi0, jnp.asarray(RAMSEY_TAUS)))  # (J, tau, s, 9)
    zz_sim, zz_exact = [], []
    for k, j in enumerate(J_VALUES):
        dressed, energies = _dressed(j)
        phases = np.array([_ramsey_phases(finals[k, i].T, dressed) for i in range(len(RAMSEY_TAUS))])
        # Qubit 0 precesses at E1s - E0s (mod the carrier): its phase falls as -2 pi f tau.
        # The spectator's state changes that rate by ZZ; under 0.1 cycle per 250 ns step,
        # so unwrapping along tau is unambiguous.
        conditional = np.unwrap(np.angle(np.exp(1j * (phases[:, 1] - phases[:, 0]))))
        slope, offset = np.polyfit(RAMSEY_TAUS, conditional, 1)
        assert abs(offset) < 1e-9  # dressed preparation: no phase at tau = 0
        np.testing.assert_allclose(conditional, slope * RAMSEY_TAUS, atol=1e-9)
        zz_sim.append(-slope / (2 * np.pi))
        e00, e01, e10, e11 = energies
        zz_exact.append(e11 - e10 - e01 + e00)
    zz_sim, zz_exact = np.array(zz_sim), np.array(zz_exact)

    # Idle periods are propagated exactly: the simulated ZZ equals the one from exact
    # diagonalization up to rounding of ~1e-12 rad over 1000 ns, i.e. ~1e-15 GHz.
    np.testing.assert_allclose(zz_sim, zz_exact, rtol=0, atol=1e-12)

    delta = F1 - F2
    zz_pert = 2 * J_VALUES**2 * (1 / (delta - ALPHA2) - 1 / (delta + ALPHA1))
    # Next order is O(J^4 / Delta^3) with Delta the smallest energy denominator
    # (|Delta + alpha1| = 100 MHz here); its prefactor from the two-excitation manifold is
    # ~5 for these parameters, so allow 10 J^4 / Delta^3 (< 0.1 % of ZZ at J = 2 MHz).
    smallest = min(abs(delta + ALPHA1), abs(delta - ALPHA2), abs(delta))
    error = zz_sim - zz_pert
    assert np.all(np.abs(error) <= 10 * J_VALUES**4 / smallest**3)
    # The residual really is fourth order: doubling J multiplies it by 2^4 = 16 (up to a
    # sixth-order correction of relative size ~(J/Delta)^2 ~ 2e-3).
    assert error[1] / error[0] == pytest.approx(16.0, rel=0.02)


def test_static_zz_with_per_channel_delays():
    """The same idle period as zero samples on each channel (driven-segment path, 8
    fourth-order Magnus steps per sample through the coupling's rotating phase)."""
    chip = _coupled_chip()
    psi0 = jnp.asarray(_ramsey_initial_states())
    tau = 1000.0
    schedule = Schedule([Delay(0, tau), Delay(1, tau)], frequencies=[F1, F2])

    @eqx.filter_jit
    def final(chip, psi0):
        return jax.vmap(lambda c, s: jax.vmap(lambda x: evolve(c, schedule, x, dt=DT))(s))(chip, psi0)

    finals = np.asarray(final(chip, psi0))
    for k, j in enumerate(J_VALUES):
        dressed, energies = _dressed(j)
        e00, e01, e10, e11 = energies
        phases = _ramsey_phases(finals[k].T, dressed)
        zz = -np.angle(np.exp(1j * (phases[1] - phases[0]))) / (2 * np.pi * tau)
        # Fourth-order Magnus error: 1.1e-11 and 4.4e-11 GHz for J = 2 and 4 MHz at 8
        # substeps (measured; 16x smaller per halving of the step). 1e-10 GHz is 5e-7 of ZZ.
        assert zz == pytest.approx(e11 - e10 - e01 + e00, abs=1e-10)


# ------------------------------------------------------------- idle, uncoupled transmons

@pytest.mark.parametrize("f01", [
    pytest.param([5.0, 4.7, 5.3], id="spread-0.6GHz"),
    pytest.param([4.4, 5.0, 5.6], id="spread-1.2GHz"),
])
def test_idle_period_of_uncoupled_transmons_is_analytic(f01):
    """Without coupling each transmon idles in its own frame: U is diagonal with phases
    -2 pi t [(f01 - f) n + alpha/2 n(n-1)] per transmon."""
    alphas, detunings, tau = [-0.3, -0.25, -0.32], [0.002, -0.001, 0.0005], 37.5
    chip = Chip([transmon(frequency=f, anharmonicity=a) for f, a in zip(f01, alphas)])
    carriers = [f - dlt for f, dlt in zip(f01, detunings)]
    u = np.asarray(propagator(chip, Schedule([Delay(None, tau)], frequencies=carriers), dt=DT))
    levels = np.meshgrid(*[np.arange(3)] * 3, indexing="ij")  # n_q on the |n0 n1 n2> grid
    energy = sum(detunings[q] * levels[q] + alphas[q] / 2 * levels[q] * (levels[q] - 1) for q in range(3))
    # One exponential raised to the 75th power: rounding only.
    np.testing.assert_allclose(u, np.diag(np.exp(-2j * np.pi * energy.reshape(-1) * tau)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("tau", [0.0, 37.5, 2.5e5])
def test_idle_of_a_lone_transmon_is_one_diagonal_exponential(tau):
    """A lone transmon's Closed idle is diag(exp(-2 pi i t [(f01 - f) n + alpha/2 n(n-1)])), for
    idles up to 250 us, eagerly and with the duration traced."""
    chip = Chip([transmon(frequency=5.0, anharmonicity=-0.3)])
    carrier, n = 5.0 - 0.0017, np.arange(3)
    expected = np.diag(np.exp(-2j * np.pi * ((5.0 - carrier) * n - 0.15 * n * (n - 1)) * tau))
    u = np.asarray(propagator(chip, Schedule([Delay(None, tau)], frequencies=[carrier]), dt=DT))
    swept = eqx.filter_jit(lambda t: propagator(chip, Schedule([Delay(None, t)], frequencies=[carrier]), dt=DT))
    # |2>'s phase reaches 4.6e5 rad at the longest idle, where a few roundings of it are ~3e-10
    for result in (u, np.asarray(swept(jnp.asarray(tau, dtype=jnp.float64)))):
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12 + 4e-15 * tau)
