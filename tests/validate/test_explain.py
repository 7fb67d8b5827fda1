"""Explaining traces: kernel names, recovered problems, paths, causes, alternatives, replays."""

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import sparsim
from sparsim.errors import SparsimError
from sparsim.validate.explain import OP_KEYS, explain, profile_for_device
from sparsim.validate.kernelnames import classify
from sparsim.validate.matmuls import problem_of
from sparsim.validate.replay import Change, prepare, replay
from sparsim.validate.trace import CpuOp, OpShapes, read_trace

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data" / "traces"
ATLAS = ROOT / "sparsim" / "validate" / "data" / "h200-2026-11-29"
sys.path.insert(0, str(ROOT / "benchmarks"))
import trace_gen  # noqa: E402

HW = "h200-sxm-141gb"
# atlas implementation -> the library every kernel of its calls belongs to
LIBRARY = {"dense-cublas": {"cuBLAS", "CUDA"}, "2:4-cusparselt-default": {"cuSPARSELt", "CUDA"},
           "2:4-cusparselt-searched": {"cuSPARSELt", "CUDA"}, "csr-cusparse-int64": {"cuSPARSE"},
           "csr-cusparse-int32": {"cuSPARSE"}, "bsr16": {"PyTorch BSR (Triton)", "PyTorch"}}


def _atlas_kernels():
    for name in ("atlas.json", "atlas-dtypes.json"):
        for p in json.loads((ATLAS / name).read_text())["points"]:
            for kernel, _ in p.get("kernels") or ():
                yield p["impl"], kernel


@pytest.mark.parametrize("impl,kernel", sorted(set(_atlas_kernels())))
def test_every_kernel_measured_on_the_h200_is_matched_to_its_library(impl, kernel):
    kind = classify(kernel)
    assert kind.known, kernel
    if impl in LIBRARY:
        assert kind.library in LIBRARY[impl]
    if impl.startswith("csr-cusparse-int"):
        assert kind.index_bits == int(impl[-2:])


def test_kernel_names_give_tiles_split_k_and_arch():
    k = classify("nvjet_sm90_hsh_128x8_64x12_4x1_v_bz_splitK_TNT")
    assert (k.library, k.role, k.tile, k.split_k) == ("cuBLAS", "gemm", (128, 8), True)
    assert classify("void cublasLt::splitKreduce_kernel<32, 16, int, float, __half, float, ").role == "reduce"
    assert classify("sm80_xmma_sparse_gemm_f16f16_f16f32_f32_tt_t_tilesize128x128x64").arch == 80
    assert classify("void cusparse::csrmm_alg1_kernel<false, false, true, int, int, float, ").algorithm == "csrmm_alg1"
    assert not classify("fused_matmul_bias_act_kernel").known


def _op(name, dims, types, strides, concrete=()):
    return CpuOp(name, 0.0, 10.0, 1, 1, 1, OpShapes(tuple(map(tuple, dims)), tuple(types),
                                                   tuple(None if s is None else tuple(s) for s in strides),
                                                   tuple(concrete)))


def test_problems_are_read_in_sparsims_convention():
    linear = _op("aten::linear", [[2, 8, 4096], [11008, 4096], []], ["c10::BFloat16"] * 2 + [""],
                 [[32768, 4096, 1], [4096, 1], []])
    assert problem_of(linear)[:4] == (11008, 4096, 16, "bf16")  # A = the weight, N = the tokens
    addmm = _op("aten::addmm", [[512], [1024, 1705], [1705, 512], [], []], ["float"] * 3 + ["Scalar"] * 2,
                [[1], [1705, 1], [1, 1705], [], []])
    assert problem_of(addmm) == (1024, 1705, 512, "fp32", False, True)  # B's strides are column-major
    csr = _op("aten::mm", [[4096, 4096], [4096, 16]], ["c10::Half"] * 2, [[], [16, 1]])
    assert problem_of(csr).sparse_operand
    old_cslt = _op("aten::_cslt_sparse_mm", [[4096 * 4096 * 9 // 16], [4096, 64]], ["c10::Half"] * 2, [[1], [64, 1]])
    assert problem_of(old_cslt)[:3] == (4096, 4096, 64)  # PyTorch < 2.6: a flat compressed buffer
    int8 = _op("aten::_cslt_sparse_mm", [[2048 * 4096 * 10 // 16], [4096, 64]], ["signed char"] * 2, [[1], [64, 1]])
    assert problem_of(int8)[:4] == (2048, 4096, 64, "int8")
    assert problem_of(_op("aten::mm", [[4], []], ["float", ""], [[1], []])) is None


def test_the_gpu_is_read_from_device_properties():
    assert profile_for_device(trace_gen.H200) == HW
    assert profile_for_device({"name": "NVIDIA A100-SXM4-80GB", "numSms": 108, "totalGlobalMem": 85e9}) == \
        "a100-sxm4-80gb"
    assert profile_for_device({"name": "NVIDIA H100 80GB HBM3", "numSms": 132, "totalGlobalMem": 85e9}) == \
        "h100-sxm5-80gb"
    assert profile_for_device({"name": "NVIDIA H100 PCIe", "numSms": 114, "totalGlobalMem": 85e9}) == "h100-pcie-80gb"
    assert profile_for_device({"name": "AMD Instinct MI300X", "numSms": 304}) is None


@pytest.fixture(scope="module")
def paths():
    return explain(DATA / "h200_paths.json")


@pytest.fixture(scope="module")
def decode():
    return explain(DATA / "h200_decode.json.gz")


def _by_path(result):
    return {op.path or op.impl: op for op in result.ops}


def test_every_path_is_recovered_with_its_problem(paths):
    assert paths.hw == HW and paths.device == "NVIDIA H200"
    ops = _by_path(paths)
    assert set(ops) == {"torch matmul -> cuBLAS", "_cslt_sparse_mm -> cuSPARSELt default plan",
                        "_cslt_sparse_mm -> cuSPARSELt searched plan", "A_csr @ B -> cuSPARSE (int64)",
                        "A_csr @ B -> cuSPARSE (int32)", "A_bsr @ B -> Triton BSR", "unknown"}
    for op in paths.ops:
        assert (op.m, op.k, op.n, op.dtype, op.calls) == (4096, 4096, 16, "fp16", 2)
    kernel_of = {path: op.kernel for path, op in ops.items()}
    assert kernel_of["A_bsr @ B -> Triton BSR"] == "bsr" and kernel_of["A_csr @ B -> cuSPARSE (int64)"] == "csr"
    assert ops["_cslt_sparse_mm -> cuSPARSELt searched plan"].impl == "cusparselt-search"
    assert ops["_cslt_sparse_mm -> cuSPARSELt default plan"].impl == "torch"
    assert ops["A_csr @ B -> cuSPARSE (int64)"].density == pytest.approx(1678374 / 4096**2)
    assert ops["A_bsr @ B -> Triton BSR"].density == pytest.approx(6554 * 256 / 4096**2)


def test_measured_times_are_the_atlas_measurements(paths):
    ops = _by_path(paths)
    # kernel time per call = the atlas's kernels (µs), host time = its event_s - kernel_s
    assert ops["torch matmul -> cuBLAS"].measured_kernel_s == pytest.approx((14.23 + 1.9) * 1e-6)
    assert ops["_cslt_sparse_mm -> cuSPARSELt default plan"].measured_kernel_s == pytest.approx(31.20e-6)
    assert ops["_cslt_sparse_mm -> cuSPARSELt default plan"].measured_host_s == pytest.approx(363.4e-6, abs=0.1e-6)
    assert ops["A_csr @ B -> cuSPARSE (int64)"].measured_kernel_s == pytest.approx((108.48 + 5.08) * 1e-6)


def test_predictions_are_sparsims_for_the_path_that_ran(paths):
    ops = _by_path(paths)
    dense = sparsim.predict("dense", m=4096, k=4096, n=16, hw=HW, impl="torch", compare=False)
    assert ops["torch matmul -> cuBLAS"].predicted_kernel_s == pytest.approx(dense.kernel_s)
    assert ops["torch matmul -> cuBLAS"].predicted_time_s == pytest.approx(dense.time_s)
    searched = sparsim.predict("2:4", m=4096, k=4096, n=16, hw=HW, impl="cusparselt-search", compare=False)
    host = sparsim.impls.get_impl("torch").rule("2:4").host_s
    assert ops["_cslt_sparse_mm -> cuSPARSELt searched plan"].predicted_time_s == pytest.approx(searched.kernel_s + host)
    unknown = ops["unknown"]
    assert unknown.predicted_time_s is None and unknown.alternatives == ()
    assert unknown.causes[0].startswith("unknown kernel: fused_matmul_bias_act_kernel")


def test_causes_name_what_the_trace_shows(paths):
    ops = _by_path(paths)
    default = ops["_cslt_sparse_mm -> cuSPARSELt default plan"].causes
    assert default[0].startswith("per-call plan set-up: 363.4 µs of host work per call")
    assert any(c.startswith("default plan on a skinny N: the default algorithm's 128x256 tile for N = 16")
               for c in default)
    assert any(c.startswith("tile padding: 128x256 tiles cover 8.0x") for c in default)
    assert ops["A_csr @ B -> cuSPARSE (int64)"].causes[0].startswith("int64 indices")
    assert not any("int64" in c for c in ops["A_csr @ B -> cuSPARSE (int32)"].causes)
    bsr = ops["A_bsr @ B -> Triton BSR"].causes
    assert bsr[0].startswith("launch-bound: 582.0 µs of host work per call")
    assert not any(c.startswith("warm L2") for c in bsr)  # a whole step of other work runs between its calls


def test_alternatives_carry_their_predicted_gain(paths):
    op = _by_path(paths)["_cslt_sparse_mm -> cuSPARSELt default plan"]
    names = [name for name, _ in op.alternatives]
    assert names[0] == "cusparselt-search (plan searched and built once)"
    for _, alt in op.alternatives:
        assert alt.gain == pytest.approx(op.predicted_time_s / alt.predicted_time_s)
    assert [a.predicted_time_s for _, a in op.alternatives] == sorted(a.predicted_time_s for _, a in op.alternatives)


def test_the_decode_step_finds_linears_a_2_4_layer_and_a_dense_fallback(decode):
    ops = {(op.kernel, op.k, op.calls): op for op in decode.ops}
    assert set(ops) == {("dense", 4096, 12), ("2:4", 11008, 3), ("dense", 11008, 3)}
    assert all(op.op == "aten::linear" and (op.m, op.n) == (4096, 16) for op in decode.ops)
    assert ops[("2:4", 11008, 3)].path == "_cslt_sparse_mm -> cuSPARSELt default plan"
    fallback = ops[("dense", 11008, 3)]
    assert fallback.causes[0].startswith("dense fallback")
    assert fallback.alternatives[0][0].startswith("2:4")
    assert decode.summary["steps"] == 3


def test_the_json_has_the_issues_keys(decode):
    data = json.loads(json.dumps(decode.to_dict()))
    assert tuple(data["ops"][0]) == OP_KEYS
    assert set(data["ops"][0]["alternatives"][0]) == {"impl", "predicted_time_s", "gain"}
    assert {"measured_step_s", "predicted_step_s", "gpu_idle_s", "matmul_by_path_s", "other_kernels_s"} <= \
        set(data["summary"])


@pytest.mark.parametrize("name", ["h200_paths.json", "h200_decode.json.gz"])
def test_the_replay_gives_back_the_recorded_step(name):
    t = read_trace(DATA / name)
    end = max([op.ts + op.dur for op in t.ops] + [g.ts + g.dur for g in t.gpu] + [x.ts + x.dur for x in t.launches])
    start = min(op.ts for op in t.ops)
    prepared = prepare(t)
    assert replay(prepared).step_s == pytest.approx((end - start) * 1e-6, rel=0.005)
    same = {i: Change(op.dur * 1e-6, 1.0) for i, op in enumerate(t.ops) if op.name == "aten::_cslt_sparse_mm"}
    assert replay(prepared, same).step_s == pytest.approx(replay(prepared).step_s)


def test_whole_trace_summary_and_changes(decode):
    s = decode.summary
    t = read_trace(DATA / "h200_decode.json.gz")
    assert s["matmul_kernel_s"] * 3 == pytest.approx(sum(g.dur for g in t.gpu if "add" not in g.name and
                                                         not g.name.startswith("void at::native::vec")) * 1e-6
                                                     + 14.0e-6 * 3)  # the fallback's fill is inside its call
    assert s["gpu_busy_s"] + s["gpu_idle_s"] == pytest.approx(s["measured_step_s"])
    best = decode.changes[0]
    assert best["kernel"] == "2:4" and best["change"].startswith("cusparselt-search")
    # the change removes the plan set-up the model knows (the torch rule's host seconds per
    # call, of the 657 µs measured); the kernel saving hides behind the host work
    host = sparsim.impls.get_impl("torch").rule("2:4").host_s
    assert s["measured_step_s"] - best["predicted_step_s"] == pytest.approx(host, rel=0.02)
    assert decode.changes[-1]["op"] == "all" and decode.changes[-1]["predicted_step_s"] <= best["predicted_step_s"]


def _repeated(tmp_path, kernel_us, between_us):
    w = trace_gen.TraceWriter()
    for _ in range(3):
        w.op("aten::mm", [[4096, 4096], [4096, 16]], ["c10::Half"] * 2, [[4096, 1], [16, 1]], host_us=10,
             kernels=[("nvjet_sm90_hsh_32x128_64x10_1x4_h_bz_splitK_NNN", kernel_us)])
        if between_us:
            w.op("aten::copy_", None, host_us=10, kernels=[("void at::native::unrolled_elementwise_kernel<at::"
                                                              "native::direct_copy_k", between_us)])
    return explain(w.write(tmp_path / "t.json"), hw=HW).ops[0]


def test_warm_l2_only_when_nothing_between_calls_could_evict_it(tmp_path):
    # hypothetical readings (not measured): a back-to-back repeat running at half the cold time
    warm = _repeated(tmp_path, 8.0, 0)
    assert any(c.startswith("warm L2: A, B and C (32.2 MiB) fit the") for c in warm.causes)
    evicted = _repeated(tmp_path, 8.0, 500.0)  # 0.5 ms of other work at 4.8 TB/s moves 2.4 GB
    assert not any(c.startswith("warm L2") for c in evicted.causes)
    assert any(c.startswith("unexplained kernel gap") for c in evicted.causes)


def test_column_major_b_and_an_unknown_density(tmp_path):
    w = trace_gen.TraceWriter()
    w.op("aten::mm", [[4096, 4096], [4096, 64]], ["c10::Half"] * 2, [[], [1, 4096]], host_us=40,
         kernels=[("void cusparse::(anonymous namespace)::csr_partition_kernel<long, long>", 5.0),
                  ("void cusparse::csrmm_alg2_kernel<false, false, false, long, long, long", 300.0)])
    path = w.write(tmp_path / "col.json")
    blind = explain(path, hw=HW).ops[0]
    assert blind.predicted_time_s is None and any(c.startswith("density unknown") for c in blind.causes)
    told = explain(path, hw=HW, density=0.05).ops[0]
    assert told.path == "A_csr @ B -> cuSPARSE (int64, column-major B)"
    assert any(c.startswith("column-major B: B's strides are column-major") for c in told.causes)
    assert "torch with row-major B" in dict(told.alternatives)


def _small_trace():
    w = trace_gen.TraceWriter()
    w.op("aten::mm", [[4096, 4096], [4096, 16]], ["c10::Half"] * 2, [[], [16, 1]], host_us=30,
         kernels=[("void cusparse::(anonymous namespace)::csr_partition_kernel<long, long>", 5.0),
                  ("void cusparse::csrmm_alg2_kernel<false, false, false, long, long, long", 100.0)])
    w.op("aten::_cslt_sparse_mm", [[4096, 2304], [4096, 16], [], [], [], [], [], [], []],
         ["c10::Half", "c10::Half", "", "", "", "Scalar", "Scalar", "Scalar", "Scalar"],
         [[2304, 1], [16, 1], [], [], [], [], [], [], []], host_us=400, concrete=["", "", "", "", "", "False", "0"],
         kernels=[("sm90_xmma_sparse_gemm_f16f16_f16f32_f32_tt_t_tilesize128x256x64_cgasiz", 30.0)])
    return w.document("small.json")


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                           | st.text(max_size=12), lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
FIELDS = ["ts", "dur", "name", "cat", "ph", "pid", "tid", "Input Dims", "Input type", "Input Strides",
          "Concrete Inputs", "External id", "correlation", "args"]


@settings(max_examples=int(os.environ.get("SPARSIM_FUZZ_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(FIELDS), JSON_VALUES), min_size=1, max_size=6))
def test_any_mangled_field_gives_an_explanation_or_one_clean_error(tmp_path, edits):
    doc = _small_trace()
    events = doc["traceEvents"]
    for index, key, value in edits:
        event = events[index % len(events)]
        if key in ("ts", "dur", "name", "cat", "ph", "pid", "tid", "args"):
            event[key] = value
        elif isinstance(event.get("args"), dict):
            event["args"][key] = value
    path = tmp_path / "mangled.json"
    path.write_text(json.dumps(doc))
    try:
        result = explain(path, hw=HW, density=0.1)
    except SparsimError as exc:
        assert "\n" not in str(exc)
        return
    json.dumps(result.to_dict(), allow_nan=False)  # --json can print it


def test_a_deeply_nested_trace_is_refused_in_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"traceEvents": [' + "[" * 100000 + "]" * 100000 + "]}")
    with pytest.raises(SparsimError, match="nested too deeply"):
        read_trace(path)


def test_the_committed_traces_are_what_the_generator_writes(tmp_path):
    for path in trace_gen.write_test_traces(tmp_path):
        committed = DATA / path.name
        assert read_trace(path).gpu == read_trace(committed).gpu
        assert read_trace(path).ops == read_trace(committed).ops


@settings(max_examples=30, deadline=None)
@given(scales=st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)), min_size=7, max_size=7))
def test_making_calls_faster_never_makes_the_replayed_step_slower(scales):
    t = read_trace(DATA / "h200_paths.json")
    prepared = prepare(t)
    roots = [i for i, op in enumerate(t.ops) if op.name in ("aten::mm", "aten::_cslt_sparse_mm")][:7]
    faster = {i: Change(t.ops[i].dur * 1e-6 * h, k) for i, (h, k) in zip(roots, scales)}
    assert replay(prepared, faster).step_s <= replay(prepared).step_s + 1e-12


def test_paths_sparsim_has_no_model_of_are_not_predicted(tmp_path):
    w = trace_gen.TraceWriter()
    bsr32 = trace_gen.atlas_point("bsr32", 4096, 4096, 16, density=0.1, block=32)  # measured: a copy + sm80 GEMM
    w.op("aten::mm", [[4096, 4096], [4096, 16]], ["c10::Half"] * 2, [[], [16, 1]], host_us=200,
         kernels=trace_gen._kernels(bsr32))
    w.op("aten::mm", [[4096, 4096], [4096, 16]], ["long int"] * 2, [[4096, 1], [16, 1]], host_us=20,
         kernels=[("nvjet_sm90_hsh_32x128_64x10_1x4_h_bz_splitK_NNN", 10.0)])
    blocky, integer = sorted(explain(w.write(tmp_path / "t.json"), hw=HW).ops, key=lambda o: -o.measured_host_s)
    assert blocky.impl == integer.impl == "unknown" and blocky.predicted_time_s is None
    assert blocky.causes[0].startswith("not predicted: a sparse operand ran cuBLAS kernels without a dense conversion")
    assert integer.causes[0] == "not predicted: an element type sparsim does not model"


def test_fp8_and_int8_matmuls_are_predicted_on_cublaslt_kernels_with_pytorchs_host_work(tmp_path):
    w = trace_gen.TraceWriter()
    w.op("aten::_scaled_mm", [[16, 4096], [4096, 4096], [], [], [], [], [], []],
         ["c10::Float8_e4m3fn"] * 2 + ["float", "float", "", "", "", ""], [[4096, 1], [1, 4096]] + [[]] * 6,
         host_us=20, kernels=[("nvjet_sm90_qqtst_128x64_128x6_2x1_v_bz_NTN", 9.0)])  # a hypothetical name
    w.op("aten::_int_mm", [[16, 4096], [4096, 4096]], ["signed char"] * 2, [[4096, 1], [1, 4096]], host_us=20,
         kernels=[("sm90_xmma_gemm_s8s8_s32s32_s32_tn_n_tilesize64x64x128", 12.0)])  # a hypothetical name
    ops = {op.dtype: op for op in explain(w.write(tmp_path / "q.json"), hw=HW).ops}
    assert set(ops) == {"fp8", "int8"}
    for dtype, op in ops.items():
        assert (op.m, op.k, op.n) == (16, 4096, 4096)
        assert op.path == f"torch matmul ({dtype}) -> cuBLASLt"
        p = sparsim.predict("dense", m=16, k=4096, n=4096, hw=HW, dtype=dtype, impl=op.impl, compare=False)
        assert op.predicted_kernel_s == pytest.approx(p.kernel_s)
        assert op.predicted_time_s == pytest.approx(p.kernel_s + sparsim.impls.get_impl("torch").rule("dense").host_s)
