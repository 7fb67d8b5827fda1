"""Attention of one decode step over a long static KV cache, kernel by kernel
(collect.sh's ``attention`` stage), plain torch.

Why this stage: sparsim's eager decode over a long static cache (gpt-fast and torchao copy
each K/V head to its query heads with ``repeat_interleave``, then run SDPA's math backend
over every allocated key) is 1.5x optimistic against torchao's Llama-3.1-8B points at
8k-131k tokens (docs/steps.md): the bytes match torchao's peak memory, so it is the rate
of some of those kernels that is not known. Here one layer's attention of one query is
timed at caches of 8,192 / 32,768 / 131,072 tokens, Llama-3.1-8B's shape (32 query heads,
8 K/V heads of 128, bf16, batch 1), three ways (``PATHS``):

* ``math-repeat``: ``k.repeat_interleave(4, dim=1)`` (and v), then
  ``scaled_dot_product_attention(q, k, v, attn_mask=mask)`` inside
  ``sdpa_kernel(SDPBackend.MATH)`` with the boolean mask row: torchao's eager decode;
* ``default-repeat``: the same without the MATH context (PyTorch's own backend choice);
* ``fused-gqa``: SDPA on the cache as stored with ``enable_gqa=True`` (PyTorch 2.5 and
  later), no mask: the fused kernel as a reference;
* ``math-repeat-kvq``: ``math-repeat`` behind torchao's int8 KV cache
  (``AffineQuantizedKVCache.update``, pytorch/ao 86c7b0d1d: the int8 cache times its bf16
  per-token scale, a bf16 copy of the whole cache every step), which e2e.json's ten
  ``-kvq`` points ran and sparsim does not model yet.

Each point has kernel-only and per-call times (the torch backend's method: L2 flushed
between calls, the launch hidden behind ``torch.cuda._sleep``) and the kernels of one
profiled call in launch order with their device microseconds (``kernels``), so each of
sparsim's kernels (``sparsim.steps.step``'s attention kernels) meets its measured twin:
``python benchmarks/bench_attention.py`` prints them side by side. Records go to
``attention.jsonl`` as they are measured; a second run measures what is missing.

    python benchmarks/gpu/attention_ops.py --out DIR/attention.jsonl --deadline-s 20

The plan and the records need no torch:

>>> [p for p in points()][:4]
[(8192, 'math-repeat'), (8192, 'default-repeat'), (8192, 'fused-gqa'), (8192, 'math-repeat-kvq')]
>>> attention_key(131072, "math-repeat")
'attention|llama3.1-8b|b1|c131072|math-repeat|bf16'
>>> need_bytes(131072, "math-repeat") / 2**30      # K/V, their copies, the fp32 copies
8.5
>>> kernels_from_trace({"traceEvents": [
...     {"ph": "X", "cat": "kernel", "name": "b", "ts": 20, "dur": 3.5},
...     {"ph": "X", "cat": "cpu_op", "name": "aten::bmm", "ts": 1, "dur": 9},
...     {"ph": "X", "cat": "kernel", "name": "a", "ts": 10, "dur": 2.0}]})
[['a', 2.0], ['b', 3.5]]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import _spread, _telemetry_fields, done_keys, open_gpu_stage  # noqa: E402

_T0 = time.perf_counter()
MODEL = "llama3.1-8b"
#: Llama-3.1-8B's attention (huggingface.co/meta-llama/Llama-3.1-8B config.json: 32 heads,
#: 8 key_value heads, hidden 4096 -> head_dim 128)
HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128
CACHES = (8192, 32768, 131072)  # torchao's long-cache points (e2e.json) run 8,192-131,072
PATHS = ("math-repeat", "default-repeat", "fused-gqa", "math-repeat-kvq")


def points() -> list[tuple[int, str]]:
    """(cache tokens, path) in measuring order: small caches first, every path at each."""
    return [(c, p) for c in CACHES for p in PATHS]


def attention_key(cache: int, path: str, dtype: str = "bf16") -> str:
    return f"attention|{MODEL}|b1|c{cache}|{path}|{dtype}"


def need_bytes(cache: int, path: str) -> int:
    """Device bytes one point holds at its peak: the bf16 cache, and for the repeat paths
    the repeated copies plus the math backend's fp32 copies of them and of the scaled K."""
    kv = 2 * KV_HEADS * cache * HEAD_DIM * 2
    if path == "fused-gqa":
        return kv
    repeated = kv * HEADS // KV_HEADS
    held = kv + repeated + (3 * repeated if path.startswith("math-repeat") else repeated)
    if path == "math-repeat-kvq":  # the int8 cache and its bf16 scales beside the bf16 copy
        held += kv // 2 + 2 * KV_HEADS * cache * 2
    return held


def kernels_from_trace(trace: dict) -> list[list]:
    """[name, device µs] of every kernel of a Chrome trace, in the order they started."""
    events = [e for e in trace.get("traceEvents", []) if e.get("cat") == "kernel" and e.get("ph") == "X"]
    return [[e["name"], float(e.get("dur", 0.0))] for e in sorted(events, key=lambda e: e.get("ts", 0))]


def attention_record(*, cache: int, path: str, hw: str, device: str, kernel_times_s=(), call_times_s=(),
                     warmup_reps: int = 0, telemetry=(), kernels=(),
                     library: str = "", error: str | None = None, timestamp: str = "") -> dict:
    """One point: ``time_s`` = median kernel-only time of one layer's attention call."""
    spread = _spread(kernel_times_s)
    kernel_s = spread.pop("median_s")
    ok = error is None and kernel_s is not None
    return {"type": "measurement", "kind": "attention", "key": attention_key(cache, path), "model": MODEL,
            "batch": 1, "q_len": 1, "cache": cache, "heads": HEADS, "kv_heads": KV_HEADS, "head_dim": HEAD_DIM,
            "path": path, "dtype": "bf16", "hw": hw, "device": device, "backend": "torch",
            "status": "ok" if ok else "error", "error": None if ok else (error or "no times"),
            "kernel_s": kernel_s if ok else None, "time_s": kernel_s if ok else None,
            "call_s": _spread(call_times_s)["median_s"] if ok else None, **spread,
            "times_s": list(kernel_times_s), "call_times_s": list(call_times_s), "reps": len(kernel_times_s),
            "warmup_reps": warmup_reps, "kernels": [list(k) for k in kernels], "n_kernels": len(kernels),
            **_telemetry_fields(telemetry), "library": library,
            "timestamp": timestamp}


def build_call(torch, cache: int, path: str, device):
    """The call of ``path`` at ``cache`` tokens, on fresh random operands (the last cache
    position is the query's, so the mask row lets every key through, as at the end of a
    torchao run)."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    gen = torch.Generator(device=device).manual_seed(cache)
    shape = (1, KV_HEADS, cache, HEAD_DIM)
    k_cache = torch.randn(shape, generator=gen, device=device, dtype=torch.bfloat16)
    v_cache = torch.randn(shape, generator=gen, device=device, dtype=torch.bfloat16)
    q = torch.randn((1, HEADS, 1, HEAD_DIM), generator=gen, device=device, dtype=torch.bfloat16)
    mask = torch.ones((1, 1, 1, cache), device=device, dtype=torch.bool)  # causal_mask[None, None, input_pos]
    rep = HEADS // KV_HEADS
    if path == "math-repeat-kvq":  # torchao's AffineQuantizedKVCache: int8 values, a bf16 scale per token
        k_scale = k_cache.abs().amax(dim=-1, keepdim=True).float().div(127).clamp(min=1e-6)
        v_scale = v_cache.abs().amax(dim=-1, keepdim=True).float().div(127).clamp(min=1e-6)
        k_q = (k_cache.float() / k_scale).round().clamp(-128, 127).to(torch.int8)
        v_q = (v_cache.float() / v_scale).round().clamp(-128, 127).to(torch.int8)
        k_scale, v_scale = k_scale.to(torch.bfloat16), v_scale.to(torch.bfloat16)
        del k_cache, v_cache

        def dequantized(i):
            with sdpa_kernel(SDPBackend.MATH):
                k = (k_q * k_scale).repeat_interleave(rep, dim=1)  # int8 x bf16 -> bf16, the whole cache
                v = (v_q * v_scale).repeat_interleave(rep, dim=1)
                return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0)
        return dequantized
    if path == "fused-gqa":
        return lambda i: F.scaled_dot_product_attention(q, k_cache, v_cache, enable_gqa=True)

    def repeated(i):
        k = k_cache.repeat_interleave(rep, dim=1)
        v = v_cache.repeat_interleave(rep, dim=1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0)

    if path == "default-repeat":
        return repeated

    def math(i):
        with sdpa_kernel(SDPBackend.MATH):
            return repeated(i)
    return math


def profiled_kernels(torch, call) -> list[list]:
    """The kernels one profiled call runs, in order, with their device µs."""
    import tempfile

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        call(0)
        torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(path))
        return kernels_from_trace(json.loads(path.read_text()))


def measure(torch, backend, cache: int, path: str, hw: str, device_name: str) -> dict:
    """One point's record; every failure (out of memory, no enable_gqa) is its error."""
    from sparsim.validate.backends.base import now_iso

    base = dict(cache=cache, path=path, hw=hw, device=device_name,
                library=f"torch {torch.__version__} scaled_dot_product_attention")
    free, _ = torch.cuda.mem_get_info()
    if need_bytes(cache, path) + (256 << 20) > free:
        return attention_record(**base, timestamp=now_iso(), error=f"does not fit: needs "
                                f"{need_bytes(cache, path) / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free")
    try:
        call = build_call(torch, cache, path, torch.device("cuda", 0))
        out = call(0)
        torch.cuda.synchronize()
        if not bool(torch.isfinite(out.float()).all()):
            raise ValueError("non-finite attention output")
        del out
        kernels = profiled_kernels(torch, call)
        samples: list = []
        kernel_times, call_times, warm, _ = backend._time(call, samples)
        return attention_record(**base, kernel_times_s=kernel_times, call_times_s=call_times, warmup_reps=warm,
                                telemetry=samples[warm:], kernels=kernels, timestamp=now_iso())
    except Exception as exc:  # noqa: BLE001 - refused, out of memory: recorded with the point
        text = (f"{type(exc).__name__}: {exc}".strip().splitlines() or ["?"])[0][:400]
        return attention_record(**base, error=text, timestamp=now_iso())
    finally:
        torch.cuda.empty_cache()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="attention.jsonl (appended, resumed)")
    parser.add_argument("--deadline-s", type=float, default=None)
    parser.add_argument("--hw", default=None, help="profile recorded with each point (default: from the device)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    plan = points()
    done = done_keys(out)
    todo = [p for p in plan if attention_key(*p) not in done]
    print(f"attention: {len(plan)} points, {len(plan) - len(todo)} already in {out}, {len(todo)} to measure",
          flush=True)
    if not todo:
        return 0
    opened = open_gpu_stage("attention", out, args.hw)
    if isinstance(opened, int):
        return opened
    torch, name, hw = opened
    from sparsim.validate.backends.base import now_iso
    from sparsim.validate.backends.torch_backend import TorchBackend
    from sparsim.validate.results import ResultsWriter
    out.parent.mkdir(parents=True, exist_ok=True)
    backend = TorchBackend(hw=hw)
    counts, status = {"ok": 0, "error": 0}, "complete"
    with ResultsWriter(out) as writer:
        writer.write({"type": "run", "stage": "attention", "started": now_iso(), "hw": hw, "device": name,
                      "versions": {"torch": torch.__version__, "cuda": torch.version.cuda},
                      "planned": len(plan), "already_done": len(plan) - len(todo)})
        for cache, path in todo:
            if args.deadline_s is not None and time.perf_counter() - _T0 > args.deadline_s:
                status = "partial (deadline)"
                break
            record = measure(torch, backend, cache, path, hw, name)
            writer.write(record)
            counts[record["status"]] += 1
            shown = (f"{record['kernel_s'] * 1e6:.1f} us, {record['n_kernels']} kernels"
                     if record["status"] == "ok" else record["error"])
            print(f"  {record['key']}: {shown}", flush=True)
    backend.close()
    print(f"attention: {status}: {counts['ok']} ok, {counts['error']} failed this run", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
