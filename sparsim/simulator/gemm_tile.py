"""The tile and traffic model of a tensor-core GEMM: one CTA tile, what it moves, how long it waits.

A GEMM mapping (:mod:`~sparsim.simulator.gemm`) chooses among candidate tiles and
splits; this module says what one of them is on a machine (:func:`make_tile`: stages,
warps, shared memory, occupancy) and what it costs (:func:`gemm_traffic`: CTAs, FLOPs,
L2, port and DRAM bytes, pipeline fill and latency), for dense, channel-pruned, 2:4/1:2
and quantized-weight kernels alike.

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

An H100 multiplying two 8192×8192 fp16 matrices with cuBLAS's 128×256 tile: a grid of
64×32 tiles; L2 serves A once per column of tiles (32 × 128 MiB) and B once per 2×1
cluster (64 / 2 × 128 MiB), plus C (128 MiB):

>>> from sparsim.models import build_work
>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.simulator.machine import Machine
>>> from sparsim.simulator.params import resolve_params
>>> machine = Machine.build(load_profile("h100-sxm5-80gb"), resolve_params())
>>> work = build_work("dense", m=8192, k=8192, n=8192)
>>> tile = make_tile(work, machine, (128, 256))
>>> (tile.k, tile.stages, tile.warps, tile.occupancy)
(64, 4, 8, 1)
>>> t = gemm_traffic(work, machine, tile)
>>> t.ctas, t.k_iters, t.l2_bytes / 2**30, round(t.hbm_bytes / 2**30, 3)
(2048, 128, 8.125, 1.069)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..dtypes import get_dtype
from ..hwprofiles import HardwareProfile
from ..models.formats import nm_metadata_bits
from ..models.work import KernelWork
from .l2state import resident_fraction
from .machine import Machine
from .quantized import serial_round_s

__all__ = ["GemmTile", "GemmTraffic", "gemm_traffic", "make_tile", "tma_multicast"]


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


def make_tile(work: KernelWork, machine: Machine, shape: tuple[int, int], split: int = 1) -> GemmTile:
    """The tile of ``shape`` (stages, warps, occupancy derived as for the candidates)."""
    return _tile(work, machine, tuple(shape), split)
