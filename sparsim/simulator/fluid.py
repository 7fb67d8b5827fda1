"""Fluid bandwidth pools on simpy: flows of work that share rate-limited resources.

A GPU's L2, HBM and each SM's math pipe are servers of a *rate* (bytes/s, FLOP/s), not of
discrete requests. Simulating every 32-byte sector would cost events per element; instead
a :class:`Flow` is an amount of work (a CTA, or many identical CTAs, progressing from 0
to 1) that needs fixed amounts of several pools per unit of progress. While flows overlap
they share each pool; the allocation changes only when a flow starts or ends, so the
event count grows with the number of flows, not with bytes or FLOPs.

Sharing rule: *weighted progressive filling* (max-min fairness weighted by each flow's
own ceiling). Every flow has a ceiling rate ``cap`` of its own: a CTA alone cannot go
faster than its SM's pipe, nor than Little's law allows its loads in flight to cover
the memory latency. All flows rise together as the same fraction ``λ`` of their ceilings
until some pool is full; flows on a full pool freeze there and the rest keep rising. A
saturated memory system thus serves each flow in proportion to the requests it keeps
outstanding, as a memory controller serving queued requests in order does.

>>> import simpy
>>> env = simpy.Environment()
>>> pools = FluidPools(env, {"hbm": 100.0})
>>> a = pools.start(Flow("a", demand={"hbm": 100.0}, cap=2.0))  # alone: 1 s (pool-bound)
>>> b = pools.start(Flow("b", demand={"hbm": 50.0}, cap=0.5))   # alone: 2 s (cap-bound)
>>> env.run()

Together they ask 200 + 25 bytes/s of a 100 bytes/s pool, so both run at 100/225 of
their ceilings until ``a`` is done at 1.125 s; ``b`` then finishes alone at its ceiling.

>>> a.value.end, b.value.end, b.value.limited_s
(1.125, 2.625, {'hbm': 1.125, 'latency': 1.5})
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

__all__ = ["Flow", "FluidPools"]

# A flow whose remaining progress is below this fraction counts as finished (float slack).
_DONE = 1e-12
# Ceiling for flows with no limit of their own (only pools bound them).
_UNBOUNDED = 1e30


@dataclass(eq=False)
class Flow:
    """``mult`` identical copies of some work, each needing ``demand[pool]`` per unit of
    progress, each at most ``cap`` units/s (``cap_kind`` says what sets the ceiling)."""

    name: str
    demand: dict[str, float]
    cap: float = math.inf
    cap_kind: str = "latency"
    mult: float = 1.0
    # filled in while it runs
    start: float = 0.0
    end: float = 0.0
    remaining: float = 1.0
    rate: float = 0.0
    limiter: str = ""
    #: seconds this flow spent limited by each pool name or cap kind
    limited_s: dict[str, float] = field(default_factory=dict)


class FluidPools:
    """Pools of rate ``capacity[name]`` shared by the flows started on them."""

    def __init__(self, env: simpy.Environment, capacity: dict[str, float], trace: list | None = None):
        self.env = env
        self.capacity = dict(capacity)
        self.served = {name: 0.0 for name in capacity}  # amount each pool delivered
        self.trace = trace
        self._active: list[tuple[Flow, simpy.Event]] = []
        self._last = env.now
        self._version = 0

    def start(self, flow: Flow) -> simpy.Event:
        """Start ``flow`` now; the returned event fires (value: the flow) when it is done."""
        for pool in flow.demand:
            if pool not in self.capacity:
                raise KeyError(f"flow {flow.name}: unknown pool {pool!r}")
        done = self.env.event()
        self._advance()
        flow.start, flow.remaining = self.env.now, 1.0
        if not math.isfinite(flow.cap):
            flow.cap = _UNBOUNDED
        if not any(flow.demand.values()) and flow.cap >= _UNBOUNDED:
            flow.end = self.env.now  # nothing to do
            done.succeed(flow)
            return done
        if self.trace is not None:
            self.trace.append((self.env.now, flow.name, "start"))
        self._active.append((flow, done))
        self._reschedule()
        return done

    # -- internals ------------------------------------------------------------------------

    def _advance(self) -> None:
        """Move every active flow forward to ``env.now`` at its current rate."""
        dt = self.env.now - self._last
        self._last = self.env.now
        if dt <= 0:
            return
        for flow, _ in self._active:
            step = flow.rate * dt
            flow.remaining -= step
            flow.limited_s[flow.limiter] = flow.limited_s.get(flow.limiter, 0.0) + dt
            for pool, need in flow.demand.items():
                self.served[pool] += step * need * flow.mult

    def _allocate(self) -> None:
        """Weighted progressive filling (see module docstring)."""
        used = dict.fromkeys(self.capacity, 0.0)
        rising = [flow for flow, _ in self._active]
        while rising:
            level, full = 1.0, None
            for pool, capacity in self.capacity.items():
                load = sum(f.cap * f.mult * f.demand.get(pool, 0.0) for f in rising)
                if load > 0.0:
                    fits = (capacity - used[pool]) / load
                    if fits < level:
                        level, full = fits, pool
            level = max(level, 0.0)
            if full is None:  # every rising flow reaches its own ceiling
                for f in rising:
                    f.rate, f.limiter = f.cap, f.cap_kind
                return
            keep = []
            for f in rising:
                if f.demand.get(full, 0.0) > 0.0:
                    f.rate, f.limiter = level * f.cap, full
                    for pool, need in f.demand.items():
                        used[pool] += f.rate * f.mult * need
                else:
                    keep.append(f)
            rising = keep

    def _reschedule(self) -> None:
        self._allocate()
        self._version += 1
        soonest = min((f.remaining / f.rate for f, _ in self._active if f.rate > 0), default=None)
        if soonest is None:
            if self._active:
                raise RuntimeError("fluid pools: active flows but none can progress (a pool of capacity 0?)")
            return
        wake = self.env.timeout(max(soonest, 0.0))
        version = self._version
        wake.callbacks.append(lambda _event: self._wake(version))

    def _wake(self, version: int) -> None:
        if version != self._version:
            return  # superseded by a later start or finish
        self._advance()
        still = []
        # also done: flows whose rest would take less time than the clock can resolve
        resolution = 1e-12 * max(self.env.now, 1e-9)
        for flow, done in self._active:
            if flow.remaining <= _DONE or (flow.rate > 0 and flow.remaining / flow.rate <= resolution):
                flow.end, flow.remaining = self.env.now, 0.0
                if self.trace is not None:
                    self.trace.append((self.env.now, flow.name, "end"))
                done.succeed(flow)
            else:
                still.append((flow, done))
        self._active = still
        if still:
            self._reschedule()
