"""Why one traced matrix multiply took what it took, and what would change it.

For the path that ran (library, plan, index width, B layout, read from the kernels and
shapes: :mod:`sparsim.validate.matmuls`) sparsim predicts one call with
:func:`sparsim.predict`; the host work per call is PyTorch eager's (the ``torch``
implementation's rule), since the trace is PyTorch's. Beside the measured kernel and host
time per call, a :class:`Diagnosis` names the causes of the gap among those the model
knows, each tested on the trace's own facts:

* **per-call plan set-up**: ``_cslt_sparse_mm`` spends far more host time than its kernels
  (PyTorch builds cuSPARSELt descriptors and a plan on every call);
* **default plan on a skinny N**: cuSPARSELt's default algorithm ran its fixed tile on an N
  narrower than that tile;
* **tile padding**: the traced tile (in the kernel's name) covers at least 1.5x the output;
* **int64 indices**: cuSPARSE ran its ``long`` kernels (PyTorch's sparse tensors default
  to int64 indices);
* **column-major B**: the dense operand's strides are column-major, or cuSPARSE picked
  ``csrmm_alg1``;
* **warm vs cold L2**: the kernels ran well under the (cold-L2) prediction while A, B and C
  fit in L2 and the call repeated;
* **dense fallback**: a sparse operand was multiplied by cuBLAS as a dense matrix;
* **launch-bound**: the host work per call is longer than the kernels, so the GPU waits.

Alternatives are other implementations and knobs predicted on the same problem;
``gain`` = predicted time per call of the path that ran / that of the alternative.

>>> d = PathSpec("dense", "torch", label="torch.mm -> cuBLAS")
>>> t = predict_path(d, 4096, 4096, 16, "fp16", "h200-sxm-141gb")
>>> t.impl, round(t.kernel_s * 1e6), round(t.host_s * 1e6)
('torch', 16, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import SparsimError
from ..units import prose_bytes, prose_seconds

__all__ = ["PathSpec", "PathTime", "Alternative", "predict_path", "path_that_ran", "alternatives", "causes"]


class PathSpec(NamedTuple):
    kernel: str
    impl: str
    options: tuple = ()  # (key, value) pairs for sparsim.predict
    host_impl: str | None = None  # take the host seconds from this implementation's rule
    label: str = ""


@dataclass(frozen=True)
class PathTime:
    impl: str
    label: str
    kernel_s: float
    host_s: float
    prediction: object = field(default=None, repr=False, compare=False)

    @property
    def time_s(self) -> float:
        return self.kernel_s + self.host_s


@dataclass(frozen=True)
class Alternative:
    impl: str
    predicted_time_s: float
    gain: float
    kernel_s: float
    host_s: float


def predict_path(spec: PathSpec, m: int, k: int, n: int, dtype: str, hw, *, density: float = 1.0,
                 calibration=None) -> PathTime:
    """One call of ``spec`` predicted (kernels + host work per call)."""
    from ..api import predict
    from ..impls import get_impl

    options = dict(spec.options)
    sparse = spec.kernel in ("csr", "coo", "bsr")
    p = predict(spec.kernel, m=m, k=k, n=n, hw=hw, dtype=dtype, density=density if sparse else 1.0,
                impl=spec.impl, calibration=calibration, compare=False, **options)
    host = p.overhead_s
    if spec.host_impl:
        host = get_impl(spec.host_impl).rule(spec.kernel).host_s
    return PathTime(spec.impl, spec.label or spec.impl, p.kernel_s, host, p)


def _default_tile(kernel: str, dtype: str, cc: str | None):
    from ..impls import get_impl

    try:
        tiles = get_impl("cusparselt").rule(kernel).tiles_for(cc=cc, dtype=dtype)
    except SparsimError:
        return None
    return tuple(tiles[0]) if tiles else None


def path_that_ran(call, kinds, cc: str | None) -> PathSpec | None:
    """The sparsim path of a traced call (None: no model of what ran)."""
    from ..impls import impl_names

    kernel, library = call.kernel, call.library
    dtype = call.problem.dtype if call.problem else None
    main = next((k for k in kinds if k.role == "gemm" and k.known), None)
    if library == "cuBLAS":
        return PathSpec("dense", "torch", label="torch matmul -> cuBLAS")
    if library == "cuSPARSELt":
        default = _default_tile(kernel, dtype, cc)
        searched = (call.alg_id or 0) != 0 or (main is not None and main.tile is not None and default is not None
                                               and main.tile != default)
        if searched:
            return PathSpec(kernel, "cusparselt-search", host_impl="torch",
                            label="_cslt_sparse_mm -> cuSPARSELt searched plan")
        return PathSpec(kernel, "torch", label="_cslt_sparse_mm -> cuSPARSELt default plan")
    if library == "CUTLASS 2:4":
        return PathSpec("2:4", "cutlass-2:4", label="CUTLASS 2:4") if "cutlass-2:4" in impl_names() else None
    if library == "cuSPARSE":
        bits = next((k.index_bits for k in kinds if k.index_bits), 64)
        col = (call.problem is not None and call.problem.b_col_major) or (main is not None
                                                                         and main.algorithm == "csrmm_alg1")
        if kernel == "coo":
            return PathSpec("coo", "torch", label="torch.sparse.mm(COO) -> cuSPARSE")
        options = (("index_policy", "int64" if bits == 64 else "library"), ("b_layout", "col" if col else "row"))
        return PathSpec("csr", "torch", options, label=f"A_csr @ B -> cuSPARSE (int{bits}{', column-major B' if col else ''})")
    if library == "PyTorch BSR (Triton)":
        return PathSpec("bsr", "torch", (("block", call.block or 16),), label="A_bsr @ B -> Triton BSR")
    return None


def alternatives(call, ran: PathSpec, fallback: bool) -> list[tuple[str, PathSpec]]:
    """(name, path) of the changes worth predicting for this call."""
    kernel = call.kernel
    out = []
    if ran.kernel == "dense" and not fallback:
        out.append(("cublas (CUDA graphs or torch.compile: no per-call host work)", PathSpec("dense", "cublas")))
        out.append(("2:4 pruning, cusparselt-search (plan built once)", PathSpec("2:4", "cusparselt-search")))
    if fallback:
        out.append(("csr (torch, int64)", PathSpec("csr", "torch")))
        out.append(("2:4, cusparselt-search (plan built once)", PathSpec("2:4", "cusparselt-search")))
    if kernel in ("2:4", "1:2"):
        out.append(("cusparselt-search (plan searched and built once)", PathSpec(kernel, "cusparselt-search")))
        out.append(("cusparselt (default plan built once)", PathSpec(kernel, "cusparselt")))
        out.append(("dense torch.mm (cuBLAS)", PathSpec("dense", "torch")))
    if kernel == "csr":
        opts = dict(ran.options)
        if opts.get("index_policy") == "int64":
            out.append(("torch with int32 indices", PathSpec("csr", "torch", (("index_policy", "library"),
                                                                              ("b_layout", opts.get("b_layout", "row"))))))
        if opts.get("b_layout") == "col":
            out.append(("torch with row-major B", PathSpec("csr", "torch", (("index_policy", opts.get("index_policy")),
                                                                            ("b_layout", "row")))))
        out.append(("cusparse (int32, row-major B, no PyTorch host work)", PathSpec("csr", "cusparse")))
        out.append(("dense torch.mm (cuBLAS)", PathSpec("dense", "torch")))
    if kernel == "coo":
        out.append(("csr (A.to_sparse_csr() once)", PathSpec("csr", "torch")))
        out.append(("dense torch.mm (cuBLAS)", PathSpec("dense", "torch")))
    if kernel == "bsr":
        out.append(("dense torch.mm (cuBLAS)", PathSpec("dense", "torch")))
        out.append(("csr (torch, int64)", PathSpec("csr", "torch")))
    return out


def _padding(tile, m: int, n: int) -> float:
    """Output elements the tiles cover / elements of C, the better of both orientations."""
    def cover(a, b):
        return (-(-m // a) * a) * (-(-n // b) * b) / (m * n)

    return min(cover(tile[0], tile[1]), cover(tile[1], tile[0]))


def causes(call, kinds, ran: PathSpec | None, pred: PathTime | None, measured_kernel_s: float,
           measured_host_s: float, calls: int, profile, fallback: bool, alts: dict) -> list[str]:
    """The named causes that the trace's facts support for this call, most specific first."""
    out = []
    p = call.problem
    main = next((k for k in kinds if k.role == "gemm" and k.known), None)
    plan_setup = False
    if call.library == "cuSPARSELt" and measured_host_s > max(100e-6, 3 * measured_kernel_s):
        plan_setup = True
        out.append(f"per-call plan set-up: {prose_seconds(measured_host_s)} of host work per call around "
                   f"{prose_seconds(measured_kernel_s)} of kernels (PyTorch's _cslt_sparse_mm builds the cuSPARSELt "
                   "descriptors and plan on every call)")
    if call.library == "cuSPARSELt" and ran is not None and ran.impl == "torch" and main and main.tile and p:
        if p.n < main.tile[1]:
            best = alts.get("cusparselt-search (plan searched and built once)")
            tail = f"; a searched plan's kernels are predicted {prose_seconds(best.kernel_s)}" if best else ""
            out.append(f"default plan on a skinny N: the default algorithm's {main.tile[0]}x{main.tile[1]} tile "
                       f"for N = {p.n}{tail}")
    if main and main.tile and p:
        cover = _padding(main.tile, p.m, p.n)
        if cover >= 1.5:
            out.append(f"tile padding: {main.tile[0]}x{main.tile[1]} tiles cover {cover:.1f}x the {p.m}x{p.n} output")
    if call.library == "cuSPARSE" and any(k.index_bits == 64 for k in kinds):
        alt = alts.get("torch with int32 indices")
        tail = f"; with int32 indices predicted {pred.time_s / alt.predicted_time_s:.2f}x faster" if alt and pred else ""
        out.append(f"int64 indices: cuSPARSE ran its int64 (long) kernels{tail}")
    if call.kernel in ("csr", "coo") and ran is not None and dict(ran.options).get("b_layout") == "col":
        why = "B's strides are column-major" if p and p.b_col_major else "cuSPARSE picked csrmm_alg1"
        out.append(f"column-major B: {why}, so each nonzero gathers B one element per sector")
    if fallback:
        out.append("dense fallback: the sparse operand was multiplied by cuBLAS as a dense matrix")
    if pred is not None and pred.prediction is not None and calls >= 2 and measured_kernel_s < 0.8 * pred.kernel_s:
        q = pred.prediction
        working = q.bytes_values + q.bytes_index + q.bytes_b + q.bytes_c
        if working <= profile.l2_bytes:
            out.append(f"warm L2: A, B and C ({prose_bytes(working)}) fit the {prose_bytes(profile.l2_bytes)} L2 and "
                       f"the call repeats; the prediction assumes a cold L2 (kernels {measured_kernel_s / pred.kernel_s:.2f}x "
                       "the prediction)")
    if not plan_setup and measured_host_s > measured_kernel_s:
        out.append(f"launch-bound: {prose_seconds(measured_host_s)} of host work per call for "
                   f"{prose_seconds(measured_kernel_s)} of kernels; the GPU waits for the host")
    if main and main.arch and profile.compute_capability:
        device_arch = int(profile.compute_capability.replace(".", ""))
        if main.arch < device_arch and call.library in ("cuSPARSELt", "CUTLASS 2:4"):
            out.append(f"a kernel built for sm{main.arch} runs on an sm{device_arch} GPU")
    if pred is not None and not out and measured_kernel_s > 0:
        ratio = measured_kernel_s / pred.kernel_s if pred.kernel_s > 0 else float("inf")
        if not 0.7 <= ratio <= 1.3:
            out.append(f"unexplained: the kernels took {ratio:.2f}x the prediction, and none of the causes the model "
                       "knows fits")
    return out
