"""One step as a discrete-event simulation: the host thread, the launch queue, the GPU stream.

Three simpy processes share a launch queue (a ``simpy.Store``) and the GPU-to-GPU link
(a ``simpy.Resource``):

* the **host** thread walks the step's :class:`Launch` items in order, spends each one's
  ``host_s`` (Python, dispatcher, library set-up) and then puts it in the queue;
* the **GPU stream** takes items in order; an item's kernels start when it has been
  launched and the previous item has ended (one CUDA stream), and run for ``gpu_s``;
* an item on the ``comm`` lane (an all-reduce) also holds the **link** while it runs.

Whether the step is host-bound or GPU-bound is what the simulation says: the GPU's idle
time is the time it waited for the host (``gpu_idle_s``). The step ends when both the
host and the GPU are done.

The returned records cover the items before the first layer, the first layer in full,
and the items after the last layer; layers 2..L are summarised in one record per lane
(their totals are exact, only their detail is left out).

>>> items = [Launch("a", "elementwise", host_s=10e-6, gpu_s=2e-6),
...          Launch("b", "linear", host_s=10e-6, gpu_s=30e-6),
...          Launch("c", "elementwise", host_s=10e-6, gpu_s=2e-6)]
>>> r = simulate(items)
>>> round(r.time_s * 1e6, 1), round(r.gpu_idle_s * 1e6, 1)   # GPU waits for a and b, then c waits for b
(52.0, 18.0)
>>> [(x["lane"], x["name"], round(x["start_s"] * 1e6), round(x["end_s"] * 1e6)) for x in r.records if x["lane"] == "gpu"]
[('gpu', 'a', 10, 12), ('gpu', 'b', 20, 50), ('gpu', 'c', 50, 52)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import simpy

from ..models.step_ops import OP_CLASSES

__all__ = ["Launch", "TimelineResult", "simulate"]


@dataclass(frozen=True)
class Launch:
    """What the host launches at once, and what it costs on each side."""

    name: str
    op_class: str
    host_s: float = 0.0  # host seconds before the launch
    gpu_s: float = 0.0  # device seconds of the kernels launched (0: host work only)
    kernels: int = 1
    lane: str = "gpu"  # "gpu" or "comm" (holds the link too)
    prunable: bool = False
    layer: int = -1  # -1: before/after the layers; else the layer index


@dataclass(frozen=True)
class TimelineResult:
    time_s: float
    host_busy_s: float
    gpu_busy_s: float
    gpu_idle_s: float
    busy_by_class: Mapping[str, float]
    prunable_s: float
    kernels: int
    records: tuple[dict, ...] = field(default=())


def _keep(item: Launch) -> bool:
    return item.layer <= 0


def simulate(items: list[Launch] | tuple[Launch, ...], *, start_host_s: float = 0.0) -> TimelineResult:
    """Run the host, queue, GPU stream and link over ``items``; see the module docstring."""
    env = simpy.Environment()
    queue = simpy.Store(env)
    link = simpy.Resource(env, capacity=1)
    records: list[dict] = []
    summary: dict[str, list[float]] = {}
    busy = dict.fromkeys(OP_CLASSES, 0.0)
    acc = {"host": 0.0, "prunable": 0.0, "kernels": 0}
    launched: dict[int, float] = {}

    def note(lane, item, start, end):
        if _keep(item):
            records.append({"lane": lane, "name": item.name, "op_class": item.op_class, "start_s": start, "end_s": end})
        else:
            span = summary.setdefault(lane, [start, end])
            span[1] = end

    def host():
        if start_host_s:
            yield env.timeout(start_host_s)
        for i, item in enumerate(items):
            if item.host_s:
                start = env.now
                yield env.timeout(item.host_s)
                acc["host"] += item.host_s
                note("host", item, start, env.now)
            launched[i] = env.now
            queue.put((i, item))

    def gpu():
        for _ in range(len(items)):
            i, item = yield queue.get()
            if not item.gpu_s:
                continue
            if item.lane == "comm":
                with link.request() as req:
                    yield req
                    start = env.now
                    yield env.timeout(item.gpu_s)
            else:
                start = env.now
                yield env.timeout(item.gpu_s)
            busy[item.op_class] += item.gpu_s
            acc["kernels"] += item.kernels
            if item.prunable:
                acc["prunable"] += item.gpu_s
            note(item.lane, item, start, env.now)

    env.process(host())
    done = env.process(gpu())
    env.run(until=done)
    end = env.now
    gpu_busy = sum(busy.values())
    layers = max((it.layer for it in items), default=0) + 1
    for lane, (start, stop) in summary.items():
        records.append({"lane": lane, "name": f"layers 2-{layers}", "op_class": "summary", "start_s": start, "end_s": stop})
    records.sort(key=lambda r: (r["start_s"], r["lane"]))
    return TimelineResult(time_s=end, host_busy_s=acc["host"], gpu_busy_s=gpu_busy, gpu_idle_s=max(0.0, end - gpu_busy),
                          busy_by_class=busy, prunable_s=acc["prunable"], kernels=acc["kernels"],
                          records=tuple(records))
