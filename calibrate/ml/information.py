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
- the envelope: where the ripple is larger than the curvature over one standard error can
  average out (randomized-benchmarking sequences of hundreds of gates make the NLL ripple by
  +-2 in the anharmonicity with a period of ~0.1 MHz, where DRAG data pin it to 0.3 MHz),
  self-consistent steps shrink onto the ripple: on sim-1q seed 4 the local information put
  the anharmonicity's error at 11 kHz, and the fit sat in the ripple's well next to its
  start, 1 MHz (94 such errors) from the truth. Such a parameter (`rippled`) is measured by the parabola fitted
  over +-3 standard errors of its well (`envelope`): its minimum is the estimate, its
  curvature the information.
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


RIPPLE_SCALE = 10.0  # the curvature must hold over this many steps, or the parameter is measured by its envelope


def rippled(nll: Callable[[np.ndarray], float], x: np.ndarray, free: Sequence[int], steps: np.ndarray,
            curvature: np.ndarray, bounds: np.ndarray) -> list[int]:
    """Positions k (in `free`) where the NLL over RIPPLE_SCALE steps curves less than a quarter as much
    as over one step (or not at all): a small, fast oscillation riding on a wider well. Gate sequences
    hundreds of gates long do this to the anharmonicity: the phase of level 2 over the whole sequence
    makes P(read 1) oscillate with a period of ~0.1 MHz, so one-step curvatures measure the ripple, not
    what the data tell."""
    x = np.asarray(x, float)
    centre = float(nll(x))
    out = []
    for k, i in enumerate(free):
        wide = min(RIPPLE_SCALE * steps[k], bounds[k])
        if wide <= 2.0 * steps[k]:
            continue
        up, down = x.copy(), x.copy()
        up[i] += wide
        down[i] -= wide
        wide_curvature = (float(nll(up)) - 2.0 * centre + float(nll(down))) / wide ** 2
        if curvature[k, k] <= 0.0 or wide_curvature < 0.25 * curvature[k, k]:
            out.append(k)
    return out


def envelope(nll: Callable[[float], float], step: float, bound: float = np.inf,
             iterations: int = 8) -> tuple[float, float] | None:
    """(offset of the minimum, curvature) of the parabola fitted by least squares to a 1-D NLL
    (a function of the offset from the current value) over +-4 steps, 17 points: the well under
    a ripple, whose width is the honest standard error. The step follows the parabola's standard
    error until they agree within 50%; where the fit does not curve upwards, or curves more
    sharply than the first step (the ripple's own well), the span triples.
    None when no well shows within `bound` or `iterations` fits."""
    centre, step = 0.0, min(step, bound / 4.0)
    floor = step  # the well sought is wider than the ripple: narrower fits found a ripple's well
    c = float("nan")
    for _ in range(iterations):
        offsets = np.clip(centre + step * np.linspace(-4.0, 4.0, 17), -bound, bound)
        values = np.array([float(nll(d)) for d in offsets])
        u = offsets - centre
        design = np.stack([np.ones_like(u), u, 0.5 * u ** 2], axis=1)
        (_, b, c), *_ = np.linalg.lstsq(design, values - values.min(), rcond=None)
        if not (np.isfinite(c) and c > 0) or 1.0 / np.sqrt(c) < floor:  # only ripple within reach: look wider
            c = float("nan")
            if 3.0 * step > bound / 4.0:
                return None
            step *= 3.0
            continue
        moved = float(np.clip(centre - b / c, centre - 3.0 * step, centre + 3.0 * step))
        sigma = min(1.0 / np.sqrt(c), bound / 4.0)
        settled = abs(sigma / step - 1.0) < 0.5 and abs(moved - centre) < step
        centre, step = moved, sigma
        if settled:
            return centre, float(c)
    return (centre, float(c)) if np.isfinite(c) and c > 0 else None
