"""Memory and time of one prediction at sizes from medium to absurd (issue 11).

Each case runs ``sparsim.predict`` in a fresh Python process, so its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, read by the child at its end) is its own.
A watchdog kills a child that runs past ``--timeout`` seconds or whose RSS passes
``--rss-cap`` MiB (polled from /proc), so a case that used to hang or exhaust memory is
reported, not waited for. Targets: every CSR prediction under 1 GiB peak RSS; 65536² at
10% in 5 s or less; refused inputs answered at once with a one-line error.

    python benchmarks/bench_memory.py                 # every case, 1 repeat
    python benchmarks/bench_memory.py --repeats 3     # medians of 3 fresh processes
    python benchmarks/bench_memory.py --only csr-65536
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (name, predict keyword arguments)
CASES = [
    ("csr-16384-1%", dict(kernel="csr", m=16384, k=16384, n=256, density=0.01)),
    ("csr-16384-10%", dict(kernel="csr", m=16384, k=16384, n=256, density=0.1)),
    ("csr-16384-8%", dict(kernel="csr", m=16384, k=16384, n=256, density=0.08)),  # largest built
    ("csr-block-16384-3%", dict(kernel="csr", m=16384, k=16384, n=256, density=0.035, pattern="block")),
    ("csr-65536-10%", dict(kernel="csr", m=65536, k=65536, n=256, density=0.1)),
    ("csr-skewed-65536-10%", dict(kernel="csr", m=65536, k=65536, n=256, density=0.1, pattern="row-skewed")),
    ("bsr-65536-10%", dict(kernel="bsr", m=65536, k=65536, n=256, density=0.1)),
    ("grouped-65536-10%", dict(kernel="grouped", m=65536, k=65536, n=256, density=0.1)),
    ("csr-200000-10%", dict(kernel="csr", m=200_000, k=200_000, n=256, density=0.1)),
    ("csr-100000-dense", dict(kernel="csr", m=100_000, k=100_000, n=16, density=1.0)),
    ("csr-1e7x4096-10%", dict(kernel="csr", m=10_000_000, k=4096, n=4096, density=0.1)),
    ("csr-k3e9", dict(kernel="csr", m=4, k=3_000_000_000, n=16, density=0.1)),
    ("bsr-block-99999999", dict(kernel="bsr", m=4096, k=4096, n=256, density=0.1, block=99_999_999)),
    ("grouped-g-1e8", dict(kernel="grouped", m=4096, k=4096, n=256, density=0.1, group_size=100_000_000)),
]

_CHILD = r"""
import json, resource, sys, time
start = time.perf_counter()
import sparsim
from sparsim.errors import SparsimError
kwargs = json.loads(sys.argv[1])
try:
    p = sparsim.predict(hw="h100-sxm5-80gb", **kwargs)
    out = {"time_s": p.time_s, "nnz_density": p.density, "notes": list(p.notes)}
except SparsimError as exc:
    out = {"error": str(exc)}
out["wall_s"] = time.perf_counter() - start
out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_case(kwargs: dict, timeout: float, rss_cap: float) -> dict:
    """One fresh process; its own report, or why the watchdog stopped it."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(kwargs)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _rss_mib(proc.pid))
        elapsed = time.perf_counter() - start
        if elapsed > timeout or peak > rss_cap:
            proc.kill()
            proc.wait()
            why = f"killed after {elapsed:.0f} s" + (f" at {peak:,.0f} MiB RSS" if peak > rss_cap else " (timeout)")
            return {"killed": why, "wall_s": elapsed, "rss_mib": peak}
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0 or not stdout.strip():
        return {"killed": f"exit {proc.returncode}: {stderr.strip().splitlines()[-1] if stderr.strip() else ''}",
                "wall_s": time.perf_counter() - start, "rss_mib": peak}
    return json.loads(stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a case is killed")
    ap.add_argument("--rss-cap", type=float, default=8192.0, help="MiB of RSS before a case is killed")
    ap.add_argument("--only", default=None, help="run only cases whose name contains this")
    args = ap.parse_args(argv)

    print(f"sparsim memory benchmark: {os.cpu_count()} CPUs, fresh process per case, "
          f"median of {args.repeats}; watchdog {args.timeout:.0f} s / {args.rss_cap:,.0f} MiB")
    header = f"{'case':<22} {'wall s':>8} {'peak RSS MiB':>13}  outcome"
    print(header)
    print("-" * 100)
    for name, kwargs in CASES:
        if args.only and args.only not in name:
            continue
        runs = [run_case(kwargs, args.timeout, args.rss_cap) for _ in range(args.repeats)]
        wall = statistics.median(r["wall_s"] for r in runs)
        rss = statistics.median(r["rss_mib"] for r in runs)
        last = runs[-1]
        if "killed" in last:
            outcome = last["killed"]
        elif "error" in last:
            outcome = "refused: " + last["error"]
        else:
            first_note = next((n for n in last["notes"] if n.startswith(("pattern", "--"))), "")
            outcome = f"predicted {last['time_s']:.4g} s" + (f"; note: {first_note}" if first_note else "")
        print(f"{name:<22} {wall:>8.2f} {rss:>13,.0f}  {outcome[:160]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
