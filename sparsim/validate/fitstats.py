"""How well a calibration fit is determined, and how well it carries to shapes it never saw.

* **Identifiability** (:func:`identifiable`): which parameters the points move, and which
  of those are not (nearly) collinear: a column-pivoted QR of the residuals' Jacobian.
* **Uncertainty** (:func:`std_log`): the Gauss-Newton covariance from the Jacobian of the
  log residuals at the solution, ``s^2 (J^T J)^-1`` with ``s^2`` the residual variance,
  reported as the standard deviation of the log of each parameter (``0.1`` ~ +-10%).
* **Cross-validation** (:func:`cross_validate`): group k-fold by shape
  (:func:`~sparsim.validate.fitpoints.group_folds`): every shape of a fold is left out,
  the parameters refitted on the others, the fold predicted. The refit is one Gauss-Newton
  step from the full fit on the other folds' residuals (reweighted for the robust loss),
  so cross-validation costs one Jacobian instead of k fits; ``refit`` (an exact
  least-squares refit per fold) replaces the step. Scores are MAPE per kernel
  (:func:`cv_by_kernel` weighs them by points).

>>> import numpy as np
>>> from types import SimpleNamespace
>>> fit = SimpleNamespace(jac=np.array([[1.0], [1.0], [1.0], [1.0]]), fun=np.array([0.1, -0.1, 0.1, -0.1]))
>>> round(float(std_log(fit, 1)[0]), 4)      # s^2 = 0.04 / 3; (J^T J)^-1 = 1/4
0.0577
>>> {k: round(v, 6) for k, v in cv_by_kernel([{"kernel": "csr", "fitted": 0.1, "n": 1},
...                                              {"kernel": "csr", "fitted": 0.4, "n": 3}], "fitted").items()}
{'csr': 0.325}
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..simulator.params import DEFAULT_PARAMS, PARAM_BOUNDS
from .fitpoints import FitPoints, group_folds
from .points import mape

__all__ = ["identifiable", "std_log", "cross_validate", "cv_by_kernel"]


def identifiable(points: FitPoints, idx, names: list[str], at: dict, max_params: int
                 ) -> tuple[list[str], list[tuple[str, str]]]:
    """The parameters the points ``idx`` identify, probed at ``at`` (the others at their
    defaults): those a 25% change moves some prediction by more than 0.25%, kept in the
    order of a column-pivoted QR of the Jacobian of the log residuals, at most
    ``max_params`` and none (nearly) collinear with those kept. Returns the chosen names
    and (name, why not) for the ones that move predictions but are not chosen."""
    from scipy.linalg import qr

    base = points.residuals(idx, at)
    columns, moving = [], []
    for name in names:
        lo, hi = PARAM_BOUNDS[name]
        v0 = at.get(name, DEFAULT_PARAMS[name])
        value = v0 / 1.25 if v0 * 1.25 > hi else v0 * 1.25
        col = (points.residuals(idx, {**at, name: value}) - base) / (math.log(value) - math.log(v0))
        if np.max(np.abs(col)) > 0.01:  # a 25% change moves some prediction by > 0.25%
            columns.append(col)
            moving.append(name)
    rejected: list[tuple[str, str]] = []
    if not moving:
        return [], rejected
    jac = np.column_stack(columns)
    _, r, order = qr(jac, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    chosen = []
    for rank, j in enumerate(order):
        # fewer residuals than candidates: the ones past the rank are not determined
        independent = rank < len(diag) and diag[rank] > 0.05 * diag[0]
        if len(chosen) < max_params and independent:
            chosen.append(moving[j])
        elif not independent:
            rejected.append((moving[j], "not identified (collinear with the fitted ones)"))
        else:
            rejected.append((moving[j], f"not fitted (weaker than the {max_params} fitted)"))
    return chosen, rejected


def std_log(res, p: int) -> np.ndarray:
    """Standard deviation of the log of each of the ``p`` parameters of a
    ``scipy.optimize.least_squares`` result (inf where the residuals do not move it)."""
    jac = np.atleast_2d(res.jac)
    n = len(res.fun)
    s2 = float(np.sum(res.fun ** 2)) / max(n - p, 1)
    flat = np.linalg.norm(jac, axis=0) < 1e-8
    try:
        cov = s2 * np.linalg.inv(jac.T @ jac + 1e-12 * np.eye(p))
        std = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        std = np.full(p, math.inf)
    std[flat] = math.inf
    return std


def cross_validate(points: FitPoints, idx, names: list[str], x0: np.ndarray, *, folds: int, loss: str,
                   f_scale: float, seed: int, refit: Callable | None = None) -> dict | None:
    """Cross-validated MAPE of the points ``idx`` of one parameter table fitted at ``x0``
    (log values of ``names``): per kernel ``rows`` and the table's ``fitted`` and
    ``datasheet`` MAPE; None with fewer than two shapes or ``folds`` 0. ``refit(train,
    x0) -> x`` refits exactly on the training indices; None takes the linearized step."""
    groups = [points.groups[i] for i in idx]
    k = min(folds, len(set(groups)))
    if folds == 0 or k < 2:
        return None
    impl = points.keys[idx[0]]
    lo = np.log([PARAM_BOUNDS[n][0] for n in names])
    hi = np.log([PARAM_BOUNDS[n][1] for n in names])
    if refit is None:
        # the Jacobian of every residual at the full fit, for the linearized refits
        r0 = points.residuals(idx, dict(zip(names, np.exp(x0).tolist())))
        step = 0.02
        jac = np.column_stack([
            (points.residuals(idx, dict(zip(names, np.exp(x0 + step * np.eye(len(names))[j]).tolist()))) - r0)
            / step for j in range(len(names))])
        # soft-L1 (and other robust losses) as iteratively reweighted least squares
        weight = np.ones_like(r0) if loss == "linear" else 1.0 / np.sqrt(np.sqrt(1.0 + (r0 / f_scale) ** 2))
    pred, base, meas = np.empty(len(idx)), np.empty(len(idx)), np.empty(len(idx))
    for fold in group_folds(groups, k, seed):
        held = {int(idx[j]) for j in fold}
        if refit is not None:
            x_fold = refit(np.array([i for i in idx if int(i) not in held], dtype=int), x0)
        else:
            # one Gauss-Newton step from the full fit on the fold's training residuals
            # (a linearized refit: exact for a model linear in log parameters)
            rows = np.array([int(i) not in held for i in idx])
            a, b = jac[rows] * weight[rows, None], r0[rows] * weight[rows]
            dx = np.linalg.lstsq(a, -b, rcond=None)[0]
            x_fold = np.clip(x0 + dx, lo, hi)
        values = dict(zip(names, np.exp(x_fold).tolist()))
        for j in fold:
            pred[j], meas[j] = points.primary(idx[j], values)
            base[j], _ = points.primary(idx[j], {})
    rows = []
    # each measurement is scored on its primary time
    scored = np.array([points.points[i].primary for i in idx])
    pred, base, meas = pred[scored], base[scored], meas[scored]
    kernels = [points.kernels[i] for i in idx if points.points[i].primary]
    for kernel in sorted(set(kernels)):
        sel = np.array([kk == kernel for kk in kernels])
        rows.append({"impl": impl, "kernel": kernel, "n": int(sel.sum()),
                     "fitted": mape(pred[sel], meas[sel]), "datasheet": mape(base[sel], meas[sel])})
    return {"rows": rows, "fitted": mape(pred, meas), "datasheet": mape(base, meas)}


def cv_by_kernel(rows: list[dict], which: str) -> dict[str, float]:
    """MAPE per kernel over cross-validation ``rows``, weighted by their points;
    ``which``: ``"fitted"`` or ``"datasheet"``."""
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(row["kernel"], []).append((row[which], row["n"]))
    return {k: sum(m * n for m, n in v) / sum(n for _, n in v) for k, v in out.items()}
