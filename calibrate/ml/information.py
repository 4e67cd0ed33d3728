"""How much a set of datasets tells about each parameter: information matrices and their inverses.

Two informations are used by model learning:

- the expected Fisher information sum_i n_i grad p_i grad p_i^T / (p_i (1 - p_i)), exact
  and cheap from the Jacobian of the probabilities; it steers the fit and screens out
  parameters the data cannot pin down;
- the secant information: the NLL's curvature measured over steps of one standard error,
  from which the reported uncertainties come. Datasets with long delays make P(read 1)
  oscillate in the frequency and the anharmonicity with a period of 1/delay (a few kHz at
  250 us), with small amplitude: the local derivatives (Fisher information or Hessian) see
  that ripple and overstate the information, while the likelihood over a standard error
  is flatter. On sim-1q echo data the local information on the frequency was 4x what the
  NLL's curvature over one standard error shows, and the Hessian made the anharmonicity
  30x too precise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

SMALLEST_EIGENVALUE = 1e-10  # of the unit-diagonal information: below it, a direction is not determined


def scaled_covariance(information: np.ndarray) -> tuple[np.ndarray | None, float]:
    """(inverse, smallest eigenvalue of the unit-diagonal scaled matrix); the inverse is None when the
    matrix is not positive definite. Scaling first keeps parameters of very different units
    (GHz and ns) from ruining the conditioning."""
    information = np.asarray(information, float)
    if not np.all(np.isfinite(information)):
        return None, float("nan")
    diag = np.diag(information)
    if np.any(diag <= 0):
        return None, float(np.min(diag))
    d = 1.0 / np.sqrt(diag)
    eigenvalues, vectors = np.linalg.eigh(information * d[:, None] * d[None, :])
    if eigenvalues[0] <= SMALLEST_EIGENVALUE:
        return None, float(eigenvalues[0])
    inverse = (vectors / eigenvalues) @ vectors.T
    return inverse * d[:, None] * d[None, :], float(eigenvalues[0])


def poorly_constrained(information: np.ndarray, widths: np.ndarray, free: Sequence[int],
                       fraction: float) -> dict[int, float]:
    """Free parameters whose marginal standard error exceeds `fraction` of their prior width,
    dropped one at a time, worst first (dropping one can pin down the ones it was confused with):
    index -> its marginal standard error when dropped."""
    free, dropped = list(free), {}
    while free:
        sub = information[np.ix_(free, free)] * np.outer(widths[free], widths[free])
        ridge = 1e-12 * max(float(np.trace(sub)), 1e-300)  # a singular matrix gives huge ratios, not an error
        ratio = np.sqrt(np.clip(np.diag(np.linalg.pinv(sub + ridge * np.eye(len(free)))), 0.0, None))
        worst = int(np.argmax(ratio))
        if ratio[worst] <= fraction:
            break
        index = free.pop(worst)
        dropped[index] = float(ratio[worst] * widths[index])
    return dropped


def secant_information(nll: Callable[[np.ndarray], float], x: np.ndarray, free: Sequence[int],
                       steps: np.ndarray) -> np.ndarray:
    """Curvature matrix of `nll` at x over the `free` coordinates by central differences with
    the given steps (one per free coordinate): 1 + 2n + 2n(n-1) evaluations."""
    x = np.asarray(x, float)
    n = len(free)

    def at(*moves: tuple[int, float]) -> float:
        y = x.copy()
        for k, sign in moves:
            y[free[k]] += sign * steps[k]
        return float(nll(y))

    centre = at()
    plus = [at((k, 1.0)) for k in range(n)]
    minus = [at((k, -1.0)) for k in range(n)]
    h = np.zeros((n, n))
    for k in range(n):
        h[k, k] = (plus[k] - 2.0 * centre + minus[k]) / steps[k] ** 2
        for m in range(k):
            corners = at((k, 1), (m, 1)) - at((k, 1), (m, -1)) - at((k, -1), (m, 1)) + at((k, -1), (m, -1))
            h[k, m] = h[m, k] = corners / (4.0 * steps[k] * steps[m])
    return h
