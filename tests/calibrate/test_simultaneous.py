"""Simultaneous calibration: which qubits and pairs may run together, the lanes sharing device
calls, the simulator playing them at once, and a run that saves device time with them."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from calibrate.graph.toml import load_graph
from calibrate.pairs import coupled_pairs
from calibrate.run import RunError, RunRequest, run_calibration
from calibrate.simultaneous import LaneStats, groups, run_lanes
from calibrate.store import Store
from devices import DeviceModelError
from devices.catalog import load_spec
from devices.protocol import DeviceCall
from devices.pulses import Gaussian
from devices.schedule import Play, Schedule
from devices.simulated import SimulatedDevice
from support.graphs import AMPLITUDE_GRAPH


def test_units_that_share_a_coupling_or_crosstalk_never_run_together():
    spec = load_spec("sim-5q")  # a line: 0-1-2-3-4, crosstalk between neighbours only
    assert groups(spec, [(q,) for q in range(5)]) == [((0,), (2,), (4,)), ((1,), (3,))]
    assert groups(spec, list(coupled_pairs(spec, range(5)))) == [((1, 0), (3, 4)), ((1, 2),), ((3, 2),)]
    assert groups(spec, [(3,), (0,), (4,)]) == [((3,), (0,)), ((4,),)]  # in the order given
    assert groups(load_spec("sim-1q"), [(0,)]) == [((0,),)]


class Recorder:
    """A device stand-in that answers each call with its seed, and records what it was asked."""

    def __init__(self, simultaneous: bool):
        self.calls: list[list[DeviceCall]] = []
        if simultaneous:
            self.run_simultaneous = self._run_simultaneous

    name, qubits, dt = "recorder", (0, 1, 2), 0.5

    def _answer(self, call: DeviceCall) -> xr.Dataset:
        return xr.Dataset(attrs={"seed": call.seed, "qubits": list(call.qubits)})

    def _run_simultaneous(self, calls):
        self.calls.append(list(calls))
        return [self._answer(c) for c in calls]

    def run(self, schedules, shots, seed=None, *, qubits=(0,)):
        call = DeviceCall(tuple(schedules), shots, seed, tuple(qubits))
        self.calls.append([call])
        return self._answer(call)


def lane_task(qubit: int, n_calls: int, seen: list):
    def task(device):
        for k in range(n_calls):
            ds = device.run([f"schedule {k}"], 100, seed=10 * qubit + k, qubits=(qubit,))
            seen.append((qubit, ds.attrs["seed"], device.name))
        return f"qubit {qubit} done"
    return task


@pytest.mark.parametrize("simultaneous", [True, False])
def test_lanes_share_device_calls_and_each_gets_its_own_results(simultaneous):
    device, seen, stats = Recorder(simultaneous), [], LaneStats()
    results = run_lanes(device, [lane_task(0, 3, seen), lane_task(2, 1, seen)], stats)
    assert results == ["qubit 0 done", "qubit 2 done"]
    # each lane read the answer to its own call, and saw the device's other attributes
    assert sorted(seen) == [(0, 0, "recorder"), (0, 1, "recorder"), (0, 2, "recorder"), (2, 20, "recorder")]
    asked = [[(c.qubits, c.seed) for c in call] for call in device.calls]
    if simultaneous:  # while both lanes run, their calls go together; then lane 0's alone
        assert asked == [[((0,), 0), ((2,), 20)], [((0,), 1)], [((0,), 2)]]
        assert (stats.device_calls, stats.lane_calls) == (3, 4)
    else:  # a device without the capability plays each lane's call in turn
        assert asked == [[((0,), 0)], [((2,), 20)], [((0,), 1)], [((0,), 2)]]
        assert (stats.device_calls, stats.lane_calls) == (4, 4)


def test_a_lane_that_raises_unwinds_the_others_and_the_exception_reaches_the_caller():
    device, unwound = Recorder(True), []

    def patient(device):
        try:
            for k in range(5):
                device.run(["s"], 10, seed=k, qubits=(0,))
        finally:
            unwound.append("patient")

    def failing(device):
        device.run(["s"], 10, seed=99, qubits=(2,))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_lanes(device, [patient, failing])
    assert unwound == ["patient"]  # its finally ran, at its pending call
    assert len(device.calls) == 1  # the pending call was dropped, not played


def rabi_schedule(amp: float, qubit: int) -> Schedule:
    return Schedule([Play(0, Gaussian(40.0, amp=amp, sigma=10.0))], [load_spec("sim-5q").qubits[qubit].frequency])


def test_the_simulator_plays_simultaneous_calls_as_separate_runs_at_one_moment():
    spec = load_spec("sim-5q")
    device = SimulatedDevice(spec, seed=4)
    short = DeviceCall((rabi_schedule(0.3, 0),), 500, 7, (0,))
    long = DeviceCall((rabi_schedule(0.5, 2), rabi_schedule(0.6, 2)), 800, 8, (2,))
    played = device.run_simultaneous([short, long])
    for call, ds in zip((short, long), played):
        alone = SimulatedDevice(spec, seed=4).run(call.schedules, call.shots, call.seed, qubits=call.qubits)
        np.testing.assert_array_equal(ds["counts"].values, alone["counts"].values)
        assert ds.attrs["run_s"] == alone.attrs["run_s"] and ds.attrs["clock_s"] == 0.0
    # the device was busy as long as the longer call, not the two in turn
    assert played[1].attrs["run_s"] > played[0].attrs["run_s"]
    assert device.now() == pytest.approx(played[1].attrs["run_s"])
    with pytest.raises(DeviceModelError, match=r"calls\[1\] plays on qubit 0, which calls\[0\] plays on too"):
        device.run_simultaneous([short, DeviceCall((rabi_schedule(0.2, 1),), 10, 1, (1, 0))])


def small_run(tmp_path, simultaneous: bool, device: SimulatedDevice, stats: LaneStats | None = None) -> dict:
    (tmp_path / "small.toml").write_text(AMPLITUDE_GRAPH)
    request = RunRequest(qubits=(0, 1, 2), graph=load_graph(str(tmp_path / "small.toml")),
                         simultaneous=simultaneous, data_dir=tmp_path)
    with Store.open(f"sqlite:///{tmp_path / f'store-{simultaneous}.sqlite'}") as store:
        return run_calibration(store, request, device=device, lane_stats=stats)


def test_a_simultaneous_run_measures_the_same_and_takes_less_device_time(tmp_path):
    spec = load_spec("sim-5q")
    in_turn, together, stats = SimulatedDevice(spec, seed=5), SimulatedDevice(spec, seed=5), LaneStats()
    sequential = small_run(tmp_path, False, in_turn)
    simultaneous = small_run(tmp_path, True, together, stats)
    assert stats.device_calls < stats.lane_calls  # qubits 0 and 2 shared calls
    assert sequential["shots"] == simultaneous["shots"]
    for q in "012":
        a, b = sequential["qubits"][q], simultaneous["qubits"][q]
        assert a["status"] == b["status"]
        assert [n["node"] for n in a["nodes"]] == [n["node"] for n in b["nodes"]]
        if "x_amp" in a["parameters"]:  # the same estimate within its error bars (other shot noise)
            x, y = a["parameters"]["x_amp"], b["parameters"]["x_amp"]
            assert abs(x["value"] - y["value"]) < 4 * np.hypot(x["stderr"], y["stderr"]), (q, x, y)
    # qubits 0 and 2 ran together, then 1: about two qubits' device time instead of three
    assert together.now() < 0.8 * in_turn.now(), (together.now(), in_turn.now())


class InterruptedDevice(SimulatedDevice):
    """Ctrl-C arrives during the second simultaneous call."""

    calls = 0

    def run_simultaneous(self, calls):
        type(self).calls += 1
        if type(self).calls == 2:
            raise KeyboardInterrupt
        return super().run_simultaneous(calls)


def test_ctrl_c_during_a_simultaneous_batch_records_the_run_and_keeps_finished_updates(tmp_path):
    device = InterruptedDevice(load_spec("sim-5q"), seed=5)
    with pytest.raises(KeyboardInterrupt) as caught:
        small_run(tmp_path, True, device)
    error = caught.value.run_error
    assert isinstance(error, RunError) and error.recorded
    assert "interrupted at qubit" in str(error) and "(KeyboardInterrupt)" in str(error)
    with Store.open(f"sqlite:///{tmp_path / 'store-True.sqlite'}", read_only=True) as store:
        [run] = store.runs()
        assert run["status"] == "error" and run["summary"]["error"] == str(error)
        assert run["shots"] > 0  # the first call's shots are counted
