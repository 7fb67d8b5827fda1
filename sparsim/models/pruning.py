"""Pruning real weights: which elements, N:M groups or rows to keep, by magnitude.

Given a weight tensor, each rule returns what survives: :func:`magnitude_prune` a mask
of the largest |w| overall (unstructured), :func:`nm_prune` a mask of the ``n`` largest in
every group of ``m_group`` along K (NVIDIA ASP's 2:4 rule), :func:`channel_prune` the
indices of the rows (output channels) of largest L1 norm (Li et al. 2017). A mask becomes
a :class:`~sparsim.models.patterns.SparsityPattern` through
:func:`~sparsim.models.patterns.from_mask`; every name is importable from
:mod:`sparsim.models.patterns` as well.

>>> mask = magnitude_prune([[0.1, -2.0, 0.3, 4.0]], 0.5)
>>> mask.tolist(), nm_prune([[0.1, -2.0, 0.3, 4.0]]).tolist() == mask.tolist()
([[False, True, False, True]], True)
"""

from __future__ import annotations

import numpy as np

from ..errors import SparsimError, check_density
from .formats import check_nm_shape

__all__ = ["magnitude_prune", "nm_prune", "channel_prune"]


def _magnitudes(weights, what: str = "weights") -> np.ndarray:
    a = np.abs(np.asarray(weights))
    if a.size == 0 or not np.issubdtype(a.dtype, np.number):
        raise SparsimError(f"{what}: got a {a.dtype} array of shape {a.shape}; allowed: a non-empty numeric array")
    if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
        raise SparsimError(f"{what}: contains NaN; allowed: finite numbers")
    return a


def magnitude_prune(weights, density: float) -> np.ndarray:
    """Boolean mask keeping the ``round(density * size)`` largest |w| (global magnitude
    pruning); ties go to the earlier element in row-major order.

    >>> magnitude_prune([[1, -5], [3, 0.5]], 0.5).tolist()
    [[False, True], [True, False]]
    """
    a = _magnitudes(weights)
    keep = round(check_density("density", density) * a.size)
    flat = a.ravel()
    mask = np.zeros(a.size, dtype=bool)
    if keep:
        # O(size) selection instead of a full sort: the keep-th largest magnitude
        threshold = np.partition(flat, a.size - keep)[a.size - keep]
        mask = flat > threshold
        ties = np.flatnonzero(flat == threshold)[: keep - int(np.count_nonzero(mask))]
        mask[ties] = True
    return mask.reshape(a.shape)


def nm_prune(weights, n: int = 2, m_group: int = 4) -> np.ndarray:
    """Boolean mask keeping the ``n`` largest |w| in every group of ``m_group`` along the
    last axis (K); ties go to the earlier position (NVIDIA ASP's 2:4 magnitude rule).

    >>> nm_prune([[1, -4, 3, 2, 5, 5, 5, 0]]).astype(int).tolist()
    [[0, 1, 1, 0, 1, 1, 0, 0]]
    """
    a = _magnitudes(weights)
    n, m_group = check_nm_shape(a.shape[-1], n, m_group, what="K (last axis)")
    groups = a.reshape(*a.shape[:-1], a.shape[-1] // m_group, m_group)
    descending = -groups if np.issubdtype(groups.dtype, np.floating) else -groups.astype(np.float64)
    order = np.argsort(descending, axis=-1, kind="stable")[..., :n]
    mask = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return mask.reshape(a.shape)


def channel_prune(weights, density: float) -> np.ndarray:
    """Sorted indices of the rows (output channels) to keep: the ``round(M * density)``
    rows of largest L1 norm (Li et al. 2017, "Pruning Filters for Efficient ConvNets":
    filters with the smallest sum of |w| go first). Weights with more than 2 axes
    (conv filters) are flattened after the first.

    >>> channel_prune([[1, 1], [5, 0], [0, 0.5]], 2 / 3).tolist()
    [0, 1]
    """
    a = _magnitudes(weights)
    if a.ndim < 2:
        raise SparsimError(f"weights: got shape {a.shape}; allowed: 2-D (rows = output channels) or more")
    norms = a.reshape(a.shape[0], -1).sum(axis=1, dtype=np.float64)
    keep = round(check_density("density", density) * a.shape[0])
    return np.sort(np.argsort(-norms, kind="stable")[:keep])
