"""The H200 atlas: real library calls, timed per kernel and per call, as fit and test data.

``sparsim/validate/data/h200-2026-11-29/atlas.json`` (and ``atlas-dtypes.json``) hold
PyTorch-driven measurements on one H200: for each point the device time of the kernels
one call launches (``kernel_s``, profiler CUDA activity) and the time of one Python-level
call (``event_s``, CUDA events; it includes the host work the GPU waits for). Each atlas
series is a real software path; this module says which implementation of
:mod:`sparsim.impls` it is and which of the two times that implementation predicts:

=========================  ===========  ==================================
atlas series               kernel_s of  event_s of
=========================  ===========  ==================================
dense-cublas               cublas       torch (torch.mm)
2:4-cusparselt-default     cusparselt   torch (_cslt_sparse_mm)
2:4-cusparselt-searched    cusparselt-search  (a searched plan PyTorch keeps; not modelled)
csr-cusparse-int32         cusparse     (PyTorch with int32 indices; not modelled)
csr-cusparse-int64         torch        torch (A_csr @ B)
bsr16 / bsr32              torch        torch (Triton BSR kernel)
coo-torch                  torch        torch (torch.sparse.mm on COO)
=========================  ===========  ==================================

Each time is a :class:`~sparsim.validate.points.Point`. The one fitter,
:class:`~sparsim.validate.calibrator.Calibrator`, fits them (:func:`calibrator`: per
parameter set, a calibration's ``[impl.NAME]`` table, the few parameters of
:data:`FIT_PARAMS` the data identifies, on log-ratio residuals inside physical bounds; a
parameter that ends on a bound keeps its default); :func:`cross_validate` scores each
shape with a fit that never saw it (leave one shape out).

>>> pts = load_atlas(ATLAS_FILES[0])
>>> len(pts), sorted({p.impl for p in pts}), sum(p.fit for p in pts)
(294, ['cublas', 'cusparse', 'cusparselt', 'cusparselt-search', 'torch'], 177)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import SparsimError
from ..models.kernels import kernel_of
from ..problem import Problem
from ..simulator.params import PARAM_BOUNDS as _PARAM_BOUNDS
from .points import Point, PointPredictor, mape
from .points import predict_points as _predict_points

__all__ = ["ATLAS_DIR", "ATLAS_FILES", "AtlasPoint", "FIT_PARAMS", "PARAM_BOUNDS", "load_atlas",
           "predict_points", "calibrator", "cross_validate", "mape", "default_points"]

ATLAS_DIR = Path(__file__).parent / "data" / "h200-2026-11-29"
ATLAS_FILES = (ATLAS_DIR / "atlas.json", ATLAS_DIR / "atlas-dtypes.json")
PROFILE = "h200-sxm-141gb"

#: atlas series -> (kernel, implementation for kernel_s or None, implementation for event_s or None)
SERIES = {
    "dense-cublas": ("dense", "cublas", "torch"),
    "2:4-cusparselt-default": ("2:4", "cusparselt", "torch"),
    "2:4-cusparselt-searched": ("2:4", "cusparselt-search", None),
    "csr-cusparse-int32": ("csr", "cusparse", None),
    "csr-cusparse-int64": ("csr", "torch", "torch"),
    "bsr16": ("bsr", "torch", "torch"),
    "bsr32": ("bsr", "torch", "torch"),
    "coo-torch": ("coo", "torch", "torch"),
}

#: parameters fitted per parameter set: only those the atlas identifies
FIT_PARAMS = {
    "cublas": ("tensor_efficiency", "vector_efficiency", "hbm_efficiency", "l2_efficiency", "launch_scale"),
    "cusparselt": ("sparse_tensor_efficiency", "hbm_efficiency", "launch_scale"),
    "cusparselt-search": ("sparse_tensor_efficiency", "hbm_efficiency", "launch_scale"),
    "cusparse": ("gather_nonzero_cycles", "vector_efficiency", "gather_efficiency", "l2_efficiency",
                 "latency_scale", "gather_loads_in_flight", "index64_efficiency"),
    "cusparse-alg1": ("gather_efficiency", "gather_nonzero_cycles", "vector_efficiency", "latency_scale"),
    "torch-bsr": ("tensor_efficiency", "gather_efficiency", "latency_scale", "launch_scale"),
}

#: where a fit starts when no earlier fit is given: the datasheet defaults, except where a
#: first look at the data puts a parameter far from them (cuSPARSELt's default plan streams
#: A at ~1.5 TB/s with a ~15 us fixed cost at small N on the H200; cuSPARSE's CSR costs
#: ~40 ps per nonzero at N = 16, ~12 SM cycles)
FIT_START = {"cusparselt": {"hbm_efficiency": 0.3, "launch_scale": 3.0, "sparse_tensor_efficiency": 0.85},
             "cusparse": {"gather_nonzero_cycles": 12.0, "vector_efficiency": 0.23, "gather_loads_in_flight": 3.3,
                          "latency_scale": 3.0, "index64_efficiency": 0.77},
             "torch-bsr": {"tensor_efficiency": 0.5, "gather_efficiency": 0.4, "latency_scale": 3.0, "launch_scale": 5.0}}

#: the physical range of each parameter is the one every calibration uses
#: (:data:`sparsim.simulator.params.PARAM_BOUNDS`, with the reasons)
PARAM_BOUNDS = _PARAM_BOUNDS


#: an atlas time is a measured point like any other
AtlasPoint = Point


def _problem(p: dict, kernel: str, impl: str) -> Problem:
    dtype, spec = p.get("dtype", "fp16"), kernel_of(kernel)
    shape = dict(m=p["m"], k=p["k"], n=p["n"], dtype=dtype, impl=impl)
    if spec.is_nm:  # dense weights pruned to N:M
        return Problem(kernel, **shape, density=spec.keep / spec.group, pattern="nm")
    if "block" in p:  # a block-sparse series: the pattern keeps whole blocks
        b = int(p["block"])
        return Problem(kernel, **shape, density=p["density"], pattern="block",
                       options={"block": b, "pattern_options": {"block": (b, b)}})
    if spec.needs_pattern:
        return Problem(kernel, **shape, density=p["density"])
    return Problem(kernel, **shape)


def load_atlas(path: str | Path) -> list[AtlasPoint]:
    """The points of one atlas file, two per measurement where both times are modelled."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SparsimError(f"atlas {path.name}: cannot read: {str(exc)[:120]}; allowed: an atlas JSON file") from None
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        raise SparsimError(f"atlas {path.name}: key points: missing; allowed: a list of measured points")
    out = []
    for p in data["points"]:
        if "error" in p or p.get("impl") not in SERIES:
            continue
        kernel, kernel_impl, call_impl = SERIES[p["impl"]]
        for target, impl, seconds in (("kernel", kernel_impl, p.get("kernel_s")), ("call", call_impl, p.get("event_s"))):
            if impl is None or not isinstance(seconds, (int, float)) or not seconds > 0:
                continue
            problem = _problem(p, kernel, impl)
            # per-call times carry host work no kernel parameter explains: they only score
            out.append(Point(problem, target, float(seconds), group=(problem.m, problem.k), fit=target == "kernel",
                             series=p["impl"], source=path.name))
    return out


_PREDICTORS: dict = {}


def predict_points(points: Sequence[Point], calibration=None, *, hw=PROFILE, model: str = "des") -> np.ndarray:
    """Predicted seconds of each point (kernel_s or time_s as its target says); each
    point's work is counted once per process (patterns are the slow part) and reused."""
    key = (tuple(map(id, points)), str(hw), model)
    if key not in _PREDICTORS:
        _PREDICTORS.clear()
        _PREDICTORS[key] = PointPredictor(points, hw, model)
    return _predict_points(points, calibration, hw=hw, model=model, predictor=_PREDICTORS[key])


def calibrator(*, measured: dict | None = None, start: dict | None = None, max_nfev: int = 40, folds: int = 5,
               exact_cv: bool = False):
    """The :class:`~sparsim.validate.calibrator.Calibrator` that fits the atlas: the
    candidates of :data:`FIT_PARAMS` per parameter set, started from ``start`` (an earlier
    fit) and :data:`FIT_START` as well as the defaults, least squares on the log ratios
    (plain squares: every atlas point is a median of repeats, so no outlier needs a robust loss)."""
    from .calibrator import Calibrator

    starts = {key: {**FIT_START.get(key, {}), **(start or {}).get(key, {})} for key in set(FIT_START) | set(start or {})}
    return Calibrator(hw=PROFILE, params=FIT_PARAMS, measured=measured, start=starts,
                      max_params=max(len(v) for v in FIT_PARAMS.values()), loss="linear", max_nfev=max_nfev,
                      folds=folds, exact_cv=exact_cv)


def cross_validate(points: Sequence[Point], *, measured: dict | None = None, start: dict | None = None,
                   max_nfev: int = 25) -> np.ndarray:
    """Leave-one-shape-out predictions: each (m, k) shape predicted by a fit without it."""
    out = np.full(len(points), np.nan)
    for group in sorted({p.group for p in points}):
        train = [p for p in points if p.group != group]
        test = [i for i, p in enumerate(points) if p.group == group]
        cal = calibrator(measured=measured, start=start, max_nfev=max_nfev, folds=0).fit(train).calibration_
        out[test] = predict_points([points[i] for i in test], cal)
    return out


def default_points() -> list[Point]:
    """Every point of the shipped atlas files."""
    return [p for f in ATLAS_FILES for p in load_atlas(f)]
