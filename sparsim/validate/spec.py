"""Measurement specs: which kernel, shape, dtype and sparsity to time, and sweep plans.

A :class:`MeasureSpec` is a :class:`~sparsim.problem.Problem` plus how to measure it: its
``split`` (fitted or held out) and the call variant timed (B's layout, the index width).
It is plain data. The same spec drives everything downstream: the
backends build their operands from :meth:`MeasureSpec.sparsity_pattern` (the seeded
pattern of :mod:`sparsim.models.patterns`), and the calibration predicts the kernel from
:meth:`MeasureSpec.work`, the :func:`sparsim.models.build_work` count of the very same
pattern. Each spec carries its ``split``: ``"train"`` points are fitted, ``"test"`` points
are held out; the test set uses shapes (and densities and patterns) the fit never sees.

>>> spec = MeasureSpec("csr", m=512, k=512, n=64, dtype="fp32", density=0.05)
>>> spec.key, isinstance(spec, Problem)
('csr|512x512x64|fp32|d=0.05|uniform|s0', True)
>>> spec.work().nnz == spec.sparsity_pattern().nnz
True
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import SparsimError, check_choice, shown
from ..impls import default_impl, get_impl, impl_names
from ..models import build_work, patterns
from ..models.kernels import KERNELS, kernel_of
from ..models.work import KernelWork
from ..problem import Problem

__all__ = ["MeasureSpec", "SPLITS", "plan", "PLANS", "split_by_shape", "spec_from_record", "check_record", "IMPLS",
           "B_LAYOUTS", "INDEX_BITS", "atlas_plan", "impl_of", "shape_group"]

SPLITS = ("train", "test")
#: implementations a measurement can name (GPU libraries, the framework, the CPU stacks)
IMPLS = tuple(name for name in impl_names() if get_impl(name).measurable)
#: storage order of the dense operand B (and C) of a sparse point
B_LAYOUTS = ("row", "col")
#: width of a sparse point's row/column indices
INDEX_BITS = (32, 64)
#: kernels a backend can time for real (channel pruning is a smaller dense GEMM)
MEASURED_KERNELS = ("dense", "csr", "coo", "2:4")


@dataclass(frozen=True, eq=False, init=False)
class MeasureSpec(Problem):
    """One point to time: the Problem ``C[M×N] = A[M×K] @ B[K×N]`` with kernel ``kernel``,
    plus how it is measured (its split and call variant). Positional arguments keep the
    order results files list them in: kernel, m, k, n, dtype, density, pattern, seed, split."""

    split: str = "train"
    #: sparse points only: B's storage order and the index width (None: the backend's default)
    b_layout: str | None = None
    index_bits: int | None = None

    def __init__(self, kernel: str, m: int, k: int, n: int, dtype: str, density: float = 1.0,
                 pattern: str = "uniform", seed: int = 0, split: str = "train", impl: str | None = None,
                 b_layout: str | None = None, index_bits: int | None = None, options: Mapping | None = None,
                 quant: str | None = None, group: int | None = None):
        # impl: which implementation to time (None: the backend's default for the kernel);
        # pattern: the generator of A's nonzeros (ignored by dense; "nm" for 2:4);
        # quant, group: the Problem's quantization scheme (dataclasses.replace passes them)
        values = dict(kernel=kernel, m=m, k=k, n=n, dtype=dtype, density=density, pattern=pattern, seed=seed,
                      split=split, impl=impl, b_layout=b_layout, index_bits=index_bits, options=options or {},
                      quant=quant, group=group)
        for name, value in values.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    def __post_init__(self):
        check_choice("kernel", self.kernel, MEASURED_KERNELS)
        check_choice("split", self.split, SPLITS)
        if self.options:
            raise SparsimError(f"options: got {sorted(self.options)}; allowed: none (a measured point's pattern "
                               "is seeded; its call variant is b_layout and index_bits)")
        super().__post_init__()
        object.__setattr__(self, "options", MappingProxyType({}))
        if self.impl is not None:
            check_choice("impl", self.impl, IMPLS)
        if self.b_layout is not None:
            check_choice("b_layout", self.b_layout, B_LAYOUTS)
        if self.index_bits is not None:
            check_choice("index_bits", self.index_bits, INDEX_BITS)
        spec = kernel_of(self.kernel)
        if spec.is_nm:  # dense weights pruned to N:M
            object.__setattr__(self, "pattern", "nm")
            object.__setattr__(self, "density", spec.keep / spec.group)
        elif not spec.needs_pattern:  # the dense GEMM: every element stored
            object.__setattr__(self, "pattern", "dense")
            object.__setattr__(self, "density", 1.0)

    @property
    def key(self) -> str:
        """Identity of the point in a results file (the split is a label, not identity)."""
        key = (f"{self.kernel}|{self.m}x{self.k}x{self.n}|{self.dtype}|d={self.density:g}|"
               f"{self.pattern}|s{self.seed}")
        # variants add to the key; a spec without them keeps the key older files carry
        if self.impl is not None:
            key += f"|{self.impl}"
        if self.b_layout is not None:
            key += f"|b={self.b_layout}"
        if self.index_bits is not None:
            key += f"|i{self.index_bits}"
        return key

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.m, self.k, self.n

    def sparsity_pattern(self) -> patterns.SparsityPattern | None:
        """A's nonzeros for sparse kernels (seeded, so every caller gets the same ones)."""
        if self.pattern == "dense":
            return None
        return _pattern(self.pattern, self.m, self.k, self.density, self.seed)

    def measured_options(self) -> dict:
        """How the measured call stored A and laid out B: the point's own index width and
        B layout, else its implementation's (PyTorch: int64 indices), else the defaults."""
        from ..problem import call_options

        rule = get_impl(self.impl).rules.get(self.kernel) if self.impl in impl_names() else None
        explicit = {"index_policy": None if self.index_bits is None else ("int64" if self.index_bits == 64 else "library"),
                    "b_layout": self.b_layout}
        return call_options(rule, explicit)

    def problem(self) -> Problem:
        """This point as the Problem a prediction takes: its seeded pattern, and A's
        indices and B's layout as the measured call had them (:meth:`measured_options`)."""
        options = {"index_policy": "library", "b_layout": "row", **self.measured_options()}
        if not kernel_of(self.kernel).needs_pattern:  # dense, or N:M with its density fixed
            return Problem(self.kernel, m=self.m, k=self.k, n=self.n, dtype=self.dtype, density=self.density,
                           options=options)
        options["sparsity_pattern"] = self.sparsity_pattern()
        return Problem(self.kernel, m=self.m, k=self.k, n=self.n, dtype=self.dtype, density=self.density,
                       pattern=self.pattern, options=options, seed=self.seed)

    def work(self, hw_kind: str = "gpu") -> KernelWork:
        """The kernel's work as :mod:`sparsim.models` counts it, on the measured pattern,
        with A's indices and B's layout as the measured call had them."""
        return self.problem().work(hw_kind)

    def __eq__(self, other) -> bool:
        return isinstance(other, MeasureSpec) and (self.key, self.split) == (other.key, other.split)

    def __hash__(self) -> int:
        return hash((self.key, self.split))

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in _SPEC_FIELDS}


@functools.lru_cache(maxsize=4)
def _pattern(pattern: str, m: int, k: int, density: float, seed: int) -> patterns.SparsityPattern:
    return patterns.generate(pattern, m, k, density, seed=seed)


_SPEC_FIELDS = ("kernel", "m", "k", "n", "dtype", "density", "pattern", "seed", "split", "impl", "b_layout",
                "index_bits")


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


def split_by_shape(specs, test_fraction: float = 0.3, seed: int = 0) -> list[MeasureSpec]:
    """Relabel specs train/test by a hash of their shape: a shape is wholly in one set.

    For results measured without a plan's labels; the built-in plans label their own.
    """
    out = []
    for spec in specs:
        digest = hashlib.sha256(f"{seed}|{spec.m}x{spec.k}x{spec.n}".encode()).digest()
        test = int.from_bytes(digest[:4], "big") / 2**32 < test_fraction
        out.append(replace(spec, split="test" if test else "train"))
    return out


# -- sweep plans ------------------------------------------------------------------------
# Train shapes and test shapes never overlap; the test set also has densities and
# patterns (row-skewed, block) that no training point has.

def _dense(dtypes, train, test):
    return [MeasureSpec("dense", m, k, n, dt, split=split)
            for split, shapes in (("train", train), ("test", test)) for (m, k, n) in shapes for dt in dtypes]


def _sparse(kernels, dtypes, train, test):
    specs = []
    for split, points in (("train", train), ("test", test)):
        for (m, k, n, density, pattern) in points:
            for kernel in kernels:
                for dt in dtypes:
                    specs.append(MeasureSpec(kernel, m, k, n, dt, density, pattern, split=split))
    return specs


def _numpy_quick():
    dense = _dense(("fp32", "fp64"),
                   train=[(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (1024, 256, 512),
                          (256, 1024, 768), (768, 768, 128)],
                   test=[(384, 384, 384), (640, 1280, 320), (1280, 640, 896), (1536, 1536, 1536)])
    sparse = _sparse(("csr", "coo"), ("fp32", "fp64"),
                     # N from 8 to 1024: the per-nonzero cost (small N) and the per-byte cost
                     # (large N) are both in the fit, so held-out N values interpolate
                     train=[(1024, 1024, 64, 0.01, "uniform"), (2048, 2048, 64, 0.05, "uniform"),
                            (4096, 4096, 32, 0.01, "uniform"), (1024, 1024, 256, 0.05, "uniform"),
                            (2048, 2048, 128, 0.01, "uniform"), (512, 512, 512, 0.2, "uniform"),
                            (8192, 8192, 8, 0.002, "uniform"), (4096, 4096, 16, 0.02, "uniform"),
                            (1024, 1024, 1024, 0.02, "uniform"), (2048, 2048, 512, 0.005, "uniform")],
                     test=[(1536, 1536, 96, 0.01, "uniform"), (3072, 3072, 48, 0.02, "uniform"),
                           (768, 768, 384, 0.1, "uniform"), (2560, 2560, 64, 0.01, "row-skewed"),
                           (1280, 1280, 128, 0.05, "block"), (6144, 6144, 16, 0.005, "uniform")])
    return dense + sparse


def _numpy_full():
    dense = _dense(("fp32", "fp64"),
                   train=[(128, 128, 128), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024),
                          (2048, 2048, 2048), (1024, 256, 512), (256, 1024, 768), (768, 768, 128),
                          (2048, 512, 256), (512, 2048, 1024)],
                   test=[(192, 192, 192), (384, 384, 384), (640, 1280, 320), (1280, 640, 896),
                         (1536, 1536, 1536), (3072, 1024, 512), (896, 2560, 1792)])
    sparse = _sparse(("csr", "coo"), ("fp32", "fp64"),
                     train=[(m, m, n, d, "uniform") for m in (1024, 4096) for n in (32, 256)
                            for d in (0.005, 0.02, 0.1)]
                     + [(8192, 8192, 64, 0.002, "uniform"), (2048, 2048, 512, 0.05, "uniform")],
                     test=[(1536, 1536, 96, 0.01, "uniform"), (3072, 3072, 48, 0.05, "uniform"),
                           (768, 768, 384, 0.2, "uniform"), (2560, 2560, 64, 0.01, "row-skewed"),
                           (6144, 6144, 128, 0.01, "row-skewed"), (1280, 1280, 128, 0.05, "block"),
                           (4096, 4096, 64, 0.02, "block"), (12288, 12288, 32, 0.001, "uniform")])
    return dense + sparse


def _gpu_shapes(quick: bool):
    # Shapes large enough to fill an A100/H100 (hundreds of CTAs) down to launch-bound ones.
    if quick:
        dense_train = [(1024, 1024, 1024), (4096, 4096, 4096), (8192, 8192, 1024), (2048, 8192, 256)]
        dense_test = [(3072, 3072, 3072), (6144, 2048, 512)]
        sparse_train = [(8192, 8192, 256, 0.01, "uniform"), (16384, 16384, 128, 0.005, "uniform"),
                        (4096, 4096, 512, 0.05, "uniform")]
        sparse_test = [(12288, 12288, 192, 0.02, "uniform"), (10240, 10240, 256, 0.01, "row-skewed")]
        nm_train = [(4096, 4096, 4096), (8192, 8192, 1024)]
        nm_test = [(6144, 6144, 2048)]
    else:
        dense_train = [(m, m, m) for m in (512, 1024, 2048, 4096, 8192, 16384)] + [
            (8192, 8192, 1024), (2048, 8192, 256), (16384, 4096, 512), (4096, 16384, 128)]
        dense_test = [(3072, 3072, 3072), (6144, 2048, 512), (12288, 12288, 1536), (1536, 6144, 64)]
        sparse_train = [(m, m, n, d, "uniform") for m in (8192, 32768) for n in (64, 512)
                        for d in (0.001, 0.01, 0.05)]
        sparse_test = [(12288, 12288, 192, 0.02, "uniform"), (16384, 16384, 256, 0.005, "uniform"),
                       (8192, 8192, 256, 0.01, "row-skewed"), (24576, 24576, 128, 0.002, "row-skewed"),
                       (8192, 8192, 128, 0.02, "block")]
        nm_train = [(m, m, m) for m in (2048, 4096, 8192, 16384)] + [(8192, 8192, 1024), (4096, 16384, 256)]
        nm_test = [(6144, 6144, 2048), (12288, 4096, 768)]
    return dense_train, dense_test, sparse_train, sparse_test, nm_train, nm_test


def _variants(specs, **choices):
    """Every spec once per combination of the given field values (impl=..., b_layout=...)."""
    out = [dict()]
    for name, values in choices.items():
        out = [{**o, name: v} for o in out for v in values]
    return [replace(spec, **o) for spec in specs for o in out]


#: the four cuSPARSE SpMM variants a GPU sweep measures: B row-major (PyTorch's call) or
#: column-major (cupyx.cusparse.spmm's), int32 or int64 indices
_SPMM_VARIANTS = {"b_layout": ("row", "col"), "index_bits": (32, 64)}


def _cupy_plan(quick: bool):
    dense_train, dense_test, sparse_train, sparse_test, nm_train, nm_test = _gpu_shapes(quick)
    specs = _dense(("fp16", "bf16", "fp32"), dense_train, dense_test)
    specs = [replace(s, impl="cublas") for s in specs]
    csr = [replace(s, impl="cusparse") for s in _sparse(("csr",), ("fp32",), sparse_train, sparse_test)]
    specs += _variants(csr, **_SPMM_VARIANTS)
    coo = [replace(s, impl="cusparse") for s in _sparse(("coo",), ("fp32",), sparse_train, sparse_test)]
    specs += _variants(coo, b_layout=("row", "col"), index_bits=(32,))
    if not quick:  # fp16 values (PyTorch's common case) and fp64, in the default variant
        specs += [replace(s, impl="cusparse", b_layout="row", index_bits=32)
                  for s in _sparse(("csr",), ("fp16", "fp64"), sparse_train, sparse_test)]
    nm = [MeasureSpec("2:4", m, k, n, dt, split=split)
          for split, shapes in (("train", nm_train), ("test", nm_test)) for (m, k, n) in shapes
          for dt in ("fp16", "bf16")]
    specs += _variants(nm, impl=("cusparselt", "cusparselt-search"))
    return specs


def _torch_plan(quick: bool):
    """What PyTorch users run: torch.mm, semi-structured 2:4, sparse CSR/COO (int64) @ dense."""
    dense_train, dense_test, sparse_train, sparse_test, nm_train, nm_test = _gpu_shapes(quick)
    specs = [replace(s, impl="torch") for s in _dense(("fp16", "bf16"), dense_train, dense_test)]
    specs += [replace(s, impl="torch", b_layout="row", index_bits=64)
              for s in _sparse(("csr", "coo"), ("fp32",) if quick else ("fp16", "fp32"), sparse_train, sparse_test)]
    specs += [MeasureSpec("2:4", m, k, n, dt, split=split, impl="torch")
              for split, shapes in (("train", nm_train), ("test", nm_test)) for (m, k, n) in shapes
              for dt in ("fp16", "bf16")]
    return specs


#: the atlas (shared/data/gpu/h200-2026-11-29/atlas.json): LLM-sized weights, N from 1 to 4096
ATLAS_SHAPES = ((4096, 4096), (4096, 11008), (8192, 8192))
ATLAS_N = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
ATLAS_DENSITIES = (0.01, 0.05, 0.1, 0.3, 0.5)


def atlas_plan(backend: str) -> list[MeasureSpec]:
    """fp16 dense, 2:4 and CSR across N for one GPU backend, cheapest families first and N
    innermost (a stage cut by its time budget keeps whole curves; operands are reused).

    >>> len(atlas_plan("cupy")), len(atlas_plan("torch"))
    (429, 231)
    """
    check_choice("--backend", backend, ("cupy", "torch"))
    families = ([("dense", "cublas", {}), ("2:4", "cusparselt", {}), ("2:4", "cusparselt-search", {})]
                if backend == "cupy" else [("dense", "torch", {}), ("2:4", "torch", {})])
    specs = [MeasureSpec(kernel, m, k, n, "fp16", split="test", impl=impl, **opts)
             for kernel, impl, opts in families for (m, k) in ATLAS_SHAPES for n in ATLAS_N]
    csr = ([("cusparse", "row", 32), ("cusparse", "row", 64)] if backend == "cupy" else [("torch", "row", 64)])
    specs += [MeasureSpec("csr", m, k, n, "fp16", density, split="test", impl=impl, b_layout=layout, index_bits=bits)
              for density in ATLAS_DENSITIES for (m, k) in ATLAS_SHAPES for impl, layout, bits in csr
              for n in ATLAS_N]
    return specs


PLANS = {
    ("numpy", True): _numpy_quick,
    ("numpy", False): _numpy_full,
    ("cupy", True): lambda: _cupy_plan(True),
    ("cupy", False): lambda: _cupy_plan(False),
    ("torch", True): lambda: _torch_plan(True),
    ("torch", False): lambda: _torch_plan(False),
}


def plan(backend: str, quick: bool = False, kernels=None) -> list[MeasureSpec]:
    """The built-in sweep for ``backend`` (``--quick``: the small one), optionally filtered."""
    check_choice("--backend", backend, ("numpy", "cupy", "torch"))
    specs = PLANS[(backend, bool(quick))]()
    if kernels:
        for kernel in kernels:
            check_choice("--kernels", kernel, MEASURED_KERNELS)
        specs = [s for s in specs if s.kernel in kernels]
    return specs
