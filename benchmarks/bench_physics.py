"""Physics checks over a grid: does more work ever come out faster, or a better GPU slower?

For every kernel, time model and GPU profile it predicts a ladder of shapes in which one
of M, N, K (or, for the kernels that have one, the density) doubles from each point to
the next, and counts the *doubling violations*: pairs where the larger problem is
predicted faster. It also compares the H200 SXM with the H100 SXM5 (the same chip with
faster, larger memory) on every point, and counts where the H200 comes out slower.

Sparse kernels (CSR, COO, BSR, grouped) get *nested* patterns: one seeded uniform
random field U over the largest M×K of the grid, and the pattern of (M, K, density) is
{(i, j): i < M, j < K, U[i, j] < density}. A larger M, K or density only adds nonzeros,
so every doubling is "the same matrix with more in it" (independent patterns per shape
would mix sampling noise into the count; ``--independent`` uses them, as ``sparsim
predict --density`` does).

A violation is a drop of more than ``--tolerance`` (relative; default 1e-9, i.e. any
drop beyond float noise); the ``>1%`` column counts only drops beyond 1%, the tolerance
of the physics tests (docs/simulator.md, "Invariants"). Work is built once per point
(``build_work``) and timed on every profile and model with ``predict_work``, which is
what ``sparsim.predict`` does with ``calibration=None``.

    .venv/bin/python benchmarks/bench_physics.py [--quick]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import defaultdict

import numpy as np

from sparsim.errors import SparsimError
from sparsim.hwprofiles import list_profiles, load_profile
from sparsim.models import SparsityPattern, build_work
from sparsim.simulator import MODELS, predict_work

#: kernel -> (dtype, densities at which shapes are doubled); None: the kernel has no density
KERNELS = {
    "dense": ("fp16", (None,)),
    "channel": ("fp16", (0.5,)),
    "2:4": ("fp16", (None,)),
    "1:2": ("fp32", (None,)),
    "csr": ("fp16", (0.01, 0.1)),
    "coo": ("fp16", (0.01, 0.1)),
    "bsr": ("fp16", (0.01, 0.1)),
    "grouped": ("fp16", (0.01, 0.1)),
}
#: densities doubled (per kernel that has one) at each shape of DENSITY_SHAPES
DENSITY_LADDER = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)
GATHER = ("csr", "coo", "bsr", "grouped")


def grids(quick: bool):
    """(ladder of the doubled dimension, values of the other two, shapes for density ladders)."""
    if quick:
        return (64, 128, 256, 512, 1024, 2048), (128, 1024), ((512, 512, 128), (2048, 2048, 256))
    return ((32, 64, 128, 256, 512, 1024, 2048, 4096), (128, 512, 2048),
            ((512, 512, 128), (1024, 4096, 64), (4096, 1024, 512)))


def chains(kernel: str, quick: bool):
    """Yield (axis, [point, point, ...]) where each point doubles one axis of the previous.

    A point is a dict of build_work keyword arguments.
    """
    dtype, densities = KERNELS[kernel]
    ladder, others, density_shapes = grids(quick)
    for density in densities:
        extra = {} if density is None else {"density": density}
        for axis in ("m", "n", "k"):
            rest = [a for a in ("m", "k", "n") if a != axis]
            for u in others:
                for v in others:
                    yield axis, [dict({axis: x, rest[0]: u, rest[1]: v}, dtype=dtype, **extra) for x in ladder]
    if densities != (None,) and kernel != "channel":
        for m, k, n in density_shapes:
            yield "density", [dict(m=m, k=k, n=n, dtype=dtype, density=d) for d in DENSITY_LADDER]
    if kernel == "channel":
        for m, k, n in density_shapes:
            yield "density", [dict(m=m, k=k, n=n, dtype=dtype, density=d) for d in (0.125, 0.25, 0.5, 1.0)]


def _key(point: dict) -> tuple:
    return tuple(sorted(point.items()))


@functools.lru_cache(maxsize=2)
def _field(m: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((m, k), dtype=np.float32)


def nested_pattern(m: int, k: int, density: float, *, seed: int = 0, field_m: int = 4096,
                   field_k: int = 4096) -> SparsityPattern:
    """{(i, j): i < m, j < k, U[i, j] < density} of one seeded uniform field U: patterns
    of larger m, k or density contain those of smaller ones."""
    mask = _field(field_m, field_k, seed)[:m, :k] < density
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    return SparsityPattern(m, k, indptr, np.nonzero(mask)[1].astype(np.int32), "nested-uniform")


def build(kernel: str, point: dict, independent: bool = False, field: tuple[int, int] = (4096, 4096)):
    """The work of ``point``; sparse kernels on :func:`nested_pattern` unless ``independent``."""
    if kernel in GATHER and not independent:
        point = dict(point)
        pattern = nested_pattern(point["m"], point["k"], point.pop("density"), field_m=field[0], field_k=field[1])
        return build_work(kernel, sparsity_pattern=pattern, **point)
    return build_work(kernel, seed=0, **point)


def run(kernels, profiles, models, quick: bool, independent: bool = False):
    """Every prediction of the grid: {(kernel, model, profile, point key): time_s}, and the chains."""
    times: dict = {}
    all_chains = []
    for kernel in kernels:
        works: dict = {}
        for axis, chain in chains(kernel, quick):
            all_chains.append((kernel, axis, chain))
            for point in chain:
                key = _key(point)
                if key in works:
                    continue
                try:
                    works[key] = build(kernel, point, independent)
                except SparsimError:
                    works[key] = None
        for key, work in works.items():
            for hw in profiles:
                for model in models:
                    try:
                        t = None if work is None else predict_work(work, hw, model=model).time_s
                    except SparsimError:  # a dtype this chip lacks (no sparse tensor cores, ...)
                        t = None
                    times[(kernel, model, hw.name, key)] = t
    return times, all_chains


def doubling_violations(times, all_chains, profiles, models, tolerance: float):
    """{(kernel, model, axis): [checks, violations, violations > 1%, worst drop]}."""
    table = defaultdict(lambda: [0, 0, 0, 0.0])
    examples = []
    for kernel, axis, chain in all_chains:
        for model in models:
            for hw in profiles:
                ts = [times[(kernel, model, hw.name, _key(p))] for p in chain]
                for small, big, t0, t1 in zip(chain, chain[1:], ts, ts[1:]):
                    if t0 is None or t1 is None:
                        continue
                    row = table[(kernel, model, axis)]
                    row[0] += 1
                    drop = 1.0 - t1 / t0
                    if drop > tolerance:
                        row[1] += 1
                        row[2] += drop > 0.01
                        row[3] = max(row[3], drop)
                        examples.append((drop, kernel, model, hw.name, small, big, t0, t1))
    return table, sorted(examples, key=lambda e: -e[0])


def profile_violations(times, all_chains, models, better: str, worse: str, tolerance: float):
    """{(kernel, model): [checks, violations, worst slowdown]} of ``better`` vs ``worse``."""
    table = defaultdict(lambda: [0, 0, 0.0])
    seen = set()
    for kernel, _, chain in all_chains:
        for point in chain:
            key = _key(point)
            for model in models:
                if (kernel, model, key) in seen:
                    continue
                seen.add((kernel, model, key))
                tb, tw = times[(kernel, model, better, key)], times[(kernel, model, worse, key)]
                if tb is None or tw is None:
                    continue
                row = table[(kernel, model)]
                row[0] += 1
                if tb > tw * (1 + tolerance):
                    row[1] += 1
                    row[2] = max(row[2], tb / tw)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid (seconds, not minutes)")
    parser.add_argument("--tolerance", type=float, default=1e-9, help="relative drop that counts (default 1e-9)")
    parser.add_argument("--examples", type=int, default=8, help="worst violations to print")
    parser.add_argument("--independent", action="store_true",
                        help="sparse kernels on an independent pattern per shape (sparsim.predict's density)")
    args = parser.parse_args()
    gpus = [load_profile(name) for name in list_profiles() if load_profile(name).kind == "gpu"]
    start = time.perf_counter()
    times, all_chains = run(list(KERNELS), gpus, MODELS, args.quick, args.independent)
    seconds = time.perf_counter() - start
    table, examples = doubling_violations(times, all_chains, gpus, MODELS, args.tolerance)

    print(f"doubling checks: {len(gpus)} GPU profiles, {'quick' if args.quick else 'full'} grid, "
          f"{'independent' if args.independent else 'nested'} sparse patterns, "
          f"{len(times):,} predictions in {seconds:.0f} s; a violation is a drop > {args.tolerance:g}")
    print(f"{'kernel':8} {'model':9} {'axis':8} {'checks':>7} {'viol.':>6} {'>1%':>5} {'worst':>7}")
    totals = defaultdict(lambda: [0, 0, 0])
    for (kernel, model, axis), (checks, bad, big, worst) in sorted(table.items()):
        print(f"{kernel:8} {model:9} {axis:8} {checks:7d} {bad:6d} {big:5d} {worst:6.1%}")
        for i, v in enumerate((checks, bad, big)):
            totals[model][i] += v
    for model, (checks, bad, big) in sorted(totals.items()):
        print(f"total    {model:9} {'':8} {checks:7d} {bad:6d} {big:5d}")
    for drop, kernel, model, hw, small, big, t0, t1 in examples[:args.examples]:
        print(f"  worst: {kernel} {model} {hw}: {small} -> {big}: {t0 * 1e6:.2f} -> {t1 * 1e6:.2f} us (-{drop:.1%})")

    print()
    better, worse = "h200-sxm-141gb", "h100-sxm5-80gb"
    print(f"{better} (faster HBM, otherwise equal) slower than {worse}:")
    print(f"{'kernel':8} {'model':9} {'checks':>7} {'viol.':>6} {'worst':>7}")
    for (kernel, model), (checks, bad, worst) in sorted(
            profile_violations(times, all_chains, MODELS, better, worse, args.tolerance).items()):
        print(f"{kernel:8} {model:9} {checks:7d} {bad:6d} {worst:6.2f}x")


if __name__ == "__main__":
    main()
