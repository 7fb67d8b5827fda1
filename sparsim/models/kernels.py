"""The kernels sparsim models, one :class:`Kernel` object each, parsed once.

A kernel name (``"csr"``, ``"2:4"``) says what a library computes and how; everything
the rest of sparsim needs to know about it is a field here, so no module compares kernel
names as strings or parses ``"2:4"`` again: its *family* (a tensor-core GEMM, an N:M
sparse GEMM, a gather of B rows, a channel-pruned GEMM), for N:M the kept values per
group, whether it needs the sparsity pattern, which math pipe it runs on, how many
dependent loads come before its data, and (for gathers) the unit the work is cut into
CTAs by. What one CTA looks like is *mapping* data of the library that launches it, with
its source, in the implementation files (:mod:`sparsim.impls`, ``cta``).

>>> kernel_of("2:4").keep, kernel_of("2:4").group, kernel_of("2:4").is_nm
(2, 4, True)
>>> kernel_of("csr").needs_pattern, kernel_of("csr").dependent_access_depth, kernel_of("csr").split
(True, 2, 'rows')
>>> kernel_of("dense").math_pipe("fp32"), kernel_of("dense").math_pipe("fp16")
('vector', 'tensor')
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import check_choice

__all__ = ["BASELINE", "KERNELS", "KERNEL_OBJECTS", "Kernel", "kernel_of"]

#: families: how a kernel computes
FAMILIES = ("gemm", "nm", "gather", "channel")


@dataclass(frozen=True)
class Kernel:
    name: str
    family: str  # one of FAMILIES
    #: N:M sparsity: ``keep`` values of every ``group`` along K (1, 1 otherwise)
    keep: int = 1
    group: int = 1
    #: dtypes the library accepts (N:M only; empty: any)
    dtypes: tuple[str, ...] = ()
    #: loads whose address comes from an earlier load, before the data (CSR 2, COO 1)
    dependent_access_depth: int = 0
    #: the math pipe: "tensor", "vector", "sparse_tensor", or "by dtype" (fp32 runs on
    #: CUDA cores, every other dtype on tensor cores)
    pipe: str = "by dtype"
    #: gathers: the unit a CTA's share is cut in ("rows", "nonzeros", "block rows",
    #: "row groups") and the unit one gathered B access reads ("row", "block", "group")
    split: str = ""
    reuse_unit: str = ""

    @property
    def is_nm(self) -> bool:
        return self.family == "nm"

    @property
    def is_gather(self) -> bool:
        return self.family == "gather"

    @property
    def prunes_rows(self) -> bool:
        """Whole rows of A removed: what is left is a smaller dense GEMM (channel pruning)."""
        return self.family == "channel"

    @property
    def coordinates(self) -> bool:
        """A gather whose A holds a (row, column) pair per nonzero: one dependent load (COO)."""
        return self.is_gather and self.dependent_access_depth == 1

    @property
    def row_pointers(self) -> bool:
        """A gather whose A holds a pointer per row, then column indices: two dependent
        loads (CSR, BSR, grouped)."""
        return self.is_gather and self.dependent_access_depth == 2

    @property
    def needs_pattern(self) -> bool:
        """Whether the work depends on where the nonzeros are (not only how many)."""
        return self.family == "gather"

    def math_pipe(self, dtype: str) -> str:
        """The pipe that runs this kernel in ``dtype`` (``KernelWork.math``)."""
        if self.pipe == "by dtype":
            return "vector" if dtype == "fp32" else "tensor"
        return self.pipe


_NM_16BIT = ("fp16", "bf16", "int8", "fp8")
#: every kernel, by name. "grouped" is unstructured SpMM run g rows at a time on tensor
#: cores (vector-sparse); "1:2" is the N:M form cuSPARSELt uses for fp32/tf32
#: (cuSPARSELt: 2:4 for fp16/bf16/int8/fp8, 1:2 for tf32).
KERNEL_OBJECTS = {k.name: k for k in (
    Kernel("dense", "gemm"),
    Kernel("coo", "gather", dependent_access_depth=1, pipe="vector", split="nonzeros", reuse_unit="row"),
    Kernel("csr", "gather", dependent_access_depth=2, pipe="vector", split="rows", reuse_unit="row"),
    Kernel("bsr", "gather", dependent_access_depth=2, pipe="tensor", split="block rows", reuse_unit="block"),
    Kernel("grouped", "gather", dependent_access_depth=2, pipe="tensor", split="row groups", reuse_unit="group"),
    Kernel("2:4", "nm", keep=2, group=4, dtypes=_NM_16BIT, pipe="sparse_tensor"),
    Kernel("1:2", "nm", keep=1, group=2, dtypes=("tf32", "fp32"), pipe="sparse_tensor"),
    Kernel("channel", "channel"),
)}
#: kernel names, for CLI choices
KERNELS = tuple(KERNEL_OBJECTS)
#: the kernel every other is compared against: the dense GEMM on the same weights
BASELINE = "dense"


def kernel_of(name: str) -> Kernel:
    """The :class:`Kernel` called ``name``; a clear error for an unknown name."""
    kernel = KERNEL_OBJECTS.get(name) if isinstance(name, str) else None
    return kernel or KERNEL_OBJECTS[check_choice("--kernel", name, KERNELS)]
