"""Element types: storage width and which math pipe runs them.

``tf32`` is stored as 32-bit floats; the tensor cores round the mantissa to 10 bits.
``fp8`` means e4m3/e5m2 (1 byte); ``int8`` accumulates in int32.

>>> DTYPES["fp16"].bytes
2
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SparsimError

__all__ = ["DType", "DTYPES", "get_dtype"]


@dataclass(frozen=True)
class DType:
    name: str
    bytes: int
    #: name of the CUDA-core (vector) rate in a profile that runs this type's
    #: multiply-adds when no tensor core is used (cuSPARSE SpMM computes fp16/bf16 in fp32).
    vector_rate: str
    #: bytes of one output element (C). Same as the input except int8, stored as int32,
    #: and fp8, stored as fp16 (the usual cuBLASLt/cuSPARSELt output types for them).
    out_bytes: int


DTYPES: dict[str, DType] = {
    "fp64": DType("fp64", 8, "fp64", 8),
    "fp32": DType("fp32", 4, "fp32", 4),
    "tf32": DType("tf32", 4, "fp32", 4),
    "fp16": DType("fp16", 2, "fp32", 2),
    "bf16": DType("bf16", 2, "fp32", 2),
    "fp8": DType("fp8", 1, "fp32", 2),
    "int8": DType("int8", 1, "fp32", 4),
}


def get_dtype(name: str) -> DType:
    try:
        return DTYPES[name]
    except (KeyError, TypeError):
        raise SparsimError(
            f"--dtype: got {name!r}; allowed: {', '.join(DTYPES)}"
        ) from None
