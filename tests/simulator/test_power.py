"""Clocks under the power limit: compute-bound GEMMs on power-limited boards slow by the
clock they sustain; memory-bound calls barely do; a calibration's own board is unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsim
from sparsim.errors import SparsimError
from sparsim.hwprofiles import list_profiles, load_profile
from sparsim.simulator.power import check_power_limit, clocked, sustained_clock

GPUS = [n for n in list_profiles()]


@pytest.mark.parametrize("name", GPUS)
def test_base_clock_is_what_a_full_load_sustains_at_the_rated_power(name):
    """NVIDIA's base clock: the clock the board guarantees at TDP under a full load."""
    hw = load_profile(name)
    c = sustained_clock(hw, tensor_activity=1.0, memory_activity=1.0)
    assert c.clock_mhz == pytest.approx(min(hw.base_clock_mhz, hw.boost_clock_mhz), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(GPUS), a=st.floats(0.0, 1.0), m=st.floats(0.0, 1.0),
       watts=st.floats(0.0, 1.0), more=st.floats(1.0, 2.0))
def test_the_clock_never_passes_boost_and_grows_with_the_limit_and_falls_with_activity(name, a, m, watts, more):
    hw = load_profile(name)
    low = hw.idle_power_w + hw.memory_power_w + 1.0
    limit = low + watts * (hw.board_power_w - low)
    c = sustained_clock(hw, tensor_activity=a, memory_activity=m, power_limit_w=limit)
    assert 0 < c.clock_mhz <= hw.boost_clock_mhz
    assert sustained_clock(hw, tensor_activity=a, memory_activity=m, power_limit_w=limit * more).clock_mhz >= \
        c.clock_mhz * (1 - 1e-9)
    assert sustained_clock(hw, tensor_activity=min(1.0, a * more), memory_activity=m,
                           power_limit_w=limit).clock_mhz <= c.clock_mhz * (1 + 1e-9)


def test_a100_pcie_gemm_runs_near_its_base_clock_and_slower_than_the_sxm4():
    """Published (shared/data/published/kernels.json, SlideSparse): fp16 16384^3 on an A100
    80GB PCIe at 235 TFLOP/s = 0.97 x 312 x 1095/1410."""
    pcie = sparsim.predict("dense", m=16384, k=16384, n=16384, hw="a100-pcie-80gb", compare=False)
    sxm = sparsim.predict("dense", m=16384, k=16384, n=16384, hw="a100-sxm4-80gb", compare=False)
    tflops = 2 * 16384**3 / pcie.kernel_s / 1e12
    assert 225 < tflops < 255
    assert sxm.kernel_s < pcie.kernel_s
    assert any(n.startswith("power: the kernel sustains 1,1") and "300 W board limit" in n for n in pcie.notes)


def test_a_cap_slows_compute_bound_gemms_and_barely_memory_bound_ones():
    big = dict(m=8192, k=8192, n=8192, hw="a100-sxm4-80gb", compare=False)
    gemv = dict(m=8192, k=8192, n=8, hw="a100-sxm4-80gb", compare=False)
    slow = sparsim.predict("dense", **big, power_limit_w=250).kernel_s / sparsim.predict("dense", **big).kernel_s
    flat = sparsim.predict("dense", **gemv, power_limit_w=250).kernel_s / sparsim.predict("dense", **gemv).kernel_s
    assert slow > 1.15
    assert flat < 1.03


def test_the_calibrations_own_board_keeps_its_calibrated_times():
    kw = dict(m=8192, k=8192, n=8192, hw="h200-sxm-141gb", compare=False)
    assert sparsim.predict("dense", **kw).kernel_s == sparsim.predict("dense", **kw, power_limit_w=700).kernel_s
    assert sparsim.predict("dense", **kw, power_limit_w=400).kernel_s > 1.1 * sparsim.predict("dense", **kw).kernel_s


def test_clocked_profile_scales_math_not_memory():
    hw = load_profile("rtx-4090")
    slow = clocked(hw, 1260.0)
    assert slow.tensor_peak("fp16") == pytest.approx(hw.tensor_peak("fp16") / 2, rel=1e-4)
    assert slow.vector_peak("fp32") == pytest.approx(hw.vector_peak("fp32") / 2)
    assert slow.boost_clock_mhz == 1260.0
    assert slow.hbm_bytes_per_s == hw.hbm_bytes_per_s and slow.l2_bytes_per_s == hw.l2_bytes_per_s
    assert slow.tensor_rate_fraction("fp16") == pytest.approx(hw.tensor_rate_fraction("fp16"))


def test_hopper_tensor_peaks_hold_down_to_their_quoted_clock():
    """The H100 whitepaper quotes tensor peaks at 1830 MHz, below the 1980 MHz boost."""
    h100 = load_profile("h100-sxm5-80gb")
    assert clocked(h100, 1900.0).tensor_peak("bf16") == h100.tensor_peak("bf16")
    assert clocked(h100, 1647.0).tensor_peak("bf16") == pytest.approx(0.9 * h100.tensor_peak("bf16"), rel=1e-4)


@pytest.mark.parametrize("value,fragment", [(10.0, "above its idle and DRAM power"), (1e9, "at most 5000 W"),
                                            (float("nan"), "a number of watts"), ("300", "a number of watts")])
def test_bad_power_limits_fail_with_one_line(value, fragment):
    with pytest.raises(SparsimError) as info:
        check_power_limit(load_profile("rtx-4090"), value)
    assert str(info.value).startswith("--power-limit: got") and fragment in str(info.value)


def test_a_profile_without_power_data_refuses_a_cap(cpu_profile):
    with pytest.raises(SparsimError, match="no power.board_power_w"):
        check_power_limit(cpu_profile, 100)
    assert check_power_limit(cpu_profile, None) is None


def test_parameters_being_fitted_on_a_board_hold_its_clock_as_the_saved_calibration_does():
    """The calibrator fits plain parameter mappings on the board it measured; the saved
    calibration (hw = that board) must predict the same times, so neither is throttled again."""
    from sparsim.calibration import Calibration
    from sparsim.models import build_work
    from sparsim.simulator import predict_work

    hw = load_profile("a100-pcie-80gb")
    work = build_work("dense", m=8192, k=8192, n=8192)
    params = {"tensor_efficiency": 0.8}
    fitting = predict_work(work, hw, params, impl="cublas")
    saved = predict_work(work, hw, Calibration(hw=hw.name, impl_params={"cublas": params}), impl="cublas")
    datasheet = predict_work(work, hw, None, impl="cublas")
    assert fitting.kernel_s == pytest.approx(saved.kernel_s, rel=1e-9)
    assert any(n.startswith("power:") for n in datasheet.notes)
    assert not any(n.startswith("power:") for n in saved.notes)
