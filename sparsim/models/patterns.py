"""Sparsity patterns: which elements of the M×K weight matrix A survive pruning.

A :class:`SparsityPattern` is the CSR structure of A without values: ``indptr`` (M+1 row
pointers) and ``indices`` (column of each kept element, sorted within a row). Patterns
come from a seeded generator (:func:`generate`), from a mask or scipy matrix, or from real
weights pruned by magnitude, N:M or channel (:func:`magnitude_prune`, :func:`nm_prune`,
:func:`channel_prune`, with weights read by :func:`load_weights`).

Generators, all reproducible for a seed (DESIGN.md: sparsity is problem data, a density
plus a distribution):

* ``uniform`` — every element kept independently with probability ``density``;
* ``row-skewed`` — power-law row lengths (Pareto, option ``alpha``), columns uniform;
* ``block`` — r×c blocks (option ``block``) kept whole with probability ``density``;
* ``nm`` — exactly ``n`` of every ``m_group`` along K (NVIDIA 2:4; the density argument
  is ignored, the result has density n/m_group);
* ``channel`` — whole rows kept, ``round(M·density)`` of them (Li et al. 2017).

>>> p = generate("nm", 4, 8, 0.5, seed=1)
>>> p.nnz, p.density, p.to_mask().reshape(4, 2, 4).sum(axis=2).tolist()
(16, 0.5, [[2, 2], [2, 2], [2, 2], [2, 2]])
>>> generate("uniform", 1000, 1000, 0.01, seed=0).nnz == generate("uniform", 1000, 1000, 0.01, seed=0).nnz
True
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
# scipy is imported where used: `import sparsim` stays cheap (tests/test_import_cost.py)

from ..errors import SparsimError, check_choice, check_density, check_positive_int
from .bernoulli import CHUNK as _CHUNK
from .bernoulli import bernoulli_chunks as _bernoulli_chunks
from .bernoulli import bernoulli_positions as _bernoulli_positions
from .bernoulli import bernoulli_rows as _bernoulli_rows
from .bernoulli import concat_ranges as _concat_ranges
from .formats import check_nm_shape
from .pruning import channel_prune, magnitude_prune, nm_prune  # noqa: F401  (re-exported)

__all__ = [
    "PATTERNS",
    "SparsityPattern",
    "generate",
    "pattern_options",
    "row_skewed_probabilities",
    "from_mask",
    "from_scipy",
    "magnitude_prune",
    "nm_prune",
    "channel_prune",
    "load_weights",
    "list_tensors",
]

PATTERNS = ("uniform", "row-skewed", "block", "nm", "channel")
_OPTIONS = {
    "uniform": {},
    "row-skewed": {"alpha": 1.5},
    "block": {"block": (16, 16)},
    "nm": {"n": 2, "m_group": 4},
    "channel": {},
}
#: largest dense mask :meth:`SparsityPattern.to_mask` builds (128 MiB of bools)
MAX_MASK_ELEMENTS = 2**27


@dataclass(frozen=True, eq=False)
class SparsityPattern:
    """The CSR structure of an M×K matrix: which elements are nonzero."""

    m: int
    k: int
    indptr: np.ndarray
    indices: np.ndarray
    name: str = "pattern"

    def __post_init__(self):
        m, k = check_positive_int("m", self.m), check_positive_int("k", self.k)
        if k > 2**31 - 1:
            raise SparsimError(f"k: got {k}; allowed: at most {2**31 - 1} (int32 column indices)")
        indptr = np.asarray(self.indptr, dtype=np.int64).view()
        indices = np.asarray(self.indices, dtype=np.int32).view()
        if indptr.shape != (m + 1,) or indices.ndim != 1 or indptr[0] != 0 \
                or indptr[-1] != indices.size:
            raise SparsimError(
                f"pattern {self.name!r}: indptr of shape {indptr.shape} ending at "
                f"{int(indptr[-1]) if indptr.size else None} does not fit {indices.size} "
                f"indices; allowed: M+1 = {m + 1} pointers from 0 to nnz"
            )
        # read-only views: the pattern is a value, shared by stats and kernels
        indptr.flags.writeable = False
        indices.flags.writeable = False
        for name, value in (("m", m), ("k", k), ("indptr", indptr), ("indices", indices)):
            object.__setattr__(self, name, value)

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    @property
    def density(self) -> float:
        return self.nnz / (self.m * self.k)

    def row_indices(self) -> np.ndarray:
        """Row of each nonzero (the COO row array), int64."""
        return np.repeat(np.arange(self.m, dtype=np.int64), np.diff(self.indptr))

    def to_scipy(self, values=None, dtype=np.float32, *, seed: int = 0) -> sp.csr_matrix:
        """A scipy CSR matrix with this structure.

        ``values`` (one per nonzero, in CSR order) or, by default, seeded random values
        that are never zero: magnitudes in [0.5, 1.5) with random signs (whole numbers
        1..99 for integer dtypes), so no timing ever runs on all-zero data.
        """
        dtype = np.dtype(dtype)
        if values is None:
            rng = np.random.default_rng(seed)
            sign = np.where(rng.random(self.nnz) < 0.5, -1, 1)
            if np.issubdtype(dtype, np.integer):
                values = (rng.integers(1, 100, self.nnz) * sign).astype(dtype)
            else:
                values = (rng.uniform(0.5, 1.5, self.nnz) * sign).astype(dtype)
        else:
            values = np.asarray(values, dtype=dtype)
            if values.shape != (self.nnz,):
                raise SparsimError(
                    f"values: got shape {values.shape}; allowed: one value per nonzero, ({self.nnz},)"
                )
        import scipy.sparse as sp

        # copies: scipy may sort or prune in place, and the pattern's arrays are read-only
        return sp.csr_matrix((values, self.indices.copy(), self.indptr.copy()), shape=(self.m, self.k))

    def to_mask(self) -> np.ndarray:
        """Dense M×K boolean mask; refused above :data:`MAX_MASK_ELEMENTS` elements."""
        if self.m * self.k > MAX_MASK_ELEMENTS:
            raise SparsimError(
                f"to_mask: got a {self.m}x{self.k} pattern ({self.m * self.k} elements); "
                f"allowed: at most {MAX_MASK_ELEMENTS} elements (use indptr/indices instead)"
            )
        mask = np.zeros((self.m, self.k), dtype=bool)
        mask[self.row_indices(), self.indices] = True
        return mask


# -- generators ---------------------------------------------------------------------------

def _uniform(rng, m, k, density, **_):
    row_nnz = np.zeros(m, dtype=np.int64)
    pieces = [np.zeros(0, dtype=np.int32)]
    for positions in _bernoulli_chunks(rng, m * k, density):
        if not positions.size:
            continue
        # split the chunk at row boundaries: position = row * K + column
        first, last = int(positions[0]) // k, int(positions[-1]) // k
        bounds = np.searchsorted(positions, np.arange(first, last + 2, dtype=np.int64) * k)
        lengths = np.diff(bounds)
        row_nnz[first:last + 1] += lengths
        positions -= np.repeat(np.arange(first, last + 1, dtype=np.int64) * k, lengths)
        pieces.append(positions.astype(np.int32))
    return np.concatenate([[0], np.cumsum(row_nnz)]), np.concatenate(pieces)


def row_skewed_probabilities(rng, m, k, density, *, alpha) -> np.ndarray:
    """Each row's keep probability in the ``row-skewed`` generator (also its sampled form)."""
    alpha = float(alpha)
    if not alpha > 0:
        raise SparsimError(f"alpha: got {alpha}; allowed: a number > 0 (Pareto tail index)")
    # Pareto(x_m = 1, alpha) row weights: a few long rows, many short ones (Zipf-like)
    weights = rng.pareto(alpha, m) + 1.0
    target = density * m * k
    # water-filling: the scale s with sum(min(s * w, k)) = target, so clipping long rows
    # at k keeps the mean density as asked
    order = np.sort(weights)[::-1]
    tail = np.cumsum(order[::-1])[::-1]
    clipped = np.arange(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (target - clipped * k) / tail
    j = int(np.argmax(scale * order <= k * (1 + 1e-12)))  # exists: j = M-1 always fits
    lengths = np.minimum(scale[j] * weights, k)
    return np.clip(lengths / k, 0.0, 1.0)


def _row_skewed(rng, m, k, density, *, alpha):
    return _bernoulli_rows(rng, k, row_skewed_probabilities(rng, m, k, density, alpha=alpha))


def _block(rng, m, k, density, *, block):
    try:
        r, c = block
    except (TypeError, ValueError):
        raise SparsimError(f"block: got {block!r}; allowed: (rows, cols), two whole numbers >= 1") from None
    r, c = check_positive_int("block rows", r), check_positive_int("block cols", c)
    block_rows, block_cols = -(-m // r), -(-k // c)
    kept = _bernoulli_positions(rng, block_rows * block_cols, density)
    kept_row, kept_col = np.divmod(kept, block_cols)
    widths = np.minimum(c, k - kept_col * c)  # edge blocks are cut at K
    # per block row: its columns, left to right (a template every element row copies)
    template = _concat_ranges(kept_col * c, widths)
    template_len = np.bincount(kept_row, weights=widths, minlength=block_rows).astype(np.int64)
    template_start = np.concatenate([[0], np.cumsum(template_len)[:-1]])
    row_block = np.arange(m) // r
    row_nnz = template_len[row_block]
    indices = template[_concat_ranges(template_start[row_block], row_nnz)]
    return np.concatenate([[0], np.cumsum(row_nnz)]), indices.astype(np.int32)


def _nm(rng, m, k, density, *, n, m_group):
    n, m_group = check_nm_shape(k, n, m_group)
    groups = k // m_group
    indices = np.empty(m * groups * n, dtype=np.int32)
    group_base = (np.arange(groups, dtype=np.int32) * m_group)[None, :, None]
    combos = np.array(list(itertools.combinations(range(m_group), n)), dtype=np.int32)
    rows_per_chunk = max(1, _CHUNK // (groups * n))
    for lo in range(0, m, rows_per_chunk):
        hi = min(m, lo + rows_per_chunk)
        if len(combos) <= 4096:
            # one of the C(m_group, n) position sets per group, equally likely
            chosen = combos[rng.integers(0, len(combos), size=(hi - lo, groups))]
        else:
            keys = rng.random((hi - lo, groups, m_group))
            chosen = np.sort(np.argsort(keys, axis=-1)[..., :n], axis=-1).astype(np.int32)
        indices[lo * groups * n: hi * groups * n] = (chosen + group_base).ravel()
    return np.arange(m + 1, dtype=np.int64) * (groups * n), indices


def _channel(rng, m, k, density, **_):
    kept = np.sort(rng.choice(m, size=round(m * density), replace=False))
    row_nnz = np.zeros(m, dtype=np.int64)
    row_nnz[kept] = k
    indices = np.tile(np.arange(k, dtype=np.int32), kept.size)
    return np.concatenate([[0], np.cumsum(row_nnz)]), indices


_GENERATORS = {"uniform": _uniform, "row-skewed": _row_skewed, "block": _block, "nm": _nm,
               "channel": _channel}


def pattern_options(pattern: str, options: dict) -> dict:
    """``options`` of generator ``pattern`` with its defaults filled in; unknown ones refused."""
    allowed = _OPTIONS[pattern]
    for name in options:
        if name not in allowed:
            raise SparsimError(
                f"pattern {pattern!r}: unknown option {name!r}; "
                f"allowed: {', '.join(allowed) if allowed else 'no options'}"
            )
    return {**allowed, **options}


def generate(pattern: str, m: int, k: int, density: float, *, seed: int = 0,
             memory_budget=None, **options) -> SparsityPattern:
    """A seeded random ``pattern`` for an M×K matrix at ``density`` (see module doc).

    Its size is checked before anything is drawn: K must fit int32 column indices and
    the estimated bytes of the build (:func:`sparsim.models.limits.exact_bytes`) the
    memory budget (``memory_budget``, ``$SPARSIM_MEMORY_BUDGET`` or 2 GiB); larger
    patterns are refused here (``build_work`` samples them instead).

    >>> generate("channel", 8, 3, 0.25, seed=0).to_mask().sum(axis=1).tolist()
    [0, 0, 0, 0, 0, 3, 0, 3]
    """
    from . import limits

    check_choice("pattern", pattern, PATTERNS)
    m, k = check_positive_int("m", m), check_positive_int("k", k)
    density = check_density("density", density)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SparsimError(f"seed: got {seed!r}; allowed: a whole number >= 0")
    options = pattern_options(pattern, options)
    if k > limits.MAX_K:
        raise SparsimError(f"k: got {k}; allowed: at most {limits.MAX_K} (int32 column indices)")
    budget = limits.memory_budget(memory_budget)
    nnz = limits.expected_nnz(pattern, m, k, density, options)
    need = limits.exact_bytes(nnz, m, k, pattern)
    if need > budget:
        raise SparsimError(
            f"pattern: a {m}x{k} {pattern} pattern at density {density:g} (~{nnz:.3g} nonzeros) needs "
            f"~{limits.human(need)} to build; allowed: at most the memory budget of {limits.human(budget)} "
            f"(memory_budget= or ${limits.ENV_VAR}; build_work samples larger patterns)")
    rng = np.random.default_rng(seed)
    indptr, indices = _GENERATORS[pattern](rng, m, k, density, **options)
    return SparsityPattern(m, k, indptr, indices, pattern)


# -- from data ----------------------------------------------------------------------------

def from_mask(mask, name: str = "mask") -> SparsityPattern:
    """The pattern of a 2-D array: nonzero (or True) elements are kept."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.shape[0] < 1 or mask.shape[1] < 1:
        raise SparsimError(f"mask: got shape {mask.shape}; allowed: a 2-D array, at least 1x1")
    m, k = mask.shape
    nonzero = mask != 0
    flat = np.flatnonzero(nonzero)
    indptr = np.concatenate([[0], np.cumsum(np.count_nonzero(nonzero, axis=1))])
    row_base = np.repeat(np.arange(m, dtype=np.int64) * k, np.diff(indptr))
    return SparsityPattern(m, k, indptr, flat - row_base, name)


def from_scipy(matrix, name: str = "scipy") -> SparsityPattern:
    """The pattern of a scipy sparse matrix; explicit zeros and duplicates are dropped."""
    import scipy.sparse as sp

    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise SparsimError(f"matrix: got {type(matrix).__name__}; allowed: a 2-D scipy sparse matrix")
    csr = sp.csr_matrix(matrix, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    return SparsityPattern(csr.shape[0], csr.shape[1], csr.indptr, csr.indices, name)


from .weights import list_tensors, load_weights  # noqa: E402  (re-exported)
