"""Fitting the simulator's parameters to measurements: ``Calibrator(...).fit(results)``.

What is fitted, and how:

* **Per implementation.** Measurements become points
  (:mod:`~sparsim.validate.points`: a results-file record, or an atlas point, each a
  Problem with its implementation, :func:`~sparsim.validate.spec.impl_of`), grouped by
  the parameter table their implementation's kernels read (``cublas``, ``cusparse``,
  ``numpy``, ``scipy``, ...; PyTorch's ``torch.mm`` runs cuBLAS kernels, so its points
  are fitted with cuBLAS's), and each group gets its own parameters (the calibration's
  ``[impl.NAME]`` tables). Hardware ceilings are not fitted: they come from the profile,
  or from a probe's ``measured`` values (:func:`with_measured`).
* **Only what the data identifies.** Candidates are the parameters that move the group's
  predictions; a column-pivoted QR of the residuals' Jacobian at the defaults keeps at
  most ``max_params`` of them whose effects are not (nearly) collinear. Each is searched
  in log space inside its physical range (:data:`~sparsim.simulator.params.PARAM_BOUNDS`).
  After the fit, a parameter that ends on an edge of its range, or whose uncertainty is
  more than a factor ``max_uncertainty`` (flat or collinear residuals), is reported, kept
  at its default, not written, and the rest are fitted again without it.
* **Uncertainty and cross-validation** (:mod:`~sparsim.validate.fitstats`): the
  Gauss-Newton standard deviation of each log parameter, and group k-fold by shape
  (:func:`~sparsim.validate.spec.shape_group`), one linearized refit per fold
  (``exact_cv=True``: a least-squares refit). A group whose cross-validated error is worse
  than the datasheet-only prediction's keeps its defaults (reported, not written).

Residuals are ``log(predicted) - log(measured)`` (:mod:`~sparsim.validate.fitpoints`): a
2x miss weighs the same on a 10 us and a 10 s kernel.

It follows scikit-learn's estimator shape: ``__init__`` stores keyword-only settings,
``fit`` validates and returns ``self``, fitted values end in ``_``.

>>> cal = Calibrator(hw="host").fit(usable_records("results.jsonl", split="train"))  # doctest: +SKIP
>>> cal.impl_params_, cal.cv_mape_                                                  # doctest: +SKIP
({'scipy': {'cpu_spmm_efficiency': 0.14, ...}, 'numpy': {...}}, {'csr': 0.08, ...})
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Iterable, Mapping

import numpy as np

from ..calibration import Calibration
from ..errors import SparsimError, check_choice
from ..hwprofiles import apply_measured, load_profile
from ..simulator import MODELS
from ..simulator.params import DEFAULT_PARAMS, EFFICIENCY_PARAMS, PARAM_BOUNDS
from .fitpoints import FitPoints as _Points
from .fitpoints import check_records_hw as _check_hw
from .fitpoints import group_folds, predict_points, predict_records, records_to_points, usable_records
from .fitpoints import spread as _spread
from .fitstats import cross_validate, cv_by_kernel, identifiable, std_log
from .points import Point, mape

__all__ = ["Calibrator", "usable_records", "predict_records", "predict_points", "with_measured",
           "group_folds", "PARAM_BOUNDS"]

#: a fitted parameter whose log has a standard deviation above log(2) (a factor 2 either
#: way) is not identified by the data
MAX_LOG_UNCERTAINTY = math.log(2.0)
#: points the parameter selection probes per implementation (one per shape first)
SELECT_POINTS = 24
#: within this distance (in log units, ~1%) of an edge of its range, a value is "at bound"
_EDGE = 0.01

#: ``hw`` with a probe's measured ceilings in place of its datasheet values (the one
#: owner of the measured-key map is :mod:`sparsim.hwprofiles.loader`)
with_measured = apply_measured


_mape = mape


class Calibrator:
    """Fits per-implementation parameters for one profile to measured times.

    Parameters (keyword-only): ``hw`` the profile (name, path, ``"host"`` or a
    HardwareProfile); ``model`` ``"des"`` or ``"analytic"``; ``params`` the candidate names
    (default: every parameter the data moves); ``measured`` probe ceilings that replace
    the profile's datasheet values; ``max_params`` the most parameters fitted per
    implementation; ``folds`` for group k-fold cross-validation by shape (0: none);
    ``loss``/``f_scale`` for ``least_squares`` (f_scale in log units: 0.1 ~ 10%);
    ``max_nfev`` evaluations per start; ``n_starts`` extra seeded random starts
    (``random_state``) besides the defaults and the rescaled defaults;
    ``max_uncertainty`` the largest standard deviation of log(parameter) still called
    identified; ``exact_cv`` refits every fold by least squares instead of one linearized
    Gauss-Newton step from the full fit; ``include_flagged`` True, or the flags (``{"contended"}``) whose points are fitted too.
    """

    def __init__(self, *, hw="host", model: str = "des", params: Iterable[str] | Mapping | None = None,
                 measured=None, max_params: int = 3, folds: int = 5, loss: str = "soft_l1",
                 f_scale: float = 0.1, max_nfev: int | None = 25, n_starts: int = 0, random_state: int = 0,
                 max_uncertainty: float = MAX_LOG_UNCERTAINTY, exact_cv: bool = False, include_flagged=False,
                 start: Mapping | None = None):
        self.hw = hw
        self.model = model
        self.params = params
        self.measured = measured
        self.max_params = max_params
        self.folds = folds
        self.loss = loss
        self.f_scale = f_scale
        self.max_nfev = max_nfev
        self.n_starts = n_starts
        self.random_state = random_state
        self.max_uncertainty = max_uncertainty
        self.exact_cv = exact_cv
        self.include_flagged = include_flagged
        self.start = start

    # -- sklearn-style API -----------------------------------------------------------

    def _points(self, results, hw) -> list[Point]:
        """The fit's points: measured :class:`~sparsim.validate.points.Point` objects as
        given (the atlas), or the usable records of a results file (checked to be of ``hw``)."""
        if isinstance(results, (list, tuple)) and results and all(isinstance(p, Point) for p in results):
            return [p for p in results if p.fit]
        records = usable_records(results, include_flagged=self.include_flagged)
        _check_hw(records, hw, "Calibrator.fit")
        return records_to_points(records)

    def _candidates(self, key: str) -> list[str] | None:
        """The candidate parameters of parameter table ``key`` (None: every one the data moves)."""
        if self.params is None:
            return None
        names = self.params.get(key, ()) if isinstance(self.params, Mapping) else self.params
        return [check_choice("params", name, tuple(DEFAULT_PARAMS)) for name in names]

    def fit(self, results) -> "Calibrator":
        """Fit on ``results``; returns self. ``results``: a results path, ResultSet, records
        or Measurements (their usable points), or measured points
        (:class:`~sparsim.validate.points.Point`, e.g. the atlas' :func:`~sparsim.validate.atlas.default_points`;
        those marked ``fit=False`` only score).

        Points are grouped by the parameter table their implementation's kernels read
        (a calibration's ``[impl.NAME]``: PyTorch's CSR kernels are cuSPARSE's, so they are
        fitted with cuSPARSE's). Every point given is fitted: pass the training split only
        (``usable_records(results, split="train")``) to keep a held-out set.
        """
        self._validate()
        hw = with_measured(load_profile(self.hw), self.measured)
        points = self._points(results, hw)
        if not points:
            raise SparsimError("Calibrator.fit: got no usable measurements (status ok, timed, not flagged as "
                               "throttled or contended); allowed: results with at least one such point "
                               "(run 'sparsim calibrate' again to re-measure flagged points, or pass --accept-contended "
                               "on a machine that is never idle)")
        points = _Points(points, hw, self.model)
        for key in (self.params if isinstance(self.params, Mapping) else {None: None}):
            self._candidates(key)  # unknown names are refused before any work
        self._x_of: dict[str, dict[str, float]] = {}  # full-fit solution per table: CV's start
        self._table_defaults: dict[str, dict[str, float]] = {}  # each table's values before the fit
        self.impl_params_: dict[str, dict[str, float]] = {}
        self.param_report_: list[dict] = []
        self.cv_: list[dict] = []
        nfev = 0
        for key in sorted(set(points.keys)):
            idx = np.array([i for i, name in enumerate(points.keys) if name == key], dtype=int)
            kept, report, n = self._fit_impl(points, idx, key, hw, self._candidates(key))
            self.param_report_ += report
            nfev += n
            cv = self._cross_validate(points, idx, list(kept)) if kept else None
            if cv is not None:
                self.cv_ += cv["rows"]
                if cv["fitted"] > cv["datasheet"]:
                    for row in report:
                        if row["status"] == "fitted":
                            row["status"] = "worse than datasheet in cross-validation"
                    kept = {}
            if kept:
                self.impl_params_[key] = kept
        scored = [i for i, p in enumerate(points.points) if p.primary]
        self.hw_ = hw
        self.n_samples_ = len(scored)
        self.evaluations_ = points.evaluations
        self.nfev_ = nfev
        pred, meas = self._primary(points, scored)
        self.residuals_ = np.log(pred) - np.log(meas)
        self.fit_error_ = _mape(pred, meas)
        base_pred, _ = self._primary(points, scored, defaults=True)
        self.datasheet_fit_error_ = _mape(base_pred, meas)
        self.cv_mape_ = self._cv_by_kernel("fitted")
        self.cv_datasheet_mape_ = self._cv_by_kernel("datasheet")
        self.calibration_ = self.to_calibration()
        return self

    def predict(self, results) -> np.ndarray:
        """Predicted seconds for each usable measurement in ``results``."""
        self._check_fitted("predict")
        records = usable_records(results, include_flagged=self.include_flagged)
        return predict_records(records, self.hw_, self.calibration_, self.model)

    def to_calibration(self, provenance: dict | None = None) -> Calibration:
        """The fitted parameters as a :class:`~sparsim.calibration.Calibration` with provenance."""
        self._check_fitted("to_calibration")
        prov = {
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "model": self.model,
            "fitted": sorted(f"{impl}.{name}" for impl, table in self.impl_params_.items() for name in table),
            "samples": self.n_samples_,
            "fit_mape": round(self.fit_error_, 6),
            "fit_median_abs_error": round(float(np.median(np.abs(np.expm1(self.residuals_)))), 6),
            "uncertainty": "Gauss-Newton: std of log(parameter) from s^2 (J^T J)^-1 of the log residuals",
            "parameters": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()
                            if v is not None} for row in self.param_report_],
            "not_fitted": sorted(f"{row['impl']}.{row['param']}" for row in self.param_report_
                                 if row["status"] != "fitted"),
        }
        if self.cv_mape_:
            prov["cv_mape"] = {k: round(v, 4) for k, v in self.cv_mape_.items()}
            prov["cv_datasheet_mape"] = {k: round(v, 4) for k, v in self.cv_datasheet_mape_.items()}
        prov.update(provenance or {})
        return Calibration(hw=self.hw_.name, params={}, impl_params=self.impl_params_,
                           measured=dict(self.measured or {}), provenance=prov)

    # -- the fit of one implementation -----------------------------------------------

    def _validate(self) -> None:
        check_choice("--model", self.model, MODELS)
        check_choice("loss", self.loss, ("linear", "soft_l1", "huber", "cauchy", "arctan"))
        if not (isinstance(self.f_scale, (int, float)) and self.f_scale > 0):
            raise SparsimError(f"f_scale: got {self.f_scale!r}; allowed: a number > 0")
        for name in ("n_starts", "folds", "max_params"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SparsimError(f"{name}: got {value!r}; allowed: a whole number >= 0")
        if self.folds == 1:
            raise SparsimError("folds: got 1; allowed: 0 (no cross-validation) or a whole number >= 2")

    def _select(self, points: _Points, idx, impl: str, hw, candidates, exclude=()) -> tuple[list[str], list[dict]]:
        """Parameters that move this implementation's predictions and are not collinear,
        probed at the given start of this table (an earlier fit), else at the defaults:
        a term of a max() that binds only near the solution moves nothing at the defaults."""
        names = candidates if candidates is not None else [
            n for n in DEFAULT_PARAMS if hw.kind == "cpu" or not n.startswith("cpu_")]
        names = [n for n in names if n not in exclude]
        # which parameters matter is a property of the kinds of point, not of every point:
        # probe a spread of at most SELECT_POINTS of them (one per shape first)
        idx = _spread(points, idx, SELECT_POINTS)
        given = dict((self.start or {}).get(impl, {}))
        at = {n: float(given[n]) for n in names if n in given}  # excluded ones stay at their defaults
        chosen, rejected = identifiable(points, idx, names, at, self.max_params)
        return chosen, [self._row(impl, name, None, None, status) for name, status in rejected]

    def _row(self, impl, name, value, std_log, status) -> dict:
        lo, hi = PARAM_BOUNDS[name]
        # the value the table keeps when this one is not written: the implementation file's, else the default
        default = self._table_defaults.get(impl, {}).get(name, DEFAULT_PARAMS[name])
        return {"impl": impl, "param": name, "value": value, "default": float(default),
                "std_log": std_log, "lo": lo, "hi": hi, "status": status}

    def _least_squares(self, points, idx, names, x0_list, max_nfev):
        from scipy.optimize import least_squares

        lo = np.log([PARAM_BOUNDS[n][0] for n in names])
        hi = np.log([PARAM_BOUNDS[n][1] for n in names])

        def descend(x0, nfev, subset=idx):
            def residuals(x):
                return points.residuals(subset, dict(zip(names, np.exp(x).tolist())))

            return least_squares(residuals, x0, bounds=(lo, hi), loss=self.loss, f_scale=self.f_scale,
                                 diff_step=0.02, x_scale=1.0, max_nfev=nfev,
                                 # 1% of the cost or 0.1% of a parameter: below what timing noise resolves
                                 ftol=1e-2, xtol=1e-3, gtol=1e-8)

        # a few well-chosen starts, each given a short descent on a spread of at most
        # SELECT_POINTS points (each iteration costs 1 + parameters evaluations per point);
        # only the best is followed to the end on every point
        x0_list = [np.clip(x0, lo + 1e-9, hi - 1e-9) for x0 in x0_list]
        if len(x0_list) == 1:
            return descend(x0_list[0], max_nfev), lo, hi
        short = max(3, (max_nfev or 30) // 5)
        sample = _spread(points, idx, SELECT_POINTS)
        tries = [descend(x0, short, sample) for x0 in x0_list]
        best = min(tries, key=lambda res: res.cost)
        final = descend(best.x, max_nfev)
        final.nfev += sum(res.nfev for res in tries)
        return final, lo, hi

    def _starts(self, points, idx, names, key: str = "") -> list[np.ndarray]:
        """The given start of table ``key`` (an earlier fit), the defaults, the defaults
        with every efficiency rescaled so the median prediction is right (a model of max()
        terms leaves far-off terms never binding), every efficiency at 0.5, and
        ``n_starts`` seeded random ones."""
        x0 = np.log([DEFAULT_PARAMS[n] for n in names])
        starts = [x0]
        given = dict((self.start or {}).get(key, {}))
        if any(n in given for n in names):
            starts.insert(0, np.log([given.get(n, DEFAULT_PARAMS[n]) for n in names]))
        ratio = float(np.median(np.exp(-points.residuals(idx, {}))))  # measured / predicted
        if math.isfinite(ratio) and abs(math.log(ratio)) > 0.05:
            shift = np.array([-math.log(ratio) if n in EFFICIENCY_PARAMS else
                              (math.log(ratio) if n in ("launch_scale", "cpu_nonzero_overhead_ns") else 0.0)
                              for n in names])
            starts.append(x0 + shift)
        # efficiencies mid-range: starts next to the upper edge (tensor 0.97) can stall where
        # a max() term switches, with another efficiency compensating
        mid = np.array([math.log(0.5) if n in EFFICIENCY_PARAMS else x for n, x in zip(names, x0)])
        if np.any(mid != x0):
            starts.append(mid)
        rng = np.random.default_rng(self.random_state)
        for _ in range(self.n_starts):
            starts.append(np.array([rng.uniform(*np.log(PARAM_BOUNDS[n])) for n in names]))
        return starts

    def _fit_impl(self, points: _Points, idx, impl: str, hw, candidates):
        self._table_defaults[impl] = dict(points.machine(int(idx[0]), None).params)
        names, selected = self._select(points, idx, impl, hw, candidates)
        report = {row["param"]: row for row in selected}
        nfev, x_of, at_bound = 0, {}, set()
        starts = self._starts(points, idx, names, impl) if names else []
        for _round in range(len(DEFAULT_PARAMS) + 1):
            if not names:
                break
            best, lo, hi = self._least_squares(points, idx, names, starts, self.max_nfev)
            nfev += int(best.nfev)
            std = std_log(best, len(names))
            rows = []
            for j, name in enumerate(names):
                value = float(np.exp(best.x[j]))
                if best.x[j] - lo[j] < _EDGE or hi[j] - best.x[j] < _EDGE:
                    status = "at bound (limited, not measured, by these points)"
                elif not math.isfinite(std[j]) or std[j] > self.max_uncertainty:
                    status = "not identified (flat or collinear residuals)"
                else:
                    status = "fitted"
                rows.append(self._row(impl, name, value, float(std[j]) if math.isfinite(std[j]) else None, status))
            # one cause at a time: parameters on an edge first (the others' uncertainty is
            # inflated by their collinearity with them), then the least certain one
            drop = [row["param"] for row in rows if row["status"].startswith("at bound")]
            if not drop:
                unsure = [(std[j], names[j]) for j, row in enumerate(rows) if row["status"] != "fitted"]
                drop = [max(unsure)[1]] if unsure else []
            if not drop:
                report.update({row["param"]: row for row in rows})
                x_of = {n: float(np.exp(x)) for n, x in zip(names, best.x)}
                break
            # report the dropped ones as they ended, refit the rest without them
            report.update({row["param"]: row for row in rows if row["param"] in drop})
            keep = [j for j, n in enumerate(names) if n not in drop]
            names = [names[j] for j in keep]
            starts = [best.x[keep]]
            if rows and any(row["status"].startswith("at bound") for row in rows if row["param"] in drop):
                # a parameter held at its default may leave room for one that was collinear
                # with it (latency and loads in flight trade off in Little's law): select again
                at_bound |= set(drop)
                fitted = dict(zip(names, best.x[keep]))
                names, again = self._select(points, idx, impl, hw, candidates, exclude=at_bound)
                for row in again:
                    report.setdefault(row["param"], row)
                for n in names:
                    report.pop(n, None)  # selected now: its row comes from the fit
                x0 = np.array([fitted.get(n, math.log(DEFAULT_PARAMS[n])) for n in names])
                starts = [x0] + [x for x in self._starts(points, idx, names, impl) if not np.allclose(x, x0)]
        self._x_of[impl] = x_of
        return x_of, list(report.values()), nfev

    def _cross_validate(self, points: _Points, idx, names: list[str]) -> dict | None:
        impl = points.keys[idx[0]]
        x0 = np.log([self._x_of[impl][n] for n in names])
        refit = None
        if self.exact_cv:
            def refit(train, x_start):
                best, _, _ = self._least_squares(points, train, names, [x_start], max(6, (self.max_nfev or 25) // 3))
                return best.x
        return cross_validate(points, idx, names, x0, folds=self.folds, loss=self.loss, f_scale=self.f_scale,
                              seed=self.random_state, refit=refit)

    def _cv_by_kernel(self, which: str) -> dict[str, float]:
        return cv_by_kernel(self.cv_, which)

    def _primary(self, points: _Points, idx, defaults: bool = False):
        pred, meas = [], []
        for i in idx:
            values = {} if defaults else self.impl_params_.get(points.keys[i], {})
            p, m = points.primary(i, values)
            pred.append(p)
            meas.append(m)
        return np.array(pred), np.array(meas)

    def _check_fitted(self, what: str) -> None:
        if not hasattr(self, "impl_params_"):
            raise SparsimError(f"Calibrator.{what}: this Calibrator is not fitted yet; call fit(results) first")
