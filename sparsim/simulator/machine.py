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

__all__ = ["Machine", "PIPE_EFFICIENCY"]

#: the efficiency parameter of each math pipe (``KernelWork.math``)
PIPE_EFFICIENCY = {"tensor": "tensor_efficiency", "sparse_tensor": "sparse_tensor_efficiency",
                   "vector": "vector_efficiency"}


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

    @classmethod
    def build(cls, hw: HardwareProfile, params: Mapping[str, float], call=None, calibration=None) -> Machine:
        scale = params["latency_scale"]
        return cls(
            hw=hw, params=params, call=call, calibration=calibration,
            launch_s=hw.launch_overhead_s * params["launch_scale"],
            l2_latency_s=hw.l2_latency_ns * 1e-9 * scale,
            dram_latency_s=hw.hbm_latency_ns * 1e-9 * scale,
            l2_usable_bytes=hw.l2_bytes * params["l2_capacity_efficiency"],
            sm_link_bytes_per_s=params["sm_l2_bytes_per_clk"] * hw.clock_hz,
            l2_bytes_per_s=hw.l2_bytes_per_s * params["l2_efficiency"],
            hbm_bytes_per_s=hw.hbm_bytes_per_s * params["hbm_efficiency"],
        )

    @classmethod
    def for_call(cls, hw: HardwareProfile, calibration=None, *, impl: str | None, kernel: str, dtype: str) -> Machine:
        """The machine that runs ``impl``'s call for ``kernel`` in ``dtype`` (None: the
        kernel's default library) on ``hw`` under ``calibration`` (None, a Calibration, or
        a mapping of parameter values): measured ceilings applied, parameters resolved."""
        from .library import call_params, library_call

        measured = getattr(calibration, "measured", None)
        if measured:
            hw = apply_measured(hw, measured)
        call = library_call(impl, kernel, dtype, hw)
        return cls.build(hw, call_params(call, calibration), call, calibration)

    def with_params(self, **changes: float) -> Machine:
        """The same profile with some parameters replaced (e.g. a library's slow-down)."""
        return Machine.build(self.hw, {**self.params, **changes}, self.call, self.calibration)

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
        """One SM's achievable FLOP/s on the pipe that runs ``work``."""
        return math_peak(work, self.hw) * self.math_efficiency(work.math) / self.hw.sm_count
