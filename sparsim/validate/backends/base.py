"""The backend interface: run one :class:`~sparsim.validate.spec.MeasureSpec` for real.

``Backend.run(spec) -> Measurement``. A backend builds A from the spec's seeded pattern
and B with nonzero random values, checks the kernel's result against a float64 reference
(a wrong result is an error, never a timing), warms up, times repetitions and summarizes
them. A point it cannot run (an unsupported dtype, out of memory, a missing library) comes
back as a Measurement with ``status="error"`` and the reason, so a sweep goes on;
``KeyboardInterrupt`` is never swallowed.

Subclasses implement :meth:`Backend.profile`, :meth:`Backend.describe` and
:meth:`Backend._measure`.

Two times per point, kept apart (DESIGN.md, "Validation discipline"):

* ``kernel_s``: device time of the kernels one call launches (GPU backends: CUDA events
  around the call with the host's enqueue work hidden behind a delay kernel, see
  :func:`kernel_timer`); ``None`` where it is not measured (the CPU backend);
* ``call_s``: wall time of one library/framework call as a user makes it, host work
  included (GPU: CUDA events around the Python call on an idle GPU; CPU: perf_counter);
* ``time_s`` = ``kernel_s`` when measured, else ``call_s``, so older readers keep working.

Every record also names its ``impl`` (``cublas``, ``cusparse``, ``cusparselt``,
``cusparselt-search``, ``torch``, ``numpy``, ``scipy``), and sparse points their
``b_layout`` and ``index_bits``; cuSPARSELt points add their one-time ``plan_s`` and
``compress_s``, which are never part of the per-call time.
"""

from __future__ import annotations

import datetime as _dt
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...hwprofiles import HardwareProfile
from ..spec import MeasureSpec
from ..timing import QUICK, TimingPolicy, WrongResult, summarize

__all__ = ["Backend", "Measurement", "Unsupported", "WrongResult", "random_values", "now_iso"]


class Unsupported(Exception):
    """The backend cannot run this point here (dtype, kernel, or a missing library)."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def random_values(rng: np.random.Generator, shape, dtype=np.float32) -> np.ndarray:
    """Magnitudes in [0.5, 1.5) with random signs: never zero, so no timing runs on zeros
    (the same rule :meth:`SparsityPattern.to_scipy` uses for A's values)."""
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return (rng.uniform(0.5, 1.5, shape) * sign).astype(dtype)


@dataclass(frozen=True)
class Measurement:
    """One timed point, or the reason it could not be timed."""

    spec: MeasureSpec
    backend: str
    hw: str  # the profile the point is predicted on
    status: str  # "ok" | "error"
    time_s: float | None = None  # median of the unthrottled repetitions
    times_s: tuple[float, ...] = ()
    spread: dict = field(default_factory=dict)
    library: str = ""  # which library (and algorithm) actually ran
    reps: int = 0
    warmup_reps: int = 0
    rotating_copies: int = 1
    rel_error: float | None = None  # against the float64 reference
    tolerance: float | None = None
    throttled: tuple[bool, ...] = ()  # per repetition (GPU telemetry)
    telemetry: tuple[dict, ...] = ()
    error: str | None = None
    #: why the time is not trustworthy though the result was right: "throttled" (every
    #: GPU repetition ran with its clocks held down) or "contended" (other processes kept
    #: the CPUs busy). Flagged points stay in the file, are left out of fits and scores,
    #: and are measured again when a sweep resumes.
    flag: str | None = None
    extra: dict = field(default_factory=dict)
    timestamp: str = field(default_factory=now_iso)
    impl: str | None = None  # the implementation that ran (sparsim.validate.spec.IMPLS)
    kernel_s: float | None = None  # median device time of one call's kernels
    call_s: float | None = None  # median wall time of one call, host work included
    call_times_s: tuple[float, ...] = ()
    b_layout: str | None = None  # sparse points: "row" | "col"
    index_bits: int | None = None  # sparse points: 32 | 64
    plan_s: float | None = None  # cuSPARSELt: one-time plan (descriptors, algorithm, plan)
    compress_s: float | None = None  # cuSPARSELt: one-time compression of A

    @property
    def usable(self) -> bool:
        """Timed, correct, and not flagged: fit material."""
        return self.status == "ok" and self.flag is None and self.time_s is not None and self.time_s > 0

    def to_record(self) -> dict[str, Any]:
        """The results-file line (without the schema field the writer adds)."""
        work = None
        try:
            work = self.spec.work()
        except Exception:  # noqa: BLE001 - a spec the models refuse still gets recorded
            pass
        variant = {"impl": self.impl if self.impl is not None else self.spec.impl,
                   "kernel_s": self.kernel_s, "call_s": self.call_s}
        if self.spec.kernel in ("csr", "coo") or self.b_layout is not None:
            variant["b_layout"] = self.b_layout if self.b_layout is not None else self.spec.b_layout
            variant["index_bits"] = self.index_bits if self.index_bits is not None else self.spec.index_bits
        if self.plan_s is not None or self.compress_s is not None:
            variant["plan_s"], variant["compress_s"] = self.plan_s, self.compress_s
        return {
            "type": "measurement",
            "key": self.spec.key,
            **self.spec.to_dict(),
            **variant,
            "nnz": work.nnz if work is not None else None,
            "backend": self.backend,
            "hw": self.hw,
            "status": self.status,
            "error": self.error,
            "flag": self.flag,
            "time_s": self.time_s,
            **{k: v for k, v in self.spread.items() if k != "median_s"},
            "times_s": list(self.times_s),
            **({"call_times_s": list(self.call_times_s)} if self.call_times_s else {}),
            "reps": self.reps,
            "warmup_reps": self.warmup_reps,
            "rotating_copies": self.rotating_copies,
            "library": self.library,
            "rel_error": self.rel_error,
            "tolerance": self.tolerance,
            "throttled": list(self.throttled),
            "n_throttled": int(sum(self.throttled)),
            "telemetry": list(self.telemetry),
            "timestamp": self.timestamp,
            **({"extra": self.extra} if self.extra else {}),
        }


class Backend(ABC):
    """Runs specs on real hardware. ``run`` never raises for a failing point."""

    name = "abstract"

    def __init__(self, *, policy: TimingPolicy = QUICK):
        self.policy = policy

    @abstractmethod
    def profile(self) -> HardwareProfile:
        """The hardware profile this backend's measurements are predicted on."""

    @abstractmethod
    def describe(self) -> dict:
        """Device, driver and library versions: the run header of a results file."""

    @abstractmethod
    def _measure(self, spec: MeasureSpec) -> dict:
        """Time ``spec``; return Measurement fields (times_s, library, ...). May raise
        :class:`Unsupported`, :class:`WrongResult`, MemoryError or a library error."""

    def close(self) -> None:
        """Release device resources (telemetry handles)."""

    def default_impl(self, spec: MeasureSpec) -> str | None:
        """The implementation this backend runs for ``spec`` when the spec names none."""
        return spec.impl

    def run(self, spec: MeasureSpec) -> Measurement:
        """Measure ``spec``; ``_measure``'s ``times_s`` are kernel times when it returns
        ``timing="kernel"`` (then ``call_times_s`` are the per-call times), else call times."""
        hw = self.profile().name
        variant = {"impl": self.default_impl(spec), "b_layout": spec.b_layout, "index_bits": spec.index_bits}
        try:
            fields = self._measure(spec)
        except Exception as exc:  # noqa: BLE001 - recorded with the point; KeyboardInterrupt passes
            return Measurement(spec=spec, backend=self.name, hw=hw, status="error", error=_describe(exc),
                               **variant)
        for key, value in variant.items():
            fields.setdefault(key, value)
        times = list(fields.pop("times_s"))
        timing = fields.pop("timing", "call")
        call_times = list(fields.pop("call_times_s", ()) or ())
        throttled = list(fields.pop("throttled", ()) or [False] * len(times))
        flag = fields.pop("flag", None)
        kept = [t for t, bad in zip(times, throttled) if not bad]
        if not kept:  # every repetition throttled: keep the time, flag the point
            kept, flag = times, flag or "throttled"
        spread = summarize(kept)
        if timing == "kernel":
            kernel_s = spread["median_s"]
            call_s = summarize(call_times)["median_s"] if call_times else None
        else:
            kernel_s, call_s = None, spread["median_s"]
        return Measurement(spec=spec, backend=self.name, hw=hw, status="ok", flag=flag,
                           time_s=kernel_s if kernel_s is not None else call_s, times_s=tuple(times),
                           spread=spread, throttled=tuple(bool(b) for b in throttled), kernel_s=kernel_s,
                           call_s=call_s, call_times_s=tuple(call_times), **fields)


def _describe(exc: BaseException) -> str:
    """One line: the kind of failure and the library's words.

    >>> class OutOfMemoryError(Exception): pass
    >>> _describe(OutOfMemoryError("Out of memory allocating 8,589,934,592 bytes"))
    'cudaErrorMemoryAllocation: out of memory (Out of memory allocating 8,589,934,592 bytes)'
    >>> _describe(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    'cudaErrorMemoryAllocation: out of memory (CUDA out of memory. Tried to allocate 2.00 GiB)'
    >>> _describe(Unsupported("bf16 on the numpy backend"))
    'unsupported: bf16 on the numpy backend'
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if name in ("OutOfMemoryError", "MemoryError") and not isinstance(exc, MemoryError) or \
            "out of memory" in text.lower() or "cudaErrorMemoryAllocation" in text:
        # CuPy's OutOfMemoryError, torch.cuda.OutOfMemoryError, a CUDA status in a message
        return f"cudaErrorMemoryAllocation: out of memory ({text})" if text else "cudaErrorMemoryAllocation: out of memory"
    kind = {"Unsupported": "unsupported", "WrongResult": "wrong result",
            "MemoryError": "out of memory"}.get(name)
    return f"{kind}: {text}" if kind else f"{name}: {text}"


def time_calls(call, policy: TimingPolicy, timer, between=None) -> tuple[list[float], int]:
    """Warm up, then time ``policy.reps_for`` repetitions of ``call(i)``.

    ``timer(fn) -> seconds`` times one call (perf_counter or CUDA events); ``between(i)``
    runs before each timed repetition, untimed (an L2 flush). Returns (times, warm-up count).
    """
    import time as _time

    warm, spent, last = 0, 0.0, math.inf
    start = _time.perf_counter()
    while warm < 2 or spent < policy.warmup_s:
        if between is not None:
            between(warm)
        last = timer(lambda i=warm: call(i))
        warm += 1
        spent = _time.perf_counter() - start
        if warm >= 1000:
            break
    reps = policy.reps_for(last)
    times = []
    for i in range(reps):
        if between is not None:
            between(i)
        times.append(timer(lambda i=i: call(i)))
    return times, warm
