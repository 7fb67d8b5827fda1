"""Measured points: one measured time of one implementation on one Problem, and the one
way to predict and score them.

Every source of measurements becomes the same :class:`Point`: a results-file record
(``sparsim calibrate``, :func:`points_from_record`) gives its kernel time and its
per-call time, the H200 atlas (:mod:`sparsim.validate.atlas`) one point per modelled
time. A point carries its :class:`~sparsim.problem.Problem` (implementation included),
which time it measured (``target``: the device time of the call's kernels, or one whole
call with its host work), whether a fit may use it (``fit``) and whether it is the number
its measurement is scored on (``primary``: a record with both times is scored on its
kernel time). :func:`predict_points` predicts them and :func:`mape` scores them, for the
fitter (:class:`~sparsim.validate.calibrator.Calibrator`), the held-out report and the
atlas benchmark alike.

>>> from sparsim.problem import Problem
>>> p = Point(Problem("dense", m=1024, k=1024, n=1024, impl="cublas"), "kernel", 20e-6, group=(1024, 1024, 1024))
>>> predicted = predict_points([p], hw="h100-sxm5-80gb")
>>> round(float(predicted[0]) * 1e6, 1), round(mape(predicted, [p.measured_s]), 2)
(8.9, 0.55)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import check_choice
from ..problem import Problem
from ..simulator import machine_for, predict_work

__all__ = ["Point", "PointPredictor", "TARGETS", "mape", "points_from_record", "predict_points"]

#: what a point's time measured: the call's kernels on the device, or one whole call
TARGETS = ("kernel", "call")


@dataclass(frozen=True, eq=False)
class Point:
    """One measured time of ``problem`` (its ``impl`` ran it)."""

    problem: Problem
    target: str  # one of TARGETS
    measured_s: float
    #: cross-validation group: points of one group are held out together
    group: tuple = ()
    #: a fit may use it (per-call atlas times carry host work no kernel parameter explains)
    fit: bool = True
    #: the number its measurement is scored on
    primary: bool = True
    series: str = ""  # the measurement series it belongs to (atlas series, record key)
    source: str = ""  # the file it was read from

    def __post_init__(self):
        check_choice("target", self.target, TARGETS)

    @property
    def impl(self) -> str:
        return self.problem.impl

    @property
    def kernel(self) -> str:
        return self.problem.kernel


def _time(record: dict, key: str) -> float:
    v = record.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else math.nan


def points_from_record(record: dict, untimed: bool = False) -> list[Point]:
    """The points of one results-file record: its kernel time and its per-call time
    (an older record's ``time_s`` is a per-call time); scored on the kernel time when it
    has one. Both share one Problem, so its work is counted once. ``untimed``: a record
    with no time gives one per-call point measured as nan (to predict it)."""
    from .spec import impl_of, shape_group, spec_from_record

    problem = spec_from_record(record).problem().with_impl(impl_of(record))
    kernel_s, call_s = _time(record, "kernel_s"), _time(record, "call_s")
    if math.isnan(kernel_s) and math.isnan(call_s):
        call_s = _time(record, "time_s")
    group, key = shape_group(record), str(record.get("key", ""))
    out = []
    if not math.isnan(kernel_s):
        out.append(Point(problem, "kernel", kernel_s, group, series=key))
    if not math.isnan(call_s):
        out.append(Point(problem, "call", call_s, group, primary=not out, series=key))
    if not out and untimed:
        out.append(Point(problem, "call", math.nan, group, series=key))
    return out


class PointPredictor:
    """Predicts points on one profile, counting each Problem's work once and remembering
    each (problem, parameter values) prediction (a fit evaluates the same ones often)."""

    def __init__(self, points: Sequence[Point], hw, model: str = "des"):
        from ..hwprofiles import load_profile

        self.points = list(points)
        self.hw = load_profile(hw)
        self.model = model
        self.evaluations = 0  # model predictions actually run (memo misses)
        self._works: dict = {}
        self._memo: dict = {}
        self._keys: dict = {}

    def machine(self, i: int, calibration):
        """The machine point ``i``'s library call runs on under ``calibration``."""
        return machine_for(self.points[i].problem, self.hw, calibration)

    def work(self, i: int, machine):
        """Point ``i``'s work as its call stores A (counted once: patterns are the slow part)."""
        problem = self.points[i].problem
        if id(problem) not in self._works:
            self._works[id(problem)] = (problem, problem.work_for(machine))  # keeps the problem alive
        return self._works[id(problem)][1]

    def params_key(self, i: int) -> str:
        """The calibration table (``[impl.NAME]``) whose parameters predict point ``i``."""
        p = self.points[i].problem
        key = (p.impl, p.kernel, p.dtype)
        if key not in self._keys:
            self._keys[key] = self.machine(i, None).call.params_key
        return self._keys[key]

    def times(self, i: int, calibration) -> tuple[float, float]:
        """(kernel seconds, per-call seconds) of point ``i``'s problem under ``calibration``
        (None, a Calibration, or a mapping of parameter values for its implementation)."""
        memo = isinstance(calibration, Mapping) or calibration is None
        key = (id(self.points[i].problem), tuple(sorted((calibration or {}).items())) if memo else id(calibration))
        hit = self._memo.get(key) if memo else None
        if hit is None:
            machine = self.machine(i, dict(calibration) if memo and calibration else calibration)
            p = predict_work(self.work(i, machine), machine, model=self.model, seed=0)
            hit = (float(p.kernel_s), float(p.time_s))
            self.evaluations += 1
            if memo:
                self._memo[key] = hit
        return hit

    def predict(self, i: int, calibration) -> float:
        """Point ``i``'s predicted time of the kind it measured."""
        kernel_s, call_s = self.times(i, calibration)
        return kernel_s if self.points[i].target == "kernel" else call_s


def predict_points(points: Sequence[Point], calibration=None, *, hw, model: str = "des",
                   predictor: PointPredictor | None = None) -> np.ndarray:
    """Predicted seconds of each point (its kernel time or its per-call time, as its
    ``target`` says) under ``calibration`` (None: datasheet; a Calibration: its measured
    ceilings and the parameter table of each point's implementation)."""
    predictor = predictor or PointPredictor(points, hw, model)
    return np.array([predictor.predict(i, calibration) for i in range(len(points))], dtype=np.float64)


def mape(predicted: Iterable[float], measured: Iterable[float]) -> float:
    """Mean absolute percentage error, ``mean(|predicted / measured - 1|)`` (nan for none)."""
    predicted, measured = np.asarray(list(predicted), float), np.asarray(list(measured), float)
    return float(np.mean(np.abs(predicted / measured - 1.0))) if measured.size else math.nan


#: A published sparse/dense speedup within this of 1 is a tie: it is not scored for the
#: sign of "is sparse faster?" (bench_published.py, bench_e2e.py). Published runs repeat
#: to a few percent (the vllmbench logs show +-2% between repeats of one configuration;
#: kernels.json's sources report medians of 100-400 calls without their spread), so a 5%
#: ratio's sign is not a measurement. The H200 atlas, whose repeats agree to ~2%, uses its
#: own tighter rule (benchmarks/bench_atlas.py).
PUBLISHED_SIGN_TIE = 0.05


def sign_agreement(pairs: Iterable[tuple[float, float]], tie: float = PUBLISHED_SIGN_TIE) -> tuple[int, int, int]:
    """``(right, scored, ties)`` over ``(measured, predicted)`` sparse/dense speedups: a
    measured speedup within ``tie`` of 1 is not scored; a scored one is right when both
    sides fall on the same side of 1.

    >>> sign_agreement([(1.3, 1.2), (0.8, 1.1), (1.02, 0.7), (1.2, 1.01)])
    (2, 3, 1)
    """
    pairs = list(pairs)
    scored = [(m, p) for m, p in pairs if abs(m - 1.0) > tie]
    return sum((m > 1) == (p > 1) for m, p in scored), len(scored), len(pairs) - len(scored)
