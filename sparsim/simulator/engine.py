"""The discrete-event engine: SMs running CTAs against shared L2 and HBM, in simpy.

A kernel is given to the engine as a :class:`Program`: groups of identical SMs
(:class:`SmGroup`) and, on each, classes of identical CTA slots (:class:`SlotClass`).
A slot runs a short list of :class:`Phase` steps one after another: a *wait* (a latency
nothing on that slot can hide, such as a pipeline fill or a pointer chase before the
first useful load) or a *flow* (work that needs FLOPs on its SM's math pipe, bytes
through its SM's L2 port, the shared L2 and HBM, and that cannot go faster than its own
latency-bound rate; see :mod:`sparsim.simulator.fluid`).

Identical SMs and identical slots are one simpy process each (with a multiplicity), and
identical CTAs that run back to back on a slot are one flow, so the event count depends
on how many *different* kinds of work there are, never on matrix size (DESIGN.md,
"Simulation budget").

Pools: ``math{g}`` (group g's tensor/CUDA-core pipes, ``sms × sm_math_flops_per_s``),
``link{g}`` (their L2 ports), ``l2`` and ``hbm`` (shared by all). Every executed FLOP
passes a math pool and every DRAM byte the HBM pool, whose rates are at most the
datasheet peaks; so no program can finish before the roofline floor of its own work.

Two CTAs on one SM, each a 1 µs fill then 2 GFLOP, on a 1 TFLOP/s SM, no launch cost:
with two slots they fill together and share the pipe; with one they run in turn.

>>> work = (Phase("fill", wait_s=1e-6), Phase("main", flops=2e9))
>>> def two_ctas(slots):
...     classes = (SlotClass("cta", group=0, slots_per_sm=slots, phases=work * (2 // slots)),)
...     return Program(groups=(SmGroup("sm", 1),), slot_classes=classes, sm_math_flops_per_s=1e12,
...                    sm_link_bytes_per_s=1e12, l2_bytes_per_s=1e12, hbm_bytes_per_s=1e12)
>>> round(simulate(two_ctas(2)).time_s * 1e3, 6), round(simulate(two_ctas(1)).time_s * 1e3, 6)
(4.001, 4.002)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from .fluid import Flow, FluidPools

__all__ = ["CATEGORIES", "Phase", "Program", "SimResult", "SlotClass", "SmGroup", "simulate"]

#: where critical-path time goes; the keys of :attr:`SimResult.critical_path`
CATEGORIES = ("launch", "latency", "compute", "l2", "hbm", "reduction")


@dataclass(frozen=True)
class Phase:
    """One step of a slot: ``wait_s`` of exposed latency, then (if any) a flow of work.

    Amounts are per slot. ``latency_s`` is how long the flow would take with unlimited
    bandwidth and math: the Little's-law bound of its loads in flight.
    """

    label: str
    wait_s: float = 0.0
    flops: float = 0.0
    l2_bytes: float = 0.0
    hbm_bytes: float = 0.0
    link_bytes: float = 0.0
    latency_s: float = 0.0
    ctas: float = 0.0

    @property
    def has_flow(self) -> bool:
        return bool(self.flops or self.l2_bytes or self.hbm_bytes or self.link_bytes or self.latency_s)


@dataclass(frozen=True)
class SmGroup:
    name: str
    sms: int


@dataclass(frozen=True)
class SlotClass:
    """``slots_per_sm`` identical slots on every SM of group ``group``."""

    name: str
    group: int
    slots_per_sm: int
    phases: tuple[Phase, ...]


@dataclass(frozen=True)
class Program:
    groups: tuple[SmGroup, ...]
    slot_classes: tuple[SlotClass, ...]
    sm_math_flops_per_s: float
    sm_link_bytes_per_s: float
    l2_bytes_per_s: float
    hbm_bytes_per_s: float
    launch_s: float = 0.0
    #: serial time after the last CTA (e.g. the split-K reduction kernel)
    reduction_s: float = 0.0
    #: what the per-SM port limits, for the critical path: "l2" on a GPU (the SM's L2
    #: port), "hbm" on a CPU (one core's DRAM stream)
    link_category: str = "l2"

    @property
    def sm_count(self) -> int:
        return sum(g.sms for g in self.groups)


@dataclass(frozen=True)
class SimResult:
    time_s: float
    events: int
    #: (time, who, what) for every phase start/end, in time order
    trace: tuple = field(repr=False)
    class_end_s: dict = field(repr=False)
    #: slot class that finished last
    critical: str = ""
    #: seconds of the critical slot's timeline by :data:`CATEGORIES`; sums to ``time_s``
    critical_path: dict = field(default_factory=dict)
    #: time-averaged fraction of each pool's rate in use, plus "sm" (SMs holding a CTA)
    busy: dict = field(default_factory=dict)
    flops: float = 0.0
    bytes_l2: float = 0.0
    bytes_hbm: float = 0.0


def _category(limiter: str, link: str = "l2") -> str:
    if limiter.startswith("math") or limiter == "compute":
        return "compute"
    if limiter.startswith("link"):
        return link
    if limiter == "l2":
        return "l2"
    if limiter == "hbm":
        return "hbm"
    return "latency"


def simulate(program: Program, *, trace: bool = True) -> SimResult:
    """Run ``program`` to completion and account where the time went."""
    env = simpy.Environment()
    capacity = {"l2": program.l2_bytes_per_s, "hbm": program.hbm_bytes_per_s}
    for g, group in enumerate(program.groups):
        capacity[f"math{g}"] = group.sms * program.sm_math_flops_per_s
        capacity[f"link{g}"] = group.sms * program.sm_link_bytes_per_s
    log: list | None = [] if trace else None
    pools = FluidPools(env, capacity, trace=log)
    paths: dict[str, dict[str, float]] = {}
    ends: dict[str, float] = {}
    launched = env.timeout(program.launch_s)

    def run(cls: SlotClass):
        group = program.groups[cls.group]
        path = paths.setdefault(cls.name, dict.fromkeys(CATEGORIES, 0.0))
        yield launched
        path["launch"] += program.launch_s
        for i, phase in enumerate(cls.phases):
            who = f"{cls.name}:{phase.label}" + (f"#{i}" if _repeats(cls.phases, phase.label) else "")
            if phase.wait_s > 0:
                if log is not None:
                    log.append((env.now, who, "wait"))
                yield env.timeout(phase.wait_s)
                path["latency"] += phase.wait_s
            if not phase.has_flow:
                continue
            caps = []
            if phase.flops > 0:
                caps.append((program.sm_math_flops_per_s / phase.flops, "compute"))
            if phase.latency_s > 0:
                caps.append((1.0 / phase.latency_s, "latency"))
            cap, kind = min(caps) if caps else (math.inf, "latency")
            demand = {f"math{cls.group}": phase.flops, f"link{cls.group}": phase.link_bytes,
                      "l2": phase.l2_bytes, "hbm": phase.hbm_bytes}
            flow = Flow(who, demand={k: v for k, v in demand.items() if v > 0}, cap=cap, cap_kind=kind,
                        mult=group.sms * cls.slots_per_sm)
            yield pools.start(flow)
            for limiter, seconds in flow.limited_s.items():
                path[_category(limiter, program.link_category)] += seconds
        ends[cls.name] = env.now

    for cls in program.slot_classes:
        env.process(run(cls))
    events = 0
    while True:
        try:
            env.step()
        except simpy.core.EmptySchedule:
            break
        events += 1

    kernel_end = max(ends.values(), default=program.launch_s)
    time_s = kernel_end + program.reduction_s
    critical = max(ends, key=ends.get) if ends else ""
    path = dict(paths.get(critical, dict.fromkeys(CATEGORIES, 0.0)))
    path["reduction"] += program.reduction_s
    if log is not None and program.reduction_s > 0:
        log.append((kernel_end, "reduction", "wait"))

    busy = {}
    math_capacity = sum(c for k, c in capacity.items() if k.startswith("math"))
    math_served = sum(s for k, s in pools.served.items() if k.startswith("math"))
    busy["math"] = math_served / (math_capacity * time_s) if time_s > 0 else 0.0
    for pool in ("l2", "hbm"):
        busy[pool] = pools.served[pool] / (capacity[pool] * time_s) if time_s > 0 else 0.0
    sm_seconds = 0.0
    for g, group in enumerate(program.groups):
        group_end = max((ends[c.name] for c in program.slot_classes if c.group == g), default=program.launch_s)
        sm_seconds += group.sms * (group_end - program.launch_s)
    busy["sm"] = sm_seconds / (program.sm_count * time_s) if time_s > 0 and program.sm_count else 0.0
    return SimResult(
        time_s=time_s, events=events, trace=tuple(log or ()), class_end_s=ends, critical=critical,
        critical_path=path, busy=busy, flops=math_served,
        bytes_l2=pools.served["l2"], bytes_hbm=pools.served["hbm"],
    )


def _repeats(phases: tuple[Phase, ...], label: str) -> bool:
    return sum(p.label == label for p in phases) > 1
