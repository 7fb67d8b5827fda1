"""Timing helpers: median and spread, rotating buffers, and the reference check."""

from __future__ import annotations

import numpy as np
import pytest

from sparsim.validate.timing import (TimingPolicy, reference_tolerance, relative_error, rotation_copies,
                                     summarize)


def test_summary_is_median_and_quartiles():
    s = summarize([4.0, 1.0, 3.0, 2.0])
    assert (s["median_s"], s["min_s"], s["max_s"]) == (2.5, 1.0, 4.0)
    assert s["p25_s"] == pytest.approx(1.75) and s["p75_s"] == pytest.approx(3.25)
    assert s["rel_iqr"] == pytest.approx(1.5 / 2.5)


def test_repetitions_fill_the_budget_within_bounds():
    policy = TimingPolicy(target_s=1.0, min_reps=5, max_reps=40)
    assert policy.reps_for(0.1) == 10
    assert policy.reps_for(1.0) == 5
    assert policy.reps_for(1e-6) == 40


def test_rotation_overflows_the_cache_unless_too_costly():
    policy = TimingPolicy(rotate_llc_multiple=2.0, rotate_budget_bytes=64 << 20, max_copies=100)
    assert rotation_copies(4 << 20, 32 << 20, policy) == 16  # 16 x 4 MiB = 2 x 32 MiB
    assert rotation_copies(8 << 20, 32 << 20, policy) == 8
    assert rotation_copies(16 << 20, 32 << 20, policy) == 4
    assert rotation_copies(48 << 20, 32 << 20, policy) == 1  # the budget allows one copy
    assert rotation_copies(80 << 20, 32 << 20, policy) == 1  # one set already spills the cache


@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
def test_a_correct_product_passes_and_a_dropped_nonzero_fails(dtype):
    rng = np.random.default_rng(0)
    np_type = {"fp32": np.float32, "fp64": np.float64}[dtype]
    a = rng.uniform(0.5, 1.5, (64, 512)).astype(np_type)
    b = rng.uniform(0.5, 1.5, (512, 32)).astype(np_type) * np.where(rng.random((512, 32)) < 0.5, -1, 1)
    reference = a.astype(np.float64) @ b.astype(np.float64)
    tol = reference_tolerance(dtype, 512)
    assert relative_error(a @ b, reference) <= tol
    broken = a.copy()
    broken[3, 7] = 0  # one of 32768 values lost
    assert relative_error(broken @ b, reference) > tol


def test_tolerance_grows_with_k_and_shrinks_with_precision():
    assert reference_tolerance("fp64", 4096) < reference_tolerance("fp32", 4096) < reference_tolerance("fp16", 4096)
    assert reference_tolerance("fp32", 64) < reference_tolerance("fp32", 16384)
    assert reference_tolerance("bf16", 16384) < 0.2  # a wrong result (error ~1) still fails
