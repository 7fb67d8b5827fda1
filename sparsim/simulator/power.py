"""The clock a kernel sustains under the board's power limit.

A GPU runs at its boost clock until the board's power reaches its limit; then the
firmware lowers the clock (and with it the voltage) until the power fits. Power is

    P(f) = P_idle + P_dram · m + P_sm · a · (f / f_base)^3

* dynamic power of CMOS logic is activity · C · V² · f, and in the DVFS range the voltage
  rises about linearly with the clock (V ~ f), so the SMs' power grows as f³ (the textbook
  form, e.g. Mei, Wang, Chu, "A survey and measurement study of GPU DVFS on energy
  conservation", Digital Communications and Networks 2017, eq. 1-2);
* ``a`` is the tensor cores' activity: the share of their full rate the kernel keeps busy
  (busy fraction × efficiency × the library's rate over the full rate, so fp16 with fp32
  accumulate on a GeForce Ada, half rate, draws half: ``HardwareProfile.tensor_rate_fraction``);
  ``m`` the DRAM's busy fraction; DRAM power does not follow the SM clock;
* ``P_sm`` is fixed by NVIDIA's definition of the base clock, the clock the board
  guarantees at its rated power (TDP) under a full load: P(f_base) = TDP at a = m = 1, so
  P_sm = TDP - P_idle - P_dram. The board power, idle power and DRAM power come from the
  profile's ``[power]`` table.

The boost clock is the ceiling. As the clock falls, a kernel that waited on memory keeps
its tensor cores busier (``a`` grows as 1/f until it reaches its compute-bound value),
so the solution is unique (``P`` grows with ``f``). A compute-bound GEMM on a
power-limited board slows by f over the clock its tensor peak is quoted at
(``hwprofiles.dies.tensor_rate_clock_mhz``: the boost clock, or 1830 MHz on an H100 SXM5);
a memory-bound one barely draws SM power, keeps nearly the boost clock and barely slows. Checks (published points, not fitted): a
full-rate GEMM sustains about the base clock: A100 80GB PCIe (300 W) fp16 235 TFLOP/s =
0.97 × 312 × 1095/1410, base 1065 MHz; A100 SXM4 bf16 271 TFLOP/s (MAMF), base 1275 MHz;
RTX 4090 int8 574 TOPS at 2260 MHz, base 2235 MHz (shared/data/published/kernels.json).

>>> from sparsim.hwprofiles import load_profile
>>> pcie = load_profile("a100-pcie-80gb")
>>> c = sustained_clock(pcie, tensor_activity=0.97, memory_activity=0.3)
>>> round(c.clock_mhz), c.limited, round(c.power_at_boost_w)
(1135, True, 508)
>>> round(sustained_clock(pcie, tensor_activity=0.05, memory_activity=0.9).clock_mhz)  # memory-bound
1410
>>> round(sustained_clock(pcie, tensor_activity=0.97, memory_activity=0.3, power_limit_w=250).clock_mhz)
1051
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import SparsimError
from ..hwprofiles import HardwareProfile

__all__ = ["ClockUnderPower", "check_power_limit", "clocked", "predict_under_power", "sustained_clock", "tensor_scale"]


@dataclass(frozen=True)
class ClockUnderPower:
    """The clock a load sustains on a board, and what decided it."""

    clock_mhz: float
    boost_mhz: float
    limit_w: float
    tensor_activity: float
    memory_activity: float
    power_at_boost_w: float

    @property
    def limited(self) -> bool:
        return self.clock_mhz < self.boost_mhz * (1 - 1e-9)

    @property
    def scale(self) -> float:
        """Sustained over boost clock."""
        return self.clock_mhz / self.boost_mhz


def check_power_limit(hw: HardwareProfile, power_limit_w) -> float | None:
    """``power_limit_w`` checked against ``hw`` (None: the board's own limit, if any)."""
    if power_limit_w is None:
        return hw.board_power_w or None
    if isinstance(power_limit_w, bool) or not isinstance(power_limit_w, (int, float)) or not math.isfinite(power_limit_w):
        raise SparsimError(f"--power-limit: got {power_limit_w!r}; allowed: a number of watts")
    if not hw.board_power_w:
        raise SparsimError(f"--power-limit: got {power_limit_w:g} W for {hw.name}, whose profile has no "
                           f"power.board_power_w; allowed: a profile with a [power] table")
    floor = hw.idle_power_w + hw.memory_power_w
    if not floor < power_limit_w <= 5000:
        raise SparsimError(f"--power-limit: got {power_limit_w:g} W for {hw.name}; allowed: above its idle and "
                           f"DRAM power ({floor:g} W) and at most 5000 W")
    return float(power_limit_w)


def _power_w(hw: HardwareProfile, f: float, u_boost: float, m: float) -> float:
    """Board power at clock ``f`` (MHz) of a load with tensor activity ``u_boost`` at the
    datasheet rate: its tensor work per second stays, the tensor cores' rate follows the
    clock below the one the peak is quoted at, so the activity grows as that rate falls."""
    from ..hwprofiles.dies import tensor_rate_clock_mhz

    activity = min(1.0, u_boost * max(1.0, tensor_rate_clock_mhz(hw) / f))
    sm_full = hw.board_power_w - hw.idle_power_w - hw.memory_power_w
    return hw.idle_power_w + hw.memory_power_w * m + sm_full * activity * (f / hw.base_clock_mhz) ** 3


def sustained_clock(hw: HardwareProfile, *, tensor_activity: float, memory_activity: float,
                    power_limit_w: float | None = None) -> ClockUnderPower:
    """The clock (MHz) a load with these activities at boost sustains under the limit
    (``power_limit_w`` or the board's); the boost clock when the profile has no power data."""
    limit = check_power_limit(hw, power_limit_w)
    a = min(1.0, max(0.0, float(tensor_activity)))
    m = min(1.0, max(0.0, float(memory_activity)))
    boost = hw.boost_clock_mhz
    if not limit or a <= 0.0:
        return ClockUnderPower(boost, boost, limit or 0.0, a, m, 0.0)
    at_boost = _power_w(hw, boost, a, m)
    if at_boost <= limit:
        return ClockUnderPower(boost, boost, limit, a, m, at_boost)
    lo, hi = boost * 1e-3, boost
    for _ in range(60):  # P grows with f: bisection to well under 1 MHz
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _power_w(hw, mid, a, m) <= limit else (lo, mid)
    return ClockUnderPower(lo, boost, limit, a, m, at_boost)


def tensor_scale(hw: HardwareProfile, clock_mhz: float) -> float:
    """How much of its datasheet tensor peak a board delivers at ``clock_mhz``: the peak is
    quoted at :func:`~sparsim.hwprofiles.dies.tensor_rate_clock_mhz` (1830 MHz on an H100
    SXM5, whose boost is 1980), so only a clock below that one costs rate."""
    from ..hwprofiles.dies import tensor_rate_clock_mhz

    return min(1.0, clock_mhz / tensor_rate_clock_mhz(hw))


def clocked(hw: HardwareProfile, clock_mhz: float, tensor: float | None = None) -> HardwareProfile:
    """``hw`` with its SMs at ``clock_mhz`` (never above boost): tensor rates times ``tensor``
    (default :func:`tensor_scale`), vector rates (quoted at boost) and the SMs' L2 ports
    with the clock; L2, DRAM and launch costs keep their own clocks."""
    clock = min(hw.boost_clock_mhz, clock_mhz)
    tensor = tensor_scale(hw, clock) if tensor is None else tensor
    vector = clock / hw.boost_clock_mhz
    if tensor >= 1.0 and vector >= 1.0:
        return hw
    rates = lambda table, k: MappingProxyType({d: v * k for d, v in table.items()})
    return dataclasses.replace(
        hw, boost_clock_mhz=clock,
        tensor_dense_flops_per_s=rates(hw.tensor_dense_flops_per_s, tensor),
        tensor_fp16_accumulate_flops_per_s=rates(hw.tensor_fp16_accumulate_flops_per_s, tensor),
        vector_flops_per_s=rates(hw.vector_flops_per_s, vector))


def _reference_board(calibration, hw: HardwareProfile) -> HardwareProfile | None:
    """The board a calibration's efficiencies were measured on (they hold its clock): the
    one its provenance names, else its profile; a plain mapping of parameters (a fit in
    progress, ``sparsim.validate.calibrator``) is being measured on ``hw`` itself. None:
    datasheet parameters, or a calibration of measured ceilings only, which hold no clock."""
    if calibration is None:
        return None
    if not hasattr(calibration, "provenance"):
        return hw if calibration else None
    if not calibration.params and not any(calibration.impl_params.values()):
        return None  # measured ceilings only (a published board file): no fitted efficiency holds a clock
    name = calibration.provenance.get("calibrated_hw") or getattr(calibration, "hw", None)
    if name == hw.name:
        return hw
    from ..hwprofiles import list_profiles, load_profile

    return load_profile(name) if name in list_profiles() else None


def predict_under_power(run, work, hw: HardwareProfile, calibration=None, *, impl=None,
                        power_limit_w: float | None = None, params=None):
    """``run(profile)`` (one prediction on a profile) at the clock the kernel sustains
    under the power limit: run at boost, take the tensor and DRAM activity it shows, solve
    for the clock (:func:`sustained_clock`) and run again on the clocked profile when it is
    lower. Only tensor-core kernels are modelled (gathers and CPU code do not load the
    board near its limit). A calibration's efficiencies already hold the clock of the board
    they were measured on, so only the ratio of this board's clock to that one's applies,
    and never above 1. ``params``: the call's resolved parameters (None: resolved here
    from ``impl``'s call and ``calibration``)."""
    limit = check_power_limit(hw, power_limit_w)
    first = run(hw)
    if not limit or hw.kind != "gpu" or work.math not in ("tensor", "sparse_tensor"):
        return first
    from .library import call_params, library_call
    from .machine import pipe_efficiency

    if params is None:
        params = call_params(library_call(impl, work.kernel, work.dtype, hw, quant=getattr(work, "quant", None)),
                             calibration)
    efficiency = pipe_efficiency(params, work, hw)
    busy = getattr(first, "busy", {}) or {}
    activity = busy.get(work.math, 0.0) * efficiency * hw.tensor_rate_fraction(work.dtype)
    memory = busy.get("hbm", 0.0)
    clock = sustained_clock(hw, tensor_activity=activity, memory_activity=memory, power_limit_w=power_limit_w)
    scale = tensor_scale(hw, clock.clock_mhz)
    reference = _reference_board(calibration, hw)
    if reference is not None and reference.board_power_w:
        ref = sustained_clock(reference, tensor_activity=activity, memory_activity=memory)
        scale = min(1.0, scale / tensor_scale(reference, ref.clock_mhz))
    if scale >= 1.0 - 1e-6:
        return first
    second = run(clocked(hw, clock.clock_mhz, scale))
    word = "board limit" if power_limit_w is None else "limit given"
    note = (f"power: the kernel sustains {clock.clock_mhz:,.0f} of {clock.boost_mhz:,.0f} MHz under the "
            f"{clock.limit_w:,.0f} W {word} (tensor cores {activity:.0%} active, DRAM {memory:.0%}); "
            f"the tensor cores run at {scale:.0%} of their rate" + ("" if reference is None else
                                                                    f" on the calibration's board ({reference.name})"))
    return dataclasses.replace(second, notes=tuple(second.notes) + (note,))
