"""The Prediction: what a time model says one kernel costs on one profile.

Fields follow DESIGN.md's contract; ``to_dict()`` gives plain JSON-able values that
``sparsim predict --json`` prints and other tools read.

>>> import sparsim
>>> p = sparsim.predict("dense", m=1024, k=1024, n=1024, hw="a100-sxm4-80gb", model="analytic")
>>> p.bound, p.time_s >= p.roofline_floor_s
('compute', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Prediction", "BOUNDS"]

#: what limits a call: the math pipes, a memory level's bandwidth, dependent-load
#: latency that too little parallel work cannot hide, the fixed launch cost, or the
#: library's host work per call (longer than its kernels)
BOUNDS = ("compute", "memory", "latency", "launch", "overhead")


@dataclass(frozen=True)
class Prediction:
    kernel: str
    m: int
    k: int
    n: int
    dtype: str
    density: float
    pattern: str
    hw: str
    model: str  # "des" (discrete-event) or "analytic"
    calibration: str | None
    time_s: float
    roofline_floor_s: float
    flops_useful: int
    flops_executed: int
    bytes_hbm: int
    bytes_l2: int
    bytes_values: int
    bytes_index: int
    bytes_b: int
    bytes_c: int
    dependent_access_depth: int
    dependent_accesses: int
    bound: str
    waves: float
    ctas: int = 0
    events: int = 0  # discrete events the simulator processed (0 for analytic)
    #: fraction of the kernel's time each resource was busy
    busy: Mapping[str, float] = field(default_factory=dict)
    #: seconds attributed to each phase (launch, compute, memory, latency, tail, ...)
    breakdown: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: the implementation (software stack) whose call was modelled; see sparsim.impls
    impl: str = ""
    #: device time of the kernels of one call; ``time_s = kernel_s + overhead_s``
    kernel_s: float = 0.0
    #: host work per call that the GPU waits for in an eager loop
    overhead_s: float = 0.0
    #: what the figures rest on: "datasheet only" or "calibrated on <device>, <date>"
    basis: str = "datasheet only"
    #: the kernels one call launches, in order: (name, seconds)
    kernels: tuple[tuple[str, float], ...] = ()
    #: the quantization scheme of the weights (sparsim.models.quant); None: unquantized
    quant: str | None = None

    def __post_init__(self):
        if self.kernel_s == 0.0 and self.overhead_s == 0.0:
            object.__setattr__(self, "kernel_s", self.time_s)

    @property
    def flops_per_s(self) -> float:
        """Useful FLOP/s achieved (what a benchmark's TFLOP/s figure reports)."""
        return self.flops_useful / self.time_s if self.time_s > 0 else 0.0

    @property
    def bytes_a(self) -> int:
        return self.bytes_values + self.bytes_index

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, Mapping):
                value = {k: float(v) for k, v in value.items()}
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[name] = value
        out["tflops_useful"] = self.flops_per_s / 1e12
        return out
