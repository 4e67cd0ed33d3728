"""Invalid device models, pulses and schedules fail early with a DeviceModelError that
names the offending field and shows its value; valid ones (and ensembles) pass."""

import re

import equinox as eqx
import numpy as np
import pytest

from devices import (
    Chip,
    Constant,
    Delay,
    DeviceModelError,
    Drag,
    ExactSteps,
    Gaussian,
    GaussianSquare,
    Play,
    Samples,
    Schedule,
    ShiftPhase,
    Transmon,
    basis_state,
    populations,
    propagator,
)

DT = 0.5
VALID = dict(frequency=5.0, anharmonicity=-0.3, drive_scale=0.05, t1=2e4, t2=1.5e4,
             readout_p01=0.01, readout_p10=0.02)
FLOAT_FIELDS = list(VALID)


def transmon(**overrides) -> Transmon:
    return Transmon(**{**VALID, **overrides})


def raises(*fragments):
    """pytest.raises(DeviceModelError) whose message contains every fragment, in order."""
    return pytest.raises(DeviceModelError, match=".*".join(re.escape(f) for f in fragments))


# ------------------------------------------------------------------------- Transmon

def test_t2_longer_than_twice_t1():
    with raises("Transmon.t2 is 50000.0 ns", "t2 <= 2*t1 = 40000.0 ns"):
        transmon(t1=2e4, t2=5e4)


@pytest.mark.parametrize("t1", [0.0, -5.0])
def test_nonpositive_t1(t1):
    with raises(f"Transmon.t1 is {t1!r}", "t1 > 0"):
        transmon(t1=t1)


@pytest.mark.parametrize("n_levels", [1, 0, -3])
def test_too_few_levels(n_levels):
    with raises(f"Transmon.n_levels is {n_levels}", ">= 2"):
        transmon(n_levels=n_levels)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_non_finite_float_field(field, bad):
    with raises(f"Transmon.{field} must be finite, but is {bad!r}"):
        transmon(**{field: bad})


@pytest.mark.parametrize("alpha", [0.2, 0.0])
def test_nonnegative_anharmonicity(alpha):
    with raises(f"Transmon.anharmonicity is {alpha!r}", "anharmonicity < 0"):
        transmon(anharmonicity=alpha)


@pytest.mark.parametrize("field", ["readout_p01", "readout_p10"])
@pytest.mark.parametrize("value", [0.5, 0.7, -0.1])
def test_readout_error_out_of_range(field, value):
    with raises(f"Transmon.{field} is {value!r}", f"0 <= {field} < 0.5"):
        transmon(**{field: value})


@pytest.mark.parametrize(("field", "value"), [("frequency", -5.0), ("frequency", 0.0), ("drive_scale", 0.0)])
def test_nonpositive_rates(field, value):
    with raises(f"Transmon.{field} is {value!r}", f"{field} > 0"):
        transmon(**{field: value})


def test_ensemble_with_one_bad_member_names_the_values():
    with raises("Transmon.t2 is [10000.0, 50000.0] ns", "= [20000.0, 40000.0] ns"):
        transmon(t1=np.array([1e4, 2e4]), t2=np.array([1e4, 5e4]))
    with raises("Transmon.frequency must be finite", "nan"):
        transmon(frequency=np.array([5.0, np.nan, 5.1]))


def test_valid_transmons_and_ensembles_construct():
    assert float(transmon().t1) == 2e4
    boundary = transmon(t1=1e4, t2=2e4)  # T2 = 2 T1: no pure dephasing, allowed
    assert float(boundary.dephasing_rate) == 0.0
    assert transmon(n_levels=2).n_levels == 2
    n = 8
    ensemble = Transmon(frequency=np.linspace(4.9, 5.1, n), anharmonicity=np.full(n, -0.3),
                        drive_scale=np.full(n, 0.05), t1=np.linspace(1e4, 5e4, n),
                        t2=np.linspace(1e4, 8e4, n), readout_p01=np.full(n, 0.02))
    assert ensemble.t2.shape == (n,)
    chip = Chip([ensemble, ensemble], couplings=np.tile([[0.0, 0.003], [0.003, 0.0]], (n, 1, 1)),
                crosstalk=np.tile(np.eye(2), (n, 1, 1)))
    assert chip.couplings.shape == (n, 2, 2)


# ------------------------------------------------------------------------------ Chip

def test_non_symmetric_couplings():
    with raises("Chip.couplings must be symmetric, but is [[0.0, 0.003], [0.004, 0.0]]"):
        Chip([transmon(), transmon()], couplings=[[0.0, 0.003], [0.004, 0.0]])


def test_self_coupling():
    with raises("Chip.couplings must have a zero diagonal"):
        Chip([transmon(), transmon()], couplings=[[0.01, 0.003], [0.003, 0.0]])


@pytest.mark.parametrize("field", ["couplings", "crosstalk"])
@pytest.mark.parametrize("shape", [(3, 3), (2,), (2, 3)])
def test_wrong_matrix_shapes(field, shape):
    with raises(f"Argument `{field}` must have shape (..., 2, 2) for 2 transmons, but has shape {shape}"):
        Chip([transmon(), transmon()], **{field: np.zeros(shape)})


def test_crosstalk_diagonal_not_one():
    with raises("Chip.crosstalk[q, q] must be 1", "diagonal is [(0.9+0j), (1+0j)]"):
        Chip([transmon(), transmon()], crosstalk=[[0.9, 0.0], [0.0, 1.0]])


def test_non_finite_couplings():
    with raises("Chip.couplings must be finite", "nan"):
        Chip([transmon(), transmon()], couplings=[[0.0, np.nan], [np.nan, 0.0]])


def test_chip_of_mixed_levels_or_no_transmon():
    with raises("Chip.transmons have n_levels [2, 3]"):
        Chip([transmon(), transmon(n_levels=2)])
    with raises("Chip.transmons is empty"):
        Chip([])


def test_valid_chip_constructs():
    chip = Chip([transmon(), transmon(frequency=4.8)], couplings=[[0, 0.004], [0.004, 0]],
                crosstalk=[[1, 0.05j], [0.02, 1]])
    assert chip.n_qubits == 2 and chip.n_levels == 3
    assert chip.neighbours(0) == [1]


# ---------------------------------------------------------------------------- Pulses

def _one_transmon_schedule(pulse):
    return Chip([transmon()]), Schedule([Play(0, pulse)], frequencies=[5.0])


@pytest.mark.parametrize("pulse", [Gaussian(10.3, 0.5, 2.0), Drag(7.25, 0.5, 2.0, beta=0.1),
                                   GaussianSquare(20.2, 0.5, 2.0, 5.0), Constant(0.3, 0.5)],
                         ids=["Gaussian", "Drag", "GaussianSquare", "Constant"])
def test_duration_not_a_multiple_of_dt(pulse):
    chip, schedule = _one_transmon_schedule(pulse)
    with raises(f"{type(pulse).__name__}.duration is {pulse.duration} ns", "multiple", f"dt = {DT} ns"):
        populations(chip, schedule, dt=DT)


@pytest.mark.parametrize("amp", [1.5, -1.2])
@pytest.mark.parametrize("make", [lambda a: Gaussian(10.0, a, 2.0), lambda a: Drag(10.0, a, 2.0, beta=0.2),
                                  lambda a: GaussianSquare(20.0, a, 2.0, 5.0), lambda a: Constant(4.0, a)],
                         ids=["Gaussian", "Drag", "GaussianSquare", "Constant"])
def test_amplitude_beyond_full_scale(make, amp):
    with pytest.raises(DeviceModelError, match=re.escape(f".amp is {amp!r}, but must satisfy -1 <= amp <= 1")):
        make(amp)


@pytest.mark.parametrize("sigma", [0.0, -1.0])
@pytest.mark.parametrize("make", [lambda s: Gaussian(10.0, 0.5, s), lambda s: Drag(10.0, 0.5, s),
                                  lambda s: GaussianSquare(20.0, 0.5, s, 5.0)],
                         ids=["Gaussian", "Drag", "GaussianSquare"])
def test_nonpositive_sigma(make, sigma):
    with pytest.raises(DeviceModelError, match=re.escape(f".sigma is {sigma!r}, but must satisfy sigma > 0")):
        make(sigma)


def test_nan_samples_name_the_first_index():
    values = np.full(10, 0.1 + 0.1j)
    values[3] = np.nan
    values[7] = np.inf
    with raises("Samples.values holds NaN or inf (2 of 10 samples, the first at index 3)"):
        Samples(values)


def test_samples_beyond_full_scale():
    with raises("Samples.values reaches |s| = 1.2", "|s| <= 1"):
        Samples([0.1, 0.0, 1.2j, -0.3])


def test_other_pulse_fields():
    with raises("Constant.duration is -4.0", "positive"):
        Constant(-4.0, 0.1)
    with raises("GaussianSquare.width is 10.0", "width < duration = 10.0 ns"):
        GaussianSquare(10.0, 0.5, 1.0, 10.0)
    with raises("Drag.beta must be finite, but is nan"):
        Drag(10.0, 0.5, 2.0, beta=np.nan)
    with raises("Gaussian.angle must be finite, but is inf"):
        Gaussian(10.0, 0.5, 2.0, angle=np.inf)


def test_valid_pulses_construct():
    pulses = [Gaussian(10.0, -1.0, 2.0), Drag(10.0, 1.0, 2.0, 0.3, beta=-0.5), GaussianSquare(20.0, 0.5, 2.0, 0.0),
              Constant(0.5, 0.0), Samples(np.exp(1j * np.linspace(0, 3, 5)))]
    assert [p.n_samples(DT) for p in pulses] == [20, 20, 40, 1, 5]


# -------------------------------------------------------------------------- Schedules

def test_unknown_channel():
    with raises("Schedule uses drive channel 2, but only channels 0..1 have a frequency"):
        Schedule([Play(2, Constant(4.0, 0.1))], frequencies=[5.0, 5.1])
    with raises("Schedule uses drive channel 1, but only channels 0..0"):
        Schedule([ShiftPhase(1, 0.3)], frequencies=[5.0])


def test_negative_channel_and_bad_instruction_fields():
    with raises("Play.channel is -1", ">= 0"):
        Play(-1, Constant(4.0, 0.1))
    with raises("Delay.duration is -1.0", "duration >= 0"):
        Delay(0, -1.0)
    with raises("ShiftPhase.phase must be finite, but is nan"):
        ShiftPhase(0, np.nan)
    with raises("Schedule.frequencies is [0.]", "frequencies > 0"):
        Schedule([Play(0, Constant(4.0, 0.1))], frequencies=[0.0])


def test_schedule_for_another_number_of_transmons():
    chip = Chip([transmon(), transmon(frequency=4.8)])
    schedule = Schedule([Play(0, Constant(4.0, 0.1))], frequencies=[5.0])
    with raises("Schedule plays on 1 drive lines", "the chip has 2 transmons"):
        populations(chip, schedule, dt=DT)


def test_schedule_lines_must_start_with_each_lines_own_channel():
    pulse = Play(2, Constant(4.0, 0.1))
    with raises("Schedule.lines is [0, 1]", "one drive line (an int) for each of the 3 channels"):
        Schedule([pulse], frequencies=[5.0, 4.8, 4.8], lines=(0, 1))
    with raises("Schedule.lines is [1, 0, 0]", "channels 0..1 must be lines 0..1 in order"):
        Schedule([pulse], frequencies=[5.0, 4.8, 4.8], lines=(1, 0, 0))
    with raises("Schedule.lines is [0, 2, 1]", "channels 0..2 must be lines 0..2 in order"):
        Schedule([pulse], frequencies=[5.0, 4.8, 4.8], lines=(0, 2, 1))
    tone = Schedule([pulse], frequencies=[5.0, 4.8, 4.8], lines=(0, 1, 0))
    assert (tone.n_channels, tone.n_lines) == (3, 2)
    with raises("Schedule plays on 2 drive lines", "the chip has 3 transmons"):
        populations(Chip([transmon(), transmon(frequency=4.8), transmon(frequency=4.6)]), tone, dt=DT)


def test_more_than_three_transmons():
    chip = Chip([transmon(frequency=5.0 - 0.1 * q) for q in range(4)])
    schedule = Schedule([Play(0, Constant(4.0, 0.1))], frequencies=[5.0, 4.9, 4.8, 4.7])
    with raises("Simulating 4 coupled transmons, but at most 3 are supported"):
        propagator(chip, schedule, dt=DT)


@pytest.mark.parametrize("instructions", [[], [ShiftPhase(0, 0.5)]], ids=["empty", "phase-only"])
def test_schedule_that_plays_nothing(instructions):
    with raises("Schedule plays nothing"):
        populations(Chip([transmon()]), Schedule(instructions, frequencies=[5.0]), dt=DT)


def test_dt_must_be_a_float():
    chip, schedule = _one_transmon_schedule(Constant(4.0, 0.1))
    with raises("Argument `dt` must be a positive float (ns), but is 1"):
        populations(chip, schedule, dt=1)


def test_initial_state_of_the_wrong_shape():
    chip, schedule = _one_transmon_schedule(Constant(4.0, 0.1))
    with raises("Argument `initial` must have shape (3,) or (3, 3), but has shape (2,)"):
        populations(chip, schedule, np.array([1.0, 0.0]), dt=DT)
    with raises("Level 3 is outside 0..2"):
        basis_state(chip, [3])


def test_channel_delay_not_a_multiple_of_dt():
    chip = Chip([transmon(), transmon(frequency=4.8)])
    schedule = Schedule([Delay(0, 10.3), Play(1, Constant(4.0, 0.1))], frequencies=[5.0, 4.8])
    with raises("Delay.duration is 10.3 ns", "multiple", "dt = 0.5 ns"):
        populations(chip, schedule, dt=DT)


@pytest.mark.parametrize("n_qubits", [1, 2])
def test_idle_delay_not_a_multiple_of_dt(n_qubits):
    chip = Chip([transmon(frequency=5.0 - 0.2 * q) for q in range(n_qubits)])
    schedule = Schedule([Play(0, Constant(4.0, 0.1)), Delay(None, 10.3)],
                        frequencies=[5.0, 4.8][:n_qubits])
    with raises("Delay.duration is 10.3 ns", "multiple", "dt = 0.5 ns"):
        schedule.duration(DT)  # the schedule's own check catches it ...
    with raises("Delay.duration is 10.3 ns", "multiple", "dt = 0.5 ns"):
        populations(chip, schedule, dt=DT)  # ... the simulation does as well
    # and under jit, where the duration is traced, the populations are NaN: never a result for
    # a rounded delay (a raising check would keep the program out of XLA's persistent cache)
    sweep = eqx.filter_jit(lambda tau: populations(
        chip, Schedule([Play(0, Constant(4.0, 0.1)), Delay(None, tau)], frequencies=[5.0, 4.8][:n_qubits]),
        dt=DT))
    assert np.all(np.isfinite(sweep(10.5)))
    assert np.all(np.isnan(sweep(10.3)))
    assert np.all(np.isnan(eqx.filter_jit(lambda tau: populations(
        chip, Schedule([Delay(None, tau)], frequencies=[5.0, 4.8][:n_qubits]), dt=DT))(-1.0)))


# ---------------------------------------------------------------------------- Solver

def test_exponential_squaring_budget_exceeded_names_substeps():
    # 1 GHz detuning: ||2 pi H dt|| ~ 2 pi * 2 GHz * 0.5 ns / 2 > 0.68 = THETA * 2^0.
    chip = Chip([transmon()])
    schedule = Schedule([Play(0, Constant(4.0, 0.1))], frequencies=[4.0])
    with pytest.raises(DeviceModelError, match=r"1-norm above 0.68, beyond what 0 squarings.*substeps"):
        propagator(chip, schedule, dt=DT, solver=ExactSteps(max_squarings=0))
    # under jit the step is NaN, never an inaccurate number
    jitted = eqx.filter_jit(lambda amp: propagator(chip, Schedule([Play(0, Constant(4.0, amp))], frequencies=[4.0]),
                                                   dt=DT, solver=ExactSteps(max_squarings=0)))
    assert np.all(np.isnan(jitted(0.1)))
    # The default budget handles it, and the result is unitary.
    u = np.asarray(propagator(chip, schedule, dt=DT))
    np.testing.assert_allclose(u @ u.conj().T, np.eye(3), atol=1e-12)


def test_invalid_substeps():
    chip = Chip([transmon(), transmon(frequency=4.8)])
    schedule = Schedule([Play(0, Constant(4.0, 0.1))], frequencies=[5.0, 4.8])
    with pytest.raises(ValueError, match=re.escape("ExactSteps.substeps is 0")):
        propagator(chip, schedule, dt=DT, solver=ExactSteps(substeps=0))
