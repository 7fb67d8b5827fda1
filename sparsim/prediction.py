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

#: what limits a kernel: the math pipes, a memory level's bandwidth, dependent-load
#: latency that too little parallel work cannot hide, or the fixed launch cost
BOUNDS = ("compute", "memory", "latency", "launch")


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
                value = list(value)
            out[name] = value
        out["tflops_useful"] = self.flops_per_s / 1e12
        return out
