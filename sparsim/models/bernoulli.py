"""Seeded Bernoulli sampling of positions, vectorized and in bounded memory.

The unstructured sparsity generators (:mod:`sparsim.models.patterns`) keep each element
independently with some probability. Drawing one uniform number per element costs
M·K draws and M·K bytes; here the kept positions are the running sum of geometric gaps
(exact inversion: P(gap > j) = (1-p)^j), so the work and memory grow with the number kept,
not the size of the matrix, and every draw is vectorized in chunks of about
:data:`CHUNK` positions. Results depend only on the generator's seed.

>>> import numpy as np
>>> positions = bernoulli_positions(np.random.default_rng(0), 1_000_000, 0.01)
>>> positions.dtype, bool(np.all(np.diff(positions) > 0)), 9_500 < positions.size < 10_500
(dtype('int64'), True, True)
>>> concat_ranges(np.array([10, 20]), np.array([2, 3])).tolist()
[10, 11, 20, 21, 22]
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CHUNK", "geometric_gaps", "bernoulli_chunks", "bernoulli_positions", "bernoulli_rows", "concat_ranges"]

#: random draws per vectorized chunk: bounds temporary memory to a few tens of MB
CHUNK = 2**22


def geometric_gaps(rng, log_q, size: int, cap: int) -> np.ndarray:
    """Gaps between successes of a Bernoulli(p) process, each >= 1 (exact inversion).

    P(gap > j) = (1-p)**j, so gap = 1 + floor(log(V) / log(1-p)) with V uniform on (0, 1];
    ``log_q`` is log(1-p), a number or one per draw. Cheaper than ``rng.geometric`` and
    allows a per-draw p. Gaps are capped at ``cap`` (a gap that long leaves the range
    anyway) so a tiny p cannot overflow int64. Computed in place: one float buffer.
    """
    v = rng.random(size)
    np.negative(v, out=v)
    np.log1p(v, out=v)  # log(V), V = 1 - U in (0, 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # inf is capped below
        np.divide(v, log_q, out=v)
    np.floor(v, out=v)
    np.minimum(v, cap - 1, out=v)
    gaps = v.astype(np.int64)
    gaps += 1
    return gaps


def bernoulli_chunks(rng, total: int, p: float):
    """Sorted positions in [0, total) of an exact Bernoulli(p) process, yielded in
    ascending int64 chunks of about CHUNK positions each (bounded temporary memory).

    Sparse: positions are the running sum of geometric gaps (no dense array, no sort).
    Dense-ish (p > 0.3): compare uniform draws with p; cheaper per element there.
    """
    if p <= 0.0:
        return
    if p >= 1.0 or p > 0.3:
        for start in range(0, total, CHUNK):
            length = min(CHUNK, total - start)
            if p >= 1.0:
                yield np.arange(start, start + length, dtype=np.int64)
            else:
                yield np.flatnonzero(rng.random(length) < p) + start
        return
    log_q = math.log1p(-p)
    # linear ranges whose expected nnz is about CHUNK each
    span = total if total * p <= CHUNK else max(1, int(CHUNK / p))
    for start in range(0, total, span):
        length = min(span, total - start)
        mean = length * p
        # enough draws to pass the end with overwhelming probability; top up otherwise
        draws = int(mean + 6 * math.sqrt(mean * (1 - p)) + 16)
        positions = np.cumsum(geometric_gaps(rng, log_q, draws, length + 1))
        while positions[-1] <= length:
            more = np.cumsum(geometric_gaps(rng, log_q, draws, length + 1)) + positions[-1]
            positions = np.concatenate([positions, more])
        positions = positions[: np.searchsorted(positions, length, side="right")]
        positions += start - 1  # a first gap of 1 means position 0
        yield positions


def bernoulli_positions(rng, total: int, p: float) -> np.ndarray:
    """All positions of :func:`bernoulli_chunks` in one sorted int64 array."""
    return np.concatenate([np.zeros(0, dtype=np.int64), *bernoulli_chunks(rng, total, p)])


def bernoulli_rows(rng, k: int, p_rows: np.ndarray, slack_sd: float = 4.0,
                    slack: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Each row i an independent Bernoulli(p_rows[i]) process over k columns -> CSR.

    Each row draws ``slack_sd`` standard deviations and ``slack`` gaps more than its
    expected count; the rare row whose draws all land inside is topped up one by one.
    """
    m = p_rows.size
    mean = k * p_rows
    draws = np.where(p_rows > 0, np.ceil(mean + slack_sd * np.sqrt(mean * (1 - p_rows)) + slack), 0)
    draws = draws.astype(np.int64)
    with np.errstate(divide="ignore"):
        log_q = np.log1p(-p_rows)  # -inf for a full row: every gap is 1
    counts = np.zeros(m, dtype=np.int64)
    pieces: list[np.ndarray] = []
    # rows in chunks of about CHUNK draws each
    cumulative = np.cumsum(draws)
    cuts = np.searchsorted(cumulative, np.arange(CHUNK, int(cumulative[-1]), CHUNK), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [m]]))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        d = draws[lo:hi]
        ends = np.cumsum(d)
        positions = geometric_gaps(rng, np.repeat(log_q[lo:hi], d), int(ends[-1]), k + 1)
        np.cumsum(positions, out=positions)
        # segmented running sum: subtract what the earlier rows contributed (and 1, since
        # a first gap of 1 means column 0)
        before = np.concatenate([[0], positions])[ends - d]
        positions -= np.repeat(before + 1, d)
        inside_count = np.concatenate([[0], np.cumsum(positions < k)])
        counts[lo:hi] = inside_count[ends] - inside_count[ends - d]
        row_columns = positions[positions < k].astype(np.int32)
        del positions
        # rows whose draws all landed inside may have more successes: top them up
        short = np.flatnonzero((d > 0) & (counts[lo:hi] == d))
        if short.size:
            segments = np.split(row_columns.astype(np.int64), np.cumsum(counts[lo:hi])[:-1])
            for i in short:
                row = segments[i]
                while row[-1] < k:
                    row = np.concatenate([row, row[-1] + np.cumsum(
                        geometric_gaps(rng, log_q[lo + i], int(d[i]), k + 1))])
                segments[i] = row[row < k]
                counts[lo + i] = segments[i].size
            row_columns = np.concatenate(segments).astype(np.int32)
        pieces.append(row_columns)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return indptr, np.concatenate([np.zeros(0, dtype=np.int32), *pieces])


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n), without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(
        np.asarray(starts, dtype=np.int64) - offsets, lengths)
