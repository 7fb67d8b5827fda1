"""Quantized linear paths: defaults per scheme, refusals by GPU and scheme, the
activation-quantization kernel, dequantization on the SM, Marlin's behaviour vs batch and
the batch-1 ranking of torchao's Llama-3-8B paths on an A100."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsim
from sparsim.errors import SparsimError
from sparsim.impls import check_impl, default_impl, get_impl
from sparsim.impls.spec import parse_impl
from sparsim.simulator.quantized import ACT_QUANT_KERNEL

A100 = "a100-sxm4-80gb"
#: Llama-3-8B linear layers of one block (out M, in K): q, k, v, o, gate, up, down
LLAMA3_8B = [(4096, 4096), (1024, 4096), (1024, 4096), (4096, 4096), (14336, 4096), (14336, 4096), (4096, 14336)]


def kernel_s(kernel, m, k, n, hw=A100, **kw):
    return sparsim.predict(kernel, m=m, k=k, n=n, hw=hw, compare=False, **kw).kernel_s


def test_each_scheme_has_a_default_implementation_that_runs_it():
    expected = {("dense", "w8a16"): "torchao-int8wo", ("dense", "w4a16"): "marlin",
                ("2:4", "w4a16"): "sparse-marlin", ("dense", "fp8"): "cublaslt-fp8",
                ("2:4", "fp8"): "cusparselt", ("dense", "w8a8"): "cublaslt-int8", ("2:4", "w8a8"): "cusparselt"}
    for (kernel, quant), name in expected.items():
        assert default_impl(kernel, quant=quant) == name
        assert quant in get_impl(name).rule(kernel).quant
    assert sparsim.predict("2:4", m=4096, k=4096, n=1, hw=A100, quant="w4a16").impl == "sparse-marlin"


@pytest.mark.parametrize("call, message", [
    (dict(kernel="dense", quant="fp8", dtype="bf16", hw=A100),
     r"--quant: got 'fp8' with --kernel dense on a100-sxm4-80gb \(compute capability 8.0\) \(default --impl "
     r"cublaslt-fp8\); allowed: none on this GPU \(cublaslt-fp8: compute capability 8.9 or later\)"),
    (dict(kernel="dense", quant="fp8", impl="cublaslt-fp8", dtype="bf16", hw=A100),
     r"--impl: got 'cublaslt-fp8' on a100-sxm4-80gb \(compute capability 8.0\); allowed: a GPU of compute capability 8.9 or later"),
    (dict(kernel="dense", quant="w4a16", impl="marlin", hw="v100-sxm2-32gb"),
     r"--impl: got 'marlin' on v100-sxm2-32gb \(compute capability 7.0\); allowed: a GPU of compute capability 8.0 or later"),
    (dict(kernel="2:4", quant="fp8", impl="cutlass-2:4", hw="rtx-4090"),
     r"allowed: a GPU of compute capability 9.0 only"),
    (dict(kernel="dense", quant="w4a16", impl="cublas", hw=A100),
     r"--quant: got 'w4a16' with --impl cublas --kernel dense; allowed: none"),
    (dict(kernel="dense", impl="marlin", hw=A100), r"--quant: got 'none' with --impl marlin --kernel dense; allowed: w4a16"),
    (dict(kernel="dense", quant="w4a16", impl="torchao-int4", dtype="fp16", hw=A100),
     r"--dtype: got 'fp16' with --impl torchao-int4 --kernel dense; allowed: bf16"),
    (dict(kernel="dense", quant="w8a8", group=32, hw=A100), r"--group: got 32 with --quant w8a8"),
    (dict(kernel="dense", quant="w4a16", group=64, hw=A100), r"--group: got 64 with --impl marlin; allowed: 128"),
    (dict(kernel="dense", quant="w4a16", group=48, impl="torchao-int4", dtype="bf16", hw=A100),
     r"--group: got 48 with --impl torchao-int4; allowed: 32, 64, 128, 256"),
])
def test_a_path_is_refused_in_one_line_where_it_does_not_run(call, message):
    kernel = call.pop("kernel")
    with pytest.raises(SparsimError, match=message) as info:
        sparsim.predict(kernel, m=4096, k=4096, n=16, **call)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kernel, quant, hw, named", [
    ("dense", "w4a16", "v100-sxm2-32gb", "marlin: compute capability 8.0 or later; torchao-int4: compute capability 8.0"),
    ("dense", "fp8", A100, "cublaslt-fp8: compute capability 8.9 or later"),
])
def test_a_scheme_on_a_gpu_none_of_its_paths_run_blames_quant_not_the_default_impl(kernel, quant, hw, named):
    with pytest.raises(SparsimError) as info:
        sparsim.predict(kernel, m=4096, k=4096, n=1, hw=hw, quant=quant, dtype="fp16" if quant == "w4a16" else "bf16")
    message = str(info.value)
    assert message.startswith(f"--quant: got {quant!r} with --kernel {kernel} on {hw}")
    assert "allowed: none on this GPU" in message and named in message and "\n" not in message


def test_w8a8_runs_a_quantize_kernel_before_the_gemm():
    p = sparsim.predict("dense", m=4096, k=4096, n=64, hw="h100-sxm5-80gb", quant="fp8", dtype="bf16")
    names = [name for name, _ in p.kernels]
    assert names[0] == ACT_QUANT_KERNEL and len(names) == 2
    assert p.kernel_s == pytest.approx(sum(t for _, t in p.kernels))
    assert p.dtype == "fp8" and p.quant == "fp8"
    assert p.bytes_c == 4096 * 64 * 2  # bf16 out
    act = dict(p.kernels)[ACT_QUANT_KERNEL]
    gemm_alone = sparsim.predict("dense", m=4096, k=4096, n=64, hw="h100-sxm5-80gb", dtype="fp8")
    assert p.kernel_s == pytest.approx(gemm_alone.kernel_s + act, rel=0.05)  # + fp32 row scales only


def test_weight_only_paths_dequantize_on_the_sm_and_fp16_does_not():
    marlin = sparsim.predict("dense", m=8192, k=8192, n=16, hw=A100, quant="w4a16")
    fp16 = sparsim.predict("dense", m=8192, k=8192, n=16, hw=A100)
    assert 0 < marlin.busy["alu"] < 1 and "alu" not in fp16.busy
    assert marlin.bytes_values == 8192 * 8192 // 2


def test_marlin_is_near_the_memory_bound_ideal_up_to_batch_32_and_compute_bound_beyond():
    """Marlin README: "close to ideal (4x) speedups up to batchsizes of 16-32 tokens"; the
    ideal with group-128 fp16 scales is 4 / (1 + 0.125 / 4) = 3.87x."""
    m, k = 4 * 256 * 108, 256 * 108  # bench.py's 'ideal' shape for 108 SMs
    speedup = {n: kernel_s("dense", m, k, n, dtype="fp16") / kernel_s("dense", m, k, n, dtype="fp16", quant="w4a16")
               for n in (1, 16, 32, 128)}
    assert all(3.6 <= speedup[n] <= 3.9 for n in (1, 16, 32))
    assert speedup[128] < 2.0


def test_sparse_marlin_keeps_about_5x_to_batch_32_then_falls_to_about_2x():
    """Sparse-Marlin README: "near-optimal speedups of around 5.3x", kept "with a batch
    size twice as large (i.e., 32)" as Marlin, and "consistently deliver 2x" beyond; the
    ideal is 2 bytes / (0.25 + 0.125 + 0.0156) = 5.1x."""
    m, k = 4 * 256 * 108, 256 * 108
    speedup = {n: kernel_s("dense", m, k, n, dtype="fp16") / kernel_s("2:4", m, k, n, dtype="fp16", quant="w4a16")
               for n in (1, 32, 128)}
    assert 4.8 <= speedup[1] <= 5.3 and 4.8 <= speedup[32] <= 5.3
    assert 1.7 <= speedup[128] <= 3.0


def test_tinygemm_rereads_the_weights_per_16_tokens_and_falls_behind_marlin():
    m, k = 4 * 256 * 108, 256 * 108
    tiny = {n: kernel_s("dense", m, k, n, dtype="bf16", quant="w4a16", impl="torchao-int4") for n in (1, 16, 32)}
    marlin32 = kernel_s("dense", m, k, 32, dtype="fp16", quant="w4a16", impl="marlin")
    assert tiny[32] > 1.8 * tiny[16] and tiny[16] > 2 * tiny[1]
    assert tiny[32] > 4 * marlin32


def block_linear_s(kernel, quant=None, impl=None, dtype="bf16", group=None):
    return sum(kernel_s(kernel, m, k, 1, dtype=dtype, quant=quant, impl=impl, group=group) for m, k in LLAMA3_8B)


def test_llama3_8b_batch1_linears_rank_as_torchao_measured_on_an_a100():
    """e2e.json torchao-a100-llama-3-8b-*-compiled: bf16 95.64, int8 weight-only 153.03,
    int4 weight-only group 64 (tinygemm) 180.8, int4 + 2:4 (Sparse-Marlin) 223.95 tok/s.
    The kernel-level speedup of the block's linears must keep that order and sit at or a
    little above the measured one (attention, norms and the LM head do not shrink: they
    are a third of the bf16 step at most, so at most 1.5x above)."""
    measured = {"bf16": 95.64, "int8wo": 153.03, "int4wo": 180.8, "int4+2:4": 223.95}
    times = {"bf16": block_linear_s("dense"),
             "int8wo": block_linear_s("dense", "w8a16", "torchao-int8wo"),
             "int4wo": block_linear_s("dense", "w4a16", "torchao-int4", group=64),
             "int4+2:4": block_linear_s("2:4", "w4a16", "sparse-marlin", dtype="fp16")}
    order = sorted(times, key=times.get, reverse=True)
    assert order == ["bf16", "int8wo", "int4wo", "int4+2:4"]
    for name in ("int8wo", "int4wo", "int4+2:4"):
        kernel_ratio = times["bf16"] / times[name]
        e2e_ratio = measured[name] / measured["bf16"]
        assert 0.9 * e2e_ratio <= kernel_ratio <= 1.5 * e2e_ratio, (name, kernel_ratio, e2e_ratio)


def test_cusparselt_runs_int8_and_fp8_w8a8_where_the_chip_has_the_type():
    p = sparsim.predict("2:4", m=4096, k=4096, n=256, hw="h100-sxm5-80gb", quant="w8a8", dtype="bf16")
    assert p.impl == "cusparselt" and p.dtype == "int8" and p.kernels[0][0] == ACT_QUANT_KERNEL
    with pytest.raises(SparsimError, match="--dtype: got 'fp8'"):
        sparsim.predict("2:4", m=4096, k=4096, n=256, hw=A100, quant="fp8", dtype="bf16")


def test_rule_quant_keys_are_checked_with_the_key_named():
    base = {"version": 1, "name": "x", "display_name": "X", "library": "X", "kind": "gpu"}
    bad = [({"quant": ["int3"]}, "kernel.dense.quant"), ({"act_quant": "later"}, "kernel.dense.act_quant"),
           ({"dequant_ops": 2.0}, "kernel.dense.dequant_ops"), ({"min_cc": {"value": "8", "source": "s"}}, "min_cc"),
           ({"zero_point": "no"}, "kernel.dense.zero_point")]
    for rule, key in bad:
        data = {**base, "kernel": {"dense": {"mapping": "gemm", "dtypes": ["fp16"], **rule}}}
        with pytest.raises(SparsimError, match=key.replace(".", r"\.")):
            parse_impl(data, "x.toml", kernels=("dense",), dtypes=("fp16",))
    good = {**base, "kernel": {"dense": {"mapping": "gemm", "dtypes": ["fp16"], "quant": ["w4a16"],
                                         "dequant_ops": {"value": 2, "source": "s"},
                                         "min_cc": {"value": "8.0", "source": "s"}}}}
    rule = parse_impl(good, "x.toml", kernels=("dense",), dtypes=("fp16",)).rule("dense")
    assert (rule.quant, rule.dequant_ops, rule.min_cc, rule.act_quant) == (("w4a16",), 2.0, "8.0", "separate")


def test_check_impl_accepts_a_gpu_in_range():
    impl, rule = check_impl("cutlass-2:4", "2:4", "fp8", quant="fp8", cc="9.0", hw_name="h100")
    assert impl.name == "cutlass-2:4" and rule.max_cc == "9.0"


@settings(max_examples=25, deadline=None)
@given(m=st.sampled_from([512, 1024, 4096, 14336]), k=st.sampled_from([1024, 4096, 14336]),
       n=st.integers(1, 200), extra=st.integers(1, 100),
       path=st.sampled_from([("marlin", "dense", "fp16", "w4a16"), ("torchao-int4", "dense", "bf16", "w4a16"),
                             ("sparse-marlin", "2:4", "fp16", "w4a16"), ("torchao-int8wo", "dense", "bf16", "w8a16"),
                             ("cublaslt-int8", "dense", "bf16", "w8a8")]))
def test_more_tokens_never_make_a_quantized_call_faster(m, k, n, extra, path):
    impl, kernel, dtype, quant = path
    fewer = kernel_s(kernel, m, k, n, impl=impl, dtype=dtype, quant=quant)
    more = kernel_s(kernel, m, k, n + extra, impl=impl, dtype=dtype, quant=quant)
    assert more >= fewer * (1 - 1e-9)


@pytest.mark.parametrize("model", ["des", "analytic"])
def test_both_time_models_run_quantized_paths_above_their_floor(model):
    for kernel, quant, dtype in (("dense", "w4a16", "fp16"), ("dense", "w8a16", "bf16"), ("2:4", "w8a8", "bf16")):
        p = sparsim.predict(kernel, m=4096, k=4096, n=8, hw=A100, dtype=dtype, quant=quant, model=model)
        assert p.kernel_s >= p.roofline_floor_s and p.quant == quant
        assert (p.kernels[0][0] == ACT_QUANT_KERNEL) == (quant == "w8a8")


def _tinygemm_traffic(k, stages):
    from dataclasses import replace

    from sparsim.hwprofiles import load_profile
    from sparsim.models.quantized import quantize_work
    from sparsim.models.work import build_work
    from sparsim.simulator.gemm import gemm_traffic, make_tile
    from sparsim.simulator.library import call_params, library_call
    from sparsim.simulator.machine import Machine

    hw = load_profile(A100)
    call = library_call("torchao-int4", "dense", "bf16", hw, quant="w4a16")
    machine = Machine.build(hw, call_params(call), call)
    work = quantize_work(build_work("dense", m=4096, k=k, n=1, dtype="bf16"), "w4a16", group=64,
                         dequant_ops=get_impl("torchao-int4").rule("dense").dequant_ops)
    tile = replace(make_tile(work, machine, (8, 16)), stages=stages)
    return tile, gemm_traffic(work, machine, tile), machine


def test_tinygemm_runs_one_1024_k_round_in_flight_and_computes_it_before_the_next():
    tile, t, machine = _tinygemm_traffic(4096, 1)
    assert (tile.k, tile.stages, tile.warps) == (1024, 1, 8)
    assert t.k_iters == 4  # 4096 / (8 warps x 8 k-tiles x 16)
    # each round waits the DRAM latency, then the warp's own dequantization (1.75 x 8 rows
    # x 1024 / 8 warps / 32 lanes = 56 instructions at one per clock) and MMAs
    dequant_s = 8 * 1024 * 1.75 / 8 / 32 / machine.clock_hz
    assert t.latency_s > 4 * (machine.dram_latency_s + dequant_s)
    _, prefetched, _ = _tinygemm_traffic(4096, 2)  # one round in flight, computed while the next loads
    assert prefetched.latency_s == pytest.approx(4 * machine.dram_latency_s)


@settings(max_examples=15, deadline=None)
@given(k=st.sampled_from([1024, 2048, 4096, 8192, 14336]), grow=st.sampled_from([1024, 4096]))
def test_tinygemm_batch1_time_never_falls_as_k_grows(k, grow):
    a = kernel_s("dense", 4096, k, 1, quant="w4a16", group=64, impl="torchao-int4", dtype="bf16")
    b = kernel_s("dense", 4096, k + grow, 1, quant="w4a16", group=64, impl="torchao-int4", dtype="bf16")
    assert b >= a * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(hw=st.sampled_from(["v100-sxm2-32gb", "a100-sxm4-80gb", "l4", "rtx-4090", "h100-sxm5-80gb"]),
       kernel=st.sampled_from(["dense", "2:4"]), quant=st.sampled_from(["w8a16", "w4a16", "fp8", "w8a8"]),
       dtype=st.sampled_from(["fp16", "bf16"]))
def test_a_refusal_without_impl_never_blames_an_impl_the_user_did_not_name(hw, kernel, quant, dtype):
    try:
        sparsim.predict(kernel, m=1024, k=1024, n=1, hw=hw, quant=quant, dtype=dtype, compare=False)
    except SparsimError as exc:
        assert not str(exc).startswith("--impl") and "\n" not in str(exc)
