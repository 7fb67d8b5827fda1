"""Kernel work: FLOP, byte and dependent-load counts against hand formulas."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sparsim.errors import SparsimError
from sparsim.models import build_work, generate, pattern_stats
from sparsim.models.work import KERNELS


def test_course_notes_2x2_dense_is_8_multiplications_4_additions():
    w = build_work("dense", m=2, k=2, n=2, dtype="fp32")
    assert (w.multiplications, w.additions) == (8, 4)
    assert w.flops_executed == 2 * 2 * 2 * 2


def test_course_notes_2x2_with_two_zeros_is_4_multiplications_0_additions():
    a = np.array([[1.0, 0.0], [0.0, 4.0]])
    for kernel in ("csr", "coo"):
        w = build_work(kernel, m=2, k=2, n=2, dtype="fp32", weights=a)
        assert (w.multiplications, w.additions) == (4, 0)
        assert w.flops_useful == w.flops_executed == 8  # 2 per multiply-add


def test_dense_kernel_on_pruned_data_wastes_the_zeros():
    w = build_work("dense", m=100, k=100, n=10, dtype="fp16", density=0.25)
    assert w.flops_executed == 2 * 100 * 100 * 10
    assert w.flops_useful == 2 * 2500 * 10


def test_dependent_access_depths_follow_design():
    depth = {kernel: build_work(kernel, m=64, k=64, n=8, dtype="fp16", density=0.5).dependent_access_depth
             for kernel in ("dense", "coo", "csr", "2:4", "channel")}
    assert depth == {"dense": 0, "coo": 1, "csr": 2, "2:4": 0, "channel": 0}


def test_csr_bytes_match_hand_formula_library_policy():
    w = build_work("csr", m=4096, k=4096, n=256, dtype="fp16", density=0.1, seed=3)
    nnz = w.nnz
    assert w.bytes_values == 2 * nnz
    assert w.bytes_index == 4 * nnz + 4 * (4096 + 1)  # int32 col indices and row pointers
    assert w.bytes_b == 4096 * 256 * 2  # every column is referenced at 10%
    assert w.bytes_c == 4096 * 256 * 2
    assert w.dependent_accesses == 4096 + nnz
    assert w.bytes_b_gather(32) == nnz * math.ceil(256 * 2 / 32) * 32
    assert w.bytes_b_gather(128) == nnz * math.ceil(256 * 2 / 128) * 128  # the profile's sector size counts


def test_coo_minimal_policy_widths():
    w = build_work("coo", m=300, k=200, n=4, dtype="fp16", density=0.5, index_policy="minimal")
    # rows up to 299 need 2 bytes, columns up to 199 fit in 1
    assert w.bytes_index == w.nnz * (2 + 1)


def test_column_major_b_costs_a_sector_per_element_in_the_gather():
    row = build_work("csr", m=256, k=256, n=64, dtype="fp16", density=0.1, b_layout="row")
    col = build_work("csr", m=256, k=256, n=64, dtype="fp16", density=0.1, b_layout="col")
    assert row.bytes_b_gather(32) == row.nnz * 64 * 2  # 128 contiguous bytes = 4 sectors
    assert col.bytes_b_gather(32) == col.nnz * 64 * 32  # 64 sectors, one per element
    assert col.bytes_b_gather(32) == 16 * row.bytes_b_gather(32)


def test_24_stores_half_the_values_with_2_bit_metadata_and_skips_half_the_math():
    w = build_work("2:4", m=128, k=256, n=64, dtype="fp16")
    assert w.bytes_values == 128 * 256 // 2 * 2
    assert w.bytes_index == 128 * 256 // 2 * 2 // 8
    assert w.flops_executed == 128 * 256 * 64  # 2 · (K/2) · M · N
    assert w.math == "sparse_tensor"


def test_24_refuses_k_not_multiple_of_4_and_names_padding():
    with pytest.raises(SparsimError, match="pad"):
        build_work("2:4", m=8, k=10, n=8, dtype="fp16")


def test_24_with_fp32_explains_1_2():
    with pytest.raises(SparsimError, match="1:2") as err:
        build_work("2:4", m=8, k=8, n=8, dtype="fp32")
    assert "\n" not in str(err.value)
    assert build_work("1:2", m=8, k=8, n=8, dtype="tf32").bytes_values == 8 * 4 * 4


def test_channel_pruning_is_a_smaller_dense_gemm():
    w = build_work("channel", m=1000, k=64, n=32, dtype="fp16", density=0.3)
    assert w.m_effective == 300
    assert w.flops_executed == w.flops_useful == 2 * 300 * 64 * 32
    assert w.bytes_c == 300 * 32 * 2


def test_grouped_executed_macs_follow_the_union_formula():
    pat = generate("uniform", 64, 128, 0.1, seed=1)
    w = build_work("grouped", m=64, k=128, n=16, dtype="fp16", sparsity_pattern=pat, group_size=4)
    union = [len(set(pat.indices[pat.indptr[r]:pat.indptr[min(r + 4, 64)]])) for r in range(0, 64, 4)]
    assert w.flops_executed == 2 * sum(union) * 4 * 16
    assert w.flops_executed > w.flops_useful


def test_bsr_stores_every_touched_block_whole():
    a = np.zeros((32, 32))
    a[0, 0] = a[0, 17] = a[20, 5] = 1.0
    w = build_work("bsr", m=32, k=32, n=8, dtype="fp16", weights=a, block=16)
    assert w.n_blocks == 3
    assert w.flops_executed == 2 * 3 * 16 * 16 * 8
    assert w.bytes_values == 3 * 256 * 2


@pytest.mark.parametrize("bad, message", [
    (dict(m=0), "--m"), (dict(m=-3), "--m"), (dict(density=1.5), "--density"),
    (dict(density=-0.1), "--density"), (dict(dtype="fp12"), "--dtype"),
])
def test_bad_input_names_the_argument(bad, message):
    args = dict(m=8, k=8, n=8, dtype="fp16", density=0.5) | bad
    with pytest.raises(SparsimError, match=message):
        build_work("csr", **args)


def test_unknown_kernel_lists_the_allowed_ones():
    with pytest.raises(SparsimError, match="csr"):
        build_work("ell", m=8, k=8, n=8)


@settings(max_examples=60, deadline=None)
@given(kernel=st.sampled_from(KERNELS), m=st.integers(1, 40), k=st.integers(1, 10).map(lambda x: 4 * x),
       n=st.integers(1, 30), density=st.floats(0, 1), seed=st.integers(0, 5))
def test_executed_flops_never_below_useful(kernel, m, k, n, density, seed):
    dtype = "tf32" if kernel == "1:2" else "fp16"
    w = build_work(kernel, m=m, k=k, n=n, dtype=dtype, density=density, seed=seed)
    assert w.flops_executed >= w.flops_useful >= 0
    assert w.multiplications * 2 == w.flops_useful


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 30), k=st.integers(1, 30), n=st.integers(1, 5), density=st.floats(0, 1), seed=st.integers(0, 9))
def test_csr_counts_equal_a_walk_over_the_real_arrays(m, k, n, density, seed):
    pat = generate("uniform", m, k, density, seed=seed)
    w = build_work("csr", m=m, k=k, n=n, dtype="fp32", sparsity_pattern=pat, index_policy="minimal")
    mults = adds = 0
    for r in range(m):
        row_nnz = pat.indptr[r + 1] - pat.indptr[r]
        mults += row_nnz * n
        adds += max(row_nnz - 1, 0) * n
    assert (w.multiplications, w.additions) == (mults, adds)
    assert w.bytes_values == 4 * pat.nnz
    assert w.bytes_b == len(set(pat.indices.tolist())) * n * 4
    assert pattern_stats(pat).nnz == pat.nnz
