"""CPU profiles (kind "cpu"): the NumPy/SciPy kernels the validation backend times.

The same engine runs a CPU as ``cores`` SMs with one slot each; L2 stands for the
last-level cache and HBM for DRAM. Two kinds of kernel:

* **Dense** (``numpy.matmul`` -> multithreaded BLAS): all cores at the profile's measured
  vector rate times ``cpu_gemm_efficiency``; BLAS cache blocking reads each operand from
  DRAM about once, after packing the operands (``cpu_pack_efficiency`` of the DRAM
  bandwidth, not overlapped with the main loop). A CPU has no sparse tensor cores, so 2:4/1:2 run as a dense GEMM
  over the whole K (the pruned zeros are multiplied), as a NumPy baseline would.
* **Gather** (``scipy.sparse`` CSR/COO/BSR ``@`` dense): SciPy's ``csr_matvecs``,
  ``coo_matmat_dense`` and ``bsr_matvecs`` are single-threaded C++ loops, so one core
  works and the rest idle. For each stored nonzero the loop reads its index, then streams
  the named row of B through the core (``y[i, :] += a * B[j, :]``). Its time is a *sum*
  of stages that one core runs one after another, after the Execution-Cache-Memory
  (ECM) model (Treibig and Hager, "Introducing a performance model for bandwidth-limited
  loop kernels", PPAM 2009; Stengel et al., ICS 2015), where in-core work and the
  transfers between cache levels do not overlap:

  - loop overhead, ``cpu_nonzero_overhead_ns`` per nonzero;
  - in-core vector work, the row's multiply-adds at ``cpu_spmm_efficiency`` of one core's
    share of the vector FLOP/s: proportional to the SIMD vectors one B row spans, so an
    fp64 row of N columns costs twice an fp32 one;
  - the bytes of B rows L1 does not hold, moved from the private L2 at one line per
    clock (``L2_TO_L1_BYTES_PER_CLK``); those the private L2 (``PRIVATE_L2_BYTES``) does
    not hold either, moved from the last-level cache at one core's share of its
    bandwidth (``l2_efficiency``); those the LLC does not hold moved from DRAM at what
    ``cpu_loads_in_flight`` lines in flight sustain (Little's law on the line-fill
    buffers); A and C, read and written in order (prefetched), at one core's share of
    the DRAM bandwidth (``hbm_efficiency``);
  - the exposed latency of each B row's first line (its address depends on the index
    just loaded), an LLC or DRAM round trip when the row is not in the private caches,
    overlapped ``cpu_loads_in_flight`` deep.

  Where a B row is found comes from the pattern's reuse distances (:mod:`.reuse`)
  against the private cache and the LLC: a banded or blocked pattern reuses the rows its
  neighbouring rows just read, from L1/L2; a uniform one reads all of B between reuses.

Every parameter enters through a rate or a sum, so time moves smoothly and monotonically
with each, which the least-squares calibration relies on.
"""

from __future__ import annotations

from ..dtypes import get_dtype
from ..models.work import KernelWork
from .engine import Phase, Program, SlotClass, SmGroup
from .gather import pattern_miss_ratio
from .machine import Machine
from .plan import KernelPlan
from .roofline import math_peak

__all__ = ["CACHE_LINE_BYTES", "plan_cpu"]

CACHE_LINE_BYTES = 64
#: a core's private L2 when the profile does not give one: 1 MiB (AMD Zen 4; Intel
#: Skylake-SP to Ice Lake 1-1.25 MiB). It is a hardware fact, not a calibration parameter:
#: a capacity fitted to a few matrix sizes is a step function of the data, and the
#: host profile (sparsim.hwprofiles.host) reads it from sysfs but does not record it yet.
PRIVATE_L2_BYTES = 1 << 20
#: L2 -> L1 transfer per core clock: one 64-byte line per cycle, the peak the ECM model
#: uses for every core since Intel Haswell/Skylake-SP and AMD Zen 2+ (Hager et al.; vendor
#: optimization guides). Fixed, not fitted: training points whose B rows miss L1 cannot
#: tell this cost from the vector work (both grow as N x bytes per nonzero).
L2_TO_L1_BYTES_PER_CLK = 64.0
#: a core's "link" pool is its own DRAM stream, so time it limits is DRAM time
CORE_CATEGORIES = {"link": "hbm"}


def _items(work: KernelWork) -> float:
    """Gathered B rows: one per nonzero (CSR, COO), c per stored block (BSR), one per union column (grouped)."""
    if work.spec.reuse_unit == "block":
        return float(work.n_blocks * work.block[1])
    if work.spec.reuse_unit == "group":
        return float(work.stats.group_union(work.group_size).sum())
    return float(work.nnz)


def _rates(machine: Machine) -> dict:
    """A core's DRAM stream (the "link"): ``cpu_loads_in_flight`` lines per DRAM latency
    (Little's law on the line-fill buffers); the LLC and DRAM at their achievable rates."""
    line_fills = machine.params["cpu_loads_in_flight"] * CACHE_LINE_BYTES
    return {"link": line_fills / machine.dram_latency_s, "l2": machine.l2_bytes_per_s,
            "hbm": machine.hbm_bytes_per_s}


def plan_cpu(work: KernelWork, machine: Machine, seed: int = 0):
    """The engine program of ``work`` on a CPU profile (module docstring)."""
    if work.spec.is_gather:
        return _plan_gather(work, machine, seed)
    hw, params = machine.hw, machine.params
    cores = hw.sm_count
    value_bytes = get_dtype(work.dtype).bytes

    m = work.m_effective or work.m
    flops = 2.0 * m * work.k * work.n  # no sparse hardware: 2:4 multiplies its zeros too
    a_bytes = max(float(work.bytes_a), m * work.k * value_bytes)
    hbm = a_bytes + work.bytes_b + work.bytes_c
    # packing (GotoBLAS/OpenBLAS copy A and B panels into contiguous buffers, and C is
    # read and written) is not overlapped with the main loop: it adds its bytes at
    # cpu_pack_efficiency of the DRAM bandwidth, which makes small GEMMs reach a smaller
    # fraction of peak than large ones, as measured (params.py, cpu pack)
    pack = Phase("pack", wait_s=hbm / (hw.hbm_bytes_per_s * params["cpu_pack_efficiency"]))
    phase = Phase("gemm", wait_s=machine.dram_latency_s, ctas=1,
                  demand={"math": flops / cores, "l2": hbm / cores, "hbm": hbm / cores, "link": hbm / cores})
    program = Program(groups=(SmGroup("cores (BLAS threads)", cores),),
                      slot_classes=(SlotClass("thread", 0, 1, (pack, phase)),), launch_s=machine.launch_s,
                      rates={"math": math_peak(work, hw) / cores * params["cpu_gemm_efficiency"], **_rates(machine)},
                      categories=CORE_CATEGORIES)
    notes = [f"CPU: multithreaded BLAS GEMM on {cores} cores"]
    if work.math == "sparse_tensor":
        notes.append(f"CPU: no CPU library runs {work.kernel} (NumPy and SciPy have no {work.kernel} kernel) and a "
                     "CPU has no sparse tensor cores: this is sparsim's reference mapping, a dense BLAS GEMM "
                     "over the full K")
    return KernelPlan(program=program, ctas=cores, waves=1.0, notes=tuple(notes))


def _b_miss(work: KernelWork, capacity_bytes: float, line_row: float, seed: int) -> float:
    """Miss ratio of the gathered B rows (``line_row`` bytes each, whole cache lines) in a
    cache of ``capacity_bytes``, from the pattern's sampled reuse distances; 1 without a pattern."""
    if work.stats is None or line_row <= 0:
        return 1.0
    return pattern_miss_ratio(work, capacity_bytes, line_row, seed)


def _plan_gather(work: KernelWork, machine: Machine, seed: int):
    """SciPy's single-threaded sparse x dense loop as one flow whose latency bound is the
    ECM-style sum of its stages (module docstring)."""
    hw, params, rates = machine.hw, machine.params, _rates(machine)
    cores = hw.sm_count
    lat_llc, lat_dram = machine.l2_latency_s, machine.dram_latency_s
    in_flight = params["cpu_loads_in_flight"]
    value_bytes = get_dtype(work.dtype).bytes
    line_row = -(-work.n * value_bytes // CACHE_LINE_BYTES) * CACHE_LINE_BYTES
    items = _items(work)
    gather = items * line_row
    # where the B rows are found: the LLC holds at least what the private caches hold
    # (A, C and the index stream share every level: each holds B rows in the same fraction)
    held = params["l2_capacity_efficiency"]
    llc_miss = _b_miss(work, machine.l2_usable_bytes, line_row, seed)
    private = max(PRIVATE_L2_BYTES, hw.l1_bytes_per_sm)
    private_miss = max(_b_miss(work, private * held, line_row, seed), llc_miss)
    l1_miss = max(_b_miss(work, hw.l1_bytes_per_sm * held, line_row, seed), private_miss)
    # every byte of B is read from DRAM at least once (compulsory misses)
    dram_b = max(gather * llc_miss, float(work.bytes_b)) if gather else 0.0
    llc_b = max(gather * private_miss, dram_b)
    hbm = work.bytes_a + dram_b + work.bytes_c
    core_flops_per_s = math_peak(work, hw) / cores * params["cpu_spmm_efficiency"]
    stages = {
        "loop overhead": work.nnz * params["cpu_nonzero_overhead_ns"] * 1e-9,
        "vector work": float(work.flops_executed) / core_flops_per_s,
        "L2 -> L1": gather * l1_miss / (L2_TO_L1_BYTES_PER_CLK * hw.clock_hz),
        "LLC -> L2": llc_b / (rates["l2"] / cores),
        # A's arrays and C are walked in order, so the hardware stream prefetcher keeps
        # them at the core's share of the DRAM bandwidth (the ECM model's memory term);
        # only the gathered B rows are limited by the line-fill buffers (Little's law).
        # (Before: all of A, B and C at the Little's-law rate, which overpredicted
        # small-N SpMM, where A's stream dominates, by 1.4-1.9x on the host example.)
        "DRAM -> core": (work.bytes_a + work.bytes_c) / (rates["hbm"] / cores)
        + dram_b / rates["link"],
        "first-line latency": items * (private_miss * lat_llc + llc_miss * (lat_dram - lat_llc)) / in_flight,
    }
    serial = sum(stages.values())
    phase = Phase("spmm", wait_s=lat_dram, latency_s=serial, ctas=1,
                  demand={"math": float(work.flops_executed), "l2": work.bytes_a + llc_b + work.bytes_c,
                          "hbm": hbm, "link": hbm})
    groups = (SmGroup("core 0 (SciPy, single-threaded)", 1),) + \
             ((SmGroup("idle cores", cores - 1),) if cores > 1 else ())
    program = Program(groups=groups, slot_classes=(SlotClass("core0", 0, 1, (phase,)),), launch_s=machine.launch_s,
                      rates={"math": core_flops_per_s, **rates}, categories=CORE_CATEGORIES)
    shares = ", ".join(f"{name} {t / serial:.0%}" for name, t in stages.items() if serial and t / serial >= 0.005)
    notes = (f"CPU: scipy.sparse {work.kernel} @ dense runs single-threaded: 1 of {cores} cores",
             f"B rows found in L1 {1 - l1_miss:.0%}, in the private L2 {l1_miss - private_miss:.0%}, in the "
             f"last-level cache {private_miss - llc_miss:.0%}, in DRAM {llc_miss:.0%} (reuse distances of the pattern)",
             f"one core's loop, stages in series (ECM model): {shares}")
    return KernelPlan(program=program, ctas=1, waves=1.0 / cores, notes=notes)
