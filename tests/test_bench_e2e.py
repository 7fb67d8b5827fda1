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
