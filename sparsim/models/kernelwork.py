"""The work record of one kernel: :class:`KernelWork`, what ``C = A @ B`` must do.

A :class:`KernelWork` is plain data counted from a problem, hardware-free: useful and
executed FLOPs, exact multiplications and additions, compulsory bytes per operand, the B
rows a sparse kernel's gather fetches, and the dependent (pointer-chasing) loads. The
simulator's mappings read it; :func:`sparsim.models.work.build_work` makes it (and every
name here is importable from :mod:`sparsim.models.work` as well).

>>> w = KernelWork("dense", m=2, k=2, n=2, dtype="fp32", density=1.0, pattern="dense", nnz=4,
...                flops_useful=16, flops_executed=16, multiplications=8, additions=4, bytes_values=16,
...                bytes_index=0, bytes_b=16, bytes_c=16, b_row_fetches=0, dependent_access_depth=0,
...                dependent_accesses=0, math="tensor")
>>> w.bytes_compulsory, w.flops_wasted, round(w.arithmetic_intensity, 3), w.spec.name
(48, 0, 0.333, 'dense')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dtypes import get_dtype
from ..errors import SparsimError
from .kernels import Kernel, kernel_of
from .stats import PatternStats

__all__ = ["KernelWork", "B_LAYOUTS", "row_fetch_bytes"]

#: storage order of the dense operand B (and C)
B_LAYOUTS = ("row", "col")


@dataclass(frozen=True)
class KernelWork:
    """Hardware-free work of one ``C[M×N] = A[M×K] @ B[K×N]`` kernel."""

    kernel: str
    m: int
    k: int
    n: int
    dtype: str
    density: float  # nonzeros of A / (M·K) as modelled
    pattern: str
    nnz: int  # nonzeros of A that carry information (useful)
    flops_useful: int  # 2 · useful MACs (the convention of TFLOP/s figures)
    flops_executed: int  # 2 · MACs the kernel actually issues, zeros included
    multiplications: int  # exact count: useful MACs
    additions: int  # exact count: (nonzeros per row - 1) · N summed over non-empty rows
    bytes_values: int  # A's stored values
    bytes_index: int  # A's indices, pointers and metadata
    bytes_b: int  # compulsory bytes of B (rows of B that some nonzero needs)
    bytes_c: int  # C written once
    b_row_fetches: int  # rows of B (N elements each) a gather fetches, before any cache
    dependent_access_depth: int  # dependent loads before data arrives (CSR 2, COO 1, dense 0)
    dependent_accesses: int  # loads whose address comes from an earlier load
    math: str  # "tensor" | "sparse_tensor" | "vector"
    b_layout: str = "row"
    index_policy: str = "library"
    m_effective: int = 0  # rows of A actually computed (channel pruning shrinks M)
    group_size: int = 1
    block: tuple[int, int] = (1, 1)
    n_blocks: int = 0  # stored blocks (bsr) / row groups (grouped)
    stats: PatternStats | None = field(default=None, repr=False, compare=False)
    #: what the model changed or estimated about the inputs (a sampled pattern, a density
    #: a format cannot hold); a Prediction lists them first among its notes
    notes: tuple[str, ...] = ()
    #: quantized weights (sparsim.models.quantized): the scheme's name; A's stored bytes per
    #: logical element (values, N:M metadata, scales, zeros; 0: the dtype's); CUDA-core
    #: instructions per logical weight element each time a CTA dequantizes it; and the
    #: bytes a separate activation-quantization kernel reads and writes ((0, 0): none)
    quant: str | None = None
    a_element_bytes: float = 0.0
    dequant_ops: float = 0.0
    act_quant_bytes: tuple[int, int] = (0, 0)
    #: the :class:`~sparsim.models.kernels.Kernel` itself (its properties, not its name,
    #: are what the mappings read); ``kernel`` is its name, as a Prediction reports it
    spec: Kernel = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.spec is None:
            object.__setattr__(self, "spec", kernel_of(self.kernel))
        elif self.spec.name != self.kernel:
            raise SparsimError(f"work: kernel {self.kernel!r} with the properties of {self.spec.name!r}; "
                               "allowed: the Kernel of that name")

    @property
    def bytes_a(self) -> int:
        return self.bytes_values + self.bytes_index

    @property
    def bytes_compulsory(self) -> int:
        """Bytes that must cross DRAM at least once: A, the B rows needed, and C."""
        return self.bytes_a + self.bytes_b + self.bytes_c

    @property
    def flops_wasted(self) -> int:
        return self.flops_executed - self.flops_useful

    def bytes_b_gather(self, sector_bytes: int) -> int:
        """Bytes of B a gather touches before any cache, whole memory transactions of
        ``sector_bytes`` (the hardware's: ``HardwareProfile.sector_bytes``, 32 B on NVIDIA GPUs)."""
        if not self.b_row_fetches:
            return 0
        return self.b_row_fetches * int(row_fetch_bytes(self.n, get_dtype(self.dtype).bytes, self.b_layout, sector_bytes))

    @property
    def arithmetic_intensity(self) -> float:
        """Executed FLOPs per compulsory byte (the roofline x-axis)."""
        return self.flops_executed / max(self.bytes_compulsory, 1)

    def prediction_fields(self) -> dict[str, Any]:
        """The fields a Prediction copies from the work, whatever time model made it."""
        names = ("kernel", "m", "k", "n", "dtype", "density", "pattern", "flops_useful", "flops_executed",
                 "bytes_values", "bytes_index", "bytes_b", "bytes_c", "dependent_access_depth",
                 "dependent_accesses", "quant")
        return {name: getattr(self, name) for name in names}

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for name in self.__dataclass_fields__:
            if name in ("stats", "spec"):
                continue
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


def row_fetch_bytes(n, value_bytes: int, b_layout: str, sector_bytes: int):
    """Bytes moved to read ``n`` consecutive elements of one B row (an int or an array),
    whole transactions of ``sector_bytes`` only (the hardware's transfer size, a profile fact).

    Row-major B keeps a row contiguous: ceil(N·b / sector) sectors. Column-major B puts
    consecutive elements of a row K elements apart, so each element costs its own sector
    (course notes: layout decides whether an access walks contiguous memory).

    >>> int(row_fetch_bytes(64, 2, "row", 32)), int(row_fetch_bytes(64, 2, "col", 32))
    (128, 2048)
    """
    if b_layout == "row":
        return -(-np.asarray(n) * value_bytes // sector_bytes) * sector_bytes
    return np.asarray(n) * sector_bytes
