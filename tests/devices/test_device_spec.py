"""Device files: the catalog loads, and malformed or incomplete files are refused clearly."""

from pathlib import Path

import pytest

from devices.catalog import device_names, load_spec
from devices.device_spec import DeviceSpecError

CATALOG = Path(__file__).resolve().parents[2] / "devices" / "catalog"


def test_catalog_has_the_built_in_devices():
    assert {"sim-1q", "sim-5q"} <= set(device_names())
    five = load_spec("sim-5q")
    assert five.n_qubits == 5 and len(five.couplings) == 4 and five.crosstalk
    # internal units at the boundary: t1_us = 85 -> 85000 ns, j_mhz = 3 -> 0.003 GHz
    assert five.qubits[0].t1 == pytest.approx(85e3)
    assert five.couplings[0][2] == pytest.approx(3e-3)
    assert five.qubits[0].anharmonicity == pytest.approx(-0.235)


def test_a_device_loads_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text((CATALOG / "sim-1q.toml").read_text().replace('"sim-1q"', '"mine"'))
    assert load_spec(str(path)).name == "mine"


def _variant(tmp_path, old: str, new: str) -> str:
    text = (CATALOG / "sim-1q.toml").read_text()
    assert old in text, old
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, 1))
    return str(path)


@pytest.mark.parametrize("old, new, message", [
    ("t1_us = 80.0", "t1_us = -5.0", r"qubits\[0\]\.t1_us is -5.0, but must satisfy 0 < t1_us"),
    ("t2_us = 60.0", "t2_us = 200.0", r"t2_us is 200.0, but must satisfy t2_us <= 2 \* t1_us = 160.0"),
    ("anharmonicity_mhz = -240.0", "anharmonicity_mhz = 240.0", r"anharmonicity_mhz is 240.0, but must satisfy anharmonicity_mhz < 0"),
    ("frequency_ghz = 5.0", 'frequency_ghz = "five"', r"frequency_ghz is 'five', but must be a finite number"),
    ("frequency_ghz = 5.0", "frequency_ghz = nan", r"frequency_ghz is nan, but must be a finite number"),
    ("readout_p10 = 0.04", "readout_p10 = 0.7", r"readout_p10 is 0.7, but must satisfy 0 <= readout_p10 < 0.5"),
    ("t1_us = 80.0", "t1_us = 80.0\nt3_us = 1.0", r"qubits\[0\] has unknown key\(s\) t3_us"),
    ("dt_ns = 0.5", "dt_ns = 0.0", r"awg\.dt_ns is 0.0, but must satisfy 0 < dt_ns"),
    ("x_duration_ns = 20.0", "x_duration_ns = 20.3", r"x_duration_ns must be a multiple of awg\.dt_ns = 0.5"),
    ("schema = 1", "schema = 2", r"schema is 2, newer than this toolkit reads \(1\)"),
    ("[drift]", "[drifts]", r"missing the table \[drift\]"),
    ("frequency_walk_khz_per_sqrt_h = 10.0\n", "", r"drift is missing the key `frequency_walk_khz_per_sqrt_h`"),
    ("t1_correlation_h = 4.0", "t1_correlation_h = 0", r"t1_correlation_h is 0, but must satisfy 0 < t1_correlation_h"),
])
def test_bad_values_are_refused_naming_file_key_value_and_range(tmp_path, old, new, message):
    with pytest.raises(DeviceSpecError, match=message) as info:
        load_spec(_variant(tmp_path, old, new))
    assert "variant.toml" in str(info.value)


def test_malformed_and_missing_files(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \"x\"\n[awg\ndt_ns = 0.5\n")
    with pytest.raises(DeviceSpecError, match="broken.toml: not valid TOML"):
        load_spec(str(broken))
    empty = tmp_path / "empty.toml"
    empty.write_text("schema = 1\nname = \"empty\"\n")
    with pytest.raises(DeviceSpecError, match=r"empty.toml: file is missing the table \[awg\]"):
        load_spec(str(empty))
    with pytest.raises(DeviceSpecError, match="does not exist"):
        load_spec(str(tmp_path / "absent.toml"))
    with pytest.raises(DeviceSpecError, match=r"Unknown device 'sim-9q': give a catalog name \(sim-1q, sim-5q"):
        load_spec("sim-9q")


def test_couplings_and_crosstalk_are_checked(tmp_path):
    text = (CATALOG / "sim-5q.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("qubits = [3, 4]", "qubits = [3, 7]"))
    with pytest.raises(DeviceSpecError, match=r"couplings\[3\]\.qubits is \[3, 7\], but must be two different qubit indices in 0\.\.4"):
        load_spec(str(bad))
    bad.write_text(text.replace("channel = 4\nqubit = 3", "channel = 3\nqubit = 3"))
    with pytest.raises(DeviceSpecError, match="channel == qubit == 3"):
        load_spec(str(bad))
