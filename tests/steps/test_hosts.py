"""The host that runs PyTorch (sparsim.steps.hosts): per-call cost, basis, and where it applies."""

import pytest

import sparsim
from sparsim.errors import SparsimError
from sparsim.hwprofiles import load_profile
from sparsim.steps.framework import VIEW_CALL_S
from sparsim.steps.hosts import derive_kernel_call_s, host_for, host_names, resolve_host


def _blog_rate(kernel_call_s):
    # the PyTorch blog's eager starting point: gpt-fast model.py, Llama-2-7B bf16, batch 1,
    # A100-80GB at 330 W, gpt-fast's defaults (5-token prompt, 200 new tokens, static cache)
    g = sparsim.predict_generation("llama2-7b", hw="a100-sxm4-80gb", batch=1, prompt=5, gen=200, mode="eager",
                                   dtype="bf16", attention="repeat-kv-math", static_cache=True, power_limit_w=330,
                                   host=kernel_call_s)
    return 200 / g.total_s


def test_reference_host_reproduces_the_published_eager_run_it_was_derived_from():
    ref = resolve_host("reference-2023", None, None)
    assert ref.basis == "published"
    assert _blog_rate(ref.kernel_call_s) == pytest.approx(25.5, rel=0.01)
    assert derive_kernel_call_s(25.5, _blog_rate) == pytest.approx(ref.kernel_call_s, rel=0.01)


def test_measured_host_goes_with_its_own_boards_calibration_only():
    assert host_names() == ("h200-node-2026-11-29", "reference-2023")
    h200 = sparsim.predict_step("llama2-7b", hw="h200-sxm-141gb", context=512)
    assert h200.notes[0].startswith("10.07 us") and "measured" in h200.notes[0]
    # another board of the GH100 die runs the H200's kernel calibration, not its host
    h100 = sparsim.predict_step("llama2-7b", hw="h100-sxm5-80gb", context=512)
    assert "same GH100 die" in h100.basis and h100.notes[0].startswith("17.32 us") and "published" in h100.notes[0]
    # datasheet only: no measured host either
    assert host_for(load_profile("h200-sxm-141gb"), None).name == "reference-2023"


def test_eager_host_time_follows_the_hosts_call_cost_and_graphs_do_not():
    def step(mode, host):
        return sparsim.predict_step("llama2-7b", hw="a100-sxm4-80gb", context=512, mode=mode, host=host)
    slow, fast = step("eager", 20e-6), step("eager", 10e-6)
    assert slow.bound == fast.bound == "host"
    # every kernel call costs the host's figure, inner kernels that less a view call: the
    # host time is affine in the call cost, with the views and module calls fixed
    mid = step("eager", 15e-6)
    assert mid.host_busy_s == pytest.approx((slow.host_busy_s + fast.host_busy_s) / 2, rel=1e-9)
    per_us = (slow.host_busy_s - fast.host_busy_s) / 10
    assert per_us == pytest.approx(fast.kernels * 1e-6, rel=0.05)  # ~one us per kernel per us of call cost
    assert slow.time_s > 1.6 * fast.time_s * 0.9
    # a graph replays the model with no host work per op; only the Python loop's 4 calls
    # (gpt-fast's decode_n_tokens) still cost the host's figure
    g_slow, g_fast = step("cuda-graphs", 20e-6), step("cuda-graphs", 10e-6)
    assert g_slow.time_s - g_fast.time_s == pytest.approx(4 * 10e-6, rel=1e-6)
    assert VIEW_CALL_S < 10e-6


@pytest.mark.parametrize("bad", ["fast", -1e-6, 0, 2e-3, True, [1e-5]])
def test_a_bad_host_is_refused_naming_the_flag(bad):
    with pytest.raises(SparsimError, match=r"^--host: got .*; allowed: h200-node-2026-11-29, reference-2023"):
        sparsim.predict_step("llama2-7b", hw="a100-sxm4-80gb", host=bad)


def test_cli_host_row_and_exit_status(capsys):
    from sparsim.cli import main

    assert main(["step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--host", "12e-6"]) == 0
    assert "12.00 us host per eager kernel call (given)" in capsys.readouterr().out
    assert main(["step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--host", "x"]) == 2
    assert "--host: got 'x'" in capsys.readouterr().err


def test_cli_power_limit_reaches_the_step(capsys):
    import json

    from sparsim.cli import main

    args = ["step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--phase", "prefill", "--prompt", "4096",
            "--mode", "compiled", "--json"]
    assert main(args) == 0
    full = json.loads(capsys.readouterr().out)["time_s"]
    assert main(args + ["--power-limit", "150"]) == 0
    capped = json.loads(capsys.readouterr().out)["time_s"]
    # a compute-bound prefill slows under a 150 W cap, as predict_step(power_limit_w=150) says
    assert capped > 1.05 * full
    py = sparsim.predict_step("llama2-7b", hw="a100-sxm4-80gb", phase="prefill", prompt=4096, mode="compiled",
                              power_limit_w=150).time_s
    assert capped == pytest.approx(py, rel=1e-12)
    assert main(args + ["--power-limit", "5"]) == 2
    assert "--power-limit" in capsys.readouterr().err
