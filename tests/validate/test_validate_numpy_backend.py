"""The numpy backend times real NumPy/SciPy kernels, checks them first, and records failures."""

from __future__ import annotations

import numpy as np
import pytest

from sparsim.validate.backends.numpy_backend import NumpyBackend, others_cpu_share
from sparsim.validate.spec import MeasureSpec
from sparsim.validate.timing import TimingPolicy

FAST = TimingPolicy(warmup_s=0.005, target_s=0.02, min_reps=3, max_reps=10, rotate_budget_bytes=8 << 20,
                    max_copies=4)


@pytest.fixture(scope="module")
def backend(host_cache):
    return NumpyBackend(policy=FAST)


@pytest.mark.parametrize("kernel,dtype,density", [("dense", "fp32", 1.0), ("dense", "fp64", 1.0),
                                                  ("csr", "fp32", 0.05), ("coo", "fp64", 0.1)])
def test_a_kernel_is_checked_then_timed(backend, kernel, dtype, density):
    spec = MeasureSpec(kernel, 192, 160, 24, dtype, density=density)
    m = backend.run(spec)
    assert m.status == "ok", m.error
    assert m.hw == backend.profile().name
    assert 0 <= m.rel_error <= m.tolerance
    assert len(m.times_s) == m.reps >= FAST.min_reps and m.warmup_reps >= 2
    assert m.time_s == pytest.approx(float(np.median(m.times_s)))
    assert m.spread["min_s"] <= m.time_s <= m.spread["max_s"]
    assert 1 <= m.rotating_copies <= FAST.max_copies
    assert ("numpy.matmul" if kernel == "dense" else f"scipy.sparse.{kernel}_matrix") in m.library
    record = m.to_record()
    assert record["key"] == spec.key and record["split"] == "train"
    assert record["nnz"] == spec.work().nnz


def test_unsupported_points_are_recorded_not_raised(backend):
    fp16 = backend.run(MeasureSpec("dense", 32, 32, 32, "fp16"))
    assert fp16.status == "error" and fp16.error.startswith("unsupported: dtype 'fp16' on the numpy backend")
    nm = backend.run(MeasureSpec("2:4", 32, 32, 32, "fp16"))
    assert nm.status == "error" and "no NumPy/SciPy implementation" in nm.error
    assert fp16.time_s is None and fp16.times_s == ()


def test_a_wrong_result_is_an_error_not_a_timing(backend, monkeypatch):
    real = np.matmul

    def off_by_one(a, b, out=None):
        result = real(a, b, out=out)
        result[0, 0] += 1000.0
        return result

    # the kernel under test goes through np.matmul; the float64 reference uses the @ operator
    monkeypatch.setattr(np, "matmul", off_by_one)
    m = backend.run(MeasureSpec("dense", 64, 64, 64, "fp32"))
    assert m.status == "error"
    assert m.error.startswith("wrong result: relative error")
    assert m.times_s == ()


def test_other_processes_share_of_the_cpus():
    assert others_cpu_share((0, 0, 0), (100, 200, 100)) == 0.0
    assert others_cpu_share((0, 0, 0), (150, 200, 50)) == 0.5
    assert others_cpu_share(None, (1, 2, 3)) is None


def test_records_name_the_implementation_and_keep_call_time_as_time(backend):
    dense = backend.run(MeasureSpec("dense", 96, 64, 32, "fp32")).to_record()
    assert dense["impl"] == "numpy" and dense["kernel_s"] is None
    assert dense["call_s"] == dense["time_s"] > 0 and dense["b_layout"] is None
    csr = backend.run(MeasureSpec("csr", 96, 64, 32, "fp32", density=0.1)).to_record()
    assert csr["impl"] == "scipy" and csr["b_layout"] == "row" and csr["index_bits"] == 32
    assert csr["call_s"] == csr["time_s"]


def test_int64_indices_are_their_own_variant_and_scipy_refuses_them(backend):
    spec = MeasureSpec("coo", 96, 64, 32, "fp64", density=0.1, index_bits=64)
    m = backend.run(spec)
    assert m.status == "error" and m.error.startswith("unsupported: index_bits 64 on the numpy backend")
    record = m.to_record()
    assert record["index_bits"] == 64 and record["impl"] == "scipy"
    assert record["key"].endswith("|i64") and record["key"] != MeasureSpec("coo", 96, 64, 32, "fp64", 0.1).key


def test_an_implementation_the_cpu_does_not_have_is_refused(backend):
    m = backend.run(MeasureSpec("dense", 32, 32, 32, "fp32", impl="cublas"))
    assert m.status == "error" and m.error == "unsupported: impl 'cublas' for dense on the numpy backend; allowed: numpy"
    assert m.to_record()["impl"] == "numpy"
    col = backend.run(MeasureSpec("csr", 32, 32, 32, "fp32", density=0.1, b_layout="col"))
    assert col.error == "unsupported: b_layout 'col' on the numpy backend; allowed: row"
