"""Sampled patterns: the statistics of a pattern too large to build, from its row lengths.

Above the memory budget (:mod:`sparsim.models.limits`) a generated pattern is not built.
Its generators (uniform, row-skewed, nm, channel) keep each row's nonzeros at columns
that are a uniformly random subset of [0, K) given the row's length, independently of
the other rows; so once each row's length ``c_i`` is drawn, everything a kernel model
needs follows from it, in memory that grows with M and time that does not grow with the
nonzeros. What is exact and what is estimated:

* **drawn exactly**: each row's length, from the generator's own distribution
  (Binomial(K, p) for uniform, Binomial(K, p_i) with the Pareto water-filled p_i for
  row-skewed, K·n/m_group for nm, K or 0 for channel). The realization is not the one
  :func:`~sparsim.models.patterns.generate` builds for the same seed, but has its law.
  From the row lengths, exactly: ``nnz``, ``row_nnz``, ``empty_rows``, ``tile_work``,
  the non-empty row groups and block rows.
* **expected values given the row lengths**: a column misses row i with probability
  ``1 - c_i/K``, independently across rows, so a set of rows touches
  ``K·(1 - prod(1 - c_i/K))`` columns on average (columns referenced, the union of a row
  group); a ``w``-wide column block misses row i with the hypergeometric probability
  ``C(K-w, c_i) / C(K, c_i)`` (BSR blocks per block row, block columns used). Per-group
  and per-block-row counts are rounded stochastically (seeded), so they are whole numbers
  whose sums are unbiased. For nm the columns within a group of m_group are not
  independent; the expectations are then within a few percent (blocks of width >= m_group
  are always occupied, for instance, where the estimate says 1 - 2^-w).
* **sampled**: the reuse-distance footprint of the B reads, from a SHARDS spatial sample
  (Waldspurger et al., FAST 2015) generated directly: a random set S of K·2^17/nnz
  columns, and for each row the number of its columns in S (Binomial(c_i, |S|/K), all of
  S for a full row), placed at random in S; the access keeps its rank in the row.

>>> p = sample_pattern("uniform", 4096, 4096, 0.05, seed=0)
>>> abs(p.nnz / (4096 * 4096) - 0.05) < 0.001, p.indptr.shape
(True, (4097,))
>>> bool(0.99 < p.cols_referenced() / 4096 <= 1.0)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
# scipy is imported where used: `import sparsim` stays cheap (tests/test_import_cost.py)

from ..errors import SparsimError, check_choice, check_density, check_positive_int
from . import patterns
from .formats import check_nm_shape

__all__ = ["SampledPattern", "sample_pattern"]

#: accesses kept by the spatial sample of the B-read stream (as simulator.reuse)
SAMPLE_BUDGET = 2**17


@dataclass(frozen=True, eq=False)
class SampledPattern:
    """Row lengths of an M×K pattern that is not built (see module doc); ``indptr`` and
    ``nnz`` as :class:`~sparsim.models.patterns.SparsityPattern` has them, no indices."""

    m: int
    k: int
    row_nnz: np.ndarray
    name: str
    seed: int = 0
    indptr: np.ndarray = field(init=False, repr=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        row_nnz = np.asarray(self.row_nnz, dtype=np.int64)
        if row_nnz.shape != (self.m,) or (row_nnz < 0).any() or (row_nnz > self.k).any():
            raise SparsimError(f"row_nnz: got shape {row_nnz.shape}; allowed: M = {self.m} lengths in [0, {self.k}]")
        indptr = np.zeros(self.m + 1, dtype=np.int64)
        np.cumsum(row_nnz, out=indptr[1:])
        for array in (row_nnz, indptr):
            array.flags.writeable = False
        object.__setattr__(self, "row_nnz", row_nnz)
        object.__setattr__(self, "indptr", indptr)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @property
    def density(self) -> float:
        return self.nnz / (self.m * self.k)

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def _log_miss(self, width: int) -> np.ndarray:
        """log P(row i has none of ``width`` given columns): log C(K-w, c) - log C(K, c)."""
        from scipy.special import gammaln

        key = ("log_miss", width)
        if key not in self._cache:
            k, c = float(self.k), self.row_nnz.astype(np.float64)
            out = np.full(self.m, -np.inf)
            fits = c <= k - width
            cf = c[fits]
            out[fits] = gammaln(k - width + 1) - gammaln(k - width - cf + 1) - gammaln(k + 1) + gammaln(k - cf + 1)
            self._cache[key] = out
        return self._cache[key]

    def cols_referenced(self) -> int:
        """Columns any row uses: K·(1 - prod(1 - c_i/K)), expected."""
        return int(round(self.k * -math.expm1(float(self._log_miss(1).sum()))))

    def _rounded(self, expected: np.ndarray, salt: int) -> np.ndarray:
        """Whole numbers with the given means: floor plus a seeded Bernoulli(fraction)."""
        base = np.floor(expected)
        base += self._rng(salt, expected.size).random(expected.size) < expected - base
        return base.astype(np.int64)

    def group_union(self, g: int) -> np.ndarray:
        """|union of columns| of each group of ``g`` consecutive rows (expected, rounded)."""
        key = ("union", g)
        if key not in self._cache:
            if g == 1:
                union = self.row_nnz.copy()
            else:
                log_miss = np.add.reduceat(self._log_miss(1), np.arange(0, self.m, g))
                union = self._rounded(-np.expm1(log_miss) * self.k, 1 + g)
            union.flags.writeable = False
            self._cache[key] = union
        return self._cache[key]

    def block_counts(self, r: int, c: int) -> np.ndarray:
        """Stored r×c blocks in each block row (expected, rounded); the last block column
        is K mod c wide when c does not divide K."""
        key = ("blocks", r, c)
        if key not in self._cache:
            starts = np.arange(0, self.m, r)
            full, edge = divmod(self.k, c)
            expected = full * -np.expm1(np.add.reduceat(self._log_miss(c), starts))
            if edge:
                expected += -np.expm1(np.add.reduceat(self._log_miss(edge), starts))
            counts = self._rounded(expected, 2 + r * 7919 + c)
            counts.flags.writeable = False
            self._cache[key] = counts
        return self._cache[key]

    def bsr_structure(self, r: int, c: int) -> tuple[int, int, int]:
        """(stored blocks, non-empty block rows, block columns used) of an r×c tiling."""
        counts = self.block_counts(r, c)
        nonempty = int(np.count_nonzero(np.add.reduceat(self.row_nnz, np.arange(0, self.m, r))))
        full, edge = divmod(self.k, c)
        cols = full * -math.expm1(float(self._log_miss(c).sum()))
        if edge:
            cols += -math.expm1(float(self._log_miss(edge).sum()))
        return int(counts.sum()), nonempty, int(round(cols))

    def access_sample(self, kind: str, rows: int = 1, cols: int = 1, salt: int = 0,
                      budget: int = SAMPLE_BUDGET):
        """SHARDS sample of the B-read stream: (positions, items, stream length, rate).

        ``kind`` as :func:`sparsim.simulator.reuse.gather_footprint`: "row" reads each
        row's columns; "group" the union of each group of ``rows`` rows; "block" the
        occupied block columns of each block row of ``rows``×``cols`` blocks.
        """
        if kind == "row":
            present, width = self.row_nnz, self.k
        elif kind == "group":
            present, width = self.group_union(rows), self.k
        else:
            present, width = self.block_counts(rows, cols), -(-self.k // cols)
        n = int(present.sum())
        rng = self._rng(3, salt, rows, cols, {"row": 0, "group": 1, "block": 2}[kind])
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), 0, 1.0
        # S is a uniformly random set of ``size`` of the ``width`` columns; as the columns
        # of a row are exchangeable, S is never listed: its j-th smallest member stands at
        # about (j + 1/2)·width/size, which is all the access's rank in its row needs
        size = min(width, max(1, round(width * min(1.0, budget / n))))
        hits = np.where(present >= width, size, rng.binomial(present, size / width))
        hits = np.minimum(hits, np.minimum(present, size))
        unit, slot = _distinct_slots(rng, hits, size)
        offsets = np.concatenate([[0], np.cumsum(present)[:-1]])
        # an access keeps its rank in its row: columns are read in ascending order
        rank = np.minimum(((2 * slot + 1) * present[unit]) // (2 * size), np.maximum(present[unit] - 1, 0))
        return offsets[unit] + rank, slot, n, size / width


def _distinct_slots(rng, hits: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each unit u, ``hits[u]`` distinct slots of [0, size), ascending: (unit, slot)."""
    units = np.flatnonzero(hits)
    crowded = units[hits[units] * 4 > size]  # a large share of the slots: rank random keys
    sparse = units[hits[units] * 4 <= size]  # a few: draw, then redraw duplicates
    unit_parts, slot_parts = [], []
    for lo in range(0, crowded.size, max(1, 2**22 // max(size, 1))):
        block = crowded[lo:lo + max(1, 2**22 // max(size, 1))]
        order = np.argsort(rng.random((block.size, size)), axis=1)
        keep = np.arange(size)[None, :] < hits[block][:, None]
        slots = np.sort(np.where(keep, order, size), axis=1)
        unit_parts.append(np.repeat(block, hits[block]))
        slot_parts.append(slots[slots < size])
    unit = np.repeat(sparse, hits[sparse])
    slot = rng.integers(0, size, unit.size)
    while unit.size:
        key = unit * size + slot
        order = np.argsort(key, kind="stable")
        dup = np.zeros(unit.size, dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not dup.any():
            break
        slot[dup] = rng.integers(0, size, int(dup.sum()))
    unit_parts.append(unit)
    slot_parts.append(slot)
    unit, slot = np.concatenate(unit_parts), np.concatenate(slot_parts)
    order = np.lexsort((slot, unit))
    return unit[order], slot[order]


def _row_lengths(rng, pattern: str, m: int, k: int, density: float, options: dict) -> np.ndarray:
    if pattern == "uniform":
        return rng.binomial(k, density, m)
    if pattern == "row-skewed":
        return rng.binomial(k, patterns.row_skewed_probabilities(rng, m, k, density, **options))
    if pattern == "nm":
        n, m_group = check_nm_shape(k, options.get("n", 2), options.get("m_group", 4))
        return np.full(m, (k // m_group) * n, dtype=np.int64)
    if pattern == "channel":
        lengths = np.zeros(m, dtype=np.int64)
        lengths[rng.choice(m, size=round(m * density), replace=False)] = k
        return lengths
    raise SparsimError(f"--pattern: got {pattern!r} above the memory budget; allowed: "
                       "uniform, row-skewed, nm, channel (those are sampled)")


def sample_pattern(pattern: str, m: int, k: int, density: float, *, seed: int = 0, **options) -> SampledPattern:
    """The sampled form of ``generate(pattern, m, k, density, seed=seed, **options)``."""
    check_choice("pattern", pattern, patterns.PATTERNS)
    m, k = check_positive_int("m", m), check_positive_int("k", k)
    density = check_density("density", density)
    allowed = patterns.pattern_options(pattern, options)
    rng = np.random.default_rng([seed, 0x5A3])
    return SampledPattern(m, k, _row_lengths(rng, pattern, m, k, density, allowed), pattern, seed)
