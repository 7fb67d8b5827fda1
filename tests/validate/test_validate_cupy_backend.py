"""The cupy backend: its plumbing is tested everywhere; real GPU runs only where CuPy sees
a GPU (marked ``gpu``, skipped otherwise). Nothing here fakes a GPU measurement."""

from __future__ import annotations

import types

import pytest

from sparsim.cli import main
from sparsim.errors import SparsimError
from sparsim.validate.backends import Unsupported
from sparsim.validate.backends.cupy_backend import (SPMM_CONSTANTS, CupyBackend, _host_pattern, cupy_available,
                                                    dense_dtype_name, match_profile, resolve_dtype,
                                                    sparse_dtype_name, spmm_layout)
from sparsim.validate.backends.nm import select_nm_library
from sparsim.validate.spec import MeasureSpec
from sparsim.validate.timing import TimingPolicy

GPU, WHY = cupy_available()
gpu = pytest.mark.skipif(not GPU, reason=f"needs a CUDA GPU with CuPy: {WHY}")


@pytest.mark.parametrize("dtype,name", [("fp16", "float16"), ("bf16", "bfloat16"), ("fp32", "float32"),
                                        ("fp64", "float64")])
def test_dense_dtypes_map_to_cublas_types(dtype, name):
    assert dense_dtype_name(dtype) == name


def test_sparse_spmm_value_types():
    assert sparse_dtype_name("fp32") == "float32" and sparse_dtype_name("fp64") == "float64"
    assert sparse_dtype_name("fp16") == "float16"
    with pytest.raises(Unsupported, match="dtype 'bf16' for cuSPARSE SpMM; allowed: fp16, fp32, fp64"):
        sparse_dtype_name("bf16")
    with pytest.raises(Unsupported, match="dtype 'int8' for cupy.matmul"):
        dense_dtype_name("int8")


def test_bfloat16_needs_a_cupy_that_has_it():
    old = types.SimpleNamespace(__version__="13.0.0", float32="f4")
    with pytest.raises(Unsupported, match="bf16: cupy 13.0.0 has no bfloat16 dtype"):
        resolve_dtype(old, "bfloat16")
    assert resolve_dtype(types.SimpleNamespace(__version__="14", bfloat16="bf"), "bfloat16") == "bf"
    assert resolve_dtype(old, "float32") == "f4"


@pytest.mark.parametrize("name,profile", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm5-80gb"), ("NVIDIA H100 PCIe", "h100-pcie-80gb"),
    ("NVIDIA H200", "h200-sxm-141gb"), ("NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb"),
    ("NVIDIA A100-SXM4-40GB", "a100-sxm4-40gb"), ("NVIDIA L4", "l4"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("Tesla V100-SXM2-32GB", "v100-sxm2-32gb"),
    ("NVIDIA GeForce GTX 1080", None),
])
def test_device_names_pick_a_builtin_profile(name, profile):
    assert match_profile(name) == profile


def _importer(available: dict):
    def import_module(name):
        if name in available:
            return available[name]
        raise ModuleNotFoundError(f"No module named {name!r}")
    return import_module


def test_24_unavailable_says_why_for_each_library():
    torch = types.SimpleNamespace(__version__="2.5.0", cuda=types.SimpleNamespace(is_available=lambda: False))
    lib = select_nm_library(import_module=_importer({"torch": torch}))
    assert not lib.available and lib.name == "none"
    assert lib.reason.startswith("2:4 unavailable: cupy_backends.cuda.libs.cusparselt: ModuleNotFoundError")
    assert "torch: RuntimeError: torch.cuda.is_available() is False" in lib.reason
    assert "\n" not in lib.reason


def test_24_prefers_cupys_cusparselt_then_torch():
    cslt = types.SimpleNamespace()
    assert select_nm_library(import_module=_importer({"cupy_backends.cuda.libs.cusparselt": cslt})).module is cslt
    torch = types.SimpleNamespace(
        __version__="2.5.0", cuda=types.SimpleNamespace(is_available=lambda: True),
        sparse=types.SimpleNamespace(to_sparse_semi_structured=lambda a: a),
        backends=types.SimpleNamespace(cusparselt=types.SimpleNamespace(is_available=lambda: True)))
    lib = select_nm_library(import_module=_importer({"torch": torch}))
    assert lib.available and lib.name == "torch 2.5.0 to_sparse_semi_structured (cuSPARSELt)"


def test_24_on_this_machine_is_reported_either_way():
    lib = select_nm_library()
    assert lib.available or lib.reason.startswith("2:4 unavailable: ")


@pytest.mark.skipif(GPU, reason="this machine has a GPU")
def test_without_a_gpu_the_backend_refuses_in_one_line(capsys, tmp_path):
    with pytest.raises(SparsimError, match="--backend cupy: .*allowed: a machine with an NVIDIA GPU, or --backend numpy"):
        CupyBackend()
    code = main(["calibrate", "--backend", "cupy", "--quick", "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("sparsim: error: --backend cupy: ") and err.count("\n") == 1
    assert not (tmp_path / "c" / "results.jsonl").exists()


@pytest.mark.parametrize("layout,expected", [("row", (2, 64, 64)), ("col", (1, 96, 128))])
def test_spmm_order_and_leading_dimensions(layout, expected):
    # B is K x N = 96 x 64, C is M x N = 128 x 64; cusparse.h: CUSPARSE_ORDER_COL = 1, _ROW = 2
    assert spmm_layout(layout, m=128, k=96, n=64) == expected
    assert SPMM_CONSTANTS["CUSPARSE_INDEX_32I"] == 2 and SPMM_CONSTANTS["CUSPARSE_INDEX_64I"] == 3


def test_the_host_pattern_is_shared_across_n():
    _host_pattern.cache_clear()
    a = _host_pattern("csr", 256, 128, 0.05, "uniform", 0)
    again = _host_pattern("csr", 256, 128, 0.05, "uniform", 0)
    assert again is a and a.shape == (256, 128)
    assert a.nnz == MeasureSpec("csr", 256, 128, 7, "fp32", 0.05).work().nnz
    nm = _host_pattern("2:4", 64, 64, 0.5, "nm", 0)
    assert nm.nnz == 64 * 64 // 2


def test_records_of_each_variant_have_their_own_key_and_fields():
    from sparsim.validate.backends.base import Measurement

    keys = set()
    for layout in ("row", "col"):
        for bits in (32, 64):
            spec = MeasureSpec("csr", 4096, 4096, 64, "fp16", 0.01, impl="cusparse", b_layout=layout, index_bits=bits)
            record = Measurement(spec=spec, backend="cupy", hw="h200-sxm-141gb", status="ok", time_s=2e-5,
                                 kernel_s=2e-5, call_s=3e-5, impl="cusparse", b_layout=layout,
                                 index_bits=bits).to_record()
            assert (record["impl"], record["b_layout"], record["index_bits"]) == ("cusparse", layout, bits)
            assert record["time_s"] == record["kernel_s"] == 2e-5 and record["call_s"] == 3e-5
            keys.add(record["key"])
    assert len(keys) == 4
    spec = MeasureSpec("2:4", 4096, 4096, 64, "fp16", impl="cusparselt-search")
    record = Measurement(spec=spec, backend="cupy", hw="h200-sxm-141gb", status="ok", time_s=1e-5, kernel_s=1e-5,
                         call_s=2e-5, impl="cusparselt-search", plan_s=0.01, compress_s=0.002).to_record()
    assert record["plan_s"] == 0.01 and record["compress_s"] == 0.002 and record["impl"] == "cusparselt-search"


# -- on a real GPU ----------------------------------------------------------------------

GPU_FAST = TimingPolicy(warmup_s=0.01, target_s=0.02, min_reps=3, max_reps=10)


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("kernel,dtype", [("dense", "fp16"), ("dense", "fp32"), ("csr", "fp32"), ("coo", "fp64")])
def test_gpu_kernels_are_checked_and_timed(kernel, dtype):
    backend = CupyBackend(policy=GPU_FAST)
    try:
        m = backend.run(MeasureSpec(kernel, 1024, 1024, 256, dtype, density=0.05 if kernel != "dense" else 1.0))
    finally:
        backend.close()
    assert m.status == "ok", m.error
    assert m.rel_error <= m.tolerance and m.time_s > 0
    assert ("cuBLAS" if kernel == "dense" else "cuSPARSE SpMM") in m.library
    assert m.time_s == m.kernel_s and m.call_s >= 0.5 * m.kernel_s
    assert m.impl == ("cublas" if kernel == "dense" else "cusparse")
    if backend.telemetry is not None:
        assert len(m.telemetry) == len(m.times_s)
        assert {"sm_clock_mhz", "reasons", "throttled"} <= set(m.telemetry[0])


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("layout,bits", [("row", 32), ("row", 64), ("col", 32), ("col", 64)])
def test_gpu_spmm_variants(layout, bits):
    backend = CupyBackend(policy=GPU_FAST)
    try:
        m = backend.run(MeasureSpec("csr", 2048, 2048, 64, "fp16", 0.01, b_layout=layout, index_bits=bits))
    finally:
        backend.close()
    assert m.status == "ok", m.error
    assert (m.b_layout, m.index_bits, m.impl) == (layout, bits, "cusparse")


@pytest.mark.gpu
@gpu
def test_gpu_bf16_dense_through_gemm_ex():
    backend = CupyBackend(policy=GPU_FAST)
    try:
        m = backend.run(MeasureSpec("dense", 1024, 1024, 512, "bf16"))
    finally:
        backend.close()
    assert m.status == "ok", m.error
    assert 1e-4 < m.rel_error <= m.tolerance  # bf16 rounding shows, but within the bound


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("impl", ["cusparselt", "cusparselt-search"])
def test_gpu_cusparselt_records_plan_and_compress(impl):
    backend = CupyBackend(policy=GPU_FAST)
    try:
        m = backend.run(MeasureSpec("2:4", 1024, 1024, 256, "fp16", impl=impl))
    finally:
        backend.close()
    if backend._lt is None:
        pytest.skip(f"no libcusparseLt: {backend._lt_error}")
    assert m.status == "ok", m.error
    assert m.plan_s > 0 and m.compress_s > 0 and m.impl == impl


@pytest.mark.gpu
@gpu
def test_gpu_out_of_memory_is_a_failed_point_and_the_run_goes_on(monkeypatch):
    backend = CupyBackend(policy=GPU_FAST)
    real = backend._dense

    def too_big(spec, impl):  # a real device allocation of 2 TiB: CuPy's OutOfMemoryError
        if spec.m == 4096:
            backend.cp.empty(1 << 41, dtype=backend.cp.uint8)
        return real(spec, impl)

    monkeypatch.setattr(backend, "_dense", too_big)
    try:
        huge = backend.run(MeasureSpec("dense", 4096, 256, 256, "fp32"))
        small = backend.run(MeasureSpec("dense", 256, 256, 256, "fp32"))
    finally:
        backend.close()
    assert huge.status == "error" and huge.error.startswith("cudaErrorMemoryAllocation: out of memory")
    assert small.status == "ok"


@pytest.mark.gpu
@gpu
def test_gpu_24_runs_or_says_why():
    backend = CupyBackend(policy=GPU_FAST)
    try:
        m = backend.run(MeasureSpec("2:4", 1024, 1024, 1024, "fp16"))
    finally:
        backend.close()
    if backend._lt is not None or backend.nm.available:
        assert m.status == "ok", m.error
        assert m.library.startswith("cuSPARSELt") or m.library.startswith(backend.nm.name)
    else:
        assert m.status == "error" and "2:4 unavailable" in m.error


def test_host_operands_reuse_a_across_n_and_never_hold_zeros():
    from sparsim.validate.backends.cupy_backend import host_operands

    a8, b8 = host_operands(MeasureSpec("dense", 64, 32, 8, "fp16"))
    a16, b16 = host_operands(MeasureSpec("dense", 64, 32, 16, "fp16"))
    assert a8 is a16 and b8.shape == (32, 8) and b16.shape == (32, 16)
    assert (a8 != 0).all() and (b16 != 0).all()
    nm, _ = host_operands(MeasureSpec("2:4", 64, 32, 8, "fp16"), dense_a=True)
    assert nm.shape == (64, 32) and (nm != 0).sum() == 64 * 32 // 2
