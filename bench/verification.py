"""Benchmark: the learned node's verification against known offsets from a perfect calibration.

Problem. --devices simulated `sim-1q` devices (seeds from --first-seed; bench/recalibration.py
uses seeds from 1000). Each gets a perfect calibration (the truth's best DRAG gate at the
dressed qubit frequency, devices.truth.best_drag: the benchmark's set-up, which the
verification never reads), then one parameter is moved by a known offset, with its sign
alternating from device to device, and the verification (calibrate.ml.verification) judges
one probe measurement of that calibration: 12 probes x --shots shots. Offsets: frequency
0-200 kHz, amplitude 0-2 %, beta 0-0.2 ns, then far offsets that must all be rejected.

Figures: per parameter and offset, the fraction of devices accepted; the offset where the
accept rate crosses 50 % (linear interpolation), and its ratio to the tolerance (target:
within 1.5x); the shots of one verification. The same measurements judged by the earlier
design (each pair's |P+ - P-| within the difference one tolerance makes plus 3 sigma of shot
noise, today only a guard) are printed as "earlier", for comparison.

The verification needs the controller's probe set, sensitivity and tolerances, not its
trained network, so an untrained controller of the family serves here.

With --controller DIR (a trained controller), also the coverage of the learned node's stored
standard errors: --devices further devices (seeds after the curve's) are left a day after a
perfect calibration, recalibrated by the controller, and per parameter the fraction with
|stored value - true optimum| <= stored stderr is printed (target 50-90 %), with the fraction
verified. The true optimum: the dressed qubit frequency, the truth's best DRAG amplitude and beta.

Run: .venv/bin/python bench/verification.py [--devices 20] [--first-seed 3000] [--shots 200] [--controller DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import devices  # noqa: E402,F401  (x64 on)
from calibrate.ml.controller import TrainOptions, family_of, initial_controller, measure_probes  # noqa: E402
from calibrate.ml.probes import ProbeSet  # noqa: E402
from calibrate.ml.verification import TOLERANCES, verify  # noqa: E402
from devices.catalog import load_spec  # noqa: E402
from devices.simulated import SimulatedDevice  # noqa: E402
from devices.truth import best_drag  # noqa: E402
from experiments.calibration import nominal_calibration  # noqa: E402

SPEC = load_spec("sim-1q")
PARAMETERS = ("frequency", "amplitude", "beta")
UNITS = {"frequency": (1e-6, "kHz"), "amplitude": (1e-2, "%"), "beta": (1.0, "ns")}
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
LARGEST = {"frequency": 2e-4, "amplitude": 0.02, "beta": 0.2}  # the ranges
FAR = {"frequency": (5e-4, 1e-3, 2e-3), "amplitude": (0.05, 0.1), "beta": (0.5, 1.0)}


def offsets(parameter: str) -> list[float]:
    k = PARAMETERS.index(parameter)
    return sorted({*(f * TOLERANCES[k] for f in FRACTIONS), LARGEST[parameter]})


def moved(calibration, parameter: str, offset: float):
    if parameter == "frequency":
        return calibration.replace(frequency=calibration.frequency + offset)
    if parameter == "amplitude":
        return calibration.replace(x_amp=calibration.x_amp * (1 + offset), sx_amp=calibration.sx_amp * (1 + offset))
    return calibration.replace(beta=calibration.beta + offset)


def half_point(xs: list[float], rates: list[float]) -> float:
    """The smallest offset where the accept rate falls through 1/2 (linear interpolation)."""
    for (x0, r0), (x1, r1) in zip(zip(xs, rates), zip(xs[1:], rates[1:])):
        if r0 >= 0.5 > r1:
            return x0 + (r0 - 0.5) * (x1 - x0) / (r0 - r1)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=3000)
    parser.add_argument("--shots", type=int, default=200, help="shots per probe of the verification")
    parser.add_argument("--controller", help="a trained controller's directory: also measure the stderr coverage")
    parser.add_argument("--skip-curve", action="store_true", help="only the coverage (with --controller)")
    args = parser.parse_args()
    if not args.skip_curve:
        curve(args)
    if args.controller:
        coverage(args)


def coverage(args) -> None:
    from calibrate.ml.controller import load_controller, recalibrate
    from calibrate.procedures import recalibrated_estimates

    controller = load_controller(args.controller, SPEC, 0)
    names = ("frequency", "x_amp", "beta")
    inside, verified, ratios = [], 0, []
    first = args.first_seed + args.devices
    for seed in range(first, first + args.devices):
        device = SimulatedDevice(SPEC, seed=seed)
        best = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
        start = nominal_calibration(SPEC, 0).replace(frequency=best["frequency"], x_amp=best["x_amp"],
                                                     sx_amp=best["x_amp"] / 2, beta=best["beta"])
        device.advance(hours=24.0)
        result = recalibrate(device, controller, start, 0)
        values = recalibrated_estimates(controller, result)
        truth = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
        inside.append([abs(values[n].value - truth[n]) <= values[n].stderr for n in names])
        ratios.append([abs(values[n].value - truth[n]) / values[n].stderr for n in names])
        verified += result.verification.in_spec
    cover = np.mean(inside, axis=0)
    typical = np.median(ratios, axis=0)
    print(f"# stderr coverage: {args.controller}, {args.devices} devices (seeds {first}..{first + args.devices - 1}) "
          f"a day after a perfect calibration; verified {verified}/{args.devices}")
    for n, c, t in zip(names, cover, typical):
        print(f"{n:<10} |value - true optimum| <= stderr on {c:.0%} (target 50-90 %): "
              f"{'met' if 0.5 <= c <= 0.9 else 'NOT met'}; median |error|/stderr {t:.2f}")


def curve(args) -> None:

    controller = initial_controller(family_of(SPEC, 0), TrainOptions(probes=ProbeSet(shots=args.shots)))
    shots = controller.probes.n_probes * controller.probes.shots
    grid = {p: offsets(p) for p in PARAMETERS}
    far = {p: list(FAR[p]) for p in PARAMETERS}
    accepted = {p: np.zeros(len(grid[p]), dtype=int) for p in PARAMETERS}
    earlier = {p: np.zeros(len(grid[p]), dtype=int) for p in PARAMETERS}
    far_accepted = {p: np.zeros(len(far[p]), dtype=int) for p in PARAMETERS}
    started = time.perf_counter()
    for i in range(args.devices):
        seed = args.first_seed + i
        device = SimulatedDevice(SPEC, seed=seed)
        best = best_drag(device, 0, duration=SPEC.x_duration, sigma=SPEC.x_sigma)
        perfect = nominal_calibration(SPEC, 0).replace(frequency=best["frequency"], x_amp=best["x_amp"],
                                                       sx_amp=best["x_amp"] / 2, beta=best["beta"])
        sign = 1.0 if i % 2 == 0 else -1.0
        for p in PARAMETERS:
            for table, counts in ((grid, accepted), (far, far_accepted)):
                for j, offset in enumerate(table[p]):
                    calibration = moved(perfect, p, sign * offset)
                    check = verify(controller, measure_probes(device, controller, calibration, 0))
                    counts[p][j] += check.in_spec
                    if table is grid:
                        earlier[p][j] += bool(np.all(np.abs(check.differences) <= check.limits))
        print(f"# seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)

    print(f"# sim-1q, {args.devices} devices (seeds {args.first_seed}..{args.first_seed + args.devices - 1}), "
          f"one parameter off a perfect calibration, sign alternating; {shots} shots per verification "
          f"({controller.probes.n_probes} probes x {controller.probes.shots})")
    for k, p in enumerate(PARAMETERS):
        scale, unit = UNITS[p]
        rates = list(accepted[p] / args.devices)
        curve = "  ".join(f"{x / scale:g}:{r:.2f}" for x, r in zip(grid[p], rates))
        half = half_point(grid[p], rates)
        print(f"{p:<10} tolerance {TOLERANCES[k] / scale:g} {unit}; accept rate by offset [{unit}]: {curve}")
        print(f"{p:<10} 50 % point {half / scale:.3g} {unit} = {half / TOLERANCES[k]:.2f}x tolerance "
              f"(target <= 1.5x): {'met' if half / TOLERANCES[k] <= 1.5 else 'NOT met'}")
        old = list(earlier[p] / args.devices)
        print(f"{p:<10} earlier design: {'  '.join(f'{x / scale:g}:{r:.2f}' for x, r in zip(grid[p], old))}; "
              f"50 % point {half_point(grid[p], old) / TOLERANCES[k]:.2f}x tolerance")
        far_rates = "  ".join(f"{x / scale:g}:{n}/{args.devices}" for x, n in zip(far[p], far_accepted[p]))
        print(f"{p:<10} far offsets accepted [{unit}]: {far_rates}")


if __name__ == "__main__":
    main()
