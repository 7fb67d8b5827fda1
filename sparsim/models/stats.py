"""Pattern statistics: the numbers a kernel's cost depends on, from one pass over the indices.

A SpMM's work is not set by the density alone. How nonzeros spread over rows decides load
balance (``row_nnz``, ``tile_work``); how many distinct columns they touch decides how many
rows of B are read (``cols_referenced``); and when a tensor-core kernel groups g rows into
one vector, every column any of them uses is multiplied for all g (``group_union``,
``executed_macs``). All of it is vectorized NumPy over ``indptr``/``indices``; Python
loops only over cache-sized slabs, never rows or nonzeros (DESIGN.md, "Simulation
budget"; >= 100 M nonzeros/s measured on 2 cores, benchmarks/bench_patterns.py).

A pattern too large to build is a :class:`~sparsim.models.sampled.SampledPattern`: its row
statistics (``row_nnz``, ``nnz``, ``empty_rows``, ``tile_work``) are exact for its drawn
row lengths; ``cols_referenced`` and ``group_union`` are expectations given them (see that
module for what is exact and what is estimated); ``col_nnz`` needs the built pattern.

The course-notes idea, on a 4×4 pattern: grouping rows 0-1 and 2-3 executes multiplications
on the zeros inside each group's union of columns.

>>> import numpy as np
>>> from sparsim.models.patterns import from_mask
>>> a = np.array([[0, 3, 0, 7], [0, 0, 8, 0], [2, 5, 0, 0], [0, 0, 0, 9]])
>>> st = pattern_stats(from_mask(a))
>>> st.row_nnz.tolist(), st.cols_referenced, st.group_union(2).tolist()
([2, 1, 2, 1], 4, [3, 3])
>>> st.executed_macs(1, n=1), st.executed_macs(2, n=1), st.executed_macs(4, n=1)
(6, 12, 16)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
# scipy is imported where used: `import sparsim` stays cheap (tests/test_import_cost.py)

from ..errors import SparsimError, check_positive_int
from .patterns import SparsityPattern
from .sampled import SampledPattern

__all__ = ["PatternStats", "pattern_stats"]


@dataclass(frozen=True, eq=False)
class PatternStats:
    """Statistics of one :class:`SparsityPattern`; build with :func:`pattern_stats`.

    Per-group and per-column queries are computed on first use and cached.
    """

    m: int
    k: int
    nnz: int
    row_nnz: np.ndarray
    cols_referenced: int
    empty_rows: int
    pattern: SparsityPattern | SampledPattern = field(repr=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def density(self) -> float:
        return self.nnz / (self.m * self.k)

    @property
    def row_nnz_mean(self) -> float:
        return self.nnz / self.m

    @property
    def row_nnz_max(self) -> int:
        return int(self.row_nnz.max())

    @property
    def row_nnz_cv(self) -> float:
        """Coefficient of variation of row lengths (std / mean; 0 for an empty pattern)."""
        mean = self.row_nnz_mean
        return float(self.row_nnz.std() / mean) if mean > 0 else 0.0

    def col_nnz(self) -> np.ndarray:
        """Nonzeros in each of the K columns."""
        if "col_nnz" not in self._cache:
            if isinstance(self.pattern, SampledPattern):
                raise SparsimError(f"col_nnz: the {self.m}x{self.k} pattern was sampled, not built; "
                                   "allowed: a pattern within the memory budget")
            self._cache["col_nnz"] = _read_only(_col_nnz(self.pattern))
        return self._cache["col_nnz"]

    def tile_work(self, tile_m: int) -> np.ndarray:
        """Nonzeros in each consecutive block of ``tile_m`` rows (the last may be short):
        the work of each CTA when a kernel gives one tile of rows to each."""
        tile_m = check_positive_int("tile_m", tile_m)
        bounds = np.append(np.arange(0, self.m, tile_m), self.m)
        return np.diff(self.pattern.indptr[bounds])

    def group_union(self, g: int) -> np.ndarray:
        """|union of column indices| of each consecutive group of ``g`` rows.

        Two exact methods, picked by cost (both touch each nonzero once, no sort):
        marking a (groups × K) bitmap slab by slab, which also scans M·K/g bytes and so
        wins once nonzeros are dense enough; or the column-order walk of
        :func:`_group_union_by_columns` for sparser patterns.
        """
        g = check_positive_int("g", g)
        key = ("group_union", g)
        if key not in self._cache:
            p = self.pattern
            if isinstance(p, SampledPattern):
                union = p.group_union(g)
            elif g == 1:
                union = self.row_nnz.copy()
            elif p.nnz * _BITMAP_BYTES_PER_NNZ >= p.m * p.k // g:
                union = _group_union_bitmap(p, g)
            else:
                union = _group_union_by_columns(p, g)
            self._cache[key] = _read_only(union.astype(np.int64, copy=False))
        return self._cache[key]

    def executed_macs(self, g: int, n: int) -> int:
        """Multiply-accumulates a kernel executes when it computes g rows at a time.

        Course notes ("grouping multiple unstructured vectors leads to more wasted
        computation"): each group multiplies every column in its union for all of its
        rows, so executed MACs = sum over groups of |union| × rows in group × N. The
        last group has M mod g rows when g does not divide M (padding rows produce no
        output), so useful <= executed <= M·K·N always holds.
        """
        n = check_positive_int("n", n)
        union = self.group_union(g)
        rows_in_group = np.full(union.size, min(g, self.m), dtype=np.int64)
        rows_in_group[-1] = self.m - (union.size - 1) * g
        return int(np.dot(union, rows_in_group)) * n

    def to_dict(self) -> dict:
        """The scalar statistics as plain JSON-able values."""
        return {
            "m": self.m, "k": self.k, "nnz": self.nnz, "density": self.density,
            "cols_referenced": self.cols_referenced, "empty_rows": self.empty_rows,
            "row_nnz_mean": self.row_nnz_mean, "row_nnz_max": self.row_nnz_max,
            "row_nnz_cv": self.row_nnz_cv,
        }


# Measured on a 2-core machine: marking a nonzero costs about as much as scanning 8 bitmap
# bytes, and the column walk costs about 3x a mark; so the bitmap wins once there is a
# nonzero per ~12 bitmap bytes. 8 keeps a margin for the walk's per-slab overheads.
_BITMAP_BYTES_PER_NNZ = 8
# work per vectorized slab: small enough that its scattered writes stay in cache
_SLAB_BITMAP_BYTES = 2**20
_SLAB_NNZ = 2**18


def _group_union_bitmap(p: SparsityPattern, g: int) -> np.ndarray:
    """Mark (group, column) in a bool bitmap, a slab of groups at a time, then count."""
    groups = -(-p.m // g)
    union = np.empty(groups, dtype=np.int64)
    per_slab = max(1, _SLAB_BITMAP_BYTES // p.k)  # groups per slab
    bitmap = np.zeros(per_slab * p.k, dtype=bool)
    for first in range(0, groups, per_slab):
        count = min(per_slab, groups - first)
        lo, hi = first * g, min(p.m, (first + count) * g)
        row_group = (np.arange(hi - lo, dtype=np.int64) // g) * p.k
        marks = np.repeat(row_group, np.diff(p.indptr[lo:hi + 1]))
        marks += p.indices[p.indptr[lo]:p.indptr[hi]]
        bitmap[:] = False
        bitmap[marks] = True
        union[first:first + count] = bitmap[:count * p.k].reshape(count, p.k).sum(axis=1)
    return union


def _group_union_by_columns(p: SparsityPattern, g: int) -> np.ndarray:
    """Walk each slab of rows in column order (SciPy's O(nnz) CSR->CSC counting sort
    keeps rows ascending within a column): a column joins a group's union exactly
    where the group of consecutive entries changes."""
    import scipy.sparse as sp

    groups = -(-p.m // g)
    union = np.empty(groups, dtype=np.int64)
    rows_per_slab = max(1, _SLAB_NNZ * p.m // max(p.nnz, 1) // g) * g
    for lo in range(0, p.m, rows_per_slab):
        hi = min(p.m, lo + rows_per_slab)
        start, stop = p.indptr[lo], p.indptr[hi]
        slab = sp.csr_matrix((np.ones(stop - start, dtype=bool), p.indices[start:stop],
                              p.indptr[lo:hi + 1] - start), shape=(hi - lo, p.k)).tocsc()
        group = slab.indices // g
        joins = np.empty(group.size, dtype=bool)
        if group.size:
            joins[0] = True
            np.not_equal(group[1:], group[:-1], out=joins[1:])
            joins[slab.indptr[:-1][np.diff(slab.indptr) > 0]] = True  # each column starts anew
        union[lo // g:-(-hi // g)] = np.bincount(group[joins], minlength=-(-(hi - lo) // g))
    return union


def _col_nnz(p: SparsityPattern) -> np.ndarray:
    """Nonzeros per column; bincount in chunks, which stays in cache and avoids the
    int64 copy of every index that one big bincount makes (2x faster measured)."""
    counts = np.zeros(p.k, dtype=np.int64)
    for start in range(0, p.nnz, 2**20):
        counts += np.bincount(p.indices[start:start + 2**20], minlength=p.k)
    return counts


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def pattern_stats(pattern: SparsityPattern | SampledPattern) -> PatternStats:
    """One vectorized pass over ``pattern``: row lengths, columns touched, empty rows.

    The result is kept on the pattern (patterns are immutable values), so a sweep that
    reuses one pattern across profiles, dtypes and batch sizes computes it once.
    """
    cached = pattern.__dict__.get("_stats")
    if cached is not None:
        return cached
    if isinstance(pattern, SampledPattern):
        stats = PatternStats(
            m=pattern.m, k=pattern.k, nnz=pattern.nnz, row_nnz=pattern.row_nnz,
            cols_referenced=pattern.cols_referenced(),
            empty_rows=int(pattern.m - np.count_nonzero(pattern.row_nnz)), pattern=pattern,
        )
        object.__setattr__(pattern, "_stats", stats)
        return stats
    row_nnz = _read_only(np.diff(pattern.indptr))
    col_nnz = _col_nnz(pattern)
    stats = PatternStats(
        m=pattern.m, k=pattern.k, nnz=pattern.nnz, row_nnz=row_nnz,
        cols_referenced=int(np.count_nonzero(col_nnz)),
        empty_rows=int(pattern.m - np.count_nonzero(row_nnz)),
        pattern=pattern,
    )
    stats._cache["col_nnz"] = _read_only(col_nnz)
    object.__setattr__(pattern, "_stats", stats)
    return stats
