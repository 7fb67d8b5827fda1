"""How fast the step model answers (issue 15, item 9).

Targets: one decode-step prediction of Llama-2-70B with tp=8 in <= 0.2 s; a 1,000
configuration sweep of model steps in <= 60 s on 2 cores. The sweep here calls
``sparsim.predict_step`` directly over models x GPUs x formats x modes x batches (the
study layer adds its own bookkeeping on top).

Usage: PYTHONPATH=. python benchmarks/bench_step.py [--configs 1000]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import sparsim


def time_70b_tp8(repeats: int = 5) -> tuple[float, float, int]:
    """(first call seconds, median of later calls, kernels) for a Llama-2-70B tp=8 decode step.
    One small kernel prediction runs first, so the one-off imports of the kernel models
    (NumPy, SciPy, simpy) are not charged to the step."""
    sparsim.predict("dense", m=64, k=64, n=64, hw="a100-sxm4-80gb")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = sparsim.predict_step("llama2-70b", hw="a100-sxm4-80gb", phase="decode", batch=1, context=2048,
                                 tp=8, mode="eager", dtype="bf16")
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[1:]), p.kernels


def sweep(n: int) -> tuple[int, float]:
    grid = itertools.product(
        ("llama2-7b", "llama3-8b", "mistral-7b", "qwen2.5-7b", "llama2-13b"),
        ("a100-sxm4-80gb", "h100-sxm5-80gb", "h200-sxm-141gb", "rtx-4090", "l4"),
        ("dense", "2:4"),
        ("eager", "cuda-graphs", "compiled"),
        (1, 4, 16, 64),
        ("decode", "prefill"),
    )
    done, t0 = 0, time.perf_counter()
    for model, hw, linear, mode, batch, phase in itertools.islice(grid, n):
        sparsim.predict_step(model, hw=hw, linear=linear, mode=mode, batch=batch, phase=phase, context=1024,
                             prompt=512)
        done += 1
    return done, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=1000)
    args = ap.parse_args(argv)
    first, warm, kernels = time_70b_tp8()
    print(f"Llama-2-70B tp=8 eager decode step: first {first:.3f} s, then {warm:.3f} s median "
          f"({kernels} kernels simulated); target <= 0.2 s: {'met' if max(first, warm) <= 0.2 else 'NOT met'}")
    done, seconds = sweep(args.configs)
    per_1000 = seconds * 1000 / max(done, 1)
    print(f"{done} step configurations in {seconds:.1f} s ({per_1000:.1f} s per 1,000); target <= 60 s: "
          f"{'met' if per_1000 <= 60 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
