"""Sweep throughput: how many predictions per second a study runs, and what the report costs.

Runs the scale study (``llama2-7b-10k``: every Llama-2-7B layer shape x 4 GPUs x 6 formats x
20 densities x 5 batch sizes = 9,600 predictions, 19,200 layer rows) on local processes
and prints wall time, CPU time, points per second and peak memory, then builds the report
and prints its size and build time. Peak memory is each process's own peak RSS (VmHWM,
polled from /proc every 0.1 s for this process and all its descendants), summed over the
processes, next to the largest sum of their RSS at one moment. Targets: under 5 minutes
on a 2-core machine (issue 5); 60 s wall and 1.5 GiB summed over processes (issue 11).

The scale study pins ``impls = ["default"]`` (each format's default library): the default
impls axis, ``["default", "torch"]``, would double its points. ``--impls default,torch``
measures that instead.

    python benchmarks/bench_sweep.py                      # the 10k study, DES, one process per CPU
    python benchmarks/bench_sweep.py --model analytic     # the roofline model instead
    python benchmarks/bench_sweep.py --example llama2-7b  # the README's example study
    python benchmarks/bench_sweep.py --formats dense,2:4,csr,coo,channel,grouped
    python benchmarks/bench_sweep.py --impls default,torch   # 19,200 predictions
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsim.studies import example_path, load_study, open_executor, run_sweep  # noqa: E402
from sparsim.studies.executor import default_jobs  # noqa: E402
from sparsim.studies.results import provenance, save_results  # noqa: E402


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # pool workers, once they exit
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _proc_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as kids:
                    found = [int(c) for c in kids.read().split()]
            except OSError:
                continue
            out += found
            todo += found
    return out


class PeakRss:
    """Polls this process and its descendants: each one's VmHWM, and the peak of the sum of VmRSS."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s, self.hwm_kib, self.sum_peak_kib = interval_s, {}, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            pids = [os.getpid(), *_descendants(os.getpid())]
            total = 0
            for pid in pids:
                hwm = _proc_kib(pid, "VmHWM:")
                if hwm:
                    self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), hwm)
                total += _proc_kib(pid, "VmRSS:")
            self.sum_peak_kib = max(self.sum_peak_kib, total)
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--example", default="llama2-7b-10k")
    ap.add_argument("--study", default=None, help="a study file instead of an example")
    ap.add_argument("--model", default=None, choices=("des", "analytic"))
    ap.add_argument("--jobs", type=int, default=default_jobs())
    ap.add_argument("--formats", default=None, help="comma-separated formats to sweep instead of the study's")
    ap.add_argument("--impls", default=None, help="comma-separated [sweep] impls instead of the study's")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()

    study = load_study(args.study or example_path(args.example))
    if args.model:
        study = dataclasses.replace(study, model=args.model)
    if args.formats:
        study = dataclasses.replace(study, formats=tuple(args.formats.split(",")))
    if args.impls:
        study = dataclasses.replace(study, impls=tuple(args.impls.split(",")))
    print(f"study: {study.name}")
    print(f"grid: {study.grid_points():,} predictions, model {study.model}, {args.jobs} process(es), "
          f"{os.cpu_count()} CPUs")

    cpu0, start = _cpu_s(), time.perf_counter()
    with PeakRss() as rss, open_executor(jobs=args.jobs) as executor:
        result = run_sweep(study, executor)
    wall = time.perf_counter() - start
    cpu = _cpu_s() - cpu0
    n = len(result.points)
    print(f"sweep: {n:,} predictions ({len(result.table):,} layer rows) in {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(f"points per second: {n / wall:,.1f} (wall), {n / cpu:,.1f} per CPU-second")
    peaks = sorted(rss.hwm_kib.values(), reverse=True)
    print(f"peak RSS: {sum(peaks) / 2**20:.2f} GiB summed over {len(peaks)} processes "
          f"({', '.join(f'{p / 2**10:,.0f}' for p in peaks)} MiB); "
          f"largest simultaneous sum {rss.sum_peak_kib / 2**20:.2f} GiB")
    if result.skipped:
        print(f"not run: {sum(s['points'] for s in result.skipped)} points")

    if args.no_report:
        return
    from sparsim.reports import write_report

    with tempfile.TemporaryDirectory() as folder:
        meta = provenance(study, result, f"{args.jobs} processes")
        start = time.perf_counter()
        save_results(result.table, meta, folder)
        saved = time.perf_counter() - start
        start = time.perf_counter()
        path = write_report(Path(folder) / "report.html", result.table, meta)
        built = time.perf_counter() - start
        print(f"results saved in {saved:.2f} s; report built in {built:.2f} s, "
              f"{path.stat().st_size / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
