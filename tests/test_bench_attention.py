"""benchmarks/bench_attention.py and the step model's attention kernels it compares."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sparsim
from sparsim.api import _step_inputs
from sparsim.models.step_ops import step_ops
from sparsim.steps import sdpa_math
from sparsim.steps.step import attention_kernels_on

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_attention.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_attention", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kernels(hw="a100-sxm4-80gb", context=8192, attention="repeat-kv-math", eager=True):
    config, profile, cal, _ = _step_inputs("llama3.1-8b", hw, None)
    return attention_kernels_on(config, profile, cal, predict=sparsim.predict, context=context, attention=attention,
                                eager=eager)


def test_the_math_path_is_the_two_copies_then_the_math_backends_kernels():
    kernels = _kernels()
    config, *_ = _step_inputs("llama3.1-8b", "a100-sxm4-80gb", None)
    work = next(op.attention for op in step_ops(config, phase="decode", context=8192, dtype_bytes=2,
                                                 kv_bytes=2).layer if op.op_class == "attention")
    from dataclasses import replace

    math = [name for name, *_ in sdpa_math.math_kernels(replace(work, kv_heads=work.heads))]
    assert [n for n, _ in kernels] == ["repeat_interleave_k", "repeat_interleave_v", *math]
    assert all(s > 0 for _, s in kernels)
    # the fp32 copies of K and V carry the cache: each is slower than a scalar fill by far
    seconds = dict(kernels)
    assert seconds["k_to_fp32"] > 20 * seconds["fill_zero"]


def test_the_fused_path_is_one_kernel_and_cheaper():
    fused = _kernels(attention="fused")
    assert [n for n, _ in fused] == ["sdpa_fused"]
    assert fused[0][1] < sum(s for _, s in _kernels()) / 5


def test_the_step_attention_op_is_the_sum_of_its_kernels_plus_the_output_copy():
    p = sparsim.predict_step("llama3.1-8b", hw="a100-sxm4-80gb", context=8192, mode="eager", dtype="bf16",
                             attention="repeat-kv-math")
    op = next(o for o in p.ops if o["name"] == "attention")
    kernels = _kernels()
    total = sum(s for _, s in kernels)
    assert op["launches"] >= len(kernels)
    assert total <= op["kernel_s"] <= total * 1.01  # the transpose().contiguous() copy of one token's output


@pytest.mark.parametrize("context", [8192, 32768])
def test_more_cache_costs_more(context):
    # twice the cache: twice the bytes; the ~20 small kernels' fixed costs stay
    assert sum(s for _, s in _kernels(context=2 * context)) > 1.8 * sum(s for _, s in _kernels(context=context))


def _record(**kw):
    return {"type": "measurement", "kind": "attention", "status": "ok", "hw": "h100-sxm5-80gb", "cache": 32768,
            "path": "math-repeat", "kernel_s": 3e-3, "key": "attention|llama3.1-8b|b1|c32768|math-repeat|bf16",
            "kernels": [["elementwise_kernel copy", 400.0], ["gemv fp32", 900.0]], **kw}


def test_compare_puts_measured_over_predicted(tmp_path):
    bench = _bench()
    row = bench.compare(_record())
    predicted = sum(s for _, s in bench.predicted("h100-sxm5-80gb", 32768, "math-repeat"))
    assert row["predicted_s"] == pytest.approx(predicted)
    assert row["ratio"] == pytest.approx(3e-3 / predicted)
    assert [n for n, _ in row["measured_kernels"]] == ["elementwise_kernel copy", "gemv fp32"]
    assert [s for _, s in row["measured_kernels"]] == pytest.approx([4e-4, 9e-4])
    lines = bench.render(row)
    assert "measured/predicted" in lines[0] and len(lines) == 1 + len(row["predicted_kernels"])


def test_the_script_reads_files_and_refuses_bad_ones(tmp_path):
    good = tmp_path / "attention.jsonl"
    good.write_text(json.dumps({"type": "run", "hw": "h100-sxm5-80gb"}) + "\n" + json.dumps(_record()) + "\n"
                    + json.dumps(_record(status="error", kernel_s=None)) + "\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(good)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "1 measured points" in proc.stdout and "math-repeat" in proc.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "bad.jsonl: line 1 is not JSON" in proc.stderr
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps(_record(path="flash-only")) + "\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(odd)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 2 and "path 'flash-only'; allowed: math-repeat" in proc.stderr


def test_without_data_it_says_so_and_predicts(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--predict-only", "--hw", "h200-sxm-141gb"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "math-repeat c131072 on h200-sxm-141gb" in proc.stdout and "matmul_pv" in proc.stdout
