"""The fast path (ExactSteps) against independent reference simulators.

QuTiP 5: the same rotating-frame model built from scratch here (operators, pulse shapes
and phases in numpy, from the documented conventions, not from devices' own code) and
integrated with an adaptive 8th-order Runge-Kutta at tight tolerances.
qiskit-dynamics: the library's QiskitDynamics solver, the reference the design names.
"""

import cmath

import numpy as np
import pytest
import qutip

from devices import (
    Barrier,
    Chip,
    Closed,
    Constant,
    Delay,
    Drag,
    ExactSteps,
    Gaussian,
    GaussianSquare,
    Hold,
    Open,
    Play,
    QiskitDynamics,
    Samples,
    Schedule,
    ShiftPhase,
    Transmon,
    populations,
    propagator,
)

DT = 0.5
# dop853 at 1e-12 reproduces a piecewise-constant 3-level evolution to ~4e-12 (checked
# against a product of exact exponentials); max_step = dt/4 keeps every step within a
# quarter sample, so that error control sees each jump of the held coefficients.
QUTIP_OPTIONS = {"method": "dop853", "atol": 1e-12, "rtol": 1e-12, "max_step": DT / 4,
                 "nsteps": 10**7}
# Final populations. One transmon: the fast path is exact (one exponential per sample)
# and QuTiP lands within ~1e-10 (measured <= 1e-9 over these cases): 1e-8. Two transmons:
# fourth-order Magnus with 8 substeps per sample, measured 4e-9..2e-8 against QuTiP: 1e-6.
SINGLE_TOL = 1e-8
COUPLED_TOL = 1e-6

# 55-85 s on 2 cores: nine qiskit-dynamics compilations, ten of the fast path, 46 QuTiP solves.
pytestmark = pytest.mark.slow


# ------------------------------------------------------------------ reference pulses

def _lifted_gaussian(t, center, sigma, half_width):
    g = np.exp(-0.5 * ((t - center) / sigma) ** 2)
    g0 = np.exp(-0.5 * (half_width / sigma) ** 2)
    return (g - g0) / (1 - g0), -g * (t - center) / sigma**2 / (1 - g0)


def reference_envelope(pulse) -> np.ndarray:
    """The pulse's AWG samples from the documented shapes, sampled at (k + 1/2) dt."""
    if isinstance(pulse, Samples):
        return np.asarray(pulse.values)
    n = int(round(pulse.duration / DT))
    t = (np.arange(n) + 0.5) * DT
    amp = float(pulse.amp) * np.exp(1j * float(pulse.angle))
    if isinstance(pulse, Constant):
        return amp * np.ones(n)
    if isinstance(pulse, GaussianSquare):
        width, sigma = float(pulse.width), float(pulse.sigma)
        risefall = (pulse.duration - width) / 2
        rise, _ = _lifted_gaussian(t, risefall, sigma, risefall)
        fall, _ = _lifted_gaussian(t, risefall + width, sigma, risefall)
        return amp * np.where(t < risefall, rise, np.where(t > risefall + width, fall, 1.0))
    half = pulse.duration / 2
    shape, slope = _lifted_gaussian(t, half, float(pulse.sigma), half)
    if isinstance(pulse, Drag):  # s = g + i beta dg/dt
        return amp * (shape + 1j * float(pulse.beta) * slope)
    assert type(pulse) is Gaussian
    return amp * shape


def reference_render(instructions, n_channels: int) -> np.ndarray:
    """Envelopes (n_channels, n_samples): back to back per channel, ShiftPhase multiplies
    later pulses by exp(i phase), Barrier / Delay(None) align all channels."""
    tracks = [[] for _ in range(n_channels)]
    phase = np.zeros(n_channels)

    def align():
        end = max(len(t) for t in tracks)
        for t in tracks:
            t.extend([0.0] * (end - len(t)))

    for ins in instructions:
        if isinstance(ins, Play):
            tracks[ins.channel].extend(reference_envelope(ins.pulse) * np.exp(1j * phase[ins.channel]))
        elif isinstance(ins, ShiftPhase):
            phase[ins.channel] += float(ins.phase)
        elif isinstance(ins, Barrier):
            align()
        elif isinstance(ins, Hold):  # every channel aligned, the listed ones held, the others silent
            align()
            n = int(round(float(ins.duration) / DT))
            for ch in range(n_channels):
                value = ins.amplitudes[ins.channels.index(ch)] * np.exp(1j * phase[ch]) if ch in ins.channels else 0
                tracks[ch].extend([complex(value)] * n)
        else:
            assert isinstance(ins, Delay)
            if ins.channel is None:
                align()
            for ch in range(n_channels) if ins.channel is None else [ins.channel]:
                tracks[ch].extend([0.0] * int(round(float(ins.duration) / DT)))
    align()
    return np.array(tracks, dtype=complex)


# ------------------------------------------------------------------ reference model

def _ladders(n_qubits, n_levels):
    ops = []
    for q in range(n_qubits):
        factors = [qutip.destroy(n_levels) if k == q else qutip.qeye(n_levels) for k in range(n_qubits)]
        ops.append(qutip.tensor(*factors))
    return ops


def qutip_populations(params, frequencies, envelopes, psi0, open_system: bool, lines=None) -> np.ndarray:
    """Final populations of the rotating-frame RWA model (H/2pi in GHz):
    sum_q (f01_q - f_q) n_q + alpha_q/2 n_q(n_q - 1) + drive_scale_q/2 (z_q a_q + h.c.)
    + J (exp(i 2 pi (f_0 - f_1) t) a_0^dag a_1 + h.c.),
    z_q(t) = sum_d crosstalk[line(d), q] s_d(t) exp(i 2 pi (f_d - f_q) t), where channel d
    plays on drive line line(d) (default d) and the first n_qubits carriers are the frames."""
    nq, nl = len(params["f01"]), params["n_levels"]
    n_channels = envelopes.shape[0]
    lines = list(range(n_channels)) if lines is None else list(lines)
    a = _ladders(nq, nl)
    n = [x.dag() * x for x in a]
    one = qutip.qeye([nl] * nq)
    two_pi = 2 * np.pi
    h0 = 0 * one
    for q in range(nq):
        h0 += two_pi * ((params["f01"][q] - frequencies[q]) * n[q]
                        + params["alpha"][q] / 2 * n[q] * (n[q] - one))
    n_samples = envelopes.shape[-1]
    duration = n_samples * DT
    terms = [h0]
    if nq == 1:
        # The frame Hamiltonian is constant over each sample: step-interpolated arrays.
        tlist = np.arange(n_samples + 1) * DT
        z = np.append(envelopes[0], envelopes[0, -1]) * np.pi * params["drive_scale"][0]
        terms += [[a[0], qutip.coefficient(z, tlist=tlist, order=0)],
                  [a[0].dag(), qutip.coefficient(np.conj(z), tlist=tlist, order=0)]]
    else:
        # Continuous carrier-difference phases times the held samples, as functions of t
        # (plain Python scalars: QuTiP calls these ~10^5 times).
        f = [float(x) for x in frequencies]
        # weighted[q][d][k] = pi * drive_scale_q * crosstalk[line(d), q] * s_d[k]
        weighted = [[(np.pi * params["drive_scale"][q] * params["crosstalk"][lines[d], q] * envelopes[d]).tolist()
                     for d in range(n_channels)] for q in range(nq)]

        def drive(q, conjugate):
            rates = [2j * np.pi * (f[d] - f[q]) for d in range(n_channels)]

            def z(t):
                k = min(int(t / DT), n_samples - 1)
                value = sum(weighted[q][d][k] * cmath.exp(rates[d] * t) for d in range(n_channels))
                return value.conjugate() if conjugate else value
            return z

        for q in range(nq):
            terms += [[a[q], qutip.coefficient(drive(q, False))],
                      [a[q].dag(), qutip.coefficient(drive(q, True))]]
        for q in range(nq):
            for r in range(q + 1, nq):
                j, w = two_pi * float(params["couplings"][q, r]), two_pi * (f[q] - f[r])
                terms += [[a[q].dag() * a[r], qutip.coefficient(lambda t, j=j, w=w: j * cmath.exp(1j * w * t))],
                          [a[r].dag() * a[q], qutip.coefficient(lambda t, j=j, w=w: j * cmath.exp(-1j * w * t))]]
    hamiltonian = qutip.QobjEvo(terms)
    ket = qutip.Qobj(np.asarray(psi0).reshape(-1, 1), dims=[[nl] * nq, [1] * nq])
    if open_system:
        c_ops = []
        for q in range(nq):
            gamma_phi = 1 / params["t2"][q] - 1 / (2 * params["t1"][q])
            c_ops += [np.sqrt(1 / params["t1"][q]) * a[q], np.sqrt(2 * gamma_phi) * n[q]]
        final = qutip.mesolve(hamiltonian, ket, [0.0, duration], c_ops=c_ops, options=QUTIP_OPTIONS).states[-1]
        return np.real(np.diag(final.full()))
    final = qutip.sesolve(hamiltonian, ket, [0.0, duration], options=QUTIP_OPTIONS).states[-1]
    return np.abs(final.full().ravel()) ** 2


# ------------------------------------------------------------------ random cases

def _random_params(rng, n_qubits, n_levels):
    t1 = rng.uniform(300.0, 3000.0, n_qubits)  # short, so that 50-100 ns show decay
    p = dict(
        n_levels=n_levels,
        f01=rng.uniform(4.5, 5.5, n_qubits),
        alpha=rng.uniform(-0.35, -0.15, n_qubits),
        drive_scale=rng.uniform(0.02, 0.06, n_qubits),
        t1=t1,
        t2=t1 * rng.uniform(0.2, 2.0, n_qubits),
    )
    if n_qubits == 2:
        j = rng.uniform(0.002, 0.008)
        p["couplings"] = np.array([[0.0, j], [j, 0.0]])
        off = 0.08 * rng.uniform(0.2, 1.0, 2) * np.exp(2j * np.pi * rng.uniform(size=2))
        p["crosstalk"] = np.array([[1.0, off[0]], [off[1], 1.0]])
        # Qubits 150-400 MHz apart: the coupling's phase turns fast in the carriers' frames.
        p["f01"][1] = p["f01"][0] - rng.uniform(0.15, 0.4)
    return p


def _chip(p) -> Chip:
    transmons = [Transmon(frequency=p["f01"][q], anharmonicity=p["alpha"][q], drive_scale=p["drive_scale"][q],
                          t1=p["t1"][q], t2=p["t2"][q], n_levels=p["n_levels"])
                 for q in range(len(p["f01"]))]
    if len(transmons) == 1:
        return Chip(transmons)
    return Chip(transmons, couplings=p["couplings"], crosstalk=p["crosstalk"])


def _amp(rng):
    return rng.uniform(0.3, 0.9) * rng.choice([-1, 1])


def _samples(rng, n):
    return 0.8 * rng.uniform(0, 1, n) * np.exp(2j * np.pi * rng.uniform(size=n))


def _single_transmon_program(rng, template: int):
    """Four fixed layouts (durations are static: one compilation each) of every pulse
    type, frame changes and idle periods; all amplitudes, shapes and phases random."""
    phase = lambda: ShiftPhase(0, rng.uniform(-np.pi, np.pi))  # noqa: E731
    angle = lambda: rng.uniform(-np.pi, np.pi)  # noqa: E731
    if template == 0:
        return [Play(0, Drag(20.0, _amp(rng), rng.uniform(3, 6), angle(), beta=rng.uniform(-1, 1))),
                phase(), Play(0, Gaussian(16.0, _amp(rng), rng.uniform(2, 5), angle())),
                Delay(0, 6.0), Play(0, Constant(5.0, _amp(rng), angle()))]
    if template == 1:
        return [Play(0, GaussianSquare(40.0, _amp(rng), rng.uniform(2, 5), rng.uniform(5, 25), angle())),
                phase(), Play(0, Samples(_samples(rng, 24))),
                Play(0, Drag(12.0, _amp(rng), rng.uniform(2, 4), beta=rng.uniform(-1, 1)))]
    if template == 2:
        return [Play(0, Constant(10.0, _amp(rng))), phase(),
                Play(0, Gaussian(20.0, _amp(rng), rng.uniform(3, 6))), Play(0, Samples(_samples(rng, 16))),
                phase(), Play(0, Drag(16.0, _amp(rng), rng.uniform(3, 5), angle(), beta=rng.uniform(-1, 1)))]
    return [Play(0, Samples(_samples(rng, 20))), phase(),
            Play(0, Drag(24.0, _amp(rng), rng.uniform(4, 6), beta=rng.uniform(-1, 1))),
            Delay(0, 10.0), phase(),
            Play(0, GaussianSquare(30.0, _amp(rng), rng.uniform(2, 4), rng.uniform(2, 20), angle())),
            Play(0, Constant(4.0, _amp(rng), angle()))]


TEMPLATE_LEVELS = [3, 3, 2, 4]


def _random_ket(rng, d):
    v = rng.normal(size=d) + 1j * rng.normal(size=d)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("dynamics", [Closed(), Open()], ids=["closed", "open"])
@pytest.mark.parametrize("seed", range(20))
def test_single_transmon_matches_qutip(seed, dynamics):
    rng = np.random.default_rng(1000 + seed)
    template = seed % 4
    p = _random_params(rng, 1, TEMPLATE_LEVELS[template])
    instructions = _single_transmon_program(rng, template)
    frequencies = [p["f01"][0] + rng.uniform(-0.02, 0.02)]
    psi0 = _random_ket(rng, p["n_levels"])
    ours = populations(_chip(p), Schedule(instructions, frequencies), psi0, dt=DT, dynamics=dynamics)
    reference = qutip_populations(p, frequencies, reference_render(instructions, 1), psi0,
                                  open_system=isinstance(dynamics, Open))
    np.testing.assert_allclose(np.asarray(ours), reference, rtol=0, atol=SINGLE_TOL)


def _two_transmon_program(rng):
    angle = lambda: rng.uniform(-np.pi, np.pi)  # noqa: E731
    return [
        Play(0, Drag(16.0, _amp(rng), rng.uniform(3, 5), angle(), beta=rng.uniform(-1, 1))),
        Play(1, Gaussian(12.0, _amp(rng), rng.uniform(2, 4), angle())),
        ShiftPhase(1, rng.uniform(-np.pi, np.pi)),
        Play(1, Constant(4.0, _amp(rng), angle())),
        Barrier(),
        Play(0, Samples(_samples(rng, 8))), Delay(1, 4.0),
        Play(1, Constant(2.0, _amp(rng))),
        Delay(None, 20.0),  # an idle period: the exact idle propagator, between frames
        ShiftPhase(0, rng.uniform(-np.pi, np.pi)),
        Play(1, GaussianSquare(20.0, _amp(rng), rng.uniform(2, 3), rng.uniform(4, 12), angle())),
        Play(0, Gaussian(10.0, _amp(rng), rng.uniform(2, 3), angle())),
        # A block in which one channel plays under one shifted frame, through crosstalk.
        Delay(None, 3.0), ShiftPhase(1, rng.uniform(-np.pi, np.pi)),
        Play(1, Drag(8.0, _amp(rng), 2.0, angle(), beta=rng.uniform(-1, 1))),
    ]


@pytest.mark.parametrize("dynamics", [Closed(), Open()], ids=["closed", "open"])
@pytest.mark.parametrize("seed", range(3))
def test_two_coupled_transmons_match_qutip(seed, dynamics):
    # Coupling and crosstalk rotate at the carrier differences: QuTiP integrates the
    # continuous phases; ExactSteps' default 8 Magnus-4 substeps agree to ~2e-8, so
    # substeps=32 is not needed.
    rng = np.random.default_rng(2000 + seed)
    p = _random_params(rng, 2, 3)
    instructions = _two_transmon_program(rng)
    frequencies = list(p["f01"] + rng.uniform(-0.01, 0.01, 2))
    psi0 = _random_ket(rng, 9)
    ours = populations(_chip(p), Schedule(instructions, frequencies), psi0, dt=DT, dynamics=dynamics)
    reference = qutip_populations(p, frequencies, reference_render(instructions, 2), psi0,
                                  open_system=isinstance(dynamics, Open))
    np.testing.assert_allclose(np.asarray(ours), reference, rtol=0, atol=COUPLED_TOL)


def _cross_resonance_program(rng):
    """An echoed cross-resonance gate with random settings: channel 2 is the control's
    (transmon 0's) line at the target's carrier, channel 1 the target's own line playing a
    cancellation tone, channel 0 the echo's X on the control."""
    angle = rng.uniform(-np.pi, np.pi)
    cr_amp, cancel_amp = rng.uniform(0.4, 0.9), rng.uniform(0.05, 0.2)
    sigma, width = rng.uniform(2, 4), rng.uniform(20, 40)

    def half(sign):
        return [Play(2, GaussianSquare(60.0, sign * cr_amp, sigma, width, angle)),
                Play(1, GaussianSquare(60.0, sign * cancel_amp, sigma, width, angle + 0.3)), Barrier()]

    echo = [Play(0, Drag(20.0, _amp(rng), 5.0, beta=rng.uniform(-0.5, 0.5))), Barrier()]
    # a held flat top (the exact path of constant tones sharing one carrier), frame-shifted
    held = [ShiftPhase(1, rng.uniform(-np.pi, np.pi)),
            Hold((2, 1), [cr_amp * np.exp(1j * angle), cancel_amp * np.exp(1j * (angle + 0.3))], 25.0)]
    return half(1) + held + echo + half(-1) + [ShiftPhase(2, rng.uniform(-np.pi, np.pi)), Delay(None, 7.0),
                                                Play(2, Constant(6.0, _amp(rng)))]


@pytest.mark.parametrize("dynamics", [Closed(), Open()], ids=["closed", "open"])
def test_cross_resonance_tone_matches_qutip(dynamics):
    # The control's line drives at the target's carrier: the extra channel reaches the
    # control through crosstalk 1 and the target through the chip's crosstalk[0, 1].
    rng = np.random.default_rng(2100)
    p = _random_params(rng, 2, 3)
    instructions = _cross_resonance_program(rng)
    frames = list(p["f01"] + rng.uniform(-0.01, 0.01, 2))
    frequencies, lines = frames + [frames[1]], (0, 1, 0)
    psi0 = _random_ket(rng, 9)
    schedule = Schedule(instructions, frequencies, lines=lines)
    ours = populations(_chip(p), schedule, psi0, dt=DT, dynamics=dynamics)
    reference = qutip_populations(p, frequencies, reference_render(instructions, 3), psi0,
                                  open_system=isinstance(dynamics, Open), lines=lines)
    # Every block of this program plays one carrier (the tones at the target's, the echo at the
    # control's), so ours is exact and is held to the single transmon's tolerance (measured
    # 7e-11 closed, 1e-10 open).
    np.testing.assert_allclose(np.asarray(ours), reference, rtol=0, atol=SINGLE_TOL)
    # the tone matters: without it (channel 2 silenced) the populations move by far more
    silent = [ins for ins in instructions if getattr(ins, "channel", None) != 2]
    without = populations(_chip(p), Schedule(silent, frequencies, lines=lines), psi0, dt=DT, dynamics=dynamics)
    assert np.abs(np.asarray(without) - reference).max() > 1e3 * COUPLED_TOL


# ------------------------------------------------------------------ qiskit-dynamics

# ExactSteps' Magnus substeps in every block of several transmons: the scheme qiskit-dynamics'
# magnus_order=2 uses, so the two agree to rounding.
MAGNUS_EVERYWHERE = ExactSteps(common_frame=False)

def _qiskit_case(n_qubits: int):
    rng = np.random.default_rng(3000 + n_qubits)
    # Three transmons keep 2 levels: their Lindbladian is 64 x 64 rather than 729 x 729.
    n_levels = 2 if n_qubits == 3 else 3
    transmons, pulses = [], [Drag, Gaussian, Constant]
    f01 = 5.0 - 0.23 * np.arange(n_qubits)
    for q in range(n_qubits):
        t1 = rng.uniform(500, 2000)
        transmons.append(Transmon(frequency=f01[q], anharmonicity=rng.uniform(-0.35, -0.2),
                                  drive_scale=rng.uniform(0.03, 0.06), t1=t1, t2=t1 * rng.uniform(0.5, 2.0),
                                  n_levels=n_levels))
    j = np.triu(rng.uniform(0.002, 0.008, (n_qubits, n_qubits)), 1)
    crosstalk = np.eye(n_qubits) + np.where(np.eye(n_qubits) == 1, 0.0, 0.05 * np.exp(
        2j * np.pi * rng.uniform(size=(n_qubits, n_qubits))))
    chip = Chip(transmons, couplings=j + j.T, crosstalk=crosstalk)
    instructions = []
    for q in range(n_qubits):
        kind = pulses[q]
        if kind is Drag:
            pulse = Drag(6.0, 0.8, 1.5, 0.3, beta=0.4)
        elif kind is Gaussian:
            pulse = Gaussian(4.0, -0.7, 1.0, 1.1)
        else:
            pulse = Constant(3.0, 0.6, -0.4)
        instructions += [Play(q, pulse), ShiftPhase(q, 0.7 * (q + 1))]
    instructions += [Barrier(), Play(0, Samples(_samples(rng, 4)))]
    if n_qubits == 1:
        instructions += [Delay(0, 2.0), Play(0, Constant(1.0, 0.5))]
    frequencies = f01 + rng.uniform(-0.01, 0.01, n_qubits)
    return chip, Schedule(instructions, frequencies)


@pytest.mark.parametrize("dynamics", [Closed(), Open()], ids=["closed", "open"])
@pytest.mark.parametrize("n_qubits", [1, 2, 3])
def test_exact_steps_equal_qiskit_dynamics_magnus(n_qubits, dynamics):
    chip, schedule = _qiskit_case(n_qubits)
    ours = np.asarray(propagator(chip, schedule, dt=DT, dynamics=dynamics, solver=MAGNUS_EVERYWHERE))
    theirs = np.asarray(propagator(chip, schedule, dt=DT, dynamics=dynamics, solver=QiskitDynamics()))
    # The same fourth-order Magnus steps on the same grid (a single transmon: one exact
    # exponential per sample): only the exponential's rounding differs, ~1e-15 per step
    # over <= 128 steps. (By default ours steps blocks of one carrier exactly instead:
    # test_one_carrier_blocks_are_the_exact_limit_of_magnus_steps.)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert np.abs(ours - np.eye(ours.shape[0])).max() > 0.1  # a nontrivial propagator


@pytest.mark.parametrize("dynamics", [Closed(), Open()], ids=["closed", "open"])
def test_cross_resonance_tone_equals_qiskit_dynamics_magnus(dynamics):
    chip, _ = _qiskit_case(2)
    rng = np.random.default_rng(3100)
    frames = [float(t.frequency) + rng.uniform(-0.01, 0.01) for t in chip.transmons]
    instructions = [Play(2, GaussianSquare(8.0, 0.9, 1.0, 4.0, 0.4)), Play(1, Constant(8.0, 0.2, 1.0)),
                    Barrier(), Play(0, Drag(6.0, 0.8, 1.5, beta=0.3))]
    schedule = Schedule(instructions, frames + [frames[1]], lines=(0, 1, 0))
    ours = np.asarray(propagator(chip, schedule, dt=DT, dynamics=dynamics, solver=MAGNUS_EVERYWHERE))
    theirs = np.asarray(propagator(chip, schedule, dt=DT, dynamics=dynamics, solver=QiskitDynamics()))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dynamics", [Closed(), Open()], ids=["closed", "open"])
def test_exact_steps_equal_qiskit_dynamics_odeint(dynamics):
    chip, schedule = _qiskit_case(1)
    ours = np.asarray(propagator(chip, schedule, dt=DT, dynamics=dynamics))
    solver = QiskitDynamics(method="jax_odeint", atol=1e-12, rtol=1e-12)
    theirs = np.asarray(propagator(chip, schedule, dt=DT, dynamics=dynamics, solver=solver))
    # An adaptive solve at 1e-12, steps capped at dt: its error is set by the coefficient
    # jumps at sample boundaries (measured 3e-9 closed, 2e-9 open); checked at 1e-6.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
