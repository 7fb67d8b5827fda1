"""Streaming and attention kernel models: bandwidth-bound, never below the roofline, GQA reads less."""

from hypothesis import given, settings, strategies as st

from sparsim.hwprofiles import load_profile
from sparsim.models.step_ops import AttentionWork
from sparsim.simulator.attention import attention_time, decode_time_floor
from sparsim.simulator.streaming import stream_machine, streaming_time

A100 = load_profile("a100-sxm4-80gb")
M = stream_machine(A100)


def test_a_large_copy_runs_at_the_streaming_hbm_rate():
    nbytes = 2 * 2**30
    t = streaming_time(M, bytes_read=nbytes, bytes_written=nbytes)
    assert abs(2 * nbytes / t / (0.9 * 2.039e12) - 1) < 0.002  # default hbm_efficiency 0.9 (+ launch, latency)


@settings(max_examples=50, deadline=None)
@given(a=st.integers(1, 2**32), b=st.integers(1, 2**32))
def test_streaming_time_grows_with_bytes_and_never_beats_the_datasheet(a, b):
    lo, hi = sorted((a, b))
    assert streaming_time(M, bytes_read=lo, bytes_written=0) <= streaming_time(M, bytes_read=hi, bytes_written=0)
    assert streaming_time(M, bytes_read=hi, bytes_written=0) >= hi / A100.hbm_bytes_per_s


def test_data_just_written_and_small_is_read_from_l2():
    hot = streaming_time(M, bytes_read=4 * 2**20, bytes_written=4 * 2**20, resident=True)
    cold = streaming_time(M, bytes_read=4 * 2**20, bytes_written=4 * 2**20)
    assert hot < cold


def test_decode_attention_reads_each_kv_head_once_under_gqa():
    mha = AttentionWork(8, 32, 32, 128, 1, 4096, False, 2, 2)
    gqa = AttentionWork(8, 32, 8, 128, 1, 4096, False, 2, 2)
    assert gqa.bytes_kv * 4 == mha.bytes_kv
    t_mha, t_gqa = attention_time(M, mha), attention_time(M, gqa)
    assert t_gqa < t_mha / 3  # memory-bound: about a quarter of the bytes
    assert t_mha >= decode_time_floor(M, mha)


def test_prefill_is_math_bound_and_causal_halves_it():
    causal = AttentionWork(4, 32, 8, 128, 4096, 4096, True, 2, 2)
    full = AttentionWork(4, 32, 8, 128, 4096, 4096, False, 2, 2)
    tc, tf = attention_time(M, causal), attention_time(M, full)
    assert 0.45 < tc / tf < 0.55
    # FLOPs at 60% of 312 TFLOP/s
    assert abs(tf / (full.flops / (312e12 * 0.6)) - 1) < 0.02


def test_a_grid_smaller_than_the_gpu_leaves_sms_idle():
    one_tile = AttentionWork(1, 1, 1, 128, 128, 8192, False, 2, 2)
    many = AttentionWork(1, 108, 108, 128, 128, 8192, False, 2, 2)
    # 108x the work on 108 SMs costs the same math time as one tile on one SM
    assert abs(attention_time(M, many) / attention_time(M, one_tile) - 1) < 0.05
