"""Calibration files: round trip, defaults, and refusals that name the key."""

import pytest

from sparsim import Calibration, SparsimError, load_calibration
from sparsim.simulator.params import DEFAULT_PARAMS


def test_round_trip_keeps_params_and_provenance(tmp_path):
    cal = Calibration(hw="l4", params={"hbm_efficiency": 0.8, "launch_scale": 1.7},
                      provenance={"device": 'NVIDIA "L4"', "samples": 12, "clocks_mhz": [2040, 1980]})
    back = load_calibration(cal.save(tmp_path / "c.toml"))
    assert back.hw == "l4"
    assert dict(back.params) == {"hbm_efficiency": 0.8, "launch_scale": 1.7}
    assert back.provenance["device"] == 'NVIDIA "L4"'
    assert back.provenance["clocks_mhz"] == [2040, 1980]
    assert back.param("l2_efficiency") == DEFAULT_PARAMS["l2_efficiency"]


def test_calibration_for_another_profile_is_refused():
    with pytest.raises(SparsimError, match="fitted for profile 'l4'"):
        Calibration(hw="l4").check_profile("h100-sxm5-80gb")


@pytest.mark.parametrize("params, message", [
    ({"hbm_efficiency": 1.5}, r"params.hbm_efficiency: got 1.5; allowed: a number in \(0, 1\]"),
    ({"hbm_efficiency": -1}, "allowed: a number > 0"),
    ({"warp_magic": 2.0}, "key params.warp_magic: got .warp_magic.; allowed: one of tensor_efficiency"),
])
def test_bad_parameters_name_the_key(params, message):
    with pytest.raises(SparsimError, match=message):
        Calibration(hw="l4", params=params)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(SparsimError, match="cannot read"):
        load_calibration(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[device\n")
    with pytest.raises(SparsimError, match="not valid TOML"):
        load_calibration(bad)
    bad.write_text("version = 7\n")
    with pytest.raises(SparsimError, match="key version: got 7"):
        load_calibration(bad)
