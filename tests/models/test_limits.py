"""Limits before work: sizes are checked from the inputs, large patterns are sampled, the
rest refused in one line; what the model changes about an input is said in its notes."""

from collections import OrderedDict

import numpy as np
import pytest

from sparsim import predict
from sparsim.errors import SparsimError
from sparsim.models import limits, work
from sparsim.models.patterns import generate
from sparsim.models.sampled import _distinct_slots, sample_pattern
from sparsim.models.stats import pattern_stats
from sparsim.models.work import _bsr_structure, build_work
from sparsim.simulator import reuse
from sparsim.simulator.reuse import gather_footprint, per_block_counts

HW = "h100-sxm5-80gb"


def message(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


# -- refusals ------------------------------------------------------------------------------

def test_k_beyond_int32_is_refused_before_any_nonzero_is_drawn():
    with pytest.raises(SparsimError) as exc:
        build_work("csr", m=4, k=3_000_000_000, n=16, density=0.1)
    assert message(exc) == "--k: got 3000000000; allowed: at most 2147483647 (int32 column indices)"


def test_generate_refuses_a_pattern_over_the_budget():
    with pytest.raises(SparsimError) as exc:
        generate("uniform", 200_000, 200_000, 0.1)
    text = message(exc)
    assert text.startswith("pattern: a 200000x200000 uniform pattern at density 0.1 (~4e+09 nonzeros) "
                           "needs ~44.7 GiB to build; allowed: at most the memory budget of 2.0 GiB")


def test_a_pattern_whose_sampled_form_does_not_fit_the_budget_is_refused():
    with pytest.raises(SparsimError) as exc:
        build_work("csr", m=10_000_000, k=4096, n=4096, density=0.1, memory_budget="256MiB")
    text = message(exc)
    # (256 MiB - 8 MiB fixed) / 64 bytes per row
    assert text.startswith("--m: a 10000000x4096 uniform pattern") and "allowed: M up to 4,063,232 rows" in text


def test_a_block_pattern_over_the_budget_is_refused():
    with pytest.raises(SparsimError) as exc:
        build_work("csr", m=65536, k=65536, n=16, density=0.1, pattern="block")
    text = message(exc)
    assert text.startswith("--pattern: a 65536x65536 block pattern") and "allowed: a smaller M, K or density" in text


def test_the_budget_comes_from_the_keyword_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv(limits.ENV_VAR, raising=False)
    assert limits.memory_budget() == 2 * 2**30
    assert limits.memory_budget("1GB") == 10**9
    monkeypatch.setenv(limits.ENV_VAR, "512MiB")
    assert limits.memory_budget() == 2**29
    monkeypatch.setenv(limits.ENV_VAR, "lots")
    with pytest.raises(SparsimError, match=r"^SPARSIM_MEMORY_BUDGET: got 'lots'; allowed: bytes > 0"):
        limits.memory_budget()
    with pytest.raises(SparsimError, match=r"^memory_budget: got -5; allowed: bytes > 0"):
        limits.memory_budget(-5)


def test_the_environment_budget_reaches_build_work(monkeypatch):
    monkeypatch.setenv(limits.ENV_VAR, "16MiB")
    w = build_work("csr", m=8192, k=8192, n=64, density=0.05)
    assert w.notes[0].startswith("pattern sampled, not built: ~3.36e+06 nonzeros would need ~38.7 MiB")


# -- notes instead of silent changes -------------------------------------------------------

@pytest.mark.parametrize("model", ["des", "analytic"])
def test_a_block_larger_than_the_matrix_is_modelled_at_its_size_and_said(model):
    args = dict(m=4096, k=4096, n=256, hw=HW, density=0.1, model=model)
    huge, whole = predict("bsr", block=99_999_999, **args), predict("bsr", block=4096, **args)
    assert huge.notes[0] == "--block 99999999x99999999 is larger than the 4096x4096 matrix: modelled as 4096x4096 blocks"
    assert huge.time_s == whole.time_s
    assert huge.flops_executed == 2 * 4096 * 4096 * 256  # one block: the whole matrix


@pytest.mark.parametrize("model", ["des", "analytic"])
def test_a_group_larger_than_m_is_one_group_of_all_rows_and_said(model):
    args = dict(m=4096, k=4096, n=256, hw=HW, density=0.1, model=model)
    huge, whole = predict("grouped", group_size=100_000_000, **args), predict("grouped", group_size=4096, **args)
    assert huge.notes[0] == "--group-size 100000000 is more than M = 4096 rows: modelled as one group of all 4096 rows"
    assert huge.time_s == whole.time_s
    # every column is in the union of 4096 rows at 10% (0.9^4096 ~ 0 left out)
    assert huge.flops_executed == 2 * 4096 * 4096 * 256


def test_a_2_4_density_above_one_half_is_modelled_as_one_half_and_said():
    w = build_work("2:4", m=64, k=64, n=8, density=0.8)
    assert w.density == 0.5
    assert w.notes == ("--density 0.8 is more than 2:4 keeps: at most 2 of every 4 along K, so density 0.5 "
                       "is modelled (A pruned to 2:4 first)",)
    assert build_work("2:4", m=64, k=64, n=8, density=0.3).notes == ()
    p = predict("2:4", m=64, k=64, n=8, hw=HW, density=0.8)
    assert p.notes[0] == w.notes[0] and p.density == 0.5


def test_channel_pruning_to_no_rows_is_one_row_and_said():
    w = build_work("channel", m=100, k=64, n=8, density=0.004)
    assert w.m_effective == 1
    assert w.notes == ("--density 0.004 keeps 0.4 of 100 rows with --kernel channel: modelled as 1 row "
                       "(the smallest GEMM left)",)
    assert build_work("channel", m=100, k=64, n=8, density=0.5).notes == ()


def test_the_nm_pattern_says_it_does_not_use_the_density():
    w = build_work("csr", m=64, k=64, n=8, density=0.1, pattern="nm")
    assert w.density == 0.5
    assert w.notes == ("--density 0.1 is not used by --pattern nm: it keeps 2 of every 4 along K (density 0.5)",)
    assert build_work("csr", m=64, k=64, n=8, density=0.5, pattern="nm").notes == ()


# -- the sampled path against the built one -----------------------------------------------

@pytest.mark.parametrize("pattern", ["uniform", "row-skewed", "nm"])
def test_sampled_counts_agree_with_the_built_pattern(pattern):
    # two draws of the same law on 8192^2 at 5% (3.4 M nonzeros): totals within 0.5%,
    # expected unions and block counts within 1% of the built pattern's exact ones
    density = 0.5 if pattern == "nm" else 0.05
    exact = pattern_stats(generate(pattern, 8192, 8192, density, seed=1))
    sampled = pattern_stats(sample_pattern(pattern, 8192, 8192, density, seed=1))
    assert sampled.nnz == pytest.approx(exact.nnz, rel=0.005)
    assert sampled.empty_rows == pytest.approx(exact.empty_rows, abs=0.001 * 8192)
    assert sampled.cols_referenced == pytest.approx(exact.cols_referenced, rel=0.001)
    for g in (8, 64):
        assert sampled.group_union(g).sum() == pytest.approx(exact.group_union(g).sum(), rel=0.01)
    for r, c in ((16, 16), (4, 8)):
        blocks, rows, cols = _bsr_structure(sampled, r, c)
        exact_blocks, exact_rows, exact_cols = _bsr_structure(exact, r, c)
        assert blocks == pytest.approx(exact_blocks, rel=0.01)
        assert rows == pytest.approx(exact_rows, abs=0.001 * 8192 / r)
        assert cols == exact_cols


def test_a_sampled_channel_pattern_is_exact_given_its_kept_rows():
    # rows are full or empty, so unions and blocks follow from the kept rows alone
    sampled = pattern_stats(sample_pattern("channel", 1000, 300, 0.3, seed=2))
    kept = sampled.row_nnz == 300
    assert kept.sum() == 300 and sampled.nnz == 300 * 300 and sampled.empty_rows == 700
    groups_with_a_row = np.add.reduceat(kept, np.arange(0, 1000, 8)) > 0
    assert sampled.group_union(8).tolist() == (300 * groups_with_a_row).tolist()
    block_rows = np.add.reduceat(kept, np.arange(0, 1000, 16)) > 0
    assert _bsr_structure(sampled, 16, 32) == (10 * block_rows.sum(), block_rows.sum(), 10)


@pytest.mark.parametrize("pattern", ["uniform", "row-skewed"])
def test_sampled_reuse_agrees_with_the_built_pattern(pattern):
    exact = generate(pattern, 8192, 8192, 0.05, seed=1)
    sampled = sample_pattern(pattern, 8192, 8192, 0.05, seed=1)
    for kind, shape in (("row", {}), ("group", {"rows": 8}), ("block", {"rows": 16, "cols": 16})):
        built, drawn = gather_footprint(exact, kind, **shape), gather_footprint(sampled, kind, **shape)
        for capacity in (512, 2048, 6000):  # B rows (block columns for "block") the cache holds
            assert drawn.miss_ratio(capacity) == pytest.approx(built.miss_ratio(capacity), abs=0.01)


def test_a_sampled_prediction_agrees_with_the_built_one():
    args = dict(m=8192, k=8192, n=256, hw=HW, density=0.05)
    for kernel in ("csr", "coo", "bsr", "grouped"):
        built, drawn = predict(kernel, **args), predict(kernel, memory_budget="16MiB", **args)
        assert drawn.notes[0].startswith("pattern sampled, not built")
        assert not built.notes[0].startswith("pattern sampled")
        assert drawn.time_s == pytest.approx(built.time_s, rel=0.02)
        assert drawn.flops_executed == pytest.approx(built.flops_executed, rel=0.01)
        assert drawn.bytes_hbm == pytest.approx(built.bytes_hbm, rel=0.02)


def test_a_huge_prediction_is_sampled_and_deterministic_for_a_seed():
    args = dict(m=65536, k=65536, n=256, hw=HW, density=0.1)
    first, again, other = predict("csr", **args), predict("csr", **args), predict("csr", seed=1, **args)
    assert first.notes[0].startswith("pattern sampled, not built: ~4.29e+08 nonzeros would need ~4.8 GiB")
    assert first.density == pytest.approx(0.1, abs=1e-4)
    assert (first.time_s, first.bytes_hbm, first.flops_executed) == (again.time_s, again.bytes_hbm, again.flops_executed)
    assert other.flops_executed != first.flops_executed
    assert other.time_s == pytest.approx(first.time_s, rel=0.01)


def test_distinct_slots_are_distinct_ascending_and_as_many_as_asked():
    rng = np.random.default_rng(0)
    hits = np.array([0, 3, 40, 50, 1, 2])
    unit, slot = _distinct_slots(rng, hits, 50)
    assert np.bincount(unit, minlength=hits.size).tolist() == hits.tolist()
    for u in range(hits.size):
        mine = slot[unit == u]
        assert (np.diff(mine) > 0).all() and ((mine >= 0) & (mine < 50)).all()


# -- the built path in bounded slabs --------------------------------------------------------

def test_slabbed_statistics_equal_a_brute_force_count(monkeypatch):
    p = generate("row-skewed", 3000, 2000, 0.02, seed=4)
    rows = np.repeat(np.arange(p.m), np.diff(p.indptr))
    blocks = set(zip((rows // 16).tolist(), (p.indices // 8).tolist()))
    per_row = np.bincount([b for b, _ in blocks], minlength=-(-3000 // 16))
    expected = (len(blocks), len({b for b, _ in blocks}), len({c for _, c in blocks}))
    one_pass = gather_footprint(p, "group", rows=8).fp.copy()
    # slabs of a few hundred nonzeros: many slabs, same answers
    monkeypatch.setattr(work, "_SLAB_NNZ", 500)
    monkeypatch.setattr(reuse, "_HASH_CHUNK", 700)
    monkeypatch.setattr(reuse, "_by_digest", OrderedDict())
    q = generate("row-skewed", 3000, 2000, 0.02, seed=4)
    assert _bsr_structure(pattern_stats(q), 16, 8) == expected
    assert per_block_counts(q, 16, 8).tolist() == per_row.tolist()
    assert gather_footprint(q, "group", rows=8).fp.tolist() == one_pass.tolist()
