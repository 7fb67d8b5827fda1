"""Calibrator: sklearn-style, recovers known parameters, refuses what it cannot use."""

from __future__ import annotations

import numpy as np
import pytest

from sparsim.calibration import Calibration
from sparsim.errors import SparsimError
from sparsim.validate.calibrator import Calibrator, predict_records, usable_records
from sparsim.validate.spec import MeasureSpec

SHAPES = [(64, 64, 64), (256, 256, 256), (1024, 1024, 1024), (2048, 512, 64), (512, 2048, 1024)]


def _records(hw, truth: Calibration, model: str, noise: float = 0.0):
    """Records whose times are the model's own predictions under ``truth`` (a model
    identifiability test: it says nothing about real hardware)."""
    specs = [MeasureSpec("dense", m, k, n, dt) for (m, k, n) in SHAPES for dt in ("fp32", "fp64")]
    specs += [MeasureSpec(kernel, m, k, n, "fp32", density=d) for kernel in ("csr", "coo")
              for (m, k, n, d) in [(1024, 1024, 64, 0.01), (2048, 2048, 256, 0.05), (4096, 4096, 32, 0.002)]]
    records = [{**s.to_dict(), "key": s.key, "status": "ok", "hw": hw.name} for s in specs]
    times = predict_records(records, hw, truth, model)
    rng = np.random.default_rng(0)
    for r, t in zip(records, times):
        r["time_s"] = float(t * np.exp(rng.normal(0, noise)))
    return records


def test_unfitted_calibrator_says_what_to_call_first():
    with pytest.raises(SparsimError, match=r"not fitted yet; call fit\(results\) first"):
        Calibrator(hw="host").predict([])


def test_init_only_stores_its_arguments():
    c = Calibrator(hw="l4", model="analytic", params=["hbm_efficiency"], loss="linear")
    assert vars(c) == {"hw": "l4", "model": "analytic", "params": ["hbm_efficiency"], "loss": "linear",
                       "f_scale": 0.1, "max_nfev": 200, "n_starts": 4, "random_state": 0,
                       "include_flagged": False}
    assert not any(k.endswith("_") for k in vars(c))


def test_fit_recovers_the_parameters_that_made_the_data(host, model):
    truth = Calibration(hw=host.name, params={"vector_efficiency": 0.5, "tensor_efficiency": 0.8,
                                              "gather_efficiency": 0.3, "launch_scale": 5.0})
    records = _records(host, truth, model)
    fitted = Calibrator(hw=host, model=model).fit(records)
    assert fitted is not None and fitted.n_samples_ == len(records)
    assert fitted.fit_error_ < 0.02
    assert set(fitted.params_) == set(fitted.param_names_)
    predicted = fitted.predict(records)
    assert np.allclose(predicted, [r["time_s"] for r in records], rtol=0.03)
    cal = fitted.calibration_
    assert cal.hw == host.name and cal.provenance["samples"] == len(records)
    assert cal.provenance["model"] == model


def test_fit_leaves_out_failed_and_flagged_points(host, model):
    truth = Calibration(hw=host.name)
    records = _records(host, truth, model)
    records[0] = {**records[0], "status": "error", "time_s": None, "error": "out of memory: x"}
    records[1] = {**records[1], "flag": "throttled", "time_s": 1e3}
    assert len(usable_records(records)) == len(records) - 2
    assert len(usable_records(records, include_flagged=True)) == len(records) - 1
    fitted = Calibrator(hw=host, model=model, params=["vector_efficiency"]).fit(records)
    assert fitted.n_samples_ == len(records) - 2 and fitted.fit_error_ < 0.02


def test_measurements_of_another_profile_are_refused(host, model):
    records = _records(host, Calibration(hw=host.name), model)
    with pytest.raises(SparsimError, match=f"was taken for profile '{host.name}', not 'l4'"):
        Calibrator(hw="l4", model=model).fit(records)


def test_bad_settings_name_the_argument(host):
    with pytest.raises(SparsimError, match="--model: got 'magic'"):
        Calibrator(hw=host, model="magic").fit([])
    with pytest.raises(SparsimError, match="no usable measurements"):
        Calibrator(hw=host, model="analytic").fit([{"status": "error", "key": "x"}])
    records = [{**MeasureSpec("dense", 64, 64, 64, "fp32").to_dict(), "key": "k", "status": "ok", "time_s": 1e-4}]
    with pytest.raises(SparsimError, match="params: got 'warp_magic'"):
        Calibrator(hw=host, model="analytic", params=["warp_magic"]).fit(records)
