"""Fitting the simulator's parameters to measurements: ``Calibrator(...).fit(results)``.

The fit is least squares on log time: each usable measurement (timed, correct, not
throttled) contributes ``log(predicted) - log(measured)``, so a 2x miss on a 10 us kernel
weighs as much as one on a 10 s kernel. The parameters are those of
:data:`sparsim.simulator.params.DEFAULT_PARAMS`, searched in log space within their
bounds (efficiencies in (0, 1], scales > 0) by ``scipy.optimize.least_squares`` with a
soft-L1 loss, so one odd point cannot drag the rest. By default only the parameters the
training points are sensitive to are fitted; the others keep their defaults and are left
out of the calibration file.

It follows scikit-learn's estimator shape: ``__init__`` stores keyword-only settings,
``fit`` validates and returns ``self``, fitted values end in ``_``.

>>> cal = Calibrator(hw="host", model="analytic").fit(results)        # doctest: +SKIP
>>> cal.params_, cal.fit_error_                                         # doctest: +SKIP
({'vector_efficiency': 0.93, 'gather_efficiency': 0.11, ...}, 0.08)
>>> cal.calibration_.save("calibration.toml")                          # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Iterable

import numpy as np

from ..api import MODELS
from ..calibration import Calibration
from ..errors import SparsimError, check_choice
from ..hwprofiles import HardwareProfile, load_profile
from ..simulator.params import DEFAULT_PARAMS, EFFICIENCY_PARAMS
from .results import ResultSet, read_results
from .spec import spec_from_record

__all__ = ["Calibrator", "usable_records", "predict_records", "time_model", "PARAM_BOUNDS"]

#: search box per kind of parameter: efficiencies are fractions of a peak; every other
#: parameter (scales, loads in flight, per-nonzero costs) within 1000x of its default
PARAM_BOUNDS = {"efficiency": (1e-4, 1.0), "other": (1e-3, 1e3)}


def _bounds(name: str) -> tuple[float, float]:
    if name in EFFICIENCY_PARAMS:
        return PARAM_BOUNDS["efficiency"]
    lo, hi = PARAM_BOUNDS["other"]
    return DEFAULT_PARAMS[name] * lo, DEFAULT_PARAMS[name] * hi


def time_model(model: str):
    """``f(work, hw, calibration) -> Prediction`` for ``"des"`` or ``"analytic"``."""
    check_choice("--model", model, MODELS)
    from ..simulator import predict_work

    return lambda work, hw, cal: predict_work(work, hw, cal, model=model, seed=0)


def _as_records(results) -> list[dict]:
    if isinstance(results, (str, Path)):
        results = read_results(results)
    if isinstance(results, ResultSet):
        return list(results.measurements)
    out = []
    for r in results:
        out.append(r.to_record() if hasattr(r, "to_record") else dict(r))
    return out


def usable_records(results, split: str | None = None, include_flagged: bool = False) -> list[dict]:
    """Measurements fit for fitting or scoring: ok, timed, not flagged (throttled or
    contended) unless ``include_flagged``, and in ``split`` if given."""
    keep = []
    for r in _as_records(results):
        if r.get("status") != "ok" or not isinstance(r.get("time_s"), (int, float)) or not r["time_s"] > 0:
            continue
        if r.get("flag") and not include_flagged:
            continue
        if split is not None and r.get("split") != split:
            continue
        keep.append(r)
    return keep


class _Works:
    """The model's work count for each record's spec, built once (patterns are costly)."""

    def __init__(self, records: list[dict]):
        self.records = records
        self.works = [spec_from_record(r).work() for r in records]


def predict_records(records: list[dict], hw: HardwareProfile, calibration: Calibration | None,
                    model: str, works: list | None = None) -> np.ndarray:
    """Predicted seconds for each record under ``calibration``."""
    fn = time_model(model)
    works = works if works is not None else _Works(records).works
    return np.array([fn(w, hw, calibration).time_s for w in works], dtype=np.float64)


def _check_hw(records: list[dict], hw: HardwareProfile, what: str) -> None:
    for r in records:
        if r.get("hw") not in (None, hw.name):
            raise SparsimError(
                f"{what}: measurement {r.get('key')!r} was taken for profile {r['hw']!r}, not {hw.name!r}; "
                f"allowed: measurements of {hw.name!r}"
            )


class Calibrator:
    """Fits simulator parameters for one profile to measured times.

    Parameters (keyword-only): ``hw`` the profile (name, path, ``"host"`` or a
    HardwareProfile); ``model`` ``"des"`` or ``"analytic"``; ``params`` the names to fit
    (default: those the data is sensitive to); ``loss`` and ``f_scale`` for
    ``least_squares`` (f_scale in log units: 0.1 ~ 10%); ``max_nfev`` evaluation cap per
    start; ``n_starts`` extra seeded random starting points (``random_state``) besides the
    defaults and the rescaled defaults, because a model built of max() terms has local
    minima where a term never binds; ``include_flagged`` also fits points flagged as
    throttled or contended (normally left out).
    """

    def __init__(self, *, hw="host", model: str = "des", params: Iterable[str] | None = None,
                 loss: str = "soft_l1", f_scale: float = 0.1, max_nfev: int | None = 200,
                 n_starts: int = 4, random_state: int = 0, include_flagged: bool = False):
        self.hw = hw
        self.model = model
        self.params = params
        self.loss = loss
        self.f_scale = f_scale
        self.max_nfev = max_nfev
        self.n_starts = n_starts
        self.random_state = random_state
        self.include_flagged = include_flagged

    # -- sklearn-style API -----------------------------------------------------------

    def fit(self, results) -> "Calibrator":
        """Fit on ``results`` (a results path, ResultSet, records or Measurements); returns self.

        Every usable measurement given is fitted: pass the training split only
        (``usable_records(results, split="train")``) to keep a held-out set.
        """
        from scipy.optimize import least_squares

        check_choice("--model", self.model, MODELS)
        check_choice("loss", self.loss, ("linear", "soft_l1", "huber", "cauchy", "arctan"))
        if not (isinstance(self.f_scale, (int, float)) and self.f_scale > 0):
            raise SparsimError(f"f_scale: got {self.f_scale!r}; allowed: a number > 0")
        if isinstance(self.n_starts, bool) or not isinstance(self.n_starts, int) or self.n_starts < 0:
            raise SparsimError(f"n_starts: got {self.n_starts!r}; allowed: a whole number >= 0")
        hw = load_profile(self.hw)
        records = usable_records(results, include_flagged=self.include_flagged)
        if not records:
            raise SparsimError("Calibrator.fit: got no usable measurements (status ok, timed, not flagged as "
                               "throttled or contended); allowed: results with at least one such point "
                               "(run 'sparsim calibrate' again to re-measure flagged points)")
        _check_hw(records, hw, "Calibrator.fit")
        names = list(self.params) if self.params is not None else None
        if names is not None:
            for name in names:
                check_choice("params", name, tuple(DEFAULT_PARAMS))

        works = _Works(records).works
        measured = np.array([r["time_s"] for r in records], dtype=np.float64)
        fn = time_model(self.model)

        def predict(values: dict) -> np.ndarray:
            cal = Calibration(hw=hw.name, params=values)
            return np.array([fn(w, hw, cal).time_s for w in works], dtype=np.float64)

        defaults = {k: float(v) for k, v in DEFAULT_PARAMS.items()}
        base = predict({})
        if names is None:
            names = self._sensitive(predict, defaults, base)
        if not names:
            raise SparsimError("Calibrator.fit: no parameter changes any prediction of these measurements; "
                               f"allowed: params among {', '.join(DEFAULT_PARAMS)}")
        lo = np.log([_bounds(n)[0] for n in names])
        hi = np.log([_bounds(n)[1] for n in names])

        def residuals(x):
            values = dict(zip(names, np.exp(x).tolist()))
            return np.log(predict(values)) - np.log(measured)

        starts = self._starts(names, defaults, base, measured, lo, hi)
        rng = np.random.default_rng(self.random_state)
        for _ in range(self.n_starts):
            # efficiencies log-uniform over their box; the others within 10x of their default
            starts.append(np.array([rng.uniform(l, h) if n in EFFICIENCY_PARAMS
                                    else math.log(defaults[n]) + rng.uniform(-2.3, 2.3)
                                    for n, l, h in zip(names, lo, hi)]))
        best = None
        for x0 in starts:
            res = least_squares(residuals, x0, bounds=(lo, hi), loss=self.loss, f_scale=self.f_scale,
                                diff_step=0.02, x_scale=1.0, max_nfev=self.max_nfev)
            if best is None or res.cost < best.cost:
                best = res
        fitted = np.clip(np.exp(best.x), np.exp(lo), np.exp(hi))
        # a parameter pinned to its box is not measured by this data, only limited by it
        self.at_bounds_ = [n for n, x, l, h in zip(names, best.x, lo, hi) if x - l < 1e-3 or h - x < 1e-3]
        self.param_names_ = names
        self.params_ = {n: float(v) for n, v in zip(names, fitted)}
        self.hw_ = hw
        predicted = predict(self.params_)
        self.residuals_ = np.log(predicted) - np.log(measured)
        self.n_samples_ = len(records)
        self.fit_error_ = float(np.mean(np.abs(predicted - measured) / measured))  # train MAPE
        self.cost_ = float(best.cost)
        self.nfev_ = int(best.nfev)
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
            "fitted": list(self.param_names_),
            "samples": self.n_samples_,
            "fit_mape": round(self.fit_error_, 6),
            "fit_median_abs_error": round(float(np.median(np.abs(np.expm1(self.residuals_)))), 6),
            "at_bounds": list(self.at_bounds_),
        }
        prov.update(provenance or {})
        return Calibration(hw=self.hw_.name, params=self.params_, provenance=prov)

    # -- helpers ---------------------------------------------------------------------

    def _check_fitted(self, what: str) -> None:
        if not hasattr(self, "params_"):
            raise SparsimError(f"Calibrator.{what}: this Calibrator is not fitted yet; call fit(results) first")

    @staticmethod
    def _sensitive(predict, defaults: dict, base: np.ndarray) -> list[str]:
        """Parameters whose change moves at least one prediction."""
        names = []
        for name, value in defaults.items():
            probe = value * (0.5 if name in EFFICIENCY_PARAMS else 2.0)
            moved = np.abs(np.log(predict({name: probe})) - np.log(base))
            if np.max(moved) > 1e-6:
                names.append(name)
        return names

    @staticmethod
    def _starts(names, defaults, base, measured, lo, hi) -> list[np.ndarray]:
        """The defaults, and the defaults rescaled so the median prediction is right.

        Time models are max()es of terms, so a far-off start leaves some terms never
        binding; rescaling every efficiency at once puts all terms in reach.
        """
        x0 = np.clip(np.log([defaults[n] for n in names]), lo, hi)
        ratio = float(np.median(measured / base))  # > 1: the model is too fast
        if not math.isfinite(ratio) or abs(math.log(ratio)) < 0.05:
            return [x0]
        shift = np.array([-math.log(ratio) if n in EFFICIENCY_PARAMS else 0.0 for n in names])
        return [x0, np.clip(x0 + shift, lo, hi)]
