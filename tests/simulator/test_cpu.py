"""CPU profiles (kind "cpu"): NumPy's multithreaded BLAS and SciPy's single-threaded SpMM."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sparsim.calibration import Calibration
from sparsim.errors import SparsimError
from sparsim.models import build_work
from sparsim.simulator.des import predict_des
from sparsim.simulator.params import DEFAULT_PARAMS


def test_dense_matmul_runs_on_all_cores_at_the_measured_rate(cpu_profile):
    p = predict_des(build_work("dense", m=2048, k=2048, n=2048, dtype="fp32"), cpu_profile)
    # 2·2048³ FLOPs at 200 GFLOP/s × 0.95 (cpu_gemm_efficiency), plus the call overhead,
    # plus packing A, B and C (3·2048²·4 bytes) at 20 GB/s × cpu_pack_efficiency
    expected = 2 * 2048**3 / (200e9 * DEFAULT_PARAMS["cpu_gemm_efficiency"]) + 2e-6 \
        + 3 * 2048**2 * 4 / (20e9 * DEFAULT_PARAMS["cpu_pack_efficiency"])
    assert p.time_s == pytest.approx(expected, rel=0.01)
    assert p.busy["sm"] == pytest.approx(1.0, abs=0.01)
    assert p.bound == "compute"


def test_scipy_sparse_times_dense_is_single_threaded(cpu_profile):
    p = predict_des(build_work("csr", m=4096, k=4096, n=64, dtype="fp32", density=0.01), cpu_profile)
    assert (p.ctas, p.waves) == (1, 0.5)  # one thread on one of two cores
    assert p.busy["sm"] == pytest.approx(0.5, abs=0.01)


def test_2_4_on_a_cpu_is_a_dense_gemm(cpu_profile):
    dense = predict_des(build_work("dense", m=1024, k=1024, n=1024, dtype="fp16"), cpu_profile)
    sparse = predict_des(build_work("2:4", m=1024, k=1024, n=1024, dtype="fp16"), cpu_profile)
    assert sparse.time_s == pytest.approx(dense.time_s, rel=0.01)


@pytest.mark.parametrize("param, factor, direction, k, n", [
    ("cpu_nonzero_overhead_ns", 2.0, +1, 262144, 1), ("cpu_loads_in_flight", 2.0, -1, 262144, 1),
    ("latency_scale", 2.0, +1, 262144, 1), ("l2_capacity_efficiency", 0.5, +1, 262144, 64),
    ("cpu_spmm_efficiency", 0.5, +1, 16384, 256),
])
def test_each_calibration_parameter_moves_cpu_spmm_time_one_way(cpu_profile, param, factor, direction, k, n):
    # LLC 32 MiB. K = 262144, N = 1: B is 1 MiB, the loop and its dependent loads bind;
    # N = 64: B is 64 MiB, DRAM misses bind. K = 16384, N = 256: B fits, arithmetic binds.
    work = build_work("csr", m=8192, k=k, n=n, dtype="fp32", density=8 / k * 4)
    base = predict_des(work, cpu_profile).time_s
    changed = Calibration(hw=cpu_profile.name, params={param: DEFAULT_PARAMS[param] * factor})
    moved = predict_des(work, cpu_profile, changed).time_s
    assert (moved - base) * direction > 0


def test_calibration_parameters_never_move_time_the_wrong_way(cpu_profile):
    work = build_work("csr", m=8192, k=262144, n=32, dtype="fp32", density=0.0005)
    base = predict_des(work, cpu_profile).time_s
    for param in DEFAULT_PARAMS:
        up = DEFAULT_PARAMS[param] * (0.5 if param.endswith(("_efficiency", "in_flight", "bytes_per_clk")) else 2.0)
        slower = predict_des(work, cpu_profile, Calibration(hw=cpu_profile.name, params={param: up})).time_s
        assert slower >= base * (1 - 1e-12), param


def test_cpu_predictions_respect_the_floor(cpu_profile):
    for kernel in ("dense", "csr", "coo", "2:4", "channel"):
        p = predict_des(build_work(kernel, m=512, k=512, n=512, density=0.1 if kernel != "dense" else 1.0),
                        cpu_profile)
        assert p.time_s >= p.roofline_floor_s


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kernel=st.sampled_from(("dense", "channel", "2:4", "csr", "coo", "bsr", "grouped")),
       m=st.integers(1, 1000), k=st.integers(1, 250).map(lambda v: 4 * v), n=st.integers(1, 1000),
       density=st.sampled_from([0.0, 0.01, 0.2, 1.0]), dtype=st.sampled_from(["fp32", "fp64", "fp16"]))
def test_cpu_never_faster_than_the_floor(cpu_profile, kernel, m, k, n, density, dtype):
    try:
        work = build_work(kernel, m=m, k=k, n=n, density=density, dtype=dtype)
    except SparsimError:
        assume(False)
    p = predict_des(work, cpu_profile)
    assert p.time_s >= p.roofline_floor_s
    # the simulated time itself, not the last guard's lift to the floor: the breakdown of
    # the simulation sums to it
    assert sum(p.breakdown.values()) == pytest.approx(p.time_s, rel=1e-9)


def test_gather_reuses_b_rows_held_in_the_private_caches(cpu_profile):
    # same shape, nonzeros and bytes: a block pattern re-reads the B rows its neighbouring
    # rows just read (L1/L2); a uniform one reads all of B (4 MiB, past the private L2) between reuses
    kw = dict(m=4096, k=4096, n=256, dtype="fp32", density=0.05)
    block = predict_des(build_work("csr", pattern="block", **kw), cpu_profile)
    uniform = predict_des(build_work("csr", pattern="uniform", **kw), cpu_profile)
    assert block.time_s / build_work("csr", pattern="block", **kw).nnz < \
        uniform.time_s / build_work("csr", pattern="uniform", **kw).nnz
    # the block pattern's rows come from the private caches: far less last-level traffic;
    # one core's loop is a sum of stages (ECM), the flow's own latency-bound ceiling
    assert block.bytes_l2 < 0.2 * uniform.bytes_l2
    assert set(block.breakdown) == {"launch", "latency"}


def test_gather_vector_work_scales_with_the_bytes_of_a_b_row(cpu_profile):
    # a B row of fp64 spans twice the SIMD vectors of fp32: more time per nonzero, at most 2x
    kw = dict(m=8192, k=512, n=128, density=0.02)  # B fits the private L2 in both dtypes
    fp32 = predict_des(build_work("csr", dtype="fp32", **kw), cpu_profile).time_s
    fp64 = predict_des(build_work("csr", dtype="fp64", **kw), cpu_profile).time_s
    assert fp32 < fp64 <= 2.0 * fp32
