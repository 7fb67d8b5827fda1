"""Measurement records read back as specs: checked fields, the implementation, the group.

A results file stores each measurement as a JSON record of its spec's fields
(:class:`~sparsim.validate.measurespec.MeasureSpec`) and its times. :func:`check_record`
checks those fields, refusing (never rounding) a bad one with one line;
:func:`spec_from_record` rebuilds the spec; :func:`impl_of` names the implementation a
record measured (inferred for records older than the ``impl`` field); :func:`shape_group`
is its cross-validation group. The spec itself and the sweep plans live in
:mod:`~sparsim.validate.measurespec` and :mod:`~sparsim.validate.plans` and are importable
from here as before.

>>> spec_from_record({"kernel": "csr", "m": 64, "k": 64, "n": 8, "dtype": "fp32", "density": 0.1,
...                   "pattern": "uniform"}).key
'csr|64x64x8|fp32|d=0.1|uniform|s0'
>>> check_record({"kernel": "dense", "m": 4096.7, "k": 8, "n": 8, "dtype": "fp16"}, "results r.jsonl: line 3")
Traceback (most recent call last):
...
sparsim.errors.SparsimError: results r.jsonl: line 3: key m: got 4096.7; allowed: a whole number in [1, 2,147,483,647] (no fraction, not a string)
"""

from __future__ import annotations

from ..errors import SparsimError, shown
from ..impls import default_impl
from ..models import patterns
from ..models.kernels import KERNELS, kernel_of
# the spec and the plans moved out of this module; their names still import from here
from .measurespec import B_LAYOUTS, IMPLS, INDEX_BITS, MEASURED_KERNELS, SPLITS, MeasureSpec  # noqa: F401
from .plans import ATLAS_DENSITIES, ATLAS_N, ATLAS_SHAPES, PLANS, atlas_plan, plan, split_by_shape  # noqa: F401

__all__ = ["MeasureSpec", "SPLITS", "plan", "PLANS", "split_by_shape", "spec_from_record", "check_record", "IMPLS",
           "B_LAYOUTS", "INDEX_BITS", "atlas_plan", "impl_of", "shape_group"]


#: largest M, K or N of a measured point (int32 indexing, as the libraries use by default)
MAX_DIM = 2**31 - 1
#: most nonzeros of a measured sparse point: its pattern is rebuilt in memory to predict it
MAX_PATTERN_NNZ = 2**28
#: kernels whose prediction needs the measured pattern (so the record must name it)
PATTERN_KERNELS = ("coo", "csr", "bsr", "grouped")


def check_record(record: dict, where: str, kernels=MEASURED_KERNELS) -> dict:
    """Check the spec fields of a measurement record; return them, typed.

    ``where`` starts each message ("results FILE: line 3"). Refused, never rounded or
    replaced: a non-whole or out-of-range M/K/N (4096.7 is not 4096), a kernel, dtype or
    pattern outside the allowed ones, a sparse record without its pattern, a density
    outside [0, 1], and a sparse point too large to rebuild its pattern in memory.
    """
    from ..dtypes import DTYPES

    def fail(key, got, allowed):
        return SparsimError(f"{where}: key {key}: got {shown(got)}; allowed: {allowed}")

    out = {}
    kernel = record.get("kernel")
    if not isinstance(kernel, str) or kernel not in kernels:
        raise fail("kernel", kernel, ", ".join(kernels))
    out["kernel"] = kernel
    for key in ("m", "k", "n"):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIM:
            raise fail(key, value, f"a whole number in [1, {MAX_DIM:,}] (no fraction, not a string)")
        out[key] = value
    dtype = record.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise fail("dtype", dtype, ", ".join(DTYPES))
    out["dtype"] = dtype
    density = record.get("density", 1.0)
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 <= density <= 1:
        raise fail("density", density, "a number in [0, 1]")
    out["density"] = float(density)
    if "pattern" in record or kernel in PATTERN_KERNELS:
        pattern = record.get("pattern")
        allowed = tuple(patterns.PATTERNS) + ("dense",)
        if not isinstance(pattern, str) or pattern not in allowed:
            raise fail("pattern", pattern, ", ".join(allowed)
                       + (" (required: a sparse kernel's time depends on where its nonzeros are)"
                          if "pattern" not in record else ""))
        out["pattern"] = pattern
    if "seed" in record:
        seed = record["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise fail("seed", seed, "a whole number >= 0")
        out["seed"] = seed
    if kernel in PATTERN_KERNELS and out["m"] * out["k"] * out["density"] > MAX_PATTERN_NNZ:
        raise fail("m", out["m"], f"a sparse point of at most {MAX_PATTERN_NNZ:,} nonzeros (M x K x density; "
                                  "its pattern is rebuilt in memory to predict it)")
    return out


def spec_from_record(record: dict) -> MeasureSpec:
    """The spec a results-file record was measured for; its fields are checked first."""
    if not isinstance(record, dict):
        raise SparsimError(f"results record: got {shown(record)}; allowed: a JSON object")
    where = f"results record {shown(record.get('key', '?'))}"
    fields = check_record(record, where)
    for key in ("split", "impl", "b_layout", "index_bits"):  # checked by MeasureSpec itself
        if record.get(key) is not None:
            fields[key] = record[key]
    spec = kernel_of(fields["kernel"])
    if not spec.needs_pattern:  # the spec fixes their pattern and density
        fields.pop("pattern", None)
    if record.get("impl") is None and record.get("backend") == "cupy" and spec.reuse_unit == "row":
        # written before records named their variant: cupyx.cusparse.spmm, column-major B
        fields.setdefault("b_layout", "col")
    try:
        return MeasureSpec(**fields)
    except TypeError as exc:
        raise SparsimError(f"{where}: {exc}") from None


def impl_of(record: dict) -> str:
    """The implementation a record measured: its ``impl`` field, or for records written
    before that field existed, inferred from backend, kernel and library.

    >>> impl_of({"backend": "cupy", "kernel": "csr", "library": "cuSPARSE SpMM CSR"})
    'cusparse'
    >>> impl_of({"backend": "numpy", "kernel": "coo"}), impl_of({"impl": "cusparselt-search"})
    ('scipy', 'cusparselt-search')
    """
    if record.get("impl"):
        return str(record["impl"])
    backend, kernel = record.get("backend"), record.get("kernel")
    library = str(record.get("library") or "").lower()
    if kernel not in KERNELS:
        return "unknown"
    if backend == "numpy":  # NumPy for the dense GEMM, SciPy for sparse: the CPU defaults
        return default_impl(kernel, "cpu")
    if backend == "torch":
        return "torch"
    if kernel_of(kernel).is_nm and "torch" in library:
        # the CuPy backend's 2:4 runs through torch.to_sparse_semi_structured when torch is
        # installed (per-call host work included), else a ctypes cuSPARSELt binding
        return "torch"
    return default_impl(kernel)  # cuBLAS, cuSPARSE (cupyx.cusparse.spmm), cuSPARSELt


def shape_group(record) -> tuple[int, ...]:
    """The cross-validation group of a record or spec: its (M, K, N) shape. Points of one
    shape (dtypes, densities, kernels) share most of their cost, so they are held out together."""
    get = record.get if isinstance(record, dict) else lambda name: getattr(record, name)
    return int(get("m")), int(get("k")), int(get("n"))
