"""predict_step: host-bound eager, graphs, compiled fusion, tensor parallelism, memory, quantized paths."""

import inspect

import pytest

import sparsim
from sparsim.errors import SparsimError

A100 = "a100-sxm4-80gb"


@pytest.fixture(scope="module")
def modes():
    return {mode: sparsim.predict_step("llama2-7b", hw=A100, batch=1, context=512, mode=mode, dtype="bf16")
            for mode in ("eager", "cuda-graphs", "compiled")}


def test_eager_batch_one_decode_is_host_bound_and_graphs_are_not(modes):
    eager, graphs = modes["eager"], modes["cuda-graphs"]
    assert eager.bound == "host" and eager.gpu_idle_s > 0.3 * eager.time_s
    assert graphs.bound == "gpu" and graphs.gpu_idle_s < 0.01 * graphs.time_s
    # the same kernels run in both: only the waiting differs
    assert graphs.kernels == eager.kernels
    assert abs(eager.breakdown["linear"] - graphs.breakdown["linear"]) < 1e-12
    assert eager.time_s > 1.5 * graphs.time_s


def test_compiled_fuses_elementwise_chains_into_fewer_kernels(modes):
    compiled, graphs = modes["compiled"], modes["cuda-graphs"]
    assert compiled.kernels < graphs.kernels / 3
    assert compiled.breakdown["elementwise"] < graphs.breakdown["elementwise"] / 3
    names = {row["name"] for row in compiled.ops}
    assert {"residual_add+ffn_norm", "rotary+kv_write"} <= names


def test_the_breakdown_adds_up_and_the_prunable_share_is_the_layer_linears(modes):
    for p in modes.values():
        assert abs(sum(p.breakdown.values()) - p.time_s) < 1e-9
        assert 0 < p.prunable_share < p.breakdown["linear"] / p.time_s + 1e-12
        assert p.tokens_per_s == pytest.approx(1 / p.time_s)


def test_batch_one_decode_reads_the_weights_once():
    p = sparsim.predict_step("llama2-7b", hw=A100, batch=1, context=128, mode="compiled", dtype="bf16")
    weights = p.memory_bytes["weights"]
    # linear time cannot beat the datasheet bandwidth on the linear weights (all but the embedding)
    assert p.breakdown["linear"] > (weights - 32000 * 4096 * 2) / 2.039e12


def test_identical_layers_are_predicted_once():
    calls = []

    def counting(*args, **kw):
        calls.append((args, kw["m"], kw["k"], kw["n"]))
        return sparsim.predict(*args, **kw)

    from sparsim.hwprofiles import load_profile
    from sparsim.models.transformer import load_config
    from sparsim.steps.step import predict_step_on

    predict_step_on(load_config("llama2-7b"), load_profile(A100), None, predict=counting, model_name="x",
                    mode="compiled")
    # qkv, o (4096x4096), gate=up (11008x4096), down, lm_head: gate and up share one prediction
    assert len(calls) == 5


def test_tensor_parallel_adds_communication_and_shrinks_the_linears():
    one = sparsim.predict_step("llama2-70b", hw=A100, batch=1, context=128, mode="compiled", tp=8, dtype="bf16")
    assert one.fits and one.breakdown["communication"] > 0
    timeline_comm = [r for r in one.timeline if r["lane"] == "comm"]
    assert [r["name"] for r in timeline_comm][:2] == ["allreduce_attn", "allreduce_mlp"]
    four = sparsim.predict_step("llama2-70b", hw=A100, batch=1, context=128, mode="compiled", tp=4, dtype="bf16")
    assert four.breakdown["linear"] > 1.8 * one.breakdown["linear"]


def test_a_configuration_that_does_not_fit_is_not_predicted():
    p = sparsim.predict_step("llama2-70b", hw=A100, batch=1, context=128)
    assert not p.fits and p.time_s is None and p.tokens_per_s is None
    assert p.fit_message.startswith("does not fit: needs ")
    assert p.to_dict()["time_s"] is None


def test_two_four_through_eager_pytorch_pays_the_per_call_plan_setup():
    dense = sparsim.predict_step("llama2-7b", hw="h200-sxm-141gb", batch=1, context=128, impl="torch")
    sparse = sparsim.predict_step("llama2-7b", hw="h200-sxm-141gb", batch=1, context=128, linear="2:4", impl="torch")
    assert sparse.host_busy_s > dense.host_busy_s + 32 * 5 * 0.3e-3
    assert sparse.time_s > dense.time_s
    graphs = sparsim.predict_step("llama2-7b", hw="h200-sxm-141gb", batch=1, context=128, linear="2:4",
                                  impl="torch", mode="cuda-graphs")
    assert graphs.time_s < sparse.time_s / 3


def test_csr_and_channel_need_a_density_and_bad_options_are_refused():
    with pytest.raises(SparsimError, match="--density"):
        sparsim.predict_step("llama2-7b", hw=A100, linear="csr")
    with pytest.raises(SparsimError, match="--mode: got 'jit'"):
        sparsim.predict_step("llama2-7b", hw=A100, mode="jit")
    with pytest.raises(SparsimError, match="--tp: got 2 on rtx-4090|allowed"):
        sparsim.predict_step("llama2-7b", hw="v100-sxm2-32gb", tp=2, linear="2:4")
    p = sparsim.predict_step("llama2-7b", hw=A100, linear="channel", density=0.5, mode="compiled")
    q = sparsim.predict_step("llama2-7b", hw=A100, mode="compiled")
    assert p.time_s < q.time_s and p.memory_bytes["weights"] < q.memory_bytes["weights"]


QUANT = "quant" in inspect.signature(sparsim.predict).parameters


@pytest.mark.skipif(not QUANT, reason="sparsim.predict has no quant= yet (issue 16, engineer 'quant'); "
                                      "the integrator wires these at merge")
def test_int4_weight_only_decode_is_faster_than_bf16():
    bf16 = sparsim.predict_step("llama3-8b", hw=A100, batch=1, context=256, mode="compiled", dtype="bf16")
    int4 = sparsim.predict_step("llama3-8b", hw=A100, batch=1, context=256, mode="compiled", dtype="bf16",
                                quant="w4a16")
    assert int4.time_s < 0.6 * bf16.time_s
    assert int4.memory_bytes["weights"] < 0.4 * bf16.memory_bytes["weights"]


def test_quantized_memory_works_without_the_quantized_kernels():
    from sparsim.models.step_ops import step_ops
    from sparsim.models.transformer import load_config
    from sparsim.steps.memory import memory_plan

    c = load_config("llama3-8b")
    ops = step_ops(c, batch=1, context=256)
    bf16 = memory_plan(ops, c, capacity_bytes=2**36)
    int4 = memory_plan(ops, c, capacity_bytes=2**36, quant="w4a16", group=64)
    assert int4.parts["weights"] < 0.45 * bf16.parts["weights"]


def test_a_bad_kv_dtype_names_its_own_flag():
    with pytest.raises(SparsimError, match="--kv-dtype: got 'nope'"):
        sparsim.predict_step("llama2-7b", hw=A100, kv_dtype="nope")


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=8, deadline=None)
@given(short=st.integers(1, 4000), extra=st.integers(1, 60000), mode=st.sampled_from(["eager", "compiled"]))
def test_a_longer_context_never_makes_a_decode_step_faster(short, extra, mode):
    # llama3.1-8b: Llama-3-8B's shapes with 131,072 positions (Llama-3-8B stops at 8,192)
    a = sparsim.predict_step("llama3.1-8b", hw="h100-sxm5-80gb", batch=4, context=short, mode=mode)
    b = sparsim.predict_step("llama3.1-8b", hw="h100-sxm5-80gb", batch=4, context=short + extra, mode=mode)
    assert b.time_s >= a.time_s and b.breakdown["attention"] > a.breakdown["attention"]


@pytest.mark.skipif(not QUANT, reason="sparsim.predict has no quant= yet (issue 16, engineer 'quant'); "
                                      "the integrator wires these at merge")
def test_batch_one_decode_ranks_bf16_int8_int4_and_int4_with_two_four():
    # the published order on an A100 (e2e.json, torchao Llama-3-8B): 95.6 < 153.0 < 180.8 < 224.0 tok/s
    common = dict(hw=A100, batch=1, context=256, mode="compiled", dtype="bf16")
    # Sparse-Marlin runs fp16 activations only (torchao converts the model to fp16 for it)
    rates = [sparsim.predict_step("llama3-8b", **{**common, **kw}).tokens_per_s for kw in (
        {}, {"quant": "w8a16"}, {"quant": "w4a16", "group": 64}, {"quant": "w4a16", "linear": "2:4", "dtype": "fp16"})]
    assert rates == sorted(rates)


def test_to_dict_is_plain_json():
    import json

    p = sparsim.predict_step("llama2-7b", hw=A100, batch=2, context=64, tp=2, mode="compiled")
    d = json.loads(json.dumps(p.to_dict()))
    assert d["tp"] == 2 and d["tokens"] == 2 and d["max_batch"] > 2
    assert {r["lane"] for r in d["timeline"]} == {"host", "gpu", "comm"}
    assert all(set(r) == {"name", "op_class", "count", "kernel_s", "host_s", "launches"} for r in d["ops"])


@pytest.mark.parametrize("density", ["0.5", True, [0.5], float("nan"), 0.0, 1.5])
def test_a_density_not_in_zero_one_is_refused_naming_it(density):
    with pytest.raises(SparsimError, match=r"^--density: got .* with --linear csr; allowed: a number in \(0, 1\]$"):
        sparsim.predict_step("llama2-7b", hw="a100-sxm4-80gb", linear="csr", density=density)
