"""The step timeline: host, launch queue, GPU stream and link, asserted as traces."""

from hypothesis import given, settings, strategies as st

from sparsim.steps.timeline import Launch, simulate


def spans(result, lane):
    return [(r["name"], round(r["start_s"] * 1e6, 3), round(r["end_s"] * 1e6, 3))
            for r in result.records if r["lane"] == lane]


def test_a_host_bound_step_leaves_the_gpu_waiting_between_kernels():
    items = [Launch(f"k{i}", "elementwise", host_s=10e-6, gpu_s=2e-6) for i in range(3)]
    r = simulate(items)
    assert spans(r, "gpu") == [("k0", 10, 12), ("k1", 20, 22), ("k2", 30, 32)]
    assert round(r.gpu_idle_s * 1e6, 3) == 26 and round(r.time_s * 1e6, 3) == 32


def test_a_gpu_bound_step_queues_launches_and_runs_back_to_back():
    items = [Launch(f"k{i}", "linear", host_s=1e-6, gpu_s=50e-6) for i in range(3)]
    r = simulate(items)
    assert spans(r, "gpu") == [("k0", 1, 51), ("k1", 51, 101), ("k2", 101, 151)]
    assert spans(r, "host")[-1] == ("k2", 2, 3)  # the host finished long before
    assert round(r.gpu_idle_s * 1e6, 3) == 1


def test_a_graph_launch_releases_every_kernel_at_once():
    items = [Launch("graph launch", "elementwise", host_s=20e-6, gpu_s=0.0, kernels=0)]
    items += [Launch(f"k{i}", "elementwise", gpu_s=3e-6) for i in range(4)]
    r = simulate(items)
    assert [s for _, s, _ in spans(r, "gpu")] == [20, 23, 26, 29]
    assert r.kernels == 4


def test_an_allreduce_holds_the_link_and_counts_as_communication():
    items = [Launch("mm", "linear", gpu_s=10e-6, prunable=True),
             Launch("ar", "communication", gpu_s=5e-6, lane="comm")]
    r = simulate(items)
    assert spans(r, "comm") == [("ar", 10, 15)]
    assert r.busy_by_class["communication"] == 5e-6 and r.prunable_s == 10e-6


def test_layers_after_the_first_are_summarised_but_counted():
    items = [Launch("x", "linear", gpu_s=1e-6, layer=n) for n in range(5)]
    r = simulate(items)
    names = [x["name"] for x in r.records if x["lane"] == "gpu"]
    assert names == ["x", "layers 2-5"]
    assert abs(r.gpu_busy_s - 5e-6) < 1e-15


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e-4), st.floats(0, 1e-4)), min_size=1, max_size=30))
def test_the_step_is_never_shorter_than_either_side(pairs):
    items = [Launch(f"k{i}", "elementwise", host_s=h, gpu_s=g) for i, (h, g) in enumerate(pairs)]
    r = simulate(items)
    assert r.time_s >= sum(g for _, g in pairs) - 1e-12
    assert r.time_s >= sum(h for h, g in pairs[:-1]) - 1e-12
    assert abs(r.gpu_idle_s + r.gpu_busy_s - r.time_s) < 1e-12
