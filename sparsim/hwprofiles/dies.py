"""A calibration belongs to a chip: what carries over between boards of one die.

Boards built on one die (H100 SXM5, H100 PCIe and H200 SXM are all GH100) share its SMs,
tensor cores, caches and the libraries' kernels for it, and differ in clocks, power
limit, memory and SM count. So a calibration splits in two, by :data:`SCOPE`:

* **die and library** entries (efficiencies, launch and fixed-cost scales, latency
  scales, cache latencies, the libraries' tile behaviour): fractions or properties of the
  chip, valid on every board of the die;
* **board** entries (measured clocks, DRAM bandwidth, L2 size as the board enables it, the
  tensor rates a probe measured): they stay with the board they were measured on; another
  board of the die takes its own datasheet numbers.

A profile without a calibration of its own uses the calibration shipped for another board
of its die (:func:`shipped_for`), with only the die entries
(:meth:`sparsim.calibration.Calibration.on_board`), and the basis says so: "calibrated on
NVIDIA H200 (same GH100 die), 2026-11-29; clocks and memory from the H100 SXM5 80GB
datasheet". A calibration of the board itself wins.

>>> from sparsim.hwprofiles import load_profile
>>> [(name, path.name) for name, path in [shipped_for(load_profile("h100-pcie-80gb"))]]
[('h200-sxm-141gb', 'h200-sxm-141gb.toml')]
>>> shipped_for(load_profile("rtx-4090")) is None  # no AD102 board is calibrated
True
>>> board_keys({"hbm_bytes_per_s": 4.27e12, "l2_latency_ns": 152, "tensor_flops_per_s.fp16": 8e14})
['hbm_bytes_per_s', 'tensor_flops_per_s.fp16']
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from .schema import HardwareProfile

__all__ = ["SCOPE", "TENSOR_FLOPS_PER_CLK_PER_SM", "board_datasheet_name", "board_keys", "die_calibrations",
           "shipped_for", "tensor_rate_clock_mhz"]

#: What each calibration entry describes: ``"die"`` (chip and libraries: carried to every
#: board of the die) or ``"board"`` (stays with the board it was measured on). Every
#: ``[params]`` / ``[impl.NAME]`` parameter is a fraction or scale of the board's own
#: datasheet numbers (efficiencies, launch and latency scales, SM cycles per nonzero,
#: loads in flight), so all of them are die entries; ``[measured]`` keys are split here.
SCOPE = {
    "params": "die",  # every simulator parameter (sparsim.simulator.params.DEFAULT_PARAMS)
    # [measured] keys, written by `sparsim probe` / the calibrator
    "hbm_bytes_per_s": "board",  # memory type, bus width and memory clock are the board's
    "hbm_latency_ns": "die",  # the die's L2 miss path and memory controller dominate
    "l2_bytes_per_s": "board",  # scales with the board's SM count and clock
    "l2_bytes": "board",  # the L2 a board enables (50 MB on H100 SXM5, 60 MiB on H200)
    "l2_latency_ns": "die",  # cache-hit cycles are the die's
    "l1_latency_ns": "die",
    "launch_overhead_s": "die",  # driver and front end, not clocks or memory
    "clock_mhz": "board",
    "tensor_flops_per_s": "board",  # a measured peak holds the board's clock and SM count
}


#: Dense fp16 tensor-core FLOPs per SM per clock at the tensor cores' full rate, by die:
#: a fact of the die, so a board's datasheet tensor peak = SMs x this x the clock the peak
#: is quoted at (:func:`tensor_rate_clock_mhz`).
TENSOR_FLOPS_PER_CLK_PER_SM = {
    "GV100": 1024,  # V100 whitepaper: 8 tensor cores per SM x 64 FMA/clk
    "GA100": 2048,  # A100 whitepaper: 4 tensor cores per SM x 256 FP16 FMA/clk
    "GH100": 4096,  # H100 whitepaper: 4 tensor cores per SM x 512 FP16 FMA/clk (dense)
    "AD102": 1024,  # Ada whitepaper: RTX 4090 330.3 TFLOPS fp16 (fp16 accumulate) = 128 SMs x 1024 x 2520 MHz
    "AD104": 1024,  # Ada whitepaper: the same Ada SM (L4: 121 TFLOPS = 58 x 1024 x 2040 MHz)
    "GB100": 8192,  # estimate: HGX B200 2,250 TFLOPS / 148 SMs at its 1,856 MHz tensor clock; Blackwell doubles Hopper's per-SM rate
}


def tensor_rate_clock_mhz(profile: HardwareProfile) -> float:
    """The clock a profile's tensor peaks are quoted at: its full fp16 rate over (SMs x the
    die's FLOP/clk/SM). H100 SXM5: 989.4 T / (132 x 4096) = 1830 MHz, below its 1980 MHz
    boost (the whitepaper quotes tensor peaks at 1830); the boost clock when the die is
    not in :data:`TENSOR_FLOPS_PER_CLK_PER_SM` or the profile lists no fp16 tensor rate.

    >>> from sparsim.hwprofiles import load_profile
    >>> round(tensor_rate_clock_mhz(load_profile("h100-sxm5-80gb"))), round(tensor_rate_clock_mhz(load_profile("rtx-4090")))
    (1830, 2520)
    """
    per_clk = TENSOR_FLOPS_PER_CLK_PER_SM.get(profile.die)
    full = max(profile.tensor_dense_flops_per_s.get("fp16", 0.0),
               profile.tensor_fp16_accumulate_flops_per_s.get("fp16", 0.0))
    if not per_clk or not full:
        return profile.boost_clock_mhz
    return min(profile.boost_clock_mhz, full / (profile.sm_count * per_clk) / 1e6)


def board_keys(measured) -> list[str]:
    """The ``[measured]`` keys of ``measured`` that belong to the board (see :data:`SCOPE`)."""
    return [key for key in measured if SCOPE.get(key.split(".", 1)[0], "board") == "board"]


def board_datasheet_name(profile: HardwareProfile) -> str:
    """How a basis names a board's datasheet: its display name without "NVIDIA "."""
    name = profile.display_name
    return name[len("NVIDIA "):] if name.startswith("NVIDIA ") else name


def _calibration_dir():
    return resources.files("sparsim.hwprofiles") / "calibrations"


@functools.lru_cache(maxsize=1)
def die_calibrations() -> dict[str, tuple[str, Path]]:
    """Shipped calibrations by die: ``{die: (profile name, path)}`` (the first in name
    order when several boards of a die are calibrated). A shipped calibration is named
    after the built-in profile it was fitted on (``calibrations/<profile>.toml``). One with
    no die entries (only a board's measured ceilings, as the published A100 files) gives
    other boards nothing and is left out: they stay "datasheet only"."""
    from ..tomlfile import read_toml
    from .loader import list_profiles, load_profile

    out: dict[str, tuple[str, Path]] = {}
    names = set(list_profiles())
    for entry in sorted(_calibration_dir().iterdir(), key=lambda p: p.name):
        stem = entry.name[:-5] if entry.name.endswith(".toml") else None
        if stem in names:
            die = load_profile(stem).die
            if die and die not in out and _has_die_entries(read_toml(Path(str(entry)), "calibration")):
                out[die] = (stem, Path(str(entry)))
    return out


def _has_die_entries(data: dict) -> bool:
    """Whether a calibration file's tables carry anything to another board of its die."""
    measured = data.get("measured") or {}
    return (bool(data.get("params")) or any((data.get("impl") or {}).values())
            or bool(set(measured) - set(board_keys(measured))))


def shipped_for(profile: HardwareProfile) -> tuple[str, Path] | None:
    """(profile it was fitted on, path) of the calibration that applies to ``profile`` by
    default: its own, else one shipped for a board of the same die, else None."""
    from .loader import shipped_calibration

    own = shipped_calibration(profile.name)
    if own:
        return profile.name, own
    if not profile.die or profile.kind != "gpu":
        return None
    return die_calibrations().get(profile.die)
