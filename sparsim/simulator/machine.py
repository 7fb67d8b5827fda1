"""The machine a kernel runs on: a hardware profile, a calibration and an implementation.

A :class:`Machine` is built once per prediction (:meth:`Machine.for_call`) from a profile
(with a calibration's measured ceilings), the parameters the calibration fits for the
implementation (:func:`~sparsim.simulator.library.call_params`) and the library call the
implementation makes (:func:`~sparsim.simulator.library.library_call`: its mapping,
tiles, split-K, CTA shape, extra kernels and host work). It holds every number derived
from them: launch time, load latencies, usable L2, the rates of the pools the engine
shares (per-SM L2 port, L2, HBM) and the math rate of each pipe. The mappings
(:mod:`.gemm`, :mod:`.gather`, :mod:`.cpu`) take ``(work, machine)``, so none of them
recomputes a derived number from ``hw`` and ``params`` (they did, in 11 places), and
:func:`sparsim.simulator.predict_work` takes ``(problem, machine)``.

>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.simulator.params import resolve_params
>>> m = Machine.build(load_profile("h100-sxm5-80gb"), resolve_params())
>>> m.occupancy(threads=256, smem_bytes=0, regs_per_thread=64)
4
>>> round(m.l2_usable_bytes / m.hw.l2_bytes, 2), m.dram_latency_s > m.l2_latency_s
(0.75, True)
>>> call = Machine.for_call(load_profile("h200-sxm-141gb"), None, impl="torch", kernel="2:4", dtype="fp16")
>>> call.call.mapping, call.call.tiles, call.params["hbm_efficiency"], call.basis
('gemm', ((128, 256),), 0.3, 'datasheet only')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..hwprofiles import HardwareProfile, apply_measured
from .roofline import math_peak

__all__ = ["Machine", "PIPE_EFFICIENCY", "pipe_efficiency"]

#: the efficiency parameter of each math pipe (``KernelWork.math``)
PIPE_EFFICIENCY = {"tensor": "tensor_efficiency", "sparse_tensor": "sparse_tensor_efficiency",
                   "vector": "vector_efficiency"}


def pipe_efficiency(params: Mapping[str, float], work, hw: HardwareProfile) -> float:
    """The fraction of its pipe's peak the main loop of ``work`` sustains.

    Sparse tensor cores (2:4, 1:2) issue the same multiply-adds per clock as dense ones but
    take twice the B operand per instruction (``mma.sp`` m16n8k32 against ``mma`` m16n8k16
    for fp16: PTX ISA, "Warp-level matrix multiply-accumulate with sparse matrix A"), so
    operand delivery, not the math, is what holds a sparse main loop below the dense one
    (``sparse_tensor_efficiency``: 484 of 624 TFLOP/s against 302 of 312 dense on an A100,
    NVIDIA/cutlass issue 408). Where the library's rate is below the tensor cores' full
    rate (fp16 and fp8 with fp32 accumulate on a GeForce Ada: half rate) the same delivery
    feeds half the multiply-adds per clock and keeps up, so the sparse loop runs as the
    dense one: efficiency min(dense, sparse / rate fraction). The measured 2:4 speedups on
    an RTX 4090 agree: 1.9-2.1x for fp16 and fp8 (half rate), 1.6x for int8 (full rate)
    (shared/data/published/kernels.json, SlideSparse).
    """
    if work.math != "sparse_tensor":
        return params[PIPE_EFFICIENCY[work.math]]
    fraction = hw.tensor_rate_fraction(work.dtype) if hw.kind == "gpu" else 1.0
    sparse = params["sparse_tensor_efficiency"]
    if fraction >= 1.0:
        return sparse
    return max(sparse, min(params["tensor_efficiency"], sparse / fraction))


@dataclass(frozen=True)
class Machine:
    """A profile and its parameters, with the derived numbers computed once."""

    hw: HardwareProfile
    params: Mapping[str, float] = field(repr=False)
    #: launch overhead before the first CTA (``launch_overhead_s × launch_scale``)
    launch_s: float
    #: load latencies, scaled by ``latency_scale``
    l2_latency_s: float
    dram_latency_s: float
    #: L2 bytes that hold data for reuse (``l2_bytes × l2_capacity_efficiency``)
    l2_usable_bytes: float
    #: one SM's L2 port (``sm_l2_bytes_per_clk × clock``)
    sm_link_bytes_per_s: float
    #: achievable shared rates (datasheet × ``l2_efficiency`` / ``hbm_efficiency``)
    l2_bytes_per_s: float
    hbm_bytes_per_s: float
    #: the library call whose kernels run (:class:`~sparsim.simulator.library.LibraryCall`);
    #: None: a bare machine, the mappings' reference choices
    call: object = field(default=None, repr=False)
    #: the calibration its parameters and ceilings came from (None: datasheet only)
    calibration: object = field(default=None, repr=False)
    #: what L2 holds when the call starts: "cold" (flushed) or "warm" (:mod:`.l2state`)
    l2_state: str = "cold"

    @classmethod
    def build(cls, hw: HardwareProfile, params: Mapping[str, float], call=None, calibration=None, *,
              l2: str = "cold") -> Machine:
        scale = params["latency_scale"]
        return cls(
            hw=hw, params=params, call=call, calibration=calibration,
            launch_s=hw.launch_overhead_s * params["launch_scale"],
            l2_latency_s=hw.l2_latency_ns * 1e-9 * scale,
            dram_latency_s=hw.hbm_latency_ns * 1e-9 * scale,
            l2_usable_bytes=hw.l2_bytes * params["l2_capacity_efficiency"],
            sm_link_bytes_per_s=params["sm_l2_bytes_per_clk"] * hw.clock_hz,
            l2_bytes_per_s=hw.l2_bytes_per_s * params["l2_efficiency"],
            hbm_bytes_per_s=hw.hbm_bytes_per_s * params["hbm_efficiency"], l2_state=l2,
        )

    @classmethod
    def for_call(cls, hw: HardwareProfile, calibration=None, *, impl: str | None, kernel: str, dtype: str,
                 quant: str | None = None, l2: str = "cold") -> Machine:
        """The machine that runs ``impl``'s call for ``kernel`` in ``dtype`` (None: the
        kernel's default library) with weights quantized as ``quant`` on ``hw`` under
        ``calibration`` (None, a Calibration, or a mapping of parameter values), L2
        ``l2`` ("cold" or "warm") when the call starts: measured ceilings applied,
        parameters resolved."""
        from .l2state import check_l2
        from .library import call_params, library_call

        l2 = check_l2(l2)
        measured = getattr(calibration, "measured", None)
        if measured:
            hw = apply_measured(hw, measured)
        call = library_call(impl, kernel, dtype, hw, quant=quant)
        return cls.build(hw, call_params(call, calibration), call, calibration, l2=l2)

    def with_params(self, **changes: float) -> Machine:
        """The same profile with some parameters replaced (e.g. a library's slow-down)."""
        return Machine.build(self.hw, {**self.params, **changes}, self.call, self.calibration, l2=self.l2_state)

    def on(self, hw: HardwareProfile) -> Machine:
        """The same call, parameters and L2 state on profile ``hw`` (e.g. the board at the
        clock it sustains under its power limit, :mod:`.power`)."""
        return Machine.build(hw, self.params, self.call, self.calibration, l2=self.l2_state)

    @property
    def basis(self) -> str:
        """What the machine's figures rest on (``datasheet only``, ``calibrated on ...``)."""
        from .library import basis_of

        return basis_of(self.calibration)

    @property
    def sm_count(self) -> int:
        return self.hw.sm_count

    @property
    def clock_hz(self) -> float:
        return self.hw.clock_hz

    def occupancy(self, *, threads: int, smem_bytes: int, regs_per_thread: int) -> int:
        """Resident CTAs per SM allowed by CTA slots, warps, shared memory and registers."""
        hw = self.hw
        warps = -(-threads // 32)
        limits = [hw.max_ctas_per_sm, hw.max_warps_per_sm // warps,
                  hw.registers_per_sm // (regs_per_thread * threads)]
        if smem_bytes > 0:
            limits.append(hw.shared_mem_per_sm_bytes // smem_bytes)
        return max(1, min(limits))

    def math_efficiency(self, pipe: str) -> float:
        """The efficiency parameter of math pipe ``pipe`` (``tensor``, ``sparse_tensor``, ``vector``)."""
        return self.params[PIPE_EFFICIENCY[pipe]]

    def sm_math_flops_per_s(self, work) -> float:
        """One SM's achievable FLOP/s on the pipe that runs ``work`` (:func:`pipe_efficiency`)."""
        return math_peak(work, self.hw) * pipe_efficiency(self.params, work, self.hw) / self.hw.sm_count
