"""The operators of one model step, in order, with their hardware-free work.

One step (a prefill of ``prompt`` tokens per sequence, or a decode of one token per
sequence over a K/V cache of ``context`` tokens) of a Llama-style decoder
(:mod:`sparsim.models.transformer`) is: the embedding lookup; per layer RMSNorm, the
fused QKV projection, rotary embedding of q and k and the K/V-cache write, attention,
the output projection, the residual add, RMSNorm, the gate and up projections, SiLU x
mul, the down projection and the residual add; then the final norm, the output
projection (``lm_head``) and sampling. With tensor parallelism ``tp`` the QKV, gate and
up projections are split by output columns and the output and down projections by
input rows (Megatron-LM, Shoeybi et al. 2019, section 3), so each GPU holds ``1/tp`` of
the heads and one all-reduce of the hidden state follows each of the two.

Each :class:`Op` carries what the hardware has to do: a linear layer its GEMM problem
(weight ``m×k``, ``n`` tokens: the existing kernels and implementations time it); a
streaming op its bytes and FLOPs in fused form; attention its
:class:`AttentionWork`; an all-reduce its payload. For the framework it also carries
how many PyTorch calls eager mode makes for it (counted in gpt-fast's ``model.py``,
pytorch-labs/gpt-fast, whose decoder torchao's benchmarks reuse): calls that launch a
kernel and calls that only make a view; and the group it fuses into under
``torch.compile`` (Inductor fuses elementwise chains into one Triton kernel; GEMMs and
attention stay library kernels).

>>> from sparsim.models.transformer import load_config
>>> ops = step_ops(load_config("llama2-7b"), phase="decode", batch=1, context=512)
>>> [op.name for op in ops.layer if op.op_class == "linear"]
['qkv_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']
>>> qkv = ops.layer[1]; (qkv.m, qkv.k, qkv.n)
(12288, 4096, 1)
>>> ops.layer[4].attention.bytes_kv == 2 * 32 * 128 * 512 * 2
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SparsimError, check_choice, check_positive_int
from .transformer import TransformerConfig

__all__ = ["Op", "AttentionWork", "StepOps", "step_ops", "PHASES", "OP_CLASSES"]

PHASES = ("decode", "prefill")
#: how a step's time is broken down (``host_idle`` is added by the timeline)
OP_CLASSES = ("linear", "attention", "elementwise", "communication")


@dataclass(frozen=True)
class AttentionWork:
    """Scaled dot-product attention of ``q_len`` new tokens per sequence over ``kv_len``
    cached ones (the new tokens included), ``heads`` query heads sharing ``kv_heads``
    K/V heads (grouped-query attention reads each K/V head once)."""

    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    q_len: int
    kv_len: int
    causal: bool
    dtype_bytes: int
    kv_bytes: int

    @property
    def pairs(self) -> int:
        """(query, key) pairs scored per head: all of them, or under a causal mask the
        ones at or before each query's position."""
        if not self.causal:
            return self.q_len * self.kv_len
        return self.q_len * self.kv_len - self.q_len * (self.q_len - 1) // 2

    @property
    def flops(self) -> int:
        # QK^T and PV: 2 FLOPs per multiply-add, head_dim each (FlashAttention paper's count)
        return 4 * self.batch * self.heads * self.head_dim * self.pairs

    @property
    def bytes_kv(self) -> int:
        return 2 * self.batch * self.kv_heads * self.head_dim * self.kv_len * self.kv_bytes

    @property
    def bytes_qo(self) -> int:
        return 2 * self.batch * self.heads * self.head_dim * self.q_len * self.dtype_bytes


@dataclass(frozen=True)
class Op:
    """One operator of a step (per GPU under tensor parallelism)."""

    name: str
    op_class: str  # one of OP_CLASSES
    m: int = 0  # linear: weight rows (output features)
    k: int = 0  # linear: input features
    n: int = 0  # linear: tokens
    prunable: bool = False  # a decoder-layer linear (what pruning/quantization applies to)
    bytes_read: int = 0  # streaming ops, fused form
    bytes_written: int = 0
    flops: int = 0
    attention: AttentionWork | None = None
    comm_bytes: int = 0  # all-reduce payload per GPU
    eager_kernels: int = 1  # eager PyTorch calls that launch a kernel
    eager_views: int = 0  # eager PyTorch calls that only make a view
    eager_modules: int = 0  # nn.Module calls (Python's __call__ machinery around forward)
    fusion: str | None = None  # torch.compile: ops with the same group become one kernel


@dataclass(frozen=True)
class StepOps:
    """A step's operators: ``pre`` once, ``layer`` for each of ``n_layers``, ``post`` once."""

    phase: str
    batch: int
    tokens: int  # tokens the step processes (all sequences)
    q_len: int
    kv_len: int
    tp: int
    n_layers: int
    pre: tuple[Op, ...]
    layer: tuple[Op, ...]
    post: tuple[Op, ...]
    loop: tuple[Op, ...] = field(default=())  # host-side per-step work outside the model

    @property
    def all_ops(self) -> tuple[Op, ...]:
        return self.pre + self.layer * self.n_layers + self.post


def _stream(name, nbytes_in, nbytes_out, flops, eager_kernels, eager_views=0, fusion=None, eager_modules=0):
    return Op(name, "elementwise", bytes_read=nbytes_in, bytes_written=nbytes_out, flops=flops,
              eager_kernels=eager_kernels, eager_views=eager_views, fusion=fusion, eager_modules=eager_modules)


def _shard(value: int, tp: int, what: str) -> int:
    if value % tp:
        raise SparsimError(f"--tp: got {tp}; allowed: a divisor of {what} ({value})")
    return value // tp


def step_ops(config: TransformerConfig, *, phase: str = "decode", batch: int = 1, context: int | None = None,
             prompt: int | None = None, tp: int = 1, dtype_bytes: int = 2, kv_bytes: int | None = None) -> StepOps:
    """The operators of one step. Decode: one new token per sequence attending to
    ``context`` cached tokens (default 1). Prefill: ``prompt`` tokens per sequence
    (default 128) after ``context`` already cached ones (default 0)."""
    check_choice("--phase", phase, PHASES)
    batch, tp = check_positive_int("--batch", batch), check_positive_int("--tp", tp)
    kv_bytes = dtype_bytes if kv_bytes is None else kv_bytes
    if phase == "decode":
        q_len, kv_len = 1, check_positive_int("--context", 1 if context is None else context)
    else:
        q_len = check_positive_int("--prompt", 128 if prompt is None else prompt)
        kv_len = q_len + (0 if not context else check_positive_int("--context", context))
    c, b = config, dtype_bytes
    tokens, h = batch * q_len, c.hidden_size
    heads = _shard(c.num_attention_heads, tp, "num_attention_heads")
    kv_heads = max(1, c.num_key_value_heads // tp)  # fewer K/V heads than GPUs: each GPU keeps one (replicated)
    inter = _shard(c.intermediate_size, tp, "intermediate_size")
    qkv_m = (heads + 2 * kv_heads) * c.head_dim
    act = tokens * h * b  # one hidden-state tensor
    attn = AttentionWork(batch, heads, kv_heads, c.head_dim, q_len, kv_len, causal=phase == "prefill",
                         dtype_bytes=b, kv_bytes=kv_bytes)
    # RMSNorm in gpt-fast model.py: x.float(), x*x, mean, +eps, rsqrt, x*r, type_as, *weight: 8 kernels;
    # in fp32, x.float() and type_as return x itself (a call, no kernel)
    casts = 2 if b != 4 else 0
    norm = dict(nbytes_in=act + h * b, nbytes_out=act, flops=4 * tokens * h, eager_kernels=6 + casts,
                eager_views=2 - casts, eager_modules=1)
    rope_elems = tokens * (heads + kv_heads) * c.head_dim
    layer = [
        _stream("attn_norm", **norm, fusion="attn_norm"),
        # wqkv(x).split(...) and three .view(...): 1 kernel, 4 views
        Op("qkv_proj", "linear", m=qkv_m, k=h, n=tokens, prunable=True, eager_views=4, eager_modules=1),
        # apply_rotary_emb on q and k: float, 4 mul, sub, add, stack, type_as = 9 kernels (7 in
        # fp32) and reshape, view, 8 selects, flatten = 11 views each; then 3 transposes
        _stream("rotary", rope_elems * b + tokens * c.head_dim * 4, rope_elems * b, 6 * rope_elems,
                eager_kernels=14 + 2 * casts, eager_views=29 - 2 * casts, fusion="rope"),
        # KVCache.update: k_out[:, :, input_pos] = k_val, same for v: 2 index_put kernels
        _stream("kv_write", 2 * tokens * kv_heads * c.head_dim * b, 2 * tokens * kv_heads * c.head_dim * kv_bytes,
                0, eager_kernels=2, fusion="rope"),
        # repeat_interleave k and v, scaled_dot_product_attention, transpose().contiguous().view()
        Op("attention", "attention", attention=attn, eager_kernels=4, eager_views=2, eager_modules=1),
        Op("o_proj", "linear", m=h, k=heads * c.head_dim, n=tokens, prunable=True, eager_modules=1),
    ]
    if tp > 1:
        layer.append(Op("allreduce_attn", "communication", comm_bytes=act, eager_kernels=1))
    layer += [
        _stream("residual_add", 2 * act, act, tokens * h, eager_kernels=1, fusion="add_norm"),
        _stream("ffn_norm", **norm, fusion="add_norm"),
        Op("gate_proj", "linear", m=inter, k=h, n=tokens, prunable=True, eager_modules=1),
        Op("up_proj", "linear", m=inter, k=h, n=tokens, prunable=True, eager_modules=1),
        # the FeedForward module's own call is counted here
        _stream("silu_mul", 2 * tokens * inter * b, tokens * inter * b, 5 * tokens * inter, eager_kernels=2, fusion="act",
                eager_modules=1),
        Op("down_proj", "linear", m=h, k=inter, n=tokens, prunable=True, eager_modules=1),
    ]
    if tp > 1:
        layer.append(Op("allreduce_mlp", "communication", comm_bytes=act, eager_kernels=1))
    # the closing residual add stays its own kernel here; Inductor may fuse it into the next norm
    # (the TransformerBlock module's own call is counted here)
    layer.append(_stream("residual_add_2", 2 * act, act, tokens * h, eager_kernels=1, eager_modules=1))
    # only each sequence's last position goes through the output head (vLLM; gpt-fast's
    # prefill computes logits for every prompt position, a larger GEMM not modelled here)
    last = batch * h * b
    logits = batch * c.vocab_size * 4  # fp32 logits for sampling
    pre = (
        # tok_embeddings(idx), causal_mask[None, None, input_pos], freqs_cis[input_pos]: 3 kernels
        _stream("embedding", act + tokens * 8, act, 0, eager_kernels=3, eager_views=1, eager_modules=2),
    )
    post = (
        _stream("final_norm", **norm),
        Op("lm_head", "linear", m=c.vocab_size, k=h, n=batch, prunable=False, eager_modules=1),
        # sample(): logits/temperature, topk, lt, where, softmax, exponential_, div, argmax, to(int):
        # 10 kernels (gpt-fast generate.py logits_to_probs / multinomial_sample_one_no_sync)
        _stream("sampling", logits + last, batch * 8, 8 * batch * c.vocab_size, eager_kernels=10, eager_views=3,
                fusion="sampling"),
    )
    # generate.py decode_n_tokens, per token outside the model: input_pos += 1 and three .clone()
    loop = (_stream("decode_loop", batch * 8, batch * 8, 0, eager_kernels=4),)
    return StepOps(phase, batch, tokens, q_len, kv_len, tp, c.num_hidden_layers, pre, tuple(layer), post, loop)
