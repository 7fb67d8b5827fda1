"""predict_generation: TTFT is the prefill, TPOT integrates decode steps over the growing context."""

import pytest

import sparsim


def test_ttft_tpot_and_tokens_per_second_compose():
    g = sparsim.predict_generation("llama3-8b", hw="h100-sxm5-80gb", batch=4, prompt=512, gen=128,
                                   mode="compiled")
    prefill, lo, mid, hi = g.steps
    assert prefill.phase == "prefill" and g.ttft_s == prefill.time_s
    assert lo.context == 513 and hi.context == 512 + 127
    assert lo.time_s <= mid.time_s <= hi.time_s  # attention grows with the context
    assert lo.time_s <= g.tpot_s <= hi.time_s
    assert g.total_s == pytest.approx(g.ttft_s + 127 * g.tpot_s)
    assert g.tokens_per_s == pytest.approx(4 * 128 / g.total_s)
    assert g.tokens_per_s_per_seq == pytest.approx(128 / g.total_s)


def test_a_static_cache_attends_over_all_of_it_every_step():
    dynamic = sparsim.predict_generation("llama2-7b", hw="a100-sxm4-80gb", prompt=8, gen=2000, mode="compiled")
    static = sparsim.predict_generation("llama2-7b", hw="a100-sxm4-80gb", prompt=8, gen=2000, mode="compiled",
                                        static_cache=True)
    assert static.tpot_s > dynamic.tpot_s


def test_a_request_that_does_not_fit_is_not_predicted():
    g = sparsim.predict_generation("llama2-70b", hw="a100-sxm4-80gb", prompt=128, gen=128)
    assert not g.fits and g.ttft_s is None and g.fit_message.startswith("does not fit")
