"""Streaming kernels: elementwise ops, norms, embedding lookups, copies.

A streaming kernel reads its inputs and writes its outputs once, with little math per
byte, so it runs at the bandwidth of the memory that holds its data: HBM, or L2 when the
whole working set fits in the part of L2 that keeps data (a decode step's activations
do). Its time is the machine's launch overhead (the GPU-side gap before the first
thread block, as for every kernel the simulator times), one dependent DRAM round trip
(the first load of a thread block has to arrive before anything is written; the
pointer-chase latency of the profile), and the larger of the bytes over the bandwidth
and the FLOPs over the CUDA-core rate (roofline: Williams et al., CACM 2009).

Thread-level parallelism matters for small tensors: a kernel with fewer bytes than it
takes to cover the latency with all SMs busy (Little's law: bandwidth x latency) cannot
reach the bandwidth, which the latency term already covers, so no extra term is added.

>>> from sparsim.hwprofiles import load_profile
>>> m = stream_machine(load_profile("a100-sxm4-80gb"))
>>> t = streaming_time(m, bytes_read=64 * 2**20, bytes_written=64 * 2**20)
>>> round(t * 1e6)        # 128 MiB at 90% of 2,039 GB/s, plus launch and one DRAM trip
77
>>> streaming_time(m, bytes_read=8192, bytes_written=8192) < 5e-6   # tiny: launch-bound
True
"""

from __future__ import annotations

from typing import Mapping

from ..hwprofiles import HardwareProfile
from .machine import Machine
from .params import DEFAULT_PARAMS

__all__ = ["stream_machine", "streaming_time", "fits_in_l2"]


def stream_machine(hw: HardwareProfile, calibration=None) -> Machine:
    """The machine streaming and attention kernels run on: the profile with a
    calibration's measured ceilings and device-wide parameters (no library's own ones:
    these kernels are PyTorch/Triton/FlashAttention code, not cuBLAS)."""
    measured = getattr(calibration, "measured", None)
    if measured:
        from ..hwprofiles import apply_measured

        hw = apply_measured(hw, measured)
    params: dict[str, float] = dict(DEFAULT_PARAMS)
    if isinstance(calibration, Mapping):
        params.update(calibration)
    elif calibration is not None:
        params.update(getattr(calibration, "params", {}) or {})
    return Machine.build(hw, params)


def fits_in_l2(machine: Machine, nbytes: float) -> bool:
    """Whether ``nbytes`` of working set stay in the part of L2 that keeps data."""
    return nbytes <= machine.l2_usable_bytes


def streaming_time(machine: Machine, *, bytes_read: float, bytes_written: float, flops: float = 0.0,
                   resident: bool = False) -> float:
    """Seconds of one streaming kernel. ``resident``: its inputs were just written by
    the previous kernel and fit in L2, so they are read from L2 (writes still go to
    HBM eventually, but write-back overlaps: they count at L2 bandwidth too)."""
    total = bytes_read + bytes_written
    bandwidth = machine.l2_bytes_per_s if resident and fits_in_l2(machine, total) else machine.hbm_bytes_per_s
    latency = machine.l2_latency_s if resident else machine.dram_latency_s
    math = flops / (machine.hw.vector_peak("fp32") * machine.math_efficiency("vector")) if flops else 0.0
    return machine.launch_s + latency + max(total / bandwidth, math)
