"""Tensor-core GEMM kernels (dense, channel-pruned, 2:4/1:2): tile choice, traffic, CTAs.

**Mapping.** cuBLAS and CUTLASS compute C in CTA tiles of ``tile_m × tile_n``, looping over
K in steps of ``tile_k`` with a multistage shared-memory pipeline (cp.async on Ampere,
TMA on Hopper). The candidate tiles and split-K slices are implementation data with
their sources (``sparsim/impls/data``: cuBLAS's are the ones NVIDIA's "Matrix
Multiplication Background User's Guide" lists, plus the narrow ones cuBLAS uses for
skinny N; the machine's library call carries them, and a bare machine gets the reference
implementation's); ``tile_k`` is 128
bytes of K (64 fp16, 32 tf32: CUTLASS's default ``128x256x64`` / ``128x128x32``); the
stage count is as many as fit 90% of shared memory, 2 to 6 (CUTLASS sm80 kernels use 3-6).
Warps: 8 for 128×256-sized tiles, else 4 (CUTLASS 64×64 warp tiles). Occupancy follows
from shared memory, warps and registers (fp32 accumulators + 64 per thread).

**Choice: the fastest candidate, by the engine itself.** The library runs the candidate
(tile, split) that the engine simulates fastest, the way cuBLAS's heuristics trade tile
efficiency against wave quantization, but without a separate estimate that can disagree
with the simulation. (A quick estimate at a fixed K = 4096 used to pick split-K 6 with
1.5× padding for 512×512×128, 6.9 µs, while 1024×512×128 got 4.0 µs: more work, less
time.) :func:`search` simulates the candidates in order of a lower bound of their
simulated time (:func:`lower_bound_s`) and stops when the next bound reaches the best
time found, so the result is the exact minimum while usually one candidate is simulated.

Why that is monotone: a minimum over a fixed set of candidates of times that each grow
with M, N and K grows too. So (1) the candidate set only shrinks as the problem grows
(:func:`candidates` offers a split only while ``tiles · (split - 1) < SMs``, which does
not depend on K), and (2) each candidate's simulated time grows with M, N and K:

* every CTA is charged a *full* tile, ``min(tile, dim)`` rows and columns and its whole
  K range: the grid is costed as the problem padded to whole tiles, and padded sizes
  only grow. (Identical CTAs carrying the grid's *average* made every CTA lighter when
  the grid grew by a partial edge tile.) The bytes reported are those really moved;
* every k-tile round trip waits the DRAM latency (see **Latency**);
* DRAM re-reads of a panel only grow with the grid (see **Traffic**).

The same holds across profiles: a profile better in one resource (bandwidth, rate,
latency, L2 size) makes no candidate slower, so the minimum is no slower either.

**Split-K** (cuBLAS/CUTLASS ``GemmSplitKParallel``): when there are fewer output tiles
than SMs, K can be cut into slices (the call's ``split_k``, never more than one per
k-tile); each CTA writes fp32 partials and a second kernel reduces them (its launch
included). cuSPARSELt does not split K unless asked (``CUSPARSELT_MATMUL_SPLIT_K``, set by
``cusparseLtMatmulSearch``). ``tiles`` and ``splits`` arguments replace the candidate lists.

**Traffic.** Every CTA reads its A panel (tile_m × K) and B panel (K × tile_n) through
L2: L2 bytes = tiles_n·A + tiles_m·B + C. DRAM sees each operand once if A and B fit in
L2; otherwise once per *wave*: the CTAs resident together cover a compact block of tiles
(CUTLASS threadblock swizzle, cuBLAS rasterization) and share panels while they walk K
in near lockstep. A wave spans ``w_m`` rows by ``w_n`` columns of tiles (as square as
its slots allow), or all the rows (columns) a narrow (short) grid has room for, so A is
read ``tiles_n / span_n`` times and B ``tiles_m / span_m`` times (at least once).

**Hopper clusters.** On Hopper, CUTLASS 3 / cuBLAS kernels launch CTAs in 2×1 clusters
whose TMA loads multicast the shared B tile to both CTAs: L2 reads B once per pair
(each SM still receives its full tiles over its own L2 port). Hopper is recognised by the
profile's compute capability (9.x); a profile that omits it gets no clusters.

**Latency.** A CTA first waits one load latency (the pipeline fill), then streams: with
``stages - 1`` k-tiles in flight, each round trip covers that many k-tiles (Little's
law). The round trip is the DRAM latency: CTAs sharing a panel ask for each k-tile at
nearly the same time and all wait for its one DRAM fetch (misses to a line in flight
merge in L2); an average over later hits let one CTA's latency fall as more CTAs shared
its panels. A kernel whose implementation data gives its own K loop (``pipeline``: warps,
K per round, stages; tinygemm loads straight into registers without prefetch, stages 1)
runs that instead, and without prefetch each round also waits for the warp's own
compute (:func:`~sparsim.simulator.quantized.serial_round_s`).

>>> from sparsim.models import build_work
>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.simulator.machine import Machine
>>> from sparsim.simulator.params import resolve_params
>>> machine = Machine.build(load_profile("h100-sxm5-80gb"), resolve_params())
>>> t = choose_tile(build_work("dense", m=8192, k=8192, n=8192), machine)
>>> (t.m, t.n, t.k, t.stages, t.occupancy, t.split_k)
(128, 256, 64, 4, 1, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..dtypes import get_dtype
from ..hwprofiles import HardwareProfile
from ..models.formats import nm_metadata_bits
from ..models.work import KernelWork
from .dispatch import LATENCY, uniform_slots
from .engine import Program, SimResult, simulate
from .l2state import resident_fraction
from .machine import Machine
from .plan import KernelPlan
from .quantized import serial_round_s

__all__ = ["GemmCandidate", "GemmTile", "candidates", "choose_tile", "gemm_traffic", "lower_bound_s", "make_tile",
           "plan_gemm", "search"]


def _call(work: KernelWork, machine: Machine, *, with_tiles: bool = False):
    """The library call whose plan data (tiles, split-K, library) a GEMM runs: the
    machine's, or for a bare machine (or, ``with_tiles``, a rule that names no tiles) the
    reference implementation's."""
    if machine.call is not None and not (with_tiles and machine.call.tiles is None):
        return machine.call
    from .library import library_call

    return library_call("reference", work.kernel, work.dtype, machine.hw)


@dataclass(frozen=True)
class GemmTile:
    m: int
    n: int
    k: int
    stages: int
    warps: int
    smem_bytes: int
    occupancy: int  # resident CTAs per SM
    split_k: int
    library: str


@dataclass(frozen=True)
class GemmTraffic:
    """What one tile and split cost. Every CTA is charged a *full* tile: ``min(tile, dim)``
    rows and columns and its whole K range, i.e. the problem padded to whole tiles (see
    the module docstring); the ``*_moved`` fields are the bytes without that padding."""

    ctas: int
    k_iters: int  # k-tiles per CTA
    flops: float  # executed per CTA, tile padding included
    l2_bytes: float  # all CTAs
    link_bytes: float  # all CTAs, over the SMs' L2 ports (multicast counted per receiver)
    hbm_bytes: float  # all CTAs
    partial_bytes: float  # split-K fp32 partials written (0 without split)
    fill_s: float  # one load latency
    latency_s: float  # per CTA after the fill, latency-bound
    #: bytes really moved: edge tiles load only their own rows and columns (TMA and
    #: cp.async fill out-of-bounds elements with zeros without a memory read)
    l2_bytes_moved: float = 0.0
    hbm_bytes_moved: float = 0.0
    partial_bytes_moved: float = 0.0
    #: CUDA-core instructions per CTA dequantizing its A tile (quantized weights only)
    alu_ops: float = 0.0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tma_multicast(hw: HardwareProfile) -> bool:
    """Hopper-class GPU (2-CTA clusters with TMA multicast); see the module docstring."""
    return hw.kind == "gpu" and hw.cc_major >= 9


def _m_eff(work: KernelWork) -> int:
    return work.m_effective or work.m


def _a_bytes_per_element(work: KernelWork) -> float:
    """Bytes of stored A per logical element (values and 2:4 metadata), without the
    rounding of the metadata to whole bytes, so operand bytes scale exactly with K.
    Quantized weights carry their own figure (values, metadata, scales, zeros)."""
    if work.a_element_bytes:
        return work.a_element_bytes
    b = get_dtype(work.dtype).bytes
    if work.math != "sparse_tensor":
        return float(b)
    keep, group = work.spec.keep, work.spec.group
    return keep / group * (b + nm_metadata_bits(group) / 8)


def _tile(work: KernelWork, machine: Machine, shape: tuple[int, int], split: int = 1) -> GemmTile:
    b = work.bytes_b / (work.k * work.n)  # element bytes of B
    tm, tn = shape
    call = _call(work, machine)
    own = getattr(call, "pipeline", None)  # a kernel's own K loop (implementation data)
    if own is not None:
        tk, stages, warps, smem = own.tile_k, own.stages, own.warps, own.smem_bytes
    else:
        tk = max(16, 128 // int(b))
        stage = tm * tk * _a_bytes_per_element(work) + tk * tn * b
        stages = int(min(6, max(2, 0.9 * machine.hw.shared_mem_per_sm_bytes // stage)))
        warps = 8 if tm * tn >= 128 * 256 else 4
        smem = int(stages * stage)
    threads = 32 * warps
    regs = min(255, tm * tn // threads + 64)
    occ = machine.occupancy(threads=threads, smem_bytes=smem, regs_per_thread=regs)
    return GemmTile(tm, tn, tk, stages, warps, smem, occ, split, call.plan_library)


def _panel_reads(machine: Machine, tile: GemmTile, tiles_m: int, tiles_n: int, split: int) -> tuple[float, float]:
    """How many times DRAM serves each A and B panel when the operands do not fit in L2.

    The block of tiles one wave covers (threadblock swizzle): as square as the slots
    allow (w_m x w_n tiles), or all the rows (columns) a narrow (short) grid has room
    for. A wave reads each of its panels once, so A is read once per span_n columns of
    tiles and B once per span_m rows; the spans shrink as the grid widens (lengthens),
    so the re-reads only grow with M and N.
    """
    slots = max(1, machine.sm_count * tile.occupancy // split)
    w_m = max(1, round(math.sqrt(slots * tile.n / tile.m)))
    w_n = -(-slots // w_m)
    return max(1.0, tiles_n / max(w_n, slots / tiles_m)), max(1.0, tiles_m / max(w_m, slots / tiles_n))


def gemm_traffic(work: KernelWork, machine: Machine, tile: GemmTile) -> GemmTraffic:
    """Bytes, FLOPs and latencies of ``work`` run with ``tile``."""
    k, m, n = work.k, _m_eff(work), work.n
    tiles_m, tiles_n = -(-m // tile.m), -(-n // tile.n)
    s = min(tile.split_k, -(-k // tile.k))
    ctas = tiles_m * tiles_n * s
    k_iters = _ceil_div(_ceil_div(k, tile.k), s)
    keep = 1.0
    if work.math == "sparse_tensor":  # issued MACs skip the pruned values (2:4 -> half)
        keep = work.spec.keep / work.spec.group
    flops = 2.0 * tile.m * tile.n * k_iters * tile.k * keep
    # The engine's CTAs are identical, so each is the slowest one, a full tile: the grid
    # is costed as the problem padded to whole tiles of min(tile, dim). Per-CTA averages
    # made every CTA lighter when the grid grew by a partial edge tile, and more work
    # ran faster. Padded dimensions only grow with M, N and K.
    padded_m, padded_n = tiles_m * min(tile.m, m), tiles_n * min(tile.n, n)
    padded_k = s * min(k_iters * tile.k, k)
    a_element = _a_bytes_per_element(work)  # the report uses work.bytes_a (metadata rounded up)
    b_element = float(get_dtype(work.dtype).bytes)
    c_element = work.bytes_c / (m * n)
    l2_capacity = machine.l2_usable_bytes
    # Clusters of 2 CTAs along M read each B tile once from L2 for both; every CTA is
    # charged half (an odd last one really reads it alone: the report counts that).
    multicast = tma_multicast(machine.hw)
    b_readers = tiles_m / 2 if multicast else tiles_m
    b_readers_moved = -(-tiles_m // 2) if multicast and tiles_m > 1 else tiles_m
    fits = (a_element * padded_m + b_element * padded_n) * padded_k <= l2_capacity
    a_reads, b_reads = _panel_reads(machine, tile, tiles_m, tiles_n, s)
    # warm L2 (back-to-back calls): the share of A, B and C that the previous call left
    # in L2 is not read from (or written back to) DRAM (sparsim.simulator.l2state)
    resident = resident_fraction(machine, work.bytes_a + work.bytes_b + work.bytes_c)

    def costs(m_: int, n_: int, k_: int, b_readers: float, a: float) -> tuple[float, float, float, float]:
        """(L2, port, DRAM, partial) bytes of an m_ x n_ x k_ problem (A of ``a`` bytes) on this grid."""
        b = b_element * k_ * n_
        l2 = tiles_n * a + b_readers * b
        if fits:
            dram = a + b
        else:
            dram = min(a * a_reads + b * b_reads, tiles_n * a + max(1.0, b_readers) * b)
        if s > 1:
            partial = s * m_ * n_ * 4.0  # fp32 partial tiles, reduced by a second kernel
            written, dram = partial, dram + (partial if partial > l2_capacity else 0.0)
        else:
            partial = 0.0
            written = c_element * m_ * n_
            dram += written
        dram -= resident * (a + b + (written if s == 1 else 0.0))
        return l2 + written, tiles_n * a + tiles_m * b + written, dram, partial

    l2, port, hbm, partial = costs(padded_m, padded_n, padded_k, b_readers, a_element * padded_m * padded_k)
    l2_moved, _, hbm_moved, partial_moved = costs(m, n, k, b_readers_moved, max(a_element * m * k, work.bytes_a))
    # Every k-tile round trip waits the DRAM latency, not an average over L2 hits: the
    # CTAs that share a panel run in the same wave and walk K in near lockstep, so they
    # ask for each k-tile within a few hundred ns of each other and all wait for the one
    # DRAM fetch (misses to a line in flight merge in L2). A hit-rate average made the
    # latency of one CTA fall as more CTAs shared its panels: more work ran faster.
    load_latency = machine.dram_latency_s + resident * (machine.l2_latency_s - machine.dram_latency_s)
    rounds = -(-k_iters // max(1, tile.stages - 1))
    alu = tile.m * k_iters * tile.k * work.dequant_ops  # each CTA dequantizes its whole A panel
    round_s = load_latency + (serial_round_s(work, machine, tile, flops / k_iters) if tile.stages == 1 else 0.0)
    return GemmTraffic(ctas, k_iters, flops, l2, port, hbm, partial, load_latency, rounds * round_s,
                       l2_moved, hbm_moved, partial_moved, alu)



def _rates(work: KernelWork, machine: Machine) -> dict:
    """Pool rates by kind (:data:`~sparsim.simulator.engine.POOL_KINDS`)."""
    rates = {"math": machine.sm_math_flops_per_s(work), "link": machine.sm_link_bytes_per_s,
             "l2": machine.l2_bytes_per_s, "hbm": machine.hbm_bytes_per_s}
    if work.dequant_ops:  # quantized weights: dequantized on the CUDA cores beside the MMAs
        from .quantized import sm_alu_ops_per_s

        rates["alu"] = sm_alu_ops_per_s(machine)
    return rates


@dataclass(frozen=True)
class GemmCandidate:
    """One tile and split mapped onto the machine, before it is simulated."""

    index: int  # position in the candidate list (ties go to the earlier one)
    tile: GemmTile
    traffic: GemmTraffic
    split_k: int  # effective slices (at most one per k-tile)
    reduction_s: float  # the split-K reduction kernel, launch included (0 without split)
    #: bytes the report adds to what the engine's pools serve: the reduction kernel's,
    #: less the tile padding the CTAs are charged (:class:`GemmTraffic`)
    extra_l2_bytes: float
    extra_hbm_bytes: float
    #: a time the engine cannot beat for this candidate (:func:`lower_bound_s`)
    bound_s: float


def lower_bound_s(t: GemmTraffic, tile: GemmTile, machine: Machine, rates: dict, reduction_s: float) -> float:
    """A time :func:`~sparsim.simulator.engine.simulate` never beats for this candidate.

    The engine starts every slot after the launch with a pipeline fill, in which no
    pool is used, and runs the reduction after the last CTA; in between no pool serves
    more than its rate and no slot runs faster than its own phases allow. So after the
    fill the kernel body lasts at least as long as each of: the busiest SM's math and
    L2-port work at its pipe's rate (it gets ``ceil(CTAs / SMs)`` CTAs,
    :func:`~sparsim.simulator.dispatch.uniform_slots`), all L2 and DRAM bytes at the pool
    rates, and the busiest slot's CTAs one after another, each at its own ceiling (math
    alone or Little's law), after its later exposed fills.
    """
    per_sm = -(-t.ctas // machine.sm_count)
    per_slot = -(-per_sm // min(per_sm, tile.occupancy))
    later_fills = 0.0 if tile.occupancy > 1 else (per_slot - 1) * t.fill_s  # dispatch._serial_phases
    cta_flops = t.flops / rates["math"]
    body = max(per_sm * cta_flops,
               per_sm * t.link_bytes / t.ctas / rates["link"],
               t.l2_bytes / rates["l2"], t.hbm_bytes / rates["hbm"],
               later_fills + per_slot * max(cta_flops, t.latency_s))
    return machine.launch_s + t.fill_s + body + reduction_s


def candidates(work: KernelWork, machine: Machine, *, tiles: tuple | None = None,
               splits: tuple | None = None) -> list[tuple[tuple[int, int], int]]:
    """(tile shape, split) pairs the library may run ``work`` with, in preference order.

    ``tiles`` and ``splits`` default to the machine's library call's (implementation
    data; a bare machine: the reference implementation's). A split is offered only
    while the output tiles leave SMs idle (``tiles · (split - 1) < SMs``), so the set
    only shrinks as M or N grows and does not depend on K (see the module docstring).
    """
    call = _call(work, machine) if not (tiles and splits) else None
    splits = splits or call.split_k
    tiles = tiles or _call(work, machine, with_tiles=True).tiles
    out = []
    for shape in tiles:
        output_tiles = -(-_m_eff(work) // shape[0]) * -(-work.n // shape[1])
        out.extend((tuple(shape), split) for split in splits
                   if split == 1 or output_tiles * (split - 1) < machine.sm_count)
    return out


def _candidate(work: KernelWork, machine: Machine, rates: dict, tile: GemmTile, index: int = 0) -> GemmCandidate:
    t = gemm_traffic(work, machine, tile)
    # the report counts bytes moved, not the padding the uniform CTAs are charged
    reduction, extra_l2, extra_hbm = 0.0, t.l2_bytes_moved - t.l2_bytes, t.hbm_bytes_moved - t.hbm_bytes
    s = t.ctas // (-(-_m_eff(work) // tile.m) * -(-work.n // tile.n))
    if s > 1:
        # second kernel: read the partials (from L2 if they fit), write C
        in_dram = t.partial_bytes > machine.l2_usable_bytes
        reduction = machine.launch_s + max(t.partial_bytes / rates["l2"],
                                           (in_dram * t.partial_bytes + work.bytes_c) / rates["hbm"])
        extra_l2 += t.partial_bytes_moved + work.bytes_c
        extra_hbm += in_dram * t.partial_bytes_moved + work.bytes_c
    return GemmCandidate(index, tile, t, s, reduction, extra_l2, extra_hbm,
                         lower_bound_s(t, tile, machine, rates, reduction))


def _program(c: GemmCandidate, machine: Machine, rates: dict) -> Program:
    """The engine program of candidate ``c``: identical CTAs dispatched exactly."""
    t = c.traffic
    per_cta = {"math": t.flops, "l2": t.l2_bytes / t.ctas, "hbm": t.hbm_bytes / t.ctas,
               "link": t.link_bytes / t.ctas, LATENCY: t.latency_s}
    if t.alu_ops:
        per_cta["alu"] = t.alu_ops
    groups, classes = uniform_slots(t.ctas, sms=machine.sm_count, occupancy=c.tile.occupancy, cta=per_cta,
                                    fill_s=t.fill_s)
    return Program(groups=groups, slot_classes=classes, launch_s=machine.launch_s,
                   reduction_s=c.reduction_s, rates=rates)


def search(work: KernelWork, machine: Machine, *, tiles: tuple | None = None,
           splits: tuple | None = None) -> tuple[GemmCandidate, Program, SimResult, int, int]:
    """The candidate the engine runs fastest: (candidate, program, its simulation,
    candidates offered, candidates simulated).

    Branch and bound: candidates are simulated in order of :func:`lower_bound_s` (then
    less padded math, then list order) until the next bound reaches the best simulated
    time, so the answer is the minimum over all candidates (to 1e-9) while usually only
    one to three are simulated. A tie goes to the candidate simulated first.
    """
    rates = _rates(work, machine)
    offered, shapes, seen = [], {}, set()
    pairs = candidates(work, machine, tiles=tiles, splits=splits)
    for i, (shape, split) in enumerate(pairs):
        if shape not in shapes:
            shapes[shape] = _tile(work, machine, shape)
        base = shapes[shape]
        effective = min(split, -(-work.k // base.k))
        if (shape, effective) in seen:
            continue  # a split beyond the k-tiles is the same kernel as a smaller one
        seen.add((shape, effective))
        tile = base if split == 1 else replace(base, split_k=split)
        offered.append(_candidate(work, machine, rates, tile, i))
    best, best_time, simulated = None, math.inf, 0
    for c in sorted(offered, key=lambda c: (c.bound_s, c.traffic.flops * c.traffic.ctas, c.index)):
        if c.bound_s >= best_time * (1 - 1e-9):
            break
        program = _program(c, machine, rates)
        result = simulate(program, trace=False)
        simulated += 1
        if result.time_s < best_time:
            best, best_time = (c, program, result), result.time_s
    return (*best, len(pairs), simulated)


def choose_tile(work: KernelWork, machine: Machine, *, tiles: tuple | None = None,
                splits: tuple | None = None) -> GemmTile:
    """The candidate tile and split the engine runs fastest (see :func:`search`)."""
    return search(work, machine, tiles=tiles, splits=splits)[0].tile


def make_tile(work: KernelWork, machine: Machine, shape: tuple[int, int], split: int = 1) -> GemmTile:
    """The tile of ``shape`` (stages, warps, occupancy derived as for the candidates)."""
    return _tile(work, machine, tuple(shape), split)


def plan_gemm(work: KernelWork, machine: Machine, tile: GemmTile | None = None, *,
              tiles: tuple | None = None, splits: tuple | None = None, who: str | None = None,
              why: str | None = None):
    """The engine :class:`Program` of a tensor-core GEMM, with its tile and notes.

    ``tile`` forces a tile (see :func:`make_tile`) instead of the fastest candidate;
    ``tiles`` and ``splits`` replace the candidate lists (:func:`candidates`). ``who``
    names whose tile the note reports (default: the tile's library) and ``why`` says why a
    given ``tile`` runs (default: "tile forced").
    """
    if tile is None:
        c, program, result, offered, simulated = search(work, machine, tiles=tiles, splits=splits)
        tile = c.tile
        chosen = f"fastest of {offered} candidate tiles/splits ({simulated} simulated)"
    else:
        rates = _rates(work, machine)
        c = _candidate(work, machine, rates, tile)
        program, result, chosen = _program(c, machine, rates), None, why or "tile forced"
    t, s = c.traffic, c.split_k
    slots = machine.sm_count * tile.occupancy
    waves = t.ctas / slots
    notes = [f"{who or tile.library} tile {tile.m}x{tile.n}x{tile.k}, {tile.stages} stages, {tile.warps} warps, "
             f"{tile.occupancy} CTA/SM; {t.ctas:,} CTAs = {waves:.2f} waves of {slots}"
             + (f"; split-K {s} (+ reduction kernel)" if s > 1 else "")
             + ("; 2x1 clusters multicast B" if tma_multicast(machine.hw) else "")
             + f"; {chosen}"]
    padded = t.flops * t.ctas / max(work.flops_executed, 1)
    if padded > 1.05:
        notes.append(f"tile padding: the MMAs issue {padded:.2f}x the executed FLOPs (M, N or K not a tile multiple)")
    return KernelPlan(program=program, ctas=t.ctas, waves=waves, notes=tuple(notes),
                      extra_l2_bytes=c.extra_l2_bytes, extra_hbm_bytes=c.extra_hbm_bytes, result=result)
