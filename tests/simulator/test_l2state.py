"""Warm L2: back-to-back calls on the same operands serve what fits from L2."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsim
from sparsim.errors import SparsimError

DIM = st.sampled_from([64, 256, 1024, 3584, 4096, 8192])


@settings(max_examples=25, deadline=None)
@given(m=DIM, k=DIM, n=st.sampled_from([16, 64, 512, 2048]), kernel=st.sampled_from(["dense", "2:4"]))
def test_warm_is_never_slower_and_never_reads_more_dram(m, k, n, kernel):
    extra = {"density": 0.5, "pattern": "nm"} if kernel == "2:4" else {}
    kw = dict(m=m, k=k, n=n, hw="rtx-4090", compare=False, **extra)
    cold = sparsim.predict(kernel, **kw)
    warm = sparsim.predict(kernel, **kw, l2="warm")
    assert warm.kernel_s <= cold.kernel_s * (1 + 1e-9)
    assert warm.bytes_hbm <= cold.bytes_hbm


def test_operands_that_fit_leave_dram_alone_and_large_ones_barely_change():
    small = dict(m=3584, k=3584, n=64, hw="rtx-4090", compare=False)  # 25.7 MB of weights, 72 MB L2
    cold, warm = sparsim.predict("dense", **small), sparsim.predict("dense", **small, l2="warm")
    assert warm.bytes_hbm < 0.05 * cold.bytes_hbm  # what is left: the split-K reduction writing C
    assert warm.kernel_s < 0.8 * cold.kernel_s
    big = dict(m=16384, k=16384, n=16384, hw="rtx-4090", compare=False)
    ratio = sparsim.predict("dense", **big, l2="warm").kernel_s / sparsim.predict("dense", **big).kernel_s
    assert ratio == pytest.approx(1.0, abs=0.01)


def test_a_bad_l2_state_fails_with_one_line():
    with pytest.raises(SparsimError) as info:
        sparsim.predict("dense", m=64, k=64, n=64, hw="l4", l2="hot")
    assert str(info.value) == "--l2: got 'hot'; allowed: cold, warm"
