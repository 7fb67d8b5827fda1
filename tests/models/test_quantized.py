"""Quantized work counts the stored weight, its scales and metadata, what the GEMM runs in,
and the bytes of the activation-quantization kernel; hand-counted numbers."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsim.errors import SparsimError
from sparsim.models.quant import weight_storage
from sparsim.models.quantized import compute_dtype, quantize_work
from sparsim.models.work import build_work


def test_int4_group_128_with_zero_points_is_a_quarter_plus_scales():
    w = quantize_work(build_work("dense", m=4096, k=4096, n=1), "w4a16")
    # 4096*4096 values of 4 bits; 4096 rows x 32 groups of bf16 scale and zero
    assert (w.bytes_values, w.bytes_index) == (8_388_608, 2 * 4096 * 32 * 2)
    assert w.a_element_bytes == 0.5 + 4 / 128
    assert (w.dtype, w.quant, w.dequant_ops, w.act_quant_bytes) == ("fp16", "w4a16", 0.0, (0, 0))


def test_sparse_marlin_keeps_half_the_values_plus_two_bits_each():
    w = quantize_work(build_work("2:4", m=4096, k=4096, n=16), "w4a16", zero_point=False, dequant_ops=1.875)
    kept = 4096 * 4096 // 2
    assert w.bytes_values == kept // 2                    # 4 bits per kept value
    assert w.bytes_index == kept * 2 // 8 + 4096 * 32 * 2  # metadata + fp16 scales, no zeros
    assert w.a_element_bytes == pytest.approx(0.5 * (4 + 2) / 8 + 2 / 128)
    assert w.dequant_ops == pytest.approx(1.875 / 2)      # per logical element: half are stored


def test_w8a8_runs_in_int8_writes_the_model_dtype_and_quantizes_its_tokens():
    w = quantize_work(build_work("dense", m=1024, k=2048, n=8, dtype="int8"), "w8a8", model_dtype="bf16")
    assert (w.bytes_values, w.bytes_index) == (1024 * 2048, 1024 * 4)  # int8 values, fp32 row scales
    assert w.bytes_c == 1024 * 8 * 2                                 # bf16 out, not int32
    assert w.act_quant_bytes == (8 * 2048 * 2, 8 * 2048 + 8 * 4)     # read bf16; write int8 + fp32 per token
    fused = quantize_work(build_work("dense", m=1024, k=2048, n=8, dtype="int8"), "w8a8", model_dtype="bf16",
                          act_quant="fused")
    assert fused.act_quant_bytes == (0, 0)


def test_compute_dtype_follows_the_scheme():
    assert [compute_dtype(q, "bf16") for q in (None, "w8a16", "w4a16", "fp8", "w8a8")] == [
        "bf16", "bf16", "bf16", "fp8", "int8"]
    with pytest.raises(SparsimError, match=r"--dtype: got 'fp32' with --quant w4a16; allowed: fp16, bf16"):
        compute_dtype("w4a16", "fp32")


def test_a_gather_kernel_or_a_mismatched_dtype_is_refused_in_one_line():
    with pytest.raises(SparsimError, match=r"--quant: got 'w8a8' with --kernel csr; allowed: dense, channel, 2:4"):
        quantize_work(build_work("csr", m=64, k=64, n=8, density=0.1), "w8a8")
    with pytest.raises(SparsimError, match="runs in 'int8'"):
        quantize_work(build_work("dense", m=64, k=64, n=8, dtype="fp16"), "w8a8")


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 3000), k=st.sampled_from([128, 256, 384, 1024, 4096, 11008]),
       quant=st.sampled_from(["w8a16", "w4a16", "fp8", "w8a8"]), sparse=st.booleans())
def test_per_element_bytes_agree_with_the_stored_bytes_and_never_exceed_fp16(m, k, quant, sparse):
    kernel = "2:4" if sparse else "dense"
    dtype = compute_dtype(quant, "fp16")
    w = quantize_work(build_work(kernel, m=m, k=k, n=4, dtype=dtype), quant)
    stored = weight_storage(m, k, quant, sparse_nm=(2, 4) if sparse else None).bytes_total
    assert w.bytes_a == stored
    # the per-element figure only drops the rounding of whole bytes (at most 1 per part)
    assert abs(w.a_element_bytes * m * k - stored) <= 4
    assert stored < 2 * m * k
