"""Storage formats: formulas match the course notes and the bytes of real arrays."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsim.errors import SparsimError
from sparsim.models.formats import (
    INDEX_POLICIES, bsr_storage, channel_storage, coo_storage, csr_arrays, csr_storage,
    dense_storage, index_width_bytes, nm_metadata_bits, nm_storage, storage_of,
)

# course notes, "CSR Overhead"
NOTES_4X4 = np.array([[0, 3, 0, 7], [0, 0, 8, 0], [2, 5, 0, 0], [0, 0, 0, 9]])


def test_course_notes_example_csr_arrays():
    values, cols, pointers = csr_arrays(NOTES_4X4)
    assert values.tolist() == [3, 7, 8, 2, 5, 9]
    assert cols.tolist() == [1, 3, 2, 0, 1, 3]
    assert pointers.tolist() == [0, 2, 3, 5, 6]


def test_course_notes_example_minimal_policy_uses_one_byte_indices():
    _, cols, pointers = csr_arrays(NOTES_4X4, policy="minimal")
    assert cols.itemsize == 1 and pointers.itemsize == 1


@pytest.mark.parametrize("value_bytes, csr_bytes, dense_bytes", [(1, 17, 16), (2, 23, 32), (4, 35, 64)])
def test_course_notes_example_bytes(value_bytes, csr_bytes, dense_bytes):
    # 6 values, 6 one-byte column indices, 5 one-byte row pointers
    formula = csr_storage(4, 4, nnz=6, value_bytes=value_bytes)
    assert formula.bytes_total == csr_bytes
    assert dict(formula.parts) == {"values": 6 * value_bytes, "col_indices": 6, "row_pointers": 5}
    assert (formula.bytes_values, formula.bytes_index) == (6 * value_bytes, 11)
    assert storage_of(NOTES_4X4, "csr", value_bytes).bytes_total == csr_bytes
    assert dense_storage(4, 4, value_bytes).bytes_total == dense_bytes
    assert storage_of(NOTES_4X4, "dense", value_bytes).bytes_total == dense_bytes


def test_course_notes_example_library_policy_uses_int32():
    assert csr_storage(4, 4, 6, 2, "library").bytes_total == 6 * 2 + 6 * 4 + 5 * 4


def test_coo_stores_a_row_and_a_column_index_per_nonzero():
    s = coo_storage(4, 4, nnz=6, value_bytes=2)
    assert dict(s.parts) == {"values": 12, "row_indices": 6, "col_indices": 6}
    assert storage_of(NOTES_4X4, "coo", 2).parts == s.parts
    # 300 rows need 2-byte row indices; 200 columns fit in one byte
    assert dict(coo_storage(300, 200, 10, 4).parts) == {"values": 40, "row_indices": 20, "col_indices": 10}


@pytest.mark.parametrize("max_value, minimal, library", [
    (0, 1, 4), (255, 1, 4), (256, 2, 4), (65_535, 2, 4), (65_536, 4, 4),
    (2**31 - 1, 4, 4), (2**31, 4, 8), (2**32 - 1, 4, 8), (2**32, 8, 8),
])
def test_index_width_boundaries(max_value, minimal, library):
    assert index_width_bytes(max_value, "minimal") == minimal
    assert index_width_bytes(max_value, "library") == library


def test_column_index_width_follows_largest_column_and_pointers_follow_nnz():
    # 256 columns: largest index 255 -> 1 byte; 257 columns -> 2 bytes
    assert csr_storage(1, 256, 1, 1).parts["col_indices"] == 1
    assert csr_storage(1, 257, 1, 1).parts["col_indices"] == 2
    # 255 nonzeros: last pointer 255 -> 1 byte each; 256 nonzeros -> 2 bytes each
    assert csr_storage(2, 200, 255, 1).parts["row_pointers"] == 3
    assert csr_storage(2, 200, 256, 1).parts["row_pointers"] == 6
    assert csr_storage(1, 65_536, 65_535, 1).parts["row_pointers"] == 2 * 2
    assert csr_storage(1, 65_536, 65_536, 1).parts["row_pointers"] == 2 * 4


def test_nm_metadata_is_two_bits_per_kept_value_rounded_up():
    assert nm_metadata_bits(4) == 2
    s = nm_storage(4, 8, n=2, m_group=4, value_bytes=2)  # 16 kept values
    assert dict(s.parts) == {"values": 32, "metadata": 4}
    assert nm_storage(1, 4, value_bytes=2).parts["metadata"] == 1  # 2 values x 2 bits -> 1 byte
    assert nm_storage(3, 4, value_bytes=2).parts["metadata"] == 2  # 12 bits -> 2 bytes
    # 1:2 (cuSPARSELt fp32/tf32) keeps half the values too
    assert nm_storage(2, 8, n=1, m_group=2, value_bytes=4).bytes_values == 32


def test_nm_storage_of_real_pattern_matches_formula():
    a = np.array([[1, 0, 2, 0, 0, 0, 3, 4], [0, 5, 0, 0, 6, 0, 0, 0]])  # one group has 1 nonzero
    assert storage_of(a, "nm", 2).parts == nm_storage(2, 8, value_bytes=2).parts


def test_nm_storage_refuses_a_matrix_that_is_not_two_of_four():
    with pytest.raises(SparsimError, match="row 0 has 3 nonzeros"):
        storage_of(np.array([[1, 2, 3, 0]]), "nm", 2)


def test_k_not_a_multiple_of_four_says_the_padding_needed():
    with pytest.raises(SparsimError) as info:
        nm_storage(8, 10)
    message = str(info.value)
    assert "\n" not in message
    assert "K=10" in message and "not a multiple of 4" in message and "pad K to 12" in message


def test_bsr_counts_whole_blocks_and_block_row_pointers():
    # 4x4 with 2x2 blocks: blocks (0,0) (0,1) (1,0) (1,1) all hold a nonzero
    s = bsr_storage(4, 4, n_blocks=4, block=(2, 2), value_bytes=2)
    assert dict(s.parts) == {"values": 4 * 4 * 2, "block_col_indices": 4, "block_row_pointers": 3}
    assert storage_of(NOTES_4X4, "bsr", 2, block=(2, 2)).parts == s.parts
    # edge blocks count full size: 5x5 in 2x2 blocks is a 3x3 block grid
    assert dict(bsr_storage(5, 5, 9, (2, 2), 1).parts) == {
        "values": 36, "block_col_indices": 9, "block_row_pointers": 4}
    with pytest.raises(SparsimError, match="n_blocks"):
        bsr_storage(4, 4, 5, (2, 2))


def test_channel_storage_is_a_smaller_dense_matrix():
    assert channel_storage(3, 10, 2).bytes_total == dense_storage(3, 10, 2).bytes_total == 60
    assert channel_storage(3, 10, 2).bytes_index == 0
    assert storage_of(NOTES_4X4, "channel", 2).bytes_total == 4 * 4 * 2  # every row holds a nonzero


def test_storage_of_reads_scipy_and_drops_explicit_zeros():
    m = sp.csr_matrix((np.array([1.0, 0.0, 2.0]), np.array([0, 1, 2]), np.array([0, 3])), shape=(1, 3))
    assert storage_of(m, "csr", 4).parts["values"] == 8


@pytest.mark.parametrize("call, names", [
    (lambda: csr_storage(4, 4, 17, 2), "nnz"),
    (lambda: csr_storage(0, 4, 1, 2), "m"),
    (lambda: csr_storage(4, 4, 1, 2, "tiny"), "index policy"),
    (lambda: storage_of(NOTES_4X4, "csr", 3), "value_bytes"),
    (lambda: storage_of(NOTES_4X4, "ell", 2), "format"),
    (lambda: storage_of(np.zeros((2, 2, 2)), "csr", 2), "matrix"),
])
def test_bad_input_is_a_one_line_error_naming_the_argument(call, names):
    with pytest.raises(SparsimError) as info:
        call()
    assert str(info.value).startswith(names) and "\n" not in str(info.value)


masks = st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1)).map(
    lambda t: np.random.default_rng(t[2]).random((t[0], t[1])) < np.random.default_rng(t[2] + 1).random()
)


@settings(max_examples=60, deadline=None)
@given(mask=masks, policy=st.sampled_from(INDEX_POLICIES), value_bytes=st.sampled_from([1, 2, 4]),
       block=st.tuples(st.integers(1, 5), st.integers(1, 5)))
def test_formulas_equal_bytes_of_real_arrays(mask, policy, value_bytes, block):
    m, k = mask.shape
    nnz = int(mask.sum())
    matrix = mask.astype(np.float32)
    assert storage_of(matrix, "csr", value_bytes, policy) == csr_storage(m, k, nnz, value_bytes, policy)
    assert storage_of(matrix, "coo", value_bytes, policy) == coo_storage(m, k, nnz, value_bytes, policy)
    r, c = block
    grid = np.zeros((-(-m // r), -(-k // c)), dtype=bool)  # blocks holding a nonzero
    for i, j in zip(*np.nonzero(mask)):
        grid[i // r, j // c] = True
    assert storage_of(matrix, "bsr", value_bytes, policy, block=block) == bsr_storage(
        m, k, int(grid.sum()), block, value_bytes, policy)
    assert storage_of(matrix, "dense", value_bytes).bytes_total == m * k * value_bytes
