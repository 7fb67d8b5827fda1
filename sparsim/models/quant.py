"""Quantization schemes: how a linear layer's weights and activations are stored and scaled.

A scheme is part of the problem, not a dtype: it says the bits of a stored weight, the
element type the activations enter the matrix multiply in, the accumulate type, how the
weights are scaled (per output row, or per group of ``group`` input elements) and how
the activations are (not at all, per tensor, or per token, computed at run time by a
separate kernel or fused into the GEMM's prologue).

The names are the ones ``sparsim.predict_step(quant=...)`` takes (shared/DESIGN.md):

* ``"w8a16"``: int8 weight-only, one fp16 scale per output row (gpt-fast
  ``quantize.py`` ``WeightOnlyInt8QuantHandler``; torchao ``int8_weight_only``);
* ``"w4a16"``: int4 weight-only, a scale and a zero point per ``group`` (default 128)
  input elements of each row (torchao ``int4_weight_only``: bf16 ``scales_and_zeros``;
  gpt-fast ``WeightOnlyInt4QuantHandler``); Marlin stores fp16 scales only (symmetric,
  no zero point: IST-DASLab/marlin README);
* ``"fp8"``: W8A8 with fp8 e4m3 weights and activations, one fp32 scale per weight row
  and per token (vLLM ``Fp8LinearMethod`` with per-channel weights; ``torch._scaled_mm``
  takes fp32 scales);
* ``"w8a8"``: int8 W8A8, per-row fp32 weight scales and dynamic per-token activation
  scales (vLLM ``CompressedTensorsW8A8Int8``; torchao
  ``int8_dynamic_activation_int8_weight``).

Storage of the weight of an ``M×K`` linear (rows = output features) in each scheme, dense
or 2:4 (the kept values halve; 2 bits of metadata per kept value, as
:func:`sparsim.models.formats.nm_metadata_bits`):

>>> weight_storage(4096, 4096, None).bytes_total            # fp16
33554432
>>> s = weight_storage(4096, 4096, "w4a16")                 # int4 + bf16 scale & zero per 128
>>> s.parts["values"], s.parts["scales"], s.parts["zeros"]
(8388608, 262144, 262144)
>>> s = weight_storage(4096, 4096, "w4a16", sparse_nm=(2, 4), zero_point=False)  # Sparse-Marlin
>>> s.parts["values"], s.parts["metadata"], s.parts["scales"]
(4194304, 2097152, 262144)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import SparsimError, check_positive_int
from .formats import Storage, _storage, check_nm_shape, nm_metadata_bits

__all__ = ["QuantScheme", "SCHEMES", "get_scheme", "weight_storage", "activation_quant_bytes"]


@dataclass(frozen=True)
class QuantScheme:
    """One quantization scheme of a linear layer (hardware- and library-free)."""

    name: str
    weight_bits: int          # bits of one stored weight value
    weight_type: str          # "int8", "int4", "fp8", or the unquantized dtype
    act_dtype: str | None     # dtype the activations enter the GEMM in; None: the model's dtype
    accumulate: str           # "fp32" or "int32"
    weight_scale: str         # "none", "row" (one per output feature), "group"
    group: int | None         # input elements per scale when weight_scale == "group"
    scale_bytes: int          # bytes of one weight scale
    zero_point: bool          # a zero point stored beside each scale (asymmetric)
    act_scale: str            # "none", "tensor", "token" (dynamic, computed per call)
    act_scale_bytes: int      # bytes of one activation scale

    @property
    def quantizes_activations(self) -> bool:
        return self.act_scale != "none"

    @property
    def weight_only(self) -> bool:
        return self.act_dtype is None


#: the schemes by name; ``None`` (no quantization) is the model's own dtype
SCHEMES: dict[str, QuantScheme] = {
    "w8a16": QuantScheme("w8a16", 8, "int8", None, "fp32", "row", None, 2, False, "none", 0),
    "w4a16": QuantScheme("w4a16", 4, "int4", None, "fp32", "group", 128, 2, True, "none", 0),
    "fp8": QuantScheme("fp8", 8, "fp8", "fp8", "fp32", "row", None, 4, False, "token", 4),
    "w8a8": QuantScheme("w8a8", 8, "int8", "int8", "int32", "row", None, 4, False, "token", 4),
}


def get_scheme(name: str | None, *, group: int | None = None, zero_point: bool | None = None) -> QuantScheme | None:
    """The scheme called ``name`` (None: no quantization), with its group size or zero
    point changed where asked (only a grouped scheme takes ``group``).

    >>> get_scheme("w4a16", group=32).group, get_scheme(None)
    (32, None)
    """
    if name is None:
        if group is not None:
            raise SparsimError(f"--group: got {group!r} without --quant; allowed: only with --quant w4a16")
        return None
    if not isinstance(name, str) or name not in SCHEMES:
        raise SparsimError(f"--quant: got {name!r}; allowed: none, {', '.join(SCHEMES)}")
    scheme = SCHEMES[name]
    if group is not None:
        if scheme.weight_scale != "group":
            raise SparsimError(f"--group: got {group!r} with --quant {name}; allowed: only with a grouped scheme (w4a16)")
        scheme = replace(scheme, group=check_positive_int("--group", group))
    if zero_point is not None:
        scheme = replace(scheme, zero_point=bool(zero_point))
    return scheme


def weight_storage(m: int, k: int, quant: str | QuantScheme | None, *, dtype_bytes: int = 2,
                   sparse_nm: tuple[int, int] | None = None, group: int | None = None,
                   zero_point: bool | None = None) -> Storage:
    """Bytes of an ``m×k`` weight stored under ``quant`` (None: ``dtype_bytes`` per value),
    dense or N:M (``sparse_nm=(2, 4)``) along K. Parts: ``values``, ``metadata`` (N:M
    positions), ``scales`` and ``zeros``; ``bytes_values`` is the values part."""
    m, k = check_positive_int("m", m), check_positive_int("k", k)
    scheme = quant if isinstance(quant, QuantScheme) or quant is None else get_scheme(
        quant, group=group, zero_point=zero_point)
    kept = m * k
    parts: dict[str, int] = {}
    if sparse_nm is not None:
        n_keep, m_group = check_nm_shape(k, *sparse_nm)
        kept = m * (k // m_group) * n_keep
        parts["metadata"] = -(-kept * nm_metadata_bits(m_group) // 8)
    bits = scheme.weight_bits if scheme else 8 * check_positive_int("dtype_bytes", dtype_bytes)
    parts["values"] = -(-kept * bits // 8)
    if scheme and scheme.weight_scale != "none":
        n_scales = m if scheme.weight_scale == "row" else m * math.ceil(k / scheme.group)
        parts["scales"] = n_scales * scheme.scale_bytes
        if scheme.zero_point:
            parts["zeros"] = n_scales * scheme.scale_bytes
    fmt = "nm" if sparse_nm else "dense"
    return _storage(fmt, {name: parts[name] for name in ("values", "metadata", "scales", "zeros") if name in parts})


def activation_quant_bytes(tokens: int, k: int, quant: str | QuantScheme | None, *, dtype_bytes: int = 2) -> dict[str, int]:
    """Bytes a separate activation-quantization kernel moves for ``tokens × k`` inputs:
    it reads the activations in the model's dtype and writes them in the scheme's
    (plus one scale per token). Empty for weight-only schemes and no quantization.

    >>> activation_quant_bytes(16, 4096, "w8a8")
    {'read': 131072, 'write': 65600}
    """
    scheme = quant if isinstance(quant, QuantScheme) or quant is None else get_scheme(quant)
    if scheme is None or not scheme.quantizes_activations:
        return {}
    tokens, k = check_positive_int("tokens", tokens), check_positive_int("k", k)
    n_scales = 1 if scheme.act_scale == "tensor" else tokens
    return {"read": tokens * k * dtype_bytes, "write": tokens * k + n_scales * scheme.act_scale_bytes}
