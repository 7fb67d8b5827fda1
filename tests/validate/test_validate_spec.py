"""Measurement specs and sweep plans: keys, the shared pattern, and a clean train/test split."""

from __future__ import annotations

import pytest

from sparsim.errors import SparsimError
from sparsim.validate.spec import MeasureSpec, plan, spec_from_record, split_by_shape


def test_key_names_every_coordinate_but_the_split():
    a = MeasureSpec("csr", 512, 256, 64, "fp32", density=0.05, pattern="block", seed=3)
    assert a.key == "csr|512x256x64|fp32|d=0.05|block|s3"
    assert MeasureSpec("csr", 512, 256, 64, "fp32", 0.05, "block", 3, split="test").key == a.key


def test_dense_and_24_specs_normalise_their_pattern():
    assert MeasureSpec("dense", 8, 8, 8, "fp32", density=0.3, pattern="block").key == "dense|8x8x8|fp32|d=1|dense|s0"
    assert MeasureSpec("2:4", 8, 8, 8, "fp16").pattern == "nm"


def test_work_counts_the_pattern_the_backends_run():
    spec = MeasureSpec("coo", 300, 200, 16, "fp64", density=0.07, pattern="row-skewed", seed=5)
    pattern = spec.sparsity_pattern()
    work = spec.work()
    assert work.nnz == pattern.nnz
    assert work.flops_useful == 2 * pattern.nnz * 16
    assert spec.sparsity_pattern().indices.tolist() == pattern.indices.tolist()  # seeded


def test_unknown_kernel_or_split_is_refused():
    with pytest.raises(SparsimError, match="kernel: got 'bsr'"):
        MeasureSpec("bsr", 8, 8, 8, "fp32")
    with pytest.raises(SparsimError, match="split: got 'dev'; allowed: train, test"):
        MeasureSpec("dense", 8, 8, 8, "fp32", split="dev")


@pytest.mark.parametrize("backend,quick", [("numpy", True), ("numpy", False), ("cupy", True), ("cupy", False)])
def test_plans_hold_out_whole_shapes_and_unseen_sparsity(backend, quick):
    specs = plan(backend, quick=quick)
    assert len({s.key for s in specs}) == len(specs)
    train = [s for s in specs if s.split == "train"]
    test = [s for s in specs if s.split == "test"]
    assert train and test
    for kernel in {s.kernel for s in specs}:
        train_shapes = {s.shape for s in train if s.kernel == kernel}
        test_shapes = {s.shape for s in test if s.kernel == kernel}
        assert test_shapes and not (train_shapes & test_shapes), kernel
    sparse_train = {(s.density, s.pattern) for s in train if s.kernel in ("csr", "coo")}
    sparse_test = {(s.density, s.pattern) for s in test if s.kernel in ("csr", "coo")}
    assert {p for _, p in sparse_test} - {p for _, p in sparse_train}, "a pattern the fit never sees"
    assert {d for d, _ in sparse_test} - {d for d, _ in sparse_train}, "a density the fit never sees"


def test_plan_filters_kernels_and_refuses_unknown_ones():
    assert {s.kernel for s in plan("numpy", quick=True, kernels=["dense"])} == {"dense"}
    with pytest.raises(SparsimError, match="--kernels: got 'bsr'"):
        plan("numpy", quick=True, kernels=["bsr"])


def test_split_by_shape_keeps_a_shape_in_one_set():
    specs = [MeasureSpec("dense", m, m, 64, dt) for m in range(64, 2048, 64) for dt in ("fp32", "fp64")]
    labelled = split_by_shape(specs, test_fraction=0.3, seed=1)
    by_shape = {}
    for s in labelled:
        by_shape.setdefault(s.shape, set()).add(s.split)
    assert all(len(v) == 1 for v in by_shape.values())
    assert 0.1 < sum(s.split == "test" for s in labelled) / len(labelled) < 0.5
    assert split_by_shape(specs, 0.3, seed=1) == labelled


def test_spec_round_trips_through_a_record():
    spec = MeasureSpec("csr", 64, 32, 8, "fp32", 0.25, "uniform", seed=2, split="test")
    assert spec_from_record({**spec.to_dict(), "time_s": 1.0}) == spec
