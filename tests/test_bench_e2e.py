"""benchmarks/bench_e2e.py on a two-point file: one predicted, one listed with its reason."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_e2e", ROOT / "benchmarks" / "bench_e2e.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ARCH = {"n_layers": 32, "hidden": 4096, "n_heads": 32, "n_kv_heads": 32, "head_dim": 128,
        "intermediate": 11008, "vocab": 32000}
POINT = {
    "id": "gptfast-a100-llama-2-7b-bf16-tp1", "source": "gpt-fast", "kind": "decode_latency_bs1", "tags": [],
    "gpu": {"sku": "NVIDIA A100 80GB", "count": 1, "power_limit_w": 330}, "parallelism": {"tp": 1},
    "framework": {"name": "gpt-fast", "compile": "torch.compile(decode_one_token, mode='reduce-overhead')"},
    "weight_dtype": "bf16", "act_dtype": "bf16", "quant": None, "sparsity": None, "batch_size": 1,
    "prompt_len": 5, "gen_len": 200, "kv_cache_len": 205,
    "measured": {"quantity": "tokens_per_s_per_seq", "value": 104.9},
    "model": {"name": "Llama-2-7B", "arch": ARCH},
}


def test_a_covered_point_is_scored_and_an_moe_point_is_listed(tmp_path, capsys):
    moe = dict(POINT, id="mixtral", tags=["moe"], model={"name": "Mixtral-8x7B", "arch": ARCH})
    data = tmp_path / "e2e.json"
    data.write_text(json.dumps({"points": [POINT, moe]}))
    assert _bench().main(["--data", str(data), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 points predicted" in out
    assert "mixture of experts" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("gptfast-a100-llama-2-7b-bf16-tp1"))
    predicted = float(line.split("predicted")[1].split()[0])
    assert 90 < predicted < 130  # measured 104.9 tok/s on a 330 W A100


def _point(pid, quant=None, sparse=False, act="bf16", flags=(), tags=(), framework="torchao"):
    return dict(POINT, id=pid, source="torchao-llama", quant=quant, act_dtype=act, flags=list(flags), tags=list(tags),
                sparsity={"pattern": "2:4"} if sparse else None, gpu={"sku": "NVIDIA A100 80GB SXM4", "count": 1},
                framework={"name": framework, "compile": "torch.compile(decode_one_token)"}, kv_cache_len=None)


def test_quantized_points_take_the_paths_docs_quantized_md_maps_them_to():
    bench = _bench()
    assert bench.quant_of(_point("a", "int8 weight-only"))[0] == {
        "dtype": "bf16", "quant": "w8a16", "impl": "torchao-int8wo", "linear": "dense"}
    assert bench.quant_of(_point("b", "int4 weight-only group 64 (tinygemm)"))[0]["group"] == 64
    assert bench.quant_of(_point("c", "int4 weight-only, group size 32 (tinygemm)"))[0]["impl"] == "torchao-int4"
    marlin = bench.quant_of(_point("d", "int4 weight-only + 2:4 sparsity (Sparse-Marlin kernel, fp16)", True, "fp16"))[0]
    assert marlin == {"dtype": "fp16", "quant": "w4a16", "group": 128, "impl": "sparse-marlin", "linear": "2:4"}
    w8a8 = bench.quant_of(_point("e", "W8A8 INT8", False, "int8"))[0]
    assert (w8a8["quant"], w8a8["impl"]) == ("w8a8", "cublaslt-int8")
    fp8 = bench.quant_of(_point("f", "W8A8 FP8", True, "fp8"))[0]
    assert (fp8["quant"], fp8["impl"], fp8["linear"]) == ("fp8", "cusparselt-search", "2:4")
    try:
        bench.quant_of(_point("g", "int8 dynamic activation + int8 weight (W8A8 dynamic)"))
    except bench.Uncovered as why:
        assert "torch._int_mm needs > 16 rows" in str(why) and "not modelled" in str(why)
    else:
        raise AssertionError("int8dq must be listed as uncovered")


def test_the_ranking_line_and_the_quantized_points_are_printed(tmp_path, capsys):
    points = [_point("bf16"), _point("int8", "int8 weight-only", tags=["quantized"]),
              _point("int4", "int4 weight-only group 64", tags=["quantized"]),
              _point("sm", "int4 weight-only + 2:4 sparsity (Sparse-Marlin kernel, fp16)", True, "fp16",
                     tags=["quantized", "sparse_vs_dense"])]
    data = tmp_path / "e2e.json"
    data.write_text(json.dumps({"points": points}))
    assert _bench().main(["--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 points predicted" in out
    assert "predicted bf16 < int8 < int4 < int4+2:4" in out
    # the quantized points are scored on their own, over the 3 of them (the measured value
    # is POINT's 104.9 tok/s for all, so their error is what the ranking says it is)
    assert "quantized batch-1 decode tokens/s MAPE (int8, int4, int4 + 2:4):" in out and "over 3 points" in out
