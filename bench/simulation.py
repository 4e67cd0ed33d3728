"""Benchmark: a batch of pulse simulations, ours against QuTiP, dynamiqs and qiskit-dynamics.

Problem. 1000 DRAG X gates on one 3-level transmon (f01 5 GHz, anharmonicity -0.3 GHz,
drive scale 0.1 GHz), 20 ns long (sigma 5 ns), AWG sample time 0.5 ns (40 samples),
with a random amplitude (nominal pi amplitude +-10 %), DRAG beta (+-1 ns) and drive
detuning (+-5 MHz) per gate, drawn from a seeded generator (default seed 1234, which no
test uses). Four cases: the unitary (closed), the column-stacking Lindblad superoperator
(open, T1 = 60 us, T2 = 40 us), and each again with the gradient of L = sum over gates of
the gate infidelity against X on the qubit subspace, w.r.t. the three pulse parameters of
every gate.

Same model for everyone. H/2pi = H_static + sum_k c_k(t) O_k in the drive's rotating
frame, piecewise constant over each AWG sample; the matrices (static Hamiltonian, control
operators and coefficients, collapse operators) all come from devices.hamiltonian
(bench/_sim_problem.py), so every solver integrates the identical model. The solvers are
built in bench/_sim_peers.py.

Peers, in their modes:
  ours                    devices.propagator of one gate, batched by jax inside one jax.jit.
  dynamiqs-expm           dq.sepropagator / dq.mepropagator on dq.pwc time-arrays, double
  dynamiqs-tsit5          precision, methods Expm and Tsit5 (rtol = atol = 1e-8).
  qiskit-dynamics-expm    its exact path for this model: Solver.solve(method="jax_expm",
                          max_dt=dt, magnus_order=1), one exponential per AWG sample, one
                          Solver built once per case (static_hamiltonian,
                          hamiltonian_operators, static_dissipators for open,
                          array_library="jax", no rotating_frame: the model is already in
                          the rotating frame), signals as DiscreteSignals; the detuning is one
                          more operator (the number operator) with a constant signal.
  qiskit-dynamics-odeint  the tutorials' usage: the same Solver, one jitted Solver.solve per
                          gate with the adaptive method="jax_odeint", hmax = dt,
                          rtol = atol = 1e-10; looped.
  qutip                   qutip.propagator(H, t, c_ops) with step-interpolated coefficients,
                          ODE method 'adams' (QuTiP's default), max_step = dt,
                          rtol = atol = 1e-11; looped.
  qutip-pwc               the same call with piecewise_t = the sample edges: QuTiP 5.3's own
                          exact path (one expm per sample), so QuTiP is shown at its fastest.
Gradients: jax.grad for ours, dynamiqs and qiskit-dynamics (through their solvers); QuTiP
has no autodiff, so central finite differences (7 solves per gate). Adaptive tolerances are
the loosest power of ten that passed the check below with a 2x margin on a 20-gate pilot.

Batching. Every batched solver (ours, dynamiqs-*, qiskit-dynamics-expm) is compiled and
timed two ways: "vmap", the whole batch at once (dynamiqs: its own batching over the pwc
arrays; the others jax.vmap), and "map/N", jax.lax.map(one_gate, params, batch_size=N)
with N = --chunk (default 100), which vmaps over chunks of N gates in a loop (on a CPU each
chunk's intermediates stay in cache). For each solver the form with the lower median time
counts, and its row names it.

Timing. Per case, every batched solver and form is compiled first; that first call
(compile + run) is reported apart. Then --repeats rounds (default 5), the same number for
every batched solver: each round calls every solver and form once, ours first and then the
peers, the order reversed every other round, so ours and each peer are timed side by side
under the same machine load. A row prints the median and the best time of ours and of the
peer, the median over rounds of the paired ratio peer/ours, and the ratio of bests. Looped
peers (qutip, qutip-pwc, qiskit-dynamics-odeint) run one gate per call: after a warm-up
call (which holds qiskit-dynamics' compile) --subset gates (default 50) are timed in one
pass and scaled to the batch; their single time stands in both columns. Timed regions run
with Python's cyclic GC off (as timeit does), after jax.clear_caches() and gc.freeze() at
the start of each case and of each looped peer: otherwise the objects left by earlier JAX
compiles slow object-heavy loops (QuTiP) by up to 50x. A jitted function that compiled
again while being timed is flagged in its row. BLAS is pinned to one thread (the matrices
are 3x3 and 9x9, 81x81 in cr-open; its thread pool only slowed QuTiP's scipy expm calls).
Everything runs on
the JAX default device (CPU here), float64. The machine's load average is printed at the
start and the end, with the CPU count: other processes make every time noisier.

Correctness gate. Each result is compared with the exact product of step propagators,
computed independently in numpy with scipy.linalg.expm per sample (gradients: the chain
rule through scipy.linalg.expm_frechet per sample), on the first --subset gates. A solver's
time counts only if max |entry - exact| <= 1e-6 on the propagators and, for the gradient
cases, max |g - g_exact| <= 1e-6 * max(1, max |g_exact|); otherwise the row prints FAIL.

Summary. For every case, ours against the fastest peer that passed (lowest median), named,
with the median and the best ratio, and a plain verdict on the 10x target by the median
ratio: "MEETS" or "DOES NOT MEET".

Floor. For every case, the flops of ours' matrix products (bench/_flop_floor.py, derived
from devices.simulate and devices._expm: per step the exponential's 6 Taylor products plus
its max_squarings squarings, which are always computed, and in the CR cases the Magnus
commutator's 2; per gate the pairwise product tree and the frame and basis changes; +grad
3x, 4x where the Open path's jax.checkpoint recomputes; a complex multiply-add is 8 flops)
times the gates, over this machine's measured rate for each product kind: a jitted chain of
the same batched products, done as ours does them (small_matmul up to 4x4, the batched dot
above, the batch-last product of the exponential up to 4x4 when not differentiated, the
trace-basis affine product for Open), median of 5 runs of ~0.1 s, measured after
the cases. Not counted: the generator assembly, the elementwise work and the loss, which ours
does too, so the floor is below what this algorithm can reach. Ours' median is printed as a
multiple of it, with a verdict on the goal of being within 2x.

Cross-resonance cases: cr-closed, cr-open, cr-closed+grad, cr-open+grad. Not in the default
list (the default stays the four cases above); select them with --cases. Timing, batching,
repeats, looped peers and summary are the machinery above, unchanged.
Problem. --gates CR pulses (1000 by default) on two coupled 3-level transmons built with
devices.Chip/Transmon: control 5.05 GHz, anharmonicity -0.25 GHz; target 4.60 GHz, -0.24 GHz;
drive scale 0.08 GHz each; J = 3 MHz; crosstalk[0, 1] = 0.03 exp(0.5i); T1 60/50 us, T2
40/45 us. One gate: Schedule([Play(2, GaussianSquare(100 ns, amp, sigma 5, width 80,
angle)), Play(1, GaussianSquare(100 ns, cancel amp, 5, 80, angle))], frequencies = (f_c + d,
f_t + d, f_t + d), lines = (0, 1, 0)): the CR tone on the control's line at the target's
carrier and an in-phase cancellation tone on the target's own channel, plain Plays (no
Hold). Random per gate (same --seed): CR amp 0.3-0.9, angle 0-2 pi, cancellation amp 0-0.1,
detuning d of every carrier +-2 MHz. Closed: the 9x9 unitary; open: the 81x81 column-stacking
superoperator. Gradient cases: d/d(4 parameters of every gate) of the sum over gates of
1 - F_avg against exp(-i pi/4 Z x X) on the computational subspace, leakage counted
(devices.two_qubit.channel_metrics; linear in the superoperator for open).
Model. The same for everyone (devices.hamiltonian: static_hamiltonian, control_operators,
control_coefficients with the lines, collapse_operators). In the transmons' own frames it is
NOT piecewise constant: the envelopes are held per AWG sample while the coefficients rotate
at the carrier differences (~450 MHz) within it. Both tones play at one carrier, though, so
in the common frame of that carrier (both transmons viewed at f_t + d) it is piecewise
constant, and the propagator in the own frames is R(T) U_common with R(T) = exp(i 2 pi
(f_c - f_t) n_c T) (bench/_sim_problem.py: cr_common_frame, to_frames). Every peer with an
exact piecewise-constant path takes it in that frame; the adaptive peers integrate the
own-frame model.
Peers in the CR cases:
  ours                    devices.propagator with its default ExactSteps() on the library's
                          pair schedule (devices.two_qubit.pair_schedule, which declares the
                          two tones' shared carrier): one exact exponential per sample in
                          the common frame (devices.simulate.common_frame_propagator).
  dynamiqs-expm           Expm on dq.pwc time-qarrays of the common-frame model (the sample
                          edges), then R(T).
  qiskit-dynamics-expm    the common-frame model as in the DRAG cases: jax_expm, max_dt = dt,
                          magnus_order=1, DiscreteSignals, the carrier's detuning a constant
                          signal on -(n_c + n_t); one Solver per case, batched with jax like
                          ours; then R(T).
  qutip-pwc               qutip.propagator with piecewise_t = the sample edges on the
                          common-frame model (QuTiP's exact path), then R(T); looped.
  dynamiqs-tsit5          Tsit5 (rtol = atol = 1e-7 closed, 1e-8 open) on dq.modulated
                          time-qarrays whose functions evaluate the own-frame coefficients at
                          any t, discontinuity_ts = the AWG sample edges (where the held
                          envelopes jump). Open at 1e-7 failed the check by a hair (1.0e-4,
                          first 2 gates).
  qiskit-dynamics-odeint  continuous Signals evaluating the own-frame coefficients at any t (as
                          devices/_qiskit_backend.py builds them), jax_odeint, hmax = dt,
                          rtol = atol = 1e-8; looped.
  qutip                   qutip.propagator(H, 100 ns, c_ops), 'adams', rtol = atol = 1e-9,
                          max_step = dt, own-frame coefficients as Python functions of t
                          (numpy: the formula of control_coefficients on the rendered
                          samples, the six sharing one evaluation per t); looped. 1e-8 left
                          2.0e-4 (QuTiP cannot be told where the envelopes jump). Gradients:
                          central finite differences, 9 solves per gate, at 1e-10 with steps
                          1e-3 (amp, angle, cancel amp) and 1e-5 GHz (detuning): smaller steps
                          or looser tolerances turn the adaptive solver's noise into gradient
                          error. qutip-pwc's finite differences take the same steps.
Before the common frame, ours took 8 fourth-order Magnus steps per sample in the own frames
(2.5e-5 from the reference), qiskit-dynamics-expm the same scheme (magnus_order=2, max_dt =
dt/8), and the pwc peers were not run: the own-frame model sampled at substep midpoints is
second order (1.0e-3 at 32 and 2.6e-4 at 64 steps per sample on the 20-gate pilot).
Adaptive tolerances are the loosest power of ten that passed the CR check with a 2x margin on
the first 4 gates (closed); the fixed-step settings on 20.
Correctness gate (CR). Reference: numpy/scipy only, the fourth-order Magnus product at 16 and
at 8 steps per sample (scipy.linalg.expm per step, coefficients from devices.hamiltonian at
the Gauss-Legendre nodes), Richardson-extrapolated, (16 U_16 - U_8) / 15; it agrees with the
64-step product to 1e-8 (pilot: 4 closed gates, 1 open). Gradients: central finite
differences of its loss (steps 1e-5 in amp, angle and cancel amp, 1e-7 GHz in detuning), on
the first --subset gates; cr-open+grad on the first gate only (9 extrapolated 81x81 solves,
minutes on this machine). Tolerance: 1e-4 on the propagators and relative on the gradients,
the accuracy the adaptive peers' tolerances were chosen for. Ours and the exact peers land
within ~1e-9 of the reference (its own error), so 1e-4 only favours the adaptive peers.
Status (2-core machine, load 0.9-1.4, seed 1234, 3 rounds). cr-closed and cr-closed+grad at
--gates 200 --subset 20, --peers dynamiqs-expm,qiskit-dynamics-expm,qutip-pwc,dynamiqs-tsit5:
ours 0.70 s and 1.42 s; qiskit-dynamics-expm 1.33 s and 4.20 s (1.9x and 2.9x, the fastest
peer of both); dynamiqs-expm 1.36 s and 14.8 s (its map/100 gradient form asked XLA for 31
GB and failed); qutip-pwc 2.40 s and 19.4 s; dynamiqs-tsit5 4.06 s and 24.3 s; ours at 3.0x
and 2.0x its product floor. cr-open and cr-open+grad at --gates 20 --subset 2, --peers
dynamiqs-expm,qiskit-dynamics-expm,qutip-pwc: ours 3.61 s and 8.73 s; qutip-pwc 8.66 s
(2.4x, the fastest peer) and FAIL (its finite differences then took adams' 1e-3 steps:
1.5e-4 relative); qiskit-dynamics-expm 10.8 s and 52.8 s (3.0x and 6.1x); dynamiqs-expm
12.9 s and FAIL (both gradient forms asked XLA for 125 GB); ours at 3.3x and 2.0x its floor.
cr-open+grad again with qutip-pwc's finite differences at the reference's steps (--peers
qutip-pwc,qiskit-dynamics-expm): ours 9.76 s, qiskit-dynamics-expm 57.0 s (5.7x), qutip-pwc
85.3 s (8.7x, grad rel err 1.8e-8). Every exact solver landed 1.5e-9 from the
reference, ours' gradients 4e-9 (closed) and 2e-8 (open) relative. The 20x goal is far: the
peers given the same common frame take one exponential per sample too, so what is left is
the cost of each exponential and product. Before the common frame (8 Magnus steps per
sample, same machine class, load ~1.5): ours 3.58 s and 12.5 s closed, 0.9x and 2.0x the
then fastest peer (dynamiqs-tsit5 3.19 s and 25.0 s).
After the exponentials of matrices over 4x4 ran 16 at a time (devices/_expm.py, CHUNK),
load ~1.5, 3 rounds, one run per case: cr-open at --gates 20, --peers
qutip-pwc,qiskit-dynamics-expm: ours 1.54 s, qutip-pwc 8.95 s (5.8x), qiskit-dynamics-expm
10.5 s (6.8x), ours at 1.3x its floor. cr-closed at --gates 200, --peers qiskit-dynamics-expm:
ours 0.42 s against 0.86 s (2.1x), 1.7x its floor (an earlier run with dynamiqs-expm: 0.40 s
against 1.10 s and 1.18 s); cr-closed+grad 1.46 s against 4.68 s (3.3x), 2.0x its floor;
cr-open+grad ours alone 8.94 s, 2.1x its floor (with its peers the process grew past 16 GB
and was stopped).

Run: .venv/bin/python bench/simulation.py [--quick] [--gates N] [--repeats R] [--subset S]
     [--chunk N] [--cases closed,open,...,cr-closed,...] [--peers qutip,dynamiqs-expm,...]
     [--seed N]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import math
import os
import sys
import time
import traceback
import warnings

# One BLAS thread: every matrix here is 3x3 or 9x9, where a BLAS thread pool is pure
# overhead; left on, it made QuTiP's expm-based path 10-40x slower on a busy 2-core box.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(_HERE), _HERE]

import jax  # noqa: E402

warnings.filterwarnings("ignore")  # peers' deprecation chatter; results are checked instead

import _flop_floor as floor_  # noqa: E402
import _sim_peers as peers_  # noqa: E402
import dynamiqs as dq  # noqa: E402
import qiskit_dynamics  # noqa: E402
import qutip  # noqa: E402
from _sim_problem import (CR_DURATION, CR_REF_SUBSTEPS, DT, DURATION, cr_reference,  # noqa: E402
                          cr_sample_params, reference, sample_params)

TOL = 1e-6
CR_TOL = 1e-4  # the CR cases: the adaptive peers' accuracy; ours and the exact peers reach ~1e-9
TARGET = 10.0
FLOOR_GOAL = 2.0  # ours within this multiple of the flop floor
PEERS = ("qutip", "qutip-pwc", "dynamiqs-expm", "dynamiqs-tsit5", "qiskit-dynamics-expm",
         "qiskit-dynamics-odeint")
CASES = ("closed", "open", "closed+grad", "open+grad")
CR_CASES = ("cr-closed", "cr-open", "cr-closed+grad", "cr-open+grad")
CR_OPEN_GRAD_CHECKED = 1  # cr-open+grad: gates whose reference gradient (FD, 9 solves) is computed


@dataclasses.dataclass(frozen=True)
class Family:
    """One problem: its parameters, exact reference, solvers and check tolerance."""
    params: np.ndarray
    reference: object
    ours: object
    batched: dict
    looped: object
    tol: float


def cr_reference_checked(params, open_, grad):
    """cr_reference, with the open case's finite-difference gradient (9 Richardson-extrapolated
    81x81 solves per gate, minutes on a small machine) on the first CR_OPEN_GRAD_CHECKED gates."""
    return cr_reference(params, open_, grad, CR_OPEN_GRAD_CHECKED if open_ else None)


def families(n_gates, seed):
    return {
        "drag": Family(sample_params(n_gates, seed), reference, peers_.ours, peers_.BATCHED,
                       peers_.looped, TOL),
        "cr": Family(cr_sample_params(n_gates, seed), cr_reference_checked, peers_.cr_ours,
                     peers_.CR_BATCHED, peers_.cr_looped, CR_TOL),
    }


# --- timing helpers ------------------------------------------------------------------------
def _ready(x):
    return jax.block_until_ready(x)


def fresh_heap():
    """Drop compiled executables of earlier solvers and move what is left out of the
    garbage collector's sight. Without this, the ~10^6 objects that JAX compilation leaves
    make every GC pass slow, and object-heavy Python loops (QuTiP) run up to 50x slower
    late in the run than alone."""
    jax.clear_caches()
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def no_gc():
    """Timed regions run with the cyclic GC off, as timeit does."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclasses.dataclass
class Variant:
    """One batched solver in one batching form, compiled, with its check and its times."""
    solver: str
    mode: str
    fn: object = None
    first: float = math.nan
    ok: bool = False
    text: str = ""
    times: list = dataclasses.field(default_factory=list)

    @property
    def median(self):
        return float(np.median(self.times)) if self.times else math.nan

    @property
    def best(self):
        return min(self.times) if self.times else math.nan


def compile_variants(solvers, open_, grad, p, chunk, ref, tol):
    """Build, compile (first call timed) and check every solver in both batching forms."""
    variants = []
    for name, make in solvers:
        for mode in (None, chunk):
            v = Variant(name, "vmap" if mode is None else f"map/{mode}")
            try:
                v.fn = make(open_, grad, mode)
                t0 = time.perf_counter()
                out = _ready(v.fn(p))
                v.first = time.perf_counter() - t0
                v.ok, v.text = check(*unpack_batched(out, grad), *ref, tol)
            except Exception as exc:  # a solver that cannot run this case fails it, loudly
                traceback.print_exc(limit=2, file=sys.stderr)
                v.fn, v.text = None, f"error: {type(exc).__name__}: {exc}"[:120]
            variants.append(v)
    return variants


def time_interleaved(variants, p, repeats):
    """`repeats` rounds; each calls every checked variant once, the order reversed every
    other round (ours comes first in the list, so it alternates first and last)."""
    live = [v for v in variants if v.ok]
    with no_gc():
        for r in range(repeats):
            for v in (live if r % 2 == 0 else live[::-1]):
                t0 = time.perf_counter()
                _ready(v.fn(p))
                v.times.append(time.perf_counter() - t0)
    for v in live:
        size = getattr(v.fn, "_cache_size", None)
        if size is not None and size() > 1:
            v.text += f"; RECOMPILED ({size()} executables)"


def pick(variants, solver):
    """The checked form of `solver` with the lower median time, else a failed one."""
    mine = [v for v in variants if v.solver == solver]
    passed = [v for v in mine if v.ok and v.times]
    return min(passed, key=lambda v: v.median) if passed else mine[0]


def time_looped(run, params, n_sub, n_gates):
    """(first call, one pass over n_sub gates scaled to n_gates, (props, grads))."""
    with no_gc():
        t0 = time.perf_counter()
        _ready(run(0, params))  # warm-up: compiles the jitted solve for qiskit-dynamics
        first = time.perf_counter() - t0
        outs = []
        t0 = time.perf_counter()
        for i in range(n_sub):
            outs.append(_ready(run(i, params)))
        elapsed = time.perf_counter() - t0
    props = np.stack([np.asarray(o[0]) for o in outs])
    grads = None if outs[0][1] is None else np.stack([np.asarray(o[1]) for o in outs])
    return first, elapsed * n_gates / n_sub, (props, grads)


def unpack_batched(out, grad):
    if not grad:
        return np.asarray(out), None
    (_, props), g = out
    return np.asarray(props), np.asarray(g)


def check(props, grads, ref_props, ref_grads, tol=TOL):
    n = len(ref_props)
    err = float(np.max(np.abs(props[:n] - ref_props)))
    ok = err <= tol
    text = f"err {err:.1e}"
    if ref_grads is not None:
        n = len(ref_grads)  # may be fewer gates than the propagators (cr-open+grad)
        scale = max(1.0, float(np.max(np.abs(ref_grads))))
        gerr = float(np.max(np.abs(grads[:n] - ref_grads))) / scale
        ok = ok and gerr <= tol
        text += f", grad rel err {gerr:.1e}"
    return bool(ok), text


# --- the run -------------------------------------------------------------------------------
def _row(case, who, ours_v, peer_med, peer_best, ratio_med, ratio_best, note):
    if math.isnan(peer_med):
        return (f"{case:<14} {who:<22} {ours_v.median:8.4f} {ours_v.best:8.4f} {'FAIL':>9} "
                f"{'-':>9} {'-':>7} {'-':>7}  {note}")
    return (f"{case:<14} {who:<22} {ours_v.median:8.4f} {ours_v.best:8.4f} {peer_med:9.3f} "
            f"{peer_best:9.3f} {ratio_med:6.1f}x {ratio_best:6.1f}x  {note}")


def _load():
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run_case(case, args, family, peers, n_sub, n_gates, compiles):
    """Times one case; returns {peer: (median s, best s, median ratio, best ratio)} of the
    peers that passed the check (NaN for the others) and ours' chosen variant."""
    kind = case.removeprefix("cr-")
    open_, grad = kind.startswith("open"), kind.endswith("grad")
    params = family.params
    ref = family.reference(params[:n_sub], open_, grad)
    p = jax.numpy.asarray(params)
    fresh_heap()
    batched = [("ours", family.ours)] + [(q, family.batched[q]) for q in peers
                                         if q in family.batched]
    variants = compile_variants(batched, open_, grad, p, args.chunk, ref, family.tol)
    time_interleaved(variants, p, args.repeats)
    for v in variants:
        compiles.append((case, f"{v.solver} ({v.mode})", v.first, v.median))
    ours_v = pick(variants, "ours")
    if not (ours_v.ok and ours_v.times):
        ours_v.times = [math.nan]
    results = {}
    print(f"{case:<14} {'(ours)':<22} {ours_v.median:8.4f} {ours_v.best:8.4f} {'':>9} {'':>9} "
          f"{'':>7} {'':>7}  {ours_v.mode}, {len(ours_v.times)} rounds; "
          f"{'' if ours_v.ok else 'FAIL '}{ours_v.text}", flush=True)
    for peer in peers:
        if peer in family.batched:
            v = pick(variants, peer)
            note = f"{v.mode}, {len(v.times)} rounds; {v.text}"
            if v.ok and v.times:
                paired = np.median(np.array(v.times) / np.array(ours_v.times))
                results[peer] = (v.median, v.best, float(paired), v.best / ours_v.best)
        else:
            fresh_heap()
            try:
                run = family.looped(peer, open_, grad, params, n_sub)
                first, peer_s, (props, grads) = time_looped(run, params, n_sub, n_gates)
                ok, text = check(props, grads, *ref, family.tol)
                if peer == "qiskit-dynamics-odeint":
                    compiles.append((case, f"{peer} (per gate)", first, peer_s / n_gates))
            except Exception as exc:  # a peer that cannot run this case fails it, loudly
                traceback.print_exc(limit=2, file=sys.stderr)
                ok, text = False, f"error: {type(exc).__name__}: {exc}"[:120]
            note = (f"looped, 1 pass of {n_sub} gates x{n_gates / n_sub:g}"
                    + (f", FD {2 * params.shape[1] + 1} solves/gate"
                       if grad and peer.startswith("qutip") else "")
                    + f"; {text}")
            if ok:
                results[peer] = (peer_s, peer_s, peer_s / ours_v.median, peer_s / ours_v.best)
        print(_row(case, peer, ours_v, *results.get(peer, (math.nan,) * 4), note), flush=True)
    return results, ours_v


def print_floor(cases, rows, n_gates):
    """The floor section: the rate of each product kind the cases need, then per case the
    floor for n_gates gates and ours' median as a multiple of it."""
    print(f"\n# floor: ours' matrix-product flops (bench/_flop_floor.py) / this machine's rate "
          f"for the same products, {n_gates} gates; goal: ours within {FLOOR_GOAL:g}x of it")
    rates = {}
    for product in floor_.products_of(cases):
        rates[product] = floor_.measure_rate(product)
        print(f"#   rate {product.label():<26} {rates[product] / 1e9:7.2f} Gflop/s "
              f"(batch {floor_.batch_size(product)}, median of {floor_.REPEATS})", flush=True)
    print(f"{'case':<14} {'Mflop/gate':>10} {'floor_s':>8} {'ours_med':>8} {'ours/floor':>10}  "
          f"verdict; products per gate")
    for case in cases:
        floor = floor_.floor_seconds(case, n_gates, rates)
        ours_med = rows[case][1].median
        ratio = ours_med / floor
        verdict = ("no verdict, ours failed" if math.isnan(ratio) else
                   f"{'MEETS' if ratio <= FLOOR_GOAL else 'DOES NOT MEET'} the {FLOOR_GOAL:g}x goal")
        print(f"{case:<14} {floor_.flops_per_gate(case) / 1e6:10.3f} {floor:8.4f} {ours_med:8.4f} "
              f"{ratio:9.1f}x  {verdict}; {floor_.describe(case)}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 100 gates, 5 checked/looped, 3 rounds")
    parser.add_argument("--gates", type=int, default=None, help="batch size (default 1000)")
    parser.add_argument("--subset", type=int, default=None,
                        help="gates checked, and timed for looped peers (default 50)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed rounds for every batched solver (default 5)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--chunk", type=int, default=100,
                        help="gates per chunk for the jax.lax.map batching form")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, of {','.join(CASES + CR_CASES)} (default the first four)")
    parser.add_argument("--peers", default=",".join(PEERS))
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    n_gates = args.gates or (100 if args.quick else 1000)
    n_sub = min(args.subset or (5 if args.quick else 50), n_gates)
    cases = [c for c in args.cases.split(",") if c]
    peers = [p for p in args.peers.split(",") if p]
    for name, given, allowed in (("--cases", cases, CASES + CR_CASES), ("--peers", peers, PEERS)):
        bad = [x for x in given if x not in allowed]
        if bad:
            parser.error(f"{name} has {','.join(bad)}; allowed: {','.join(allowed)}")
    for name in ("repeats", "chunk", "gates", "subset"):
        value = getattr(args, name) if name in ("repeats", "chunk") else {
            "gates": n_gates, "subset": n_sub}[name]
        if value < 1:
            parser.error(f"--{name} must be >= 1, got {value}")
    fams = families(n_gates, args.seed)
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    load_start = os.getloadavg()

    if any(not c.startswith("cr-") for c in cases):
        print(f"# {n_gates} DRAG X gates, 3-level transmon, {DURATION:g} ns, AWG dt {DT} ns")
    if any(c.startswith("cr-") for c in cases):
        print(f"# {n_gates} CR pulses (GaussianSquare {CR_DURATION:g} ns), 2 coupled 3-level "
              f"transmons (9x9 unitary, 81x81 superoperator), AWG dt {DT} ns")
    print(f"# seed {args.seed}; jax {jax.__version__} on {jax.devices()[0].platform}; qutip "
          f"{qutip.__version__}, dynamiqs {dq.__version__}, qiskit-dynamics "
          f"{qiskit_dynamics.__version__}")
    print(f"# machine: {cpus} CPUs ({usable} usable); load average 1/5/15 min at start "
          f"{_load()}")
    if any(not c.startswith("cr-") for c in cases):
        print(f"# check: first {n_sub} gates vs scipy expm per sample, max |err| <= {TOL:g} "
              f"(gradients relative to max(1, max|g|))")
    print(f"# looped peers: {n_sub} gates timed, x{n_gates / n_sub:g}")
    if any(c.startswith("cr-") for c in cases):
        print(f"# check, cr-*: first {n_sub} gates vs numpy/scipy fourth-order Magnus at "
              f"{CR_REF_SUBSTEPS} and {CR_REF_SUBSTEPS // 2} steps per sample, "
              f"Richardson-extrapolated, max |err| <= {CR_TOL:g} (gradients: its central finite "
              f"differences, relative to max(1, max|g|); cr-open+grad: first "
              f"{min(n_sub, CR_OPEN_GRAD_CHECKED)} gate)")
    print(f"# batched solvers: {args.repeats} interleaved rounds each, the faster (by median) "
          f"of vmap and map/{args.chunk}; seconds; ratio = peer / ours: median of the paired "
          f"per-round ratios, and best / best")
    print(f"{'case':<14} {'peer':<22} {'ours_med':>8} {'ours_bst':>8} {'peer_med':>9} "
          f"{'peer_bst':>9} {'r_med':>7} {'r_best':>7}  notes", flush=True)

    rows, compiles = {}, []
    for case in cases:
        family = fams["cr" if case.startswith("cr-") else "drag"]
        rows[case] = run_case(case, args, family, peers, n_sub, n_gates, compiles)

    print("\n# compile: first call (compile + run) vs median later call, seconds "
          "(qiskit-dynamics-odeint: first solve vs mean per-gate solve)")
    for case, who, first, later in compiles:
        print(f"  {case:<14} {who:<34} first {first:8.3f}  later {later:8.4f}")

    print(f"\n# summary: ours vs the fastest peer (lowest median) that passed the check; "
          f"target >= {TARGET:g}x by the median ratio")
    for case in cases:
        results, ours_v = rows[case]
        if not results or math.isnan(ours_v.median):
            print(f"{case:<14} {'-':<22} no comparison (ours or every peer failed): DOES NOT MEET "
                  f"the {TARGET:g}x target")
            continue
        peer = min(results, key=lambda q: results[q][0])
        peer_med, _, ratio_med, ratio_best = results[peer]
        verdict = "MEETS" if ratio_med >= TARGET else "DOES NOT MEET"
        print(f"{case:<14} {peer:<22} ours {ours_v.median:8.4f} peer {peer_med:8.4f}  "
              f"median ratio {ratio_med:5.1f}x (best {ratio_best:5.1f}x): {verdict} the "
              f"{TARGET:g}x target")
    print_floor(cases, rows, n_gates)
    load_end = os.getloadavg()
    busy = max(load_start[0], load_end[0]) > 0.5 * usable + 0.5
    print(f"# load average 1/5/15 min at start {'/'.join(f'{x:.2f}' for x in load_start)}, at "
          f"end {_load()}, on {usable} usable CPUs: "
          + ("other processes shared the CPU, times are noisy" if busy else "a quiet machine"))


if __name__ == "__main__":
    main()
