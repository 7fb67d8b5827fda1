"""Held-out error: how far predictions are from measurements the fit never saw.

:func:`evaluate` predicts every usable measurement of a split (``"test"`` by default: the
shapes, densities and patterns left out of the fit) under a calibration and reports, per
kernel, the mean absolute percentage error (MAPE), the median and the worst error, plus a
predicted-vs-measured table. Errors are signed, ``(predicted - measured) / measured``:
positive means the model is too slow.

>>> report = evaluate(calibration, results, hw="host", model="analytic")  # doctest: +SKIP
>>> print(report.render())                                                # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..calibration import Calibration, load_calibration
from ..errors import SparsimError
from ..hwprofiles import load_profile
from ..units import human_seconds
from .calibrator import _check_hw, predict_points, usable_records, with_measured

__all__ = ["ErrorReport", "evaluate"]

_POINT_COLUMNS = ["kernel", "dtype", "m", "k", "n", "density", "pattern", "split", "measured_s",
                  "predicted_s", "error"]


@dataclass(frozen=True)
class ErrorReport:
    """Per-point predictions (``points``) and per-kernel error statistics (``summary``)."""

    points: pd.DataFrame
    summary: pd.DataFrame
    hw: str
    model: str
    calibration: str | None
    split: str | None

    def kernel_mape(self) -> dict[str, float]:
        """MAPE per kernel over all its dtypes."""
        return {row.kernel: float(row.mape) for row in self.summary.itertuples() if row.dtype == "all"}

    def to_dict(self) -> dict:
        return {"hw": self.hw, "model": self.model, "calibration": self.calibration, "split": self.split,
                "summary": self.summary.to_dict(orient="records"),
                "points": self.points.to_dict(orient="records")}

    def render(self, max_points: int | None = 60) -> str:
        """The per-kernel error table, then predicted vs measured per point."""
        which = f"{self.split} split" if self.split else "all points"
        lines = [f"held-out error on {self.hw} ({which}, model {self.model}"
                 + (f", calibration {self.calibration})" if self.calibration else ", no calibration)")]
        head = f"{'kernel':<8} {'dtype':<6} {'n':>4} {'MAPE':>8} {'median':>8} {'worst':>8}"
        lines += [head, "-" * len(head)]
        for row in self.summary.itertuples():
            lines.append(f"{row.kernel:<8} {row.dtype:<6} {row.n:>4} {row.mape:>7.1%} {row.median_abs_error:>7.1%} "
                         f"{row.worst_error:>+8.1%}")
        points = self.points.sort_values(["kernel", "dtype", "m", "k", "n"])
        if max_points == 0:
            return "\n".join(lines)
        if max_points is not None and len(points) > max_points:
            points = points.reindex(points["error"].abs().sort_values(ascending=False).index[:max_points])
            lines += ["", f"predicted vs measured (the {max_points} largest errors of {len(self.points)})"]
        else:
            lines += ["", "predicted vs measured"]
        head = f"{'kernel':<6} {'dtype':<5} {'M x K x N':<19} {'density':>8} {'pattern':<10} " \
               f"{'measured':>11} {'predicted':>11} {'error':>8}"
        lines += [head, "-" * len(head)]
        for row in points.itertuples():
            lines.append(f"{row.kernel:<6} {row.dtype:<5} {f'{row.m}x{row.k}x{row.n}':<19} {row.density:>8.4g} "
                         f"{row.pattern:<10} {human_seconds(row.measured_s):>11} {human_seconds(row.predicted_s):>11} "
                         f"{row.error:>+8.1%}")
        return "\n".join(lines)


def _stats(kernel: str, dtype: str, group: pd.DataFrame) -> dict:
    err = group["error"].to_numpy()
    return {"kernel": kernel, "dtype": dtype, "n": len(group), "mape": float(np.mean(np.abs(err))),
            "median_abs_error": float(np.median(np.abs(err))), "worst_error": float(err[np.argmax(np.abs(err))])}


def _summary(points: pd.DataFrame) -> pd.DataFrame:
    """Per kernel: one row per dtype, then the kernel over all its dtypes."""
    rows = []
    for kernel, by_kernel in points.groupby("kernel", sort=True):
        rows += [_stats(kernel, dtype, group) for dtype, group in by_kernel.groupby("dtype", sort=True)]
        rows.append(_stats(kernel, "all", by_kernel))
    return pd.DataFrame(rows, columns=["kernel", "dtype", "n", "mape", "median_abs_error", "worst_error"])


def evaluate(calibration, results, *, hw="host", model: str = "des", split: str | None = "test",
             include_flagged=False, datasheet: bool = False) -> ErrorReport:
    """Predict each usable measurement of ``split`` (None: all) and compare with its time;
    points flagged as throttled or contended are left out unless ``include_flagged``
    (True, or the flags to keep). ``datasheet``: predict with the calibration's measured
    ceilings only, none of its fitted parameters (the baseline a fit must beat)."""
    cal = load_calibration(calibration) if calibration is not None else None
    profile = load_profile(hw)
    if cal is not None:
        cal.check_profile(profile.name)
        profile = with_measured(profile, cal.measured)
    records = usable_records(results, split=split, include_flagged=include_flagged)
    if not records:
        raise SparsimError(f"--results: no usable measurements in the {split or 'whole'} split; "
                           "allowed: a results file with timed points (status ok)"
                           + (" labelled split = test" if split == "test" else ""))
    _check_hw(records, profile, "--results")
    predicted, measured = predict_points(records, profile, None if datasheet else cal, model)
    points = pd.DataFrame([{c: r.get(c) for c in _POINT_COLUMNS[:8]} for r in records])
    points["measured_s"] = measured
    points["predicted_s"] = predicted
    points["error"] = (predicted - measured) / measured
    name = cal.name if isinstance(cal, Calibration) else None
    if datasheet and name:
        name = f"datasheet-only ({name}'s measured ceilings)" if cal.measured else "datasheet-only"
    return ErrorReport(points=points, summary=_summary(points), hw=profile.name, model=model,
                       calibration=name, split=split)
