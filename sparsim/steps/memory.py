"""Memory capacity of a step: weights in their format, K/V cache, activations, reserve.

Per GPU (tensor parallelism splits the decoder layers' linear weights and K/V heads
``tp`` ways; the embedding and the output projection are kept whole on every GPU, as
gpt-fast's ``tp.py`` does):

* **weights**: each decoder-layer linear stored as its format says
  (:func:`sparsim.models.quant.weight_storage`: dense or 2:4 values and metadata,
  quantized values, scales and zeros; CSR values, column indices and row pointers with
  the library's int32 rule; channel pruning keeps ``density`` of the rows), plus the
  embedding, the output projection (unless tied) and the norms in the model's dtype;
* **kv_cache**: ``2 × layers × kv_heads × head_dim × context × batch × kv bytes``;
* **activations**: what one step keeps live at once: the residual stream, the norm's
  output and the widest projection output (the gate/up pair of the MLP), in the model's
  dtype, plus fp32 logits of each sequence's last token;
* **reserve**: ``RUNTIME_RESERVE_BYTES`` for the CUDA context and library workspaces.

>>> from sparsim.models.transformer import load_config
>>> from sparsim.models.step_ops import step_ops
>>> ops = step_ops(load_config("llama2-7b"), phase="decode", batch=1, context=4096)
>>> plan = memory_plan(ops, load_config("llama2-7b"), capacity_bytes=80 * 2**30)
>>> round(plan.parts["weights"] / 1e9, 2), plan.parts["kv_cache"] == 2 * 32 * 32 * 128 * 4096 * 2
(13.48, True)
>>> plan.fits, memory_plan(ops, load_config("llama2-7b"), capacity_bytes=12 * 2**30).message
(True, 'does not fit: needs 15.6 GiB of 12.0 GiB')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..errors import SparsimError
from ..models.step_ops import StepOps
from ..models.transformer import TransformerConfig

__all__ = ["MemoryPlan", "memory_plan", "max_batch", "linear_weight_bytes", "RUNTIME_RESERVE_BYTES", "LINEAR_FORMATS"]

#: bytes held back for the CUDA context, cuBLAS/cuSPARSELt workspaces and the caching
#: allocator's slack: an estimate (the CUDA context alone takes ~300-500 MB, PyTorch
#: "CUDA semantics" notes; vLLM leaves 10% of the device unused by default,
#: gpu_memory_utilization = 0.9)
RUNTIME_RESERVE_BYTES = 2**30
#: formats a decoder-layer linear can take in a step
LINEAR_FORMATS = ("dense", "2:4", "csr", "channel")


@dataclass(frozen=True)
class MemoryPlan:
    parts: Mapping[str, int]
    capacity_bytes: int

    @property
    def total_bytes(self) -> int:
        return sum(self.parts.values())

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.capacity_bytes

    @property
    def message(self) -> str:
        gib = 2**30
        verb = "fits" if self.fits else "does not fit"
        return f"{verb}: needs {self.total_bytes / gib:.1f} GiB of {self.capacity_bytes / gib:.1f} GiB"


def linear_weight_bytes(m: int, k: int, *, linear: str = "dense", density: float | None = None,
                        quant: str | None = None, group: int | None = None, dtype_bytes: int = 2) -> int:
    """Bytes of one ``m×k`` linear weight stored as ``linear`` (and ``quant``)."""
    from ..models.formats import csr_storage
    from ..models.quant import weight_storage

    if linear == "dense":
        return weight_storage(m, k, quant, dtype_bytes=dtype_bytes, group=group).bytes_total
    if linear == "2:4":
        return weight_storage(m, k, quant, dtype_bytes=dtype_bytes, sparse_nm=(2, 4), group=group).bytes_total
    if linear == "channel":
        kept = max(1, round(m * (1.0 if density is None else density)))
        return weight_storage(kept, k, quant, dtype_bytes=dtype_bytes, group=group).bytes_total
    if linear == "csr":
        if quant is not None:
            raise SparsimError(f"--quant: got {quant!r} with --linear csr; allowed: none (CSR stores {dtype_bytes}-byte values)")
        nnz = round(m * k * (1.0 if density is None else density))
        return csr_storage(m, k, nnz=nnz, value_bytes=dtype_bytes, policy="library").bytes_total
    raise SparsimError(f"--linear: got {linear!r}; allowed: {', '.join(LINEAR_FORMATS)}")


def memory_plan(ops: StepOps, config: TransformerConfig, *, capacity_bytes: int, linear: str = "dense",
                density: float | None = None, quant: str | None = None, group: int | None = None,
                dtype_bytes: int = 2, kv_bytes: int | None = None) -> MemoryPlan:
    """The memory one GPU needs for the step ``ops`` of ``config``."""
    kv_bytes = dtype_bytes if kv_bytes is None else kv_bytes
    c, b = config, dtype_bytes
    per_layer = sum(linear_weight_bytes(op.m, op.k, linear=linear, density=density, quant=quant, group=group,
                                        dtype_bytes=b)
                    for op in ops.layer if op.prunable)
    embed = c.vocab_size * c.hidden_size * b
    weights = ops.n_layers * per_layer + embed * (1 if c.tie_word_embeddings else 2) \
        + (2 * ops.n_layers + 1) * c.hidden_size * b
    attn = next(op.attention for op in ops.layer if op.attention is not None)
    kv = 2 * ops.n_layers * attn.kv_heads * attn.head_dim * attn.kv_len * ops.batch * kv_bytes
    widest = max(op.m for op in ops.layer if op.op_class == "linear")
    gate_up = 2 * max(op.m for op in ops.layer if op.name in ("gate_proj", "up_proj"))
    activations = ops.tokens * (2 * c.hidden_size + max(widest, gate_up)) * b + ops.batch * c.vocab_size * 4
    parts = {"weights": int(weights), "kv_cache": int(kv), "activations": int(activations),
             "reserve": RUNTIME_RESERVE_BYTES}
    return MemoryPlan(parts, int(capacity_bytes))


def max_batch(config: TransformerConfig, *, capacity_bytes: int, phase: str = "decode", context: int | None = None,
              prompt: int | None = None, tp: int = 1, **formats) -> int:
    """The largest batch whose step fits in ``capacity_bytes`` (0: not even one sequence).
    Every part of the plan is linear in the batch, so two plans give the answer exactly.

    >>> from sparsim.models.transformer import load_config
    >>> max_batch(load_config("llama2-7b"), capacity_bytes=80 * 2**30, context=4096)
    33
    """
    from ..models.step_ops import step_ops

    dtype_bytes = formats.get("dtype_bytes", 2)
    kv_bytes = formats.get("kv_bytes")

    def total(batch):
        ops = step_ops(config, phase=phase, batch=batch, context=context, prompt=prompt, tp=tp,
                       dtype_bytes=dtype_bytes, kv_bytes=kv_bytes)
        return memory_plan(ops, config, capacity_bytes=capacity_bytes, **formats).total_bytes

    one, two = total(1), total(2)
    per_seq = two - one
    if one > capacity_bytes:
        return 0
    return 1 + (capacity_bytes - one) // per_seq if per_seq > 0 else 2**31
