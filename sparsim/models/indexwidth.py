"""Index widths: how many bytes one row or column index of a sparse format takes.

The width depends on the largest value an index array must hold and on a policy:
``"minimal"`` the narrowest unsigned integer that holds it (1 byte below 256, 2 below
65,536, 4 below 2**32, else 8; course notes, "CSR Overhead": column indices are sized by
the number of columns, row pointers by the number of nonzeros); ``"library"`` int32, or
int64 once a value reaches 2**31 (cuSPARSE's and SciPy's default); ``"int32"`` /
``"int64"`` one fixed width (``CUSPARSE_INDEX_32I`` / ``_64I``; PyTorch's sparse tensors
default to int64). :mod:`sparsim.models.formats` sums the bytes of each format with it
(and every name here imports from there as well).

>>> index_width_bytes(255), index_width_bytes(256, "minimal"), index_width_bytes(256, "library")
(1, 2, 4)
>>> index_dtype(70_000), index_dtype(70_000, "int64")
(dtype('uint32'), dtype('int64'))
"""

from __future__ import annotations

import numpy as np

from ..errors import SparsimError, check_choice

__all__ = ["INDEX_POLICIES", "index_width_bytes", "index_dtype", "check_count"]

INDEX_POLICIES = ("minimal", "library", "int32", "int64")

# numpy types that hold an index of each width under each policy (minimal is unsigned:
# 255 must fit in one byte; library matches cuSPARSE's CUSPARSE_INDEX_32I / _64I)
_INDEX_DTYPES = {
    "minimal": {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64},
    "library": {4: np.int32, 8: np.int64},
    "int32": {4: np.int32},
    "int64": {8: np.int64},
}

def check_count(name: str, value) -> int:
    """A whole number >= 0 (nnz, block counts and kept rows may be zero)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, float) and value.is_integer()):
            raise SparsimError(f"{name}: got {value!r}; allowed: a whole number >= 0")
    value = int(value)
    if value < 0:
        raise SparsimError(f"{name}: got {value}; allowed: a whole number >= 0")
    return value


def index_width_bytes(max_value: int, policy: str = "minimal") -> int:
    """Bytes per index when the largest value an index array must hold is ``max_value``.

    >>> index_width_bytes(255), index_width_bytes(256), index_width_bytes(65_536)
    (1, 2, 4)
    >>> index_width_bytes(255, "library"), index_width_bytes(2**31, "library")
    (4, 8)
    """
    check_choice("index policy", policy, INDEX_POLICIES)
    max_value = check_count("largest index value", max_value)
    if policy == "library":
        return 4 if max_value < 2**31 else 8
    if policy == "int64":
        return 8
    if policy == "int32":
        if max_value >= 2**31:
            raise SparsimError(f"index policy int32: largest index {max_value} does not fit in int32; "
                               "allowed: values below 2**31 (use int64)")
        return 4
    # course notes, "CSR Overhead": 1 byte if it fits in a byte, 2 if in 16 bits, ...
    for width in (1, 2, 4):
        if max_value < 2 ** (8 * width):
            return width
    return 8


def index_dtype(max_value: int, policy: str = "minimal") -> np.dtype:
    """The numpy dtype an index array with largest value ``max_value`` is stored as."""
    return np.dtype(_INDEX_DTYPES[policy][index_width_bytes(max_value, policy)])
