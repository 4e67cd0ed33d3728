"""The floor of bench/simulation.py: ours' matrix-product flops per case divided by this
machine's measured rate for the same small products.

Counted: only the matrix products of ours' algorithm (devices.simulate, devices._expm), the
dominant term. Not counted: the generator assembly (an einsum over the k controls, k d^2
multiply-adds per generator), the elementwise work (scaling, norms, masks, the Taylor
polynomial's linear combinations) and the benchmark's loss. A complex multiply-add counts as
8 real flops, a real one as 2.

Per step (one AWG sample, or one Magnus substep):
  exponential  6 + max_squarings products (devices._expm._taylor_expm): Paterson-Stockmeyer
               Taylor-15 (a2, a3, a4 and 3 Horner products with a4), then max_squarings
               squarings (the CR gate's common frame: 1 more), masked per matrix but
               always computed. Closed: complex d x d, d^3 multiply-adds, stored with
               the batch last (d, d, ...) up to 4x4 (devices._expm._BatchLastAlgebra)
               unless differentiated (its derivative rule takes the (..., d, d) layout).
               Open: the trace-basis affine form [[1, 0], [v, X]], X of size n - 1 with
               n = d^2: (n-1)^3 + (n-1)^2 real multiply-adds.
  commutator   with Magnus substeps only: [G2, G1], 2 products of the generators (Closed:
               complex d x d; Open: real n x n in the trace basis, dense).
Per gate:
  tree         devices.simulate.ordered_product: pairwise rounds, each odd round padded with
               an identity that is multiplied too, so n - 1 products only when the n steps
               are a power of two (41 for 40 steps, 1602 for 1600). Dense: complex d x d, or
               real n x n (the exponentials leave the affine form).
  framing      Open: from_trace_basis (2 real n x n) and to_column_stacking (2 complex
               n x n). A gate whose one playing channel's frame phase is factored out (the
               DRAG gate), or whose tones are stepped in their carrier's common frame (the
               CR gate): R U R^-1, 2 more (complex d x d, or real n x n).
Gradients (reverse mode): 3x the forward products, the forward pass and then two products
per product in the backward pass (dA = dC B^H, dB = A^H dC). The Open path runs its
exponentials and tree under jax.checkpoint, which recomputes them in the backward pass: 4x
there. That is what JAX emits; XLA may still merge the recomputed exponentials with the
forward ones (in the compiled HLO of the whole-batch vmap form it does, leaving 3x; in the
lax.map form it does not).
Products that build the model (the generators, the frame matrices) are not counted.

Rate: per product kind, a jitted chain of dependent batched products (a fori_loop, so
dispatch does not count) done the way ours does them (devices._expm.small_matmul: a fused
broadcast-sum up to 4x4, the batched dot above; _BatchLastAlgebra.mul for the exponential's
batch-last products; _AffineAlgebra.mul for the affine form),
on a batch whose operands fill about 512 KiB (ours' chunks of 100 DRAG gates hold 4000
3x3 complex matrices, 576 KB), the chain long enough for ~0.1 s, after a warm-up call;
the median of 5 runs.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from typing import NamedTuple

import numpy as np

import jax
from _sim_problem import CR_DIM, CR_SAMPLES, N_SAMPLES
from devices import ExactSteps, _expm

MAX_SQUARINGS = ExactSteps().max_squarings
TAYLOR_PRODUCTS = 6  # a2, a3, a4 and 3 Horner products with a4
COMMUTATOR_PRODUCTS = 2  # G2 G1 and G1 G2
FRAMING_PRODUCTS = 2  # A U B: the two sides of one conjugation or basis change
GRAD_FACTOR = 3  # reverse mode: forward, then two products per product backward
CHECKPOINTED_GRAD_FACTOR = 4  # ... plus the forward again, recomputed by jax.checkpoint
FLOPS_PER_MULTIPLY_ADD = {"complex128": 8, "float64": 2}


class Product(NamedTuple):
    """One kind of matrix product: "dense" size x size, "batch-last" the same stored (size,
    size, batch) (devices._expm's exponential up to 4x4), or "affine" [[1, 0], [v, X]] of
    size x size (X of size - 1, as devices._expm's trace-preserving path stores it)."""

    form: str
    size: int
    dtype: str

    def multiply_adds(self) -> int:
        """dense: size^3; affine: (size-1)^3 + (size-1)^2 (X1 X2 and X1 v2)."""
        if self.form == "affine":
            return (self.size - 1) ** 3 + (self.size - 1) ** 2
        return self.size**3

    def flops(self) -> int:
        """multiply_adds times 8 (complex) or 2 (real)."""
        return self.multiply_adds() * FLOPS_PER_MULTIPLY_ADD[self.dtype]

    def label(self) -> str:
        return f"{self.form} {self.size}x{self.size} {self.dtype}"


@dataclasses.dataclass(frozen=True)
class Problem:
    """The gate's shape as ours sees it."""

    dim: int  # Hilbert-space dimension d
    samples: int  # AWG samples per gate
    substeps: int  # exponentials per sample; > 1 means fourth-order Magnus steps
    framings: int  # conjugations R U R^-1 of the gate's propagator (frame phase, common frame)
    squarings: int = MAX_SQUARINGS  # the exponential's squaring budget, always computed


DRAG = Problem(dim=3, samples=N_SAMPLES, substeps=ExactSteps().resolve(1), framings=1)
# Both tones play at the target's carrier: one exact exponential per sample in that common
# frame (devices.simulate.common_frame_propagator), with its squaring budget, then R(T) U R(0)^-1.
CR = Problem(dim=CR_DIM, samples=CR_SAMPLES, substeps=1, framings=1,
             squarings=ExactSteps().common_frame_squarings())


def parse_case(case: str) -> tuple[Problem, bool, bool]:
    """(problem, open, grad) of a bench/simulation.py case name, e.g. "cr-open+grad"."""
    kind = case.removeprefix("cr-")
    return (CR if case.startswith("cr-") else DRAG), kind.startswith("open"), kind.endswith("grad")


def tree_products(n_steps: int) -> int:
    """Products ordered_product computes for n_steps matrices: pairwise rounds, an odd
    round padded with an identity."""
    products = 0
    while n_steps > 1:
        n_steps = (n_steps + 1) // 2
        products += n_steps
    return products


def exponential_products(problem: Problem) -> int:
    """Products of one _taylor_expm: 6 + its squaring budget (always computed)."""
    return TAYLOR_PRODUCTS + problem.squarings


def forward_products(problem: Problem, open_: bool, grad: bool) -> list[tuple[int, Product, bool]]:
    """(count, product, checkpointed) of one gate's forward pass; checkpointed: recomputed in
    the backward pass (the Open path's exponentials and tree)."""
    steps = problem.samples * problem.substeps
    if open_:
        n = problem.dim**2
        exponential, dense = Product("affine", n, "float64"), Product("dense", n, "float64")
    else:
        dense = Product("dense", problem.dim, "complex128")
        small = problem.dim <= _expm.SMALL and not grad
        exponential = Product("batch-last", problem.dim, "complex128") if small else dense
    products = [(steps * exponential_products(problem), exponential, open_),
                (tree_products(steps), dense, open_)]
    if problem.substeps > 1:
        products.append((steps * COMMUTATOR_PRODUCTS, dense, False))
    products.append((problem.framings * FRAMING_PRODUCTS, dense, False))
    if open_:
        products.append((FRAMING_PRODUCTS, dense, False))  # from_trace_basis
        products.append((FRAMING_PRODUCTS, Product("dense", n, "complex128"), False))  # to_column_stacking
    return products


def products_per_gate(case: str) -> list[tuple[int, Product]]:
    """(count, product) of one gate of `case`: the forward products, and for +grad 3x those
    (4x the checkpointed ones), merged per product kind."""
    problem, open_, grad = parse_case(case)
    merged: dict[Product, int] = {}
    for count, product, checkpointed in forward_products(problem, open_, grad):
        factor = (CHECKPOINTED_GRAD_FACTOR if checkpointed else GRAD_FACTOR) if grad else 1
        merged[product] = merged.get(product, 0) + factor * count
    return [(count, product) for product, count in merged.items()]


def flops_per_gate(case: str) -> float:
    """sum over products_per_gate of count * product.flops()."""
    return float(sum(count * product.flops() for count, product in products_per_gate(case)))


def floor_seconds(case: str, n_gates: int, rates: dict[Product, float]) -> float:
    """n_gates * sum over products_per_gate of count * flops / rate (flop/s) of that product."""
    return n_gates * sum(count * product.flops() / rates[product]
                         for count, product in products_per_gate(case))


# --- the machine's rate --------------------------------------------------------------------
BATCH_BYTES = 512 * 1024
TARGET_SECONDS = 0.1
REPEATS = 5


def batch_size(product: Product) -> int:
    """Matrices per operand filling about BATCH_BYTES, a power of two, at least 8."""
    matrix_bytes = product.size**2 * np.dtype(product.dtype).itemsize
    return max(8, 2 ** round(math.log2(BATCH_BYTES / matrix_bytes)))


def _norm_preserving(rng, product: Product, batch: int) -> np.ndarray:
    # orthogonal / unitary factors keep a long chain of products away from overflow and
    # from denormals, which would slow the products down
    shape = (batch, product.size, product.size)
    a = rng.standard_normal(shape)
    if product.dtype == "complex128":
        a = a + 1j * rng.standard_normal(shape)
    return np.linalg.qr(a)[0]


def _operands(product: Product, batch: int, seed: int = 0):
    """(start, factor) of a chain: dense (batch, size, size) arrays, or affine (v, X) pairs."""
    rng = np.random.default_rng(seed)
    start, factor = (_norm_preserving(rng, product, batch) for _ in range(2))
    if product.form == "batch-last":
        start, factor = (np.moveaxis(m, 0, -1) for m in (start, factor))
    if product.form == "affine":  # X: the lower-right block; v: the first column below it
        start, factor = ((m[:, 1:, 0], m[:, 1:, 1:]) for m in (start, factor))
    return jax.device_put(start), jax.device_put(factor)


def _affine_mul(p, y):
    # alpha = 1, as in the squarings; the carry holds (v, X) since alpha must stay a number
    r = _expm._AffineAlgebra.mul(_expm._Affine(1.0, *p), _expm._Affine(1.0, *y))
    return r.v, r.x


@jax.jit
def _dense_chain(n, start, factor):
    return jax.lax.fori_loop(0, n, lambda _, p: _expm.small_matmul(p, factor), start)


@jax.jit
def _batch_last_chain(n, start, factor):
    return jax.lax.fori_loop(0, n, lambda _, p: _expm._BatchLastAlgebra.mul(p, factor), start)


@jax.jit
def _affine_chain(n, start, factor):
    return jax.lax.fori_loop(0, n, lambda _, p: _affine_mul(p, factor), start)


def measure_rate(product: Product) -> float:
    """flop/s of `product` on this machine: a chain of n batched products, n doubled until a
    run takes TARGET_SECONDS / 8 and then scaled to TARGET_SECONDS; median of REPEATS runs."""
    batch = batch_size(product)
    start, factor = _operands(product, batch)
    chain = {"affine": _affine_chain, "batch-last": _batch_last_chain, "dense": _dense_chain}[product.form]

    def seconds(n):
        t0 = time.perf_counter()
        jax.block_until_ready(chain(n, start, factor))
        return time.perf_counter() - t0

    seconds(1)  # warm-up: compiles (n is traced, so every length shares the executable)
    n = 1
    while (elapsed := seconds(n)) < TARGET_SECONDS / 8:
        n *= 2
    n = max(1, round(n * TARGET_SECONDS / elapsed))
    median = statistics.median(seconds(n) for _ in range(REPEATS))
    return n * batch * product.flops() / median


def products_of(cases) -> list[Product]:
    """The distinct product kinds the cases need, in first-seen order."""
    return list(dict.fromkeys(p for case in cases for _, p in products_per_gate(case)))


def describe(case: str) -> str:
    """One gate's products, e.g. "403 x dense 3x3 complex128"."""
    return " + ".join(f"{count} x {product.label()}" for count, product in products_per_gate(case))
