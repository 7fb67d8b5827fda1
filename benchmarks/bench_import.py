"""What one ``sparsim`` command costs before it does any work: import and a small predict.

Issue 14 item 4: ``import sparsim`` loads no pandas, pyarrow, altair, scipy or
``sparsim.validate`` code (the host microbenchmarks are imported only when ``hw="host"``
has to be measured), and a whole-process ``sparsim predict`` of a 1024³ dense GEMM takes
at most 0.6 s on a 2-core machine. Prints the median (and min-max) of several fresh
processes for each, and the heavy modules an ``import sparsim`` pulled in (none expected).

    .venv/bin/python benchmarks/bench_import.py [--repeats 7]

Measured on the 2-core development machine (shared with other jobs), 2026-12-03:
``import sparsim`` 0.15 s, ``sparsim predict`` dense 1024³ 0.21 s (0.46 s before the
host microbenchmarks and scipy were made lazy, 1.1 s when the validation layer loaded
pandas at import).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

#: the whole-process target of issue 14 (seconds, 2 cores)
PREDICT_TARGET_S = 0.6
#: top-level modules (and sparsim packages) that ``import sparsim`` must not load
HEAVY = ("pandas", "pyarrow", "altair", "scipy", "sparsim.validate", "sparsim.studies", "sparsim.reports")

PREDICT = ["-m", "sparsim", "predict", "--hw", "a100-sxm4-80gb", "--kernel", "dense",
           "--m", "1024", "--k", "1024", "--n", "1024"]
IMPORT = ["-c", "import sparsim"]
LOADED = ["-c", "import sys, sparsim; print(' '.join(sorted(sys.modules)))"]


def wall_times(argv: list[str], repeats: int) -> list[float]:
    """Seconds of ``python ARGV`` in fresh processes (the command must exit 0)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *argv], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def heavy_modules_loaded() -> list[str]:
    """The modules of HEAVY that a fresh ``import sparsim`` loads."""
    loaded = subprocess.run([sys.executable, *LOADED], check=True, capture_output=True, text=True).stdout.split()
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    wall_times(PREDICT, 1)  # warm the file cache
    rows = [("python -c 'import sparsim'", wall_times(IMPORT, args.repeats), None),
            ("sparsim predict dense 1024^3, a100", wall_times(PREDICT, args.repeats), PREDICT_TARGET_S)]
    print(f"{'whole process':<38}{'median s':>10}{'min-max s':>16}{'target s':>10}")
    ok = True
    for name, times, target in rows:
        median = statistics.median(times)
        ok &= target is None or median <= target
        spread = f"{min(times):.3f}-{max(times):.3f}"
        print(f"{name:<38}{median:>10.3f}{spread:>16}{'' if target is None else f'{target:.2f}':>10}")
    heavy = heavy_modules_loaded()
    print(f"heavy modules after 'import sparsim': {', '.join(heavy) if heavy else 'none'}")
    return 0 if ok and not heavy else 1


if __name__ == "__main__":
    raise SystemExit(main())
