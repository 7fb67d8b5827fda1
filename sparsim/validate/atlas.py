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

:func:`fit_atlas` fits, per parameter set (a calibration's ``[impl.NAME]`` table), the few
parameters the data identifies, on log-ratio residuals inside physical bounds;
:func:`cross_validate` scores each shape with a fit that never saw it (leave one shape
out).

>>> pts = load_atlas(ATLAS_FILES[0])
>>> len(pts), sorted({p.impl for p in pts})
(294, ['cublas', 'cusparse', 'cusparselt', 'cusparselt-search', 'torch'])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import SparsimError
from ..hwprofiles import load_profile
from ..problem import Problem
from ..simulator import predict_work
from ..simulator.library import library_call
from ..simulator.params import PARAM_BOUNDS as _PARAM_BOUNDS

__all__ = ["ATLAS_DIR", "ATLAS_FILES", "AtlasPoint", "FIT_PARAMS", "PARAM_BOUNDS", "load_atlas",
           "predict_points", "fit_atlas", "cross_validate", "mape", "default_points"]

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


@dataclass(frozen=True)
class AtlasPoint:
    """One measured time of one implementation on one problem."""

    series: str
    impl: str
    target: str  # "kernel" (device time of the kernels) or "call" (one eager call)
    problem: Problem
    measured_s: float
    params_key: str  # which [impl.NAME] parameter set predicts it
    source: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return (self.problem.m, self.problem.k)

    @property
    def group(self) -> str:
        return f"{self.problem.m}x{self.problem.k}"


def _problem(p: dict, kernel: str, impl: str) -> Problem:
    dtype = p.get("dtype", "fp16")
    if kernel == "dense":
        return Problem("dense", m=p["m"], k=p["k"], n=p["n"], dtype=dtype, impl=impl)
    if kernel == "2:4":
        return Problem("2:4", m=p["m"], k=p["k"], n=p["n"], dtype=dtype, density=0.5, pattern="nm", impl=impl)
    if kernel == "bsr":
        b = int(p["block"])
        return Problem("bsr", m=p["m"], k=p["k"], n=p["n"], dtype=dtype, density=p["density"], pattern="block",
                       options={"block": b, "pattern_options": {"block": (b, b)}}, impl=impl)
    return Problem(kernel, m=p["m"], k=p["k"], n=p["n"], dtype=dtype, density=p["density"], impl=impl)


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
            key = library_call(impl, kernel, problem.dtype, load_profile(PROFILE)).params_key
            out.append(AtlasPoint(p["impl"], impl, target, problem, float(seconds), key, path.name))
    return out


@dataclass
class _Cache:
    """Each point's work is counted once (patterns are the slow part) and reused."""

    works: dict = field(default_factory=dict)

    def work(self, point: AtlasPoint, kind: str):
        key = (point.problem.key, kind)
        if key not in self.works:
            self.works[key] = point.problem.work(kind)
        return self.works[key]


_CACHE = _Cache()


def predict_points(points: Sequence[AtlasPoint], calibration=None, *, hw=PROFILE, model: str = "des",
                   cache: _Cache = _CACHE) -> np.ndarray:
    """Predicted seconds of each point (kernel_s or time_s as its target says)."""
    profile = load_profile(hw)
    out = np.empty(len(points))
    for i, point in enumerate(points):
        p = predict_work(cache.work(point, profile.kind), profile, calibration, model=model, impl=point.impl)
        out[i] = p.kernel_s if point.target == "kernel" else p.time_s
    return out


def mape(predicted: Iterable[float], measured: Iterable[float]) -> float:
    predicted, measured = np.asarray(list(predicted), float), np.asarray(list(measured), float)
    return float(np.mean(np.abs(predicted / measured - 1.0))) if measured.size else math.nan


def _calibration(params: dict[str, dict[str, float]], measured: dict | None):
    from ..calibration import Calibration

    return Calibration(hw=PROFILE, impl_params=params, measured=measured or {})


def fit_atlas(points: Sequence[AtlasPoint], *, measured: dict | None = None, start: dict | None = None,
              max_nfev: int = 40) -> dict[str, dict[str, float]]:
    """Fitted parameters per parameter set: ``{params_key: {param: value}}``.

    Each set is fitted on the kernel times it predicts (per-call times add host work that
    no kernel parameter explains, so they only score), by least squares on
    log(predicted / measured) within :data:`PARAM_BOUNDS`. The time model is not convex
    in its parameters, so the fit starts from ``start`` (an earlier fit), from
    :data:`FIT_START` and from the defaults, and keeps the start that ends lowest.
    """
    from scipy.optimize import least_squares

    from ..simulator.params import DEFAULT_PARAMS

    fitted: dict[str, dict[str, float]] = {k: dict(v) for k, v in (start or {}).items()}
    for key, names in FIT_PARAMS.items():
        group = [p for p in points if p.params_key == key and p.target == "kernel"]
        if not group:
            continue
        measured_s = np.array([p.measured_s for p in group])
        lo = np.array([PARAM_BOUNDS[n][0] for n in names])
        hi = np.array([PARAM_BOUNDS[n][1] for n in names])

        def residuals(x, key=key, names=names, group=group, measured_s=measured_s):
            trial = {**fitted, key: {**fitted.get(key, {}), **dict(zip(names, map(float, x)))}}
            return np.log(predict_points(group, _calibration(trial, measured)) / measured_s)

        starts = []
        for source in ((start or {}).get(key, {}), FIT_START.get(key, {}), {}):
            x0 = tuple(np.clip([source.get(n, DEFAULT_PARAMS[n]) for n in names], lo, hi))
            if x0 not in starts:
                starts.append(x0)
        best = None
        for x0 in starts:
            result = least_squares(residuals, np.array(x0), bounds=(lo, hi), diff_step=0.03, max_nfev=max_nfev,
                                   x_scale="jac")
            if best is None or result.cost < best.cost:
                best = result
        fitted[key] = {**fitted.get(key, {}), **dict(zip(names, map(float, best.x)))}
    return fitted


def cross_validate(points: Sequence[AtlasPoint], *, measured: dict | None = None, start: dict | None = None,
                   max_nfev: int = 25) -> np.ndarray:
    """Leave-one-shape-out predictions: each (m, k) shape predicted by a fit without it."""
    out = np.full(len(points), np.nan)
    for group in sorted({p.group for p in points}):
        train = [p for p in points if p.group != group]
        test = [i for i, p in enumerate(points) if p.group == group]
        params = fit_atlas(train, measured=measured, start=start, max_nfev=max_nfev)
        out[test] = predict_points([points[i] for i in test], _calibration(params, measured))
    return out


def default_points() -> list[AtlasPoint]:
    """Every point of the shipped atlas files."""
    return [p for f in ATLAS_FILES for p in load_atlas(f)]
