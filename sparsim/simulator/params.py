"""Tunable efficiency parameters of the time models, and their datasheet-only defaults.

A calibration file (see :mod:`sparsim.calibration`) replaces some of these per profile;
everything else keeps the default. Efficiencies are fractions of a datasheet peak in
(0, 1], so a prediction can never beat the roofline floor built from the same peaks.

>>> DEFAULT_PARAMS["hbm_efficiency"]
0.9
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["DEFAULT_PARAMS", "PARAM_DOCS", "EFFICIENCY_PARAMS", "PARAM_BOUNDS", "resolve_params"]

PARAM_DOCS = {
    "tensor_efficiency": "fraction of the dense tensor-core peak a large GEMM main loop sustains",
    "sparse_tensor_efficiency": "fraction of the 2:4 sparse tensor-core peak (2x dense) a sparse main loop sustains",
    "vector_efficiency": "fraction of the CUDA-core (or CPU SIMD) FMA peak a SpMM inner loop sustains",
    "hbm_efficiency": "fraction of the HBM (DRAM) datasheet bandwidth a streaming kernel sustains",
    "l2_efficiency": "fraction of the L2 (last-level cache) bandwidth a kernel sustains",
    "gather_efficiency": "fraction of a sector-granular gather's bandwidth achieved (irregular access)",
    "launch_scale": "multiplier on the profile's kernel launch overhead",
    "latency_scale": "multiplier on the profile's memory latencies",
    # discrete-event model (sparsim.simulator.des) only
    "l2_capacity_efficiency": "fraction of the nominal L2 (last-level cache) capacity that holds reusable operand data",
    "gather_loads_in_flight": "independent B-row loads one warp of a gather kernel keeps in flight (Little's law)",
    "sm_l2_bytes_per_clk": "bytes per SM clock one SM can move from L2 (the SM-to-L2 crossbar port)",
    "cpu_gemm_efficiency": "fraction of the profile's all-core vector FLOP/s a multithreaded BLAS GEMM sustains",
    "cpu_loads_in_flight": "cache-line misses one CPU core keeps in flight (line-fill buffers; Little's law)",
    "cpu_spmm_efficiency": "fraction of one core's share of the vector FLOP/s SciPy's sparse x dense loop sustains",
    "cpu_nonzero_overhead_ns": "loop overhead per stored nonzero in SciPy's single-threaded sparse x dense loop",
    "cpu_pack_efficiency": "fraction of the profile's DRAM bandwidth at which a BLAS GEMM packs its operands "
                           "(GotoBLAS/OpenBLAS copy A and B panels before the main loop, not overlapped with it)",
    "gather_nonzero_cycles": "SM issue cycles a CSR/COO SpMM spends per stored nonzero and N-slice (index and value loads, address math), whatever N",
    # library behaviour (an implementation file may set it; see sparsim.impls)
    "index64_efficiency": "how fast a gather kernel runs with 64-bit indices relative to 32-bit (wider address math and loads)",
}

# Defaults before any calibration. Where they come from:
# - tensor 0.97: CUTLASS reaches 302 of 312 TFLOP/s on an A100 at 16384^3 fp16 with locked
#   clocks (NVIDIA/cutlass issue 408), so a large GEMM's main loop runs at ~97% of peak.
# - sparse tensor 0.78: the same source measures 484 of 624 sparse TFLOP/s for 2:4.
# - hbm 0.90: STREAM-like copies on A100/H100 sustain about 90% of the datasheet bandwidth
#   (te42kyfo/gpu-benches gpu-stream).
# - vector 0.7, l2 0.8, gather 0.8: estimates, to be replaced by calibration.
# Discrete-event model parameters:
# - l2 capacity 0.75: estimate. A100/H100 split L2 into two partitions and data a far SM
#   reads may be duplicated in the near one; te42kyfo/gpu-benches gpu-l2-cache curves leave
#   the L2 plateau before the nominal size. The other operands (A, C) also occupy L2.
# - gather loads in flight 8: estimate of how far a cuSPARSE-style SpMM unrolls its loop
#   over nonzeros (each unrolled step issues one independent B-row load per lane).
# - sm_l2 64 B/clk: per-SM L2 port; Jia et al., "Dissecting the NVIDIA Volta GPU
#   Architecture via Microbenchmarking" (2018) and the Turing follow-up measure 64 B/clk/SM;
#   the A100 whitepaper's 5120 B/clk L2 read bandwidth is 47 B/clk per SM on average.
# - cpu gemm 0.95: the host profile's vector rate is already the best of a few large
#   numpy.matmul calls (sparsim.hwprofiles.host); a typical call reaches ~95% of the best.
# - cpu loads in flight 12: L1D line-fill buffers per core (Intel 64 and IA-32 Optimization
#   Reference Manual: 12 on Skylake and later; 10 before).
# - cpu spmm 0.4 and cpu nonzero overhead 1.7 ns: the calibrated values (0.43 +- 26%,
#   1.67 ns +- 34%) of the host example's training split (sparsim/validate/data/host-example,
#   2-core AMD EPYC, SciPy 1.17, measured quietly 2026-11-25) once A and C stream at the
#   DRAM rate (sparsim.simulator.cpu). Earlier estimate, from 4096^2 at 1% fp32 alone:
#   ~2.8 ns per nonzero for N = 4-16 and 0.16 ns per element for N >= 64, which charged
#   the A stream to the loop. Starting points for calibration.
# - cpu pack 0.35: the host example (sparsim/validate/data/host-example, 2026-11-25):
#   numpy.matmul from 256^3 to 1536^3 takes 2 M N K / (0.94 x peak) plus ~12 GB/s over
#   its operand bytes (A + B + C), 0.35 of that host's 2-thread copy bandwidth; a GEMM's
#   fraction of peak therefore grows with its size (116 GFLOP/s at 256^3, 194 at 1536^3,
#   fp32). Packing is the documented first step of a GotoBLAS-style GEMM (Goto and van de
#   Geijn, "Anatomy of high-performance matrix multiplication", ACM TOMS 2008).
DEFAULT_PARAMS = MappingProxyType({
    "tensor_efficiency": 0.97,
    "sparse_tensor_efficiency": 0.78,
    "vector_efficiency": 0.7,
    "hbm_efficiency": 0.9,
    "l2_efficiency": 0.8,
    "gather_efficiency": 0.8,
    "launch_scale": 1.0,
    "latency_scale": 1.0,
    "l2_capacity_efficiency": 0.75,
    "gather_loads_in_flight": 8.0,
    "sm_l2_bytes_per_clk": 64.0,
    "cpu_gemm_efficiency": 0.95,
    "cpu_loads_in_flight": 12.0,
    "cpu_spmm_efficiency": 0.4,
    "cpu_nonzero_overhead_ns": 1.7,
    "cpu_pack_efficiency": 0.35,
    # 4 cycles: estimate (a warp issues at least an index load, a value load, an address
    # computation and a shuffle per nonzero; one SM issues up to 4 warp instructions per cycle)
    "gather_nonzero_cycles": 4.0,
    # 1.0: datasheet-only figures know no library; cuSPARSE's file sets its measured value
    "index64_efficiency": 1.0,
})

#: parameters bounded to (0, 1]; the scales only need to be > 0
EFFICIENCY_PARAMS = tuple(k for k in DEFAULT_PARAMS if k.endswith("_efficiency"))


#: The physically meaningful range of each parameter: a calibration searches only inside
#: it, and a fitted value that ends on an edge is reported and not written (the data then
#: limits the parameter without measuring it). Why each range:
#: - efficiencies [0.05, 1]: a fraction of a peak is at most 1 (the roofline); a kernel
#:   that sustains under 5% of a peak is bound by something else, which a fit would only
#:   hide in this number (issue 10: l2_capacity_efficiency 0.0001 was such a fit).
#:   tensor [0.2, 1]: cuBLAS/CUTLASS main loops run at 60-97% of peak on large shapes
#:   (NVIDIA/cutlass issue 408); small shapes lose to waves and launch, not the loop.
#:   L2 capacity [0.25, 1]: duplication across the two L2 partitions halves it at worst
#:   (A100 whitepaper), and A and C take part of the rest.
#: - launch_scale [0.5, 500]: host work per call in units of one kernel launch; a library
#:   call costs one launch at least, and PyTorch's _cslt_sparse_mm 0.4-0.6 ms of host work
#:   on an H200 whose launch is ~5 us (shared H200 measurements, README): ~100 launches.
#: - latency_scale [0.5, 4]: latencies come from an idle pointer chase (probe, datasheet
#:   references); a kernel's loads see them lower with prefetch and higher with queueing:
#:   under a full SpMM's load the H200 atlas needs ~3x (loaded-latency curves of
#:   te42kyfo/gpu-benches rise 2-4x near peak bandwidth).
#: - gather_loads_in_flight [1, 64]: at least one load per warp; 64 independent loads
#:   per warp exceeds the registers a SpMM kernel keeps (Little's law, Volkov 2016).
#: - sm_l2_bytes_per_clk [16, 256]: 64 B/clk/SM measured on Volta/Turing (Jia et al. 2018,
#:   2019); the A100 whitepaper's L2 read bandwidth is 47 B/clk/SM; 4x either way.
#: - cpu_loads_in_flight [4, 64]: 10-12 L1D line-fill buffers per core (Intel optimization
#:   manual), 22-24 miss buffers on AMD Zen; the L2 prefetcher adds some; at least 4.
#: - cpu_spmm_efficiency [0.05, 1]: SciPy's loop measured at 0.16 ns per element (~12% of a
#:   core's peak, see the defaults); 2.5x below that is a scalar loop with stalls.
#: - cpu_nonzero_overhead_ns [0.3, 20]: about 1 to 50 core cycles of loop per nonzero.
#: - hbm_efficiency [0.2, 1]: STREAM-like copies sustain 80-95% of the DRAM datasheet
#:   (te42kyfo/gpu-benches gpu-stream; 89% measured on the H200); cuSPARSELt's default
#:   plan streams its A at ~1.5 of 4.27 TB/s (0.34) at small N on the H200 atlas; a
#:   kernel's stream below 20% is latency-bound, which the latency terms model.
PARAM_BOUNDS = MappingProxyType({
    "tensor_efficiency": (0.2, 1.0),
    "sparse_tensor_efficiency": (0.1, 1.0),
    "vector_efficiency": (0.05, 1.0),
    "hbm_efficiency": (0.2, 1.0),
    "l2_efficiency": (0.05, 1.0),
    "gather_efficiency": (0.05, 1.0),
    "launch_scale": (0.5, 500.0),
    "latency_scale": (0.5, 4.0),
    "l2_capacity_efficiency": (0.25, 1.0),
    "gather_loads_in_flight": (1.0, 64.0),
    "sm_l2_bytes_per_clk": (16.0, 256.0),
    "cpu_gemm_efficiency": (0.05, 1.0),
    "cpu_loads_in_flight": (4.0, 64.0),
    "cpu_spmm_efficiency": (0.05, 1.0),
    "cpu_nonzero_overhead_ns": (0.3, 20.0),
    "cpu_pack_efficiency": (0.05, 1.0),
    # SM issue cycles per stored nonzero: an index load, a value load, address math and a
    # shuffle are ~4 warp instructions at least; 64 would be a loop of ~250 instructions
    "gather_nonzero_cycles": (0.5, 64.0),
    # int64 indices: twice the index bytes and 64-bit address math; halving the speed
    # would mean the index path alone bounds the kernel
    "index64_efficiency": (0.5, 1.0),
})


def resolve_params(calibration: Any = None, impl: str | None = None) -> dict[str, float]:
    """Every parameter's value: defaults, a plain mapping over them, or a calibration's
    values for ``impl`` (any object with ``all_params(impl)``, so the simulator needs no
    import of :mod:`sparsim.calibration`).

    >>> resolve_params({"hbm_efficiency": 0.5})["hbm_efficiency"], resolve_params()["hbm_efficiency"]
    (0.5, 0.9)
    """
    if calibration is None:
        return dict(DEFAULT_PARAMS)
    if isinstance(calibration, Mapping):
        return {**DEFAULT_PARAMS, **calibration}
    return calibration.all_params(impl)
