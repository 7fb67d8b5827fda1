"""Attention kernels: FlashAttention-style prefill and memory-bound decode.

**Prefill** runs as one tiled kernel (FlashAttention, Dao et al. 2022; FlashAttention-2,
Dao 2023): each thread block holds a tile of ``BLOCK_Q`` = 128 queries of one head in
shared memory and streams that head's K and V tiles past it, so the score matrix never
reaches HBM. HBM traffic is Q, K, V and O once (K/V re-reads hit L2); the math is
``4 · heads · head_dim`` FLOPs per scored (query, key) pair, half of them under a causal
mask, on the tensor cores at ``FLASH_EFFICIENCY`` of the dense peak. A grid of fewer
tiles than SMs leaves SMs idle, and the rate scales down with the fraction in use.

**Decode** (one query per sequence) is a read of each sequence's K/V cache: every K/V
head is read once for all the query heads that share it (grouped-query attention), at
the HBM rate streaming kernels reach, plus the launch and one dependent DRAM round trip
per step of the split-KV reduction (flash-decoding: Dao et al. 2023 blog "Flash-Decoding
for long-context inference" splits the keys across thread blocks, then reduces).

>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.models.step_ops import AttentionWork
>>> from sparsim.simulator.streaming import stream_machine
>>> m = stream_machine(load_profile("h100-sxm5-80gb"))
>>> decode = AttentionWork(16, 32, 32, 128, 1, 2000, False, 2, 2)
>>> round(attention_time(m, decode, dtype="fp16") * 1e6)   # FA3 paged measures 292 us (e2e.json)
178
>>> prefill = AttentionWork(1, 32, 8, 128, 2048, 2048, True, 2, 2)
>>> attention_time(m, prefill, dtype="fp16") > decode_time_floor(m, prefill)
True
"""

from __future__ import annotations

from ..models.step_ops import AttentionWork
from .machine import Machine

__all__ = ["attention_time", "decode_time_floor", "FLASH_EFFICIENCY", "BLOCK_Q"]

#: fraction of the dense tensor-core peak a FlashAttention forward pass sustains on
#: long causal sequences: FlashAttention-2 (Dao 2023, Figure 4, A100, head dim 128,
#: causal) reaches 189-203 of 312 TFLOP/s, 0.61-0.65; FlashAttention-3 (Shah et al.
#: 2024, Figure 5) reaches 61-75% of H100's 989 TFLOP/s in fp16. 0.6 is the low end.
FLASH_EFFICIENCY = 0.6
#: queries per thread block (FlashAttention-2 forward, head dim 128: 128x64 tiles)
BLOCK_Q = 128


def decode_time_floor(machine: Machine, work: AttentionWork) -> float:
    """The K/V read alone at the streaming HBM rate (no launch, no math)."""
    return (work.bytes_kv + work.bytes_qo) / machine.hbm_bytes_per_s


def attention_time(machine: Machine, work: AttentionWork, *, dtype: str = "fp16") -> float:
    """Seconds of one attention kernel for ``work`` on ``machine``."""
    hw = machine.hw
    peak = hw.tensor_peak("fp16" if dtype not in hw.tensor_dense_flops_per_s else dtype) or hw.vector_peak("fp32")
    tiles = work.batch * work.heads * -(-work.q_len // BLOCK_Q)
    if work.q_len == 1:
        # decode: split-KV blocks cover every SM once batch x kv_heads x splits >= SMs;
        # the math runs on CUDA cores at most (one query row is too thin for an MMA tile)
        rate = hw.vector_peak("fp32") * machine.math_efficiency("vector")
        memory = decode_time_floor(machine, work)
        return machine.launch_s + 2 * machine.dram_latency_s + max(memory, work.flops / rate)
    used = min(1.0, tiles / hw.sm_count)
    math = work.flops / (peak * FLASH_EFFICIENCY * used)
    memory = (work.bytes_kv + work.bytes_qo) / machine.hbm_bytes_per_s
    return machine.launch_s + machine.dram_latency_s + max(math, memory)
