"""The library entry point: ``sparsim.predict``.

One call counts a kernel's work (:mod:`sparsim.models`), loads the hardware profile and
optional calibration, and asks a time model (:mod:`sparsim.simulator`) for a
:class:`~sparsim.prediction.Prediction`.

>>> import sparsim
>>> p = sparsim.predict("csr", m=4096, k=4096, n=256, hw="h100-sxm5-80gb", density=0.1)
>>> p.dependent_access_depth, p.kernel
(2, 'csr')
"""

from __future__ import annotations

from pathlib import Path

from .calibration import Calibration, load_calibration
from .errors import check_choice
from .hwprofiles import HardwareProfile, load_profile
from .models.patterns import load_weights
from .models.work import build_work
from .prediction import Prediction
from .simulator import MODELS, predict_work

__all__ = ["predict", "MODELS"]


def _load_hw(hw):
    """The profile; ``"host"`` first brings in the host microbenchmarks (validation layer)."""
    if isinstance(hw, (str, Path)) and str(hw) == "host":
        from .validate import hostbench  # noqa: F401 - registers the measurer with hwprofiles.host
    return load_profile(hw)


def predict(
    kernel: str,
    *,
    m: int,
    k: int,
    n: int,
    hw: str | Path | HardwareProfile,
    dtype: str = "fp16",
    density: float = 1.0,
    pattern: str = "uniform",
    calibration: str | Path | Calibration | None = None,
    model: str = "des",
    seed: int = 0,
    **options,
) -> Prediction:
    """Predict ``C[M×N] = A[M×K] @ B[K×N]`` with kernel ``kernel`` on profile ``hw``.

    ``options`` go to :func:`sparsim.models.build_work` (``index_policy``, ``b_layout``,
    ``group_size``, ``block``, ``weights`` as an array or a .npy/.safetensors path,
    ``weights_tensor`` to pick a tensor, ``sparsity_pattern``, ``pattern_options``).
    """
    check_choice("--model", model, MODELS)
    profile = _load_hw(hw)
    cal = load_calibration(calibration)
    if cal is not None:
        cal.check_profile(profile.name)
    weights = options.pop("weights", None)
    tensor = options.pop("weights_tensor", None)
    if isinstance(weights, (str, Path)):
        weights = load_weights(weights, name=tensor)
    work = build_work(kernel, m=m, k=k, n=n, dtype=dtype, density=density, pattern=pattern,
                      seed=seed, weights=weights, **options)
    return predict_work(work, profile, cal, model=model, seed=seed)
