"""Cache hit rates from the pattern's own reuse: how often a gathered B row is still in L2.

A sparse kernel reads the row of B named by each nonzero's column index. Whether that
read hits in L2 depends on how many *other* rows were touched since the same row was
last read (its reuse distance, in rows) against how many rows L2 holds. That is a
property of the pattern, not of its density alone: a banded matrix reuses B rows at
short distance, a uniform one at distance ~K, a power-law one in between.

The hit rate is computed from the access stream (column indices in the order the kernel
reads them) with two standard tools:

* **Footprint theory** (Xiang, Ding, Luo et al., "HOTL: a higher order theory of
  locality", ASPLOS 2013): the average number of distinct items ``fp(w)`` in a window of
  ``w`` accesses follows in linear time from first-access times, last-access times and
  the histogram of reuse times; the LRU miss ratio of a cache holding ``c`` items is the
  slope ``fp(w+1) - fp(w)`` where ``fp(w) = c``. Cold misses are included.
* **Spatial sampling** (Waldspurger et al., "Efficient MRC construction with SHARDS",
  FAST 2015): keep only the accesses to items whose hash falls below a threshold
  (rate ``R``); their footprint divided by ``R`` estimates the full one. The stream is
  sampled to about 2^17 accesses, so the cost is one hash over the indices.

One B row is ``ceil(N·bytes/32)`` sectors: a row is read whole (all its N-tiles run
concurrently), so the sector granularity enters through the row's size in L2.

Memory stays bounded: a built pattern's stream is hashed a chunk at a time and only the
sampled accesses are kept ("group" and "block" streams are made a slab of whole groups at
a time); a pattern too large to build (:class:`~sparsim.models.sampled.SampledPattern`)
generates its sampled accesses directly from its row lengths.

The curve depends only on the pattern, so it is cached per pattern object (and per
content digest, for the same pattern regenerated): a sweep over profiles, dtypes and
batch sizes computes it once.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> fp = footprint(rng.integers(0, 1000, 200_000))   # uniform over 1000 items
>>> round(fp.miss_ratio(500), 2), round(fp.miss_ratio(2000), 3)  # half fit; all fit
(0.5, 0.005)
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..models.sampled import SampledPattern

__all__ = ["Footprint", "footprint", "footprint_of", "gather_footprint", "per_block_counts"]

#: accesses kept by spatial sampling
SAMPLE_BUDGET = 2**17
_GRID_POINTS = 192
_by_object: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_by_digest: OrderedDict[tuple, Footprint] = OrderedDict()
_DIGEST_ENTRIES = 32
# accesses hashed (or nonzeros turned into keys) per vectorized chunk: bounded temporaries
_HASH_CHUNK = 2**22


@dataclass(frozen=True)
class Footprint:
    """Average footprint ``fp(w)`` of an access stream on a log grid of window sizes."""

    accesses: int
    distinct: float
    sampling_rate: float
    window: np.ndarray
    fp: np.ndarray

    def miss_ratio(self, capacity_items: float) -> float:
        """LRU miss ratio of a cache holding ``capacity_items`` items (cold misses included)."""
        if self.accesses == 0:
            return 0.0
        cold = min(1.0, self.distinct / self.accesses)
        if capacity_items >= self.fp[-1]:
            return cold
        if capacity_items <= self.fp[0]:
            return 1.0
        j = int(np.searchsorted(self.fp, capacity_items, side="right")) - 1
        j = min(max(j, 0), len(self.fp) - 2)
        slope = (self.fp[j + 1] - self.fp[j]) / max(self.window[j + 1] - self.window[j], 1)
        return float(min(1.0, max(cold, slope)))

    def hit_rate(self, capacity_items: float) -> float:
        return 1.0 - self.miss_ratio(capacity_items)


def _tail_sums(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum over values > w of (value - w), for each w (values sorted ascending)."""
    csum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    idx = np.searchsorted(values, w, side="right")
    count = values.size - idx
    return (csum[-1] - csum[idx]) - w * count


def _kept(items: np.ndarray, salt: int, rate: float) -> np.ndarray:
    """SHARDS: hash each item id, keep those under rate·2^32 (Knuth's multiplicative hash)."""
    h = items.astype(np.uint32)
    h += np.uint32((salt * 0x9E3779B1 + 1) & 0xFFFFFFFF)
    h *= np.uint32(2654435761)
    return h < np.uint32(min(int(rate * 2**32), 2**32 - 1))


def _streamed(chunks, n: int, salt: int, budget: int) -> Footprint:
    """Footprint of a stream of ``n`` accesses that arrives in ``chunks`` (bounded memory:
    each chunk is hashed and dropped; only the sampled accesses are kept)."""
    rate = min(1.0, budget / n) if n else 1.0
    positions, items, offset = [], [], 0
    for chunk in chunks:
        if rate < 1.0:
            keep = np.flatnonzero(_kept(chunk, salt, rate))
            positions.append(keep + offset)
            items.append(chunk[keep])
        else:
            positions.append(np.arange(offset, offset + chunk.size))
            items.append(chunk)
        offset += chunk.size
    empty = np.zeros(0, dtype=np.int64)
    return footprint_of(np.concatenate([empty, *positions]), np.concatenate([empty, *items]), n, rate)


def footprint(stream: np.ndarray, *, salt: int = 0, budget: int = SAMPLE_BUDGET) -> Footprint:
    """Footprint curve of ``stream`` (item ids in access order), sampled to ``budget``."""
    stream = np.asarray(stream)
    chunks = (stream[start:start + _HASH_CHUNK] for start in range(0, stream.size, _HASH_CHUNK))
    return _streamed(chunks, int(stream.size), salt, budget)


def footprint_of(positions: np.ndarray, items: np.ndarray, n: int, rate: float) -> Footprint:
    """Footprint of a stream of ``n`` accesses from the sampled ones: ``items`` accessed at
    ``positions`` (ascending), the accesses to a ``rate`` share of all item ids (SHARDS)."""
    if n == 0:
        return Footprint(0, 0.0, 1.0, np.array([1.0]), np.array([0.0]))
    if positions.size == 0:
        return Footprint(n, 0.0, rate, np.array([1.0, float(n)]), np.array([0.0, 0.0]))
    order = np.argsort(items, kind="stable")  # positions stay ascending within an item
    sorted_items, times = items[order], positions[order]
    first = np.ones(times.size, dtype=bool)
    first[1:] = sorted_items[1:] != sorted_items[:-1]
    last = np.ones(times.size, dtype=bool)
    last[:-1] = first[1:]
    first_times = np.sort(times[first] + 1).astype(np.float64)  # 1-based
    reverse_last = np.sort(n - times[last]).astype(np.float64)
    reuse = np.diff(times)[~first[1:]].astype(np.float64)
    reuse.sort()
    distinct_sampled = float(first_times.size)
    window = np.unique(np.geomspace(1, n, _GRID_POINTS).astype(np.int64)).astype(np.float64)
    excess = _tail_sums(first_times, window) + _tail_sums(reverse_last, window) + _tail_sums(reuse, window)
    fp = (distinct_sampled - excess / (n - window + 1)) / rate
    fp = np.maximum.accumulate(np.maximum(fp, 0.0))  # fp is non-decreasing; sampling noise aside
    return Footprint(n, distinct_sampled / rate, rate, window, fp)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """np.unique for keys made of a few sorted runs per group: a stable (run-merging) sort is
    several times faster than np.unique's hashing here."""
    keys = np.sort(keys, kind="stable")
    if keys.size == 0:
        return keys
    keep = np.empty(keys.size, dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _digest(pattern) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(np.array([pattern.m, pattern.k, pattern.nnz], dtype=np.int64).tobytes())
    for array in (pattern.indptr, pattern.indices):  # memoryviews: no copy of the indices
        h.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return h.digest()


def _unique_slabs(pattern, rows: int, cols: int, kind: str):
    """(first group of the slab, its unique keys group·width + item, width) for the
    "group"/"block" streams (each group's or block row's distinct columns or block columns,
    ascending), a slab of whole groups at a time: bounded memory."""
    width = -(-pattern.k // cols) if kind == "block" else pattern.k
    per_slab = max(1, _HASH_CHUNK * pattern.m // max(pattern.nnz, 1) // rows) * rows
    for lo in range(0, pattern.m, per_slab):
        hi = min(pattern.m, lo + per_slab)
        start, stop = pattern.indptr[lo], pattern.indptr[hi]
        keys = np.repeat(np.arange(hi - lo, dtype=np.int64) // rows, np.diff(pattern.indptr[lo:hi + 1]))
        keys *= width
        keys += pattern.indices[start:stop] // (cols if kind == "block" else 1)
        grid = -(-(hi - lo) // rows) * width
        if grid <= 4 * keys.size + 2**16:
            # a bool mark per (group, item) of the slab: no sort, ~5x faster once the
            # grid is within a few bytes per nonzero
            marks = np.zeros(grid, dtype=bool)
            marks[keys] = True
            yield lo // rows, np.flatnonzero(marks), width
        else:
            yield lo // rows, _sorted_unique(keys), width


def _items(pattern, rows: int, cols: int, kind: str):
    for _, keys, width in _unique_slabs(pattern, rows, cols, kind):
        yield keys % width


def _cached(pattern, key: tuple, compute):
    try:
        per_object = _by_object.setdefault(pattern, {})
    except TypeError:  # not weak-referenceable: digest cache only
        per_object = {}
    if key in per_object:
        return per_object[key]
    if isinstance(pattern, SampledPattern):  # no indices to digest; built once per object
        per_object[key] = compute()
        return per_object[key]
    digest = per_object.get("digest")
    if digest is None:
        digest = per_object["digest"] = _digest(pattern)
    full_key = (digest,) + key
    value = _by_digest.get(full_key)
    if value is None:
        value = compute()
        _by_digest[full_key] = value
        while len(_by_digest) > _DIGEST_ENTRIES:
            _by_digest.popitem(last=False)
    else:
        _by_digest.move_to_end(full_key)
    per_object[key] = value
    return value


def gather_footprint(pattern, kind: str = "row", *, rows: int = 1, cols: int = 1, salt: int = 0) -> Footprint:
    """Footprint of the B reads of a gather kernel on ``pattern``, cached.

    ``kind`` "row": one item per nonzero, the B row of its column (CSR, COO), in row-major
    order. "block": one item per stored ``rows``×``cols`` block, the block column, in
    block-row order (BSR). "group": one item per column in the union of each group of
    ``rows`` rows (vector-sparse "grouped" kernels), in group order.
    """

    def compute() -> Footprint:
        if isinstance(pattern, SampledPattern):
            return footprint_of(*pattern.access_sample(kind, rows, cols, salt))
        if kind == "row":
            return footprint(pattern.indices, salt=salt)
        if kind == "block":
            n = int(per_block_counts(pattern, rows, cols).sum())
        else:
            from ..models.stats import pattern_stats

            n = int(pattern_stats(pattern).group_union(rows).sum())
        return _streamed(_items(pattern, rows, cols, kind), n, salt, SAMPLE_BUDGET)

    if kind not in ("row", "block", "group"):
        raise ValueError(f"kind: got {kind!r}; allowed: row, block, group")
    return _cached(pattern, ("footprint", kind, rows, cols, salt), compute)


def per_block_counts(pattern, rows: int, cols: int) -> np.ndarray:
    """Stored ``rows``×``cols`` blocks in each block row (BSR), cached."""

    def compute() -> np.ndarray:
        if isinstance(pattern, SampledPattern):
            return pattern.block_counts(rows, cols)
        counts = np.zeros(math.ceil(pattern.m / rows), dtype=np.int64)
        for first, keys, width in _unique_slabs(pattern, rows, cols, "block"):
            block_row = keys // width
            counts[first:first + int(block_row[-1]) + 1 if keys.size else first] += np.bincount(block_row)
        counts.flags.writeable = False
        return counts

    return _cached(pattern, ("blocks", rows, cols), compute)
