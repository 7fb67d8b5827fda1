"""The impls axis: each format predicted with every implementation the study names, labelled
with its software path, its host work and what its figures rest on."""

import pytest

from sparsim.errors import SparsimError
from sparsim.studies import parse_study, run_sweep
from sparsim.studies.paths import resolve
from sparsim.studies.sweep import TIME_SPLIT, time_split

H200 = "h200-sxm-141gb"


def _study(**sweep):
    data = {"version": 1, "model": "des",
            "sweep": {"hardware": [H200], "formats": ["dense", "2:4"], "batch_sizes": [1], **sweep},
            "workloads": [{"shapes": [{"name": "proj", "m": 4096, "k": 4096}]}]}
    return parse_study(data, origin="s.toml")


@pytest.fixture(scope="module")
def h200_points():
    study = _study(impls=["default", "cusparselt-search", "torch"], batch_sizes=[1, 512])
    return run_sweep(study).points.set_index(["format", "impl", "batch"])


def test_default_impls_are_each_formats_library_and_torch():
    study = _study()
    assert study.impls == ("default", "torch")
    points = run_sweep(study).points
    assert sorted(zip(points.format, points.impl, points.path)) == [
        ("2:4", "cusparselt", "default"), ("2:4", "torch", "torch"),
        ("dense", "cublas", "default"), ("dense", "torch", "torch")]


def test_torch_2_4_at_batch_1_on_h200_is_slower_than_torch_mm_and_a_searched_plan_faster_than_cublas(h200_points):
    p = h200_points
    torch_24, torch_mm = p.loc[("2:4", "torch", 1)], p.loc[("dense", "torch", 1)]
    searched, cublas = p.loc[("2:4", "cusparselt-search", 1)], p.loc[("dense", "cublas", 1)]
    # PyTorch sets up a cuSPARSELt plan on every call: 0.45 ms of host work beside a ~28 us kernel
    assert torch_24.overhead_s == pytest.approx(0.45e-3)
    assert torch_24.time_s == pytest.approx(torch_24.kernel_s + torch_24.overhead_s)
    assert torch_24.time_s > 10 * torch_mm.time_s
    assert torch_24.bound == "overhead" and torch_24.time_host_s == pytest.approx(0.45e-3)
    assert searched.time_s < cublas.time_s and searched.overhead_s == 0.0
    assert searched.path == "cusparselt-search" and torch_24.path == "torch" and cublas.path == "default"
    # H200 has a measured calibration that ships with sparsim: every H200 point rests on it
    assert set(p.basis) == {"calibrated on NVIDIA H200, 2026-11-29"}


def test_a_profile_without_a_shipped_calibration_is_datasheet_only():
    study = parse_study({"version": 1, "model": "analytic",
                         "sweep": {"hardware": ["l4", H200], "formats": ["dense"], "batch_sizes": [1]},
                         "workloads": [{"shapes": [{"m": 256, "k": 256}]}]})
    points = run_sweep(study).points
    assert dict(zip(points.hw, points.basis)) == {"l4": "datasheet only", H200: "calibrated on NVIDIA H200, 2026-11-29"}
    assert set(points[points.hw == H200].calibration) != {None}


def test_default_and_a_named_default_library_are_predicted_once():
    study = _study(impls=["default", "cusparselt", "cublas"])
    points = run_sweep(study).points
    assert study.grid_points() == len(points) == 2
    assert set(points.path) == {"default"}


def test_an_implementation_without_the_format_is_left_out_silently():
    assert resolve("grouped", ("default", "torch")) == (("reference", "default"),)
    study = parse_study({"version": 1, "model": "analytic",
                         "sweep": {"hardware": ["a100-sxm4-80gb"], "formats": ["dense", "grouped"],
                                   "densities": [0.1], "batch_sizes": [1]},
                         "workloads": [{"shapes": [{"m": 256, "k": 256}]}]})
    points = run_sweep(study).points
    assert sorted(zip(points.format, points.impl)) == [("dense", "cublas"), ("dense", "torch"),
                                                       ("grouped", "reference")]


def test_the_library_decides_the_index_width_unless_the_study_does():
    base = {"version": 1, "model": "analytic",
            "sweep": {"hardware": ["a100-sxm4-80gb"], "formats": ["csr"], "densities": [0.1], "batch_sizes": [1]},
            "workloads": [{"shapes": [{"m": 4096, "k": 4096}]}]}
    points = run_sweep(parse_study(base)).points.set_index("impl")
    int32 = points.loc["cusparse", "bytes_index"]
    # cuSPARSE is called with int32 indices, PyTorch's CSR tensors hold int64 ones: twice the bytes
    assert int32 > 4 * 0.09 * 4096 * 4096 and points.loc["torch", "bytes_index"] == 2 * int32
    assert points.loc["cusparse", "bytes_values"] == points.loc["torch", "bytes_values"]
    forced = parse_study({**base, "kernel": {"index_policy": "int64"}})
    points = run_sweep(forced).points.set_index("impl")
    assert points.loc["cusparse", "bytes_index"] == points.loc["torch", "bytes_index"] == 2 * int32


def test_unknown_or_useless_impls_are_one_line_errors():
    with pytest.raises(SparsimError) as info:
        _study(impls=["default", "tensorrt"])
    message = str(info.value)
    assert message.startswith("study s.toml: key sweep.impls: got 'tensorrt'; allowed: default, ")
    assert "cusparselt-search" in message and "torch" in message and "\n" not in message
    with pytest.raises(SparsimError, match=r"key sweep.impls: got 'cusparse'; allowed: default, .*\(the "
                                           r"implementations that run dense, 2:4\)"):
        _study(impls=["cusparse"])  # runs neither dense nor 2:4
    with pytest.raises(SparsimError, match=r"key sweep.impls: got 'torch'; allowed: each value once"):
        _study(impls=["torch", "torch"])
    with pytest.raises(SparsimError, match=r"key sweep.impls: got \[\]; allowed: a non-empty list"):
        _study(impls=[])


def test_time_split_puts_host_work_and_extra_kernels_apart():
    from types import SimpleNamespace

    p = SimpleNamespace(time_s=10.0, bound="memory", overhead_s=3.0,
                        kernels=(("main", 6.0), ("memset", 1.0)),
                        breakdown={"launch": 1.0, "hbm": 5.0, "extra kernels": 1.0, "host": 3.0})
    assert time_split(p) == {"compute": 0.0, "memory": 5.0, "latency": 0.0, "launch": 1.0, "host": 3.0,
                             "other": 1.0}
    assert set(TIME_SPLIT) >= {"host"}
