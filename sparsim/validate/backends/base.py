"""The backend interface: run one :class:`~sparsim.validate.spec.MeasureSpec` for real.

``Backend.run(spec) -> Measurement``. A backend builds A from the spec's seeded pattern
and B with nonzero random values, checks the kernel's result against a float64 reference
(a wrong result is an error, never a timing), warms up, times repetitions and summarizes
them. A point it cannot run (an unsupported dtype, out of memory, a missing library) comes
back as a Measurement with ``status="error"`` and the reason, so a sweep goes on;
``KeyboardInterrupt`` is never swallowed.

Subclasses implement :meth:`Backend.profile`, :meth:`Backend.describe` and
:meth:`Backend._measure`.
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
        return {
            "type": "measurement",
            "key": self.spec.key,
            **self.spec.to_dict(),
            "nnz": work.nnz if work is not None else None,
            "backend": self.backend,
            "hw": self.hw,
            "status": self.status,
            "error": self.error,
            "flag": self.flag,
            "time_s": self.time_s,
            **{k: v for k, v in self.spread.items() if k != "median_s"},
            "times_s": list(self.times_s),
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

    def run(self, spec: MeasureSpec) -> Measurement:
        hw = self.profile().name
        try:
            fields = self._measure(spec)
        except Exception as exc:  # noqa: BLE001 - recorded with the point; KeyboardInterrupt passes
            return Measurement(spec=spec, backend=self.name, hw=hw, status="error", error=_describe(exc))
        times = list(fields.pop("times_s"))
        throttled = list(fields.pop("throttled", ()) or [False] * len(times))
        flag = fields.pop("flag", None)
        kept = [t for t, bad in zip(times, throttled) if not bad]
        if not kept:  # every repetition throttled: keep the time, flag the point
            kept, flag = times, flag or "throttled"
        spread = summarize(kept)
        return Measurement(spec=spec, backend=self.name, hw=hw, status="ok", flag=flag,
                           time_s=spread["median_s"], times_s=tuple(times), spread=spread,
                           throttled=tuple(bool(b) for b in throttled), **fields)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = {"Unsupported": "unsupported", "WrongResult": "wrong result",
            "MemoryError": "out of memory", "OutOfMemoryError": "out of memory"}.get(type(exc).__name__)
    return f"{kind}: {text}" if kind else f"{type(exc).__name__}: {text}"


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
