"""Microbenchmarks of the host CPU: the timed half of the ``host`` profile.

:mod:`sparsim.hwprofiles.host` reads what the machine *is* (sysfs, procfs: cores, caches,
clock); this module measures how *fast* it is, through NumPy, the same stack the
``numpy`` validation backend times. It lives in the validation layer because timing is
validation's job; the profile package holds data and never imports this module. Instead
this module registers :func:`measure_quietly` with
:func:`sparsim.hwprofiles.host.register_host_measurer` when it is imported (importing
:mod:`sparsim.validate` does), and :func:`sparsim.api.predict` imports it when asked for
``hw="host"``.

* FLOP rate: the best of a few large ``numpy.matmul`` calls (float32 and float64), so the
  peak is what the BLAS NumPy links actually sustains on all cores;
* DRAM and last-level-cache bandwidth: multi-threaded ``numpy.copyto`` over a buffer far
  larger than / well inside the last-level cache, counting bytes read plus bytes written;
* latencies: a pointer chase through a random ring of cache lines, minus the same chase
  in an L1-resident ring (the interpreter's cost per step);
* launch overhead: the median cost of a tiny ``numpy.matmul`` call from Python.

The benchmarks are repeated while other processes keep the CPUs busy (``/proc/stat``); a
profile still measured on a busy machine says so in its sources and is not cached.

>>> others_cpu_share((100, 400, 50), (180, 600, 110))   # 80 busy ticks, 60 ours, of 200
0.1
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..hwprofiles.host import host_name, register_host_measurer

__all__ = ["measure_host", "measure_quietly", "cpu_ticks", "others_cpu_share", "BUSY_SHARE",
           "matmul_rate", "copy_rate", "pointer_ring", "chase_ns", "blas_name"]


def _best_time(fn, repeats: int) -> float:
    fn()  # warm-up: first touch of pages, BLAS thread start
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate(dtype, n: int, budget_s: float) -> tuple[float, int]:
    """Best FLOP/s of an n^3 matmul over about ``budget_s`` of calls (at least 3)."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.5, (n, n)).astype(dtype)
    b = rng.uniform(0.5, 1.5, (n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    np.matmul(a, b, out=out)  # warm-up: BLAS threads, first touch
    best, calls, start = math.inf, 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
        calls += 1
    return 2 * n**3 / best, calls


def copy_rate(nbytes: int, threads: int, repeats: int, inner: int = 1) -> float:
    """Bytes read + written per second by ``threads`` threads each copying its slice."""
    n = max(nbytes // 8 // threads * threads, threads * 512)
    src = np.ones(n, np.float64)
    dst = np.zeros(n, np.float64)
    bounds = [i * n // threads for i in range(threads + 1)]
    chunks = [(src[lo:hi], dst[lo:hi]) for lo, hi in zip(bounds, bounds[1:])]

    def work(pair):
        s, d = pair
        for _ in range(inner):
            np.copyto(d, s)

    with ThreadPoolExecutor(threads) as pool:
        best = _best_time(lambda: list(pool.map(work, chunks)), repeats)
    return 2 * n * 8 * inner / best


def pointer_ring(nbytes: int, line: int, rng) -> np.ndarray:
    """A random cyclic chase over ``nbytes``, one pointer per cache line (defeats prefetch)."""
    stride = max(line // 8, 1)
    lines = max(nbytes // (stride * 8), 8)
    order = rng.permutation(lines) * stride
    ring = np.zeros(lines * stride, np.int64)
    ring[order] = np.roll(order, -1)
    return ring


def chase_ns(ring: np.ndarray, steps: int, dependent: bool = True) -> float:
    view = memoryview(ring)
    i = 0
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        if dependent:
            for _ in range(steps // 8):
                i = view[i]; i = view[i]; i = view[i]; i = view[i]  # noqa: E702
                i = view[i]; i = view[i]; i = view[i]; i = view[i]  # noqa: E702
        else:
            j = 0
            for _ in range(steps // 8):
                j = view[i]; j = view[i]; j = view[i]; j = view[i]  # noqa: E702, F841
                j = view[i]; j = view[i]; j = view[i]; j = view[i]  # noqa: E702, F841
        best = min(best, (time.perf_counter() - start) / (steps // 8 * 8))
    return best * 1e9


def measure_host(facts: dict) -> dict:
    """Run the microbenchmarks (a few seconds) and return the profile as TOML-ready data."""
    # Longer than 60 lines on purpose: the host microbenchmarks in the order the profile needs them; each step is short and uses the previous.
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    by = lambda what: f"measured on this host by {what} at {date}"  # noqa: E731
    cores = facts["cores"][0]
    threads = max(len(facts["cpus"]), 1)
    llc, line = facts["llc_bytes"][0], facts["line_bytes"][0]
    boost = facts["boost_mhz"][0]
    blas = blas_name()

    # the best of many calls: a GEMM this size runs at the BLAS's peak, and the peak is
    # what every efficiency is a fraction of, so it must not be an unlucky sample
    fp32, fp32_calls = matmul_rate(np.float32, 1536, 0.5)
    fp64, fp64_calls = matmul_rate(np.float64, 1536, 0.5)
    dram_bytes = max(4 * llc, 64 << 20)
    hbm_bw = copy_rate(dram_bytes, threads, 4)
    llc_set = max(min(llc // 4, 8 << 20), 256 << 10)
    llc_bw = copy_rate(llc_set, threads, 5, inner=max(1, (64 << 20) // llc_set))

    rng = np.random.default_rng(0)
    steps = 100_000
    small = pointer_ring(min(facts["l1_bytes"][0] // 2, 16 << 10), line, rng)
    t_small, t_indep = chase_ns(small, steps), chase_ns(small, steps, dependent=False)
    cycle_ns = 1e3 / boost
    l1_lat = max(t_small - t_indep, 4 * cycle_ns)
    llc_ws = min(max(4 * facts["private_l2_bytes"], llc // 8), llc // 2)
    llc_lat = max(chase_ns(pointer_ring(llc_ws, line, rng), steps) - t_small, 0.0) + l1_lat
    dram_lat = max(chase_ns(pointer_ring(max(2 * llc, 64 << 20), line, rng), steps) - t_small, 0.0) + l1_lat

    tiny_a, tiny_b = np.ones((8, 8), np.float32), np.ones((8, 8), np.float32)
    tiny_out = np.empty((8, 8), np.float32)
    calls = []
    for _ in range(2000):
        start = time.perf_counter()
        np.matmul(tiny_a, tiny_b, out=tiny_out)
        calls.append(time.perf_counter() - start)
    launch = float(np.median(calls))

    def num(value, source, note=None):
        entry = {"value": value, "source": source}
        if note:
            entry["note"] = note
        return entry

    simd_bits, simd_src = facts["simd_bits"]
    simd = f"SIMD {simd_bits}-bit = {simd_bits // 32} fp32 lanes ({simd_src})"
    return {
        "version": 1,
        "name": host_name(facts),
        "display_name": f"{facts['model']} ({cores} cores, host CPU)",
        "kind": "cpu",
        "compute": {
            "sm_count": num(cores, facts["cores"][1]),
            "boost_clock_mhz": num(boost, facts["boost_mhz"][1]),
            "base_clock_mhz": num(facts["base_mhz"][0], facts["base_mhz"][1]),
            "max_ctas_per_sm": num(facts["threads_per_core"][0], facts["threads_per_core"][1] + " (hardware threads per core)"),
            "max_warps_per_sm": num(facts["threads_per_core"][0], facts["threads_per_core"][1] + " (hardware threads per core)"),
            "registers_per_sm": num(facts["vector_registers"][0], facts["vector_registers"][1]),
            "shared_mem_per_sm_bytes": num(facts["l1_bytes"][0], facts["l1_bytes"][1]),
        },
        "memory": {
            "hbm_bytes": num(facts["memory_bytes"][0], facts["memory_bytes"][1]),
            "hbm_bytes_per_s": num(hbm_bw, by(f"{threads}-thread numpy.copyto of {dram_bytes >> 20} MiB, "
                                              "bytes read + written, best of 4")),
            "hbm_latency_ns": num(dram_lat, by(f"a pointer chase over {max(2 * llc, 64 << 20) >> 20} MiB "
                                               "minus an L1-resident chase, plus L1 latency")),
            "l2_bytes": num(facts["llc_bytes"][0], facts["llc_bytes"][1]),
            "l2_bytes_per_s": num(llc_bw, by(f"{threads}-thread numpy.copyto of {llc_set >> 10} KiB "
                                             "(inside the last-level cache), bytes read + written, best of 5")),
            "l2_latency_ns": num(llc_lat, by(f"a pointer chase over {llc_ws >> 10} KiB minus an L1-resident "
                                             "chase, plus L1 latency")),
            "l1_bytes_per_sm": num(facts["l1_bytes"][0], facts["l1_bytes"][1]),
            "l1_latency_ns": num(l1_lat, by("a 16 KiB pointer chase, dependent minus independent loads; "
                                            f"floor 4 cycles at {boost:.0f} MHz where that is below its resolution")),
            "sector_bytes": num(line, facts["line_bytes"][1]),
        },
        "launch": {
            "overhead_s": num(launch, by("numpy.matmul of 8x8 float32 from Python, median of 2000 calls")),
        },
        "vector_flops_per_s": {
            "fp32": num(fp32, by(f"numpy.matmul 1536^3 float32 ({blas}), best of {fp32_calls}"), simd),
            "fp64": num(fp64, by(f"numpy.matmul 1536^3 float64 ({blas}), best of {fp64_calls}")),
        },
    }


def blas_name() -> str:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name', 'BLAS')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - only a label
        return "NumPy's BLAS"


# -- contention: other processes on the same CPUs --------------------------------------

def cpu_ticks() -> tuple[int, int, int] | None:
    """(busy ticks of all CPUs, all ticks, this process's ticks) from procfs, or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat", encoding="ascii") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # utime, stime, cutime, cstime: fields 14-17 of /proc/<pid>/stat (proc(5))
    return sum(fields) - idle, sum(fields), sum(int(x) for x in own[11:15])


def others_cpu_share(before, after) -> float | None:
    """Share of all CPUs that other processes kept busy between two :func:`cpu_ticks`.

    >>> others_cpu_share((100, 400, 50), (180, 600, 110))   # 80 busy ticks, 60 ours, of 200
    0.1
    """
    if before is None or after is None or after[1] <= before[1]:
        return None
    busy, total, own = (a - b for a, b in zip(after, before))
    return round(max(busy - own, 0) / total, 3)


#: above this share of the CPUs used by others, a microbenchmark is measured again, and a
#: profile measured on a busy machine is used but not cached
BUSY_SHARE = 0.25


def measure_quietly(facts: dict, attempts: int = 3) -> tuple[dict, bool]:
    """Measure, again (after a pause) while other processes keep the CPUs busy.

    Returns (profile data, whether it may be cached: False when measured on a busy machine)."""
    best, best_share = None, math.inf
    for attempt in range(attempts):
        before = cpu_ticks()
        data = measure_host(facts)
        share = others_cpu_share(before, cpu_ticks())
        share = 0.0 if share is None else share
        if share < best_share:
            best, best_share = data, share
        if share <= BUSY_SHARE:
            break
        time.sleep(1.0 + attempt)
    if best_share > BUSY_SHARE:
        note = f" (machine busy: other processes used {best_share:.0%} of the CPUs; not cached)"
        for section in ("memory", "launch", "vector_flops_per_s"):
            for entry in best[section].values():
                if entry["source"].startswith("measured"):
                    entry["source"] += note
    return best, best_share <= BUSY_SHARE




register_host_measurer(measure_quietly)
