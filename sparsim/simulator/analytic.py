"""The analytic time model: roofline with achievable efficiencies plus launch overhead.

It is the quick reference the discrete-event model is compared against
(``sparsim predict --model analytic``). Time is
``launch + max(math / (peak·eff), dram_bytes / (bw·eff), l2_bytes / (l2_bw·eff))``;
DRAM traffic is the compulsory bytes plus, for gather kernels whose B does not fit in
L2, the gather re-reads that miss.

>>> from sparsim.models import build_work
>>> from sparsim.hwprofiles import load_profile
>>> p = predict_analytic(build_work("dense", m=8, k=8, n=8), load_profile("h100-sxm5-80gb"))
>>> p.bound
'launch'
"""

from __future__ import annotations

from ..hwprofiles import HardwareProfile
from ..models.work import KernelWork
from ..prediction import Prediction
from .library import call_timeline
from .machine import Machine, pipe_efficiency
from .roofline import math_peak, roofline_floor

__all__ = ["predict_analytic", "analytic_on"]


def predict_analytic(work: KernelWork, hw: HardwareProfile, calibration=None, *, impl: str | None = None) -> Prediction:
    """``work`` on ``hw`` (the machine of ``impl``'s call under ``calibration``)."""
    return analytic_on(work, Machine.for_call(hw, calibration, impl=impl, kernel=work.kernel, dtype=work.dtype,
                                              quant=work.quant))


def analytic_on(work: KernelWork, machine: Machine) -> Prediction:
    """The roofline-style prediction of ``work`` on ``machine`` (its call's host work and extra kernels included)."""
    hw, call, calibration = machine.hw, machine.call, machine.calibration
    params = machine.params
    floor = roofline_floor(work, hw)
    t_math = work.flops_executed / (math_peak(work, hw) * pipe_efficiency(params, work, hw))
    gathered = work.bytes_b_gather(hw.sector_bytes)
    bytes_l2 = work.bytes_a + work.bytes_c + (gathered or work.bytes_b)
    bytes_hbm = work.bytes_compulsory
    if gathered and work.bytes_b > hw.l2_bytes:
        # B does not fit in L2: the share of gathers beyond what L2 holds go to DRAM.
        miss = 1.0 - hw.l2_bytes / work.bytes_b
        bytes_hbm += int(miss * max(gathered - work.bytes_b, 0))
    t_hbm = bytes_hbm / machine.hbm_bytes_per_s
    l2_eff = params["l2_efficiency"] * (params["gather_efficiency"] if gathered else 1.0)
    t_l2 = bytes_l2 / (hw.l2_bytes_per_s * l2_eff)
    t_launch = machine.launch_s
    t_alu = 0.0
    if work.dequant_ops:  # quantized weights dequantized once each on the CUDA cores (sparsim.simulator.quantized)
        from .quantized import sm_alu_ops_per_s

        t_alu = work.dequant_ops * (work.m_effective or work.m) * work.k / (sm_alu_ops_per_s(machine) * hw.sm_count)
    body = max(t_math, t_hbm, t_l2, t_alu)
    time_s = max(t_launch + body, floor)
    terms = {"compute": max(t_math, t_alu), "memory": max(t_hbm, t_l2)}
    bound = "launch" if t_launch > body else max(terms, key=terms.get)
    kernels, kernel_s, overhead_s = call_timeline(call, work, time_s)
    if overhead_s > time_s:
        bound = "overhead"
    return Prediction(
        **work.prediction_fields(), hw=hw.name, model="analytic",
        calibration=getattr(calibration, "name", None), impl=call.impl, kernel_s=kernel_s,
        overhead_s=overhead_s, kernels=kernels, basis=machine.basis,
        time_s=kernel_s + overhead_s, roofline_floor_s=floor, bytes_hbm=bytes_hbm, bytes_l2=bytes_l2,
        bound=bound, waves=0.0, notes=tuple(work.notes),
        busy={"math": t_math / time_s, "hbm": t_hbm / time_s, "l2": t_l2 / time_s},
        breakdown={"launch": t_launch, "compute": t_math, "hbm": t_hbm, "l2": t_l2},
    )
