"""CTA dispatch: the first wave breadth-first over SMs, folded into a few slot classes."""

import numpy as np
import pytest

from sparsim.simulator.dispatch import LATENCY, greedy_slots, uniform_slots
from sparsim.simulator.engine import Program, simulate

ONE = {"math": 1e9, "l2": 0.0, "hbm": 0.0, "link": 0.0, LATENCY: 0.0}
#: what a CTA carries: its demand on each pool kind and its latency-bound duration
CTA_FIELDS = tuple(ONE)


def _time(groups, classes, sm_rate=1e12):
    program = Program(groups=groups, slot_classes=classes, rates={"math": sm_rate, "link": 1e15, "l2": 1e15, "hbm": 1e15})
    return simulate(program, trace=False).time_s


@pytest.mark.parametrize("occupancy", [1, 2])
def test_one_cta_more_than_sms_makes_a_second_cta_time(occupancy):
    # 132 SMs: 132 equal CTAs take one CTA time; the 133rd lands on an SM already busy
    # (with 2 slots it shares that SM's pipe), so the kernel takes two.
    t132 = _time(*uniform_slots(132, sms=132, occupancy=occupancy, cta=ONE, fill_s=0.0))
    t133 = _time(*uniform_slots(133, sms=132, occupancy=occupancy, cta=ONE, fill_s=0.0))
    assert t132 == pytest.approx(1e-3)
    assert t133 == pytest.approx(2e-3)


def test_uniform_slots_give_each_sm_q_or_q_plus_one_ctas():
    groups, classes = uniform_slots(2048, sms=132, occupancy=1, cta=ONE, fill_s=1e-6)
    assert [(g.name, g.sms) for g in groups] == [("sms[16 ctas]", 68), ("sms[15 ctas]", 64)]
    total = sum(groups[c.group].sms * c.slots_per_sm * sum(p.ctas for p in c.phases) for c in classes)
    assert total == 2048
    # one CTA per SM: every CTA's fill is exposed (16 on the busier SMs)
    assert sum(p.wait_s for p in classes[0].phases) == pytest.approx(16e-6)


def test_with_two_slots_only_the_first_fill_is_exposed():
    _, classes = uniform_slots(4 * 132, sms=132, occupancy=2, cta=ONE, fill_s=1e-6)
    assert [(c.slots_per_sm, [(p.ctas, p.wait_s) for p in c.phases]) for c in classes] == [(2, [(2, 1e-6)])]


def _amount(phase, field):
    return phase.latency_s if field == LATENCY else phase.demand.get(field, 0.0)


def _random_work(n, seed=0):
    rng = np.random.default_rng(seed)
    work = {f: rng.random(n) * 1e6 for f in CTA_FIELDS}
    work["latency_s"] = rng.random(n) * 1e-6
    return work


def test_greedy_folding_conserves_every_total_and_keeps_the_longest_latency():
    work = _random_work(5000)
    groups, classes = greedy_slots(work, duration_s=work["math"] / 1e12, fill_s=np.zeros(5000), sms=132,
                                   occupancy=4)
    assert len(groups) <= 6 and len(classes) <= 12
    for f in CTA_FIELDS:
        folded = sum(groups[c.group].sms * c.slots_per_sm * sum(_amount(p, f) for p in c.phases) for c in classes)
        if f == "latency_s":  # a ceiling, not an amount: each class keeps its longest chain
            assert folded > work[f].sum()
        else:
            assert folded == pytest.approx(work[f].sum(), rel=1e-9)
    ctas = sum(groups[c.group].sms * c.slots_per_sm * sum(p.ctas for p in c.phases) for c in classes)
    assert ctas == pytest.approx(5000)


def test_a_long_chain_folded_with_short_ones_still_sets_the_time():
    # 200 one-CTA slots, latency-bound; estimated durations (bandwidth) hide which is long,
    # so the long chain is folded into a group of many SMs: the group keeps its latency.
    n = 200
    work = {f: np.zeros(n) for f in CTA_FIELDS}
    work["math"] = np.full(n, 1.0)
    work["latency_s"] = np.full(n, 1e-6)
    work["latency_s"][7] = 3e-6
    groups, classes = greedy_slots(work, duration_s=np.linspace(2.0, 1.0, n), fill_s=np.zeros(n), sms=132,
                                   occupancy=4)
    assert _time(groups, classes) == pytest.approx(3e-6, rel=1e-6)


def test_a_long_cta_becomes_the_tail_on_its_own_sm():
    n = 1000
    work = {f: np.zeros(n) for f in CTA_FIELDS}
    work["math"] = np.full(n, 1e6)
    work["math"][500] = 1e9  # one CTA 1000x the others
    groups, classes = greedy_slots(work, duration_s=work["math"] / 1e12, fill_s=np.zeros(n), sms=100,
                                   occupancy=1)
    assert groups[0].sms == 1
    busiest = next(c for c in classes if c.group == 0)
    assert busiest.phases[-1].demand["math"] == pytest.approx(1e9)  # the long CTA, last on its slot
    t = _time(groups, classes)
    assert t == pytest.approx(1e-3 + 5 * 1e-6, rel=0.05)  # it starts in wave 6 and runs 1 ms


def test_fewer_ctas_than_slots_leave_sms_idle():
    work = {f: np.full(10, 1.0) for f in CTA_FIELDS}
    groups, classes = greedy_slots(work, duration_s=np.ones(10), fill_s=np.zeros(10), sms=132, occupancy=4)
    active = sum(groups[c.group].sms * c.slots_per_sm for c in classes)
    assert active == 10
