"""A measurement spec: which kernel, shape, dtype and sparsity to time, and how.

A :class:`MeasureSpec` is a :class:`~sparsim.problem.Problem` plus how to measure it: its
``split`` (fitted or held out) and the call variant timed (B's layout, the index width).
It is plain data. The same spec drives everything downstream: the
backends build their operands from :meth:`MeasureSpec.sparsity_pattern` (the seeded
pattern of :mod:`sparsim.models.patterns`), and the calibration predicts the kernel from
:meth:`MeasureSpec.work`, the :func:`sparsim.models.build_work` count of the very same
pattern. Each spec carries its ``split``: ``"train"`` points are fitted, ``"test"`` points
are held out; the test set uses shapes (and densities and patterns) the fit never sees.
Which specs a sweep measures is :mod:`sparsim.validate.plans`; reading them back from
results records is :mod:`sparsim.validate.spec`.

>>> spec = MeasureSpec("csr", m=512, k=512, n=64, dtype="fp32", density=0.05)
>>> spec.key, isinstance(spec, Problem)
('csr|512x512x64|fp32|d=0.05|uniform|s0', True)
>>> spec.work().nnz == spec.sparsity_pattern().nnz
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ..errors import SparsimError, check_choice
from ..impls import get_impl, impl_names
from ..models import patterns
from ..models.kernels import kernel_of
from ..models.work import KernelWork
from ..problem import Problem

__all__ = ["MeasureSpec", "SPLITS", "IMPLS", "B_LAYOUTS", "INDEX_BITS", "MEASURED_KERNELS"]

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
