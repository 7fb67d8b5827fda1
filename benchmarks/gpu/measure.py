"""One measurement stage of collect.sh: a backend, a plan, a results file, a deadline.

    python benchmarks/gpu/measure.py --backend cupy --plan quick --out DIR/results.jsonl --deadline-s 140
    python benchmarks/gpu/measure.py --backend torch --plan atlas --out DIR/atlas.jsonl --deadline-s 40
    python benchmarks/gpu/measure.py --profile-name --backend cupy

Every point is appended to the results file as it is taken (sparsim.validate.runner), so a
stage stopped by its deadline, its ``timeout`` or a crash loses at most the point in
flight, and running the same command again measures only what is missing. At the
deadline the stage stops between points and says how far it got (exit status 0; the
README of collect.sh reports it as partial).
"""

from __future__ import annotations

import argparse
import sys
import time


class _Deadline(Exception):
    pass


def interleave(specs):
    """Round-robin over implementation variants (impl, kernel, b_layout, index_bits), so a
    stage cut by its deadline has points of every implementation, not all of the first.

    >>> from sparsim.validate.spec import MeasureSpec
    >>> specs = [MeasureSpec("dense", 8, 8, n, "fp16", impl="cublas") for n in (1, 2)] + \\
    ...         [MeasureSpec("2:4", 8, 8, n, "fp16", impl="cusparselt") for n in (1, 2)]
    >>> [(s.impl, s.n) for s in interleave(specs)]
    [('cublas', 1), ('cusparselt', 1), ('cublas', 2), ('cusparselt', 2)]
    """
    groups: dict = {}
    for spec in specs:
        groups.setdefault((spec.impl, spec.kernel, spec.b_layout, spec.index_bits), []).append(spec)
    out = []
    for i in range(max((len(g) for g in groups.values()), default=0)):
        out += [g[i] for g in groups.values() if i < len(g)]
    return out


def profile_name(backend: str) -> str:
    """The profile the backend's device maps to, without timing anything."""
    if backend == "numpy":
        from sparsim.hwprofiles.host import detect_host, host_name

        return host_name(detect_host())
    if backend == "cupy":
        import cupy

        from sparsim.validate.backends.cupy_backend import match_profile

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    else:
        import torch

        from sparsim.validate.backends.cupy_backend import match_profile

        name = torch.cuda.get_device_properties(0).name
    return match_profile(name) or "gpu-" + "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True, choices=("numpy", "cupy", "torch"))
    parser.add_argument("--plan", default="quick", choices=("quick", "full", "atlas"))
    parser.add_argument("--out", help="results .jsonl (appended, resumed)")
    parser.add_argument("--deadline-s", type=float, default=None, help="stop between points after this long")
    parser.add_argument("--hw", default=None, help="profile name (default: matched from the device)")
    parser.add_argument("--profile-name", action="store_true", help="print the device's profile name and exit")
    args = parser.parse_args(argv)
    if args.profile_name:
        print(profile_name(args.backend))
        return 0
    if not args.out:
        parser.error("--out is required")

    from sparsim.errors import SparsimError
    from sparsim.validate.backends import get_backend
    from sparsim.validate.runner import pending, run_sweep
    from sparsim.validate.spec import atlas_plan, plan
    from sparsim.validate.timing import QUICK

    started = time.perf_counter()
    try:
        # the atlas keeps N innermost (operands are reused); a calibration plan is interleaved
        specs = atlas_plan(args.backend) if args.plan == "atlas" else \
            interleave(plan(args.backend, quick=args.plan == "quick"))
        backend = get_backend(args.backend, policy=QUICK, hw=args.hw)
    except SparsimError as exc:
        print(f"measure: error: {exc}", file=sys.stderr)
        return 2
    try:
        todo, done = pending(specs, args.out, backend.profile().name)
        print(f"{args.backend} {args.plan}: {len(specs)} points, {done} already in {args.out}, {len(todo)} to measure",
              flush=True)
        counts = {"ok": 0, "error": 0}

        def on_point(spec, measurement):
            counts["ok" if measurement.status == "ok" else "error"] += 1
            shown = f"{measurement.time_s * 1e6:.1f} us" if measurement.time_s else measurement.error
            print(f"  {spec.key}: {shown}", flush=True)
            if args.deadline_s is not None and time.perf_counter() - started > args.deadline_s:
                raise _Deadline()

        try:
            run_sweep(backend, specs, args.out, on_point=on_point, todo=todo)
            status = "complete"
        except _Deadline:
            status = "partial (deadline)"
        print(f"{args.backend} {args.plan}: {status}: {counts['ok']} ok, {counts['error']} failed this run, "
              f"{done + counts['ok'] + counts['error']} of {len(specs)} on disk", flush=True)
    except SparsimError as exc:
        print(f"measure: error: {exc}", file=sys.stderr)
        return 2
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
