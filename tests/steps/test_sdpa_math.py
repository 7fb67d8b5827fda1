"""gpt-fast/torchao decode attention on SDPA's math backend (attention="repeat-kv-math")."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsim
from sparsim.models.step_ops import AttentionWork
from sparsim.hwprofiles import load_profile
from sparsim.steps.framework import VIEW_CALL_S, host_seconds
from sparsim.steps.hosts import resolve_host
from sparsim.steps.sdpa_math import applies, math_kernels

A100 = "a100-sxm4-80gb"


def test_bf16_math_backend_copies_k_and_v_to_fp32_and_reads_them_again():
    w = AttentionWork(1, 32, 32, 128, 1, 4096, False, 2, 2)
    ks = {name: (r, wr) for name, r, wr, _ in math_kernels(w)}
    kv = 32 * 4096 * 128
    assert ks["k_to_fp32"] == (kv * 2, kv * 4) and ks["v_to_fp32"] == (kv * 2, kv * 4)
    assert ks["k_scale"] == (kv * 4, kv * 4)
    assert ks["matmul_pv"][0] == 32 * 4096 * 4 + kv * 4
    total = sum(r + wr for r, wr in ks.values())
    # 28 bytes per cached K/V element of one head (copies, fp32 re-reads): 14 times a fused read of bf16
    assert 28 * kv < total < 29 * kv


@settings(max_examples=30, deadline=None)
@given(kv_len=st.integers(1, 1 << 17), heads=st.sampled_from([8, 32, 64]), batch=st.integers(1, 8))
def test_math_bytes_grow_linearly_with_the_cache(kv_len, heads, batch):
    def total(n):
        return sum(r + w for _, r, w, _ in math_kernels(AttentionWork(batch, heads, heads, 128, 1, n, False, 2, 2)))
    assert total(2 * kv_len) - total(kv_len) == total(kv_len) - total(0) if kv_len else True
    assert total(kv_len) > 2 * AttentionWork(batch, heads, heads, 128, 1, kv_len, False, 2, 2).bytes_kv


def test_only_decode_runs_under_the_math_context():
    assert applies(AttentionWork(1, 32, 8, 128, 1, 100, False, 2, 2))
    assert not applies(AttentionWork(1, 32, 8, 128, 64, 64, True, 2, 2))


def test_inner_kernels_cost_the_call_less_a_view():
    call = resolve_host("h200-node-2026-11-29", None, None).kernel_call_s
    inner = host_seconds(eager_kernels=0, eager_views=0, inner_kernels=1, kernel_call_s=call)
    assert inner == pytest.approx(call - VIEW_CALL_S)


def _eager(context, attention, dtype="bf16"):
    # Llama-3.1-8B (the torchao points' model): Llama-3-8B's shapes, 131,072 positions
    return sparsim.predict_step("llama3.1-8b", hw=A100, batch=1, context=context, mode="eager", dtype=dtype,
                                attention=attention)


def test_eager_math_path_costs_per_cached_token_what_its_bytes_cost():
    short, long_ = _eager(8192, "repeat-kv-math"), _eager(32768, "repeat-kv-math")
    fused_short, fused_long = _eager(8192, "repeat-kv"), _eager(32768, "repeat-kv")
    per_1k = (long_.time_s - short.time_s) / 24
    fused_per_1k = (fused_long.time_s - fused_short.time_s) / 24
    # 32 layers x ~152 kB per cached token (repeat copies + fp32 copies + reads) at ~1.8 TB/s: 2-3 ms
    assert 2.0e-3 < per_1k < 3.2e-3
    assert per_1k > 3 * fused_per_1k
    # 18 kernels for SDPA instead of one: 17 more per layer, launched from C++
    assert long_.kernels - fused_long.kernels == 32 * 17
    # each launched from C++ inside the SDPA call: the A100's (reference) host's call less a view
    inner = resolve_host(None, load_profile(A100), None).kernel_call_s - VIEW_CALL_S
    assert long_.host_busy_s - fused_long.host_busy_s == pytest.approx(32 * 17 * inner, rel=1e-9)


def test_compiled_and_prefill_do_not_take_the_eager_math_path():
    def step(mode, attention):
        return sparsim.predict_step("llama3-8b", hw=A100, batch=1, context=8192, mode=mode, dtype="bf16",
                                    attention=attention).time_s
    # Inductor generates the compiled attention; a CUDA graph of eager code replays the math kernels
    assert step("compiled", "repeat-kv-math") == pytest.approx(step("compiled", "repeat-kv"), rel=1e-12)
    assert step("cuda-graphs", "repeat-kv-math") > 1.5 * step("cuda-graphs", "repeat-kv")
    pa = sparsim.predict_step("llama3-8b", hw=A100, phase="prefill", prompt=256, mode="eager", dtype="bf16",
                              attention="repeat-kv-math")
    pb = sparsim.predict_step("llama3-8b", hw=A100, phase="prefill", prompt=256, mode="eager", dtype="bf16",
                              attention="repeat-kv")
    assert pa.time_s == pytest.approx(pb.time_s, rel=1e-12)


def test_fp32_math_path_has_no_casts():
    bf16, fp32 = _eager(1024, "repeat-kv-math"), _eager(1024, "repeat-kv-math", dtype="fp32")
    # SDPA: 5 casts fewer; RMSNorm 2 x 2 and rotary 2 x 2 casts fewer per layer, 2 in the final norm
    assert bf16.kernels - fp32.kernels == 32 * (5 + 4 + 4) + 2


@given(kv_len=st.integers(1, 1 << 17), heads=st.sampled_from([8, 32, 64]), batch=st.integers(1, 8),
       dtype_bytes=st.sampled_from([2, 4]))
def test_batched_gemm_shapes_read_what_the_kernel_list_says(kv_len, heads, batch, dtype_bytes):
    from sparsim.steps.sdpa_math import batched_gemms

    w = AttentionWork(batch, heads, heads, 128, 1, kv_len, False, dtype_bytes, dtype_bytes)
    reads = {name: r for name, r, _, _ in math_kernels(w)}
    for name, g in batched_gemms(w).items():
        assert g.dtype == "fp32" and g.count == batch * heads and g.n == 1
        assert (g.m * g.k + g.k * g.n) * g.count * 4 == reads[name]  # the operands, in fp32


def test_eager_math_matmuls_are_timed_by_the_gemm_model():
    from sparsim.steps.sdpa_math import batched_gemms

    ctx = 32768
    p = _eager(ctx, "repeat-kv-math")
    attn = next(r for r in p.ops if r["name"] == "attention")
    w = AttentionWork(1, 32, 32, 128, 1, ctx, False, 2, 2)
    gemm = sum(sparsim.predict("dense", m=g.m * g.count, k=g.k, n=g.n, hw=A100, dtype=g.dtype).kernel_s
               for g in batched_gemms(w).values())
    # the two bmm calls are a fixed, known part of the op: the rest is streaming copies
    assert gemm < attn["kernel_s"] < gemm * 6
