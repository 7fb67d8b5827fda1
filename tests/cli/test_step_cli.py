"""`sparsim step` and `sparsim generate`: in process, exit codes and messages asserted."""

import json

from sparsim.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_step_json_has_the_design_fields(capsys):
    code, out, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--context", "256",
                         "--mode", "cuda-graphs", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert {"time_s", "tokens_per_s", "tokens_per_s_per_seq", "breakdown", "gpu_idle_s", "prunable_share",
            "memory_bytes", "fits", "basis", "ops", "timeline"} <= set(d)
    assert set(d["breakdown"]) == {"linear", "attention", "elementwise", "communication", "host_idle"}
    assert d["fits"] is True and d["tokens_per_s"] == d["tokens_per_s_per_seq"]
    assert {r["lane"] for r in d["timeline"]} == {"host", "gpu"}


def test_step_table_names_the_bound(capsys):
    code, out, _ = run(capsys, "step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--mode", "eager")
    assert code == 0 and "host-bound" in out and "prunable share" in out


def test_does_not_fit_is_one_line_and_exit_two(capsys):
    code, out, err = run(capsys, "generate", "--model", "llama2-70b", "--hw", "a100-sxm4-80gb",
                         "--prompt", "128", "--gen", "16")
    assert code == 2 and out == ""
    assert err.startswith("sparsim: error: does not fit: needs ") and err.count("\n") == 1


def test_generate_json(capsys):
    code, out, err = run(capsys, "generate", "--model", "llama3-8b", "--hw", "h100-sxm5-80gb", "--prompt", "128",
                         "--gen", "32", "--batch", "2", "--mode", "compiled", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["ttft_s"] > 0 and d["tpot_s"] > 0 and d["tokens_per_s"] == 2 * d["tokens_per_s_per_seq"]


def test_bad_input_is_exit_two(capsys):
    code, _, err = run(capsys, "step", "--model", "nope-1b", "--hw", "a100-sxm4-80gb")
    assert code == 2 and "--model: got 'nope-1b'" in err
    code, _, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--batch", "0")
    assert code == 2 and "--batch: got 0" in err


def test_datasheet_and_calibration_together_are_refused(capsys, tmp_path):
    cal = tmp_path / "c.toml"
    cal.write_text("")
    code, _, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "h200-sxm-141gb", "--datasheet",
                       "--calibration", str(cal))
    assert code == 2 and "--datasheet: given with --calibration" in err


def test_datasheet_changes_the_basis(capsys):
    code, out, _ = run(capsys, "step", "--model", "llama2-7b", "--hw", "h200-sxm-141gb", "--json")
    assert code == 0 and json.loads(out)["basis"].startswith("calibrated on NVIDIA H200")
    code, out, _ = run(capsys, "step", "--model", "llama2-7b", "--hw", "h200-sxm-141gb", "--datasheet", "--json")
    assert code == 0 and json.loads(out)["basis"] == "datasheet only"


def test_density_out_of_range_or_without_a_sparse_format_names_density(capsys):
    for density in ("0", "2", "-0.5"):
        code, out, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--linear", "csr",
                             "--density", density)
        assert code == 2 and out == ""
        assert err == f"sparsim: error: --density: got {float(density)} with --linear csr; allowed: a number in (0, 1]\n"
    code, _, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--density", "0.5")
    assert code == 2 and "--density: got 0.5 with --linear dense; allowed: only with --linear csr or channel" in err


def test_generate_names_its_linears_and_figures_like_step(capsys):
    argv = ("--model", "llama2-7b", "--hw", "h200-sxm-141gb", "--linear", "2:4")
    code, out, err = run(capsys, "generate", *argv, "--prompt", "64", "--gen", "4")
    assert code == 0, err
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert rows["linears"] == "2:4  fp16" and rows["figures"].startswith("calibrated on NVIDIA H200")
    code, out, _ = run(capsys, "generate", *argv, "--prompt", "64", "--gen", "4", "--datasheet", "--json")
    d = json.loads(out)
    assert d["basis"] == "datasheet only" == d["steps"][0]["basis"]
    code, out, _ = run(capsys, "step", *argv)
    assert "linears         2:4  fp16\n" in out


def test_a_linear_the_path_cannot_run_names_linear_not_kernel(capsys):
    code, out, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "v100-sxm2-32gb", "--linear", "2:4")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("sparsim: error: --linear: got '2:4' on v100-sxm2-32gb, which has no sparse tensor cores")
    code, _, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--impl", "marlin")
    assert code == 2 and "--quant: got 'none' with --impl marlin --linear dense; allowed: w4a16" in err
    assert "--kernel" not in err


def test_decode_without_context_says_it_assumed_one_cached_token(capsys):
    """The memory and max-batch rows count a 1-token K/V cache then; the header says so."""
    code, out, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb")
    assert code == 0, err
    assert out.startswith("model           llama2-7b  decode  batch 1  context 1 (default)\n")
    assert "kv_cache 512.00 KiB" in out  # 1 token x 32 layers x 2 x 4096 x 2 bytes
    code, out, _ = run(capsys, "step", "--model", "llama2-7b", "--hw", "a100-sxm4-80gb", "--phase", "prefill")
    assert out.startswith("model           llama2-7b  prefill  batch 1  prompt 128 (default)\n")
    code, out, _ = run(capsys, "step", "--help")
    assert "(default 1)" in out and "(default 0)" in out


def test_max_batch_of_one_is_singular(capsys, tmp_path):
    """Llama-2-7B's shapes at a 100,000-token context: 48.8 GiB of K/V per sequence, one fits
    in 80 GiB (a config.json without max_position_embeddings: the built-in stops at 4,096)."""
    from sparsim.models.transformer import BUILTIN_CONFIGS

    c = BUILTIN_CONFIGS["llama2-7b"]
    config = tmp_path / "llama2-7b-long" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({key: getattr(c, key) for key in (
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "vocab_size")}))
    code, out, err = run(capsys, "step", "--model", str(config), "--hw", "a100-sxm4-80gb", "--context", "100000")
    assert code == 0, err
    assert "max batch       1 sequence fits at this context and format\n" in out
    code, out, _ = run(capsys, "step", "--model", str(config), "--hw", "a100-sxm4-80gb", "--context", "50000")
    assert "max batch       2 sequences fit at this context and format\n" in out


def test_group_without_quant_is_refused(capsys):
    code, out, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "h200-sxm-141gb", "--group", "64")
    assert code == 2 and out == ""
    assert err == "sparsim: error: --group: got 64 without --quant; allowed: only with --quant w4a16\n"


def test_does_not_fit_names_the_configuration_and_the_way_out(capsys):
    code, out, err = run(capsys, "step", "--model", "llama2-70b", "--hw", "a100-sxm4-80gb")
    assert code == 2 and out == ""
    assert err == ("sparsim: error: does not fit: needs 129.5 GiB of 80.0 GiB (llama2-70b on a100-sxm4-80gb, batch 1); "
                   "allowed: a configuration within the GPU's memory (a larger --tp, a smaller --batch or fewer "
                   "tokens, or --quant)\n")
    code, _, err = run(capsys, "generate", "--model", "llama2-70b", "--hw", "a100-sxm4-80gb", "--tp", "2",
                       "--batch", "64", "--prompt", "4000", "--gen", "16")
    assert code == 2 and "(llama2-70b on a100-sxm4-80gb x2, batch 64); allowed: " in err


def test_generate_one_token_has_no_tpot(capsys):
    code, out, err = run(capsys, "generate", "--model", "llama3-8b", "--hw", "h100-sxm5-80gb", "--prompt", "512",
                         "--gen", "1")
    assert code == 0, err
    assert "TPOT      - (--gen 1: the prefill samples the only token)\n" in out
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert rows["TTFT"] == rows["request"]
