"""Sparse × dense kernels that gather rows of B: CSR, COO, BSR and grouped (vector-sparse).

How the work is split into CTAs, after the GPU SpMM kernels these model:

* **CSR, row-split** (cuSPARSE ``CSR_ALG2`` for row-major B; Yang, Buluç and Owens,
  "Design principles for sparse matrix multiplication on the GPU", Euro-Par 2018): one
  warp per row, 8 warps per CTA, each lane holding 4 columns of a 128-column slice of B
  and C. A warp reads its row pointer, then the column indices 32 at a time, then the B
  rows they name: two dependent loads before the data (course notes). A CTA lasts as long
  as its longest row, and a CTA of long rows becomes the kernel's tail (load imbalance).
* **COO, nonzero-split** (cuSPARSE ``COO_ALG4``-like segmented reduction): each CTA takes
  an equal chunk of consecutive nonzeros (at most 1024, and at least one chunk per
  resident slot) whatever rows they fall in, so CTAs are equal; partial row sums go to C
  with atomics (read-modify-write in L2). One dependent load.
* **BSR** (cuSPARSE ``bsrmm`` on tensor cores): one CTA per block row and 64-column slice;
  blocks are double-buffered, so two block loads are in flight.
* **grouped** (vector-sparse: g rows share their union of columns, tensor cores): one CTA
  per group, 4 warps, each warp keeping ``gather_loads_in_flight`` B rows in flight.

CTA grids run the N-slices of a row block next to each other (N fastest), so a B row is
read whole by concurrent CTAs; its L2 hit rate comes from the pattern's reuse distances
(:mod:`sparsim.simulator.reuse`) against the L2 capacity counted in B rows of
``ceil(N·bytes/32)`` sectors. Per CTA, Little's law bounds the stream: the chain of
dependent loads is paid once per row (pointer) and once per 32 nonzeros (index), and
``gather_loads_in_flight`` B loads overlap each round trip.

>>> from sparsim.models import build_work
>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.simulator.machine import Machine
>>> from sparsim.simulator.params import resolve_params
>>> machine = Machine.build(load_profile("a100-sxm4-80gb"), resolve_params())
>>> plan = plan_gather(build_work("csr", m=4096, k=4096, n=64, density=0.01), machine)
>>> plan.ctas, round(plan.waves, 2)
(512, 1.19)
"""

from __future__ import annotations

import math

import numpy as np

from ..dtypes import get_dtype
from ..errors import SparsimError
from ..models.kernels import KERNEL_OBJECTS
from ..models.work import KernelWork, row_fetch_bytes
from .dispatch import LATENCY, greedy_slots, uniform_slots
from .engine import Program
from .machine import Machine
from .plan import KernelPlan
from .reuse import gather_footprint, per_block_counts

__all__ = ["plan_gather"]

# Each call's CTA shape (warps, columns of B, registers, shared memory) is mapping data
# with its source, in the implementation files (``cta``; the machine's call carries it).
#: nonzeros per COO CTA: 8 warps x 32 lanes x 4
COO_CHUNK = 1024
#: stored blocks a BSR CTA keeps in flight (double buffering)
BSR_BLOCKS_IN_FLIGHT = 2
#: CTAs carried one by one into the schedule; beyond, neighbouring row blocks are merged
#: (greedy_slots schedules at most 2^15 units anyway; this bounds the per-CTA arrays)
MAX_CTAS = 2**20


def chain_s(items, *, depth: int, index_s: float, first_s: float, data_s: float, in_flight: float):
    """Latency of a warp walking ``items`` gathered items: ``depth - 1`` pointer loads,
    one index load per 32 items, then one data round trip per ``in_flight`` items, the
    first of which finds L2 cold (``first_s``) and the rest at the average ``data_s``."""
    items = np.asarray(items, dtype=np.float64)
    walk = np.ceil(items / 32.0) * index_s + first_s + (np.ceil(items / in_flight) - 1.0) * data_s
    return (depth - 1) * index_s + np.where(items > 0, walk, 0.0)


def cta_of(work: KernelWork, machine: Machine):
    """The CTA the machine's library call launches for ``work`` (a bare machine: the
    reference implementation's, :mod:`sparsim.impls`)."""
    call = machine.call
    if call is not None and call.cta is not None:
        return call.cta
    from ..impls import plan_rule

    return plan_rule("reference", work.kernel).cta


def _data_latency(work: KernelWork, machine: Machine) -> tuple[float, float, float]:
    """(index load, first B load, later B loads) latency of a gather kernel's warps.

    Index loads wait DRAM: the N-slices of a row block run side by side in the grid and
    ask for the same indices at the same time, so they all wait for the one miss (an
    average over slices, hits after the first, made a wider B run faster). The first B
    round trip of a warp waits DRAM; later ones the L2 latency plus the share of B that
    L2 cannot hold (a capacity miss ratio that depends on K and N only, so that more
    nonzeros never make a warp faster; the pattern's own reuse sets the DRAM bytes).
    """
    lat_l2, lat_dram = machine.l2_latency_s, machine.dram_latency_s
    b_bytes = work.k * float(b_row_slices(work, cta_of(work, machine).columns, machine.hw.sector_bytes)[1].sum())
    capacity_miss = min(1.0, max(0.0, 1.0 - machine.l2_usable_bytes / b_bytes))
    return lat_dram, lat_dram, lat_l2 + capacity_miss * (lat_dram - lat_l2)


def _rates(work: KernelWork, machine: Machine) -> dict:
    # gathers run on CUDA cores (vector) or tensor cores; their scattered sectors reach
    # gather_efficiency of the L2 rate a streaming kernel gets
    return {"math": machine.sm_math_flops_per_s(work), "link": machine.sm_link_bytes_per_s,
            "l2": machine.l2_bytes_per_s * machine.params["gather_efficiency"], "hbm": machine.hbm_bytes_per_s}


def b_row_slices(work: KernelWork, columns: int, sector_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, bytes moved) of each N-slice of ``columns`` a CTA covers of one B row,
    whole sectors of ``sector_bytes`` (the profile's)."""
    n_tile = min(columns, work.n)
    n_slices = -(-work.n // n_tile)
    cols = np.full(n_slices, n_tile, dtype=np.int64)
    cols[-1] = work.n - (n_slices - 1) * n_tile
    return cols, row_fetch_bytes(cols, get_dtype(work.dtype).bytes, work.b_layout, sector_bytes).astype(np.float64)


def b_miss_ratio(work: KernelWork, columns: int, capacity_bytes: float, seed: int, sector_bytes: int) -> float:
    """Miss ratio of the B reads of ``work`` (N-slices of ``columns``, whole sectors of
    ``sector_bytes``) in a cache of ``capacity_bytes``, from its pattern."""
    return pattern_miss_ratio(work, capacity_bytes, float(b_row_slices(work, columns, sector_bytes)[1].sum()), seed)


def pattern_miss_ratio(work: KernelWork, capacity_bytes: float, row_bytes: float, seed: int) -> float:
    """Miss ratio of gathered B rows of ``row_bytes`` each in a cache of ``capacity_bytes``:
    the pattern's sampled reuse distances, per nonzero row (CSR/COO), row group or block."""
    pattern, unit = work.stats.pattern, work.spec.reuse_unit
    if unit == "block":
        fp = gather_footprint(pattern, "block", rows=work.block[0], cols=work.block[1], salt=seed)
        return fp.miss_ratio(capacity_bytes / (row_bytes * work.block[1]))
    if unit == "group":
        fp = gather_footprint(pattern, "group", rows=work.group_size, salt=seed)
    else:
        fp = gather_footprint(pattern, "row", salt=seed)
    return fp.miss_ratio(capacity_bytes / row_bytes)


def _cta_units(work: KernelWork, warps: int, loads_in_flight: float, lat: dict):
    """Per row block (one CTA per N-slice): (gathered items, rows of C, FLOPs per column of
    B, B rows read, latency chain of its longest warp), after how the kernel splits A."""
    st, u = work.stats, loads_in_flight
    split = work.spec.split
    if split == "rows":  # CSR: a warp per row, warps rows per CTA
        rows_per_cta = warps
        starts = np.arange(0, work.m, rows_per_cta)
        items = st.tile_work(rows_per_cta).astype(np.float64)
        longest = np.maximum.reduceat(st.row_nnz, starts).astype(np.float64) if st.m else items
        rows = np.diff(np.append(starts, work.m)).astype(np.float64)
        return items, rows, 2.0 * items, items, chain_s(longest, in_flight=u, **lat)
    if split == "block rows":  # BSR: a CTA per block row
        r, c = work.block
        items = per_block_counts(st.pattern, r, c).astype(np.float64)
        rows = np.diff(np.append(np.arange(0, work.m, r), work.m)).astype(np.float64)
        return items, rows, 2.0 * items * r * c, items * c, chain_s(items, in_flight=BSR_BLOCKS_IN_FLIGHT, **lat)
    # "row groups" (grouped): a CTA per group of g rows, its union columns shared by the warps
    g = work.group_size
    items = st.group_union(g).astype(np.float64)
    rows = np.diff(np.append(np.arange(0, work.m, g), work.m)).astype(np.float64)
    return items, rows, 2.0 * items * rows, items, chain_s(np.ceil(items / warps), in_flight=u, **lat)


def _per_cta(work: KernelWork, machine: Machine, seed: int):
    """Per-CTA amounts (dispatch order: row block major, N-slice minor) and notes."""
    st = work.stats
    if st is None:
        raise SparsimError(f"--kernel {work.kernel}: work has no pattern statistics")
    cta = cta_of(work, machine)
    warps = cta.warps
    cols, fetch = b_row_slices(work, cta.columns, machine.hw.sector_bytes)
    n_slices = cols.size
    out_bytes = work.bytes_c / (work.m * work.n)
    miss = b_miss_ratio(work, cta.columns, machine.l2_usable_bytes, seed, machine.hw.sector_bytes)
    index_s, first_s, data_s = _data_latency(work, machine)
    u = machine.params["gather_loads_in_flight"]
    lat = dict(depth=work.dependent_access_depth, index_s=index_s, first_s=first_s, data_s=data_s)

    items, rows, flops_per_col, b_rows, chain = _cta_units(work, warps, u, lat)
    latency = np.maximum(chain - index_s, 0.0)
    ctas = items.size * n_slices
    merged = -(-ctas // MAX_CTAS)
    if merged > 1:
        # Huge grids: consecutive row blocks become one schedule unit (amounts and
        # latencies summed, as greedy_slots pairs neighbours), so memory stays bounded.
        starts = np.arange(0, items.size, merged)
        items, rows, flops_per_col, b_rows, latency = (
            np.add.reduceat(x, starts) for x in (items, rows, flops_per_col, b_rows, latency))
    share = items / items.sum() if items.sum() > 0 else np.full(items.size, 1.0 / items.size)
    a_l2 = work.bytes_a * share
    gather_l2 = np.outer(b_rows, fetch)  # (row blocks, slices)
    gather_total = float(gather_l2.sum())
    b_miss = max(miss, work.bytes_b / gather_total) if gather_total else 0.0
    c_bytes = np.outer(rows, cols * out_bytes)
    amounts = {
        "math": np.outer(flops_per_col, cols.astype(np.float64)).ravel(),
        "l2": (a_l2[:, None] + gather_l2 + c_bytes).ravel(),
        "hbm": (a_l2[:, None] / n_slices + gather_l2 * b_miss + c_bytes).ravel(),
    }
    amounts["link"] = amounts["l2"]
    fill = np.full(amounts["math"].size, index_s)
    amounts[LATENCY] = np.repeat(latency, n_slices)
    amounts["ctas"] = ctas
    notes = [f"B-row gathers hit L2 {1 - miss:.0%} (reuse distances of the pattern, sampled; "
             f"B row = {fetch.sum():,.0f} B in {machine.hw.sector_bytes}-B sectors)"]
    if merged > 1:
        notes.append(f"{ctas:,} CTAs scheduled as {fill.size:,} units of {merged} consecutive row blocks")
    return amounts, fill, notes


def _issue_flops(flops: np.ndarray, work: KernelWork, machine: Machine, rates: dict) -> np.ndarray:
    """Math-pipe time, as FLOPs, of the issue work per stored nonzero of a CSR/COO CTA.

    A CTA handles ``flops / (2 · columns)`` nonzeros of its N-slice; each costs
    ``gather_nonzero_cycles`` SM cycles however narrow the slice, which is why an SpMM
    with N = 16 costs nearly as much per nonzero as one with N = 128 (H200 atlas,
    sparsim/validate/data/h200-2026-11-29: cuSPARSE CSR_ALG2 ~41 ps per nonzero at N = 16).
    """
    cols_per_cta = work.n / b_row_slices(work, cta_of(work, machine).columns, machine.hw.sector_bytes)[0].size
    nonzeros = flops / (2.0 * cols_per_cta)
    return nonzeros * machine.params["gather_nonzero_cycles"] * rates["math"] / machine.clock_hz


def plan_gather(work: KernelWork, machine: Machine, seed: int = 0):
    """The engine :class:`Program` of a gather kernel on a GPU, with CTA count and notes."""
    spec = work.spec
    if not spec.is_gather:
        gathers = ", ".join(name for name, k in KERNEL_OBJECTS.items() if k.is_gather)
        raise SparsimError(f"--kernel: got {work.kernel!r}; allowed: {gathers}")
    cta = cta_of(work, machine)
    warps = cta.warps
    occ = machine.occupancy(threads=32 * warps, smem_bytes=cta.smem_bytes, regs_per_thread=cta.registers_per_thread)
    rates = _rates(work, machine)
    sms = machine.sm_count
    slots = sms * occ
    if spec.split == "nonzeros":  # COO: equal CTAs
        amounts, fill_s, notes = _coo(work, machine, seed, warps)
        amounts["math"] = amounts["math"] + float(_issue_flops(np.array([amounts["math"]]), work, machine, rates)[0])
        ctas = amounts.pop("ctas")
        groups, classes = uniform_slots(ctas, sms=sms, occupancy=occ, cta=amounts, fill_s=fill_s)
    else:
        amounts, fill, notes = _per_cta(work, machine, seed)
        if spec.split == "rows":  # CSR: per-nonzero issue work (see _issue_flops)
            amounts["math"] = amounts["math"] + _issue_flops(amounts["math"], work, machine, rates)
        ctas = int(amounts.pop("ctas"))
        duration = np.maximum.reduce([
            amounts["math"] * occ / rates["math"], amounts[LATENCY],
            amounts["l2"] * slots / rates["l2"],
            amounts["hbm"] * slots / rates["hbm"],
            amounts["link"] * occ / rates["link"],
        ])
        groups, classes = greedy_slots(amounts, duration_s=duration, fill_s=fill, sms=sms, occupancy=occ)
        mean = float(duration.mean())
        notes.append(f"longest CTA: {duration.max() / mean if mean else 1.0:.1f}x the mean CTA's estimated time "
                     f"(row imbalance; a long one becomes the tail)")
    program = Program(groups=groups, slot_classes=classes, launch_s=machine.launch_s, rates=rates)
    waves = ctas / slots
    notes.insert(0, (f"{work.kernel.upper()} SpMM: {warps} warps/CTA, {min(cta.columns, work.n)} columns of B per CTA, "
                     f"{occ} CTA/SM; {ctas:,} CTAs = {waves:.2f} waves of {slots}"))
    return KernelPlan(program=program, ctas=ctas, waves=waves, notes=tuple(notes))


def _coo(work: KernelWork, machine: Machine, seed: int, warps: int):
    st = work.stats
    cta = cta_of(work, machine)
    cols, fetch = b_row_slices(work, cta.columns, machine.hw.sector_bytes)
    n_slices = cols.size
    # Nonzero-split kernels size the grid to the device and cut the nonzeros into equal
    # chunks (merge-based SpMV, Merrill & Garland, SC 2016): at most COO_CHUNK each, and
    # enough chunks to give every resident slot one. (Fixed 1024-nonzero chunks left a
    # small matrix on a few SMs, where twice the nonzeros, on twice the SMs, ran faster.)
    slots = machine.sm_count * machine.occupancy(threads=32 * warps, smem_bytes=cta.smem_bytes,
                                                 regs_per_thread=cta.registers_per_thread)
    chunks = max(1, min(st.nnz, max(math.ceil(st.nnz / COO_CHUNK), slots // n_slices)))
    ctas = chunks * n_slices
    gather = st.nnz * float(fetch.sum())
    miss = b_miss_ratio(work, cta.columns, machine.l2_usable_bytes, seed, machine.hw.sector_bytes)
    b_miss = max(miss, work.bytes_b / gather) if gather else 0.0
    out_row = work.bytes_c / work.m
    # atomics: every row a chunk touches, plus one split row per chunk boundary, read and written
    c_l2 = 2.0 * (st.m - st.empty_rows + chunks) * out_row
    index_s, first_s, data_s = _data_latency(work, machine)
    # every CTA but the last holds a full chunk: its warps set the latency
    per_warp = math.ceil(math.ceil(st.nnz / chunks) / warps)
    chain = float(chain_s(per_warp, depth=work.dependent_access_depth, index_s=index_s, first_s=first_s,
                          data_s=data_s, in_flight=machine.params["gather_loads_in_flight"]))
    totals = {
        "math": 2.0 * st.nnz * work.n,
        "l2": work.bytes_a * n_slices + gather + c_l2,
        "hbm": work.bytes_a + gather * b_miss + work.bytes_c,
    }
    amounts = {f: v / ctas for f, v in totals.items()}
    amounts["link"] = amounts["l2"]
    amounts[LATENCY] = max(chain - index_s, 0.0)
    amounts["ctas"] = ctas
    notes = [f"B-row gathers hit L2 {1 - miss:.0%} (reuse distances of the pattern, sampled)",
             "nonzero-split: CTAs carry equal work whatever the row lengths"]
    return amounts, index_s, notes


