"""Quantized linear layers on the machine: the dequantization pipe and the activation-quantization kernel.

Two costs that a quantized GEMM has and an fp16 one does not
(:mod:`sparsim.models.quantized` counts them, hardware-free):

* **Dequantization on the CUDA cores.** A weight-only kernel (Marlin, tinygemm, an
  int8 weight-only Triton GEMV) turns each int4/int8 weight into fp16/bf16 in registers
  before the tensor cores see it. Those instructions go to the SM's ``alu`` pool (one per
  SM group, :data:`~sparsim.simulator.engine.POOL_KINDS`), which runs beside the tensor
  cores and the loads: a kernel is held up by it only when it has more dequantization
  than memory time. Its rate is the SM's instruction issue rate: 4 warp schedulers, each
  issuing one warp instruction (32 thread instructions) per clock (CUDA C++ Programming
  Guide, compute capabilities 7.x-9.0: "four warp schedulers"), with no efficiency
  factor: the fitted ``vector_efficiency`` describes a SpMM gather loop, not register-only
  dequantization, so the pool holds a kernel back only as far as its instruction count
  forces. ``dequant_ops`` count issue slots, so an instruction of a pipe
  slower than one warp per clock per scheduler counts more than once (an int8 -> float
  conversion, 16 per clock per SM on sm80-sm90, takes 128 / 16 = 8 slots).
  The tensor-core GEMM mapping (:mod:`~sparsim.simulator.gemm`) charges every CTA the
  instructions of the A panel it loads, so the work grows with the number of N tiles
  (batch columns), as a kernel that re-dequantizes per CTA does.
* **Activation quantization** (W8A8, ``fp8``/``w8a8``): before the GEMM, a separate
  kernel reads the activations in the model's dtype and writes them as int8/fp8 with one
  scale per token (vLLM ``scaled_int8_quant`` / ``scaled_fp8_quant``, torchao's
  compiled per-token quantize). It is a streaming kernel: a launch, one DRAM latency,
  then its bytes at the achievable DRAM bandwidth. :func:`with_activation_quant` adds it
  to a prediction's kernels, ahead of the GEMM.

>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.simulator.machine import Machine
>>> from sparsim.simulator.params import resolve_params
>>> a100 = Machine.build(load_profile("a100-sxm4-80gb"), resolve_params())
>>> round(sm_alu_ops_per_s(a100) / 1e9, 1)   # 128 thread instructions x 1.41 GHz
180.5
>>> round(activation_quant_s((8192, 4112), a100) * 1e6, 2)   # 1 token x 4096: launch-bound
3.41
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from .machine import Machine
from .params import DEFAULT_PARAMS

__all__ = ["ACT_QUANT_KERNEL", "ISSUE_SLOTS_PER_CLOCK", "activation_quant_s", "serial_round_s", "sm_alu_ops_per_s",
           "with_activation_quant"]

#: the activation-quantization kernel's name in a prediction's kernels
ACT_QUANT_KERNEL = "activation quantize (per-token scale)"


#: thread instructions one SM issues per clock: 4 warp schedulers x 1 warp (32 threads)
#: (CUDA C++ Programming Guide, "Compute Capability 7.x/8.x/9.0": an SM has four schedulers,
#: each issuing one instruction per clock)
ISSUE_SLOTS_PER_CLOCK = 4 * 32


def sm_alu_ops_per_s(machine: Machine) -> float:
    """Dequantization issue slots one SM offers per second: :data:`ISSUE_SLOTS_PER_CLOCK`
    × clock (the datasheet issue rate)."""
    return ISSUE_SLOTS_PER_CLOCK * machine.clock_hz


def serial_round_s(work, machine: Machine, tile, flops_per_round: float) -> float:
    """What one warp computes after its loads of a round land, before it can issue the next
    (a kernel without prefetch, ``stages == 1``, e.g. tinygemm): its share of the round's
    dequantization at one instruction per clock (a warp scheduler issues one warp
    instruction per clock: CUDA C++ Programming Guide, compute capabilities 7.x-9.0) and
    its share of the MMAs on its sub-partition's tensor core (one of the SM's four, so a
    quarter of the SM's rate: NVIDIA A100/H100 whitepapers, "four Tensor Cores per SM").
    Other warps' loads overlap it; the warp's own next loads do not."""
    dequant_instr = tile.m * tile.k * work.dequant_ops / tile.warps / 32
    mma_s = flops_per_round / tile.warps / (machine.sm_math_flops_per_s(work) / 4)
    return dequant_instr / machine.clock_hz + mma_s


def activation_quant_s(moved: tuple[int, int], machine: Machine) -> float:
    """Seconds of the activation-quantization kernel moving ``moved`` (read, write) bytes:
    a launch, one DRAM latency, then the bytes at the achievable DRAM bandwidth."""
    read, write = moved
    return machine.launch_s + machine.dram_latency_s + (read + write) / machine.hbm_bytes_per_s


def with_activation_quant(prediction, work, hw, calibration=None):
    """``prediction`` with the activation-quantization kernel of ``work`` (if any) added
    ahead of the GEMM: kernels, ``kernel_s``, ``time_s``, bytes and breakdown."""
    read, write = work.act_quant_bytes
    if not read:
        return prediction
    # an elementwise kernel of the framework's, not the GEMM library's: device-wide
    # parameters only (a library's fitted launch or bandwidth behaviour does not apply)
    params = dict(DEFAULT_PARAMS)
    params.update(calibration if isinstance(calibration, Mapping) else getattr(calibration, "params", None) or {})
    machine = Machine.build(hw, params)
    seconds = activation_quant_s((read, write), machine)
    breakdown = dict(prediction.breakdown)
    breakdown["activation quantize"] = seconds
    return replace(
        prediction, kernels=((ACT_QUANT_KERNEL, seconds), *prediction.kernels),
        kernel_s=prediction.kernel_s + seconds, time_s=prediction.time_s + seconds,
        bytes_hbm=prediction.bytes_hbm + read + write, breakdown=breakdown,
        notes=prediction.notes + (f"{work.quant}: activations quantized by a separate kernel "
                                  f"({read + write:,} bytes, {seconds * 1e6:.1f} us) before the GEMM",),
    )
