"""Limits before work: what a pattern will cost, estimated from the inputs alone.

Building a pattern costs memory in proportion to its nonzeros, so the size of the job is
decided before any array is made: the expected nonzeros follow from M, K, the density
and the generator (:func:`expected_nnz`); the bytes of building it exactly (its column
indices, a copy while they are joined, and the slab temporaries of the statistics) from
those (:func:`exact_bytes`). A memory budget caps it:

* a pattern whose exact build fits the budget (and :data:`EXACT_BYTES_CAP`, for the
  generators that have a sampled form) is built;
* a larger one is *sampled*: row lengths drawn per row, everything else from them
  (:mod:`sparsim.models.sampled`), in memory that grows with M, not with the nonzeros;
* a job whose sampled form does not fit either is refused with one line that says the
  budget and how to raise it.

The budget is ``memory_budget=`` (bytes, or a string such as ``"512MiB"``), else the
environment variable ``SPARSIM_MEMORY_BUDGET``, else :data:`DEFAULT_BUDGET` (2 GiB). A
budget larger than the memory of the machine sparsim runs on (:func:`machine_memory`:
physical memory, or a smaller cgroup or address-space limit) is refused: it would let a
build start that the machine cannot finish.

>>> parse_bytes("512MiB"), parse_bytes("2GiB") == DEFAULT_BUDGET, parse_bytes(1e9)
(536870912, True, 1000000000)
>>> expected_nnz("nm", 8, 16, 0.3, {"n": 2, "m_group": 4})
64
>>> decide("uniform", 65536, 65536, 0.1, {}, budget=DEFAULT_BUDGET)
'sampled'
"""

from __future__ import annotations

import math
import os
import re

from ..errors import SparsimError

__all__ = ["DEFAULT_BUDGET", "ENV_VAR", "EXACT_BYTES_CAP", "MAX_K", "SAMPLED_PATTERNS", "decide",
           "exact_bytes", "expected_nnz", "human", "machine_memory", "memory_budget", "parse_bytes",
           "sampled_bytes"]

#: the budget when neither ``memory_budget=`` nor the environment sets one
DEFAULT_BUDGET = 2 * 2**30
ENV_VAR = "SPARSIM_MEMORY_BUDGET"
#: an exact pattern is built only below this many bytes (~22 M nonzeros), whatever the budget:
#: above it sampling is faster, and its estimates are within a percent (tests/models/test_limits.py)
EXACT_BYTES_CAP = 256 * 2**20
#: column indices are int32 (cuSPARSE's CUSPARSE_INDEX_32I; SciPy's default)
MAX_K = 2**31 - 1
#: generators with a sampled form: rows independent, so row lengths say everything else
SAMPLED_PATTERNS = ("uniform", "row-skewed", "nm", "channel")

# exact build: int32 index + its copy while pieces are joined + slab temporaries; the
# block generator also makes int64 ranges of every element (measured peak ~28 B/nonzero)
_EXACT_PER_NNZ = {"block": 28}
_EXACT_PER_NNZ_DEFAULT = 12
# exact build: indptr, row lengths (int64) and column counts, bitmaps
_EXACT_PER_ROW, _EXACT_PER_COL = 24, 16
# sampled: row lengths, their logs and per-group sums, a few float64 arrays of M
_SAMPLED_PER_ROW = 64
# sampled: the SHARDS access sample and the footprint curve (2^17 accesses x ~60 B)
_SAMPLED_FIXED = 8 * 2**20
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "t": 10**12, "tb": 10**12}


def parse_bytes(value, name: str = "memory_budget") -> int:
    """Bytes from a number or a string with a unit (``"1.5GiB"``, ``"800MB"``)."""
    if isinstance(value, bool):
        raise SparsimError(f"{name}: got {value!r}; allowed: bytes > 0, a number or with a unit (512MiB, 2GiB)")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise SparsimError(f"{name}: got {value!r}; allowed: bytes > 0, a number or with a unit (512MiB, 2GiB)")
        number, unit = float(match.group(1)), match.group(2).lower()
    if not math.isfinite(number) or number * _UNITS[unit] < 1:
        raise SparsimError(f"{name}: got {value!r}; allowed: bytes > 0, a number or with a unit (512MiB, 2GiB)")
    return int(number * _UNITS[unit])


def memory_budget(value=None) -> int:
    """The budget in bytes: ``value``, else ``$SPARSIM_MEMORY_BUDGET``, else 2 GiB."""
    if value is not None:
        return _within_machine(parse_bytes(value), "memory_budget", value)
    env = os.environ.get(ENV_VAR)
    if env:
        return _within_machine(parse_bytes(env, ENV_VAR), ENV_VAR, env)
    return DEFAULT_BUDGET


def machine_memory() -> int | None:
    """Bytes this process can have at most: the smallest of physical memory
    (``sysconf``), the cgroup's limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``)
    and the address-space limit (``RLIMIT_AS``); None where none can be read."""
    found = []
    try:
        found.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            found.append(int(text))
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            found.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    found = [n for n in found if n > 0]
    return min(found) if found else None


def _within_machine(budget: int, name: str, given) -> int:
    """A budget the machine can hold, or a refusal that says how much it has."""
    memory = machine_memory()
    if memory is not None and budget > memory:
        raise SparsimError(f"{name}: got {given!r} ({human(budget)}), more than this machine's memory "
                           f"({human(memory)}); allowed: a budget of at most {human(memory)}")
    return budget


def human(nbytes: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes:.0f} B"


def expected_nnz(pattern: str, m: int, k: int, density: float, options: dict) -> int:
    """Nonzeros the generator ``pattern`` is expected to produce (exact for nm, channel)."""
    if pattern == "nm":
        n, m_group = options.get("n", 2), options.get("m_group", 4)
        return m * (k // m_group) * n
    if pattern == "channel":
        return round(m * density) * k
    return math.ceil(density * m * k)


def exact_bytes(nnz: int, m: int, k: int, pattern: str = "uniform") -> int:
    """Peak bytes of building a pattern of ``nnz`` nonzeros and its statistics."""
    return _EXACT_PER_NNZ.get(pattern, _EXACT_PER_NNZ_DEFAULT) * nnz + _EXACT_PER_ROW * m + _EXACT_PER_COL * k


def sampled_bytes(m: int, k: int) -> int:
    """Peak bytes of the sampled statistics of an M×K pattern: they grow with M only."""
    return _SAMPLED_PER_ROW * m + _SAMPLED_FIXED


def decide(pattern: str, m: int, k: int, density: float, options: dict, *, budget: int) -> str:
    """``"exact"`` or ``"sampled"`` for a generated pattern, or a one-line refusal."""
    if k > MAX_K:
        raise SparsimError(f"--k: got {k}; allowed: at most {MAX_K} (int32 column indices)")
    nnz = expected_nnz(pattern, m, k, density, options)
    need = exact_bytes(nnz, m, k, pattern)
    # a generator without a sampled form (block) is built exactly up to the whole budget
    cap = min(budget, EXACT_BYTES_CAP) if pattern in SAMPLED_PATTERNS else budget
    if need <= cap:
        return "exact"
    where = (f"a {m}x{k} {pattern} pattern at density {density:g} (~{nnz:.3g} nonzeros) "
             f"needs ~{human(need)} to build")
    if pattern not in SAMPLED_PATTERNS:
        raise SparsimError(
            f"--pattern: {where}, over the memory budget of {human(cap)}; allowed: a smaller M, K "
            f"or density, a larger budget (memory_budget= or ${ENV_VAR}), or a pattern that is sampled "
            f"above it ({', '.join(SAMPLED_PATTERNS)})")
    sampled = sampled_bytes(m, k)
    if sampled > budget:
        raise SparsimError(
            f"--m: {where} and ~{human(sampled)} even sampled, over the memory budget of {human(budget)}; "
            f"allowed: M up to {max(0, (budget - _SAMPLED_FIXED) // _SAMPLED_PER_ROW):,} rows, "
            f"or a larger budget (memory_budget= or ${ENV_VAR})")
    return "sampled"
