"""PyTorch's math backend of ``scaled_dot_product_attention``, kernel by kernel.

gpt-fast and torchao run every decode step inside
``sdpa_kernel(SDPBackend.MATH)`` (gpt-fast ``generate.py`` ``decode_n_tokens``, commit
32971d3: "Actually better for Inductor to codegen attention here"; torchao
``_models/llama/generate.py`` the same), over the whole static cache
(``max_seq_length`` keys, masked by ``causal_mask[None, None, input_pos]``). Compiled,
Inductor generates that attention; in eager mode the math backend runs its composite
implementation one ATen kernel at a time (``_scaled_dot_product_attention_math`` in
PyTorch's ``aten/src/ATen/native/transformers/attention.cpp``, 2.5 and later):

* the boolean mask becomes an additive mask in the query's dtype
  (``convert_boolean_attn_mask``: ``logical_not`` and ``where``);
* fp16/bf16 q, k and v are copied to fp32 ("Keep query, key, value in high precision
  for accuracy", unless ``allow_fp16_bf16_reduction_math_sdp(True)``);
* q and k^T are each scaled by sqrt(scale); ``matmul(q, k^T)`` writes the scores;
  ``add_`` the mask; ``_safe_softmax`` (softmax, ``eq(-inf)``, ``all``, ``where``, and
  two ``scalar_tensor`` fills on the device); ``matmul(scores, v)``; both outputs go
  back to the input dtype (``.to(origin_dtype)``).

So every key of the allocated cache is read as K and V (already copied per query head
by gpt-fast's ``repeat_interleave``), converted to fp32 and read again: several times
the bytes of a fused kernel, which is why a long static cache costs eager decode so
much. The list is hardware-free: ``(name, bytes read, bytes written, FLOPs)``. The
elementwise kernels are timed as streaming kernels. The two matmuls are cuBLAS batched
GEMMs (``bmm``, one per query head) with one query row each: :func:`batched_gemms` gives
their shapes, so the caller times them with the same GEMM model as a linear layer, tiles
included. In fp32 that matters: cuBLAS's fp32 kernels have no tile narrower than 32 rows
of the one-row side (H200 atlas, ``atlas-dtypes.json``: ``sm80_xmma_gemm_f32f32``
``tilesize128x32x8`` at N = 16), so a one-query matmul does 32 rows of FFMA work per key.

>>> from sparsim.models.step_ops import AttentionWork
>>> w = AttentionWork(1, 32, 32, 128, 1, 8192, False, 2, 2)
>>> ks = math_kernels(w)
>>> len(ks), ks[3][0]                        # bf16: 18 kernels; the K copy to fp32
(18, 'k_to_fp32')
>>> ks[3][2] == 32 * 8192 * 128 * 4          # every cached key, in fp32
True
>>> len(math_kernels(AttentionWork(1, 32, 32, 128, 1, 8192, False, 4, 4)))   # fp32: no casts
13
>>> batched_gemms(w)["matmul_pv"]           # per head: V^T (128 x 8192) times one query's scores
Gemm(m=128, k=8192, n=1, count=32, dtype='fp32')
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.step_ops import AttentionWork

__all__ = ["math_kernels", "applies", "batched_gemms", "Gemm"]


@dataclass(frozen=True)
class Gemm:
    """One batched GEMM in the weight-times-tokens convention of a linear layer: ``count``
    independent products of an ``m x k`` operand with ``k x n``, in ``dtype``."""

    m: int
    k: int
    n: int
    count: int
    dtype: str


def applies(work: AttentionWork) -> bool:
    """The MATH context covers decode steps only (``decode_n_tokens``); prefill takes
    SDPA's default choice (a fused kernel)."""
    return work.q_len == 1


def math_kernels(work: AttentionWork) -> tuple[tuple[str, int, int, int], ...]:
    """The math backend's kernels for ``work`` (heads already repeated to ``work.heads``
    K/V heads by the caller), in order: ``(name, bytes_read, bytes_written, flops)``."""
    b, kvb = work.dtype_bytes, work.kv_bytes
    upcast = b < 4
    acc = 4 if upcast else b
    bh = work.batch * work.heads
    q, kv, scores = bh * work.q_len * work.head_dim, bh * work.kv_len * work.head_dim, bh * work.q_len * work.kv_len
    mask = work.q_len * work.kv_len  # causal_mask[None, None, input_pos]: one row per query, broadcast
    out = [("mask_logical_not", mask, mask, 0), ("mask_where", mask, mask * b, 0)]
    if upcast:
        out += [("q_to_fp32", q * b, q * 4, 0), ("k_to_fp32", kv * kvb, kv * 4, 0), ("v_to_fp32", kv * kvb, kv * 4, 0)]
    out += [
        ("q_scale", q * acc, q * acc, q),
        ("k_scale", kv * acc, kv * acc, kv),
        ("matmul_qk", (q + kv) * acc, scores * acc, 2 * scores * work.head_dim),
        ("mask_add", scores * acc + mask * b, scores * acc, scores),
        ("softmax", scores * acc, scores * acc, 5 * scores),
        ("fill_neg_inf", 0, acc, 0),
        ("eq_neg_inf", scores * acc, scores, scores),
        ("all_rows", scores, bh * work.q_len, scores),
        ("fill_zero", 0, acc, 0),
        ("where_rows", scores * acc + bh * work.q_len, scores * acc, scores),
        ("matmul_pv", scores * acc + kv * acc, q * acc, 2 * scores * work.head_dim),
    ]
    if upcast:
        out += [("out_to_dtype", q * acc, q * b, 0), ("scores_to_dtype", scores * acc, scores * b, 0)]
    return tuple(out)


def batched_gemms(work: AttentionWork) -> dict[str, Gemm]:
    """The shapes of the two ``bmm`` calls of :func:`math_kernels`, by kernel name. Scores
    ``q K^T``: each head's keys (``kv_len x head_dim``) times its queries; output
    ``P V``: each head's ``V^T`` (``head_dim x kv_len``) times its score rows. Both run in
    fp32 when the inputs were upcast (the accumulate type), else in the input's dtype."""
    dtype = "fp32" if work.dtype_bytes <= 4 else "fp64"
    bh = work.batch * work.heads
    return {"matmul_qk": Gemm(work.kv_len, work.head_dim, work.q_len, bh, dtype),
            "matmul_pv": Gemm(work.head_dim, work.kv_len, work.q_len, bh, dtype)}
