"""The host side of the ``cupy`` backend: what runs without a GPU.

Before a point reaches the GPU, the backend names the CuPy / cuSPARSE types a sparsim
dtype runs as (``cupy.matmul`` for dense, ``cusparseSpMM`` value types for sparse), the
built-in profile of the device it sees, and whether CuPy sees a GPU at all. It also
builds the operands on the host: float32 values that are never zero (so a skipped
element shows in the check against the float64 reference), A dense or as the spec's
seeded sparsity pattern, cached because a sweep over N (the atlas) reuses the same A. These are plain functions, tested without
a GPU; :class:`~sparsim.validate.backends.cupy_backend.CupyBackend` uploads and times.

>>> dense_dtype_name("bf16"), sparse_dtype_name("fp64")
('bfloat16', 'float64')
>>> match_profile("NVIDIA H100 80GB HBM3"), match_profile("NVIDIA A100-SXM4-40GB")
('h100-sxm5-80gb', 'a100-sxm4-40gb')
>>> from sparsim.validate.spec import MeasureSpec
>>> a, b = host_operands(MeasureSpec("csr", 64, 32, 8, "fp16", 0.25, "uniform", seed=1))
>>> type(a).__name__, a.shape, a.nnz, b.shape, b.dtype.name, bool((b != 0).all() and (a.data != 0).all())
('csr_matrix', (64, 32), 531, (32, 8), 'float32', True)
>>> host_operands(MeasureSpec("csr", 64, 32, 16, "fp16", 0.25, "uniform", seed=1))[0] is a  # same A for any N
True
"""

from __future__ import annotations

import functools

import numpy as np

from ..spec import MeasureSpec
from .base import Unsupported, random_values

__all__ = ["DENSE_DTYPES", "SPARSE_DTYPES", "cupy_available", "dense_dtype_name", "host_operands", "match_profile",
           "resolve_dtype", "sparse_dtype_name"]

#: sparsim dtype -> CuPy/NumPy type name cuBLAS runs (``cupy.matmul``)
DENSE_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32", "fp64": "float64"}
#: cusparseSpMM value types (fp16 accumulates in fp32)
SPARSE_DTYPES = {"fp16": "float16", "fp32": "float32", "fp64": "float64"}


def dense_dtype_name(dtype: str) -> str:
    if dtype not in DENSE_DTYPES:
        raise Unsupported(f"dtype {dtype!r} for cupy.matmul; allowed: {', '.join(DENSE_DTYPES)}")
    return DENSE_DTYPES[dtype]


def sparse_dtype_name(dtype: str) -> str:
    if dtype not in SPARSE_DTYPES:
        raise Unsupported(f"dtype {dtype!r} for cuSPARSE SpMM; allowed: {', '.join(SPARSE_DTYPES)}")
    return SPARSE_DTYPES[dtype]


def resolve_dtype(cp, name: str):
    """The CuPy type for a type name; bfloat16 needs a CuPy that has it."""
    if name == "bfloat16":
        bf16 = getattr(cp, "bfloat16", None)
        if bf16 is None:
            raise Unsupported(f"bf16: cupy {cp.__version__} has no bfloat16 dtype")
        return bf16
    return getattr(cp, name)


def match_profile(device_name: str) -> str | None:
    """The built-in profile for a device name, or None (then pass ``--hw``): the one
    device-name table, :func:`sparsim.hwprofiles.devices.profile_for_device`."""
    from ...hwprofiles.devices import profile_for_device

    return profile_for_device(device_name)


def cupy_available() -> tuple[bool, str]:
    """(True, "") when CuPy imports and sees a CUDA GPU, else (False, why)."""
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - ImportError, or a CUDA library that fails to load
        return False, f"cupy not importable ({type(exc).__name__}: {exc}; pip install 'sparsim[gpu]')"
    try:
        if not cupy.cuda.is_available():
            return False, "no CUDA GPU visible (cupy.cuda.is_available() is False)"
    except Exception as exc:  # noqa: BLE001
        return False, f"CUDA not usable ({type(exc).__name__}: {exc})"
    return True, ""


def host_operands(spec: MeasureSpec, dense_a: bool = False):
    """(A, B) on the host, float32, never zero: A a random dense matrix or the spec's seeded
    pattern as SciPy CSR (``dense_a``: as a dense array). A does not depend on N and is
    cached, so a sweep over N (the atlas) builds it once; B comes from its own stream."""
    b = random_values(np.random.default_rng([spec.seed, 1]), (spec.k, spec.n), np.float32)
    if spec.kernel == "dense":
        return _host_dense_a(spec.m, spec.k, spec.seed), b
    kind = "2:4" if spec.kernel == "2:4" else "csr"  # CSR and COO share one pattern (and cache entry)
    if dense_a:
        return _host_pattern_dense(kind, spec.m, spec.k, spec.density, spec.pattern, spec.seed), b
    return _host_pattern(kind, spec.m, spec.k, spec.density, spec.pattern, spec.seed), b


@functools.lru_cache(maxsize=1)
def _host_dense_a(m, k, seed):
    return random_values(np.random.default_rng(seed), (m, k), np.float32)


@functools.lru_cache(maxsize=1)
def _host_pattern_dense(kernel, m, k, density, pattern, seed):
    return _host_pattern(kernel, m, k, density, pattern, seed).toarray()


@functools.lru_cache(maxsize=1)
def _host_pattern(kernel, m, k, density, pattern, seed):
    """A's nonzeros as a SciPy CSR (float32 values), cached: the atlas varies N innermost."""
    spec = MeasureSpec(kernel, m, k, 1, "fp32", density, pattern, seed=seed)
    return spec.sparsity_pattern().to_scipy(dtype=np.float32, seed=seed)
