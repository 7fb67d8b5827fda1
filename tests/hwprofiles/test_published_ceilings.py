"""Published board ceilings: the A100s' DRAM read rates from te42kyfo/gpu-benches, shipped as
calibrations with a [measured] table only, basis "published"."""

import pytest

import sparsim
from sparsim.api import resolve_calibration
from sparsim.calibration import Calibration, load_calibration
from sparsim.hwprofiles import load_profile, shipped_calibration
from sparsim.hwprofiles.dies import die_calibrations, shipped_for
from sparsim.simulator.machine import Machine
from sparsim.simulator.power import _reference_board

#: gpu-stream's "read" column at 100% occupancy (gpu-stream/a100_80.txt, a100_40.txt)
READ = {"a100-sxm4-80gb": 1.769e12, "a100-sxm4-40gb": 1.490e12}


@pytest.mark.parametrize("hw", sorted(READ))
def test_the_published_file_is_the_boards_read_rate_and_says_where_it_was_read(hw):
    cal = load_calibration(shipped_calibration(hw))
    assert cal.measured == {"hbm_bytes_per_s": READ[hw]} and not cal.params and not cal.impl_params
    assert cal.provenance["basis"] == "published"
    assert "gpu-stream/a100_" in cal.provenance["where"] and "1c36d509ee71" in cal.provenance["where"]
    assert READ[hw] < load_profile(hw).hbm_bytes_per_s  # a kernel's stream, below the datasheet
    assert cal.label.startswith("published: te42kyfo/gpu-benches gpu-stream on NVIDIA A100")


def test_a_prediction_on_the_board_streams_at_the_measured_rate_and_says_published():
    p = sparsim.predict("dense", m=8192, k=8192, n=1, hw="a100-sxm4-80gb", dtype="bf16")
    assert p.basis.startswith("published: te42kyfo/gpu-benches")
    cal = resolve_calibration(None, load_profile("a100-sxm4-80gb"))
    machine = Machine.for_call(load_profile("a100-sxm4-80gb"), cal, impl=None, kernel="dense", dtype="bf16")
    assert machine.hbm_bytes_per_s == pytest.approx(0.9 * 1.769e12)  # the default efficiency of the measured rate
    datasheet = sparsim.predict("dense", m=8192, k=8192, n=1, hw="a100-sxm4-80gb", dtype="bf16", calibration=False)
    assert datasheet.basis == "datasheet only"
    # a memory-bound GEMV takes the bandwidth ratio longer (fixed costs aside)
    assert p.kernel_s / datasheet.kernel_s == pytest.approx(2.039 / 1.769, rel=0.03)


def test_other_boards_of_the_die_take_nothing_from_it():
    assert "GA100" not in die_calibrations()
    assert shipped_for(load_profile("a100-pcie-80gb")) is None
    assert sparsim.predict("dense", m=4096, k=4096, n=1, hw="a100-pcie-80gb").basis == "datasheet only"
    # a die calibration with fitted parameters still carries (GH100: the H200's)
    assert die_calibrations()["GH100"][0] == "h200-sxm-141gb"


def test_measured_ceilings_hold_no_clock_for_the_power_model():
    hw = load_profile("a100-sxm4-80gb")
    published = load_calibration(shipped_calibration("a100-sxm4-80gb"))
    assert _reference_board(published, hw) is None
    fitted = Calibration(hw="a100-sxm4-80gb", params={"tensor_efficiency": 0.8})
    assert _reference_board(fitted, hw) is hw


def test_a_calibration_of_the_board_itself_replaces_the_published_one(tmp_path):
    own = tmp_path / "a100.toml"
    own.write_text('version = 2\n[device]\nhw = "a100-sxm4-80gb"\n[params]\nhbm_efficiency = 0.8\n'
                   '[provenance]\ndevice = "NVIDIA A100-SXM4-80GB"\ndate = "2026-12-03"\n')
    p = sparsim.predict("dense", m=8192, k=8192, n=1, hw="a100-sxm4-80gb", dtype="bf16", calibration=own)
    assert p.basis == "calibrated on NVIDIA A100-SXM4-80GB, 2026-12-03"
