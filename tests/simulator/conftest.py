"""Shared fixtures: profiles and a nested pattern family for the simulator tests."""

import numpy as np
import pytest

from sparsim.hwprofiles import load_profile
from sparsim.hwprofiles.schema import parse_profile
from sparsim.models.patterns import SparsityPattern


def _num(value):
    return {"value": value, "source": "test fixture"}


@pytest.fixture(scope="session")
def cpu_profile():
    """A 2-core CPU profile with round numbers (kind "cpu"), no measuring."""
    return parse_profile({
        "version": 1, "name": "test-cpu-2c", "display_name": "test CPU", "kind": "cpu",
        "compute": {k: _num(v) for k, v in dict(
            sm_count=2, boost_clock_mhz=3000, base_clock_mhz=2000, max_ctas_per_sm=1, max_warps_per_sm=1,
            registers_per_sm=1024, shared_mem_per_sm_bytes=1048576).items()},
        "memory": {k: _num(v) for k, v in dict(
            hbm_bytes=2**34, hbm_bytes_per_s=20e9, hbm_latency_ns=90.0, l2_bytes=32 * 2**20,
            l2_bytes_per_s=100e9, l2_latency_ns=15.0, l1_bytes_per_sm=49152, l1_latency_ns=1.3,
            sector_bytes=64).items()},
        "launch": {"overhead_s": _num(2e-6)},
        "vector_flops_per_s": {"fp32": _num(200e9), "fp64": _num(100e9)},
    }, origin="test-cpu")


@pytest.fixture(scope="session")
def h100():
    return load_profile("h100-sxm5-80gb")


@pytest.fixture(scope="session")
def a100():
    return load_profile("a100-sxm4-80gb")


@pytest.fixture(scope="session")
def nested():
    """:func:`nested_pattern`, for tests."""
    return nested_pattern


def nested_pattern(m: int, k: int, nnz: int, seed: int = 0, skew: float = 0.0) -> SparsityPattern:
    """The first ``nnz`` positions of one seeded random order of the M×K elements.

    Patterns of one (m, k, seed, skew) are nested: more nonzeros only add positions. With
    ``skew`` > 0 rows are drawn with Pareto weights (a few long rows), as in row-skewed.
    """
    rng = np.random.default_rng(seed)
    if skew > 0:
        weight = np.repeat(rng.pareto(skew, m) + 1.0, k)
        order = np.argsort(-(rng.random(m * k) ** (1.0 / weight)), kind="stable")  # weighted order
    else:
        order = rng.permutation(m * k)
    rows, cols = np.divmod(np.sort(order[:nnz]), k)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m))])
    return SparsityPattern(m, k, indptr, cols.astype(np.int32), "nested")
