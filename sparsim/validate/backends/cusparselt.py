"""A small ctypes binding of cuSPARSELt (``libcusparseLt.so``) for 2:4 matmuls on CuPy memory.

The CuPy 14 wheels ship no cuSPARSELt binding, and PyTorch's ``_cslt_sparse_mm`` rebuilds
descriptors and plan on every call (0.4-0.6 ms of host work on an H200). This binding
follows the official call sequence (NVIDIA/CUDALibrarySamples, ``cuSPARSELt/matmul``) once:

    cusparseLtInit
    cusparseLtStructuredDescriptorInit (A, 2:4)  cusparseLtDenseDescriptorInit (B, C)
    cusparseLtMatmulDescriptorInit      cusparseLtMatmulAlgSelectionInit (default algorithm)
    cusparseLtMatmulPlanInit            cusparseLtMatmulGetWorkspace
    cusparseLtSpMMAPruneCheck           cusparseLtSpMMACompressedSize + cusparseLtSpMMACompress
    cusparseLtMatmul (timed)            cusparseLtMatmulSearch (picks an algorithm, then timed)

and the backend times ``cusparseLtMatmul`` alone, recording the plan and the compression
as one-time costs. The library comes from the PyPI wheel ``nvidia-cusparselt-cu12`` or
``-cu13`` (found through the installed ``nvidia`` package's directory), from
``$SPARSIM_CUSPARSELT_LIB``, or from the loader path.

Opaque objects are caller-allocated byte arrays: ``cusparseLtHandle_t`` and every
descriptor, selection and plan are ``struct { uint8_t data[1024]; }`` in the samples'
``cusparseLt.h`` (0.1 through 0.6; later headers use 512 bytes aligned to 16, so 1024
bytes aligned to 16 is safe for both). The API this binds is cuSPARSELt >= 0.5
(``cusparseLtMatmulPlanInit`` without a workspace size, ``cusparseLtSpMMACompressedSize``
with a compress-buffer size). The compute type's numbering changed in 0.6
(``CUSPARSE_COMPUTE_32F`` = 2; before it ``CUSPARSE_COMPUTE_16F`` = 0 served fp16/bf16).

Everything here but the library itself is tested with a fake library object:

>>> OPAQUE_BYTES, compute_type("fp16", 600), compute_type("bf16", 500)
(1024, 2, 0)
>>> version_number(0, 6, 3)
603
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
from pathlib import Path

__all__ = ["CusparseLt", "CusparseLtError", "OPAQUE_BYTES", "find_library", "load", "compute_type",
           "version_number", "INSTALL_HINT", "STATUS_NAMES"]

OPAQUE_BYTES = 1024
_ALIGN = 16
INSTALL_HINT = "pip install nvidia-cusparselt-cu12 (CUDA 12) or nvidia-cusparselt-cu13 (CUDA 13)"

# cusparse.h / library_types.h / cusparseLt.h enumerations
CUSPARSE_OPERATION_NON_TRANSPOSE = 0
CUSPARSE_ORDER_COL, CUSPARSE_ORDER_ROW = 1, 2
CUDA_R_16F, CUDA_R_16BF = 2, 14
CUSPARSELT_SPARSITY_50_PERCENT = 0
CUSPARSELT_MATMUL_ALG_DEFAULT = 0
CUSPARSELT_MATMUL_ALG_CONFIG_ID = 0
CUSPARSELT_MATMUL_ALG_CONFIG_MAX_ID = 1
VALUE_TYPES = {"fp16": CUDA_R_16F, "bf16": CUDA_R_16BF}
STATUS_NAMES = {0: "CUSPARSE_STATUS_SUCCESS", 1: "CUSPARSE_STATUS_NOT_INITIALIZED", 2: "CUSPARSE_STATUS_ALLOC_FAILED",
                3: "CUSPARSE_STATUS_INVALID_VALUE", 4: "CUSPARSE_STATUS_ARCH_MISMATCH",
                5: "CUSPARSE_STATUS_MAPPING_ERROR", 6: "CUSPARSE_STATUS_EXECUTION_FAILED",
                7: "CUSPARSE_STATUS_INTERNAL_ERROR", 8: "CUSPARSE_STATUS_MATRIX_TYPE_NOT_SUPPORTED",
                9: "CUSPARSE_STATUS_ZERO_PIVOT", 10: "CUSPARSE_STATUS_NOT_SUPPORTED",
                11: "CUSPARSE_STATUS_INSUFFICIENT_RESOURCES"}
#: oldest library whose signatures this binding uses
MIN_VERSION = 500

_p, _i64, _u32, _i32, _size = ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint32, ctypes.c_int, ctypes.c_size_t
#: function -> argument types (all return cusparseStatus_t, an int)
SIGNATURES = {
    "cusparseLtInit": (_p,),
    "cusparseLtDestroy": (_p,),
    "cusparseLtGetVersion": (_p, _p),
    "cusparseLtDenseDescriptorInit": (_p, _p, _i64, _i64, _i64, _u32, _i32, _i32),
    "cusparseLtStructuredDescriptorInit": (_p, _p, _i64, _i64, _i64, _u32, _i32, _i32, _i32),
    "cusparseLtMatDescriptorDestroy": (_p,),
    "cusparseLtMatmulDescriptorInit": (_p, _p, _i32, _i32, _p, _p, _p, _p, _i32),
    "cusparseLtMatmulAlgSelectionInit": (_p, _p, _p, _i32),
    "cusparseLtMatmulAlgGetAttribute": (_p, _p, _i32, _p, _size),
    "cusparseLtMatmulAlgSetAttribute": (_p, _p, _i32, _p, _size),
    "cusparseLtMatmulPlanInit": (_p, _p, _p, _p),
    "cusparseLtMatmulGetWorkspace": (_p, _p, _p),
    "cusparseLtMatmulPlanDestroy": (_p,),
    "cusparseLtSpMMAPruneCheck": (_p, _p, _p, _p, _p),
    "cusparseLtSpMMACompressedSize": (_p, _p, _p, _p),
    "cusparseLtSpMMACompress": (_p, _p, _p, _p, _p, _p),
    "cusparseLtMatmul": (_p, _p, _p, _p, _p, _p, _p, _p, _p, _p, _i32),
    "cusparseLtMatmulSearch": (_p, _p, _p, _p, _p, _p, _p, _p, _p, _p, _i32),
}


class CusparseLtError(RuntimeError):
    """A cuSPARSELt call returned a status other than success."""


def version_number(major: int, minor: int, patch: int) -> int:
    """cuSPARSELt's ``CUSPARSELT_VERSION`` encoding: major·1000 + minor·100 + patch."""
    return major * 1000 + minor * 100 + patch


def compute_type(dtype: str, version: int) -> int:
    """``cusparseComputeType`` for 16-bit inputs: 32F (=2) from 0.6 on, 16F (=0) before."""
    if dtype not in VALUE_TYPES:
        raise ValueError(f"dtype {dtype!r} for cuSPARSELt; allowed: {', '.join(VALUE_TYPES)}")
    return 2 if version >= 600 else 0


def find_library() -> str | None:
    """Path of libcusparseLt.so: $SPARSIM_CUSPARSELT_LIB, the nvidia-cusparselt wheel, else None."""
    env = os.environ.get("SPARSIM_CUSPARSELT_LIB")
    if env:
        return env
    spec = importlib.util.find_spec("nvidia")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        # cu12 wheel: nvidia/cusparselt/lib/libcusparseLt.so.0; cu13: nvidia/cu13/lib/...
        hits = sorted(glob.glob(str(Path(root) / "**" / "libcusparseLt.so*"), recursive=True))
        if hits:
            return hits[0]
    import ctypes.util

    return ctypes.util.find_library("cusparseLt")


def load(path: str | None = None) -> "CusparseLt":
    """The binding over the shared library; raises ImportError with the wheel to install."""
    path = path or find_library()
    if path is None:
        raise ImportError(f"libcusparseLt.so not found; {INSTALL_HINT}")
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise ImportError(f"libcusparseLt.so at {path} did not load ({exc}); {INSTALL_HINT}") from None
    return CusparseLt(lib, origin=path)


class Opaque:
    """A caller-allocated opaque cuSPARSELt object: OPAQUE_BYTES bytes aligned to 16."""

    def __init__(self, kind: str):
        self.kind = kind
        self._buffer = ctypes.create_string_buffer(OPAQUE_BYTES + _ALIGN)
        base = ctypes.addressof(self._buffer)
        self.address = base + (-base) % _ALIGN

    @property
    def ptr(self) -> ctypes.c_void_p:
        return ctypes.c_void_p(self.address)


class CusparseLt:
    """The calls the backend makes, each checked; ``lib`` is a CDLL or any object with the
    same function attributes (tests pass a fake that records the calls)."""

    def __init__(self, lib, origin: str = ""):
        self.lib = lib
        self.origin = origin
        for name, argtypes in SIGNATURES.items():
            fn = getattr(lib, name, None)
            if fn is None:
                continue  # optional calls (GetVersion, Destroy) may be missing in old builds
            fn.argtypes = list(argtypes)
            fn.restype = ctypes.c_int
        self.handle = Opaque("handle")
        self._call("cusparseLtInit", self.handle.ptr)
        self.version = self._version()
        if self.version < MIN_VERSION:
            raise ImportError(f"cuSPARSELt {self.version} at {origin or '?'} is older than 0.5; {INSTALL_HINT}")

    def _call(self, name: str, *args) -> None:
        fn = getattr(self.lib, name, None)
        if fn is None:
            raise CusparseLtError(f"{name}: not in {self.origin or 'the library'}; {INSTALL_HINT}")
        status = int(fn(*args))
        if status != 0:
            raise CusparseLtError(f"{name}: {STATUS_NAMES.get(status, 'status')} ({status})")

    def _version(self) -> int:
        value = ctypes.c_int(0)
        if getattr(self.lib, "cusparseLtGetVersion", None) is None:
            return MIN_VERSION
        self._call("cusparseLtGetVersion", self.handle.ptr, ctypes.byref(value))
        return int(value.value)

    # -- descriptors, plan ----------------------------------------------------------

    def dense(self, rows: int, cols: int, ld: int, dtype: str, order: int = CUSPARSE_ORDER_ROW) -> Opaque:
        desc = Opaque("dense")
        self._call("cusparseLtDenseDescriptorInit", self.handle.ptr, desc.ptr, rows, cols, ld, _ALIGN,
                   VALUE_TYPES[dtype], order)
        return desc

    def structured(self, rows: int, cols: int, ld: int, dtype: str, order: int = CUSPARSE_ORDER_ROW) -> Opaque:
        desc = Opaque("structured")
        self._call("cusparseLtStructuredDescriptorInit", self.handle.ptr, desc.ptr, rows, cols, ld, _ALIGN,
                   VALUE_TYPES[dtype], order, CUSPARSELT_SPARSITY_50_PERCENT)
        return desc

    def matmul_descriptor(self, a: Opaque, b: Opaque, c: Opaque, dtype: str) -> Opaque:
        desc = Opaque("matmul")
        op = CUSPARSE_OPERATION_NON_TRANSPOSE
        self._call("cusparseLtMatmulDescriptorInit", self.handle.ptr, desc.ptr, op, op, a.ptr, b.ptr, c.ptr,
                   c.ptr, compute_type(dtype, self.version))
        return desc

    def alg_selection(self, matmul: Opaque, alg: int = CUSPARSELT_MATMUL_ALG_DEFAULT) -> Opaque:
        sel = Opaque("alg_selection")
        self._call("cusparseLtMatmulAlgSelectionInit", self.handle.ptr, sel.ptr, matmul.ptr, alg)
        return sel

    def alg_id(self, sel: Opaque) -> int:
        value = ctypes.c_int(-1)
        self._call("cusparseLtMatmulAlgGetAttribute", self.handle.ptr, sel.ptr, CUSPARSELT_MATMUL_ALG_CONFIG_ID,
                   ctypes.byref(value), ctypes.sizeof(value))
        return int(value.value)

    def plan(self, matmul: Opaque, sel: Opaque) -> Opaque:
        plan = Opaque("plan")
        self._call("cusparseLtMatmulPlanInit", self.handle.ptr, plan.ptr, matmul.ptr, sel.ptr)
        return plan

    def workspace_size(self, plan: Opaque) -> int:
        size = ctypes.c_size_t(0)
        self._call("cusparseLtMatmulGetWorkspace", self.handle.ptr, plan.ptr, ctypes.byref(size))
        return int(size.value)

    # -- A: check and compress --------------------------------------------------------

    def prune_check(self, matmul: Opaque, a_ptr: int, valid_device_ptr: int, stream: int = 0) -> None:
        """Writes 0 to the device int at ``valid_device_ptr`` when A is a valid 2:4 matrix."""
        self._call("cusparseLtSpMMAPruneCheck", self.handle.ptr, matmul.ptr, ctypes.c_void_p(a_ptr),
                   ctypes.c_void_p(valid_device_ptr), ctypes.c_void_p(stream))

    def compressed_size(self, plan: Opaque) -> tuple[int, int]:
        size, buffer = ctypes.c_size_t(0), ctypes.c_size_t(0)
        self._call("cusparseLtSpMMACompressedSize", self.handle.ptr, plan.ptr, ctypes.byref(size), ctypes.byref(buffer))
        return int(size.value), int(buffer.value)

    def compress(self, plan: Opaque, a_ptr: int, out_ptr: int, buffer_ptr: int, stream: int = 0) -> None:
        self._call("cusparseLtSpMMACompress", self.handle.ptr, plan.ptr, ctypes.c_void_p(a_ptr),
                   ctypes.c_void_p(out_ptr), ctypes.c_void_p(buffer_ptr), ctypes.c_void_p(stream))

    # -- the product ------------------------------------------------------------------

    def _matmul_args(self, plan, alpha_ptr, a_ptr, b_ptr, beta_ptr, c_ptr, d_ptr, workspace_ptr):
        return (self.handle.ptr, plan.ptr, ctypes.c_void_p(alpha_ptr), ctypes.c_void_p(a_ptr), ctypes.c_void_p(b_ptr),
                ctypes.c_void_p(beta_ptr), ctypes.c_void_p(c_ptr), ctypes.c_void_p(d_ptr),
                ctypes.c_void_p(workspace_ptr), None, 0)  # no stream list: the default stream

    def matmul(self, plan: Opaque, alpha_ptr: int, a_ptr: int, b_ptr: int, beta_ptr: int, c_ptr: int,
               d_ptr: int, workspace_ptr: int) -> None:
        """``D = alpha·A_compressed·B + beta·C`` (alpha/beta: host pointers to float32)."""
        self._call("cusparseLtMatmul", *self._matmul_args(plan, alpha_ptr, a_ptr, b_ptr, beta_ptr, c_ptr, d_ptr,
                                                          workspace_ptr))

    def search(self, plan: Opaque, alpha_ptr: int, a_ptr: int, b_ptr: int, beta_ptr: int, c_ptr: int,
               d_ptr: int, workspace_ptr: int) -> None:
        """``cusparseLtMatmulSearch``: runs candidate algorithms and leaves the fastest in ``plan``."""
        self._call("cusparseLtMatmulSearch", *self._matmul_args(plan, alpha_ptr, a_ptr, b_ptr, beta_ptr, c_ptr,
                                                                d_ptr, workspace_ptr))

    def destroy(self, *objects: Opaque) -> None:
        """Release descriptors and plans (errors ignored: this runs on the way out)."""
        for obj in objects:
            name = {"plan": "cusparseLtMatmulPlanDestroy", "dense": "cusparseLtMatDescriptorDestroy",
                    "structured": "cusparseLtMatDescriptorDestroy"}.get(obj.kind)
            if name and getattr(self.lib, name, None) is not None:
                getattr(self.lib, name)(obj.ptr)

    def close(self) -> None:
        if getattr(self.lib, "cusparseLtDestroy", None) is not None:
            self.lib.cusparseLtDestroy(self.handle.ptr)
