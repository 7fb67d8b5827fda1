"""cuSPARSE SpMM through CuPy, as PyTorch calls it: the cupy backend's CSR and COO points.

Each timed call is one user-level ``cusparseSpMM``: it creates the sparse and dense
descriptors, asks for the buffer size, allocates the buffer, multiplies and destroys the
descriptors, as PyTorch and ``cupyx.cusparse.spmm`` do on every call. B and C are
row-major (``CUSPARSE_ORDER_ROW``, how PyTorch calls it; the default) or column-major
(what ``cupyx.cusparse.spmm`` does), the indices int32 or int64: four variants, recorded
as ``b_layout`` / ``index_bits``. They need CuPy's generic-API binding
(``cupy_backends.cuda.libs.cusparse``, the calls in :data:`SPMM_CALLS`); where it is
missing, column-major int32 falls back to ``cupyx.cusparse.spmm`` and says so, and the
other variants are unsupported. A's device arrays are cached per (pattern, dtype, index
width): the atlas varies N innermost.

:class:`SpmmCalls` holds the methods; :class:`~sparsim.validate.backends.cupy_backend.CupyBackend`
inherits them and provides ``cp`` (the CuPy module), ``_host_operands(spec)`` and
``_sparse_cache``. The layout rule is a plain function:

>>> spmm_layout("row", m=4, k=3, n=2), spmm_layout("col", m=4, k=3, n=2)  # (order, ldb, ldc)
((2, 2, 2), (1, 3, 4))
>>> SPMM_CONSTANTS["CUSPARSE_ORDER_ROW"], SPMM_CONSTANTS["CUSPARSE_INDEX_64I"]
(2, 3)
"""

from __future__ import annotations

import numpy as np

from .base import Unsupported
from .cupy_host import sparse_dtype_name

__all__ = ["SPMM_CALLS", "SPMM_CONSTANTS", "SpmmCalls", "spmm_layout"]

#: cusparse.h enumerations, used where CuPy's binding does not export them
SPMM_CONSTANTS = {"CUSPARSE_INDEX_32I": 2, "CUSPARSE_INDEX_64I": 3, "CUSPARSE_INDEX_BASE_ZERO": 0,
                  "CUSPARSE_ORDER_COL": 1, "CUSPARSE_ORDER_ROW": 2, "CUSPARSE_SPMM_ALG_DEFAULT": 0,
                  "CUSPARSE_OPERATION_NON_TRANSPOSE": 0}
#: the generic-API calls the row-major / int64 variants need from cupy_backends.cuda.libs.cusparse
SPMM_CALLS = ("createCsr", "createCoo", "createDnMat", "spMM_bufferSize", "spMM", "destroySpMat", "destroyDnMat")


def spmm_layout(b_layout: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(cusparseOrder_t, leading dimension of B[k×n], of C[m×n]) for a B layout."""
    if b_layout == "row":
        return SPMM_CONSTANTS["CUSPARSE_ORDER_ROW"], n, n
    return SPMM_CONSTANTS["CUSPARSE_ORDER_COL"], k, m


class SpmmCalls:
    """The CSR / COO SpMM calls of the cupy backend (a base class of ``CupyBackend``)."""

    def _sparse(self, spec, impl, extra):
        if impl != "cusparse":
            raise Unsupported(f"impl {impl!r} for {spec.kernel} on the cupy backend; allowed: cusparse")
        cp = self.cp
        dtype = cp.dtype(sparse_dtype_name(spec.dtype))
        layout = spec.b_layout or "row"
        bits = spec.index_bits or 32
        extra["b_layout"], extra["index_bits"] = layout, bits
        a_host, b_host = self._host_operands(spec)
        index = cp.int32 if bits == 32 else cp.int64
        key = (spec.kernel, spec.m, spec.k, spec.density, spec.pattern, spec.seed, spec.dtype, bits)
        if self._sparse_cache is not None and self._sparse_cache[0] == key:
            arrays = self._sparse_cache[1]
        else:
            self._sparse_cache = None
            coo = a_host.tocoo()
            arrays = {"data": cp.asarray(a_host.data.astype(np.float32)).astype(dtype),
                      "indices": cp.asarray(a_host.indices).astype(index),
                      "indptr": cp.asarray(a_host.indptr).astype(index),
                      "row": cp.asarray(coo.row).astype(index), "nnz": int(a_host.nnz)}
            self._sparse_cache = (key, arrays)
        order = "C" if layout == "row" else "F"
        b = cp.asarray(b_host, order=order).astype(dtype, order=order)
        c = cp.full((spec.m, spec.n), cp.nan, dtype=dtype, order=order)
        import cupyx.scipy.sparse as csp

        ref_a = csp.csr_matrix((arrays["data"].astype(cp.float64), arrays["indices"].astype(cp.int32),
                                arrays["indptr"].astype(cp.int32)), shape=(spec.m, spec.k))
        reference = ref_a @ b.astype(cp.float64)
        del ref_a
        try:
            from cupy_backends.cuda.libs import cusparse
            missing = [name for name in SPMM_CALLS if not hasattr(cusparse, name)]
        except ImportError as exc:
            cusparse, missing = None, [f"cupy_backends.cuda.libs.cusparse ({exc})"]
        if missing:
            if layout == "col" and bits == 32:
                extra["fallback"] = f"cupyx.cusparse.spmm: CuPy's binding lacks {', '.join(missing)}"
                return self._sparse_cupyx(spec, arrays, b, c, reference)
            raise Unsupported(f"cuSPARSE SpMM with {layout}-major B and int{bits} indices needs the generic API; "
                              f"CuPy {cp.__version__} lacks {', '.join(missing)}")
        call = self._spmm_call(cusparse, spec, arrays, b, c, layout, bits, dtype)
        call(0)
        return call, c, reference, (f"cuSPARSE SpMM {spec.kernel.upper()} generic API ({layout}-major B, "
                                    f"int{bits} indices, CUSPARSE_SPMM_ALG_DEFAULT; cupy {cp.__version__})")

    def _spmm_call(self, cusparse, spec, arrays, b, c, layout, bits, dtype):
        """One user-level SpMM: descriptors, buffer size, buffer, SpMM, descriptors destroyed."""
        cp = self.cp
        const = {name: getattr(cusparse, name, value) for name, value in SPMM_CONSTANTS.items()}
        value_type = {"float16": 2, "float32": 0, "float64": 1}[dtype.name]  # cudaDataType
        compute = 1 if dtype.name == "float64" else 0  # CUDA_R_64F / CUDA_R_32F
        scalar = np.float64 if dtype.name == "float64" else np.float32
        alpha, beta = np.array(1.0, scalar), np.array(0.0, scalar)
        index_type = const["CUSPARSE_INDEX_32I"] if bits == 32 else const["CUSPARSE_INDEX_64I"]
        order, ldb, ldc = spmm_layout(layout, spec.m, spec.k, spec.n)
        order = const["CUSPARSE_ORDER_ROW"] if layout == "row" else const["CUSPARSE_ORDER_COL"]
        op = const["CUSPARSE_OPERATION_NON_TRANSPOSE"]
        alg = const["CUSPARSE_SPMM_ALG_DEFAULT"]
        handle = cp.cuda.device.get_cusparse_handle()
        base = const["CUSPARSE_INDEX_BASE_ZERO"]

        def call(i):
            if spec.kernel == "csr":
                mat_a = cusparse.createCsr(spec.m, spec.k, arrays["nnz"], arrays["indptr"].data.ptr,
                                           arrays["indices"].data.ptr, arrays["data"].data.ptr, index_type,
                                           index_type, base, value_type)
            else:
                mat_a = cusparse.createCoo(spec.m, spec.k, arrays["nnz"], arrays["row"].data.ptr,
                                           arrays["indices"].data.ptr, arrays["data"].data.ptr, index_type, base,
                                           value_type)
            mat_b = cusparse.createDnMat(spec.k, spec.n, ldb, b.data.ptr, value_type, order)
            mat_c = cusparse.createDnMat(spec.m, spec.n, ldc, c.data.ptr, value_type, order)
            try:
                size = cusparse.spMM_bufferSize(handle, op, op, alpha.ctypes.data, mat_a, mat_b, beta.ctypes.data,
                                                mat_c, compute, alg)
                buffer = cp.empty(max(int(size), 1), dtype=cp.int8)
                cusparse.spMM(handle, op, op, alpha.ctypes.data, mat_a, mat_b, beta.ctypes.data, mat_c, compute,
                              alg, buffer.data.ptr)
            finally:
                cusparse.destroySpMat(mat_a)
                cusparse.destroyDnMat(mat_b)
                cusparse.destroyDnMat(mat_c)

        return call

    def _sparse_cupyx(self, spec, arrays, b, c, reference):
        cp = self.cp
        import cupyx.cusparse
        import cupyx.scipy.sparse as csp

        if spec.kernel == "csr":
            a = csp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(spec.m, spec.k))
        else:
            a = csp.coo_matrix((arrays["data"], (arrays["row"], arrays["indices"])), shape=(spec.m, spec.k))
            a.sum_duplicates()
        result = cupyx.cusparse.spmm(a, b)
        return (lambda i: cupyx.cusparse.spmm(a, b, c=c)), result, reference, \
            f"cuSPARSE SpMM {spec.kernel.upper()} (cupyx.cusparse.spmm, column-major B, cupy {cp.__version__})"
