"""Sparsity patterns: seeded generators, pruning rules and weight files."""

import json
import math
import struct

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsim.errors import SparsimError
from sparsim.models.patterns import (
    PATTERNS, SparsityPattern, channel_prune, from_mask, from_scipy, generate, list_tensors,
    load_weights, magnitude_prune, nm_prune,
)


def assert_canonical(p: SparsityPattern):
    """Column indices in range, strictly increasing within every row."""
    assert p.indptr.dtype == np.int64 and p.indices.dtype == np.int32
    assert p.indptr[0] == 0 and p.indptr[-1] == p.nnz and np.all(np.diff(p.indptr) >= 0)
    if p.nnz:
        assert p.indices.min() >= 0 and p.indices.max() < p.k
        key = p.row_indices() * p.k + p.indices
        assert np.all(np.diff(key) > 0)


# -- generators ---------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_seed_reproduces_the_pattern_and_another_seed_changes_it(pattern):
    a = generate(pattern, 64, 96, 0.2, seed=7)
    b = generate(pattern, 64, 96, 0.2, seed=7)
    c = generate(pattern, 64, 96, 0.2, seed=8)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert not (np.array_equal(a.indptr, c.indptr) and np.array_equal(a.indices, c.indices))
    assert a.name == pattern
    assert_canonical(a)


@pytest.mark.parametrize("pattern, m, k, density", [
    ("uniform", 500, 700, 0.01), ("uniform", 300, 300, 0.5), ("uniform", 200, 100, 0.97),
    ("row-skewed", 2000, 1000, 0.02), ("row-skewed", 500, 400, 0.3),
    ("block", 512, 512, 0.05),
])
def test_density_is_as_asked_within_statistical_tolerance(pattern, m, k, density):
    p = generate(pattern, m, k, density, seed=1)
    assert_canonical(p)
    units = m * k if pattern != "block" else (m // 16) * (k // 16)
    # 5 standard deviations of a binomial count of kept units; row-skewed rows add
    # Pareto noise, so they get a wider band
    sd = math.sqrt(density * (1 - density) / units)
    tolerance = 5 * sd if pattern != "row-skewed" else 0.05 * density + 5 * sd
    assert abs(p.density - density) <= tolerance


def test_uniform_columns_are_spread_evenly():
    p = generate("uniform", 2000, 50, 0.1, seed=3)
    counts = np.bincount(p.indices, minlength=50)
    expected = 2000 * 0.1
    assert np.all(np.abs(counts - expected) < 6 * math.sqrt(expected))


def test_uniform_is_fast_and_lean_at_16384_squared_one_percent():
    import time
    start = time.perf_counter()
    p = generate("uniform", 16384, 16384, 0.01, seed=0)
    elapsed = time.perf_counter() - start
    assert abs(p.nnz - 0.01 * 16384**2) < 5 * math.sqrt(0.01 * 16384**2)
    assert elapsed < 1.0  # typically well under 0.2 s; loose here for busy machines


def test_row_skewed_rows_are_skewed_and_clipped_at_k():
    skewed = generate("row-skewed", 4000, 1000, 0.05, seed=2)
    even = generate("uniform", 4000, 1000, 0.05, seed=2)
    lengths = np.diff(skewed.indptr)
    assert lengths.max() <= 1000
    cv = lengths.std() / lengths.mean()
    assert cv > 1.0 > 5 * np.diff(even.indptr).std() / np.diff(even.indptr).mean()
    # a lighter tail (larger alpha) is less skewed
    light = np.diff(generate("row-skewed", 4000, 1000, 0.05, seed=2, alpha=6.0).indptr)
    assert light.std() / light.mean() < cv


def test_block_pattern_keeps_whole_blocks_cut_at_the_edges():
    p = generate("block", 37, 52, 0.4, seed=1, block=(4, 8))
    mask = p.to_mask()
    for i in range(0, 37, 4):
        for j in range(0, 52, 8):
            tile = mask[i:i + 4, j:j + 8]
            assert tile.all() or not tile.any()
    assert mask.any()


@pytest.mark.parametrize("n, m_group", [(2, 4), (1, 2), (1, 4), (3, 8)])
def test_nm_pattern_keeps_exactly_n_of_every_group(n, m_group):
    p = generate("nm", 20, 8 * m_group, 0.123, seed=4, n=n, m_group=m_group)
    assert_canonical(p)
    per_group = p.to_mask().reshape(20, 8, m_group).sum(axis=2)
    assert np.all(per_group == n)
    assert p.density == n / m_group  # the density argument does not apply to N:M


def test_nm_pattern_chooses_every_position():
    p = generate("nm", 200, 64, 0.5, seed=0)
    positions = np.bincount(p.indices % 4, minlength=4)
    assert np.all(np.abs(positions - p.nnz / 4) < 6 * math.sqrt(p.nnz / 4))


def test_nm_pattern_needs_k_a_multiple_of_the_group():
    with pytest.raises(SparsimError, match=r"K=30, not a multiple of 4; pad K to 32"):
        generate("nm", 8, 30, 0.5)


def test_channel_pattern_keeps_whole_rows():
    p = generate("channel", 40, 17, 0.25, seed=5)
    lengths = np.diff(p.indptr)
    assert sorted(set(lengths.tolist())) == [0, 17]
    assert np.count_nonzero(lengths) == 10


@pytest.mark.parametrize("pattern", PATTERNS)
def test_density_zero_and_one(pattern):
    k = 8
    empty = generate(pattern, 8, k, 0.0, seed=0)
    full = generate(pattern, 8, k, 1.0, seed=0)
    if pattern == "nm":
        assert empty.nnz == full.nnz == 32
    else:
        assert empty.nnz == 0 and full.nnz == 64


@pytest.mark.parametrize("args, options, starts", [
    (("blobs", 4, 4, 0.5), {}, "pattern: got 'blobs'; allowed: uniform, row-skewed, block, nm, channel"),
    (("uniform", 4, 4, 1.5), {}, "density: got 1.5"),
    (("uniform", 0, 4, 0.5), {}, "m: got 0"),
    (("uniform", 4, 4, 0.5), {"alpha": 2}, "pattern 'uniform': unknown option 'alpha'; allowed: no options"),
    (("row-skewed", 4, 4, 0.5), {"block": 2}, "pattern 'row-skewed': unknown option 'block'; allowed: alpha"),
    (("block", 4, 4, 0.5), {"block": 3}, "block: got 3"),
])
def test_bad_arguments_are_one_line_errors(args, options, starts):
    with pytest.raises(SparsimError) as info:
        generate(*args, **options)
    assert str(info.value).startswith(starts) and "\n" not in str(info.value)


def test_to_mask_refuses_huge_patterns():
    p = generate("uniform", 2**14, 2**14, 0.0)
    with pytest.raises(SparsimError, match=r"to_mask: got a 16384x16384 pattern"):
        p.to_mask()


def test_to_scipy_never_stores_a_zero_and_keeps_the_structure():
    p = generate("uniform", 50, 60, 0.3, seed=9)
    a = p.to_scipy()
    assert a.dtype == np.float32 and np.all(a.data != 0)
    assert np.array_equal(a.indptr, p.indptr) and np.array_equal(a.indices, p.indices)
    assert np.array_equal(p.to_scipy(dtype=np.int8).toarray() != 0, p.to_mask())
    assert np.array_equal(p.to_scipy(values=np.arange(1, p.nnz + 1)).data, np.arange(1, p.nnz + 1))


def test_patterns_are_read_only():
    p = generate("uniform", 4, 4, 0.5)
    with pytest.raises(ValueError):
        p.indices[0] = 3


def test_from_mask_and_from_scipy_agree():
    mask = np.array([[0, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    a = from_mask(mask)
    m = sp.coo_matrix((np.array([1.0, 2, 0, 3, 4, 5, 6]), (np.array([0, 0, 3, 1, 2, 2, 0]),
                                                          np.array([1, 3, 3, 2, 0, 1, 1]))), shape=(4, 4))
    b = from_scipy(m)  # explicit zero dropped, duplicate (0, 1) summed
    for p in (a, b):
        assert p.indptr.tolist() == [0, 2, 3, 5, 5]
        assert p.indices.tolist() == [1, 3, 2, 0, 1]
    assert np.array_equal(a.to_mask(), mask)


# -- pruning ------------------------------------------------------------------------------

W = np.array([[0.1, -0.9, 0.3, 0.05],
              [2.0, 0.2, -0.2, 0.0],
              [0.4, 0.4, -0.4, 0.4]])


def test_magnitude_prune_keeps_the_largest_and_breaks_ties_by_position():
    mask = magnitude_prune(W, 0.25)  # 3 of 12: 2.0, -0.9, then the first 0.4
    assert np.argwhere(mask).tolist() == [[0, 1], [1, 0], [2, 0]]
    assert magnitude_prune(W, 0.0).sum() == 0 and magnitude_prune(W, 1.0).all()


def test_nm_prune_keeps_two_largest_of_every_four():
    mask = nm_prune(W)
    assert mask.astype(int).tolist() == [[0, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0]]
    with pytest.raises(SparsimError, match="pad K"):
        nm_prune(np.ones((2, 6)))


def test_channel_prune_keeps_rows_of_largest_l1_norm_sorted():
    # L1 norms: 1.35, 2.4, 1.6
    assert channel_prune(W, 2 / 3).tolist() == [1, 2]
    assert channel_prune(W, 1 / 3).tolist() == [1]
    conv = np.zeros((3, 2, 3, 3))
    conv[0] += 1.0
    assert channel_prune(conv, 1 / 3).tolist() == [0]


# -- weight files -------------------------------------------------------------------------

def write_safetensors(path, tensors: dict, raw_header: bytes | None = None):
    """A safetensors file written by hand: u64 LE header length, JSON header, data."""
    header, data, offset = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(payload)]}
        data += payload
        offset += len(payload)
    header_bytes = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(header_bytes)) + header_bytes + data)
    return path


def test_safetensors_round_trip_with_f32_f16_and_bf16(tmp_path):
    w32 = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    w16 = np.array([[1.5, -2.0], [0.25, 8.0]], dtype=np.float16)
    exact_in_bf16 = np.array([[1.5, -2.0, 0.15625], [3.0, -0.0078125, 256.0]], dtype=np.float32)
    bf16_bits = (exact_in_bf16.view(np.uint32) >> 16).astype("<u2")
    path = write_safetensors(tmp_path / "w.safetensors", {
        "a.weight": ("F32", w32.shape, w32.astype("<f4").tobytes()),
        "b.weight": ("F16", w16.shape, w16.astype("<f2").tobytes()),
        "c.weight": ("BF16", (2, 3), bf16_bits.tobytes()),
        "c.bias": ("F32", (3,), np.ones(3, "<f4").tobytes()),
    })
    assert list_tensors(path) == {"a.weight": (2, 3), "b.weight": (2, 2), "c.weight": (2, 3), "c.bias": (3,)}
    assert np.array_equal(load_weights(path, "a.weight"), w32)
    assert np.array_equal(load_weights(path, "b.weight"), w16.astype(np.float32))
    bf16 = load_weights(path, "c.weight")
    assert bf16.dtype == np.float32 and np.array_equal(bf16, exact_in_bf16)


def test_safetensors_with_one_2d_tensor_needs_no_name(tmp_path):
    w = np.eye(3, dtype="<f8")
    path = write_safetensors(tmp_path / "one.safetensors", {
        "w": ("F64", (3, 3), w.tobytes()), "b": ("F64", (3,), np.zeros(3, "<f8").tobytes())})
    assert load_weights(path).dtype == np.float64 and np.array_equal(load_weights(path), w)


def test_npy_round_trip(tmp_path):
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "layer.npy", w)
    assert np.array_equal(load_weights(tmp_path / "layer.npy"), w)
    assert list_tensors(tmp_path / "layer.npy") == {"layer": (3, 4)}


def one_line_error(call, path, *fragments):
    with pytest.raises(SparsimError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"weights file {path}: ")
    assert "allowed: " in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_missing_file_and_unknown_extension(tmp_path):
    missing = tmp_path / "nope.safetensors"
    one_line_error(lambda: load_weights(missing), missing, "no such file")
    other = tmp_path / "w.bin"
    other.write_bytes(b"x")
    one_line_error(lambda: load_weights(other), other, "unknown extension '.bin'", ".npy, .safetensors")


@pytest.mark.parametrize("content, fragment", [
    (b"\x01\x02", "too short"),
    (struct.pack("<Q", 10_000) + b"{}", "header length 10000 exceeds"),
    (struct.pack("<Q", 5) + b"{nope", "unreadable header"),
    (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
])
def test_corrupt_safetensors_is_a_one_line_error_naming_the_path(tmp_path, content, fragment):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    one_line_error(lambda: load_weights(path), path, fragment)


def test_safetensors_offsets_past_the_data_are_refused(tmp_path):
    path = write_safetensors(tmp_path / "short.safetensors", {"w": ("F32", (4, 4), b"\0" * 16)})
    one_line_error(lambda: load_weights(path), path, "tensor 'w'", "needs 64 bytes")


def test_unsupported_dtype_and_not_2d(tmp_path):
    path = write_safetensors(tmp_path / "f8.safetensors", {"w": ("F8_E4M3", (2, 2), b"\0" * 4)})
    one_line_error(lambda: load_weights(path), path, "dtype 'F8_E4M3'", "BF16")
    path = write_safetensors(tmp_path / "3d.safetensors", {
        "conv": ("F32", (2, 2, 2), b"\0" * 32), "fc": ("F32", (2, 2), b"\0" * 16)})
    one_line_error(lambda: load_weights(path, "conv"), path, "shape (2, 2, 2)", "fc")
    one_line_error(lambda: load_weights(path, "missing"), path, "no tensor named 'missing'", "fc")
    np.save(tmp_path / "vec.npy", np.zeros(3))
    one_line_error(lambda: load_weights(tmp_path / "vec.npy"), tmp_path / "vec.npy", "shape (3,)")


def test_many_2d_tensors_need_a_name_and_the_error_lists_them(tmp_path):
    path = write_safetensors(tmp_path / "two.safetensors", {
        "q": ("F32", (1, 1), b"\0" * 4), "k": ("F32", (1, 1), b"\0" * 4)})
    one_line_error(lambda: load_weights(path), path, "holds 2 2-D tensors", "allowed: q, k")


def test_corrupt_npy(tmp_path):
    path = tmp_path / "bad.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    one_line_error(lambda: load_weights(path), path, "not a .npy file (its header is not numpy's)")


def test_object_npy_is_refused_without_pickle_advice(tmp_path):
    # issue 11: numpy's own message advised allow_pickle=True, i.e. running code from the file
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    message = one_line_error(lambda: load_weights(path), path, "not a numeric .npy array")
    assert "pickle" not in message


@pytest.mark.parametrize("pattern", ["uniform", "row-skewed", "block"])
def test_vanishing_density_gives_an_empty_pattern_without_overflow(pattern):
    with np.errstate(all="raise"):
        p = generate(pattern, 3, 8, 1e-300, seed=0)
    assert p.nnz == 0 and p.indptr.tolist() == [0, 0, 0, 0]


@settings(max_examples=150, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), m=st.integers(1, 40), k=st.integers(1, 12).map(lambda x: 4 * x),
       density=st.floats(0, 1), seed=st.integers(0, 2**32))
def test_every_generated_pattern_is_canonical_csr(pattern, m, k, density, seed):
    assert_canonical(generate(pattern, m, k, density, seed=seed))
