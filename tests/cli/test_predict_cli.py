"""`sparsim predict` and `sparsim hw`: in process, exit codes and messages asserted."""

import json
import math
import subprocess
import sys

import pytest

from sparsim.cli import main

CSR_ARGS = ["predict", "--hw", "h100-sxm5-80gb", "--kernel", "csr", "--m", "4096", "--k", "4096",
            "--n", "256", "--density", "0.1"]

DESIGN_FIELDS = {"time_s", "flops_useful", "flops_executed", "bytes_hbm", "bytes_l2", "bytes_values",
                 "bytes_index", "dependent_access_depth", "dependent_accesses", "bound", "waves",
                 "hw", "calibration"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model", ["des", "analytic"])
def test_predict_json_has_design_fields_and_hand_counted_bytes(capsys, model):
    code, out, err = run(capsys, *CSR_ARGS, "--json", "--model", model)
    assert code == 0, err
    data = json.loads(out)
    assert DESIGN_FIELDS <= set(data)
    nnz = data["bytes_values"] // 2  # fp16 values
    assert abs(nnz / 4096**2 - 0.1) < 0.002
    assert data["bytes_index"] == 4 * nnz + 4 * 4097  # int32 columns + row pointers
    assert data["bytes_b"] == data["bytes_c"] == 4096 * 256 * 2
    assert data["flops_useful"] == data["flops_executed"] == 2 * nnz * 256
    assert data["dependent_access_depth"] == 2
    assert data["dependent_accesses"] == 4096 + nnz
    assert data["time_s"] >= data["roofline_floor_s"] > 0
    assert data["hw"] == "h100-sxm5-80gb" and data["model"] == model


def test_predict_table_is_aligned_and_names_the_bound(capsys):
    code, out, _ = run(capsys, *CSR_ARGS)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("kernel") and "csr" in lines[0]
    value_columns = {line.index("  ") for line in lines}
    assert len({line[: min(value_columns)].rstrip() != "" for line in lines}) == 1
    assert any(line.startswith("bound") for line in lines)


@pytest.mark.parametrize("argv, names", [
    (["--density", "1.5"], "--density: got 1.5; allowed: a number in [0, 1]"),
    (["--m", "0"], "--m: got 0; allowed: a whole number >= 1"),
    (["--m", "-3"], "--m: got -3"),
    (["--kernel", "ell"], "--kernel"),
    (["--dtype", "fp12"], "--dtype"),
    (["--kernel", "2:4", "--k", "4094"], "pad K to 4096"),
    (["--kernel", "2:4", "--dtype", "fp32"], "1:2"),
    (["--hw", "a200"], "--hw: got 'a200'"),
    (["--weights", "/nonexistent/w.npy"], "weights file"),
    (["--frobnicate"], "frobnicate"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, names):
    base = dict(zip(CSR_ARGS[1::2], CSR_ARGS[2::2]))
    for flag, value in zip(argv[::2], argv[1::2] + [None]):
        base[flag] = value
    if "--weights" in base:
        base.pop("--density")  # a weight file's zeros set the density (--density with it is refused)
    args = ["predict"] + [x for kv in base.items() for x in kv if x is not None]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("sparsim: error: ")
    assert names in err
    assert "Traceback" not in err


def test_bad_profile_file_is_refused_with_its_key(capsys, tmp_path):
    from sparsim.hwprofiles.loader import _data_dir

    text = (_data_dir() / "l4.toml").read_text()
    bad = tmp_path / "neg.toml"
    bad.write_text(text.replace("sm_count = { value = 58", "sm_count = { value = -58"))
    code, _, err = run(capsys, *CSR_ARGS[:2], str(bad), *CSR_ARGS[3:])
    assert code == 2
    assert f"profile {bad}: key compute.sm_count: got -58; allowed: a whole number in [1, 10,000]" in err


def test_hw_list_names_every_profile(capsys):
    code, out, _ = run(capsys, "hw", "list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert "h100-sxm5-80gb" in names and "v100-sxm2-32gb" in names and len(names) == 11


def test_hw_show_prints_each_number_with_its_source(capsys):
    code, out, _ = run(capsys, "hw", "show", "a100-sxm4-80gb")
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("compute.sm_count"))
    assert "108" in line and "A100-WP" in line


def test_python_dash_m_works_and_exits_2_on_bad_input():
    proc = subprocess.run([sys.executable, "-m", "sparsim", *CSR_ARGS[:-1], "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "sparsim: error: --density: got 2.0; allowed: a number in [0, 1]"


def test_every_option_has_help_and_dtype_says_what_it_is(capsys):
    from sparsim.cli import main

    assert main(["predict", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--dtype" in out and "Element type of A and B" in out
    from sparsim.cli.predict import predict

    assert all(option.help for option in predict.params if option.name != "help")


@pytest.mark.parametrize("value, allowed", [
    ("99999999999999999999999", "a whole number in [1, 9,223,372,036,854,775,807]"),
    ("12abc", "a whole number in [1, 9,223,372,036,854,775,807]"),
    ("0", "a whole number >= 1"),
])
def test_dimensions_are_bounded_in_one_line(capsys, value, allowed):
    from sparsim.cli import main

    assert main(["predict", "--hw", "l4", "--kernel", "dense", "--m", value, "--k", "8", "--n", "8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sparsim: error: --m: got ") and err.rstrip().endswith(allowed)


def test_power_limit_and_warm_l2_flags(capsys):
    args = ["predict", "--hw", "a100-sxm4-80gb", "--kernel", "dense", "--m", "8192", "--k", "8192", "--n", "8192",
            "--json"]
    code, out, err = run(capsys, *args)
    free = json.loads(out)
    code, out, err = run(capsys, *args, "--power-limit", "250")
    assert code == 0, err
    capped = json.loads(out)
    assert capped["kernel_s"] > 1.15 * free["kernel_s"]
    assert any("under the 250 W limit given" in note for note in capped["notes"])
    small = ["predict", "--hw", "rtx-4090", "--kernel", "dense", "--m", "3584", "--k", "3584", "--n", "64", "--json"]
    cold = json.loads(run(capsys, *small)[1])
    warm = json.loads(run(capsys, *small, "--l2", "warm")[1])
    assert warm["bytes_hbm"] < 0.05 * cold["bytes_hbm"] and warm["kernel_s"] < cold["kernel_s"]


@pytest.mark.parametrize("flag,value,message", [("--power-limit", "5", "--power-limit: got 5 W"),
                                                ("--l2", "hot", "'hot' is not one of 'cold', 'warm'")])
def test_bad_power_limit_or_l2_exit_2(capsys, flag, value, message):
    code, out, err = run(capsys, "predict", "--hw", "l4", "--kernel", "dense", "--m", "64", "--k", "64", "--n", "64",
                         flag, value)
    assert code == 2 and message in err


def test_power_limit_and_warm_l2_are_named_in_the_output(capsys):
    """A capped or warm-L2 prediction says so: a memory-bound call's time does not move at
    150 W, so without the hardware row nothing would show the cap was applied."""
    argv = ["predict", "--hw", "a100-sxm4-80gb", "--kernel", "dense", "--m", "4096", "--k", "4096", "--n", "16"]
    code, out, err = run(capsys, *argv, "--power-limit", "150", "--l2", "warm")
    assert code == 0, err
    assert "hardware          a100-sxm4-80gb  power limit 150 W  L2 warm\n" in out
    code, out, _ = run(capsys, *argv)
    assert "hardware          a100-sxm4-80gb\n" in out
    code, out, _ = run(capsys, *argv, "--power-limit", "150", "--json")
    d = json.loads(out)
    assert code == 0 and d["power_limit_w"] == 150 and d["l2"] == "cold"
    code, out, err = run(capsys, *argv, "--power-limit", "50")
    assert code == 2 and out == "" and err.startswith("sparsim: error: --power-limit: got 50 W for a100-sxm4-80gb")


@pytest.mark.parametrize("hw, bad, allowed", [
    ("v100-sxm2-32gb", "bf16", "fp64, fp32, fp16"),
    ("a100-sxm4-80gb", "fp8", "fp64, fp32, tf32, fp16, bf16, int8"),
])
def test_a_dense_dtype_the_chip_lacks_lists_every_dtype_that_runs(capsys, hw, bad, allowed):
    """fp32 (CUDA cores or tf32) and fp64 run on these chips: the refusal lists them, and
    each listed dtype predicts."""
    argv = ["predict", "--hw", hw, "--kernel", "dense", "--m", "1024", "--k", "1024", "--n", "1024"]
    code, out, err = run(capsys, *argv, "--dtype", bad)
    assert code == 2 and out == ""
    assert err == f"sparsim: error: --dtype: got '{bad}' for --kernel dense on {hw}; allowed: {allowed}\n"
    for dtype in allowed.split(", "):
        code, _, err = run(capsys, *argv, "--dtype", dtype, "--impl", "reference")
        assert code == 0, err
