"""The operators of a step: order, GEMM shapes, tensor-parallel sharding, attention work."""

import pytest
from hypothesis import given, strategies as st

from sparsim.errors import SparsimError
from sparsim.models.step_ops import AttentionWork, step_ops
from sparsim.models.transformer import load_config

L70 = load_config("llama2-70b")


def test_a_decode_layer_in_order():
    ops = step_ops(load_config("llama2-7b"), phase="decode", batch=4, context=100)
    assert [op.name for op in ops.layer] == [
        "attn_norm", "qkv_proj", "rotary", "kv_write", "attention", "o_proj", "residual_add", "ffn_norm",
        "gate_proj", "up_proj", "silu_mul", "down_proj", "residual_add_2"]
    assert [op.name for op in ops.pre + ops.post] == ["embedding", "final_norm", "lm_head", "sampling"]
    assert ops.tokens == 4 and ops.q_len == 1 and ops.kv_len == 100


def test_tensor_parallel_shards_columns_then_rows_and_adds_two_allreduces():
    ops = step_ops(L70, phase="decode", batch=1, context=10, tp=8)
    shapes = {op.name: (op.m, op.k) for op in ops.layer if op.op_class == "linear"}
    # 64 query heads / 8 = 8 and 8 kv heads / 8 = 1 per GPU, head_dim 128
    assert shapes["qkv_proj"] == ((8 + 2) * 128, 8192)
    assert shapes["o_proj"] == (8192, 8 * 128)
    assert shapes["gate_proj"] == (28672 // 8, 8192) and shapes["down_proj"] == (8192, 28672 // 8)
    comms = [op for op in ops.layer if op.op_class == "communication"]
    assert [op.name for op in comms] == ["allreduce_attn", "allreduce_mlp"]
    assert all(op.comm_bytes == 8192 * 2 for op in comms)


def test_a_tp_that_does_not_divide_the_heads_is_refused():
    with pytest.raises(SparsimError, match="--tp: got 3; allowed: a divisor of num_attention_heads"):
        step_ops(L70, tp=3)


def test_prefill_counts_every_prompt_token_and_is_causal():
    ops = step_ops(load_config("llama3-8b"), phase="prefill", batch=2, prompt=512)
    attn = next(op.attention for op in ops.layer if op.attention)
    assert ops.tokens == 1024 and attn.causal and attn.q_len == attn.kv_len == 512
    assert attn.pairs == 512 * 513 // 2
    # GQA: 8 K/V heads are read for 32 query heads
    assert attn.bytes_kv == 2 * 2 * 8 * 128 * 512 * 2


@given(q=st.integers(1, 300), extra=st.integers(0, 300))
def test_causal_pairs_count_each_query_over_its_prefix(q, extra):
    w = AttentionWork(1, 1, 1, 8, q, q + extra, True, 2, 2)
    assert w.pairs == sum(extra + i + 1 for i in range(q))
    assert w.pairs <= AttentionWork(1, 1, 1, 8, q, q + extra, False, 2, 2).pairs


def test_bad_phase_and_batch_are_refused():
    with pytest.raises(SparsimError, match="--phase: got 'train'"):
        step_ops(L70, phase="train")
    with pytest.raises(SparsimError, match="--batch: got 0"):
        step_ops(L70, batch=0)
