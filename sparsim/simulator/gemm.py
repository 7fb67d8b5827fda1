"""Tensor-core GEMM kernels (dense, channel-pruned, 2:4/1:2): the candidate search and the plan.

What one candidate tile is and what it moves (the mapping onto CTAs, traffic, Hopper
clusters, latency) is :mod:`~sparsim.simulator.gemm_tile`; this module picks the
candidate the library runs and turns it into the engine program and its notes.

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
* every k-tile round trip waits the DRAM latency (see **Latency** in
  :mod:`~sparsim.simulator.gemm_tile`);
* DRAM re-reads of a panel only grow with the grid (see **Traffic** there).

The same holds across profiles: a profile better in one resource (bandwidth, rate,
latency, L2 size) makes no candidate slower, so the minimum is no slower either.

**Split-K** (cuBLAS/CUTLASS ``GemmSplitKParallel``): when there are fewer output tiles
than SMs, K can be cut into slices (the call's ``split_k``, never more than one per
k-tile); each CTA writes fp32 partials and a second kernel reduces them (its launch
included). cuSPARSELt does not split K unless asked (``CUSPARSELT_MATMUL_SPLIT_K``, set by
``cusparseLtMatmulSearch``). ``tiles`` and ``splits`` arguments replace the candidate lists.

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

from ..models.work import KernelWork
from .dispatch import LATENCY, uniform_slots
from .engine import Program, SimResult, simulate
from .gemm_tile import (GemmTile, GemmTraffic, _call, _m_eff, _tile, gemm_traffic, make_tile,  # noqa: F401
                        tma_multicast)
from .machine import Machine
from .plan import KernelPlan

__all__ = ["GemmCandidate", "GemmTile", "candidates", "choose_tile", "gemm_traffic", "lower_bound_s", "make_tile",
           "plan_gemm", "search"]


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
