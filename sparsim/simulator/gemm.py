"""Tensor-core GEMM kernels (dense, channel-pruned, 2:4/1:2): tile choice, traffic, CTAs.

**Mapping.** cuBLAS and CUTLASS compute C in CTA tiles of ``tile_m × tile_n``, looping over
K in steps of ``tile_k`` with a multistage shared-memory pipeline (cp.async on Ampere,
TMA on Hopper). The candidate tiles are the ones NVIDIA's "Matrix Multiplication
Background User's Guide" lists for cuBLAS (256×128, 128×256, 128×128, 256×64, 64×256,
128×64, 64×128, 64×64) plus the narrow ones cuBLAS uses for skinny N; ``tile_k`` is 128
bytes of K (64 fp16, 32 tf32: CUTLASS's default ``128x256x64`` / ``128x128x32``); the
stage count is as many as fit 90% of shared memory, 2 to 6 (CUTLASS sm80 kernels use 3-6).
Warps: 8 for 128×256-sized tiles, else 4 (CUTLASS 64×64 warp tiles). Occupancy follows
from shared memory, warps and registers (fp32 accumulators + 64 per thread). The kernel
picks the tile with the lowest estimated time (wave-quantized math, L2, HBM, latency),
the way cuBLAS's heuristics trade tile efficiency against wave quantization. The tile
depends on M and N only (estimated at K = 4096), so time never drops as K grows.

**Split-K** (cuBLAS/CUTLASS ``GemmSplitKParallel``): when there are fewer output tiles
than SMs, K can be cut into slices (1, 2, 3, 4, 6, 8, 12 or 16, never more than one per
k-tile); each CTA writes fp32 partials and a second kernel reduces them. The split is
chosen with the tile, by the same estimate (its reduction kernel and launch included).
cuSPARSELt does not split K unless asked (``CUSPARSELT_MATMUL_SPLIT_K``, set by
``cusparseLtMatmulSearch``), so 2:4/1:2 never does; their tiles are those of CUTLASS's
sm80 sparse GEMMs (N ≥ 64).

**Traffic.** Every CTA reads its A panel (tile_m × K) and B panel (K × tile_n) through
L2: L2 bytes = tiles_n·A + tiles_m·B + C. DRAM sees each operand once if A and B fit in
L2; otherwise once per *wave*: the CTAs resident together cover a compact block of tiles
(CUTLASS threadblock swizzle, cuBLAS rasterization) and share panels while they walk K
in near lockstep, so each wave reads its ``w_m`` A panels and ``w_n`` B panels.

**Hopper clusters.** On Hopper, CUTLASS 3 / cuBLAS kernels launch CTAs in 2×1 clusters
whose TMA loads multicast the shared B tile to both CTAs: L2 reads B once per pair
(each SM still receives its full tiles over its own L2 port). Hopper is recognised by the
profile's compute capability (9.x); a profile that omits it gets no clusters.

**Latency.** A CTA first waits one load latency (the pipeline fill), then streams: with
``stages - 1`` k-tiles in flight, each round trip of the average load latency covers
that many k-tiles (Little's law).

>>> from sparsim.models import build_work
>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.simulator.params import resolve_params
>>> hw = load_profile("h100-sxm5-80gb")
>>> t = choose_tile(build_work("dense", m=8192, k=8192, n=8192), hw, resolve_params())
>>> (t.m, t.n, t.k, t.stages, t.occupancy, t.split_k)
(128, 256, 64, 4, 1, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..dtypes import get_dtype
from ..hwprofiles import HardwareProfile
from ..models.formats import nm_metadata_bits
from ..models.work import KernelWork
from .dispatch import uniform_slots
from .engine import Program
from .plan import KernelPlan
from .roofline import math_peak

__all__ = ["DENSE_TILES", "SPARSE_TILES", "GemmTile", "choose_tile", "gemm_traffic", "make_tile", "plan_gemm"]

DENSE_TILES = ((256, 128), (128, 256), (128, 128), (256, 64), (64, 256), (128, 64), (64, 128), (64, 64),
               (128, 32), (64, 32), (128, 16), (64, 16))
SPARSE_TILES = ((256, 128), (128, 256), (128, 128), (256, 64), (128, 64), (64, 128), (64, 64))
#: K at which tiles are compared (the choice must not depend on K; see module docstring)
TILE_CHOICE_K = 4096
SPLITS = (1, 2, 3, 4, 6, 8, 12, 16)


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
    ctas: int
    k_iters: int  # k-tiles per CTA
    flops: float  # executed per CTA, tile padding included
    l2_bytes: float  # all CTAs
    link_bytes: float  # all CTAs, over the SMs' L2 ports (multicast counted per receiver)
    hbm_bytes: float  # all CTAs
    partial_bytes: float  # split-K fp32 partials written (0 without split)
    fill_s: float  # one load latency
    latency_s: float  # per CTA after the fill, latency-bound


def _efficiency(work: KernelWork, params: dict) -> float:
    return params[{"tensor": "tensor_efficiency", "sparse_tensor": "sparse_tensor_efficiency",
                   "vector": "vector_efficiency"}[work.math]]


def latencies(hw: HardwareProfile, params: dict) -> tuple[float, float]:
    """(L2 hit, DRAM) load latency in seconds, scaled by ``latency_scale``."""
    scale = params["latency_scale"]
    return hw.l2_latency_ns * 1e-9 * scale, hw.hbm_latency_ns * 1e-9 * scale


def occupancy(hw: HardwareProfile, *, threads: int, smem_bytes: int, regs_per_thread: int) -> int:
    """Resident CTAs per SM allowed by CTA slots, warps, shared memory and registers."""
    warps = -(-threads // 32)
    limits = [hw.max_ctas_per_sm, hw.max_warps_per_sm // warps,
              hw.registers_per_sm // (regs_per_thread * threads)]
    if smem_bytes > 0:
        limits.append(hw.shared_mem_per_sm_bytes // smem_bytes)
    return max(1, min(limits))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tma_multicast(hw: HardwareProfile) -> bool:
    """Hopper-class GPU (2-CTA clusters with TMA multicast); see the module docstring."""
    return hw.kind == "gpu" and hw.cc_major >= 9


def _m_eff(work: KernelWork) -> int:
    return work.m_effective or work.m


def _a_bytes_per_element(work: KernelWork) -> float:
    """Bytes of stored A per logical element (values and 2:4 metadata), without the
    rounding of the metadata to whole bytes, so operand bytes scale exactly with K."""
    b = get_dtype(work.dtype).bytes
    if work.math != "sparse_tensor":
        return float(b)
    keep, group = (int(x) for x in work.kernel.split(":"))
    return keep / group * (b + nm_metadata_bits(group) / 8)


def _tile(work: KernelWork, hw: HardwareProfile, shape: tuple[int, int], sparse: bool, split: int = 1) -> GemmTile:
    b = work.bytes_b / (work.k * work.n)  # element bytes of B
    tm, tn = shape
    tk = max(16, 128 // int(b))
    stage = tm * tk * _a_bytes_per_element(work) + tk * tn * b
    stages = int(min(6, max(2, 0.9 * hw.shared_mem_per_sm_bytes // stage)))
    warps = 8 if tm * tn >= 128 * 256 else 4
    threads = 32 * warps
    regs = min(255, tm * tn // threads + 64)
    smem = int(stages * stage)
    occ = occupancy(hw, threads=threads, smem_bytes=smem, regs_per_thread=regs)
    return GemmTile(tm, tn, tk, stages, warps, smem, occ, split, "cuSPARSELt" if sparse else "cuBLAS")


def gemm_traffic(work: KernelWork, hw: HardwareProfile, params: dict, tile: GemmTile, k: int | None = None) -> GemmTraffic:
    """Bytes, FLOPs and latencies of ``work`` run with ``tile`` (at ``k`` if given)."""
    k = work.k if k is None else k
    m, n = _m_eff(work), work.n
    b = get_dtype(work.dtype).bytes
    a_nominal = _a_bytes_per_element(work) * m * k
    # the real bytes (metadata rounded up) for traffic; the nominal ones for ratios
    a_total = max(a_nominal, float(work.bytes_a)) if k == work.k else a_nominal
    b_total = float(b) * k * n
    tiles_m, tiles_n = -(-m // tile.m), -(-n // tile.n)
    s = min(tile.split_k, -(-k // tile.k))
    ctas = tiles_m * tiles_n * s
    k_iters = _ceil_div(_ceil_div(k, tile.k), s)
    keep = 1.0
    if work.math == "sparse_tensor":  # issued MACs skip the pruned values (2:4 -> half)
        kept, group = (int(x) for x in work.kernel.split(":"))
        keep = kept / group
    flops = 2.0 * tile.m * tile.n * k_iters * tile.k * keep
    l2_capacity = hw.l2_bytes * params["l2_capacity_efficiency"]
    b_readers = -(-tiles_m // 2) if tma_multicast(hw) and tiles_m > 1 else tiles_m
    fits = a_nominal + b_total <= l2_capacity
    resident = max(1, min(tiles_m * tiles_n, hw.sm_count * tile.occupancy // s))
    w_m = min(tiles_m, max(1, round(math.sqrt(resident * tile.n / tile.m))))
    w_n = min(tiles_n, -(-resident // w_m))
    waves = -(-(tiles_m * tiles_n) // resident)

    def loads(a: float, b_: float) -> tuple[float, float, float]:
        """(L2 reads, SM-port reads, DRAM reads) of operands of a and b_ bytes."""
        l2 = tiles_n * a + b_readers * b_
        if fits:
            return l2, tiles_n * a + tiles_m * b_, a + b_
        # each wave reads its w_m A panels and w_n B panels once
        dram = waves * (w_m * a / tiles_m + w_n * b_ / tiles_n)
        return l2, tiles_n * a + tiles_m * b_, min(max(dram, a + b_), l2)

    l2_loads, port_loads, hbm_loads = loads(a_total, b_total)
    nominal_l2, _, nominal_hbm = loads(a_nominal, b_total)
    c_bytes = work.bytes_c
    partial = 0.0
    if s > 1:
        partial = s * m * n * 4.0  # fp32 partial tiles, reduced by a second kernel
        written = partial
        hbm = hbm_loads + (partial if partial > l2_capacity else 0.0)
    else:
        written = c_bytes
        hbm = hbm_loads + c_bytes
    lat_l2, lat_dram = latencies(hw, params)
    hit = 1.0 - min(1.0, nominal_hbm / nominal_l2) if nominal_l2 else 1.0
    load_latency = hit * lat_l2 + (1.0 - hit) * lat_dram
    rounds = -(-k_iters // max(1, tile.stages - 1))
    return GemmTraffic(ctas, k_iters, flops, l2_loads + written, port_loads + written, hbm, partial,
                       load_latency, rounds * load_latency)


def _rates(work: KernelWork, hw: HardwareProfile, params: dict) -> dict:
    return dict(
        sm_math_flops_per_s=math_peak(work, hw) * _efficiency(work, params) / hw.sm_count,
        sm_link_bytes_per_s=params["sm_l2_bytes_per_clk"] * hw.clock_hz,
        l2_bytes_per_s=hw.l2_bytes_per_s * params["l2_efficiency"],
        hbm_bytes_per_s=hw.hbm_bytes_per_s * params["hbm_efficiency"],
    )


def _estimate(t: GemmTraffic, tile: GemmTile, hw: HardwareProfile, rates: dict, launch_s: float) -> float:
    """Quick time estimate used only to rank tiles and splits."""
    per_sm = -(-t.ctas // hw.sm_count)
    waves = -(-t.ctas // (hw.sm_count * tile.occupancy))
    main = max(per_sm * t.flops / rates["sm_math_flops_per_s"],
               per_sm * t.link_bytes / t.ctas / rates["sm_link_bytes_per_s"],
               t.l2_bytes / rates["l2_bytes_per_s"], t.hbm_bytes / rates["hbm_bytes_per_s"],
               waves * (t.fill_s + t.latency_s))
    if t.partial_bytes:
        main += launch_s + t.partial_bytes / rates["l2_bytes_per_s"]
    return main


def choose_tile(work: KernelWork, hw: HardwareProfile, params: dict, *, tiles=None, splits=None) -> GemmTile:
    """The candidate tile and split with the lowest estimated time at K = :data:`TILE_CHOICE_K`.

    ``tiles`` and ``splits`` are a library's candidates (see :mod:`sparsim.impls`); by
    default the cuBLAS-like :data:`DENSE_TILES` with :data:`SPLITS`, or the sparse tiles
    without split-K. Near-ties (within 0.1%) go to the tile that pads less math, then to
    the earlier (larger) tile.
    """
    sparse = work.math == "sparse_tensor"
    rates = _rates(work, hw, params)
    launch = hw.launch_overhead_s * params["launch_scale"]
    best, best_key = None, (math.inf, math.inf)
    candidates = tiles if tiles is not None else (SPARSE_TILES if sparse else DENSE_TILES)
    split_options = splits if splits is not None else ((1,) if sparse else SPLITS)
    for shape in candidates:
        tiles_mn = -(-_m_eff(work) // shape[0]) * -(-work.n // shape[1])
        for split in split_options:
            if split > 1 and tiles_mn * (split - 1) >= hw.sm_count:
                break  # already enough CTAs to fill the machine without this split
            tile = _tile(work, hw, shape, sparse, split)
            t = gemm_traffic(work, hw, params, tile, k=TILE_CHOICE_K)
            est = _estimate(t, tile, hw, rates, launch)
            key = (est, t.flops * t.ctas)
            if key[0] < best_key[0] * (1 - 1e-3) or (key[0] <= best_key[0] * (1 + 1e-3) and key[1] < best_key[1]):
                best, best_key = tile, key
    return best


def make_tile(work: KernelWork, hw: HardwareProfile, shape: tuple[int, int], split: int = 1) -> GemmTile:
    """The tile of ``shape`` (stages, warps, occupancy derived as for the candidates)."""
    return _tile(work, hw, tuple(shape), work.math == "sparse_tensor", split)


def plan_gemm(work: KernelWork, hw: HardwareProfile, params: dict, tile: GemmTile | None = None):
    """The engine :class:`Program` of a tensor-core GEMM, with its tile and notes.

    ``tile`` forces a tile (see :func:`make_tile`) instead of :func:`choose_tile`'s.
    """


    tile = tile or choose_tile(work, hw, params)
    t = gemm_traffic(work, hw, params, tile)
    rates = _rates(work, hw, params)
    per_cta = dict(flops=t.flops, l2_bytes=t.l2_bytes / t.ctas, hbm_bytes=t.hbm_bytes / t.ctas,
                   link_bytes=t.link_bytes / t.ctas, latency_s=t.latency_s)
    groups, classes = uniform_slots(t.ctas, sms=hw.sm_count, occupancy=tile.occupancy, cta=per_cta,
                                    fill_s=t.fill_s)
    launch = hw.launch_overhead_s * params["launch_scale"]
    reduction, extra_l2, extra_hbm = 0.0, 0.0, 0.0
    s = t.ctas // (-(-_m_eff(work) // tile.m) * -(-work.n // tile.n))
    if s > 1:
        # second kernel: read the partials (from L2 if they fit), write C
        from_dram = t.partial_bytes if t.partial_bytes > hw.l2_bytes * params["l2_capacity_efficiency"] else 0.0
        reduction = launch + max(t.partial_bytes / rates["l2_bytes_per_s"],
                                 (from_dram + work.bytes_c) / rates["hbm_bytes_per_s"])
        extra_l2, extra_hbm = t.partial_bytes + work.bytes_c, from_dram + work.bytes_c
    program = Program(groups=groups, slot_classes=classes, launch_s=launch, reduction_s=reduction, **rates)
    slots = hw.sm_count * tile.occupancy
    waves = t.ctas / slots
    notes = [f"{tile.library} tile {tile.m}x{tile.n}x{tile.k}, {tile.stages} stages, {tile.warps} warps, "
             f"{tile.occupancy} CTA/SM; {t.ctas:,} CTAs = {waves:.2f} waves of {slots}"
             + (f"; split-K {s} (+ reduction kernel)" if s > 1 else "")
             + ("; 2x1 clusters multicast B" if tma_multicast(hw) else "")]
    padded = t.flops * t.ctas / max(work.flops_executed, 1)
    if padded > 1.05:
        notes.append(f"tile padding: the MMAs issue {padded:.2f}x the executed FLOPs (M, N or K not a tile multiple)")
    return KernelPlan(program=program, ctas=t.ctas, waves=waves, notes=tuple(notes),
                      extra_l2_bytes=extra_l2, extra_hbm_bytes=extra_hbm)
