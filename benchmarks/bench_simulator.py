"""Benchmark of the discrete-event model's own cost (DESIGN.md, "Simulation budget").

Prints one row per case: median wall time of a full ``sparsim.predict(..., model="des")``
call (pattern generation and statistics included for the sparse case, which builds a
fresh pattern every repeat), the spread (max - min), the simulator's event count, the peak
of Python/NumPy allocations during one call (tracemalloc) and the peak resident memory
of a fresh process that imports sparsim and makes that one call. Targets on a 2-core machine: dense 8192³ and
2:4 8192³ under 50 ms, CSR 16384×16384 at 1% under 0.5 s, peak under 300 MB.

Also times a 1,000-point sweep (dense and 2:4 on Llama-2-7B shapes, N from 1 to 4096)
to check that 10,000-point studies fit in a few minutes.

    .venv/bin/python benchmarks/bench_simulator.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import tracemalloc

import sparsim

CASES = [
    # name, kwargs, target seconds
    ("dense 8192^3 fp16, H100", dict(kernel="dense", m=8192, k=8192, n=8192, hw="h100-sxm5-80gb"), 0.050),
    ("2:4 8192^3 fp16, H100", dict(kernel="2:4", m=8192, k=8192, n=8192, hw="h100-sxm5-80gb"), 0.050),
    ("CSR 16384^2 1% N=256, H100 (incl. pattern)",
     dict(kernel="csr", m=16384, k=16384, n=256, density=0.01, hw="h100-sxm5-80gb"), 0.500),
    ("CSR 16384^2 1% row-skewed N=256, A100",
     dict(kernel="csr", m=16384, k=16384, n=256, density=0.01, pattern="row-skewed", hw="a100-sxm4-80gb"), 0.500),
    ("COO 16384^2 1% N=256, H100 (incl. pattern)",
     dict(kernel="coo", m=16384, k=16384, n=256, density=0.01, hw="h100-sxm5-80gb"), 0.500),
]
PEAK_TARGET_BYTES = 300 * 2**20


def _time(kwargs: dict, repeats: int) -> tuple[float, float, int]:
    times, events = [], 0
    for seed in range(repeats):
        args = dict(kwargs)
        if "density" in args:
            args["seed"] = seed  # a fresh pattern each repeat: its generation and statistics are timed
        start = time.perf_counter()
        p = sparsim.predict(**args)
        times.append(time.perf_counter() - start)
        events = p.events
    return statistics.median(times), (max(times) - min(times)), events


def _peak(kwargs: dict) -> int:
    tracemalloc.start()
    sparsim.predict(**dict(kwargs, seed=10_000) if "density" in kwargs else kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _fresh_rss_mb(kwargs: dict) -> float:
    """Peak resident memory of a fresh Python process that imports sparsim and predicts once."""
    # VmHWM (peak RSS of this address space); getrusage's ru_maxrss would carry over the
    # parent's peak across fork+exec on Linux
    code = (f"import re, sparsim; sparsim.predict(**{kwargs!r}); "
            "print(int(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)) / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def _sweep(points: int) -> float:
    shapes = [(4096, 4096), (11008, 4096), (4096, 11008)]
    ns = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    hws = ["a100-sxm4-80gb", "h100-sxm5-80gb"]
    grid = [(kern, m, k, n, hw) for kern in ("dense", "2:4") for m, k in shapes for n in ns for hw in hws]
    start = time.perf_counter()
    for i in range(points):
        kern, m, k, n, hw = grid[i % len(grid)]
        sparsim.predict(kern, m=m, k=k, n=n + i // len(grid), hw=hw)  # distinct N: no repeated point
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sweep", type=int, default=1000, help="points in the sweep timing (0: skip)")
    args = parser.parse_args()
    sparsim.predict("dense", m=256, k=256, n=256, hw="h100-sxm5-80gb")  # imports, profile cache

    print(f"{'case':48} {'median':>10} {'spread':>10} {'target':>8} {'events':>7} {'alloc MB':>9} {'RSS MB':>7}  ok")
    for name, kwargs, target in CASES:
        median, spread, events = _time(kwargs, args.repeats)
        peak = _peak(kwargs)
        rss = _fresh_rss_mb(kwargs)
        ok = median < target and rss * 2**20 < PEAK_TARGET_BYTES
        print(f"{name:48} {median * 1e3:8.1f}ms {spread * 1e3:8.1f}ms {target * 1e3:6.0f}ms {events:7d} "
              f"{peak / 2**20:9.1f} {rss:7.0f}  {'yes' if ok else 'NO'}")
    print("alloc MB: peak of tracemalloc (Python and NumPy allocations) during one call;"
          " RSS MB: peak resident memory of a fresh process that imports sparsim and predicts once")
    if args.sweep:
        seconds = _sweep(args.sweep)
        per = seconds / args.sweep
        print(f"sweep: {args.sweep} dense/2:4 Llama-2-7B points in {seconds:.2f} s "
              f"({per * 1e3:.2f} ms each; 10,000 points ~{per * 1e4 / 60:.1f} min on one core)")


if __name__ == "__main__":
    main()
