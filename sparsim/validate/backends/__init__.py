"""Backends that run kernel specs on real hardware: ``numpy`` (host CPU), ``cupy`` (GPU:
cuBLAS, cuSPARSE, cuSPARSELt) and ``torch`` (GPU: PyTorch eager calls).

All share :class:`~sparsim.validate.backends.base.Backend`: ``run(spec) -> Measurement``.

>>> sorted(BACKENDS)
['cupy', 'numpy', 'torch']
"""

from __future__ import annotations

from ...errors import check_choice
from ..timing import QUICK, TimingPolicy
from .base import Backend, Measurement, Unsupported

__all__ = ["Backend", "Measurement", "Unsupported", "BACKENDS", "get_backend"]

BACKENDS = ("numpy", "cupy", "torch")


def get_backend(name: str, *, policy: TimingPolicy = QUICK, hw: str | None = None) -> Backend:
    """A ready backend; ``hw`` overrides its profile (numpy: ``host``; cupy: matched by name)."""
    check_choice("--backend", name, BACKENDS)
    if name == "numpy":
        from .numpy_backend import NumpyBackend

        return NumpyBackend(policy=policy, hw=hw or "host")
    if name == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend(policy=policy, hw=hw)
    from .cupy_backend import CupyBackend

    return CupyBackend(policy=policy, hw=hw)
