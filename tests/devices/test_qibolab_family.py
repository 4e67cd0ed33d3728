"""A qibolab device file's [fabrication] and [drift] tables: the lab's prior over its chips,
which a learned controller trained on the platform's nominal design learns from.

Same keys and checks as a simulated device file's (devices/device_spec.py); the controller
trained with `calibrate train-controller --device-family <file>` must find its fingerprint again
when `calibrate run --device <file>` (or a drifted copy of the emulated chip) loads it. No
training here: too slow for a test.
"""

from __future__ import annotations

import tomllib

import pytest
from support.qibolab_truth import EMULATED_TRANSMON, emulator_truth

from calibrate.ml.controller import fingerprint
from calibrate.resolve import resolve_device
from devices.adapters.qibolab import open_device
from devices.device_spec import NO_DRIFT, NO_FABRICATION_SPREAD, DeviceSpecError

DEVICE_FILE = EMULATED_TRANSMON.parent / "emulated-transmon.toml"


def _config(**changes) -> dict:
    config = tomllib.loads(DEVICE_FILE.read_text())
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def spec():
    return open_device(_config(), source=DEVICE_FILE).spec


def test_the_shipped_prior_parses_in_the_toolkits_units(spec):
    fab, drift = spec.fabrication, spec.drift
    assert fab.frequency == pytest.approx(3e-3) and fab.anharmonicity == pytest.approx(5e-3)  # GHz
    assert fab.drive_scale_rel == 0.06 and fab.t1_rel == 0.3 and fab.coupling_rel == 0.0  # missing: zero
    assert drift.frequency_walk == pytest.approx(30e-6) and drift.telegraph_jump == pytest.approx(200e-6)
    assert drift.amplitude_walk_rel == 0.004 and drift.t1_correlation_hours == 4.0


def test_the_prior_covers_the_emulated_qubits_real_offsets(spec):
    # the design is 2 MHz and 5 % off the emulated qubit: within 1 sigma of the lab's prior,
    # so the controller trained on it has seen chips like this one
    q, truth = spec.qubits[0], emulator_truth()
    assert abs(q.frequency - truth.frequency) <= spec.fabrication.frequency
    assert abs(truth.drive_scale / q.drive_scale - 1.0) <= spec.fabrication.drive_scale_rel
    assert abs(q.anharmonicity - truth.anharmonicity) <= spec.fabrication.anharmonicity + 1e-12  # 5 MHz: 1 sigma


def test_without_the_tables_the_spreads_are_zero():
    config = _config()
    del config["fabrication"], config["drift"]
    spec = open_device(config, source=DEVICE_FILE).spec
    assert (spec.fabrication, spec.drift) == (NO_FABRICATION_SPREAD, NO_DRIFT)


@pytest.mark.parametrize("changes, message", [
    ({"fabrication": {"frequency_mhz": -1.0}}, "fabrication.frequency_mhz is -1.0"),
    ({"fabrication": {"drive_scale_rel": 0.7}}, "fabrication.drive_scale_rel is 0.7"),
    ({"fabrication": {"frequency_mhz": "3"}}, "fabrication.frequency_mhz is '3'"),
    ({"fabrication": {"frequncy_mhz": 3.0}}, "fabrication has unknown key\\(s\\) frequncy_mhz"),
    ({"drift": {"t1_correlation_h": 0.0}}, "drift.t1_correlation_h is 0.0"),
    ({"drift": {"amplitude_walk_rel_per_sqrt_h": True}}, "drift.amplitude_walk_rel_per_sqrt_h is True"),
    ({"drift": 3}, "drift must be a table"),
])
def test_bad_prior_values_are_refused_naming_the_key(changes, message):
    with pytest.raises(DeviceSpecError, match=message):
        open_device(_config(**changes), source=DEVICE_FILE)


def test_the_controllers_family_is_found_again_at_run_time(spec, tmp_path):
    # train-controller reads the family through resolve_device (calibrate/cli/controller.py);
    # `calibrate run --device` opens the same file; a drifted copy of the emulated chip (its
    # Hamiltonian moved, the design not) is the same family
    trained_on = resolve_device(str(DEVICE_FILE)).spec
    drifted = tmp_path / "drifted"
    (drifted / "emulated-transmon").mkdir(parents=True)
    for f in EMULATED_TRANSMON.iterdir():
        if f.is_file():
            text = f.read_text()
            if f.name == "parameters.json":
                text = text.replace('"frequency": 5012300000.0', '"frequency": 5012600000.0')
            (drifted / "emulated-transmon" / f.name).write_text(text)
    assert "5012600000.0" in (drifted / "emulated-transmon" / "parameters.json").read_text()
    (drifted / DEVICE_FILE.name).write_text(DEVICE_FILE.read_text())
    runs_on = resolve_device(str(drifted / DEVICE_FILE.name)).spec
    assert fingerprint(trained_on, 0) == fingerprint(spec, 0) == fingerprint(runs_on, 0)
    # and the prior is part of it: a lab that states another prior needs another controller
    wider = open_device(_config(fabrication={"frequency_mhz": 6.0}), source=DEVICE_FILE).spec
    assert fingerprint(wider, 0) != fingerprint(spec, 0)
