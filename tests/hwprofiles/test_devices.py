"""One device-name table (sparsim.hwprofiles.devices): every tool that meets a GPU maps its
name to the same profile, and boards without a profile map to none."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from sparsim.hwprofiles import list_profiles, load_profile
from sparsim.hwprofiles.devices import DEVICE_NAMES, profile_for_device

MIB = 2**20

#: (name as reported, memory MiB or None, SMs or None, profile)
REPORTED = [
    ("NVIDIA H200", 143771, 132, "h200-sxm-141gb"),
    ("NVIDIA H200 NVL", 143771, 132, None),
    ("NVIDIA GH200 480GB", 97871, 132, None),
    ("NVIDIA H100 80GB HBM3", 81559, 132, "h100-sxm5-80gb"),
    ("NVIDIA H100 PCIe", 81559, 114, "h100-pcie-80gb"),
    ("NVIDIA H100 NVL", 95830, 132, None),
    ("NVIDIA H100", 95830, 132, None),            # an NVL by its plain name: 94 GB
    ("NVIDIA A100-SXM4-80GB", 81920, 108, "a100-sxm4-80gb"),
    ("NVIDIA A100-SXM4-40GB", 40960, 108, "a100-sxm4-40gb"),
    ("NVIDIA A100 80GB PCIe", 81920, 108, "a100-pcie-80gb"),
    ("NVIDIA A100-PCIE-40GB", 40960, 108, None),
    ("NVIDIA A100-PG509-200", 40337, 108, "a100-sxm4-40gb"),
    ("NVIDIA L40S", 46068, 142, "l40s"),
    ("NVIDIA L4", 23034, 58, "l4"),
    ("NVIDIA GeForce RTX 4090", 24564, 128, "rtx-4090"),
    ("Tesla V100-SXM2-32GB", 32510, 80, "v100-sxm2-32gb"),
    ("NVIDIA B200", 183359, 148, "b200"),
    ("AMD Instinct MI300X", 196592, 304, None),
]


@pytest.mark.parametrize("name,mib,sms,profile", REPORTED)
def test_a_reported_name_maps_to_its_board(name, mib, sms, profile):
    assert profile_for_device(name, memory_bytes=mib * MIB, sm_count=sms) == profile


def test_every_rule_names_a_built_in_profile_or_none_and_every_gpu_profile_is_reachable():
    named = {rule.profile for rule in DEVICE_NAMES}
    assert named - {None} <= set(list_profiles())
    gpus = {name for name in list_profiles() if load_profile(name).kind == "gpu"}
    assert gpus <= named


def test_an_sm_count_that_is_not_the_profiles_matches_nothing():
    # a MIG slice of an A100 reports the A100's name with fewer SMs
    assert profile_for_device("NVIDIA A100-SXM4-80GB", sm_count=42) is None
    assert profile_for_device("NVIDIA A100-SXM4-80GB", sm_count=108) == "a100-sxm4-80gb"


def test_without_memory_the_name_alone_decides_and_memory_rules_are_skipped():
    assert profile_for_device("NVIDIA H100") == "h100-sxm5-80gb"
    assert profile_for_device("NVIDIA A100-PG509-200") == "a100-sxm4-80gb"


def test_the_three_tools_that_meet_a_device_agree_with_the_table():
    from sparsim.validate.backends.cupy_backend import match_profile
    from sparsim.validate.explain import profile_for_device as from_trace

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "gpu"))
    import plan  # benchmarks/gpu/plan.py, as collect.py imports it

    for name, mib, sms, profile in REPORTED:
        assert from_trace({"name": name, "numSms": sms, "totalGlobalMem": mib * MIB}) == profile, name
        assert plan.detect_profile(name, memory_mib=mib) == profile_for_device(name, memory_bytes=mib * MIB), name
        assert match_profile(name) == profile_for_device(name), name


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.one_of(st.none(), st.floats(0, 1e12)), st.one_of(st.none(), st.integers(0, 400)))
def test_any_name_maps_to_a_built_in_profile_or_none(name, memory, sms):
    assert profile_for_device(name, memory_bytes=memory, sm_count=sms) in set(list_profiles()) | {None}


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([r for r in REPORTED if r[3]]), st.sampled_from(["", "NVIDIA ", "Tesla "]),
       st.sampled_from(["", " (rev a1)", "  "]))
def test_a_vendor_prefix_or_suffix_does_not_change_the_board(reported, prefix, suffix):
    name, mib, sms, profile = reported
    bare = name.removeprefix("NVIDIA ").removeprefix("Tesla ")
    assert profile_for_device(prefix + bare + suffix, memory_bytes=mib * MIB, sm_count=sms) == profile
