"""`sparsim predict --quant/--group` and `sparsim impl list|show` for quantized paths."""

import json

from sparsim.cli import main

ARGS = ["predict", "--hw", "a100-sxm4-80gb", "--kernel", "dense", "--m", "4096", "--k", "4096", "--n", "1"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_quant_picks_the_scheme_default_and_counts_int4_bytes(capsys):
    code, out, err = run(capsys, *ARGS, "--quant", "w4a16", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["impl"], data["quant"], data["dtype"]) == ("marlin", "w4a16", "fp16")
    assert data["bytes_values"] == 4096 * 4096 // 2 and data["bytes_index"] == 4096 * 32 * 2


def test_predict_group_changes_the_scale_bytes(capsys):
    code, out, _ = run(capsys, *ARGS, "--quant", "w4a16", "--group", "32", "--dtype", "bf16",
                       "--impl", "torchao-int4", "--json")
    assert code == 0
    assert json.loads(out)["bytes_index"] == 2 * 4096 * (4096 // 32) * 2  # bf16 scale + zero per 32


def test_fp8_before_ada_exits_2_with_one_line(capsys):
    code, out, err = run(capsys, *ARGS, "--quant", "fp8")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "compute capability 8.9 or later" in err


def test_int4_on_a_v100_names_quant_and_the_gpus_its_paths_need(capsys):
    code, out, err = run(capsys, "predict", "--hw", "v100-sxm2-32gb", "--kernel", "dense", "--quant", "w4a16",
                         "--m", "4096", "--k", "4096", "--n", "1")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--quant: got 'w4a16'" in err and "compute capability 8.0 or later" in err and "--impl: got" not in err


def test_impl_list_names_the_schemes_and_show_the_sources(capsys):
    code, out, _ = run(capsys, "impl", "list")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    for name, scheme in (("marlin", "w4a16"), ("sparse-marlin", "w4a16"), ("torchao-int4", "w4a16"),
                         ("torchao-int8wo", "w8a16"), ("cublaslt-fp8", "fp8"), ("torchao-int8-2:4", "w8a8"),
                         ("cutlass-2:4", "fp8"), ("cusparselt", "w8a8")):
        assert "quant: " in lines[name] and scheme in lines[name]
    code, out, _ = run(capsys, "impl", "show", "marlin")
    assert "dequantization  1.875 issue slots" in out and "min cc" in out


def test_impl_show_names_tinygemms_k_loop_and_its_source(capsys):
    code, out, _ = run(capsys, "impl", "show", "torchao-int4")
    assert code == 0
    line = next(line for line in out.splitlines() if line.strip().startswith("K loop"))
    assert "8 warps, 1024 K per CTA round, no prefetch" in line and "[int4mm]" in line
