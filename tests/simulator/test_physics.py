"""Physics as tests: more work is never faster, a better GPU is never slower, no time
beats the roofline, every number is finite. Every kernel, both time models, every GPU
profile, through ``sparsim.predict`` (the fixed sweep calls ``predict_work`` on work
built once, which is what ``predict`` does).

Sparse kernels get *nested* patterns: one seeded uniform field U, and the pattern of
(M, K, density) is {(i, j): i < M, j < K, U[i, j] < density}, so a larger M, K or
density only adds nonzeros to the same matrix.

Tolerance: the analytic model is exact. The discrete-event model holds GEMM kernels to 1%
(:data:`TOLERANCE`) and gather kernels to the folding envelope (:data:`FOLDING_ENVELOPE`),
for two known approximations, both documented in docs/simulator.md ("Invariants"):
gather kernels fold SMs by estimated finish time (one nonzero or row more can reorder two
nearly equal slots, or change how a partial last wave folds), and a GEMM's identical CTAs
share the grid's DRAM traffic evenly, so a grid one row of tiles larger (more reuse of B
per wave) can give each CTA a smaller share while its extra CTAs run in a partial wave
that is not bandwidth-bound. Random search finds rare drops past 1% (4 in ~79,000
growths on 2026-12-02, worst 5.3%; 13 in 6,350 gather growths on 2026-12-03, worst 8.6%);
the ones the derandomized examples met are strict xfail tests (:data:`KNOWN_EDGES`). The
fixed sweep holds GEMM kernels to 1e-9.
"""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import sparsim
from sparsim.errors import SparsimError
from sparsim.hwprofiles import list_profiles, load_profile
from sparsim.models import SparsityPattern, build_work
from sparsim.simulator import MODELS, predict_work

GPU_PROFILES = [name for name in list_profiles() if load_profile(name).kind == "gpu"]
KERNELS = ("dense", "coo", "csr", "bsr", "grouped", "2:4", "1:2", "channel")
GATHER = ("coo", "csr", "bsr", "grouped")
GEMM = ("dense", "channel", "2:4", "1:2")
#: relative drop the discrete-event model may show (see the module docstring)
TOLERANCE = 0.01
EXACT = 1e-9

def _settings(examples: int):
    return settings(max_examples=examples, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


#: relative drop a gather kernel's discrete-event time may show: the measured envelope of
#: the SM-folding approximation (module docstring). Random search on 2026-12-03 over
#: 6,350 gather growths (all GPU profiles, nested patterns, 3 seeds) found 13 drops past
#: 1%, the worst 8.6% (CSR 14 x 1428, density 0.5, N 295 -> 443, H100 PCIe); the same
#: seeds give the same drops on the code of 2026-12-02 (not a regression). The
#: derandomized examples here met two, kept below as strict xfail tests at 1%. A drop past
#: this envelope is a new mechanism.
FOLDING_ENVELOPE = 0.10


def tolerance(model: str, kernel: str | None = None) -> float:
    if model != "des":
        return EXACT
    return FOLDING_ENVELOPE if kernel in GATHER else TOLERANCE


def field_pattern(field: np.ndarray, m: int, k: int, density: float) -> SparsityPattern:
    """The nested pattern of (m, k, density) in ``field`` (see the module docstring)."""
    mask = field[:m, :k] < density
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    return SparsityPattern(m, k, indptr, np.nonzero(mask)[1].astype(np.int32), "nested-uniform")


def dtype_of(kernel: str) -> str:
    return "fp32" if kernel == "1:2" else "fp16"


def predict(kernel, hw, model, *, m, k, n, density, field=None):
    """sparsim.predict of one point; None where the kernel or chip refuses it."""
    options = dict(m=m, k=k, n=n, hw=hw, dtype=dtype_of(kernel), model=model)
    if kernel in GATHER:
        options["sparsity_pattern"] = field_pattern(field, m, k, density)
    elif kernel == "channel":
        options["density"] = density
    try:
        return sparsim.predict(kernel, **options)
    except SparsimError:
        return None  # no sparse tensor cores for this dtype, K not a multiple of the group, ...


def test_the_field_patterns_are_nested():
    field = np.random.default_rng(0).random((40, 60), dtype=np.float32)
    small, large = field_pattern(field, 30, 50, 0.2), field_pattern(field, 40, 60, 0.3)
    small_set = {(i, int(j)) for i in range(small.m) for j in small.indices[small.indptr[i]:small.indptr[i + 1]]}
    large_set = {(i, int(j)) for i in range(large.m) for j in large.indices[large.indptr[i]:large.indptr[i + 1]]}
    assert small_set < large_set and small.nnz == pytest.approx(0.2 * 30 * 50, rel=0.25)


# -- more work is never faster -----------------------------------------------------------------

#: log-uniform sizes: most examples small (cheap, latency- and launch-bound), some large
SIZES = st.floats(0.0, 11.5).map(lambda e: max(1, int(2 ** e)))


@_settings(200)
@given(kernel=st.sampled_from(KERNELS), model=st.sampled_from(MODELS), hw=st.sampled_from(GPU_PROFILES),
       m=SIZES, n=SIZES, k=SIZES.map(lambda v: 4 * -(-v // 4)), axis=st.sampled_from("mnk"),
       growth=st.sampled_from(["step", 1.1, 1.5, 2.0]), density=st.sampled_from([0.01, 0.1, 0.5]),
       seed=st.integers(0, 3))
def test_time_never_falls_when_m_n_or_k_grows(kernel, model, hw, m, n, k, axis, growth, density, seed):
    small = dict(m=m, n=n, k=k)
    large = dict(small)
    step = 4 if axis == "k" else 1  # K stays a multiple of the N:M group
    large[axis] = small[axis] + step if growth == "step" else step * math.ceil(small[axis] * growth / step)
    assume(large[axis] > small[axis])
    field = None
    if kernel in GATHER:
        assume(large["m"] * large["k"] <= 2**21)  # keep pattern building cheap
        field = np.random.default_rng(seed).random((large["m"], large["k"]), dtype=np.float32)
    p0 = predict(kernel, hw, model, density=density, field=field, **small)
    p1 = predict(kernel, hw, model, density=density, field=field, **large)
    assume(p0 is not None and p1 is not None)
    assert p1.time_s >= p0.time_s * (1 - tolerance(model, kernel)), (small, large, p0.time_s, p1.time_s)


#: folding edges the derandomized examples met, past 1% and inside FOLDING_ENVELOPE:
#: (kernel, hw, small (m, n, k), large (m, n, k), density, seed, the two times)
KNOWN_EDGES = [
    ("bsr", "h200-sxm-141gb", (512, 2048, 4), (513, 2048, 4), 0.01, 2, "4.90 us -> 4.78 us"),
    ("csr", "a100-pcie-80gb", (362, 2048, 4), (362, 2049, 4), 0.01, 0, "9.43 us -> 9.31 us"),
]


@pytest.mark.parametrize("edge", KNOWN_EDGES, ids=[e[0] + "-" + e[1] for e in KNOWN_EDGES])
@pytest.mark.xfail(strict=True, reason="known edges (2026-12-03): the greedy SM folding of a partial last wave "
                   "makes the smaller grid 1-3% slower (times in KNOWN_EDGES)")
def test_known_folding_edges_past_one_percent(edge):
    kernel, hw, small, large, density, seed, _ = edge
    field = np.random.default_rng(seed).random((large[0], large[2]), dtype=np.float32)
    t = [predict(kernel, hw, "des", density=density, field=field, m=m, n=n, k=k).time_s for m, n, k in (small, large)]
    assert t[1] >= t[0] * (1 - TOLERANCE)


@_settings(60)
@given(kernel=st.sampled_from(GATHER + ("channel",)), model=st.sampled_from(MODELS), hw=st.sampled_from(GPU_PROFILES),
       m=st.integers(1, 1200), k=st.integers(1, 1200), n=st.sampled_from([1, 8, 64, 300]),
       densities=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(sorted), seed=st.integers(0, 5))
def test_time_never_falls_when_nonzeros_are_added(kernel, model, hw, m, k, n, densities, seed):
    lo, hi = densities
    assume(hi > lo and (kernel != "channel" or lo > 0))
    field = np.random.default_rng(seed).random((m, k), dtype=np.float32)
    p0 = predict(kernel, hw, model, m=m, k=k, n=n, density=lo, field=field)
    p1 = predict(kernel, hw, model, m=m, k=k, n=n, density=hi, field=field)
    assume(p0 is not None and p1 is not None)
    assert p1.time_s >= p0.time_s * (1 - tolerance(model)), (lo, hi, p0.time_s, p1.time_s)


# -- a better GPU is never slower ----------------------------------------------------------------

def improve(hw, resource: str, factor: float):
    """``hw`` better by ``factor`` (> 1) in one resource, equal in all others."""
    if resource in ("hbm_bytes_per_s", "l2_bytes_per_s", "l2_bytes"):
        changes = {resource: type(getattr(hw, resource))(getattr(hw, resource) * factor)}
    elif resource == "tensor":
        changes = {"tensor_dense_flops_per_s": {d: v * factor for d, v in hw.tensor_dense_flops_per_s.items()}}
    elif resource == "vector":
        changes = {"vector_flops_per_s": {d: v * factor for d, v in hw.vector_flops_per_s.items()}}
    elif resource == "sm_l2_port":  # the clock only sets the SMs' L2 ports; the peaks are listed per dtype
        changes = {"boost_clock_mhz": hw.boost_clock_mhz * factor}
    elif resource == "hbm_latency_ns":  # no faster than an L2 hit
        changes = {resource: max(hw.l2_latency_ns, hw.hbm_latency_ns / factor)}
    else:  # lower latencies and launch overhead
        changes = {resource: getattr(hw, resource) / factor}
    return dataclasses.replace(hw, **changes)


RESOURCES = ("hbm_bytes_per_s", "l2_bytes_per_s", "l2_bytes", "tensor", "vector", "sm_l2_port",
             "hbm_latency_ns", "l2_latency_ns", "launch_overhead_s")


def test_improve_changes_one_resource_only(h100):
    better = improve(h100, "hbm_bytes_per_s", 2.0)
    changed = [f.name for f in dataclasses.fields(h100) if getattr(better, f.name) != getattr(h100, f.name)]
    assert changed == ["hbm_bytes_per_s"] and better.hbm_bytes_per_s == 6.7e12


@_settings(120)
@given(kernel=st.sampled_from(KERNELS), hw=st.sampled_from(GPU_PROFILES), factor=st.floats(1.01, 4.0),
       m=SIZES, n=SIZES, k=SIZES.map(lambda v: 4 * -(-v // 4)), density=st.sampled_from([0.01, 0.1, 0.5]))
def test_a_gpu_better_in_one_resource_is_never_slower(kernel, hw, factor, m, n, k, density):
    field = None
    if kernel in GATHER:
        assume(m * k <= 2**21)
        field = np.random.default_rng(0).random((m, k), dtype=np.float32)
    base = load_profile(hw)
    for model in MODELS:
        p0 = predict(kernel, base, model, m=m, k=k, n=n, density=density, field=field)
        assume(p0 is not None)
        for resource in RESOURCES:
            p1 = predict(kernel, improve(base, resource, factor), model, m=m, k=k, n=n, density=density, field=field)
            assert p1.time_s <= p0.time_s * (1 + tolerance(model)), (model, resource, p0.time_s, p1.time_s)


# -- floors and finite numbers ---------------------------------------------------------------------

@_settings(80)
@given(kernel=st.sampled_from(KERNELS), model=st.sampled_from(MODELS), hw=st.sampled_from(GPU_PROFILES),
       m=SIZES, n=SIZES, k=SIZES.map(lambda v: 4 * -(-v // 4)), density=st.sampled_from([0.0, 0.003, 0.1, 1.0]),
       dtype=st.sampled_from(["fp16", "bf16", "fp32"]), seed=st.integers(0, 3))
def test_every_prediction_is_above_the_roofline_and_finite(kernel, model, hw, m, n, k, density, dtype, seed):
    assume(kernel not in GATHER or m * k <= 2**21)
    try:
        p = sparsim.predict(kernel, m=m, k=k, n=n, hw=hw, dtype=dtype, density=density, model=model, seed=seed)
    except SparsimError:
        assume(False)  # a dtype the chip or kernel refuses
    assert p.time_s >= p.roofline_floor_s > 0
    assert not any("guard" in note for note in p.notes)
    numbers = []
    for name, value in p.to_dict().items():
        values = value.values() if isinstance(value, dict) else [value]
        numbers += [(name, v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert all(math.isfinite(v) and v >= 0 for _, v in numbers), [nv for nv in numbers if not math.isfinite(nv[1])]
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in p.busy.values()), p.busy


# -- the fixed doubling sweep ----------------------------------------------------------------------

#: the doubled dimension walks LADDER; the other two take each value of OTHERS
LADDER = (64, 128, 256, 512, 1024)
OTHERS = (128, 1024)
SWEEP_DENSITY = {"channel": 0.5, "coo": 0.05, "csr": 0.05, "bsr": 0.05, "grouped": 0.05}
DENSITY_LADDER = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32)


def _chains(kernel):
    """Lists of points, each doubling one of m, n, k (or the density) of the one before."""
    for axis in "mnk":
        rest = [a for a in "mnk" if a != axis]
        for u in OTHERS:
            for v in OTHERS:
                yield [{axis: x, rest[0]: u, rest[1]: v} for x in LADDER]
    if kernel in SWEEP_DENSITY:
        yield [dict(m=512, k=512, n=128, density=d) for d in DENSITY_LADDER]


@pytest.fixture(scope="module")
def sweep():
    """Times of every point of every chain: {(kernel, model, profile, point): seconds}."""
    field = np.random.default_rng(0).random((max(LADDER), max(LADDER)), dtype=np.float32)
    profiles = [load_profile(name) for name in GPU_PROFILES]
    times, chains = {}, []
    for kernel in KERNELS:
        for chain in _chains(kernel):
            chains.append((kernel, chain))
            for point in chain:
                key = tuple(sorted(point.items()))
                if (kernel, "des", profiles[0].name, key) in times:
                    continue
                density = point.get("density", SWEEP_DENSITY.get(kernel, 1.0))
                shape = dict(m=point["m"], k=point["k"], n=point["n"], dtype=dtype_of(kernel))
                try:
                    if kernel in GATHER:
                        work = build_work(kernel, sparsity_pattern=field_pattern(field, shape["m"], shape["k"], density),
                                          **shape)
                    else:
                        work = build_work(kernel, density=density, **shape)
                except SparsimError:
                    work = None
                for hw in profiles:
                    for model in MODELS:
                        try:
                            t = predict_work(work, hw, model=model).time_s if work else None
                        except SparsimError:
                            t = None
                        times[(kernel, model, hw.name, key)] = t
    return times, chains


def test_the_doubling_sweep_has_no_violation(sweep):
    times, chains = sweep
    checks, violations = 0, []
    for kernel, chain in chains:
        for model in MODELS:
            allowed = EXACT if model == "analytic" or kernel in GEMM else TOLERANCE
            for hw in GPU_PROFILES:
                ts = [times[(kernel, model, hw, tuple(sorted(p.items())))] for p in chain]
                for small, large, t0, t1 in zip(chain, chain[1:], ts, ts[1:]):
                    if t0 is None or t1 is None:
                        continue
                    checks += 1
                    if t1 < t0 * (1 - allowed):
                        violations.append((kernel, model, hw, small, large, t0, t1))
    assert checks > 5000
    assert violations == []


def test_h200_is_never_slower_than_h100_sxm(sweep):
    # the same GH100 chip with faster, larger HBM (hwprofiles/data/h200-sxm-141gb.toml)
    times, _ = sweep
    pairs = [(key, t, times[(key[0], key[1], "h200-sxm-141gb", key[3])]) for key, t in times.items()
             if key[2] == "h100-sxm5-80gb" and t is not None]
    assert len(pairs) > 500
    slower = [(key, t100, t200) for key, t100, t200 in pairs if t200 > t100 * (1 + EXACT)]
    assert slower == []
