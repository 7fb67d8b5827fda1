"""16-bit dense GEMM through ``cublasGemmEx`` when CuPy has no dtype for it (bfloat16).

CuPy 14 has no ``bfloat16`` dtype, so a bf16 GEMM is run on ``uint16`` buffers that hold
bf16 bit patterns: the host rounds float32 to bf16 (round to nearest, ties to even, as
``__float2bfloat16_rn`` does), cuBLAS is told the buffers are ``CUDA_R_16BF`` and
accumulates in fp32 (``CUBLAS_COMPUTE_32F``), and the result is widened back on the host
to be checked against a float64 reference.

cuBLAS is column-major; a row-major ``C = A @ B`` is the column-major ``Cᵀ = Bᵀ Aᵀ``, so
:func:`gemm_ex_args` swaps the operands instead of transposing anything.

>>> bits = to_bf16_bits(np.array([1.0, 1.00390625, 1.01171875, -2.5], np.float32))
>>> [hex(b) for b in bits]   # 1+2^-8 is a tie: rounds to even (1.0); 1+3·2^-8 rounds up
['0x3f80', '0x3f80', '0x3f82', '0xc020']
>>> from_bf16_bits(bits).tolist()
[1.0, 1.0, 1.015625, -2.5]
"""

from __future__ import annotations

import numpy as np

__all__ = ["CUDA_R_16F", "CUDA_R_16BF", "CUDA_R_32F", "CUDA_R_64F", "CUBLAS_COMPUTE_32F", "CUBLAS_COMPUTE_64F",
           "CUBLAS_GEMM_DEFAULT", "CUDA_TYPES", "to_bf16_bits", "from_bf16_bits", "gemm_ex_args", "cublas_module"]

# cudaDataType (library_types.h) and cublasComputeType_t (cublas_api.h)
CUDA_R_32F, CUDA_R_64F, CUDA_R_16F, CUDA_R_16BF = 0, 1, 2, 14
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_64F = 68, 70
CUBLAS_OP_N = 0
CUBLAS_GEMM_DEFAULT = -1
#: sparsim dtype -> (cudaDataType of A/B/C, compute type, NumPy type of the scalars alpha/beta)
CUDA_TYPES = {
    "fp16": (CUDA_R_16F, CUBLAS_COMPUTE_32F, np.float32),
    "bf16": (CUDA_R_16BF, CUBLAS_COMPUTE_32F, np.float32),
    "fp32": (CUDA_R_32F, CUBLAS_COMPUTE_32F, np.float32),
    "fp64": (CUDA_R_64F, CUBLAS_COMPUTE_64F, np.float64),
}


def to_bf16_bits(values) -> np.ndarray:
    """float32 -> bf16 bit patterns (uint16), round to nearest even; inputs must be finite."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def from_bf16_bits(bits) -> np.ndarray:
    """bf16 bit patterns (uint16) -> float32, exactly."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def gemm_ex_args(handle: int, m: int, k: int, n: int, a_ptr: int, b_ptr: int, c_ptr: int, dtype: str,
                 alpha_ptr: int, beta_ptr: int) -> tuple:
    """Arguments of ``cublas.gemmEx`` for row-major ``C[m×n] = A[m×k] @ B[k×n]``.

    Column-major cuBLAS computes ``Cᵀ[n×m] = Bᵀ[n×k] · Aᵀ[k×m]``: B goes first, with
    leading dimension n, A second with k, C with n.

    >>> args = gemm_ex_args(7, m=4, k=3, n=2, a_ptr=100, b_ptr=200, c_ptr=300, dtype="bf16",
    ...                     alpha_ptr=1, beta_ptr=2)
    >>> args[3:6], args[7:10], args[10:13], args[16:18]
    ((2, 4, 3), (200, 14, 2), (100, 14, 3), (2, 68))
    """
    cuda_type, compute, _ = CUDA_TYPES[dtype]
    return (handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, alpha_ptr,
            b_ptr, cuda_type, n, a_ptr, cuda_type, k, beta_ptr, c_ptr, cuda_type, n, compute, CUBLAS_GEMM_DEFAULT)


def cublas_module():
    """CuPy's cuBLAS binding (``cupy_backends.cuda.libs.cublas``; older CuPy: ``cupy.cuda.cublas``)."""
    try:
        from cupy_backends.cuda.libs import cublas
    except ImportError:
        from cupy.cuda import cublas
    return cublas
