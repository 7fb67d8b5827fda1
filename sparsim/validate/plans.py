"""Measurement plans: the built-in sweeps each backend times, and their train/test split.

A plan is a list of :class:`~sparsim.validate.measurespec.MeasureSpec` (``sparsim
calibrate`` measures :func:`plan`; the GPU atlas :func:`atlas_plan`). Train shapes and
test shapes never overlap; the test set also has densities and patterns (row-skewed,
block) that no training point has. :func:`split_by_shape` labels specs measured without a
plan: a shape is wholly in one set.

>>> specs = plan("numpy", quick=True)
>>> len(specs), sorted({s.split for s in specs}), sorted({s.kernel for s in specs})
(84, ['test', 'train'], ['coo', 'csr', 'dense'])
>>> train = {s.shape for s in specs if s.split == "train"}
>>> any(s.shape in train for s in specs if s.split == "test")
False
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from ..errors import check_choice
from .measurespec import MEASURED_KERNELS, MeasureSpec

__all__ = ["plan", "PLANS", "atlas_plan", "split_by_shape", "ATLAS_SHAPES", "ATLAS_N", "ATLAS_DENSITIES"]


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
