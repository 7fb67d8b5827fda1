"""Calibrator: sklearn-style, per implementation, inside physical ranges; reports what the
data does not identify instead of writing it, and cross-validates by shape."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sparsim.calibration import Calibration
from sparsim.errors import SparsimError
from sparsim.hwprofiles import load_profile
from sparsim.simulator.params import DEFAULT_PARAMS, PARAM_BOUNDS, PARAM_DOCS
from sparsim.validate.calibrator import Calibrator, group_folds, predict_records, usable_records, with_measured
from sparsim.validate.spec import MeasureSpec, impl_of

GPU = "a100-sxm4-80gb"
DENSE_SHAPES = [(512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (4096, 1024, 256), (1024, 4096, 2048),
                (8192, 8192, 1024), (256, 8192, 4096), (3072, 3072, 3072)]


def _records(hw, truth, model, specs, backend="cupy", noise=0.0, seed=0):
    """Records whose times are the model's own predictions under ``truth`` (a model
    identifiability test: it says nothing about real hardware)."""
    records = [{**s.to_dict(), "key": s.key, "status": "ok", "hw": hw.name, "backend": backend} for s in specs]
    times = predict_records(records, hw, truth, model)
    rng = np.random.default_rng(seed)
    for r, t in zip(records, times):
        r["time_s"] = float(t * math.exp(rng.normal(0, noise)))
    return records


def _dense_specs():
    return [MeasureSpec("dense", m, k, n, dt) for (m, k, n) in DENSE_SHAPES for dt in ("fp16", "fp32")]


def test_unfitted_calibrator_says_what_to_call_first():
    with pytest.raises(SparsimError, match=r"not fitted yet; call fit\(results\) first"):
        Calibrator(hw="host").predict([])


def test_init_only_stores_its_arguments():
    c = Calibrator(hw="l4", model="analytic", params=["hbm_efficiency"], loss="linear")
    assert vars(c) == {"hw": "l4", "model": "analytic", "params": ["hbm_efficiency"], "measured": None,
                       "max_params": 3, "folds": 5, "loss": "linear", "f_scale": 0.1, "max_nfev": 25,
                       "n_starts": 0, "random_state": 0, "max_uncertainty": math.log(2.0),
                       "exact_cv": False, "include_flagged": False, "start": None}
    assert not any(k.endswith("_") for k in vars(c))


def test_every_parameter_has_a_documented_physical_range():
    assert set(PARAM_BOUNDS) == set(DEFAULT_PARAMS) == set(PARAM_DOCS)
    for name, (lo, hi) in PARAM_BOUNDS.items():
        assert 0 < lo < DEFAULT_PARAMS[name] <= hi, name
        if name.endswith("_efficiency"):
            assert lo >= 0.05 and hi == 1.0, name
    assert PARAM_BOUNDS["gather_loads_in_flight"] == (1.0, 64.0)
    assert PARAM_BOUNDS["sm_l2_bytes_per_clk"] == (16.0, 256.0)


def test_impl_is_inferred_for_records_written_before_the_impl_field():
    assert impl_of({"backend": "cupy", "kernel": "dense"}) == "cublas"
    assert impl_of({"backend": "cupy", "kernel": "coo"}) == "cusparse"
    assert impl_of({"backend": "cupy", "kernel": "2:4", "library": "torch 2.11 to_sparse_semi_structured"}) == "torch"
    assert impl_of({"backend": "numpy", "kernel": "dense"}) == "numpy"
    assert impl_of({"backend": "numpy", "kernel": "csr"}) == "scipy"
    assert impl_of({"backend": "cupy", "kernel": "csr", "impl": "cusparse"}) == "cusparse"


def test_group_folds_keep_a_shape_in_one_fold():
    groups = [(1, 1, 1), (2, 2, 2), (1, 1, 1), (3, 3, 3), (2, 2, 2), (4, 4, 4)]
    folds = group_folds(groups, 3)
    assert sorted(i for f in folds for i in f) == list(range(6))
    for fold in folds:
        inside = {groups[i] for i in fold}
        assert all(groups[i] not in inside for other in folds if other is not fold for i in other)


def test_fit_recovers_the_parameter_that_made_the_data_per_implementation(model):
    hw = load_profile(GPU)
    truth = Calibration(hw=hw.name, impl_params={"cublas": {"tensor_efficiency": 0.6}})
    records = _records(hw, truth, model, _dense_specs())
    fitted = Calibrator(hw=GPU, model=model, params=["tensor_efficiency"], folds=3).fit(records)
    assert fitted.n_samples_ == len(records)
    assert set(fitted.impl_params_) == {"cublas"}
    assert fitted.impl_params_["cublas"]["tensor_efficiency"] == pytest.approx(0.6, rel=0.02)
    assert fitted.fit_error_ < 0.01 < fitted.datasheet_fit_error_
    row = next(r for r in fitted.param_report_ if r["param"] == "tensor_efficiency")
    assert row["status"] == "fitted" and row["std_log"] < 0.05
    # cross-validated by shape, and better than the datasheet on the folds
    assert fitted.cv_mape_["dense"] < 0.01 < fitted.cv_datasheet_mape_["dense"]
    cal = fitted.calibration_
    assert dict(cal.params) == {} and dict(cal.impl_params["cublas"]) == fitted.impl_params_["cublas"]
    assert cal.provenance["model"] == model and cal.provenance["samples"] == len(records)
    assert cal.provenance["fitted"] == ["cublas.tensor_efficiency"]
    assert np.allclose(fitted.predict(records), [r["time_s"] for r in records], rtol=0.02)


def test_a_parameter_at_its_bound_is_reported_kept_at_default_and_not_written(model):
    hw = load_profile(GPU)
    # data 3x slower than a 0.2-efficient tensor core: the fit runs into the lower edge
    truth = Calibration(hw=hw.name, impl_params={"cublas": {"tensor_efficiency": 0.2}})
    records = _records(hw, truth, model, _dense_specs())
    for r in records:
        r["time_s"] *= 3.0
    fitted = Calibrator(hw=GPU, model=model, params=["tensor_efficiency"], folds=0).fit(records)
    row = next(r for r in fitted.param_report_ if r["param"] == "tensor_efficiency")
    assert row["status"].startswith("at bound") and row["value"] == pytest.approx(PARAM_BOUNDS["tensor_efficiency"][0])
    assert "cublas" not in fitted.impl_params_
    assert "cublas.tensor_efficiency" in fitted.calibration_.provenance["not_fitted"]
    assert fitted.calibration_.param("tensor_efficiency", impl="cublas") == DEFAULT_PARAMS["tensor_efficiency"]


def test_a_parameter_the_data_cannot_see_is_not_fitted(model):
    hw = load_profile(GPU)
    records = _records(hw, Calibration(hw=hw.name), model, _dense_specs(), noise=0.05)
    # gather loads in flight moves no dense GEMM: never a candidate, never written
    fitted = Calibrator(hw=GPU, model=model, params=["tensor_efficiency", "gather_loads_in_flight"],
                        folds=0).fit(records)
    assert "gather_loads_in_flight" not in fitted.impl_params_.get("cublas", {})
    assert all(r["param"] != "gather_loads_in_flight" or r["status"] != "fitted" for r in fitted.param_report_)


def test_fit_leaves_out_failed_and_flagged_points(model):
    hw = load_profile(GPU)
    records = _records(hw, Calibration(hw=hw.name), model, _dense_specs())
    records[0] = {**records[0], "status": "error", "time_s": None, "error": "out of memory: x"}
    records[1] = {**records[1], "flag": "throttled", "time_s": 1e3}
    records[2] = {**records[2], "flag": "contended"}
    assert len(usable_records(records)) == len(records) - 3
    assert len(usable_records(records, include_flagged=True)) == len(records) - 1
    assert len(usable_records(records, include_flagged={"contended"})) == len(records) - 2
    fitted = Calibrator(hw=GPU, model=model, params=["tensor_efficiency"], folds=0).fit(records)
    assert fitted.n_samples_ == len(records) - 3


def test_kernel_and_call_times_are_each_compared_with_their_prediction(model):
    hw = load_profile(GPU)
    records = _records(hw, Calibration(hw=hw.name), model, _dense_specs()[:4])
    for r in records:
        r["kernel_s"] = r.pop("time_s")
    fitted = Calibrator(hw=GPU, model=model, params=["tensor_efficiency"], folds=0).fit(records)
    assert len(fitted.residuals_) == 4 and np.max(np.abs(fitted.residuals_)) < 1e-9


def test_measured_ceilings_replace_datasheet_values():
    hw = load_profile(GPU)
    faster = with_measured(hw, {"hbm_bytes_per_s": 1.0e12, "tensor_flops_per_s.fp16": 2.0e14, "clock_mhz": 1000.0})
    assert faster.hbm_bytes_per_s == 1.0e12 and faster.tensor_dense_flops_per_s["fp16"] == 2.0e14
    assert faster.boost_clock_mhz == 1000.0 and faster.l2_bytes == hw.l2_bytes
    assert with_measured(hw, {}) is hw


def test_measurements_of_another_profile_are_refused(model):
    hw = load_profile(GPU)
    records = _records(hw, Calibration(hw=hw.name), model, _dense_specs()[:2])
    with pytest.raises(SparsimError, match=f"was taken for profile '{hw.name}', not 'l4'"):
        Calibrator(hw="l4", model=model).fit(records)


def test_bad_settings_name_the_argument():
    with pytest.raises(SparsimError, match="--model: got 'magic'"):
        Calibrator(hw=GPU, model="magic").fit([])
    with pytest.raises(SparsimError, match="folds: got 1"):
        Calibrator(hw=GPU, folds=1).fit([])
    with pytest.raises(SparsimError, match="no usable measurements"):
        Calibrator(hw=GPU, model="analytic").fit([{"status": "error", "key": "x"}])
    records = [{**MeasureSpec("dense", 64, 64, 64, "fp32").to_dict(), "key": "k", "status": "ok", "time_s": 1e-4}]
    with pytest.raises(SparsimError, match="params: got 'warp_magic'"):
        Calibrator(hw=GPU, model="analytic", params=["warp_magic"]).fit(records)


def test_linearized_cross_validation_agrees_with_refitting_every_fold(model):
    hw = load_profile(GPU)
    truth = Calibration(hw=hw.name, impl_params={"cublas": {"tensor_efficiency": 0.7}})
    records = _records(hw, truth, model, _dense_specs(), noise=0.08, seed=3)
    quick = Calibrator(hw=GPU, model=model, params=["tensor_efficiency"], folds=4).fit(records)
    exact = Calibrator(hw=GPU, model=model, params=["tensor_efficiency"], folds=4, exact_cv=True).fit(records)
    assert quick.cv_mape_["dense"] == pytest.approx(exact.cv_mape_["dense"], abs=0.01)
    assert quick.cv_datasheet_mape_ == exact.cv_datasheet_mape_
    assert quick.evaluations_ < exact.evaluations_


def test_measured_points_are_one_more_input_fitted_by_the_table_their_kernels_read():
    # torch.mm runs cuBLAS's kernels: its points fit the [impl.cublas] table that its
    # predictions read (a [impl.torch] table would be written and never used)
    from sparsim.problem import Problem
    from sparsim.validate.points import Point, predict_points

    hw = load_profile(GPU)
    problems = [Problem("dense", m=m, k=k, n=n, dtype="fp16", impl="torch") for (m, k, n) in DENSE_SHAPES]
    truth = Calibration(hw=GPU, impl_params={"cublas": {"tensor_efficiency": 0.6}})
    probe = [Point(p, "kernel", 1.0) for p in problems]
    times = predict_points(probe, truth, hw=hw, model="des")
    points = [Point(p, "kernel", float(t), group=(p.m, p.k, p.n)) for p, t in zip(problems, times)]
    scored_only = Point(problems[0], "call", 1.0, fit=False)  # a per-call time with host work: scores only
    fitted = Calibrator(hw=GPU, params={"cublas": ["tensor_efficiency"]}, folds=0).fit(points + [scored_only])
    assert set(fitted.impl_params_) == {"cublas"}
    assert fitted.impl_params_["cublas"]["tensor_efficiency"] == pytest.approx(0.6, rel=0.02)
    assert fitted.n_samples_ == len(points) and fitted.fit_error_ < 0.01
