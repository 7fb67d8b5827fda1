"""How fast sparsity patterns are generated and summarized.

For uniform and row-skewed patterns at 4096² and 16384², densities 1% and 10%, it times
``generate`` and the statistics a kernel model needs (``pattern_stats`` + ``tile_work(128)``
+ ``group_union(8)``) and prints medians of 5 repeats with their spread. DESIGN.md's
budget: pattern statistics should run at >= 50 M nonzeros/s on a 2-core machine.
A second table times the sampled form used above the memory budget
(``sample_pattern`` + the same statistics + the B-row reuse sample) at 65536² and beyond,
where building the pattern would take gigabytes.

    python benchmarks/bench_patterns.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sparsim.models.patterns import SparsityPattern, generate  # noqa: E402
from sparsim.models.sampled import sample_pattern  # noqa: E402
from sparsim.models.stats import pattern_stats  # noqa: E402
from sparsim.simulator.reuse import gather_footprint  # noqa: E402

CASES = [(pattern, size, density)
         for pattern in ("uniform", "row-skewed")
         for size in (4096, 16384)
         for density in (0.01, 0.1)]
SAMPLED_CASES = [(pattern, size, density)
                 for pattern in ("uniform", "row-skewed")
                 for size in (65536, 200_000)
                 for density in (0.01, 0.1)]


def sampled_stats(name, size, density):
    pattern = sample_pattern(name, size, size, density, seed=0)
    stats = pattern_stats(pattern)
    stats.tile_work(128)
    stats.group_union(8)
    gather_footprint(pattern, "row")
    return pattern


def timed(fn, repeats: int):
    """(median seconds, min, max, last result) of ``repeats`` calls after one warm-up."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), min(times), max(times), result


def all_stats(pattern):
    # pattern_stats keeps its result on the pattern; time a fresh pattern object over the
    # same arrays so every repeat really computes the statistics
    fresh = SparsityPattern(pattern.m, pattern.k, pattern.indptr, pattern.indices, pattern.name)
    stats = pattern_stats(fresh)
    stats.tile_work(128)
    stats.group_union(8)
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    print(f"sparsim pattern benchmark: {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"median of {args.repeats} repeats (min-max)")
    header = (f"{'pattern':<11} {'M=K':>6} {'density':>7} {'nnz':>11} "
              f"{'generate ms':>20} {'stats ms':>20} {'stats M nnz/s':>13}")
    print(header)
    print("-" * len(header))
    started = time.perf_counter()
    for name, size, density in CASES:
        gen_med, gen_lo, gen_hi, pattern = timed(
            lambda: generate(name, size, size, density, seed=0), args.repeats)
        st_med, st_lo, st_hi, _ = timed(lambda: all_stats(pattern), args.repeats)
        rate = pattern.nnz / st_med / 1e6
        print(f"{name:<11} {size:>6} {density:>7.2f} {pattern.nnz:>11,} "
              f"{gen_med * 1e3:>7.1f} ({gen_lo * 1e3:5.1f}-{gen_hi * 1e3:5.1f}) "
              f"{st_med * 1e3:>7.1f} ({st_lo * 1e3:5.1f}-{st_hi * 1e3:5.1f}) {rate:>13.0f}",
              flush=True)
        del pattern
    print()
    header = f"{'sampled':<11} {'M=K':>7} {'density':>7} {'nnz':>15} {'sample + stats + reuse ms':>28}"
    print(header)
    print("-" * len(header))
    for name, size, density in SAMPLED_CASES:
        med, lo, hi, pattern = timed(lambda: sampled_stats(name, size, density), args.repeats)
        print(f"{name:<11} {size:>7} {density:>7.2f} {pattern.nnz:>15,} "
              f"{med * 1e3:>14.1f} ({lo * 1e3:5.1f}-{hi * 1e3:5.1f})", flush=True)
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
