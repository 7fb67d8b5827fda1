"""Built-in hardware profiles: they load, match the reference table, cite every number,
and a malformed profile fails with one line naming the file, the key and what is allowed."""

from __future__ import annotations

import math
import re
import tomllib
from importlib import resources

import pytest

from sparsim.errors import SparsimError
from sparsim.hwprofiles import load_profile, list_profiles, read_profile_file

BUILTIN = [
    "a100-pcie-80gb",
    "a100-sxm4-40gb",
    "a100-sxm4-80gb",
    "b200",
    "h100-pcie-80gb",
    "h100-sxm5-80gb",
    "h200-sxm-141gb",
    "l4",
    "l40s",
    "rtx-4090",
    "v100-sxm2-32gb",
]

DATA = resources.files("sparsim.hwprofiles") / "data"
TEMPLATE = "a100-sxm4-80gb"


def _text(name: str) -> str:
    return (DATA / f"{name}.toml").read_text(encoding="utf-8")


def test_list_profiles_is_the_builtins():
    assert list_profiles() == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_loads(name):
    hw = load_profile(name)
    assert hw.name == name
    assert hw.kind == "gpu"
    assert hw.display_name.startswith("NVIDIA")
    assert hw.base_clock_mhz < hw.boost_clock_mhz
    assert hw.shared_mem_per_sm_bytes <= hw.l1_bytes_per_sm
    assert hw.l1_latency_ns < hw.l2_latency_ns < hw.hbm_latency_ns
    assert hw.hbm_bytes_per_s < hw.l2_bytes_per_s
    assert hw.sector_bytes == 32
    # the file's stem and its name field agree, so `--hw NAME` and the record agree
    assert tomllib.loads(_text(name))["name"] == name


# DESIGN.md "Reference facts" (NVIDIA datasheets); H100 PCIe from the H100 datasheet.
# name, SMs, boost MHz (low, high), fp16 dense TFLOP/s, fp16 2:4 TFLOP/s or None,
# HBM GB/s, L2 MB (MiB), device memory GiB (None: decimal, checked separately)
REFERENCE = [
    ("v100-sxm2-32gb", 80, (1530, 1530), 125, None, 900, 6, 32),
    ("a100-sxm4-80gb", 108, (1410, 1410), 312, 624, 2039, 40, 80),
    ("a100-sxm4-40gb", 108, (1410, 1410), 312, 624, 1555, 40, 40),
    ("h100-sxm5-80gb", 132, (1830, 1980), 989, 1979, 3350, 50, 80),
    ("h100-pcie-80gb", 114, (1755, 1755), 756, 1513, 2000, 50, 80),
    ("h200-sxm-141gb", 132, (1830, 1980), 989, 1979, 4800, 50, None),
    ("l4", 58, (2040, 2040), 121, 242, 300, 48, 24),
    ("rtx-4090", 128, (2520, 2520), 165, 330, 1008, 72, 24),
    # A100 80GB PCIe, L40S, HGX B200 datasheets
    ("a100-pcie-80gb", 108, (1410, 1410), 312, 624, 1935, 40, 80),
    ("l40s", 142, (2520, 2520), 362.05, 724.1, 864, 96, 48),  # datasheet prints 733* for 2 x 362.05
    ("b200", 148, (1965, 1965), 2250, 4500, 8000, None, 180),
]


@pytest.mark.parametrize("name,sms,boost,fp16,fp16_sparse,hbm_gbs,l2_mb,mem_gib", REFERENCE,
                         ids=[r[0] for r in REFERENCE])
def test_reference_table(name, sms, boost, fp16, fp16_sparse, hbm_gbs, l2_mb, mem_gib):
    hw = load_profile(name)
    assert hw.sm_count == sms
    assert boost[0] <= hw.boost_clock_mhz <= boost[1]
    assert hw.tensor_peak("fp16") / 1e12 == pytest.approx(fp16, rel=2e-3)
    if fp16_sparse is None:
        assert hw.tensor_peak("fp16", sparse=True) is None
    else:
        assert hw.tensor_peak("fp16", sparse=True) / 1e12 == pytest.approx(fp16_sparse, rel=2e-3)
    assert hw.hbm_bytes_per_s / 1e9 == pytest.approx(hbm_gbs, rel=1e-6)
    if l2_mb is not None:
        assert hw.l2_bytes == l2_mb * 2**20
    if mem_gib is not None:
        assert hw.hbm_bytes == mem_gib * 2**30


def test_h200_memory_is_the_datasheet_141_gb():
    assert load_profile("h200-sxm-141gb").hbm_bytes == 141 * 10**9


def test_volta_has_fp16_tensor_cores_only_and_no_sparse_path():
    hw = load_profile("v100-sxm2-32gb")
    assert set(hw.tensor_dense_flops_per_s) == {"fp16"}
    assert hw.sparse_dtypes == ()
    assert hw.tensor_peak("bf16") is None and hw.tensor_peak("int8") is None
    assert "tensor_sparse" not in tomllib.loads(_text("v100-sxm2-32gb"))


@pytest.mark.parametrize("name,dtypes", [
    ("a100-sxm4-40gb", {"tf32", "fp16", "bf16", "int8"}),
    ("a100-sxm4-80gb", {"tf32", "fp16", "bf16", "int8"}),
    ("h100-pcie-80gb", {"tf32", "fp16", "bf16", "fp8", "int8"}),
    ("h100-sxm5-80gb", {"tf32", "fp16", "bf16", "fp8", "int8"}),
    ("h200-sxm-141gb", {"tf32", "fp16", "bf16", "fp8", "int8"}),
    ("l4", {"tf32", "fp16", "bf16", "fp8", "int8"}),
    ("rtx-4090", {"tf32", "fp16", "bf16", "fp8", "int8"}),
    ("a100-pcie-80gb", {"tf32", "fp16", "bf16", "int8"}),
    ("l40s", {"tf32", "fp16", "bf16", "fp8", "int8"}),
    ("b200", {"tf32", "fp16", "bf16", "fp8", "int8"}),
])
def test_sparse_tensor_dtypes(name, dtypes):
    hw = load_profile(name)
    assert set(hw.sparse_dtypes) == dtypes
    assert hw.sparse_speedup == 2.0


def test_rtx_4090_uses_fp32_accumulate_rates():
    hw = load_profile("rtx-4090")
    assert hw.tensor_peak("fp16") == pytest.approx(165.2e12)
    assert hw.tensor_peak("fp8") == pytest.approx(330.3e12)
    assert "FP32 accumulate" in hw.source("tensor_dense_flops_per_s.fp16")


def test_geforce_runs_fp32_accumulate_at_half_the_tensor_cores_full_rate():
    """Ada whitepaper, RTX 4090: fp16/fp8 with fp16 accumulate at twice the fp32-accumulate
    rate; int8 (int32 accumulate) at the full rate; data-center Ada (L40S, L4) full rate."""
    hw = load_profile("rtx-4090")
    assert hw.tensor_rate_fraction("fp16") == pytest.approx(0.5, rel=1e-3)
    assert hw.tensor_rate_fraction("fp8") == pytest.approx(0.5, rel=1e-3)
    assert hw.tensor_rate_fraction("int8") == 1.0 and hw.tensor_rate_fraction("bf16") == 1.0
    for name in ("l40s", "l4", "h100-sxm5-80gb", "a100-pcie-80gb"):
        assert load_profile(name).tensor_rate_fraction("fp16") == 1.0, name


# die (GH100, GA100, ...) and board power, each sourced: datasheets
DIES = {"a100-pcie-80gb": ("GA100", 300), "a100-sxm4-40gb": ("GA100", 400), "a100-sxm4-80gb": ("GA100", 400),
        "b200": ("GB100", 1000), "h100-pcie-80gb": ("GH100", 350), "h100-sxm5-80gb": ("GH100", 700),
        "h200-sxm-141gb": ("GH100", 700), "l4": ("AD104", 72), "l40s": ("AD102", 350), "rtx-4090": ("AD102", 450),
        "v100-sxm2-32gb": ("GV100", 300)}


@pytest.mark.parametrize("name", BUILTIN)
def test_every_gpu_names_its_die_and_board_power(name):
    hw = load_profile(name)
    die, watts = DIES[name]
    assert (hw.die, hw.board_power_w) == (die, watts)
    assert hw.source("die") and hw.source("power.board_power_w")
    assert 0 < hw.idle_power_w + hw.memory_power_w < hw.board_power_w


def test_bad_die_and_power_entries_fail_with_one_line(tmp_path):
    text = _text(TEMPLATE)
    bad_die = text.replace('die = { value = "GA100"', 'die = { value = "GA 100!"')
    assert "die" in _error(_write(tmp_path, bad_die))
    no_source = text.replace('die = { value = "GA100", source = "[A100-WP] A100 is built on the GA100 GPU" }',
                             'die = { value = "GA100", source = "" }')
    assert "die.source" in _error(_write(tmp_path, no_source))
    too_hungry = text.replace("idle_power_w = { value = 50,", "idle_power_w = { value = 390,")
    assert "idle_power_w" in _error(_write(tmp_path, too_hungry))
    unknown = text.replace("[power]\n", "[power]\nfan_w = { value = 3, source = \"x\" }\n")
    assert "power.fan_w" in _error(_write(tmp_path, unknown))


def _numeric_keys(hw) -> list[str]:
    keys = []
    for key, value in hw.to_dict().items():
        if key in ("name", "display_name", "kind", "version", "compute_capability", "tensor_sparse.dtypes", "die"):
            continue
        if key == "tensor_sparse.speedup" and not hw.sparse_dtypes:
            continue  # no [tensor_sparse] table: the 1.0 default is not a published number
        assert isinstance(value, (int, float)), key
        keys.append(key)
    return keys


@pytest.mark.parametrize("name", BUILTIN)
def test_every_number_has_a_source(name):
    hw = load_profile(name)
    keys = _numeric_keys(hw)
    assert set(keys) == set(hw.sources) - {"die"}  # the die is a name, sourced too
    for key in keys:
        assert hw.source(key).strip(), key
        assert math.isfinite(hw.to_dict()[key]), key


@pytest.mark.parametrize("name", BUILTIN)
def test_estimates_are_marked_and_explained(name):
    """A `note` says "estimate" and then the source says how it was derived; a source
    that calls itself an estimate carries the note."""
    data = tomllib.loads(_text(name))
    for section, table in data.items():
        if not isinstance(table, dict):
            continue
        for key, entry in table.items():
            if not isinstance(entry, dict):
                continue
            note = entry.get("note")
            assert note in (None, "estimate"), f"{section}.{key}"
            is_estimate = entry["source"].startswith("estimate")
            assert (note == "estimate") == is_estimate, f"{section}.{key}"
            if is_estimate:
                assert len(entry["source"]) > len("estimate: ") + 20, f"{section}.{key}"


@pytest.mark.parametrize("name", BUILTIN)
def test_header_lists_every_cited_source(name):
    text = _text(name)
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    cited = set(re.findall(r"\[([A-Za-z0-9_-]+)\]", text.split("version = 1", 1)[1]))
    cited -= {"compute", "memory", "launch", "tensor_dense_flops_per_s", "tensor_sparse",
              "vector_flops_per_s", "power", "tensor_fp16_accumulate_flops_per_s", "interconnect"}
    for short in cited:
        assert f"[{short}]" in header, f"{name}: [{short}] cited but not listed in the header"


# ---------------------------------------------------------------- schema errors

def _write(tmp_path, text: str):
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(path) -> str:
    with pytest.raises(SparsimError) as info:
        read_profile_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def _replace_line(text: str, key: str, new: str | None) -> str:
    pattern = re.compile(rf"^{re.escape(key)} = .*$", re.M)
    assert len(pattern.findall(text)) == 1, key
    return pattern.sub(new if new is not None else "", text)


def test_template_copy_is_valid(tmp_path):
    hw = read_profile_file(_write(tmp_path, _text(TEMPLATE)))
    assert hw.sm_count == 108


def test_missing_field(tmp_path):
    msg = _error(_write(tmp_path, _replace_line(_text(TEMPLATE), "sm_count", None)))
    assert "compute.sm_count" in msg
    assert "missing" in msg and "allowed" in msg and "source" in msg


def test_negative_field(tmp_path):
    text = _replace_line(_text(TEMPLATE), "hbm_bytes_per_s",
                         'hbm_bytes_per_s = { value = -2.039e12, source = "x" }')
    msg = _error(_write(tmp_path, text))
    assert "memory.hbm_bytes_per_s" in msg
    assert "-2039000000000.0" in msg
    assert "allowed: a number in [1e+06, 1e+16]" in msg


def test_negative_whole_number_field(tmp_path):
    text = _replace_line(_text(TEMPLATE), "sm_count", 'sm_count = { value = -108, source = "x" }')
    msg = _error(_write(tmp_path, text))
    assert "compute.sm_count" in msg and "-108" in msg
    assert "allowed: a whole number in [1, 10,000]" in msg


@pytest.mark.parametrize("key, line, allowed", [
    # issue 11: a rate of 1e-300 FLOP/s gave busy.sm = NaN; 1e15 SMs a memory error
    ("fp16", 'fp16 = { value = 1e-300, source = "x" }', "a number in [1e+06, 1e+19]"),
    ("sm_count", 'sm_count = { value = 1e15, source = "x" }', "a whole number in [1, 10,000]"),
    ("sm_count", 'sm_count = { value = 10001, source = "x" }', "a whole number in [1, 10,000]"),
    ("l2_latency_ns", 'l2_latency_ns = { value = 1e300, source = "x" }', "a number in [0.01, 1e+06]"),
    ("overhead_s", 'overhead_s = { value = 1e-300, source = "x" }', "a number in [1e-10, 10]"),
    ("speedup", 'speedup = { value = 0.5, source = "x" }', "a number in [1, 16]"),
])
def test_hardware_numbers_are_bounded_to_physical_ranges(tmp_path, key, line, allowed):
    msg = _error(_write(tmp_path, _replace_line(_text(TEMPLATE), key, line)))
    assert msg.count("\n") == 0 and f"allowed: {allowed}" in msg and f".{key}: got " in msg


def test_a_huge_string_is_not_echoed_whole(tmp_path):
    text = _replace_line(_text(TEMPLATE), "sm_count", 'sm_count = "' + "9" * 2_000_000 + '"')
    msg = _error(_write(tmp_path, text))
    assert "compute.sm_count" in msg and len(msg) < 400 and "2000002 chars" in msg


def test_value_without_source(tmp_path):
    text = _replace_line(_text(TEMPLATE), "l2_bytes", "l2_bytes = { value = 41943040 }")
    msg = _error(_write(tmp_path, text))
    assert "memory.l2_bytes.source" in msg
    assert "allowed: a non-empty citation string" in msg


def test_bare_number_without_table(tmp_path):
    text = _replace_line(_text(TEMPLATE), "l2_bytes", "l2_bytes = 41943040")
    msg = _error(_write(tmp_path, text))
    assert "memory.l2_bytes" in msg
    assert "allowed: { value = <number>, source" in msg


def test_unknown_key(tmp_path):
    text = _text(TEMPLATE).replace(
        "[compute]\n", '[compute]\nwarp_size = { value = 32, source = "x" }\n', 1)
    msg = _error(_write(tmp_path, text))
    assert "compute.warp_size" in msg
    assert "allowed:" in msg and "sm_count" in msg


def test_unknown_dtype(tmp_path):
    text = _text(TEMPLATE).replace(
        "[tensor_dense_flops_per_s]\n",
        '[tensor_dense_flops_per_s]\nfp4 = { value = 1e15, source = "x" }\n', 1)
    msg = _error(_write(tmp_path, text))
    assert "tensor_dense_flops_per_s.fp4" in msg
    assert "allowed:" in msg and "fp16" in msg


def test_string_where_a_number_belongs(tmp_path):
    text = _replace_line(_text(TEMPLATE), "sm_count",
                         'sm_count = { value = "108", source = "x" }')
    msg = _error(_write(tmp_path, text))
    assert "compute.sm_count" in msg and "'108'" in msg
    assert "allowed: a finite number" in msg


def test_sparse_dtype_without_dense_rate(tmp_path):
    text = _text(TEMPLATE).replace('dtypes = ["tf32", "fp16", "bf16", "int8"]',
                                   'dtypes = ["tf32", "fp16", "bf16", "int8", "fp8"]')
    msg = _error(_write(tmp_path, text))
    assert "tensor_sparse.dtypes" in msg and "allowed:" in msg


def test_sparse_dtype_of_wrong_type(tmp_path):
    text = _text(TEMPLATE).replace('dtypes = ["tf32", "fp16", "bf16", "int8"]',
                                   'dtypes = [{ a = 1 }]')
    msg = _error(_write(tmp_path, text))
    assert "tensor_sparse.dtypes" in msg and "allowed:" in msg


def test_invalid_toml(tmp_path):
    text = _text(TEMPLATE).replace("[compute]\n", "[compute\n", 1)
    msg = _error(_write(tmp_path, text))
    assert "not valid TOML" in msg


def test_load_profile_by_path(tmp_path):
    path = _write(tmp_path, _text("l4"))
    assert load_profile(str(path)).sm_count == 58


def test_unknown_profile_name_lists_allowed_names():
    with pytest.raises(SparsimError) as info:
        load_profile("nonexistent")
    msg = str(info.value)
    assert "\n" not in msg
    assert "'nonexistent'" in msg and "allowed:" in msg
    for name in BUILTIN:
        assert name in msg


@pytest.mark.parametrize("name, major", [("v100-sxm2-32gb", 7), ("a100-sxm4-80gb", 8), ("l4", 8),
                                         ("rtx-4090", 8), ("h100-sxm5-80gb", 9), ("h200-sxm-141gb", 9)])
def test_compute_capability_names_the_generation(name, major):
    assert load_profile(name).cc_major == major


def test_malformed_compute_capability_is_refused(tmp_path):
    text = _replace_line(_text(TEMPLATE), "compute_capability", 'compute_capability = "ampere"')
    message = _error(_write(tmp_path, text))
    assert "key compute_capability: got 'ampere'" in message and "MAJOR.MINOR" in message
