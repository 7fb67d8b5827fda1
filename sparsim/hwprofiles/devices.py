"""Which built-in profile a GPU is, from the name (and memory, SM count) it reports.

A GPU names itself through nvidia-smi, NVML, CUDA (``cudaDeviceProp.name``), CuPy, PyTorch
or a profiler trace's ``deviceProperties``: "NVIDIA H100 80GB HBM3" is the SXM5 board,
"NVIDIA H100 PCIe" the PCIe card, "NVIDIA A100-SXM4-40GB" an A100 SXM4 with 40 GB. One
table, :data:`DEVICE_NAMES`, maps those names to sparsim profiles; every tool that meets a
device (the CuPy and PyTorch backends, ``sparsim probe``, ``sparsim explain``,
``benchmarks/gpu/plan.py``) asks :func:`profile_for_device`. Rules are tried in order and
the first that matches decides, so a more specific name comes first ("H100 NVL" before
"H100 PCIe" before "H100"). A rule may name no profile: a board sparsim knows it has no
profile for (an H100 NVL, a GH200), so no neighbour's numbers are silently used; pass
``--hw``. Memory tells boards apart whose names do not (an H100 NVL that reports a plain
"NVIDIA H100" has 94 GB; an A100 by its engineering name "A100-PG509-200" has 40 GB), and
an SM count that differs from the profile's (a MIG slice, a cut-down board) matches
nothing.

>>> profile_for_device("NVIDIA H100 80GB HBM3"), profile_for_device("NVIDIA H100 PCIe")
('h100-sxm5-80gb', 'h100-pcie-80gb')
>>> profile_for_device("NVIDIA H100", memory_bytes=94 * 2**30) is None  # an H100 NVL
True
>>> profile_for_device("NVIDIA A100-PG509-200", memory_bytes=42297524224, sm_count=108)
'a100-sxm4-40gb'
>>> profile_for_device("NVIDIA A100-SXM4-80GB", sm_count=42) is None  # a MIG slice
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEVICE_NAMES", "DeviceName", "profile_for_device"]

_GIB = 2**30


@dataclass(frozen=True)
class DeviceName:
    """One rule: a device name matching ``pattern`` (a regular expression, case-insensitive,
    on the name with ``-`` read as a space) and, where given, memory in
    [``min_gib``, ``max_gib``) is the board of ``profile`` (None: a board with no profile)."""

    pattern: str
    profile: str | None
    min_gib: float = 0.0
    max_gib: float = float("inf")
    note: str = ""

    def matches(self, name: str, memory_bytes: float | None) -> bool:
        if not re.search(self.pattern, name, re.I):
            return False
        if memory_bytes is None:
            return self.min_gib == 0.0 and self.max_gib == float("inf")
        return self.min_gib * _GIB <= memory_bytes < self.max_gib * _GIB


#: Names as the boards report them (nvidia-smi -L / torch.cuda.get_device_name listings in
#: NVIDIA's and users' posts; the H200 atlas and its traces: "NVIDIA H200", 143771 MiB).
#: A rule with a memory range applies only when the memory is known; the first rule that
#: matches decides.
DEVICE_NAMES: tuple[DeviceName, ...] = (
    DeviceName(r"GH200", None, note="Grace Hopper superchip: no profile"),
    DeviceName(r"H200 .*NVL", None, note="H200 NVL (PCIe card, 600 W): no profile"),
    DeviceName(r"H200", "h200-sxm-141gb", note='"NVIDIA H200" (SXM, 141 GB)'),
    DeviceName(r"H100 .*NVL", None, note="H100 NVL (94 GB): no profile"),
    DeviceName(r"H100", None, min_gib=90, note='an H100 NVL reporting a plain "NVIDIA H100": 94 GB'),
    DeviceName(r"H100 .*PCIE", "h100-pcie-80gb", note='"NVIDIA H100 PCIe"'),
    DeviceName(r"H100", "h100-sxm5-80gb", note='"NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 80GB"'),
    DeviceName(r"A100 .*PCIE.*40 ?GB|A100 .*40 ?GB.*PCIE", None, note="A100 PCIe 40 GB: no profile"),
    DeviceName(r"A100 .*PCIE", "a100-pcie-80gb", note='"NVIDIA A100 80GB PCIe"'),
    DeviceName(r"A100 .*40 ?GB", "a100-sxm4-40gb", note='"NVIDIA A100-SXM4-40GB"'),
    DeviceName(r"A100", "a100-sxm4-40gb", max_gib=60,
               note='an A100 by another name ("NVIDIA A100-PG509-200") with 40 GB'),
    DeviceName(r"A100", "a100-sxm4-80gb", note='"NVIDIA A100-SXM4-80GB"'),
    DeviceName(r"L40S", "l40s", note='"NVIDIA L40S"'),
    DeviceName(r"\bL4\b", "l4", note='"NVIDIA L4"'),
    DeviceName(r"RTX 4090", "rtx-4090", note='"NVIDIA GeForce RTX 4090"'),
    DeviceName(r"V100", "v100-sxm2-32gb", note='"Tesla V100-SXM2-32GB"'),
    DeviceName(r"B200", "b200", note='"NVIDIA B200"'),
)


def profile_for_device(name: str, *, memory_bytes: float | None = None, sm_count: int | None = None) -> str | None:
    """The built-in profile of a GPU that reports ``name`` (and, where known, its memory in
    bytes and SM count), or None: a board with no profile, or one whose SM count is not
    its profile's (a MIG slice). See :data:`DEVICE_NAMES`."""
    text = str(name or "").replace("-", " ").replace("_", " ")
    for rule in DEVICE_NAMES:
        if rule.matches(text, memory_bytes):
            if rule.profile is None or sm_count is None:
                return rule.profile
            from .loader import load_profile

            return rule.profile if load_profile(rule.profile).sm_count == sm_count else None
    return None
