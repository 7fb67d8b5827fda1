"""Aggregation: layer rows reduced to what each chart draws, with repeat counts applied."""

import math

import pandas as pd
import pytest

from sparsim.reports import aggregate as agg


def _table(rows):
    base = {"workload": "w", "hw": "gpu", "dtype": "fp16", "layer_order": 0, "bytes_values": 0, "bytes_index": 0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_model_totals_multiply_each_layer_by_its_count():
    t = _table([
        {"layer": "a", "layer_count": 32, "format": "dense", "density": 1.0, "batch": 1, "time_s": 1e-5,
         "bytes_values": 100, "bytes_index": 0},
        {"layer": "b", "layer_count": 1, "format": "dense", "density": 1.0, "batch": 1, "time_s": 5e-5,
         "bytes_values": 7, "bytes_index": 1},
    ])
    totals = agg.model_totals(t)
    assert len(totals) == 1
    row = totals.iloc[0]
    assert row.time_s == pytest.approx(32 * 1e-5 + 5e-5)
    assert (row.bytes_values, row.bytes_index, row.layers) == (3207, 1, 33)


def test_break_even_is_the_highest_density_still_faster_than_dense():
    rows = [{"layer": "a", "layer_count": 1, "format": "dense", "density": d, "batch": 1, "time_s": 1.0}
            for d in (0.05, 0.1, 0.2)]
    rows += [{"layer": "a", "layer_count": 1, "format": "csr", "density": d, "batch": 1, "time_s": t}
             for d, t in ((0.05, 0.4), (0.1, 0.8), (0.2, 1.6))]
    rows += [{"layer": "a", "layer_count": 1, "format": "coo", "density": d, "batch": 1, "time_s": 2.0}
             for d in (0.05, 0.1, 0.2)]
    rows += [{"layer": "a", "layer_count": 1, "format": "2:4", "density": d, "batch": 1, "time_s": 0.625}
             for d in (0.05, 0.1, 0.2)]
    be = agg.break_even(agg.model_totals(_table(rows))).set_index("format")
    assert be.loc["csr", "break_even_density"] == 0.1 and be.loc["csr", "speedup"] == pytest.approx(1.25)
    assert math.isnan(be.loc["coo", "break_even_density"]) and be.loc["coo", "best_speedup"] == 0.5
    # 2:4 keeps half whatever the density: it pays at its structured 50% or not at all
    assert be.loc["2:4", "break_even_density"] == 0.5 and be.loc["2:4", "speedup"] == pytest.approx(1.6)


def test_weight_memory_ignores_gpu_and_batch():
    rows = [{"layer": "a", "layer_count": 2, "format": "csr", "density": 0.1, "batch": b, "hw": hw, "time_s": 1.0,
             "bytes_values": 10, "bytes_index": 30} for b in (1, 8) for hw in ("x", "y")]
    mem = agg.weight_memory(agg.model_totals(_table(rows)))
    assert mem[["format", "density", "bytes_values", "bytes_index"]].values.tolist() == [["csr", 0.1, 20, 60]]


def test_roofline_points_use_executed_flops_per_dram_byte():
    p = pd.DataFrame([{"workload": "w", "m": 8, "k": 8, "n": 8, "batch": 8, "hw": "g", "dtype": "fp16",
                       "format": "dense", "density": 1.0, "bound": "compute", "time_s": 1e-6,
                       "flops_executed": 1024, "flops_useful": 512, "bytes_hbm": 256, "peak_flops_per_s": 1e12,
                       "hbm_bytes_per_s": 1e11, "math": "tensor"}])
    r = agg.roofline_points(p).iloc[0]
    assert (r.intensity, r.tflops, r.useful_tflops) == (4.0, pytest.approx(1024e-6), pytest.approx(512e-6))


def test_default_choice_prefers_a_swept_value():
    assert agg.default_choice([1, 8, 64], prefer=8) == 8
    assert agg.default_choice([0.1, 0.2, 0.5], prefer=0.3) == 0.2


def test_a_format_still_faster_at_the_top_swept_density_is_marked_beyond_the_sweep():
    # issue 11: channel pruning at the top swept density was shown as if that were its limit
    rows = [{"layer": "a", "layer_count": 1, "format": "dense", "density": d, "batch": 1, "time_s": 1.0}
            for d in (0.1, 0.5)]
    rows += [{"layer": "a", "layer_count": 1, "format": "channel", "density": d, "batch": 1, "time_s": d}
             for d in (0.1, 0.5)]
    rows += [{"layer": "a", "layer_count": 1, "format": "csr", "density": d, "batch": 1, "time_s": t}
             for d, t in ((0.1, 0.5), (0.5, 3.0))]
    be = agg.break_even(agg.model_totals(_table(rows))).set_index("format")
    assert be.loc["channel", "break_even_density"] == 0.5 and bool(be.loc["channel", "beyond_swept"])
    assert be.loc["csr", "break_even_density"] == 0.1 and not be.loc["csr", "beyond_swept"]
