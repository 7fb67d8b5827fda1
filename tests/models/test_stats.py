"""Pattern statistics against brute-force Python references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsim.errors import SparsimError
from sparsim.models.patterns import from_mask, generate
from sparsim.models.stats import _group_union_bitmap, _group_union_by_columns, pattern_stats


def brute_rows(mask):
    return [set(np.flatnonzero(row).tolist()) for row in mask]


masks = st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(0, 2**32 - 1),
                  st.floats(0.0, 1.0)).map(
    lambda t: np.random.default_rng(t[2]).random((t[0], t[1])) < t[3])


@settings(max_examples=80, deadline=None)
@given(mask=masks, g=st.integers(1, 7), tile_m=st.integers(1, 9))
def test_stats_match_a_brute_force_reference(mask, g, tile_m):
    m, k = mask.shape
    rows = brute_rows(mask)
    s = pattern_stats(from_mask(mask))
    assert s.row_nnz.tolist() == [len(r) for r in rows]
    assert s.nnz == sum(len(r) for r in rows)
    assert s.empty_rows == sum(1 for r in rows if not r)
    assert s.cols_referenced == len(set().union(*rows))
    assert s.col_nnz().tolist() == mask.sum(axis=0).tolist()
    assert s.tile_work(tile_m).tolist() == [sum(len(r) for r in rows[i:i + tile_m]) for i in range(0, m, tile_m)]
    unions = [set().union(*rows[i:i + g]) for i in range(0, m, g)]
    assert s.group_union(g).tolist() == [len(u) for u in unions]
    # both methods group_union picks between, whichever density this is
    assert _group_union_bitmap(s.pattern, g).tolist() == [len(u) for u in unions]
    assert _group_union_by_columns(s.pattern, g).tolist() == [len(u) for u in unions]
    assert s.executed_macs(g, 3) == sum(len(u) * len(rows[i * g:(i + 1) * g]) * 3 for i, u in enumerate(unions))


def test_course_notes_grouping_executes_multiplications_on_zeros():
    a = np.array([[0, 3, 0, 7], [0, 0, 8, 0], [2, 5, 0, 0], [0, 0, 0, 9]])
    s = pattern_stats(from_mask(a))
    n = 5
    assert s.executed_macs(1, n) == s.nnz * n == 30  # no grouping: only the nonzeros
    # rows {0,1} use columns {1,2,3}, rows {2,3} use {0,1,3}: 3 + 3 columns for 2 rows each
    assert s.group_union(2).tolist() == [3, 3]
    assert s.executed_macs(2, n) == (3 * 2 + 3 * 2) * n
    assert s.executed_macs(4, n) == 4 * 4 * n  # one group touching every column: dense


def test_wasted_work_grows_with_group_size_on_a_sparse_pattern():
    s = pattern_stats(generate("uniform", 512, 512, 0.02, seed=0))
    executed = [s.executed_macs(g, 1) for g in (1, 2, 4, 8, 16, 32)]
    assert executed[0] == s.nnz
    assert all(a < b for a, b in zip(executed, executed[1:]))
    assert executed[-1] <= 512 * 512


def test_last_short_group_counts_only_its_real_rows():
    mask = np.ones((5, 3), dtype=bool)  # groups of 2: rows {0,1}, {2,3}, {4}
    s = pattern_stats(from_mask(mask))
    assert s.group_union(2).tolist() == [3, 3, 3]
    assert s.executed_macs(2, 1) == s.nnz == 15


def test_summary_numbers():
    mask = np.zeros((4, 6), dtype=bool)
    mask[0, :6] = True
    mask[2, 1] = True
    s = pattern_stats(from_mask(mask))
    assert (s.nnz, s.empty_rows, s.cols_referenced, s.row_nnz_max) == (7, 2, 6, 6)
    assert s.density == 7 / 24 and s.row_nnz_mean == 7 / 4
    assert s.row_nnz_cv == pytest.approx(np.std([6, 0, 1, 0]) / 1.75)
    assert s.to_dict()["nnz"] == 7
    empty = pattern_stats(from_mask(np.zeros((3, 3))))
    assert empty.row_nnz_cv == 0.0 and empty.group_union(2).tolist() == [0, 0]


def test_results_are_cached_and_read_only():
    s = pattern_stats(generate("uniform", 64, 64, 0.1, seed=1))
    assert s.group_union(4) is s.group_union(4)
    with pytest.raises(ValueError):
        s.group_union(4)[0] = 0
    with pytest.raises(SparsimError, match="g: got 0"):
        s.group_union(0)
    with pytest.raises(SparsimError, match="tile_m: got 0"):
        s.tile_work(0)


def test_row_skewed_has_larger_imbalance_than_uniform():
    skewed = pattern_stats(generate("row-skewed", 2048, 2048, 0.01, seed=0))
    uniform = pattern_stats(generate("uniform", 2048, 2048, 0.01, seed=0))
    assert skewed.row_nnz_cv > 1.0 > 3 * uniform.row_nnz_cv  # binomial rows: cv = 1/sqrt(20.5)
    tiles, even_tiles = skewed.tile_work(128), uniform.tile_work(128)
    assert tiles.sum() == skewed.nnz
    # the busiest 128-row tile sets a kernel's time; skew makes it stand out
    assert tiles.max() / tiles.mean() > 1.2 > even_tiles.max() / even_tiles.mean()


@pytest.mark.parametrize("slab", [1, 3, 64])
def test_group_union_is_the_same_whatever_the_slab_size(monkeypatch, slab):
    import sparsim.models.stats as stats
    p = generate("row-skewed", 300, 200, 0.05, seed=3)
    expected = [len(set(p.indices[p.indptr[i]:p.indptr[min(i + 4, 300)]].tolist())) for i in range(0, 300, 4)]
    monkeypatch.setattr(stats, "_SLAB_BITMAP_BYTES", slab * 200)
    monkeypatch.setattr(stats, "_SLAB_NNZ", slab * 10)
    assert _group_union_bitmap(p, 4).tolist() == expected
    assert _group_union_by_columns(p, 4).tolist() == expected
