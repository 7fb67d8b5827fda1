"""CPU profiles (kind "cpu"): the NumPy/SciPy kernels the validation backend times.

The same engine runs a CPU as ``cores`` SMs with one slot each; L2 stands for the
last-level cache and HBM for DRAM. Two kinds of kernel:

* **Dense** (``numpy.matmul`` -> multithreaded BLAS): all cores at the profile's measured
  vector rate times ``cpu_gemm_efficiency``; BLAS cache blocking reads each operand from
  DRAM about once. A CPU has no sparse tensor cores, so 2:4/1:2 run as a dense GEMM
  over the whole K (the pruned zeros are multiplied), as a NumPy baseline would.
* **Gather** (``scipy.sparse`` CSR/COO/BSR ``@`` dense): SciPy's ``csr_matvecs``,
  ``coo_matmat_dense`` and ``bsr_matvecs`` are single-threaded C++ loops, so one core
  works and the rest idle, at ``cpu_spmm_efficiency`` of its share of the vector rate
  (the loop is barely vectorized). Per stored nonzero it pays ``cpu_nonzero_overhead_ns``
  and a dependent B-row load whose latency (LLC hit or DRAM miss, from the pattern's reuse
  distances against the LLC) is overlapped ``cpu_loads_in_flight`` deep (Little's law
  on the line-fill buffers); bytes stream at most ``cpu_loads_in_flight × 64 B / DRAM
  latency`` per core.

Every parameter enters through a rate or a sum, so time moves smoothly and monotonically
with each, which the least-squares calibration relies on.
"""

from __future__ import annotations

from ..dtypes import get_dtype
from ..hwprofiles import HardwareProfile
from ..models.work import KernelWork
from .engine import Phase, Program, SlotClass, SmGroup
from .gather import GATHER_KERNELS, b_miss_ratio
from .gemm import latencies
from .roofline import math_peak

__all__ = ["CACHE_LINE_BYTES", "plan_cpu"]

CACHE_LINE_BYTES = 64


def _items(work: KernelWork) -> float:
    """Gathered B rows: one per nonzero (CSR, COO), c per stored block (BSR), one per union column (grouped)."""
    if work.kernel == "bsr":
        return float(work.n_blocks * work.block[1])
    if work.kernel == "grouped":
        return float(work.stats.group_union(work.group_size).sum())
    return float(work.nnz)


def plan_cpu(work: KernelWork, hw: HardwareProfile, params: dict, seed: int = 0):
    from .des import KernelPlan

    cores = hw.sm_count
    lat_llc, lat_dram = latencies(hw, params)
    in_flight = params["cpu_loads_in_flight"]
    rates = dict(
        sm_link_bytes_per_s=in_flight * CACHE_LINE_BYTES / lat_dram,
        l2_bytes_per_s=hw.l2_bytes_per_s * params["l2_efficiency"],
        hbm_bytes_per_s=hw.hbm_bytes_per_s * params["hbm_efficiency"],
    )
    launch = hw.launch_overhead_s * params["launch_scale"]
    value_bytes = get_dtype(work.dtype).bytes

    if work.kernel in GATHER_KERNELS:
        # SciPy's sparse x dense loops are single-threaded: one core, the others idle.
        line_row = -(-work.n * value_bytes // CACHE_LINE_BYTES) * CACHE_LINE_BYTES
        items = _items(work)
        gather = items * line_row
        miss = b_miss_ratio(work, hw.l2_bytes * params["l2_capacity_efficiency"], seed) if work.stats else 1.0
        b_miss = max(miss, work.bytes_b / gather) if gather else 0.0
        hbm = work.bytes_a + gather * b_miss + work.bytes_c
        latency = (items * (lat_llc + miss * (lat_dram - lat_llc)) / in_flight
                   + work.nnz * params["cpu_nonzero_overhead_ns"] * 1e-9)
        phase = Phase("spmm", wait_s=lat_dram, flops=float(work.flops_executed),
                      l2_bytes=work.bytes_a + gather + work.bytes_c, hbm_bytes=hbm, link_bytes=hbm,
                      latency_s=latency, ctas=1)
        groups = (SmGroup("core 0 (SciPy, single-threaded)", 1),) + \
                 ((SmGroup("idle cores", cores - 1),) if cores > 1 else ())
        program = Program(groups=groups, slot_classes=(SlotClass("core0", 0, 1, (phase,)),), launch_s=launch,
                          sm_math_flops_per_s=math_peak(work, hw) / cores * params["cpu_spmm_efficiency"],
                          link_category="hbm", **rates)
        notes = (f"CPU: scipy.sparse {work.kernel} @ dense runs single-threaded: 1 of {cores} cores",
                 f"B-row reads hit the last-level cache {1 - miss:.0%} (reuse distances of the pattern)")
        return KernelPlan(program=program, ctas=1, waves=1.0 / cores, notes=notes)

    m = work.m_effective or work.m
    flops = 2.0 * m * work.k * work.n  # no sparse hardware: 2:4 multiplies its zeros too
    a_bytes = max(float(work.bytes_a), m * work.k * value_bytes)
    hbm = a_bytes + work.bytes_b + work.bytes_c
    phase = Phase("gemm", wait_s=lat_dram, flops=flops / cores, l2_bytes=hbm / cores, hbm_bytes=hbm / cores,
                  link_bytes=hbm / cores, ctas=1)
    program = Program(groups=(SmGroup("cores (BLAS threads)", cores),),
                      slot_classes=(SlotClass("thread", 0, 1, (phase,)),), launch_s=launch,
                      sm_math_flops_per_s=math_peak(work, hw) / cores * params["cpu_gemm_efficiency"],
                      link_category="hbm", **rates)
    notes = [f"CPU: multithreaded BLAS GEMM on {cores} cores"]
    if work.math == "sparse_tensor":
        notes.append("CPU: no sparse tensor cores; 2:4 runs as a dense GEMM over the full K")
    return KernelPlan(program=program, ctas=cores, waves=1.0, notes=tuple(notes))
