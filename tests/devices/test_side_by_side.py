"""Groups of schedules run side by side in threads: the same results as one after the other."""

import threading
import time

import numpy as np
import pytest

from devices import Drag, Play, Schedule, side_by_side
from devices.catalog import load_spec
from devices.sequences import GateSequence
from devices.side_by_side import run_side_by_side
from devices.simulated import SimulatedDevice


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(side_by_side, "cores", lambda: 2)


def test_results_come_in_item_order_from_the_pools_threads(two_cores):
    threads = []

    def square(x):
        time.sleep(0.01 * (5 - x))  # the later items finish first
        threads.append(threading.current_thread().name)
        return x * x

    assert run_side_by_side(square, range(5)) == [0, 1, 4, 9, 16]
    assert len(threads) == 5 and all(name.startswith("side-by-side") for name in threads)


def test_every_call_finishes_before_the_first_items_error_is_raised(two_cores):
    finished = []

    def work(x):
        if x in (1, 3):
            raise ValueError(f"item {x} failed")
        time.sleep(0.05)
        finished.append(x)
        return x

    with pytest.raises(ValueError, match="item 1 failed"):
        run_side_by_side(work, range(5))
    assert sorted(finished) == [0, 2, 4]


def test_a_call_from_inside_the_pool_runs_its_items_in_its_own_thread(two_cores):
    # more outer items than threads: nested items queued behind them would wait forever
    def outer(_):
        mine = threading.current_thread().name
        return run_side_by_side(lambda _: threading.current_thread().name == mine, range(3))

    assert run_side_by_side(outer, range(4)) == [[True] * 3] * 4


def test_a_device_call_of_many_groups_counts_as_when_they_run_one_after_the_other(monkeypatch):
    """Pulse sweeps of two structures and gate sequences in three length buckets, mixed in
    one call: the counts (same shot seed) are those of running the groups in turn."""
    spec = load_spec("sim-1q")
    f = spec.qubits[0].frequency

    def drag(amp, duration=20.0):
        return Schedule([Play(0, Drag(duration, amp=amp, sigma=duration / 4, beta=0.2))], [f])

    gates = [drag(0.55), drag(0.27)]
    rng = np.random.default_rng(11)
    schedules = [drag(a) for a in (0.1, 0.3, 0.5)] + [drag(a, 40.0) for a in (0.2, 0.4)]
    schedules += [GateSequence(gates, rng.integers(0, 2, n), rng.uniform(-np.pi, np.pi, n)) for n in (3, 100, 150)]
    order = rng.permutation(len(schedules))
    schedules = [schedules[k] for k in order]

    def counts(n_cores):
        monkeypatch.setattr(side_by_side, "cores", lambda: n_cores)
        return SimulatedDevice(spec, seed=12).run(schedules, shots=2000, seed=5).counts.values

    np.testing.assert_array_equal(counts(2), counts(1))
