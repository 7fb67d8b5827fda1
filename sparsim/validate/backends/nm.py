"""Which library runs 2:4 sparse matmuls on this GPU, and how.

Tried in order, the first that loads wins and is recorded with every 2:4 measurement:

1. ``cupy_backends.cuda.libs.cusparselt`` — CuPy's cuSPARSELt binding (absent from the
   CuPy 14 wheels, present in some builds);
2. ``torch.sparse.to_sparse_semi_structured`` — PyTorch's semi-structured tensors, which
   run on cuSPARSELt when ``torch.backends.cusparselt.is_available()`` and on CUTLASS
   otherwise (the class name of the tensor says which);
3. none: every 2:4 point is recorded as ``"2:4 unavailable: <why each one failed>"``.

>>> lib = select_nm_library(import_module=_refuse_all)
>>> lib.available, lib.reason.startswith("2:4 unavailable: cupy_backends.cuda.libs.cusparselt:")
(False, True)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["NmLibrary", "select_nm_library", "NM_DTYPES"]

#: 2:4 runs on sparse tensor cores for these (cuSPARSELt; fp32 would be 1:2 as tf32)
NM_DTYPES = ("fp16", "bf16")


@dataclass(frozen=True)
class NmLibrary:
    name: str  # "cusparselt (cupy_backends)", "torch ...", or "none"
    available: bool
    reason: str = ""  # why it is unavailable (the whole chain), "" when available
    module: object = None


def _refuse_all(name):
    raise ModuleNotFoundError(f"No module named {name!r}")


def select_nm_library(import_module=importlib.import_module) -> NmLibrary:
    """Find a 2:4 library; ``import_module`` is injectable so the chain is testable."""
    why = []
    try:
        module = import_module("cupy_backends.cuda.libs.cusparselt")
        return NmLibrary("cuSPARSELt (cupy_backends.cuda.libs.cusparselt)", True, module=module)
    except Exception as exc:  # noqa: BLE001 - ImportError, or a missing libcusparseLt.so
        why.append(f"cupy_backends.cuda.libs.cusparselt: {type(exc).__name__}: {exc}")
    try:
        torch = import_module("torch")
        if not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is False")
        if not hasattr(getattr(torch, "sparse", None), "to_sparse_semi_structured"):
            raise AttributeError(f"torch {torch.__version__} has no torch.sparse.to_sparse_semi_structured (needs >= 2.1)")
        cslt = getattr(getattr(torch.backends, "cusparselt", None), "is_available", lambda: False)()
        label = "cuSPARSELt" if cslt else "CUTLASS"
        return NmLibrary(f"torch {torch.__version__} to_sparse_semi_structured ({label})", True, module=torch)
    except Exception as exc:  # noqa: BLE001
        why.append(f"torch: {type(exc).__name__}: {exc}")
    return NmLibrary("none", False, reason="2:4 unavailable: " + "; ".join(why))
