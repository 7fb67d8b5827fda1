"""CTA dispatch: which SM runs which CTAs, folded into a few classes of identical slots.

The hardware block scheduler hands CTAs out in index order: the first wave breadth-first
over the SMs (CTA i of the first ``SMs`` goes to SM i), then each new CTA to the first
slot that frees up. A *slot* is one resident-CTA position: ``occupancy`` per SM.

* :func:`uniform_slots` does this exactly for identical CTAs (dense, 2:4, channel and
  COO kernels): every SM gets ``q`` or ``q+1`` CTAs. With 133 CTAs on 132 SMs one SM gets
  two, so the kernel takes two CTA-times: wave quantization (NVIDIA, "Matrix
  Multiplication Background User's Guide", Wave Quantization).
* :func:`greedy_slots` does it for CTAs of different cost (CSR rows of different
  lengths): greedy list scheduling on estimated durations (each CTA, in index order, to
  the slot that frees first; a heap over the slots). A long row lands on one slot and
  becomes the tail. SMs with the same number of working slots are then sorted by how
  late they finish and folded into a few groups, finer at the late end where the tail is
  decided; within a group the busiest slot of each SM is one class and its other working
  slots another. Each slot runs its earlier CTAs as one "bulk" flow, then its last CTA.
  Totals (FLOPs, bytes, CTAs) are conserved exactly by the folding.

>>> groups, classes = uniform_slots(133, sms=132, occupancy=1, cta=dict(math=1.0), fill_s=0.0)
>>> [(g.name, g.sms) for g in groups], [(c.name, len(c.phases)) for c in classes]
([('sms[2 ctas]', 1), ('sms[1 ctas]', 131)], [('g0.s0', 2), ('g1.s0', 1)])
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from .engine import Phase, SlotClass, SmGroup

__all__ = ["LATENCY", "MAX_SCHEDULED", "greedy_slots", "uniform_slots"]

#: A CTA's amounts are a mapping: the demand on each pool kind
#: (:data:`~sparsim.simulator.engine.POOL_KINDS`, e.g. ``math`` FLOPs, ``l2`` bytes) and,
#: under this key, its latency-bound duration (a ceiling, not an amount)
LATENCY = "latency_s"
# a slot running more identical CTAs than this in a row is folded into one flow
_EXPLICIT_CTAS = 3
#: CTAs the greedy scheduler places one by one (beyond: neighbours in pairs, fours, ...)
MAX_SCHEDULED = 2**15


def _phase_of(label: str, amounts: dict, wait_s: float, ctas: float) -> Phase:
    """A phase of ``amounts`` (pool kinds and :data:`LATENCY`) in all."""
    demand = {kind: amount for kind, amount in amounts.items() if kind != LATENCY}
    return Phase(label, wait_s=wait_s, ctas=ctas, demand=demand, latency_s=amounts.get(LATENCY, 0.0))


def _phase(label: str, amounts: dict, count: float, wait_s: float) -> Phase:
    """``count`` CTAs of ``amounts`` each, back to back, as one phase."""
    return _phase_of(label, {kind: amount * count for kind, amount in amounts.items()}, wait_s, count)


def _serial_phases(cta: dict, count: int, occupancy: int, fill_s: float) -> tuple[Phase, ...]:
    """A slot that runs ``count`` identical CTAs one after another."""
    if occupancy > 1:
        # Another resident CTA keeps the SM busy while a new one fills its pipeline, so
        # only the first fill is exposed (latency hiding across CTAs).
        return (_phase("ctas", cta, count, fill_s),)
    if count <= _EXPLICIT_CTAS:
        return tuple(_phase("cta", cta, 1, fill_s) for _ in range(count))
    # One CTA per SM: nothing overlaps a new CTA's fill; fold the middle CTAs.
    return (_phase("cta", cta, 1, fill_s), _phase("ctas", cta, count - 1, (count - 1) * fill_s))


def uniform_slots(n_ctas: int, *, sms: int, occupancy: int, cta: dict, fill_s: float):
    """SM groups and slot classes for ``n_ctas`` identical CTAs (amounts in ``cta``)."""
    q, extra = divmod(n_ctas, sms)
    groups, classes = [], []
    for count, n_sms in ((q + 1, extra), (q, sms - extra)):
        if n_sms == 0:
            continue
        g = len(groups)
        groups.append(SmGroup(f"sms[{count} ctas]", n_sms))
        if count == 0:
            continue
        active = min(count, occupancy)
        base, rem = divmod(count, active)
        for per_slot, n_slots in ((base + 1, rem), (base, active - rem)):
            if n_slots and per_slot:
                classes.append(SlotClass(f"g{g}.s{len([c for c in classes if c.group == g])}", g, n_slots,
                                         _serial_phases(cta, per_slot, occupancy, fill_s)))
    return tuple(groups), tuple(classes)


def _group_sizes(n: int, max_groups: int) -> list[int]:
    """Sizes of SM groups from the latest-finishing end: 1, 2, 4, ... then the rest."""
    sizes, size = [], 1
    while sum(sizes) < n and len(sizes) < max_groups - 1:
        sizes.append(min(size, n - sum(sizes)))
        size *= 2
    if sum(sizes) < n:
        sizes.append(n - sum(sizes))
    return sizes


def _greedy(duration_s: np.ndarray, fill_s: np.ndarray, slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy list scheduling: CTA i (in order) to the slot that frees first.

    Returns (slot of each CTA, finish time of each slot). The first ``slots`` CTAs fill
    the slots in order, as the block scheduler's first wave does.
    """
    n = len(duration_s)
    slot_of = np.empty(n, dtype=np.int64)
    first = min(n, slots)
    slot_of[:first] = np.arange(first)
    finish = np.zeros(slots)
    finish[:first] = duration_s[:first] + fill_s[:first]
    if n > first:
        heap = [(float(t), s) for s, t in enumerate(finish)]
        heapq.heapify(heap)
        durations = duration_s.tolist()
        out = slot_of.tolist()
        for i in range(first, n):
            t, s = heap[0]
            heapq.heapreplace(heap, (t + durations[i], s))
            out[i] = s
        slot_of = np.asarray(out, dtype=np.int64)
        for t, s in heap:
            finish[s] = t
    return slot_of, finish


def _paired(work: dict, duration_s, fill_s):
    """Above :data:`MAX_SCHEDULED` CTAs, neighbours in pairs (fours, ...): (work, durations,
    fills, CTAs per unit), same totals at a coarser granularity."""
    n = len(duration_s)
    pair = 1
    while n > MAX_SCHEDULED * pair:
        pair *= 2
    if pair > 1:
        index = np.arange(n) // pair
        duration_s = np.bincount(index, weights=duration_s)
        fill_s = np.bincount(index, weights=fill_s) / np.bincount(index)
        work = {f: np.bincount(index, weights=work[f]) for f in work}
    return work, np.asarray(duration_s, dtype=np.float64), np.asarray(fill_s, dtype=np.float64), pair


def greedy_slots(work: dict, *, duration_s: np.ndarray, fill_s: np.ndarray, sms: int, occupancy: int,
                 max_groups: int = 6):
    """SM groups and slot classes for CTAs of different cost, in dispatch order.

    ``work[kind]`` holds one amount per CTA for each pool kind and :data:`LATENCY`;
    ``duration_s`` is each CTA's estimated time on a loaded machine (for the schedule only).
    More than :data:`MAX_SCHEDULED` CTAs are scheduled in pairs of neighbours (same totals,
    twice the granularity), to bound the cost of the Python heap.
    """
    work, duration_s, fill_s, pair = _paired(work, duration_s, fill_s)
    n = len(duration_s)
    slots = sms * occupancy
    slot_of, finish = _greedy(duration_s, fill_s, slots)
    last = np.full(slots, -1, dtype=np.int64)
    last[slot_of] = np.arange(n)  # later CTAs overwrite earlier ones: each slot's last CTA
    used = last >= 0
    tail_idx = np.where(used, last, 0)
    totals = {f: np.bincount(slot_of, weights=work[f], minlength=slots) for f in work}
    tail = {f: np.where(used, work[f][tail_idx], 0.0) for f in work}
    bulk = {f: totals[f] - tail[f] for f in work}
    bulk_count = (np.bincount(slot_of, minlength=slots) - used) * pair
    first_fill = np.zeros(slots)
    first_fill[:min(n, slots)] = fill_s[:min(n, slots)]
    per_slot = _Slots(finish, used, bulk, tail, bulk_count, first_fill, pair)

    # slot s sits on SM s % sms. SMs with the same number of working slots are folded
    # together, latest-finishing first; the partition holding the latest SM gets the finest groups.
    per_sm_finish = finish.reshape(occupancy, sms).max(axis=0)
    per_sm_active = used.reshape(occupancy, sms).sum(axis=0)
    partitions = sorted(set(per_sm_active.tolist()), key=lambda a: -per_sm_finish[per_sm_active == a].max())
    groups, classes = [], []
    for rank, active in enumerate(partitions):
        members_all = np.flatnonzero(per_sm_active == active)
        members_all = members_all[np.argsort(-per_sm_finish[members_all], kind="stable")]
        start = 0
        for size in _group_sizes(members_all.size, max_groups if rank == 0 else 2):
            members = members_all[start:start + size]
            start += size
            g = len(groups)
            groups.append(SmGroup(f"sms[{active} busy slots, {g}]", size))
            if active:
                classes.extend(_group_classes(per_slot, g, members, active, sms, occupancy))
    return tuple(groups), tuple(classes)


@dataclass(frozen=True)
class _Slots:
    """Per slot (index s on SM s % sms): finish time, whether it works, the amounts of its
    earlier CTAs (bulk) and of its last one (tail), its bulk CTAs and its first fill."""

    finish: np.ndarray
    used: np.ndarray
    bulk: dict
    tail: dict
    bulk_count: np.ndarray
    first_fill: np.ndarray
    pair: int


def _group_classes(slot: _Slots, g: int, members: np.ndarray, active: int, sms: int, occupancy: int):
    """The slot classes of SM group ``g`` (SMs ``members``, ``active`` working slots each):
    the busiest slot of each SM, then its other working slots."""
    slot_ids = members[None, :] + sms * np.arange(occupancy)[:, None]  # (occupancy, size)
    ranked = np.take_along_axis(slot_ids, np.argsort(-slot.finish[slot_ids], axis=0, kind="stable"), axis=0)
    size = members.size
    for label, layer, per_sm_slots in (("busiest", ranked[:1].ravel(), 1),
                                       ("others", ranked[1:active].ravel(), active - 1)):
        if per_sm_slots == 0:
            continue
        share = 1.0 / (size * per_sm_slots)  # per-slot amount = class total × share
        bulk_amounts = {f: float(slot.bulk[f][layer].sum()) * share for f in slot.bulk}
        tail_amounts = {f: float(slot.tail[f][layer].sum()) * share for f in slot.tail}
        # A latency is a ceiling, not an amount: the class keeps its longest chain
        # (a mean hid a long row folded in with short ones, so adding rows whose
        # CTAs split the fold could make the kernel faster).
        bulk_amounts[LATENCY] = float(slot.bulk[LATENCY][layer].max())
        tail_amounts[LATENCY] = float(slot.tail[LATENCY][layer].max())
        n_bulk = float(slot.bulk_count[layer].sum()) * share
        fill = float(slot.first_fill[layer].mean())
        phases = []
        if n_bulk > 0:
            # with one CTA per SM nothing hides the fill of each later CTA
            bulk_wait = fill * (1.0 + n_bulk) if occupancy == 1 else fill
            phases.append(_phase_of("bulk", bulk_amounts, bulk_wait, n_bulk))
            fill = 0.0
        phases.append(_phase_of("tail", tail_amounts, fill, float(slot.pair)))
        yield SlotClass(f"g{g}.{label}", g, per_sm_slots, tuple(phases))
