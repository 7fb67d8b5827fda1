"""Measurements as the calibration fit sees them: usable records, points, residuals.

A results file holds every measurement taken, good or not; the fit and the scores use
only the usable ones (status ok, timed, not flagged as throttled or contended:
:func:`usable_records`). Each record becomes one or more
:class:`~sparsim.validate.points.Point` objects (its kernel time and/or its per-call
time), and :class:`FitPoints` gives the fitter their log residuals,
``log(predicted) - log(measured)``, under trial parameter values, each point's work built
once. :func:`group_folds` cuts the points into cross-validation folds that keep every
shape in one fold; :func:`spread` picks a few points per shape to probe.

>>> group_folds(["a", "a", "b", "c"], 2)   # "a" stays together
[array([2, 3]), array([0, 1])]
>>> usable_records([{"status": "ok", "time_s": 1e-3, "split": "train"}, {"status": "ok", "time_s": 1e-3,
...                 "flag": "throttled"}, {"status": "error"}], split="train")
[{'status': 'ok', 'time_s': 0.001, 'split': 'train'}]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np

from ..calibration import Calibration
from ..errors import SparsimError
from ..hwprofiles import HardwareProfile
from .points import Point, PointPredictor, points_from_record
from .points import predict_points as _predict
from .results import ResultSet, read_results

__all__ = ["usable_records", "records_to_points", "FitPoints", "predict_points", "predict_records",
           "check_records_hw", "group_folds", "spread"]


def _as_records(results) -> list[dict]:
    if isinstance(results, (str, Path)):
        results = read_results(results)
    if isinstance(results, ResultSet):
        return list(results.measurements)
    return [r.to_record() if hasattr(r, "to_record") else dict(r) for r in results]


def _measured_time(r: dict) -> float | None:
    for key in ("time_s", "call_s", "kernel_s"):
        if isinstance(r.get(key), (int, float)) and r[key] > 0:
            return float(r[key])
    return None


def usable_records(results, split: str | None = None, include_flagged: bool | Iterable[str] = False) -> list[dict]:
    """Measurements fit for fitting or scoring: ok, timed, not flagged (throttled or
    contended), and in ``split`` if given. ``include_flagged``: True keeps every flagged
    point, a collection of flags (``{"contended"}``) keeps those."""
    keep = []
    for r in _as_records(results):
        if r.get("status") != "ok" or _measured_time(r) is None:
            continue
        flag = r.get("flag")
        if flag and not (include_flagged is True or (include_flagged and flag in include_flagged)):
            continue
        if split is not None and r.get("split") != split:
            continue
        keep.append(r)
    return keep


def records_to_points(records: list[dict]) -> list[Point]:
    """Every point of the records (:func:`~sparsim.validate.points.points_from_record`)."""
    return [point for r in records for point in points_from_record(r)]


class FitPoints(PointPredictor):
    """The fitter's view of the points: log residuals under trial parameter values."""

    def __init__(self, points: list[Point], hw: HardwareProfile, model: str):
        super().__init__(points, hw, model)
        self.measured = np.array([p.measured_s for p in points], dtype=np.float64)
        self.groups = [p.group for p in points]
        self.kernels = [p.kernel for p in points]
        self.keys = [self.params_key(i) for i in range(len(points))]

    def residuals(self, idx, values: dict) -> np.ndarray:
        return np.array([math.log(self.predict(i, values)) - math.log(self.measured[i]) for i in idx],
                        dtype=np.float64)

    def primary(self, i: int, values: dict) -> tuple[float, float]:
        """(predicted, measured) of point ``i``."""
        return self.predict(i, values), self.measured[i]


def predict_points(records: list[dict], hw: HardwareProfile, calibration: Calibration | dict | None,
                   model: str) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, measured) seconds for each record: its kernel time when it has one,
    else its per-call time, under ``calibration`` (the parameters of the table its
    implementation's kernels read)."""
    points = [next(p for p in points_from_record(r, untimed=True) if p.primary) for r in records]
    pred = _predict(points, calibration, hw=hw, model=model)
    return pred, np.array([p.measured_s for p in points], dtype=np.float64)


def predict_records(records: list[dict], hw: HardwareProfile, calibration, model: str) -> np.ndarray:
    """Predicted seconds for each record (see :func:`predict_points`)."""
    return predict_points(records, hw, calibration, model)[0]


def check_records_hw(records: list[dict], hw: HardwareProfile, what: str) -> None:
    for r in records:
        if r.get("hw") not in (None, hw.name):
            raise SparsimError(
                f"{what}: measurement {r.get('key')!r} was taken for profile {r['hw']!r}, not {hw.name!r}; "
                f"allowed: measurements of {hw.name!r}"
            )


def group_folds(groups: list, k: int, seed: int = 0) -> list[np.ndarray]:
    """Indices of each of ``k`` folds; every member of a group lands in the same fold."""
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[j]: pos % k for pos, j in enumerate(order)}
    return [np.array([i for i, g in enumerate(groups) if fold_of[g] == f], dtype=int) for f in range(k)]


def spread(points: FitPoints, idx, limit: int) -> np.ndarray:
    """At most ``limit`` of ``idx``: the first point of each shape, then the others, evenly."""
    if len(idx) <= limit:
        return np.asarray(idx)
    seen, first, rest = set(), [], []
    for i in idx:
        (rest if points.groups[i] in seen else first).append(i)
        seen.add(points.groups[i])
    ordered = first + rest
    picks = np.linspace(0, len(first) - 1, min(limit, len(first))).round().astype(int) if len(first) >= limit \
        else np.arange(len(first))
    chosen = [first[j] for j in sorted(set(picks.tolist()))]
    extra = [i for i in ordered if i not in set(chosen)]
    need = limit - len(chosen)
    if need > 0 and extra:
        chosen += [extra[j] for j in np.linspace(0, len(extra) - 1, min(need, len(extra))).round().astype(int)]
    return np.array(sorted(set(chosen)), dtype=int)
