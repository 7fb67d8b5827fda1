"""L2 hit rates from reuse distances: footprint theory on a spatially sampled stream."""

import numpy as np
import pytest

from sparsim.models.patterns import SparsityPattern, generate
from sparsim.simulator.reuse import footprint, gather_footprint, per_block_counts


def test_uniform_random_reuse_misses_in_proportion_to_what_does_not_fit():
    # LRU on uniform random accesses over K items holding c: miss ratio 1 - c/K
    stream = np.random.default_rng(0).integers(0, 1000, 300_000)
    fp = footprint(stream)
    for capacity in (100, 250, 500, 750):
        assert fp.miss_ratio(capacity) == pytest.approx(1 - capacity / 1000, abs=0.02)


def test_when_everything_fits_only_first_touches_miss():
    stream = np.random.default_rng(1).integers(0, 1000, 200_000)
    assert footprint(stream).miss_ratio(5000) == pytest.approx(1000 / 200_000, rel=0.05)


def test_a_cyclic_scan_larger_than_the_cache_always_misses():
    fp = footprint(np.tile(np.arange(1000), 50))
    assert fp.miss_ratio(500) == pytest.approx(1.0)
    assert fp.miss_ratio(1001) == pytest.approx(1000 / 50_000, rel=0.05)


def test_spatial_sampling_agrees_with_the_full_stream():
    stream = np.random.default_rng(2).zipf(1.3, 1_000_000) % 50_000
    full = footprint(stream, budget=10**7)
    sampled = footprint(stream)  # 2^17 of 10^6
    assert sampled.sampling_rate < 0.2
    for capacity in (100, 1000, 10_000):
        assert sampled.miss_ratio(capacity) == pytest.approx(full.miss_ratio(capacity), abs=0.03)


def test_locality_in_the_pattern_raises_the_hit_rate():
    m = k = 4096
    # banded: row i uses columns i, i+8, ..., i+120 (mod K); uniform: 16 columns anywhere
    cols = np.sort((np.arange(m)[:, None] + 8 * np.arange(16)[None, :]) % k, axis=1)
    banded = SparsityPattern(m, k, np.arange(0, m * 16 + 1, 16), cols.ravel().astype(np.int32), "banded")
    uniform = generate("uniform", m, k, 16 / k, seed=3)
    capacity = 512  # B rows the cache holds
    assert gather_footprint(banded).miss_ratio(capacity) < 0.1
    assert gather_footprint(uniform).miss_ratio(capacity) > 0.8


def test_the_curve_is_cached_per_pattern_and_per_content():
    p = generate("uniform", 2000, 2000, 0.01, seed=5)
    assert gather_footprint(p) is gather_footprint(p)
    again = generate("uniform", 2000, 2000, 0.01, seed=5)  # same pattern, new object
    assert gather_footprint(again) is gather_footprint(p)
    other = generate("uniform", 2000, 2000, 0.01, seed=6)
    assert gather_footprint(other) is not gather_footprint(p)


def test_block_counts_per_block_row():
    p = SparsityPattern(4, 4, np.array([0, 2, 3, 5, 6]), np.array([1, 3, 2, 0, 1, 3], dtype=np.int32))
    # the course-notes 4x4 matrix in 2x2 blocks: block rows hold 2 and 2 blocks
    assert per_block_counts(p, 2, 2).tolist() == [2, 2]
