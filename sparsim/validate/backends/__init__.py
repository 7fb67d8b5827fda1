"""Backends that run kernel specs on real hardware: ``numpy`` (host CPU), ``cupy`` (GPU:
cuBLAS, cuSPARSE, cuSPARSELt) and ``torch`` (GPU: PyTorch eager calls).

All share :class:`~sparsim.validate.backends.base.Backend`: ``run(spec) -> Measurement``.

>>> sorted(BACKENDS)
['cupy', 'numpy', 'torch']
"""

from __future__ import annotations

from ...errors import SparsimError, check_choice, shown
from ..timing import QUICK, TimingPolicy
from .base import Backend, Measurement, Unsupported

__all__ = ["Backend", "Measurement", "Unsupported", "BACKENDS", "BACKEND_KIND", "get_backend", "check_backend_hw"]

BACKENDS = ("numpy", "cupy", "torch")
#: the kind of hardware each backend times: numpy this CPU, cupy and torch the GPU
BACKEND_KIND = {"numpy": "cpu", "cupy": "gpu", "torch": "gpu"}


def check_backend_hw(backend: str, hw) -> None:
    """Refuse, before anything is measured, a ``--hw`` the backend cannot have measured:
    an unknown or invalid profile, a GPU profile for ``numpy`` (which times this CPU: its
    numbers written as an H100's would make every H100 prediction "calibrated" on a CPU),
    a CPU profile for a GPU backend, or the profile of another CPU. ``None`` and ``host``
    pass (the backend's own profile)."""
    from ...hwprofiles import load_profile

    check_choice("--backend", backend, BACKENDS)
    if hw is None or hw == "host":
        return
    profile = load_profile(hw)
    want = BACKEND_KIND[backend]
    if profile.kind != want:
        raise SparsimError(f"--hw: got {shown(str(hw))}, a {profile.kind.upper()} profile, with --backend {backend}, "
                           f"which times {'this CPU' if want == 'cpu' else 'the GPU'}; allowed: "
                           + ("--hw host (or this CPU's measured profile)" if want == "cpu"
                              else "a GPU profile (see 'sparsim hw list')"))
    if want == "cpu":
        from ...hwprofiles.host import detect_host, host_name

        here = host_name(detect_host())
        if profile.name != here:
            raise SparsimError(f"--hw: got {shown(str(hw))}, the profile {shown(profile.name)} of another CPU; "
                               f"allowed: host or this CPU's profile ({here})")


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
