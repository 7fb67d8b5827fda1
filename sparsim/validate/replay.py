"""Replaying a trace: the host thread and the GPU streams again, with some calls changed.

A step of eager PyTorch is a host thread issuing operators one after another and GPU
streams running what they launched, in order, as soon as both the launch has happened and
the stream is free. :func:`replay` walks the busiest host thread's top-level operators in
their recorded order, keeps the host time between them, places every launch at its
recorded offset inside its operator, and starts each kernel at
``max(launch time, stream free)``. A synchronizing call (``cudaDeviceSynchronize``,
``cudaStreamSynchronize``, ``cudaEventSynchronize``, a blocking ``cudaMemcpy``) waits
until the GPU is free. With no change the replay gives back the recorded step (a check
of the model, asserted in the tests); a :class:`Change` gives a matrix-multiply call a new
host time (the operator's launches move with it) and scales its kernels' durations: the
step time "with this change" is the replay's end.

>>> from sparsim.validate.trace import Trace, CpuOp, Launch, GpuActivity
>>> t = Trace("x", (), (CpuOp("aten::mm", 0.0, 10.0, 1, 1, 1),), (Launch("cudaLaunchKernel", 5.0, 2.0, 1, 1, 9),),
...           (GpuActivity("kernel", "k", 7.0, 30.0, 0, 7, 1, 9),), (), 3, 1)
>>> round(replay(t).step_s * 1e6, 3), round(replay(t, {0: Change(host_s=4e-6, kernel_scale=0.5)}).step_s * 1e6, 3)
(37.0, 19.0)
"""

from __future__ import annotations

import bisect
import functools
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Mapping, NamedTuple

from .trace import Trace

__all__ = ["Change", "Replay", "Segment", "Prepared", "prepare", "replay", "gpu_busy_s", "SYNC_CALLS"]

SYNC_CALLS = ("Synchronize", )
_BLOCKING = ("cudaMemcpy", "cuMemcpyDtoH", "cuMemcpyHtoD")


class Change(NamedTuple):
    host_s: float  # the call's new host time
    kernel_scale: float  # its kernels' new durations / recorded durations


class Segment(NamedTuple):
    lane: str  # "host" or "stream N"
    start_s: float
    end_s: float
    name: str


@dataclass(frozen=True)
class Replay:
    step_s: float
    host_s: float  # when the host thread finished
    segments: tuple[Segment, ...] = ()


@functools.lru_cache(maxsize=1024)
def _sync(name: str) -> bool:
    return any(s in name for s in SYNC_CALLS) or name in _BLOCKING


def gpu_busy_s(trace: Trace) -> float:
    """Seconds in which at least one GPU activity ran (the union of their intervals)."""
    busy, end = 0.0, float("-inf")
    for g in trace.gpu:  # sorted by start
        start, stop = g.ts, g.ts + g.dur
        if stop <= end:
            continue
        busy += stop - max(start, end)
        end = stop
    return busy * 1e-6


class Prepared(NamedTuple):
    """What every replay of one trace shares (built once by :func:`prepare`)."""

    trace: Trace
    top: list
    starts: list
    per_op: dict
    items: list  # (ts, kind, item) in time order
    gpu_of: dict
    latency: dict
    launch_ts: list
    launches: list


def prepare(trace: Trace) -> Prepared:
    ops = trace.ops
    main = Counter(op.tid for op in ops).most_common(1)[0][0]
    top, end = [], float("-inf")
    for i, op in enumerate(ops):  # sorted by (ts, -dur): an operator inside the last one is skipped
        if op.tid == main and op.ts >= end:
            top.append(i)
            end = op.ts + op.dur
    starts = [ops[i].ts for i in top]
    launches = [launch for launch in trace.launches if launch.tid == main]
    launch_of = {launch.correlation: launch for launch in launches}
    gpu_of = defaultdict(list)
    for g in trace.gpu:
        gpu_of[g.correlation].append(g)
    latency, lane_end = {}, {}
    for g in trace.gpu:  # how long after its launch (or its stream's last work) each activity began
        launch = launch_of.get(g.correlation)
        lane = (g.device, g.stream)
        if launch is not None:
            latency[id(g)] = max(g.ts - max(launch.ts, lane_end.get(lane, float("-inf"))), 0.0)
        lane_end[lane] = max(lane_end.get(lane, float("-inf")), g.ts + g.dur)
    items, per_op = [], defaultdict(list)
    for launch in launches:
        j = bisect.bisect_right(starts, launch.ts) - 1
        if j >= 0 and launch.ts <= ops[top[j]].ts + ops[top[j]].dur:
            per_op[top[j]].append(launch)
        else:
            items.append((launch.ts, 1, launch))
    items += [(ops[i].ts, 0, i) for i in top]
    items.sort(key=lambda x: (x[0], x[1]))
    return Prepared(trace, top, starts, dict(per_op), items, dict(gpu_of), latency,
                    [launch.ts for launch in launches], launches)


def replay(trace: Trace | Prepared, changes: Mapping[int, Change] | None = None, *, segments: int = 0) -> Replay:
    """The step replayed; ``changes`` maps an operator's index in ``trace.ops`` (a matrix
    multiply call) to its new times; ``segments`` > 0 keeps that many timeline segments."""
    prep = trace if isinstance(trace, Prepared) else prepare(trace)
    changes = changes or {}
    ops, top, starts, gpu_of, latency = prep.trace.ops, prep.top, prep.starts, prep.gpu_of, prep.latency
    owner_of_gpu, warps = {}, defaultdict(list)
    for index, change in changes.items():
        op = ops[index]
        lo = bisect.bisect_left(prep.launch_ts, op.ts)
        hi = bisect.bisect_right(prep.launch_ts, op.ts + op.dur)
        for launch in prep.launches[lo:hi]:
            for g in gpu_of.get(launch.correlation, ()):
                owner_of_gpu[id(g)] = change
        j = bisect.bisect_right(starts, op.ts) - 1
        if j >= 0:  # top-level op -> [(start, dur, new dur)] of changed calls inside it
            warps[top[j]].append((op.ts, op.dur, change.host_s * 1e6))
    t0 = prep.items[0][0] if prep.items else 0.0
    clock, previous_end = t0, t0
    free: dict[tuple, float] = defaultdict(lambda: float("-inf"))
    kept: list[Segment] = []

    def run(launch, at: float) -> float:
        """Issue one launch at host time ``at``; returns the extra host time it waited."""
        if _sync(launch.name):
            ready = max(free.values(), default=at)
            return max(ready - at, 0.0) - launch.dur
        for g in gpu_of.get(launch.correlation, ()):
            change = owner_of_gpu.get(id(g))
            dur = g.dur * (change.kernel_scale if change else 1.0)
            lane = (g.device, g.stream)
            start = max(at + latency.get(id(g), 0.0), free[lane])
            free[lane] = start + dur
            if len(kept) < segments:
                kept.append(Segment(f"stream {g.stream}", (start - t0) * 1e-6, (start + dur - t0) * 1e-6, g.name))
        return 0.0

    for ts, kind, item in prep.items:
        start = clock + max(ts - previous_end, 0.0)
        if kind == 1:
            waited = run(item, start)
            clock, previous_end = start + item.dur + waited, ts + item.dur
            continue
        op = ops[item]
        calls = sorted(warps.get(item, ()))

        def moved(t):
            shift = 0.0
            for c_start, c_dur, c_new in calls:
                if t >= c_start + c_dur:
                    shift += c_new - c_dur
                elif t > c_start and c_dur > 0:
                    shift += (t - c_start) * (c_new / c_dur - 1.0)
            return t - op.ts + shift

        waited = 0.0
        for launch in prep.per_op.get(item, ()):
            waited += run(launch, start + moved(launch.ts) + waited)
        stop = start + moved(op.ts + op.dur) + waited
        if len(kept) < segments:
            kept.append(Segment("host", (start - t0) * 1e-6, (stop - t0) * 1e-6, op.name))
        clock, previous_end = stop, op.ts + op.dur
    finish = max([clock] + list(free.values()))
    return Replay(step_s=(finish - t0) * 1e-6, host_s=(clock - t0) * 1e-6, segments=tuple(kept))
