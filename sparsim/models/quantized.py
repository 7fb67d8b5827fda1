"""Quantized work: a linear layer's GEMM when its weights (and maybe activations) are quantized.

A quantization scheme (:mod:`sparsim.models.quant`) changes three things about the work
of ``C[M×N] = A[M×K] @ B[K×N]`` (A the weight, B the activations of N tokens):

* **what the GEMM runs in**: weight-only schemes (``w8a16``, ``w4a16``) dequantize the
  weights on the CUDA cores and multiply in the model's dtype (fp16/bf16 tensor cores);
  W8A8 schemes (``fp8``, ``w8a8``) multiply the quantized types themselves (fp8 or int8
  tensor cores, fp32/int32 accumulate) and write C in the model's dtype after the scale
  epilogue (``torch._scaled_mm``, cuSPARSELt and CUTLASS scaled GEMMs all do);
* **A's bytes**: quantized values, N:M metadata, scales and zero points
  (:func:`~sparsim.models.quant.weight_storage`), instead of 2 bytes per value;
* **extra work**: dequantization instructions per weight value on the SM, each time a
  CTA loads the value (``dequant_ops``, the implementation's figure: Marlin unpacks 8
  int4 values of an int32 with 2 LOP3, 1 shift, 2 HSUB2/HFMA2 pairs and scales them with
  HMUL2), and for W8A8 a separate kernel that reads the activations in the model's dtype
  and writes them quantized with one scale per token (``act_quant_bytes``).

Int4 weight-only (group 128, zero points) of a 4096×4096 layer at one token: 4-bit
values plus a bf16 scale and zero per 128 inputs, 0.53 bytes per weight instead of 2;
a Marlin-like 1.875 instructions per value dequantize it:

>>> from sparsim.models.work import build_work
>>> w = quantize_work(build_work("dense", m=4096, k=4096, n=1), "w4a16", dequant_ops=1.875)
>>> w.dtype, w.bytes_values, w.bytes_index, w.a_element_bytes, w.dequant_ops
('fp16', 8388608, 524288, 0.53125, 1.875)
>>> w8 = quantize_work(build_work("2:4", m=4096, k=4096, n=16, dtype="int8"), "w8a8", model_dtype="bf16")
>>> w8.dtype, w8.bytes_c, w8.act_quant_bytes   # C in bf16; a quantize kernel for 16 tokens
('int8', 131072, (131072, 65600))
"""

from __future__ import annotations

from dataclasses import replace

from ..dtypes import get_dtype
from ..errors import SparsimError
from .formats import nm_metadata_bits
from .quant import QuantScheme, activation_quant_bytes, get_scheme, weight_storage
from .work import KernelWork

__all__ = ["compute_dtype", "quantize_work"]


def compute_dtype(quant: str | QuantScheme | None, model_dtype: str) -> str:
    """The dtype the GEMM of a ``quant`` layer runs in: the scheme's activation type
    (fp8, int8) for W8A8, else the model's (weight-only dequantizes to it).

    >>> compute_dtype("fp8", "bf16"), compute_dtype("w4a16", "bf16"), compute_dtype(None, "fp16")
    ('fp8', 'bf16', 'fp16')
    """
    scheme = quant if isinstance(quant, QuantScheme) or quant is None else get_scheme(quant)
    if scheme is not None and scheme.weight_only and model_dtype not in ("fp16", "bf16"):
        raise SparsimError(f"--dtype: got {model_dtype!r} with --quant {scheme.name}; allowed: fp16, bf16 "
                           f"(weight-only kernels dequantize to 16-bit activations)")
    return scheme.act_dtype if scheme is not None and scheme.act_dtype else model_dtype


def _a_element_bytes(scheme: QuantScheme, k: int, keep_fraction: float, metadata_bits: int) -> float:
    """Stored bytes per logical weight element, without rounding to whole bytes (so operand
    bytes scale exactly with K): kept values and their metadata, then scales and zeros."""
    per = keep_fraction * (scheme.weight_bits + metadata_bits) / 8
    if scheme.weight_scale != "none":
        per_scale = 1 / k if scheme.weight_scale == "row" else 1 / scheme.group
        per += per_scale * scheme.scale_bytes * (2 if scheme.zero_point else 1)
    return per


def quantize_work(work: KernelWork, quant: str | QuantScheme | None, *, model_dtype: str | None = None,
                  group: int | None = None, dequant_ops: float = 0.0, act_quant: str = "separate",
                  zero_point: bool | None = None) -> KernelWork:
    """``work`` (counted in the dtype the GEMM runs in, :func:`compute_dtype`) with its
    weight stored under ``quant``; ``model_dtype`` is the activations' dtype before any
    quantization (default: ``work.dtype``). ``dequant_ops`` are the implementation's
    instructions per stored weight value; ``act_quant`` says whether it quantizes the
    activations in a ``"separate"`` kernel or ``"fused"`` into the GEMM; ``zero_point``
    whether it stores a zero point beside each scale (None: the scheme's default)."""
    scheme = quant if isinstance(quant, QuantScheme) or quant is None else get_scheme(
        quant, group=group, zero_point=zero_point)
    if scheme is None:
        return work
    spec = work.spec
    if spec.family not in ("gemm", "channel", "nm"):
        raise SparsimError(f"--quant: got {scheme.name!r} with --kernel {work.kernel}; "
                           f"allowed: dense, channel, 2:4 (quantized kernels are tensor-core GEMMs)")
    model_dtype = model_dtype or work.dtype
    expected = compute_dtype(scheme, model_dtype)
    if work.dtype != expected:
        raise SparsimError(f"--dtype: the work runs in {work.dtype!r}; --quant {scheme.name} with "
                           f"--dtype {model_dtype} runs in {expected!r}")
    m_eff = work.m_effective or work.m
    nm = (spec.keep, spec.group) if spec.is_nm else None
    storage = weight_storage(m_eff, work.k, scheme, sparse_nm=nm)
    keep_fraction = spec.keep / spec.group if nm else 1.0
    metadata_bits = nm_metadata_bits(spec.group) if nm else 0
    out_bytes = get_dtype(model_dtype).bytes
    act = (0, 0)
    if scheme.quantizes_activations and act_quant == "separate":
        moved = activation_quant_bytes(work.n, work.k, scheme, dtype_bytes=out_bytes)
        act = (moved["read"], moved["write"])
    return replace(
        work, quant=scheme.name, bytes_values=storage.bytes_values, bytes_index=storage.bytes_index,
        bytes_c=m_eff * work.n * out_bytes if scheme.quantizes_activations else work.bytes_c,
        a_element_bytes=_a_element_bytes(scheme, work.k, keep_fraction, metadata_bits),
        dequant_ops=float(dequant_ops) * keep_fraction if scheme.weight_only else 0.0,
        act_quant_bytes=act,
    )
