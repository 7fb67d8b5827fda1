"""Timing discipline shared by the backends (DESIGN.md, "Validation discipline").

Warm up first (first-touch page faults, BLAS thread start, cuBLAS heuristics), then time
each repetition on its own (``perf_counter`` on the CPU, CUDA events on the GPU), repeat
until a time budget is spent, and report the median with the spread. Caches are kept
honest by rotating through copies of the inputs that together exceed the last-level cache
(CPU) or by flushing L2 between repetitions (GPU), so every repetition starts cold, like
the compulsory-traffic model it is compared with.

>>> s = summarize([3.0, 1.0, 2.0, 100.0])
>>> s["median_s"], s["min_s"], s["max_s"]
(2.5, 1.0, 100.0)
>>> TimingPolicy(target_s=0.1, min_reps=3, max_reps=50).reps_for(0.01)
10
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TimingPolicy", "QUICK", "FULL", "summarize", "rotation_copies", "relative_error",
           "reference_tolerance", "WrongResult"]


class WrongResult(ArithmeticError):
    """The kernel's result disagrees with the float64 reference: an error, not a timing."""


@dataclass(frozen=True)
class TimingPolicy:
    warmup_s: float = 0.05  # keep calling until this long has passed (and at least twice)
    target_s: float = 0.5  # time budget for the timed repetitions of one point
    min_reps: int = 5
    max_reps: int = 100
    #: rotate copies of the inputs until they fill this multiple of the last-level cache
    rotate_llc_multiple: float = 2.0
    #: ... but never allocate more than this for the copies ("where cheap")
    rotate_budget_bytes: int = 256 << 20
    max_copies: int = 64

    def reps_for(self, seconds_per_call: float) -> int:
        if seconds_per_call <= 0:
            return self.max_reps
        return int(min(self.max_reps, max(self.min_reps, round(self.target_s / seconds_per_call))))


QUICK = TimingPolicy(warmup_s=0.02, target_s=0.08, min_reps=5, max_reps=30, rotate_budget_bytes=128 << 20,
                     max_copies=24)
FULL = TimingPolicy()


def rotation_copies(bytes_per_set: int, llc_bytes: int, policy: TimingPolicy) -> int:
    """How many copies of one input set to rotate through so reps start with a cold cache.

    >>> rotation_copies(1 << 20, 32 << 20, TimingPolicy())   # 1 MiB sets, 32 MiB LLC
    64
    >>> rotation_copies(100 << 20, 32 << 20, TimingPolicy())  # one set already spills it
    1
    """
    want = policy.rotate_llc_multiple * llc_bytes
    if bytes_per_set <= 0 or bytes_per_set >= want:
        return 1
    copies = math.ceil(want / bytes_per_set)
    affordable = max(1, policy.rotate_budget_bytes // bytes_per_set)
    return int(max(1, min(copies, affordable, policy.max_copies)))


def summarize(times) -> dict:
    """Median and spread of per-repetition times (seconds)."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return {"median_s": None, "min_s": None, "p25_s": None, "p75_s": None, "max_s": None, "rel_iqr": None}
    p25, med, p75 = np.percentile(t, [25, 50, 75])
    return {"median_s": float(med), "min_s": float(t.min()), "p25_s": float(p25), "p75_s": float(p75),
            "max_s": float(t.max()), "rel_iqr": float((p75 - p25) / med) if med > 0 else None}


#: unit roundoff of each stored type, and of the type its products accumulate in
_EPS = {"fp64": 2.0**-53, "fp32": 2.0**-24, "tf32": 2.0**-11, "fp16": 2.0**-11, "bf16": 2.0**-8}
_ACC = {"fp64": "fp64", "fp32": "fp32", "tf32": "fp32", "fp16": "fp32", "bf16": "fp32"}


def reference_tolerance(dtype: str, k: int) -> float:
    """Allowed normwise relative error ||C - C_ref|| / ||C_ref|| for a correct kernel.

    Rounding the output costs one unit roundoff of the stored type; K accumulations with
    random signs grow like sqrt(K) units of the accumulation type (Higham, "Accuracy and
    Stability of Numerical Algorithms", sec. 3.1 and the probabilistic bound). A factor of
    10 leaves room for blocking order; a wrong result (a dropped nonzero, a transposed
    operand) is off by far more.

    >>> reference_tolerance("fp32", 1024) < 1e-4 < reference_tolerance("fp16", 1024) < 0.05
    True
    """
    return 10.0 * (_EPS[dtype] + math.sqrt(max(k, 1)) * _EPS[_ACC[dtype]])


def relative_error(result, reference) -> float:
    """Normwise relative error of ``result`` against a float64 ``reference``."""
    result = np.asarray(result, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    denom = float(np.linalg.norm(reference))
    diff = float(np.linalg.norm(result - reference))
    if not math.isfinite(diff):
        return math.inf
    return diff / denom if denom > 0 else diff
