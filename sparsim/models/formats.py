"""Storage formats: how many bytes a matrix takes as dense, COO, CSR, BSR, N:M or channel-pruned.

A is the M×K weight matrix (rows = output channels). A format stores *values* (one per kept
element, ``value_bytes`` each) and *index* data (row/column indices, row pointers, N:M
metadata). How wide an index is depends on a policy:

* ``"minimal"`` — the narrowest unsigned integer that holds the largest value stored:
  1 byte below 256, 2 below 65,536, 4 below 2**32, else 8 (course notes, "CSR Overhead":
  column indices are sized by the number of columns, row pointers by the number of
  nonzeros, because the last pointer equals nnz).
* ``"library"`` — what cuSPARSE / SciPy use by default: int32, or int64 once a value
  reaches 2**31.
* ``"int32"`` / ``"int64"`` — one fixed width, as a library call is made with
  ``CUSPARSE_INDEX_32I`` / ``_64I`` (PyTorch's sparse tensors default to int64);
  ``"int32"`` refuses a value that does not fit.

The course-notes 4×4 example, with 2-byte values: 6 values, 6 one-byte column indices and
5 one-byte row pointers, 23 bytes against 32 dense:

>>> import numpy as np
>>> a = np.array([[0, 3, 0, 7], [0, 0, 8, 0], [2, 5, 0, 0], [0, 0, 0, 9]])
>>> [x.tolist() for x in csr_arrays(a)]
[[3, 7, 8, 2, 5, 9], [1, 3, 2, 0, 1, 3], [0, 2, 3, 5, 6]]
>>> csr_storage(4, 4, nnz=6, value_bytes=2).bytes_total, dense_storage(4, 4, 2).bytes_total
(23, 32)
>>> storage_of(a, "csr", value_bytes=2).bytes_total
23

The formula functions (``csr_storage`` ...) need only sizes; :func:`storage_of` builds the
real arrays from a matrix and sums their ``nbytes``, so the two can be checked against
each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np
# scipy is imported where used: `import sparsim` stays cheap (tests/test_import_cost.py)

from ..errors import SparsimError, check_choice, check_positive_int
from .indexwidth import INDEX_POLICIES, index_dtype, index_width_bytes  # noqa: F401  (re-exported)
from .indexwidth import check_count as _check_count

__all__ = [
    "INDEX_POLICIES",
    "FORMATS",
    "VALUE_BYTES",
    "index_width_bytes",
    "index_dtype",
    "Storage",
    "dense_storage",
    "coo_storage",
    "csr_storage",
    "bsr_storage",
    "nm_storage",
    "nm_metadata_bits",
    "channel_storage",
    "storage_of",
    "csr_arrays",
]

FORMATS = ("dense", "coo", "csr", "bsr", "nm", "channel")
#: element widths storage_of can build arrays for: int8/fp8, fp16/bf16, fp32/tf32, fp64
VALUE_BYTES = (1, 2, 4, 8)

# stand-in value types of each width; only their itemsize matters for byte counts
_VALUE_DTYPES = {1: np.int8, 2: np.float16, 4: np.float32, 8: np.float64}


@dataclass(frozen=True)
class Storage:
    """Bytes a matrix takes in one format, split into named parts.

    ``bytes_values`` is the ``"values"`` part; ``bytes_index`` is every other part
    (indices, pointers, metadata).
    """

    format: str
    bytes_values: int
    bytes_index: int
    parts: Mapping[str, int]

    @property
    def bytes_total(self) -> int:
        return self.bytes_values + self.bytes_index

    def to_dict(self) -> dict:
        """Plain JSON-able values."""
        return {
            "format": self.format,
            "bytes_values": self.bytes_values,
            "bytes_index": self.bytes_index,
            "bytes_total": self.bytes_total,
            "parts": dict(self.parts),
        }


def _storage(fmt: str, parts: dict[str, int]) -> Storage:
    parts = {name: int(nbytes) for name, nbytes in parts.items()}
    values = parts.get("values", 0)
    return Storage(fmt, values, sum(parts.values()) - values, MappingProxyType(parts))


def _check_value_bytes(value_bytes) -> int:
    """Bytes per stored value: any whole number >= 1 in the formulas (a grouped kernel
    stores vectors of g values as one "value" of g·b bytes)."""
    return check_positive_int("value_bytes", value_bytes)


def _value_dtype(value_bytes) -> np.dtype:
    """A numpy type of the given width, for building real arrays."""
    if isinstance(value_bytes, (bool, np.bool_)) or not isinstance(value_bytes, (int, np.integer)) \
            or int(value_bytes) not in _VALUE_DTYPES:
        raise SparsimError(
            f"value_bytes: got {value_bytes!r}; allowed: {', '.join(map(str, VALUE_BYTES))}"
        )
    return np.dtype(_VALUE_DTYPES[int(value_bytes)])


def _check_nnz(nnz, m: int, k: int) -> int:
    nnz = _check_count("nnz", nnz)
    if nnz > m * k:
        raise SparsimError(f"nnz: got {nnz}; allowed: 0 to M*K = {m * k}")
    return nnz


def _check_block(block) -> tuple[int, int]:
    try:
        r, c = block
    except (TypeError, ValueError):
        raise SparsimError(
            f"block: got {block!r}; allowed: two whole numbers >= 1, (rows, cols)"
        ) from None
    return check_positive_int("block rows", r), check_positive_int("block cols", c)


def dense_storage(m: int, k: int, value_bytes: int) -> Storage:
    """M·K values, no index (course notes: a dense M×K matrix costs M·K·b bytes)."""
    m, k = check_positive_int("m", m), check_positive_int("k", k)
    return _storage("dense", {"values": m * k * _check_value_bytes(value_bytes)})


def coo_storage(m: int, k: int, nnz: int, value_bytes: int, policy: str = "minimal") -> Storage:
    """COO: per nonzero a value, a row index and a column index (course notes, "COO")."""
    m, k = check_positive_int("m", m), check_positive_int("k", k)
    nnz, value_bytes = _check_nnz(nnz, m, k), _check_value_bytes(value_bytes)
    return _storage("coo", {
        "values": nnz * value_bytes,
        "row_indices": nnz * index_width_bytes(m - 1, policy),
        "col_indices": nnz * index_width_bytes(k - 1, policy),
    })


def csr_storage(m: int, k: int, nnz: int, value_bytes: int, policy: str = "minimal") -> Storage:
    """CSR: nnz values, nnz column indices, M+1 row pointers sized by nnz (course notes)."""
    m, k = check_positive_int("m", m), check_positive_int("k", k)
    nnz, value_bytes = _check_nnz(nnz, m, k), _check_value_bytes(value_bytes)
    return _storage("csr", {
        "values": nnz * value_bytes,
        "col_indices": nnz * index_width_bytes(k - 1, policy),
        # the last pointer equals nnz, so nnz sets the width
        "row_pointers": (m + 1) * index_width_bytes(nnz, policy),
    })


def bsr_storage(m: int, k: int, n_blocks: int, block: tuple[int, int] = (16, 16),
                value_bytes: int = 2, policy: str = "minimal") -> Storage:
    """Block CSR: CSR over r×c blocks, each stored block keeps all r·c values.

    Block-column indices run to ceil(K/c) - 1; ceil(M/r) + 1 block-row pointers are sized by
    ``n_blocks`` (SciPy ``bsr_matrix``, cuSPARSE BSR). Edge blocks are stored full size.
    """
    m, k = check_positive_int("m", m), check_positive_int("k", k)
    r, c = _check_block(block)
    block_rows, block_cols = math.ceil(m / r), math.ceil(k / c)
    n_blocks = _check_count("n_blocks", n_blocks)
    if n_blocks > block_rows * block_cols:
        raise SparsimError(
            f"n_blocks: got {n_blocks}; allowed: 0 to {block_rows * block_cols} "
            f"({r}x{c} blocks in a {m}x{k} matrix)"
        )
    return _storage("bsr", {
        "values": n_blocks * r * c * _check_value_bytes(value_bytes),
        "block_col_indices": n_blocks * index_width_bytes(block_cols - 1, policy),
        "block_row_pointers": (block_rows + 1) * index_width_bytes(n_blocks, policy),
    })


def check_nm_shape(k: int, n, m_group, what: str = "K") -> tuple[int, int]:
    """Check ``n`` of ``m_group`` along a dimension of length ``k``; say the padding needed."""
    n, m_group = check_positive_int("n", n), check_positive_int("m_group", m_group)
    if n > m_group:
        raise SparsimError(f"n: got {n}; allowed: 1 to m_group = {m_group}")
    if k % m_group:
        padded = -(-k // m_group) * m_group
        raise SparsimError(
            f"{what}={k}, not a multiple of {m_group}; pad {what} to {padded} for {n}:{m_group} sparsity"
        )
    return n, m_group


def nm_metadata_bits(m_group: int = 4) -> int:
    """Bits of metadata per kept value: its position within its group of ``m_group``.

    2 for 2:4 (NVIDIA A100 whitepaper, "Fine-grained structured sparsity": 2-bit indices
    per nonzero; cuSPARSELt; course notes "2 bits per nonzero element"). Other N:M widths
    use the same rule, ceil(log2(m_group)) bits.

    >>> nm_metadata_bits(4), nm_metadata_bits(8)
    (2, 3)
    """
    return max(1, math.ceil(math.log2(check_positive_int("m_group", m_group))))


def nm_storage(m: int, k: int, n: int = 2, m_group: int = 4, value_bytes: int = 2) -> Storage:
    """N:M: n of every m_group values along K are kept, plus a position per kept value.

    >>> s = nm_storage(4, 8, value_bytes=2)   # 16 kept fp16 values, 16 × 2 bits
    >>> s.parts["values"], s.parts["metadata"]
    (32, 4)
    """
    m, k = check_positive_int("m", m), check_positive_int("k", k)
    n, m_group = check_nm_shape(k, n, m_group)
    kept = m * (k // m_group) * n
    metadata_bits = kept * nm_metadata_bits(m_group)
    return _storage("nm", {
        "values": kept * _check_value_bytes(value_bytes),
        "metadata": -(-metadata_bits // 8),  # rounded up to whole bytes
    })


def channel_storage(m_kept: int, k: int, value_bytes: int) -> Storage:
    """Channel (filter) pruning: a smaller dense matrix of the kept rows, no index."""
    m_kept, k = _check_count("m_kept", m_kept), check_positive_int("k", k)
    return _storage("channel", {"values": m_kept * k * _check_value_bytes(value_bytes)})


# -- from a real matrix -------------------------------------------------------------------

def _as_csr(matrix) -> sp.csr_matrix:
    """Canonical CSR of a 2-D numpy array or scipy sparse matrix; zeros count as pruned."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        if matrix.ndim != 2:
            raise SparsimError(f"matrix: got {matrix.ndim}-D; allowed: a 2-D matrix")
        csr = sp.csr_matrix(matrix, copy=True)
    else:
        array = np.asarray(matrix)
        if array.ndim != 2 or array.dtype == object:
            raise SparsimError(
                f"matrix: got a {array.ndim}-D {array.dtype} array; "
                "allowed: a 2-D numeric numpy array or scipy sparse matrix"
            )
        csr = sp.csr_matrix(array)
    csr.sum_duplicates()  # also sorts column indices within rows
    csr.eliminate_zeros()
    if csr.shape[0] < 1 or csr.shape[1] < 1:
        raise SparsimError(f"matrix: got shape {csr.shape}; allowed: at least 1x1")
    return csr


def csr_arrays(matrix, policy: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, col_indices, row_pointers) of a dense array or scipy matrix.

    Zeros are dropped, columns sorted within each row. With ``policy`` the index arrays
    are cast to that policy's width; without, they keep SciPy's dtype.
    """
    csr = _as_csr(matrix)
    values, cols, pointers = csr.data, csr.indices, csr.indptr
    if policy is not None:
        cols = cols.astype(index_dtype(csr.shape[1] - 1, policy))
        pointers = pointers.astype(index_dtype(csr.nnz, policy))
    return values, cols, pointers


def _nm_arrays(csr: sp.csr_matrix, n: int, m_group: int, value_dtype) -> dict[str, np.ndarray]:
    """Compressed values (n per group, zero-padded) and packed position metadata."""
    m, k = csr.shape
    n, m_group = check_nm_shape(k, n, m_group)
    groups = m * (k // m_group)
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(csr.indptr))
    group_of = rows * (k // m_group) + csr.indices // m_group
    per_group = np.bincount(group_of, minlength=groups)
    if per_group.size and per_group.max() > n:
        worst = int(np.argmax(per_group))
        raise SparsimError(
            f"matrix: row {worst // (k // m_group)} has {per_group[worst]} nonzeros in one "
            f"group of {m_group}; allowed: at most {n} ({n}:{m_group} sparsity)"
        )
    values = np.zeros((groups, n), dtype=value_dtype)
    positions = np.zeros((groups, n), dtype=np.uint8)
    # slot of each nonzero within its group: CSR order keeps a group's nonzeros together
    first = np.concatenate(([0], np.cumsum(per_group)[:-1]))
    slot = np.arange(csr.nnz) - first[group_of]
    values[group_of, slot] = csr.data
    positions[group_of, slot] = csr.indices % m_group
    bits_per = nm_metadata_bits(m_group)
    # little-endian bit planes of each position, packed 8 bits to a byte
    bits = (positions.reshape(-1, 1) >> np.arange(bits_per, dtype=np.uint8)) & 1
    return {"values": values, "metadata": np.packbits(bits.astype(np.uint8).ravel())}


def storage_of(matrix, fmt: str, value_bytes: int, policy: str = "minimal",
               block: tuple[int, int] = (16, 16), *, n: int = 2,
               m_group: int = 4) -> Storage:
    """Bytes of ``matrix`` in ``fmt``, counted from the arrays a library would hold.

    ``matrix`` is a 2-D numpy array (zeros are pruned elements) or a scipy sparse
    matrix. ``"nm"`` refuses a matrix with more than ``n`` nonzeros in a group;
    ``"channel"`` keeps the rows holding any nonzero; ``"bsr"`` pads the matrix with
    zeros to whole blocks first, as ``bsr_storage`` counts edge blocks full size.
    """
    check_choice("format", fmt, FORMATS)
    check_choice("index policy", policy, INDEX_POLICIES)
    value_dtype = _value_dtype(value_bytes)
    csr = _as_csr(matrix)
    arrays = _ARRAYS[fmt](csr, value_dtype, policy, block=block, n=n, m_group=m_group)
    return _storage(fmt, {name: array.nbytes for name, array in arrays.items()})


def _dense_arrays(csr, value_dtype, policy, **_):
    m, k = csr.shape
    return {"values": np.empty((m, k), dtype=value_dtype)}


def _coo_arrays(csr, value_dtype, policy, **_):
    m, k = csr.shape
    coo = csr.tocoo()
    return {
        "values": coo.data.astype(value_dtype),
        "row_indices": coo.row.astype(index_dtype(m - 1, policy)),
        "col_indices": coo.col.astype(index_dtype(k - 1, policy)),
    }


def _csr_arrays(csr, value_dtype, policy, **_):
    values, cols, pointers = csr_arrays(csr, policy)
    return {"values": values.astype(value_dtype), "col_indices": cols, "row_pointers": pointers}


def _bsr_arrays(csr, value_dtype, policy, *, block, **_):
    m, k = csr.shape
    r, c = _check_block(block)
    padded_m, padded_k = -(-m // r) * r, -(-k // c) * c
    # the extra empty rows at the bottom each need a row pointer (equal to nnz)
    indptr = np.concatenate([csr.indptr, np.full(padded_m - m, csr.nnz, csr.indptr.dtype)])
    import scipy.sparse as sp

    padded = sp.csr_matrix((csr.data, csr.indices, indptr), shape=(padded_m, padded_k))
    bsr = padded.tobsr(blocksize=(r, c))
    n_blocks = bsr.indices.size
    return {
        "values": bsr.data.astype(value_dtype),
        "block_col_indices": bsr.indices.astype(index_dtype(padded_k // c - 1, policy)),
        "block_row_pointers": bsr.indptr.astype(index_dtype(n_blocks, policy)),
    }


def _nm_format_arrays(csr, value_dtype, policy, *, n, m_group, **_):
    return _nm_arrays(csr, n, m_group, value_dtype)


def _channel_arrays(csr, value_dtype, policy, **_):
    kept_rows = np.flatnonzero(np.diff(csr.indptr))
    return {"values": np.empty((kept_rows.size, csr.shape[1]), dtype=value_dtype)}


#: storage format -> the arrays a library holds for it (one function per format)
_ARRAYS = {"dense": _dense_arrays, "coo": _coo_arrays, "csr": _csr_arrays, "bsr": _bsr_arrays,
           "nm": _nm_format_arrays, "channel": _channel_arrays}
assert tuple(_ARRAYS) == FORMATS
