"""Hardware ceilings by microbenchmark (``sparsim probe``), not by fit.

A calibration should fit only what the data identifies; a ceiling such as DRAM bandwidth
or a cache's latency is measured directly, the way te42kyfo/gpu-benches does, and goes
into the calibration's ``[measured]`` table where it replaces the datasheet value.
:func:`run_probe` returns exactly those keys (:data:`sparsim.calibration.MEASURED_KEYS`
plus ``tensor_flops_per_s.<dtype>``); :func:`probe` adds how each was measured.

What is measured, on a GPU (``cupy``; CUDA events, median of repetitions):

* ``hbm_bytes_per_s``: a grid-stride 16-byte copy kernel over a buffer far larger than L2
  (1 GiB, quick: 256 MiB), bytes read plus bytes written per second;
* ``l2_bytes_per_s``: a read-only kernel that sweeps a working set from 1 MiB to 4× L2,
  each thread re-reading the set; the plateau (best rate between L2/8 and L2/2, where
  no SM's L1 can hold the set) is L2's bandwidth, the sweep is kept in the details;
* ``l1_latency_ns``, ``l2_latency_ns``, ``hbm_latency_ns``: one thread chasing a random
  cyclic permutation (16 KiB ring, 128 B stride: L1 hits; 8 MiB ring, 128 B stride: L2
  hits; 2 GiB ring, 256 B stride: its lines far exceed L2, so every step goes to DRAM
  (TLB misses included, as in gpu-benches' large working sets)). Two chase
  lengths are timed and the difference divided by the difference in steps, so launch
  cost cancels;
* ``launch_overhead_s``: back-to-back launches of an empty kernel, per launch;
* ``tensor_flops_per_s.<dtype>``: ``cublasGemmEx`` at 8192³ (quick: 4096³) on random
  data, fp16 and bf16 (tensor cores, fp32 accumulate), tf32 off so fp32 is plain SGEMM;
* ``l2_bytes`` and ``clock_mhz``: as the device reports them (``l2CacheSize``; NVML's
  current SM clock, else the CUDA property).

On a CPU (``numpy``; ``time.perf_counter``, best of repetitions; ≤ ~30 s on 2 cores):

* ``hbm_bytes_per_s``: multi-threaded ``numpy.copyto`` over 4× the last-level cache;
* ``l2_bytes_per_s``: the same copy swept over working sets from 64 KiB to 4× LLC, the
  plateau between the private L2 and half the LLC taken as the LLC's bandwidth;
* latencies: a Python loop that walks a random cyclic permutation (one pointer per cache
  line) through a ``memoryview``. The interpreter costs tens of ns per step, far more than
  an L1 hit, so each latency is the chase over its working set *minus* the same chase in
  an L1-resident ring (the calibrated per-step cost) plus the L1 latency; the L1 latency
  itself (dependent minus independent loads on the small ring) is below the loop's
  resolution and is floored at 4 cycles. These are the honest limits of timing from
  Python; treat CPU latencies as ±a few ns;
* ``launch_overhead_s``: a tiny ``numpy.matmul`` call, median;
* ``tensor_flops_per_s.fp32`` / ``.fp64``: the BLAS peak, best large ``numpy.matmul``.

>>> sorted(set(PROBE_KEYS) - {"tensor_flops_per_s"})[:3]
['clock_mhz', 'hbm_bytes_per_s', 'hbm_latency_ns']
>>> plateau([(1 << 20, 5.0), (4 << 20, 9.0), (8 << 20, 10.0), (64 << 20, 3.0)], lo=2 << 20, hi=16 << 20)
10.0
"""

from __future__ import annotations

import datetime as _dt
import math
import time

import numpy as np

from ..hwprofiles.measured import MEASURED_KEYS, is_measured_key
from ..errors import SparsimError, check_choice

__all__ = ["run_probe", "probe", "plateau", "format_probe", "PROBE_BACKENDS", "PROBE_KEYS", "PROBE_SCHEMA"]

PROBE_BACKENDS = ("numpy", "cupy")
PROBE_SCHEMA = "sparsim-probe/1"
PROBE_KEYS = MEASURED_KEYS + ("tensor_flops_per_s",)


def plateau(sweep, lo: float, hi: float) -> float | None:
    """The best rate among sweep points ``(working set bytes, rate)`` with lo ≤ set ≤ hi."""
    inside = [rate for size, rate in sweep if lo <= size <= hi]
    return max(inside) if inside else None


def run_probe(backend: str, *, quick: bool = False) -> dict:
    """Measured ceilings keyed as the calibration's ``[measured]`` table expects."""
    return probe(backend, quick=quick)["measured"]


def probe(backend: str, *, quick: bool = False) -> dict:
    """``{"schema", "backend", "device", "date", "measured": {...}, "details": {...}}``."""
    check_choice("--backend", backend, PROBE_BACKENDS)
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    if backend == "numpy":
        device, measured, details = _numpy_probe(quick)
    else:
        device, measured, details = _cupy_probe(quick)
    for key in measured:
        if not is_measured_key(key):
            raise AssertionError(f"probe key {key!r} is not a calibration [measured] key")
    return {"schema": PROBE_SCHEMA, "backend": backend, "quick": bool(quick), "device": device, "date": date,
            "measured": {k: float(v) for k, v in measured.items() if _isfinite_positive(v)},
            "details": details}


# -- CPU ------------------------------------------------------------------------------

def _numpy_probe(quick: bool):
    from ..hwprofiles.host import detect_host
    from . import hostbench as hb

    facts = detect_host()
    threads = max(len(facts["cpus"]), 1)
    llc, line = facts["llc_bytes"][0], facts["line_bytes"][0]
    private_l2 = facts.get("private_l2_bytes") or facts["l1_bytes"][0] * 8
    boost = facts["boost_mhz"][0]
    details: dict = {"threads": threads, "blas": hb.blas_name()}

    dram_set = max(4 * llc, 64 << 20)
    hbm = hb.copy_rate(dram_set, threads, 2 if quick else 4)
    details["hbm"] = {"method": f"{threads}-thread numpy.copyto of {dram_set >> 20} MiB, bytes read + written, best"}

    sweep = []
    size = 64 << 10
    while size <= 4 * llc:
        inner = max(1, min(64, (256 << 20) // size if not quick else (64 << 20) // size))
        # the copy touches src and dst: the working set is twice the array
        sweep.append((size, hb.copy_rate(size // 2, threads, 2 if quick else 3, inner=inner)))
        size *= 4 if quick else 2
    l2_rate = plateau(sweep, lo=max(private_l2, 64 << 10), hi=max(llc // 2, 128 << 10)) or hb.copy_rate(
        max(llc // 8, 256 << 10), threads, 3, inner=16)
    details["l2_sweep"] = [{"working_set_bytes": s, "bytes_per_s": r} for s, r in sweep]

    rng = np.random.default_rng(0)
    steps = 40_000 if quick else 100_000
    small = hb.pointer_ring(min(facts["l1_bytes"][0] // 2, 16 << 10), line, rng)
    t_small, t_indep = hb.chase_ns(small, steps), hb.chase_ns(small, steps, dependent=False)
    l1_lat = max(t_small - t_indep, 4 * 1e3 / boost)
    llc_ws = min(max(4 * private_l2, llc // 8), llc // 2)
    l2_lat = max(hb.chase_ns(hb.pointer_ring(llc_ws, line, rng), steps) - t_small, 0.0) + l1_lat
    dram_ws = max(2 * llc, 64 << 20)
    dram_lat = max(hb.chase_ns(hb.pointer_ring(dram_ws, line, rng), steps // 2) - t_small, 0.0) + l1_lat
    details["latency"] = {"method": "Python memoryview chase minus an L1-resident chase (per-step interpreter cost "
                                    f"{t_small:.1f} ns subtracted), plus L1 latency", "llc_ring_bytes": llc_ws,
                          "dram_ring_bytes": dram_ws, "steps": steps}

    a, b = np.ones((8, 8), np.float32), np.ones((8, 8), np.float32)
    out = np.empty((8, 8), np.float32)
    calls = []
    for _ in range(500 if quick else 2000):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        calls.append(time.perf_counter() - start)
    launch = float(np.median(calls))

    n = 1024 if quick else 1536
    fp32, _ = hb.matmul_rate(np.float32, n, 0.3 if quick else 1.0)
    fp64, _ = hb.matmul_rate(np.float64, n, 0.3 if quick else 1.0)
    details["blas_peak"] = {"method": f"numpy.matmul {n}^3, best of calls"}

    measured = {"hbm_bytes_per_s": hbm, "l2_bytes_per_s": l2_rate, "l1_latency_ns": l1_lat,
                "l2_latency_ns": l2_lat, "hbm_latency_ns": dram_lat, "launch_overhead_s": launch,
                "l2_bytes": float(llc), "clock_mhz": float(boost),
                "tensor_flops_per_s.fp32": fp32, "tensor_flops_per_s.fp64": fp64}
    return f"{facts['model']} ({facts['cores'][0]} cores)", measured, details


# -- GPU ------------------------------------------------------------------------------

_KERNELS = r"""
extern "C" __global__ void copy16(const float4* __restrict__ src, float4* __restrict__ dst, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        dst[i] = src[i];
}
extern "C" __global__ void read_repeat(const float4* __restrict__ buf, long long n, long long reps, float* sink) {
    float acc = 0.f;
    long long first = blockIdx.x * (long long)blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    for (long long r = 0; r < reps; ++r)  // no modulo in the loop: its 64-bit division would bound the rate
        for (long long i = first; i < n; i += stride) {
            float4 v = buf[i];
            acc += v.x + v.y + v.z + v.w;
        }
    if (acc == 12345.678f) sink[0] = acc;  // never true for the data written: keeps the loads alive
}
extern "C" __global__ void chase(const long long* __restrict__ ring, long long start, long long steps, long long* sink) {
    long long i = start;
    for (long long s = 0; s < steps; ++s) i = ring[i];
    sink[0] = i;
}
extern "C" __global__ void empty() {}
"""


def _cupy_probe(quick: bool):
    # Longer than 60 lines on purpose: one microbenchmark after another, each a few lines; split, they would only pass the same buffers around.
    from .backends.cupy_backend import cupy_available

    ok, why = cupy_available()
    if not ok:
        raise SparsimError(f"--backend cupy: {why}; allowed: a machine with an NVIDIA GPU, or --backend numpy")
    import cupy as cp

    module = cp.RawModule(code=_KERNELS)
    copy16, read_repeat = module.get_function("copy16"), module.get_function("read_repeat")
    chase, empty = module.get_function("chase"), module.get_function("empty")
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    l2 = int(props.get("l2CacheSize", 0))
    sms = int(props.get("multiProcessorCount", 1))
    start_ev, end_ev = cp.cuda.Event(), cp.cuda.Event()

    def timed(fn, reps: int) -> float:
        fn()  # warm-up
        times = []
        for _ in range(reps):
            start_ev.record()
            fn()
            end_ev.record()
            end_ev.synchronize()
            times.append(cp.cuda.get_elapsed_time(start_ev, end_ev) / 1e3)
        return float(np.median(times))

    grid, block = sms * 8, 256
    details: dict = {"sms": sms}

    nbytes = (256 << 20) if quick else (1 << 30)
    src = cp.random.random(nbytes // 4, dtype=cp.float32)
    dst = cp.empty_like(src)
    n4 = nbytes // 16
    t = timed(lambda: copy16((grid,), (block,), (src, dst, cp.int64(n4))), 5 if quick else 10)
    hbm = 2 * nbytes / t
    del dst
    details["hbm"] = {"method": f"copy16 kernel over {nbytes >> 20} MiB, bytes read + written, median"}

    sink = cp.zeros(1, dtype=cp.float32)
    sweep = []
    size = 1 << 20
    while size <= max(4 * l2, 8 << 20):
        n = size // 16
        reps = max(1, ((128 if quick else 512) << 20) // size)
        t = timed(lambda n=n, reps=reps: read_repeat((grid,), (block,), (src, cp.int64(n), cp.int64(reps), sink)),
                  3 if quick else 5)
        sweep.append((size, reps * n * 16 / t))
        size *= 2
    del src
    l2_rate = plateau(sweep, lo=l2 // 8, hi=l2 // 2)
    details["l2_sweep"] = [{"working_set_bytes": s, "bytes_per_s": r} for s, r in sweep]

    out = cp.zeros(1, dtype=cp.int64)

    def chase_ns(ring_bytes: int, stride_bytes: int, steps: int) -> float:
        nodes = max(ring_bytes // stride_bytes, 2)
        stride = stride_bytes // 8
        ring = cp.zeros(nodes * stride, dtype=cp.int64)
        order = cp.random.permutation(nodes).astype(cp.int64) * stride
        ring[order] = cp.roll(order, -1)
        first = cp.int64(int(order[0]))
        # one lap warms L1/L2 for the small rings; the DRAM ring is far too long to lap
        chase((1,), (1,), (ring, first, cp.int64(min(nodes, 100_000)), out))
        t1 = timed(lambda: chase((1,), (1,), (ring, first, cp.int64(steps), out)), 3)
        t2 = timed(lambda: chase((1,), (1,), (ring, first, cp.int64(2 * steps), out)), 3)
        return (t2 - t1) / steps * 1e9

    steps = 20_000 if quick else 100_000
    l1_lat = chase_ns(16 << 10, 128, steps)
    l2_lat = chase_ns(8 << 20, 128, steps)
    # 256 B apart over 2 GiB: 8 M nodes whose lines (1 GiB) dwarf L2, so every step misses
    hbm_lat = chase_ns((512 << 20) if quick else (2 << 30), 256, steps // 5)
    details["latency"] = {"method": "one thread, random cyclic permutation; (t(2s) - t(s)) / s",
                          "rings": {"l1": "16 KiB / 128 B", "l2": "8 MiB / 128 B",
                                    "hbm": f"{'512 MiB' if quick else '2 GiB'} / 256 B"}}

    launches = 200 if quick else 1000
    empty((1,), (1,), ())
    cp.cuda.Device().synchronize()
    start_ev.record()
    for _ in range(launches):
        empty((1,), (1,), ())
    end_ev.record()
    end_ev.synchronize()
    launch = cp.cuda.get_elapsed_time(start_ev, end_ev) / 1e3 / launches
    details["launch"] = {"method": f"{launches} empty-kernel launches back to back, per launch"}

    flops, gemm_notes = _gemm_peaks(cp, 4096 if quick else 8192, timed)
    details["tensor_peak"] = gemm_notes
    measured = {"hbm_bytes_per_s": hbm, "l2_bytes_per_s": l2_rate, "l1_latency_ns": l1_lat,
                "l2_latency_ns": l2_lat, "hbm_latency_ns": hbm_lat, "launch_overhead_s": launch,
                "l2_bytes": float(l2), "clock_mhz": _clock_mhz(cp, props)}
    measured.update({f"tensor_flops_per_s.{dt}": v for dt, v in flops.items()})
    cp.get_default_memory_pool().free_all_blocks()
    return name, measured, details


def _clock_mhz(cp, props) -> float:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(cp.cuda.Device().id)
        return float(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM))
    except Exception:  # noqa: BLE001 - NVML is optional; the CUDA attribute is the fallback
        try:  # cudaDevAttrClockRate (13), kHz; cudaDeviceProp.clockRate is gone in CUDA 13
            return float(cp.cuda.runtime.deviceGetAttribute(13, cp.cuda.Device().id)) / 1e3
        except Exception:  # noqa: BLE001
            return float(props.get("clockRate", 0)) / 1e3


def _gemm_peaks(cp, size: int, timed) -> tuple[dict, dict]:
    """cublasGemmEx at size³ per dtype on random data; a failing dtype is noted, not fatal."""
    from .backends.gemm_ex import CUDA_TYPES, cublas_module, gemm_ex_args, to_bf16_bits

    cublas = cublas_module()
    handle = cp.cuda.device.get_cublas_handle()
    rng = np.random.default_rng(0)
    host = rng.uniform(-1, 1, (size, size)).astype(np.float32)
    flops, notes = {}, {"size": size, "method": "cublasGemmEx, CUBLAS_COMPUTE_32F, median"}
    for dtype in ("fp16", "bf16", "fp32"):
        try:
            if dtype == "bf16":
                a = cp.asarray(to_bf16_bits(host))
            else:
                a = cp.asarray(host.astype({"fp16": np.float16, "fp32": np.float32}[dtype]))
            b, c = a.copy(), cp.empty_like(a)
            scalar = CUDA_TYPES[dtype][2]
            alpha, beta = np.array(1.0, scalar), np.array(0.0, scalar)
            args = gemm_ex_args(handle, size, size, size, a.data.ptr, b.data.ptr, c.data.ptr, dtype,
                                alpha.ctypes.data, beta.ctypes.data)
            t = timed(lambda: cublas.gemmEx(*args), 5)
            flops[dtype] = 2.0 * size**3 / t
            del a, b, c
        except Exception as exc:  # noqa: BLE001 - recorded, the other dtypes go on
            notes[dtype] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return flops, notes


def format_probe(result: dict) -> str:
    """A short human table of a probe result (the CLI prints it)."""
    from ..units import human_bytes, human_seconds

    rows = []
    for key, value in sorted(result["measured"].items()):
        if key.endswith("bytes_per_s"):
            text = f"{value / 1e12:.3f} TB/s" if value >= 1e12 else f"{value / 1e9:.2f} GB/s"
        elif key.endswith("_ns"):
            text = f"{value:.1f} ns"
        elif key.endswith("_s"):
            text = human_seconds(value)
        elif key == "l2_bytes":
            text = human_bytes(value)
        elif key == "clock_mhz":
            text = f"{value:.0f} MHz"
        elif key.startswith("tensor_flops_per_s."):
            text = f"{value / 1e12:.2f} TFLOP/s"
        else:
            text = f"{value:g}"
        rows.append((key, text))
    width = max((len(k) for k, _ in rows), default=0)
    head = f"probe {result['backend']} on {result['device']} ({result['date']})"
    return "\n".join([head] + [f"  {k:<{width}}  {v}" for k, v in rows])


def _isfinite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0
