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

Pools are named by *kind* (:data:`POOL_KINDS`): a phase's ``demand`` says how much of
each kind it needs and a program's ``rates`` the rate of each kind, per SM (``math``, the
tensor/CUDA-core pipes, and ``link``, the SM's L2 port: group g gets a pool ``math{g}``
of ``sms × rate``) or shared by all SMs (``l2``, ``hbm``). Busy fractions, the
critical-path categories and the bound follow from the kinds, so a new resource (TMA,
NVLink) is a new entry in :data:`POOL_KINDS` and a new key in a program's rates. Every executed
FLOP passes a math pool and every DRAM byte the HBM pool, whose rates are at most the
datasheet peaks; so no program can finish before the roofline floor of its own work.

Two CTAs on one SM, each a 1 µs fill then 2 GFLOP, on a 1 TFLOP/s SM, no launch cost:
with two slots they fill together and share the pipe; with one they run in turn.

>>> work = (Phase("fill", wait_s=1e-6), Phase("main", demand={"math": 2e9}))
>>> def two_ctas(slots):
...     classes = (SlotClass("cta", group=0, slots_per_sm=slots, phases=work * (2 // slots)),)
...     return Program(groups=(SmGroup("sm", 1),), slot_classes=classes,
...                    rates={"math": 1e12, "link": 1e12, "l2": 1e12, "hbm": 1e12})
>>> round(simulate(two_ctas(2)).time_s * 1e3, 6), round(simulate(two_ctas(1)).time_s * 1e3, 6)
(4.001, 4.002)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import simpy

from .fluid import Flow, FluidPools

__all__ = ["BOUND_OF", "CATEGORIES", "POOL_KINDS", "Phase", "PoolKind", "Program", "SimResult", "SlotClass",
           "SmGroup", "simulate"]


@dataclass(frozen=True)
class PoolKind:
    """What a kind of pool is, and what it means to the report."""

    #: one pool per SM group (``sms ×`` the per-SM rate) rather than one shared by all
    per_sm: bool
    #: critical-path category of the time a flow spends limited by this pool
    category: str
    #: Prediction.bound of that category
    bound: str
    #: whether one slot alone is held to its SM's rate (a CTA cannot outrun its SM's
    #: pipe; an SM's L2 port is shared by its slots through the pool alone)
    caps_a_slot: bool = False
    #: whether the prediction reports this pool's busy fraction
    reported: bool = True


#: every kind of pool the engine knows, in the order the pools are created
POOL_KINDS = {
    "math": PoolKind(per_sm=True, category="compute", bound="compute", caps_a_slot=True),
    "link": PoolKind(per_sm=True, category="l2", bound="memory", reported=False),
    "l2": PoolKind(per_sm=False, category="l2", bound="memory"),
    "hbm": PoolKind(per_sm=False, category="hbm", bound="memory"),
    # CUDA-core instructions beside the tensor cores (dequantizing quantized weights:
    # sparsim.simulator.quantized); only in programs whose rates name it
    "alu": PoolKind(per_sm=True, category="compute", bound="compute", caps_a_slot=True),
}
#: critical-path category -> Prediction.bound
BOUND_OF = {"launch": "launch", "latency": "latency",
            **{kind.category: kind.bound for kind in POOL_KINDS.values()}, "reduction": "memory"}
#: where critical-path time goes; the keys of :attr:`SimResult.critical_path`
CATEGORIES = tuple(BOUND_OF)


@dataclass(frozen=True)
class Phase:
    """One step of a slot: ``wait_s`` of exposed latency, then (if any) a flow of work.

    Amounts are per slot: ``demand[kind]`` of each pool kind (FLOPs for ``math``, bytes
    for the others). ``latency_s`` is how long the flow would take with unlimited
    bandwidth and math: the Little's-law bound of its loads in flight.
    """

    label: str
    wait_s: float = 0.0
    demand: Mapping[str, float] = field(default_factory=dict)
    latency_s: float = 0.0
    ctas: float = 0.0

    @property
    def has_flow(self) -> bool:
        return bool(any(self.demand.values()) or self.latency_s)


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
    #: rate of each pool kind (:data:`POOL_KINDS`): per SM for ``math`` (FLOP/s) and
    #: ``link`` (bytes/s), for the whole machine for ``l2`` and ``hbm`` (bytes/s)
    rates: Mapping[str, float]
    launch_s: float = 0.0
    #: serial time after the last CTA (e.g. the split-K reduction kernel)
    reduction_s: float = 0.0
    #: critical-path categories that differ from :data:`POOL_KINDS` (a CPU core's
    #: "link" is its DRAM stream: {"link": "hbm"})
    categories: Mapping[str, str] = field(default_factory=dict)

    @property
    def sm_count(self) -> int:
        return sum(g.sms for g in self.groups)

    def pools(self) -> tuple[dict[str, float], dict[str, str]]:
        """(capacity of each pool by name, kind of each pool name): the shared pools by
        their kind, then ``{kind}{g}`` for every per-SM kind of every group g."""
        capacity, kind_of = {}, {}
        for kind, rate in self.rates.items():
            if not POOL_KINDS[kind].per_sm:
                capacity[kind], kind_of[kind] = rate, kind
        for g, group in enumerate(self.groups):
            for kind, rate in self.rates.items():
                if POOL_KINDS[kind].per_sm:
                    capacity[self.pool_name(kind, g)], kind_of[self.pool_name(kind, g)] = group.sms * rate, kind
        return capacity, kind_of

    @staticmethod
    def pool_name(kind: str, group: int) -> str:
        """The pool of kind ``kind`` that SM group ``group`` uses."""
        return f"{kind}{group}" if POOL_KINDS[kind].per_sm else kind

    def category(self, kind: str) -> str:
        """Critical-path category of time limited by pool kind ``kind``."""
        return self.categories.get(kind) or POOL_KINDS[kind].category


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


def _flow(phase: Phase, program: Program, cls: SlotClass, name: str) -> Flow:
    """The flow of ``phase`` on every slot of ``cls``: its demand on the pools of its SM
    group and the shared ones, and its own ceiling (its SM's pipe, or Little's law)."""
    caps = []
    for kind, amount in phase.demand.items():
        if amount > 0 and POOL_KINDS[kind].caps_a_slot:
            caps.append((program.rates[kind] / amount, POOL_KINDS[kind].category))
    if phase.latency_s > 0:
        caps.append((1.0 / phase.latency_s, "latency"))
    cap, cap_kind = min(caps) if caps else (math.inf, "latency")
    demand = {program.pool_name(kind, cls.group): amount for kind, amount in phase.demand.items() if amount > 0}
    return Flow(name, demand=demand, cap=cap, cap_kind=cap_kind,
                mult=program.groups[cls.group].sms * cls.slots_per_sm)


def _busy(program: Program, pools: FluidPools, kind_of: dict[str, str], ends: dict[str, float],
          time_s: float) -> dict[str, float]:
    """Time-averaged fraction of each pool kind's rate in use, plus "sm" (SMs holding a CTA)."""
    busy = {}
    for kind in (k for k in POOL_KINDS if k in kind_of.values()):
        names = [name for name, k in kind_of.items() if k == kind]
        capacity = sum(pools.capacity[name] for name in names)
        served = sum(pools.served[name] for name in names)
        busy[kind] = served / (capacity * time_s) if time_s > 0 else 0.0
    sm_seconds = 0.0
    for g, group in enumerate(program.groups):
        group_end = max((ends[c.name] for c in program.slot_classes if c.group == g), default=program.launch_s)
        sm_seconds += group.sms * (group_end - program.launch_s)
    busy["sm"] = sm_seconds / (program.sm_count * time_s) if time_s > 0 and program.sm_count else 0.0
    return busy


def _served(pools: FluidPools, kind_of: dict[str, str], kind: str) -> float:
    return sum(pools.served[name] for name, k in kind_of.items() if k == kind)


def simulate(program: Program, *, trace: bool = True) -> SimResult:
    """Run ``program`` to completion and account where the time went."""
    env = simpy.Environment()
    capacity, kind_of = program.pools()
    category_of = {name: program.category(kind) for name, kind in kind_of.items()}
    category_of.update(compute="compute", latency="latency")  # the ceilings' kinds
    log: list | None = [] if trace else None
    pools = FluidPools(env, capacity, trace=log)
    paths: dict[str, dict[str, float]] = {}
    ends: dict[str, float] = {}
    launched = env.timeout(program.launch_s)

    def run(cls: SlotClass):
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
            flow = _flow(phase, program, cls, who)
            yield pools.start(flow)
            for limiter, seconds in flow.limited_s.items():
                path[category_of.get(limiter, "latency")] += seconds
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
    return SimResult(
        time_s=time_s, events=events, trace=tuple(log or ()), class_end_s=ends, critical=critical,
        critical_path=path, busy=_busy(program, pools, kind_of, ends, time_s),
        flops=_served(pools, kind_of, "math"), bytes_l2=_served(pools, kind_of, "l2"),
        bytes_hbm=_served(pools, kind_of, "hbm"),
    )


def _repeats(phases: tuple[Phase, ...], label: str) -> bool:
    return sum(p.label == label for p in phases) > 1
