"""Memory capacity: weights per format, K/V cache, max batch, the does-not-fit message."""

from sparsim.models.step_ops import step_ops
from sparsim.models.transformer import load_config
from sparsim.steps.memory import RUNTIME_RESERVE_BYTES, linear_weight_bytes, max_batch, memory_plan

L7 = load_config("llama2-7b")
GIB = 2**30


def test_weights_by_format():
    dense = linear_weight_bytes(4096, 4096)
    assert dense == 4096 * 4096 * 2
    # 2:4: half the values + 2 bits of metadata per kept value
    assert linear_weight_bytes(4096, 4096, linear="2:4") == dense // 2 + 4096 * 2048 // 4
    # CSR at 10%: values + int32 columns + int32 row pointers
    nnz = round(4096 * 4096 * 0.1)
    assert linear_weight_bytes(4096, 4096, linear="csr", density=0.1) == nnz * 2 + nnz * 4 + 4097 * 4
    assert linear_weight_bytes(4096, 4096, linear="channel", density=0.5) == dense // 2
    # int4 weight-only, group 128: values + bf16 scale and zero per group
    assert linear_weight_bytes(4096, 4096, quant="w4a16") == 4096 * 4096 // 2 + 2 * 4096 * 32 * 2


def test_the_kv_cache_follows_the_formula_and_tp_splits_it():
    ops = step_ops(load_config("llama2-70b"), phase="decode", batch=16, context=2048, tp=4)
    plan = memory_plan(ops, load_config("llama2-70b"), capacity_bytes=80 * GIB)
    assert plan.parts["kv_cache"] == 2 * 80 * (8 // 4) * 128 * 2048 * 16 * 2
    assert plan.parts["reserve"] == RUNTIME_RESERVE_BYTES


def test_a_plan_that_does_not_fit_says_by_how_much():
    ops = step_ops(load_config("llama2-70b"), phase="decode", batch=1, context=128)
    plan = memory_plan(ops, load_config("llama2-70b"), capacity_bytes=80 * GIB)
    assert not plan.fits
    assert plan.message.startswith("does not fit: needs 12") and plan.message.endswith("of 80.0 GiB")


def test_max_batch_is_the_last_batch_that_fits():
    cap = 40 * GIB
    b = max_batch(L7, capacity_bytes=cap, context=4096)
    fits = lambda n: memory_plan(step_ops(L7, batch=n, context=4096), L7, capacity_bytes=cap).fits
    assert b > 1 and fits(b) and not fits(b + 1)
    assert max_batch(L7, capacity_bytes=8 * GIB, context=16) == 0
    assert max_batch(L7, capacity_bytes=cap, context=4096, linear="2:4") > b


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 256), context=st.integers(1, 32768), more=st.integers(1, 64))
def test_memory_grows_with_batch_and_context(batch, context, more):
    def total(b, c):
        return memory_plan(step_ops(L7, batch=b, context=c), L7, capacity_bytes=GIB).total_bytes
    assert total(batch + more, context) > total(batch, context)
    assert total(batch, context + more) > total(batch, context)
