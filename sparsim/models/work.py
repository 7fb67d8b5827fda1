"""Kernel work: what a matrix-multiply kernel must do, independent of any hardware.

For ``C = A @ B`` with A (M×K, the sparse or pruned operand) and B (K×N, dense), a
:class:`KernelWork` counts useful and executed FLOPs, exact multiplications and
additions, compulsory bytes per operand, the bytes a sparse kernel's gather of B rows
touches at 32-byte-sector granularity, and the dependent (pointer-chasing) loads.

The course-notes 2×2 example (seed/pruning-part2): a dense 2×2 product is 8
multiplications and 4 additions; with two zeros in A it is 4 and 0.

>>> w = build_work("dense", m=2, k=2, n=2, dtype="fp32")
>>> w.multiplications, w.additions
(8, 4)
>>> import numpy as np
>>> w = build_work("csr", m=2, k=2, n=2, dtype="fp32", weights=np.array([[1.0, 0.0], [0.0, 4.0]]))
>>> w.multiplications, w.additions, w.dependent_access_depth
(4, 0, 2)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..dtypes import get_dtype
from ..errors import SparsimError, check_choice, check_density, check_positive_int
from . import formats, limits, patterns
from .kernels import KERNEL_OBJECTS, KERNELS, kernel_of
from .kernelwork import B_LAYOUTS, KernelWork, row_fetch_bytes  # noqa: F401  (the record; re-exported)
from .sampled import SampledPattern, sample_pattern
from .stats import PatternStats, pattern_stats

__all__ = ["KERNELS", "KernelWork", "build_work", "B_LAYOUTS", "row_fetch_bytes"]

# nonzeros per slab when block ids are made (bounded temporaries, as in stats)
_SLAB_NNZ = 2**22


def _bsr_structure(st: PatternStats, r: int, c: int) -> tuple[int, int, int]:
    """(stored blocks, non-empty block rows, non-empty block columns) of an r×c tiling.

    Block ids are made a slab of block rows at a time (bounded memory), marked in a bool
    grid of the slab's blocks or, for a grid much larger than its nonzeros (tiny
    blocks), a sort. Kept in the pattern's statistics so a sweep that reuses the pattern
    across batch sizes, dtypes and profiles pays for it once. A sampled pattern gives
    its expected counts (:meth:`~sparsim.models.sampled.SampledPattern.bsr_structure`).
    """
    key = ("bsr", r, c)
    if key not in st._cache:
        pat = st.pattern
        if isinstance(pat, SampledPattern):
            st._cache[key] = pat.bsr_structure(r, c)
            return st._cache[key]
        block_rows, block_cols = math.ceil(pat.m / r), math.ceil(pat.k / c)
        per_slab = max(1, _SLAB_NNZ * pat.m // max(pat.nnz, 1) // r)  # block rows per slab
        cols_used = np.zeros(block_cols, dtype=bool)
        blocks = rows_used = 0
        for first in range(0, block_rows, per_slab):
            lo, hi = first * r, min(pat.m, (first + per_slab) * r)
            rows_here = -(-(hi - lo) // r)
            ids = np.repeat(np.arange(hi - lo, dtype=np.int64) // r, np.diff(pat.indptr[lo:hi + 1]))
            ids *= block_cols
            ids += pat.indices[pat.indptr[lo]:pat.indptr[hi]] // c
            if rows_here * block_cols <= 4 * max(ids.size, 1 << 20):
                occupied = np.zeros(rows_here * block_cols, dtype=bool)  # a byte per block, not 8
                occupied[ids] = True
                occupied = occupied.reshape(rows_here, block_cols)
                blocks += int(occupied.sum())
                rows_used += int(occupied.any(axis=1).sum())
                cols_used |= occupied.any(axis=0)
            elif ids.size:
                ids = np.sort(ids)
                ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
                blocks += int(ids.size)
                rows_used += int(np.unique(ids // block_cols).size)
                cols_used[ids % block_cols] = True
        st._cache[key] = (blocks, rows_used, int(cols_used.sum()))
    return st._cache[key]


@functools.lru_cache(maxsize=4)
def _sampled(pattern, m, k, density, seed, options) -> SampledPattern:
    # small (it grows with M only): kept, so a sweep's formats, dtypes and batch sizes share it
    return sample_pattern(pattern, m, k, density, seed=seed, **dict(options))


def _pattern_for(kernel, m, k, density, pattern, seed, weights, options, budget):
    """(the pattern, notes): built, or sampled above the memory budget (limits before work)."""
    if weights is not None:
        arr = np.asarray(weights)
        if arr.shape != (m, k):
            raise SparsimError(f"weights: shape {arr.shape} does not match --m {m} --k {k}")
        return patterns.from_mask(arr != 0, name="weights"), ()
    check_choice("--pattern", pattern, patterns.PATTERNS)
    options = patterns.pattern_options(pattern, options)
    how = limits.decide(pattern, m, k, density, options, budget=budget)
    notes = []
    if pattern == "nm" and density != options["n"] / options["m_group"]:
        notes.append(f"--density {density:g} is not used by --pattern nm: it keeps {options['n']} of every "
                     f"{options['m_group']} along K (density {options['n'] / options['m_group']:g})")
    if how == "exact":
        return patterns.generate(pattern, m, k, density, seed=seed, memory_budget=budget, **options), tuple(notes)
    nnz = limits.expected_nnz(pattern, m, k, density, options)
    notes.append(
        f"pattern sampled, not built: ~{nnz:.3g} nonzeros would need ~{limits.human(limits.exact_bytes(nnz, m, k, pattern))} "
        f"(exact builds stop at {limits.human(min(budget, limits.EXACT_BYTES_CAP))}); row lengths drawn "
        f"exactly, column unions and blocks expected from them, B reuse from a spatial sample")
    return _sampled(pattern, m, k, density, seed, tuple(sorted(options.items()))), tuple(notes)


def build_work(
    kernel: str,
    *,
    m: int,
    k: int,
    n: int,
    dtype: str = "fp16",
    density: float = 1.0,
    pattern: str = "uniform",
    seed: int = 0,
    index_policy: str = "library",
    b_layout: str = "row",
    group_size: int = 8,
    block: int | tuple[int, int] = 16,
    weights: np.ndarray | None = None,
    sparsity_pattern: patterns.SparsityPattern | None = None,
    pattern_options: dict | None = None,
    memory_budget: int | str | None = None,
) -> KernelWork:
    """Count the work of ``kernel`` on an M×K A (``density`` nonzero) times a K×N B.

    ``weights`` (an M×K array whose zeros are pruned) or ``sparsity_pattern`` replace the
    generated pattern. For "channel", ``density`` is the fraction of A's rows kept; for
    "2:4"/"1:2" the stored half is computed whatever the density, and ``density`` only
    says how many of the kept values are nonzero.

    Limits come before work: the size of a generated pattern is estimated from the
    inputs first (:mod:`sparsim.models.limits`); above ``memory_budget`` (bytes or e.g.
    ``"512MiB"``; default ``$SPARSIM_MEMORY_BUDGET`` or 2 GiB) it is sampled
    (:mod:`sparsim.models.sampled`) or, if even that does not fit, refused. Whatever the
    model changes or estimates is said in ``notes``; nothing is clamped silently.
    """
    spec = kernel_of(kernel)
    m, k, n = (check_positive_int(f"--{name}", v) for name, v in (("m", m), ("k", k), ("n", n)))
    dt = get_dtype(dtype)
    density = check_density("--density", density)
    check_choice("--index-policy", index_policy, formats.INDEX_POLICIES)
    check_choice("--b-layout", b_layout, B_LAYOUTS)
    budget = limits.memory_budget(memory_budget)
    common = dict(kernel=spec.name, spec=spec, m=m, k=k, n=n, dtype=dt.name, b_layout=b_layout,
                  index_policy=index_policy)
    if spec.family in ("gemm", "channel"):
        return _dense_work(spec, common, dt, density, weights)
    if spec.is_nm:
        return _nm_work(spec, common, dt, density, weights)
    return _gather_work(spec, common, dt, density, pattern, seed, group_size, block, weights, sparsity_pattern,
                        pattern_options or {}, budget)


def _dense_work(spec, common: dict, dt, density: float, weights) -> KernelWork:
    """A dense GEMM, or a channel-pruned one: whole rows of A removed, a smaller dense GEMM."""
    m, k, n, b = common["m"], common["k"], common["n"], dt.bytes
    bytes_c = m * n * dt.out_bytes
    channel_notes = ()
    if weights is not None:
        density = float(np.count_nonzero(weights)) / (m * k)
    if spec.family == "gemm":
        m_eff, nnz = m, round(density * m * k)
        rows_nonempty = m if density > 0 else 0
    else:
        # Channel pruning (course notes; Li et al. 2017): remove whole rows of A
        # (output channels); what is left is a smaller dense GEMM.
        m_eff = max(1, round(m * density))
        if round(m * density) == 0:
            channel_notes = (f"--density {density:g} keeps {m * density:.3g} of {m} rows with --kernel channel: "
                             f"modelled as 1 row (the smallest GEMM left)",)
        nnz, rows_nonempty = m_eff * k, m_eff
        bytes_c = m_eff * n * dt.out_bytes
    storage = formats.dense_storage(m_eff, k, b) if spec.family == "gemm" else formats.channel_storage(m_eff, k, b)
    macs_exec = m_eff * k * n
    return KernelWork(
        **common, density=density, pattern=spec.name,
        nnz=nnz, flops_useful=2 * nnz * n, flops_executed=2 * macs_exec,
        multiplications=nnz * n, additions=max(nnz - rows_nonempty, 0) * n,
        bytes_values=storage.bytes_values, bytes_index=storage.bytes_index,
        bytes_b=k * n * b, bytes_c=bytes_c, b_row_fetches=0,
        dependent_access_depth=spec.dependent_access_depth, dependent_accesses=0,
        math=spec.math_pipe(dt.name), m_effective=m_eff, notes=channel_notes,
    )


def _nm_work(spec, common: dict, dt, density: float, weights) -> KernelWork:
    """N:M structured sparsity (2:4, 1:2) on sparse tensor cores."""
    m, k, n, b = common["m"], common["k"], common["n"], dt.bytes
    kernel, keep, group = spec.name, spec.keep, spec.group
    if dt.name not in spec.dtypes:
        other = next(o.name for o in KERNEL_OBJECTS.values() if o.is_nm and o.name != kernel)
        raise SparsimError(
            f"--dtype: got {dt.name!r} with --kernel {kernel}; allowed: {', '.join(spec.dtypes)} "
            f"(cuSPARSELt runs fp32/tf32 as 1:2 sparsity and fp16/bf16/int8/fp8 as 2:4; "
            f"use --kernel {other} for {dt.name})"
        )
    storage = formats.nm_storage(m, k, n=keep, m_group=group, value_bytes=b)  # checks K % group
    kept = m * k * keep // group
    notes = ()
    if weights is not None:
        nnz = int(np.count_nonzero(weights))
        if nnz > kept:
            raise SparsimError(f"weights: {nnz} nonzeros do not fit {kernel} (at most {kept}); prune with nm_prune first")
    else:
        nnz = min(round(density * m * k), kept)
        # density 1 (the default) means dense weights pruned to N:M, which needs no
        # word; a density between the kept fraction and 1 cannot be reached, so say so
        if keep / group < density < 1.0:
            notes = (f"--density {density:g} is more than {kernel} keeps: at most {keep} of every {group} "
                     f"along K, so density {keep / group:g} is modelled (A pruned to {kernel} first)",)
    # Sparse tensor cores skip the pruned half: the hardware issues K/2 (K·keep/group)
    # MACs per output (NVIDIA A100 whitepaper, "Fine-grained structured sparsity").
    return KernelWork(
        **common, density=nnz / (m * k), pattern=kernel, nnz=nnz,
        flops_useful=2 * nnz * n, flops_executed=2 * kept * n,
        multiplications=nnz * n, additions=max(nnz - m, 0) * n if nnz >= m else 0,
        bytes_values=storage.bytes_values, bytes_index=storage.bytes_index,
        bytes_b=k * n * b, bytes_c=m * n * dt.out_bytes, b_row_fetches=0,
        # The 2-bit metadata is decoded in the tensor-core operand path (mma.sp),
        # so no load waits on another (DESIGN.md).
        dependent_access_depth=spec.dependent_access_depth, dependent_accesses=0,
        math=spec.math_pipe(dt.name), m_effective=m, notes=notes,
    )


def _gather_shape(spec, m: int, k: int, group_size, block) -> tuple[int, tuple[int, int], list[str]]:
    """(group size, block, notes) of a grouped or BSR kernel, checked before the pattern is
    made (limits before work). A group or block larger than the matrix would pad it with
    zeros a real kernel never stores; it is modelled at the matrix's size instead."""
    shape_notes, g, r, c = [], 1, 1, 1
    if spec.reuse_unit == "group":
        g = check_positive_int("--group-size", group_size)
        if g > m:
            shape_notes.append(f"--group-size {g} is more than M = {m} rows: modelled as one group of all {m} rows")
            g = m
    if spec.reuse_unit == "block":
        try:
            r, c = (block, block) if isinstance(block, (int, np.integer)) else tuple(block)
        except (TypeError, ValueError):
            raise SparsimError(f"--block: got {block!r}; allowed: a whole number or (rows, cols)") from None
        r, c = check_positive_int("--block", r), check_positive_int("--block", c)
        if r > m or c > k:
            shape_notes.append(f"--block {r}x{c} is larger than the {m}x{k} matrix: modelled as "
                               f"{min(r, m)}x{min(c, k)} blocks")
            r, c = min(r, m), min(c, k)
    return g, (r, c), shape_notes


def _bsr_fill_note(pattern: str, nnz: int, n_blocks: int, m: int, k: int, block: tuple[int, int]) -> str | None:
    """Say when most stored BSR blocks are mostly zeros: a scattered (e.g. uniform) pattern
    puts a nonzero in nearly every block, so BSR stores and multiplies nearly the whole
    matrix whatever the density; a block pattern keeps whole blocks with probability density."""
    r, c = block
    fill = nnz / max(n_blocks * r * c, 1)
    if not n_blocks or fill >= 0.5:
        return None
    total = math.ceil(m / r) * math.ceil(k / c)
    which = (f"every {r}x{c} block holds a nonzero" if n_blocks == total
             else f"{n_blocks / total:.0%} of the {r}x{c} blocks hold a nonzero")
    kept = round(nnz / (m * k) * total)
    return (f"BSR of a {pattern} pattern: {which} ({n_blocks:,} of {total:,} stored, each {fill:.0%} nonzero), "
            f"so the blocks multiply {1 / fill:.1f}x the useful FLOPs; a block pattern (--pattern block) of this "
            f"density would keep about {kept:,} blocks")


def _gather_work(spec, common: dict, dt, density: float, pattern: str, seed: int, group_size, block, weights,
                 sparsity_pattern, pattern_options: dict, budget: int) -> KernelWork:
    """Gather kernels (COO, CSR, BSR, grouped): they need the real pattern."""
    m, k, n, b = common["m"], common["k"], common["n"], dt.bytes
    g, (r, c), shape_notes = _gather_shape(spec, m, k, group_size, block)
    if sparsity_pattern is not None:
        if (sparsity_pattern.m, sparsity_pattern.k) != (m, k):
            raise SparsimError(f"pattern: shape {(sparsity_pattern.m, sparsity_pattern.k)} does not match --m {m} --k {k}")
        pat, notes = sparsity_pattern, ()
    else:
        pat, notes = _pattern_for(spec.name, m, k, density, pattern, seed, weights, pattern_options, budget)
    st = pattern_stats(pat)
    nnz = st.nnz
    rows_nonempty = m - st.empty_rows
    useful = dict(nnz=nnz, flops_useful=2 * nnz * n, multiplications=nnz * n,
                  additions=(nnz - rows_nonempty) * n, density=nnz / (m * k), pattern=pat.name,
                  bytes_c=m * n * dt.out_bytes, m_effective=m, stats=st, notes=(*shape_notes, *notes),
                  dependent_access_depth=spec.dependent_access_depth, math=spec.math_pipe(dt.name))
    index_policy = common["index_policy"]

    if spec.reuse_unit == "row":  # CSR, COO: one B row per nonzero
        storage = (formats.coo_storage if spec.split == "nonzeros" else formats.csr_storage)(m, k, nnz, b, index_policy)
        # COO: the column index of each nonzero is read, then B's row: one dependent load.
        # CSR (course notes): row pointer -> column index -> value / B row: two dependent
        # loads; one per row for the column-index segment, one per nonzero for B.
        dependent = nnz if spec.dependent_access_depth == 1 else rows_nonempty + nnz
        return KernelWork(
            **common, **useful, flops_executed=2 * nnz * n,
            bytes_values=storage.bytes_values, bytes_index=storage.bytes_index,
            bytes_b=st.cols_referenced * n * b, b_row_fetches=nnz, dependent_accesses=dependent,
        )

    if spec.reuse_unit == "group":
        union = st.group_union(g)
        # Course notes: grouping unstructured rows into vectors executes multiplications
        # on zeros: executed MACs = sum over row groups of |union of columns| · g · N.
        macs = st.executed_macs(g, n)
        union_total = int(union.sum())
        # Stored as vectors of g values per (group, column) plus a CSR over groups.
        storage = formats.csr_storage(math.ceil(m / g), k, union_total, b * g, index_policy)
        return KernelWork(
            **common, **useful, flops_executed=2 * macs,
            bytes_values=storage.bytes_values, bytes_index=storage.bytes_index,
            bytes_b=st.cols_referenced * n * b, b_row_fetches=union_total,
            dependent_accesses=int(np.count_nonzero(union)) + union_total, group_size=g, n_blocks=len(union),
        )

    # BSR: every r×c block holding at least one nonzero is stored and multiplied whole.
    n_blocks, block_rows_nonempty, block_cols = _bsr_structure(st, r, c)
    storage = formats.bsr_storage(m, k, n_blocks, (r, c), b, index_policy)
    fill = _bsr_fill_note(pat.name, nnz, n_blocks, m, k, (r, c))
    if fill:
        useful["notes"] = (*useful["notes"], fill)
    return KernelWork(
        **common, **useful, flops_executed=2 * n_blocks * r * c * n,
        bytes_values=storage.bytes_values, bytes_index=storage.bytes_index,
        bytes_b=min(block_cols * c, k) * n * b, b_row_fetches=n_blocks * c,
        dependent_accesses=block_rows_nonempty + n_blocks, block=(r, c), n_blocks=n_blocks,
    )
