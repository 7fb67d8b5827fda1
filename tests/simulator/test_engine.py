"""The fluid pools and the simpy engine, on cases small enough to work out by hand.

Every test asserts the whole timeline, as SimPy's own tests assert event traces.
"""

import math

import pytest
import simpy

from sparsim.simulator.engine import (
    CATEGORIES,
    Phase,
    Program,
    SlotClass,
    SmGroup,
    simulate,
)
from sparsim.simulator import engine
from sparsim.simulator.fluid import Flow, FluidPools

US = 1e-6


ONE_SM = (SmGroup("sm", 1),)


def _program(classes, *, groups=ONE_SM, math_rate=1e12, hbm=1e12, launch=0.0, reduction=0.0):
    return Program(groups=tuple(groups), slot_classes=tuple(classes),
                   rates={"math": math_rate, "link": 1e15, "l2": 1e15, "hbm": hbm}, launch_s=launch,
                   reduction_s=reduction)


def _trace(result):
    return [(round(t / US, 9), who, what) for t, who, what in result.trace]


# -- fluid pools --------------------------------------------------------------------------

def test_a_lone_flow_runs_at_the_lower_of_its_ceiling_and_the_pool():
    env = simpy.Environment()
    pools = FluidPools(env, {"hbm": 100.0})
    fast = pools.start(Flow("fast", demand={"hbm": 50.0}, cap=10.0))  # wants 500 B/s of 100
    env.run()
    assert fast.value.end == pytest.approx(0.5)
    assert fast.value.limited_s == {"hbm": pytest.approx(0.5)}


def test_flows_share_a_full_pool_in_proportion_to_their_ceilings():
    env = simpy.Environment()
    pools = FluidPools(env, {"hbm": 100.0})
    a = pools.start(Flow("a", demand={"hbm": 100.0}, cap=2.0))
    b = pools.start(Flow("b", demand={"hbm": 50.0}, cap=0.5))
    env.run()
    # 200 + 25 B/s asked of 100: both at 4/9 of their ceilings until a ends at 1.125 s,
    # then b alone at its ceiling for its last 3/4 unit: 1.5 s.
    assert (a.value.end, b.value.end) == (pytest.approx(1.125), pytest.approx(2.625))
    assert pools.served["hbm"] == pytest.approx(150.0)


def test_a_flow_frozen_on_one_pool_leaves_the_other_pool_to_the_rest():
    env = simpy.Environment()
    pools = FluidPools(env, {"A": 100.0, "B": 100.0})
    f1 = Flow("f1", demand={"A": 1.0}, cap=1000.0)
    f2 = Flow("f2", demand={"A": 1.0, "B": 1.0}, cap=1000.0)
    f3 = Flow("f3", demand={"B": 1.0}, cap=10.0)
    for f in (f1, f2, f3):
        pools.start(f)
    # A fills first (at 5% of the ceilings): f1, f2 get 50 each; f3 then reaches its ceiling on B.
    assert (f1.rate, f2.rate, f3.rate) == (pytest.approx(50.0), pytest.approx(50.0), pytest.approx(10.0))
    assert (f1.limiter, f2.limiter, f3.limiter) == ("A", "A", "latency")


def test_multiplicity_counts_identical_copies():
    env = simpy.Environment()
    pools = FluidPools(env, {"hbm": 100.0})
    ten = pools.start(Flow("ten", demand={"hbm": 10.0}, cap=math.inf, mult=10))
    env.run()
    assert ten.value.end == pytest.approx(1.0)  # 10 copies x 10 bytes at 100 B/s


# -- engine timelines ---------------------------------------------------------------------

def test_two_resident_ctas_on_one_sm_load_together_then_share_the_pipe():
    # launch 2 us; each CTA: one dependent load of 1 us, then 1 MFLOP on a 1 TFLOP/s SM
    cta = (Phase("cta", wait_s=1 * US, demand={"math": 1e6}),)
    result = simulate(_program([SlotClass("two", 0, 2, cta)], launch=2 * US))
    assert _trace(result) == [(2.0, "two:cta", "wait"), (3.0, "two:cta", "start"), (5.0, "two:cta", "end")]
    assert result.time_s == pytest.approx(5 * US)
    assert result.critical_path == pytest.approx({"launch": 2 * US, "latency": 1 * US, "compute": 2 * US,
                                                  "l2": 0.0, "hbm": 0.0, "reduction": 0.0})


def test_two_ctas_on_one_slot_run_one_after_the_other():
    cta = Phase("cta", wait_s=1 * US, demand={"math": 1e6})
    result = simulate(_program([SlotClass("one", 0, 1, (cta, cta))], launch=2 * US))
    assert _trace(result) == [
        (2.0, "one:cta#0", "wait"), (3.0, "one:cta#0", "start"), (4.0, "one:cta#0", "end"),
        (4.0, "one:cta#1", "wait"), (5.0, "one:cta#1", "start"), (6.0, "one:cta#1", "end"),
    ]
    assert result.time_s == pytest.approx(6 * US)
    assert result.busy["math"] == pytest.approx(2 / 6)


def test_one_dependent_load_before_a_stream_that_shares_hbm():
    # two SMs, one CTA each: wait 0.5 us for the index, then 1000 bytes from a 1 GB/s HBM;
    # Little's law alone would allow 1000 B in 0.25 us, so HBM (shared by both) decides.
    cta = (Phase("cta", wait_s=0.5 * US, demand={"hbm": 1000.0}, latency_s=0.25 * US),)
    result = simulate(_program([SlotClass("g0", 0, 1, cta), SlotClass("g1", 1, 1, cta)],
                               groups=(SmGroup("a", 1), SmGroup("b", 1)), hbm=1e9))
    assert _trace(result) == [
        (0.0, "g0:cta", "wait"), (0.0, "g1:cta", "wait"),
        (0.5, "g0:cta", "start"), (0.5, "g1:cta", "start"),
        (2.5, "g0:cta", "end"), (2.5, "g1:cta", "end"),
    ]
    assert result.critical_path["hbm"] == pytest.approx(2 * US)
    assert result.busy["hbm"] == pytest.approx(2.0 / 2.5)


def test_a_latency_bound_stream_is_limited_by_its_loads_in_flight():
    cta = (Phase("cta", wait_s=0.5 * US, demand={"hbm": 1000.0}, latency_s=4 * US),)
    result = simulate(_program([SlotClass("s", 0, 1, cta)], hbm=1e12))
    assert result.time_s == pytest.approx(4.5 * US)
    assert result.critical_path["latency"] == pytest.approx(4.5 * US)


def test_the_split_k_reduction_runs_after_the_last_cta():
    cta = (Phase("cta", demand={"math": 1e6}),)
    result = simulate(_program([SlotClass("s", 0, 1, cta)], launch=1 * US, reduction=3 * US))
    assert result.time_s == pytest.approx(5 * US)
    assert _trace(result)[-1] == (2.0, "reduction", "wait")
    assert result.critical_path["reduction"] == pytest.approx(3 * US)


def test_the_critical_path_accounts_for_all_the_time():
    classes = [SlotClass("fast", 0, 1, (Phase("x", wait_s=1 * US, demand={"math": 1e6}),)),
               SlotClass("slow", 1, 1, (Phase("x", wait_s=1 * US, demand={"math": 3e6, "hbm": 5e3}),))]
    result = simulate(_program(classes, groups=(SmGroup("a", 3), SmGroup("b", 1)), hbm=1e9, launch=1 * US))
    assert result.critical == "slow"
    assert set(result.critical_path) == set(CATEGORIES)
    assert sum(result.critical_path.values()) == pytest.approx(result.time_s)
    assert result.busy["sm"] == pytest.approx((3 * 2 + 1 * (result.time_s / US - 1)) / (4 * result.time_s / US))


def test_event_count_depends_on_classes_not_on_work():
    def run(work):
        phases = (Phase("c", wait_s=1 * US, demand={"math": work, "hbm": work}),)
        return simulate(_program([SlotClass("s", 0, 4, phases)], hbm=1e9), trace=False).events

    assert run(1e3) == run(1e12)


def test_a_new_resource_is_a_pool_kind_and_a_rate(monkeypatch):
    # a shared resource the engine did not know: one POOL_KINDS entry and one rate;
    # its busy share and its critical-path time follow from the kind
    monkeypatch.setitem(engine.POOL_KINDS, "nvlink", engine.PoolKind(per_sm=False, category="hbm", bound="memory"))
    cta = (Phase("x", demand={"nvlink": 1e6}),)
    program = Program(groups=ONE_SM, slot_classes=(SlotClass("c", 0, 1, cta),), rates={"math": 1e12, "nvlink": 1e12})
    result = simulate(program)
    assert result.time_s == pytest.approx(1 * US)
    assert result.busy["nvlink"] == pytest.approx(1.0)
    assert result.critical_path["hbm"] == pytest.approx(1 * US)


def test_per_sm_pools_are_one_per_group_and_shared_pools_one_in_all():
    program = _program([], groups=(SmGroup("a", 2), SmGroup("b", 3)), math_rate=1e12)
    capacity, kind_of = program.pools()
    assert capacity == {"l2": 1e15, "hbm": 1e12, "math0": 2e12, "link0": 2e15, "math1": 3e12, "link1": 3e15}
    assert kind_of["math1"] == "math" and kind_of["hbm"] == "hbm"
