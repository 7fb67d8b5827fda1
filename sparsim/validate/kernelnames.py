"""Which library a GPU kernel belongs to, read from its name as a profiler records it.

A library call shows up in a trace as the kernels it launched, and their names give the
library away: cuBLAS(Lt) on Hopper runs ``nvjet_sm90_...`` kernels (and CUTLASS-derived
``sm90_xmma_gemm_...``, ``sm80_xmma_gemm_...``, ``cutlass_80_simt_sgemm_...`` ones), with
``cublasLt::splitKreduce_kernel`` after a split-K GEMM; cuSPARSELt runs
``sm90_xmma_sparse_gemm_...`` (``sm80_...`` on Ampere) with its tile in the name
(``tilesize128x256x64``); cuSPARSE's SpMM runs ``csrmm_alg2_kernel<..., long, ...>`` after a
``csr_partition_kernel`` (the template arguments say the index type: ``long`` is int64);
PyTorch's BSR @ dense is the Triton kernel ``_bsr_strided_addmm_kernel``. Every name in
the table's examples was measured on an H200 (``sparsim/validate/data/h200-2026-11-29``,
atlas.json and atlas-dtypes.json: PyTorch 2.11, CUDA 13); the names there are cut to 70
characters, so the patterns match prefixes. A name no pattern matches is *unknown*: its
library is None, and it is listed as unknown, never guessed.

>>> k = classify("sm90_xmma_sparse_gemm_f16f16_f16f32_f32_tt_t_tilesize128x256x64_cgasiz")
>>> k.library, k.role, k.tile, k.arch
('cuSPARSELt', 'gemm', (128, 256), 90)
>>> classify("void cusparse::csrmm_alg2_kernel<false, false, false, long, long, long").index_bits
64
>>> classify("fused_matmul_bias_act_kernel").library is None
True
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["KernelKind", "classify", "PATTERNS", "LIBRARIES"]

#: library -> what a report calls it
LIBRARIES = ("cuBLAS", "cuSPARSELt", "cuSPARSE", "CUTLASS 2:4", "PyTorch BSR (Triton)", "Triton", "PyTorch", "CUDA")


@dataclass(frozen=True)
class KernelKind:
    library: str | None  # None: unknown
    #: gemm (the call's main kernel), reduce (split-K), aux (partition, memset, a copy or
    #: fill inside the call), other (not part of a matrix multiply)
    role: str
    tile: tuple[int, int] | None = None
    arch: int | None = None  # 80, 90...: the SM architecture the kernel was built for
    index_bits: int | None = None
    split_k: bool = False
    algorithm: str = ""  # csrmm_alg1 / csrmm_alg2

    @property
    def known(self) -> bool:
        return self.library is not None


# (pattern, library, role, example measured on the H200 or source)
PATTERNS: tuple[tuple[re.Pattern, str | None, str, str], ...] = tuple(
    (re.compile(p), lib, role, example) for p, lib, role, example in (
        (r"cutlass.*[Ss]parse", "CUTLASS 2:4", "gemm",
         "PyTorch's _sparse_semi_structured_linear runs CUTLASS SparseGemm kernels (torch/sparse docs)"),
        (r"xmma_sparse_gemm|cusparseLt|cusparselt", "cuSPARSELt", "gemm",
         "sm90_xmma_sparse_gemm_f16f16_f16f32_f32_tt_t_tilesize128x256x64_cgasiz (atlas)"),
        (r"csr_partition_kernel|partition_kernel", "cuSPARSE", "aux",
         "void cusparse::(anonymous namespace)::csr_partition_kernel<long, long> (atlas)"),
        (r"csrmm_alg\d|coomm|bsrmm|cusparse::|spmm_kernel|SpMM", "cuSPARSE", "gemm",
         "void cusparse::csrmm_alg2_kernel<false, false, false, long, long, long (atlas)"),
        (r"_bsr_strided_addmm_kernel|bsr_dense_addmm|_bsr_", "PyTorch BSR (Triton)", "gemm",
         "_bsr_strided_addmm_kernel (atlas)"),
        (r"splitKreduce|splitK_reduce|reduce_1Block_kernel", "cuBLAS", "reduce",
         "void cublasLt::splitKreduce_kernel<32, 16, int, float, __half, float, (atlas)"),
        (r"^nvjet_|nvjet_sm", "cuBLAS", "gemm", "nvjet_sm90_hsh_128x8_64x12_4x1_v_bz_splitK_TNT (atlas)"),
        (r"xmma_gemm|_gemm_|gemm_kernel|[sdhc]gemm|gemv|Gemv|gemmSN|gemmk1|cutlass.*(gemm|tensorop)|cublas"
         r"|^(ampere|volta|turing|hopper|maxwell)_\w*gemm|s\d+gemm", "cuBLAS",
         "gemm", "sm80_xmma_gemm_f32f32_f32f32_f32_nn_n_tilesize128x32x8_stage3_warpsize; "
                 "void cutlass::Kernel2<cutlass_80_simt_sgemm_256x128_8x4_nn_align1> (atlas-dtypes, fp32 torch.mm)"),
        (r"^triton_.*mm|triton.*_mm_|triton_tem", "Triton", "gemm", "torch.compile (Inductor) GEMM templates"),
        (r"^Memset|^Memcpy", "CUDA", "aux", "Memset (Device) beside the cuSPARSELt kernel (atlas)"),
        (r"at::native::|elementwise_kernel|FillFunctor", "PyTorch", "aux",
         "void at::native::vectorized_elementwise_kernel<8, at::native::FillFunc (atlas, BSR output fill)"),
    ))

_TILE = (re.compile(r"tilesize(\d+)x(\d+)x\d+"), re.compile(r"nvjet_sm\d+_[a-z]+_(\d+)x(\d+)_"),
         re.compile(r"_(\d+)x(\d+)_\d+x\d+_"))
_ARCH = re.compile(r"\bsm_?(\d{2,3})[a-z]?_|cutlass_(\d{2,3})_")
_INDEX = re.compile(r"<[^<>]*?\b(long|int)\b")


@functools.lru_cache(maxsize=4096)
def classify(name: str) -> KernelKind:
    """The library, role and the facts a kernel's name holds."""
    for pattern, library, role, _ in PATTERNS:
        if pattern.search(name):
            break
    else:
        return KernelKind(None, "other")
    tile = None
    for tile_pattern in _TILE:
        m = tile_pattern.search(name)
        if m:
            tile = (int(m.group(1)), int(m.group(2)))
            break
    arch_match = _ARCH.search(name)
    arch = int(arch_match.group(1) or arch_match.group(2)) if arch_match else None
    index_bits = None
    if library == "cuSPARSE":
        m = _INDEX.search(name)
        index_bits = {"long": 64, "int": 32}.get(m.group(1)) if m else None
    algorithm = (re.search(r"csrmm_alg\d", name) or [""])[0] if library == "cuSPARSE" else ""
    return KernelKind(library, role, tile=tile if role == "gemm" else None, arch=arch, index_bits=index_bits,
                      split_k="splitK" in name or role == "reduce", algorithm=algorithm)
