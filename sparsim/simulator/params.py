"""Tunable efficiency parameters of the time models, and their datasheet-only defaults.

A calibration file (see :mod:`sparsim.calibration`) replaces some of these per profile;
everything else keeps the default. Efficiencies are fractions of a datasheet peak in
(0, 1], so a prediction can never beat the roofline floor built from the same peaks.

>>> DEFAULT_PARAMS["hbm_efficiency"]
0.9
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["DEFAULT_PARAMS", "PARAM_DOCS", "EFFICIENCY_PARAMS"]

PARAM_DOCS = {
    "tensor_efficiency": "fraction of the dense tensor-core peak a large GEMM main loop sustains",
    "sparse_tensor_efficiency": "fraction of the 2:4 sparse tensor-core peak (2x dense) a sparse main loop sustains",
    "vector_efficiency": "fraction of the CUDA-core (or CPU SIMD) FMA peak a SpMM inner loop sustains",
    "hbm_efficiency": "fraction of the HBM (DRAM) datasheet bandwidth a streaming kernel sustains",
    "l2_efficiency": "fraction of the L2 (last-level cache) bandwidth a kernel sustains",
    "gather_efficiency": "fraction of a sector-granular gather's bandwidth achieved (irregular access)",
    "launch_scale": "multiplier on the profile's kernel launch overhead",
    "latency_scale": "multiplier on the profile's memory latencies",
}

# Defaults before any calibration. Where they come from:
# - tensor 0.97: CUTLASS reaches 302 of 312 TFLOP/s on an A100 at 16384^3 fp16 with locked
#   clocks (NVIDIA/cutlass issue 408), so a large GEMM's main loop runs at ~97% of peak.
# - sparse tensor 0.78: the same source measures 484 of 624 sparse TFLOP/s for 2:4.
# - hbm 0.90: STREAM-like copies on A100/H100 sustain about 90% of the datasheet bandwidth
#   (te42kyfo/gpu-benches gpu-stream).
# - vector 0.7, l2 0.8, gather 0.8: estimates, to be replaced by calibration.
DEFAULT_PARAMS = MappingProxyType({
    "tensor_efficiency": 0.97,
    "sparse_tensor_efficiency": 0.78,
    "vector_efficiency": 0.7,
    "hbm_efficiency": 0.9,
    "l2_efficiency": 0.8,
    "gather_efficiency": 0.8,
    "launch_scale": 1.0,
    "latency_scale": 1.0,
})

#: parameters bounded to (0, 1]; the scales only need to be > 0
EFFICIENCY_PARAMS = tuple(k for k in DEFAULT_PARAMS if k.endswith("_efficiency"))
