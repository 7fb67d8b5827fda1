"""`sparsim hw show`: human units, a legend for the source tags, NAME errors, measured beside datasheet."""

import json

import pytest

from sparsim.calibration import Calibration
from sparsim.cli import main
from sparsim.cli.hw import human_value, source_legend


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _line(out, key):
    return next(line for line in out.splitlines() if line.startswith(key + " "))


def test_numbers_are_in_human_units(capsys):
    code, out, err = run(capsys, "hw", "show", "h100-sxm5-80gb")
    assert code == 0, err
    assert "e+" not in out
    assert "80.00 GiB" in _line(out, "memory.hbm_bytes")
    assert "3.35 TB/s" in _line(out, "memory.hbm_bytes_per_s")
    assert "50.00 MiB" in _line(out, "memory.l2_bytes")
    assert "187 ns" in _line(out, "memory.l2_latency_ns")
    assert "989.4 TFLOP/s" in _line(out, "tensor_dense_flops_per_s.fp16")
    assert "3.00 us" in _line(out, "launch.overhead_s")


def test_every_source_tag_is_explained_in_a_legend(capsys):
    code, out, _ = run(capsys, "hw", "show", "h100-sxm5-80gb")
    legend = out.split("\nSources:\n", 1)[1]
    assert "[H100-WP] NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022)" in legend
    assert "[TPU-DB] TechPowerUp GPU database" in legend
    assert "estimate: derived from" in legend
    assert "not in the file's header" not in legend


@pytest.mark.parametrize("name,hint", [("a100-sxm4-80g", "a100-sxm4-80gb"), ("h100", None)])
def test_an_unknown_name_names_the_argument_and_the_closest(capsys, name, hint):
    code, _, err = run(capsys, "hw", "show", name)
    assert code == 2
    assert err.startswith(f"sparsim: error: NAME: got {name!r}")
    assert "--hw" not in err and "allowed: a100-pcie-80gb, a100-sxm4-40gb, a100-sxm4-80gb" in err
    assert (f"did you mean {hint!r}" in err) if hint else "did you mean" not in err


def test_measured_values_sit_beside_the_datasheet(capsys, tmp_path):
    path = Calibration(hw="h200-sxm-141gb", measured={"hbm_bytes_per_s": 4.272e12, "l2_latency_ns": 151.7,
                                                      "tensor_flops_per_s.bf16": 7.96e14}).save(tmp_path / "m.toml")
    code, out, err = run(capsys, "hw", "show", "h200-sxm-141gb", "--calibration", str(path))
    assert code == 0, err
    assert "datasheet" in out.splitlines()[0] and "measured" in out.splitlines()[0]
    hbm = _line(out, "memory.hbm_bytes_per_s")
    assert "4.8 TB/s" in hbm and "4.27 TB/s (0.89x)" in hbm
    assert "796.0 TFLOP/s" in _line(out, "tensor_dense_flops_per_s.bf16")
    code, out, _ = run(capsys, "hw", "show", "h200-sxm-141gb", "--calibration", str(path), "--json")
    assert json.loads(out)["measured"]["memory.l2_latency_ns"] == 151.7


def test_a_calibration_of_another_profile_is_refused(capsys, tmp_path):
    path = Calibration(hw="l4", measured={"hbm_bytes_per_s": 2.9e11}).save(tmp_path / "l4.toml")
    code, _, err = run(capsys, "hw", "show", "h200-sxm-141gb", "--calibration", str(path))
    assert code == 2 and "fitted for profile 'l4', not 'h200-sxm-141gb'" in err


def test_units_and_legend_helpers():
    assert human_value("memory.sector_bytes", 32) == "32 B"
    assert human_value("compute.sm_count", 132) == "132"
    assert human_value("compute.boost_clock_mhz", 1980) == "1,980 MHz"
    assert source_legend("# [X] one\nversion = 1\n# [Y] two") == {"X": "one"}


def test_show_gives_die_board_power_and_the_sustained_clocks(capsys):
    code, out, err = run(capsys, "hw", "show", "a100-pcie-80gb")
    assert code == 0, err
    assert "GA100" in _line(out, "die") and "300 W" in _line(out, "power.board_power_w")
    assert "Sustained clock under 300 W" in out
    fp16 = _line(out, "large fp16 GEMM (tensor cores busy)")
    assert 1050 <= int(fp16.split()[-2].replace(",", "")) <= 1250  # near the 1,065 MHz base clock
    assert _line(out, "memory-bound call (weights streamed)").split()[-2] == "1,410"
    code, out, err = run(capsys, "hw", "show", "a100-pcie-80gb", "--power-limit", "200", "--json")
    assert code == 0, err
    clocks = json.loads(out)["sustained_clock_mhz"]
    assert clocks["large fp16 GEMM (tensor cores busy)"] < 1000


def test_a_power_limit_below_idle_exits_2_with_one_line(capsys):
    code, out, err = run(capsys, "hw", "show", "l4", "--power-limit", "20")
    assert code == 2 and err.count("\n") == 1 and "--power-limit: got 20 W for l4" in err


def test_hw_list_json_names_every_profile_once(capsys):
    code, out, err = run(capsys, "hw", "list", "--json")
    assert code == 0, err
    rows = json.loads(out)
    names = [r["name"] for r in rows]
    assert len(set(names)) == len(names) >= 11
    assert {"name": "b200", "display_name": "NVIDIA B200"} in rows
    code, text, _ = run(capsys, "hw", "list")
    assert [line.split()[0] for line in text.splitlines()] == [r["name"] for r in rows]


@pytest.mark.parametrize("argv, usage", [((), "Usage: sparsim [OPTIONS] COMMAND"),
                                         (("hw",), "Usage: sparsim hw [OPTIONS] COMMAND"),
                                         (("impl",), "Usage: sparsim impl [OPTIONS] COMMAND")])
def test_a_group_without_a_command_prints_its_help_not_a_one_line_error(capsys, argv, usage):
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""
    assert out.startswith(usage) and "\nCommands:\n" in out and "sparsim: error" not in out


@pytest.mark.parametrize("name, basis, measured", [
    ("a100-sxm4-80gb", "published: te42kyfo/gpu-benches gpu-stream on NVIDIA A100 80GB",
     "memory.hbm_bytes_per_s 1.77 TB/s (0.87x)"),
    ("h100-pcie-80gb", "calibrated on NVIDIA H200 (same GH100 die), 2026-11-29", "memory.l2_latency_ns 152 ns"),
    ("rtx-4090", "datasheet only (no calibration shipped for this board or its die)", None),
])
def test_show_says_what_predictions_on_the_board_rest_on(capsys, name, basis, measured):
    code, out, err = run(capsys, "hw", "show", name)
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("predictions use: "))
    assert basis in line
    if measured:
        assert measured in out.split("predictions use: ", 1)[1]
    else:
        assert "in place of the datasheet" not in out


def test_show_json_carries_the_basis_and_the_shipped_ceilings(capsys):
    code, out, err = run(capsys, "hw", "show", "a100-sxm4-80gb", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["basis"].startswith("published: te42kyfo/gpu-benches")
    assert data["shipped_measured"] == {"hbm_bytes_per_s": 1.769e12}
    code, out, err = run(capsys, "hw", "show", "rtx-4090", "--json")
    assert json.loads(out)["basis"] == "datasheet only" and json.loads(out)["shipped_measured"] == {}
