"""How fast and how lean ``sparsim explain`` reads a big profiler trace.

    python benchmarks/bench_trace.py                 # 1,000,000 events, plain JSON
    python benchmarks/bench_trace.py --events 200000 --gz

Target (issue 18): a trace of 1 million events read in <= 30 s and <= 1 GiB. The trace is
written by ``trace_gen.big_trace`` (decode steps of the H200 test trace, repeated) into a
temporary folder; reading and explaining each run in a fresh process so that the peak
resident memory (``VmHWM``) is that of the step alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trace_gen  # noqa: E402

_CHILD = """
import sys, time
t0, c0 = time.perf_counter(), time.process_time()
from sparsim.validate.trace import read_trace
trace = read_trace(sys.argv[1])
read_s, read_cpu_s = time.perf_counter() - t0, time.process_time() - c0
if sys.argv[2] == "explain":
    from sparsim.validate.explain import explain
    result = explain(trace)
# VmHWM is this process's own peak (ru_maxrss would carry the parent's size over fork + exec)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(trace.events, read_s, read_cpu_s, time.perf_counter() - t0, peak)
"""


def measure(path: Path, what: str) -> tuple[int, float, float, float, float]:
    """(events, read wall s, read CPU s, total wall s, peak GiB) in a fresh process."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), what], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    events, read_s, read_cpu_s, total_s, rss_kib = out.stdout.split()
    return int(events), float(read_s), float(read_cpu_s), float(total_s), int(rss_kib) / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--gz", action="store_true", help="write the trace gzipped")
    parser.add_argument("--explain", action="store_true", help="also explain it (predictions and replays)")
    parser.add_argument("--trace", type=Path, default=None, help="read this trace instead of writing one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.trace or Path(tmp) / ("big.json.gz" if args.gz else "big.json")
        if args.trace is None:
            t0 = time.perf_counter()
            trace_gen.big_trace(path, args.events)
            print(f"wrote {path.name}: {path.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t0:.1f} s")
        events, read_s, read_cpu_s, _, rss = measure(path, "read")
        ok = read_s <= 30 and rss <= 1.0
        # on a shared machine the wall time includes waiting for a core: the CPU time says what it needs
        print(f"read    {events:,} events in {read_s:.1f} s ({read_cpu_s:.1f} s of CPU), peak memory {rss:.2f} GiB "
              f"(target <= 30 s, <= 1 GiB: {'met' if ok else 'MISSED'})")
        if args.explain:
            _, _, _, total_s, rss = measure(path, "explain")
            print(f"explain {events:,} events in {total_s:.1f} s, peak memory {rss:.2f} GiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
