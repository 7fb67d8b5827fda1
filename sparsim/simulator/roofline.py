"""The roofline floor: no kernel runs faster than its math at peak or its compulsory
bytes at full DRAM bandwidth (Williams, Waterman, Patterson, "Roofline", CACM 2009).

The floor uses datasheet peaks without any efficiency factor, so every time model's
prediction must be at or above it.

>>> from sparsim.models import build_work
>>> from sparsim.hwprofiles import load_profile
>>> w = build_work("dense", m=4096, k=4096, n=4096, dtype="fp16")
>>> round(roofline_floor(w, load_profile("a100-sxm4-80gb")) * 1e6, 1)  # 2·4096³ / 312 TFLOP/s
440.5
"""

from __future__ import annotations

from ..errors import SparsimError
from ..hwprofiles import HardwareProfile
from ..models.work import KernelWork

__all__ = ["math_peak", "roofline_floor", "roofline_terms"]


def math_peak(work: KernelWork, hw: HardwareProfile) -> float:
    """Peak FLOP/s of the pipe that runs ``work`` on ``hw``; refuse what the chip lacks."""
    if work.math == "vector" or hw.kind == "cpu":
        from ..dtypes import get_dtype

        rate = get_dtype(work.dtype).vector_rate
        if rate not in hw.vector_flops_per_s:
            raise SparsimError(f"--dtype: got {work.dtype!r} on {hw.name}; allowed: {', '.join(hw.vector_flops_per_s)}")
        return hw.vector_peak(rate)
    dtype = "tf32" if work.dtype == "fp32" else work.dtype
    sparse = work.math == "sparse_tensor"
    peak = hw.tensor_peak(dtype, sparse=sparse)
    if peak is None:
        if dtype == "fp64" and not sparse:
            return hw.vector_peak("fp64")
        have = hw.sparse_dtypes if sparse else tuple(hw.tensor_dense_flops_per_s)
        if sparse and not have:
            # the chip, not the dtype, is what cannot run N:M sparsity (V100, CPUs)
            raise SparsimError(
                f"--kernel: got {work.kernel!r} on {hw.name}, which has no sparse tensor cores; "
                f"allowed there: dense, coo, csr, bsr, grouped, channel (or a GPU with sparse tensor cores, "
                f"compute capability 8.0 or later)")
        what = "sparse tensor cores" if sparse else "tensor cores"
        # what else a dense-tensor kernel runs: fp32 as tf32 or on CUDA cores ("by dtype"
        # kernels), fp64 on CUDA cores (the sparse pipe's dtypes are the impl's to list)
        also = {} if sparse else {
            "fp32": "tf32" in have or (work.spec.pipe == "by dtype" and "fp32" in hw.vector_flops_per_s),
            "fp64": "fp64" in hw.vector_flops_per_s}
        order = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
        have = sorted(set(have) | {d for d, ok in also.items() if ok},
                      key=lambda d: order.index(d) if d in order else len(order))
        raise SparsimError(
            f"--dtype: got {work.dtype!r} for --kernel {work.kernel} on {hw.name}; "
            f"allowed: {', '.join(have) if have else 'none (this chip has no ' + what + ')'}"
        )
    if sparse:
        # work.flops_executed counts the multiply-adds a sparse tensor core really issues
        # (the kept values only: K·keep/group per output), while the datasheet's sparse
        # figure is dense-equivalent (it counts the skipped zeros as done). The rate of
        # issued FLOPs is therefore the sparse peak times the kept fraction: the dense
        # rate for 2:4 and 1:2 (NVIDIA A100 whitepaper, "Fine-grained structured sparsity").
        peak = peak * work.spec.keep / work.spec.group
    return peak


def roofline_terms(work: KernelWork, hw: HardwareProfile, resident: float = 0.0) -> tuple[float, float]:
    """(math seconds, memory seconds) at datasheet peaks. ``resident``: the share of the
    compulsory bytes that starts in L2 (warm L2, :mod:`.l2state`), served at L2's rate."""
    memory = work.bytes_compulsory * ((1.0 - resident) / hw.hbm_bytes_per_s + resident / hw.l2_bytes_per_s)
    return work.flops_executed / math_peak(work, hw), memory


def roofline_floor(work: KernelWork, hw: HardwareProfile, resident: float = 0.0) -> float:
    return max(roofline_terms(work, hw, resident))
