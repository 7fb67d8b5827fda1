"""What a kernel must do, hardware-free: storage formats, sparsity patterns and their
statistics, per-kernel work, and known network layer shapes.

>>> from sparsim.models import build_work
>>> build_work("2:4", m=64, k=64, n=64, dtype="fp16").dependent_access_depth
0
"""

from .kernels import Kernel, kernel_of
from .formats import (INDEX_POLICIES, Storage, bsr_storage, channel_storage, coo_storage, csr_arrays,
                      csr_storage, dense_storage, index_width_bytes, nm_storage, storage_of)
from .patterns import (PATTERNS, SparsityPattern, channel_prune, from_mask, from_scipy, generate,
                       load_weights, magnitude_prune, nm_prune)
from .stats import PatternStats, pattern_stats
from .work import B_LAYOUTS, KERNELS, KernelWork, build_work

__all__ = [
    "INDEX_POLICIES", "Storage", "bsr_storage", "channel_storage", "coo_storage", "csr_arrays",
    "csr_storage", "dense_storage", "index_width_bytes", "nm_storage", "storage_of",
    "PATTERNS", "SparsityPattern", "channel_prune", "from_mask", "from_scipy", "generate",
    "load_weights", "magnitude_prune", "nm_prune", "PatternStats", "pattern_stats",
    "B_LAYOUTS", "KERNELS", "Kernel", "KernelWork", "build_work", "kernel_of",
]
