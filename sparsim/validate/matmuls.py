"""The matrix multiplies of a profiler trace: each call, its problem, and the kernels it ran.

A call is the outermost matrix-multiply operator on a host thread (``aten::linear``
holding ``aten::addmm``, ``aten::matmul`` holding ``aten::mm``, ``aten::linear`` on a
semi-structured weight holding ``aten::_cslt_sparse_mm``). Its GPU work is every kernel,
memset and copy launched while it or an operator inside it ran (tied by ``External id``,
else by the launch's ``correlation`` and the thread's operator nesting; see
:mod:`sparsim.validate.trace`). Its problem comes from the recorded input shapes, in
sparsim's convention ``C[M×N] = A[M×K] @ B[K×N]``:

* ``aten::linear(x[..., K], W[O, K])``: A is the weight, ``M = O``, ``N`` = the rows of x;
* ``aten::mm(A[M, K], B[K, N])`` and ``addmm(bias, A, B)``: as written;
* ``aten::_cslt_sparse_mm(A_compressed, B[K, N], ...)``: ``M`` is the compressed tensor's
  first dimension (PyTorch >= 2.6 keeps ``[M, S]``; before, a 1-D buffer of
  ``M·K·9/16`` elements, ``M·K·10/16`` for int8: aten/src/ATen/native/sparse/cuda/
  cuSPARSELtOps.cpp), ``alg_id`` is its 7th argument (``Concrete Inputs``);
* a sparse operand (CSR, COO, BSR) is recorded with its logical sizes and no strides.

The format comes from the kernels (:mod:`sparsim.validate.kernelnames`): cuSPARSELt ->
2:4 (1:2 for fp32), cuSPARSE -> CSR (COO when the call coalesced or converted COO
indices), PyTorch's Triton BSR kernel -> BSR, cuBLAS -> dense. The number of nonzeros is
read from the sparse tensor's construction in the trace when it was recorded
(``aten::_sparse_csr_tensor_unsafe(crow[M+1], col[nnz], values[nnz], ...)``), else the
caller gives a density.

>>> from sparsim.validate.trace import CpuOp, OpShapes
>>> op = CpuOp("aten::linear", 0.0, 20.0, 1, 1, 3, OpShapes(((1, 16, 4096), (11008, 4096), ()),
...            ("c10::Half", "c10::Half", ""), ((65536, 4096, 1), (4096, 1), None)))
>>> problem_of(op)
Problem(m=11008, k=4096, n=16, dtype='fp16', sparse_operand=False, b_col_major=False)
"""

from __future__ import annotations

import bisect
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from ..models.kernels import KERNEL_OBJECTS, Kernel
from .kernelnames import classify
from .trace import CpuOp, GpuActivity, Trace

__all__ = ["MATMUL_OPS", "MatmulCall", "Problem", "find_calls", "problem_of", "dtype_of", "densified", "Linked", "link"]

#: operators that are one matrix multiply (their outermost one on a thread is the call)
MATMUL_OPS = frozenset({
    "aten::mm", "aten::addmm", "aten::matmul", "aten::linear", "aten::_scaled_mm", "aten::_cslt_sparse_mm",
    "aten::_sparse_semi_structured_linear", "aten::_sparse_semi_structured_mm", "aten::_sparse_semi_structured_addmm",
    "aten::_sparse_mm", "aten::sparse_mm", "aten::_sparse_addmm", "aten::addmm_", "aten::_int_mm",
})
#: TF32 tensor-core kernels: CUTLASS/cuBLAS name TF32 MMA (m16n8k8) GEMMs "s1688gemm", "tf32"
_TF32 = re.compile(r"s1688gemm|s16816gemm_tf32|tf32")
_COO_HINTS = frozenset({"aten::coalesce", "aten::_coalesce", "aten::_convert_indices_from_coo_to_csr"})
_DENSIFY = frozenset({"aten::to_dense", "aten::_to_dense", "aten::_sparse_csr_to_dense"})
#: PyTorch's type names in "Input type" (c10 TypeMeta names; gcc and clang spell int64 differently)
_DTYPES = {"c10::Half": "fp16", "c10::BFloat16": "bf16", "float": "fp32", "double": "fp64", "signed char": "int8",
           "int8_t": "int8", "c10::Float8_e4m3fn": "fp8", "c10::Float8_e5m2": "fp8", "c10::Float8_e4m3fnuz": "fp8",
           "c10::Float8_e5m2fnuz": "fp8"}
_CONSTRUCT = {"aten::_sparse_csr_tensor_unsafe": "csr", "aten::sparse_csr_tensor": "csr",
              "aten::_sparse_compressed_tensor_unsafe": "csr", "aten::sparse_compressed_tensor": "csr",
              "aten::_sparse_bsr_tensor_unsafe": "bsr", "aten::sparse_bsr_tensor": "bsr",
              "aten::_sparse_coo_tensor_unsafe": "coo", "aten::sparse_coo_tensor": "coo",
              "aten::_sparse_coo_tensor_with_dims_and_tensors": "coo"}


class Problem(NamedTuple):
    m: int
    k: int
    n: int
    dtype: str | None
    sparse_operand: bool
    b_col_major: bool


@dataclass(frozen=True)
class MatmulCall:
    op: str
    ts: float  # microseconds, host
    dur: float
    tid: int
    problem: Problem | None
    kernel: str  # dense, 2:4, 1:2, csr, coo, bsr, or "unknown"
    library: str | None  # the main kernel's library; None: unknown
    gpu: tuple[GpuActivity, ...]
    children: frozenset[str]
    alg_id: int | None = None
    nnz: int | None = None
    block: int | None = None
    index: int = -1  # the call's operator in trace.ops

    @property
    def kernel_us(self) -> float:
        return sum(g.dur for g in self.gpu)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.name for g in self.gpu))


def dtype_of(type_name: str) -> str | None:
    return _DTYPES.get(type_name)


def _rows(dims) -> int:
    return math.prod(dims[:-1]) if len(dims) >= 2 else 1


def problem_of(op: CpuOp) -> Problem | None:
    """M, K, N, dtype of one operator from its recorded shapes (None if not readable)."""
    problem = _problem_of(op)
    if problem is None or min(problem.m, problem.k, problem.n) < 1:
        return None  # an empty or malformed shape: nothing to predict
    return problem


def _problem_of(op: CpuOp) -> Problem | None:
    s = op.shapes
    if s is None:
        return None
    dims, types, strides = s.dims, s.types, s.strides

    def dtype(i):
        return dtype_of(types[i]) if i < len(types) else None

    def sparse(i):
        return i < len(strides) and len(dims[i]) >= 2 and strides[i] == ()

    def col_major(i):
        st, d = (strides[i] if i < len(strides) else None), dims[i]
        return bool(st) and len(st) == 2 and st[0] == 1 and d[0] > 1 and d[1] > 1 and st[1] >= d[0]

    name = op.name
    try:
        if name in ("aten::linear", "aten::_sparse_semi_structured_linear"):
            x, w = dims[0], dims[1]
            k = x[-1]
            return Problem(w[0], k, _rows(x), dtype(0) or dtype(1), sparse(1) or sparse(0), False)
        if name == "aten::_cslt_sparse_mm":
            a, b = dims[0], dims[1]
            k, n = b[0], b[1]
            if len(a) == 2:
                m = a[0]
            else:  # PyTorch < 2.6: a flat buffer of M*K*9/16 (int8: 10/16) elements
                factor = 10 if dtype(0) == "int8" else 9
                m = a[0] * 16 // factor // k
            return Problem(m, k, n, dtype(1) or dtype(0), True, col_major(1))
        if name in ("aten::addmm", "aten::addmm_", "aten::_sparse_addmm", "aten::_sparse_semi_structured_addmm"):
            a, b = dims[1], dims[2]
            return Problem(a[0], a[1], b[1], dtype(1) or dtype(2), sparse(1), col_major(2))
        if name in ("aten::mm", "aten::_scaled_mm", "aten::_int_mm", "aten::_sparse_mm", "aten::sparse_mm",
                    "aten::_sparse_semi_structured_mm"):
            a, b = dims[0], dims[1]
            return Problem(a[0], a[1], b[1], dtype(0) or dtype(1), sparse(0), col_major(1))
        if name == "aten::matmul":
            a, b = dims[0], dims[1]
            if len(b) != 2:
                return None
            return Problem(_rows(a), a[-1], b[1], dtype(0) or dtype(1), sparse(0), col_major(1))
    except (IndexError, ZeroDivisionError):
        return None
    return None


class Linked(NamedTuple):
    """GPU activities sorted by who launched them."""

    calls: dict  # root op index -> [GpuActivity]
    other: list  # (owner op name or "", GpuActivity) for work outside matrix multiplies
    parent: list
    root_of: list
    launch_of: dict  # correlation -> Launch


def link(trace: Trace) -> Linked:
    ops = trace.ops
    parent = [-1] * len(ops)
    by_tid: dict[int, list[int]] = defaultdict(list)
    stacks: dict[int, list[int]] = defaultdict(list)
    for i, op in enumerate(ops):  # sorted by (ts, -dur): an enclosing op comes first
        stack = stacks[op.tid]
        while stack and ops[stack[-1]].ts + ops[stack[-1]].dur < op.ts:
            stack.pop()
        parent[i] = stack[-1] if stack else -1
        stack.append(i)
        by_tid[op.tid].append(i)
    root_of: list[int | None] = [None] * len(ops)
    for i, op in enumerate(ops):
        above = root_of[parent[i]] if parent[i] >= 0 else None
        root_of[i] = above if above is not None else (i if op.name in MATMUL_OPS else None)
    by_ext = {}
    for i, op in enumerate(ops):
        if op.ext:
            by_ext.setdefault(op.ext, i)
    starts = {tid: [ops[i].ts for i in idx] for tid, idx in by_tid.items()}
    launch_of = {launch.correlation: launch for launch in trace.launches if launch.correlation}

    def holding(tid, t):
        idx = by_tid.get(tid)
        if not idx:
            return None
        j = bisect.bisect_right(starts[tid], t) - 1
        i = idx[j] if j >= 0 else -1
        while i >= 0 and ops[i].ts + ops[i].dur < t:
            i = parent[i]
        return i if i >= 0 else None

    calls: dict[int, list] = defaultdict(list)
    other = []
    for g in trace.gpu:
        launch = launch_of.get(g.correlation)
        owner = None
        for ext in (g.ext, launch.ext if launch else 0):
            i = by_ext.get(ext) if ext else None
            if i is not None and (launch is None or (ops[i].tid == launch.tid
                                                     and ops[i].ts - 1 <= launch.ts <= ops[i].ts + ops[i].dur + 1)):
                owner = i
                break
        if owner is None and launch is not None:
            owner = holding(launch.tid, launch.ts)
        root = root_of[owner] if owner is not None else None
        if root is not None:
            calls[root].append(g)
        else:
            other.append((ops[owner].name if owner is not None else "", g))
    return Linked(calls, other, parent, root_of, launch_of)


#: the properties of no kernel (a call sparsim does not name)
_NO_KERNEL = Kernel("", "gemm")


def spec_of(name) -> Kernel:
    """The :class:`~sparsim.models.kernels.Kernel` called ``name`` (a kernel of none: no properties)."""
    return KERNEL_OBJECTS.get(name, _NO_KERNEL)


def _construction(trace: Trace):
    out = []
    for op in trace.ops:
        fmt = _CONSTRUCT.get(op.name)
        if fmt and op.shapes and len(op.shapes.dims) >= 3:
            out.append((op.ts, fmt, op.shapes.dims))
    return out


def _nonzeros(built, fmt: str, problem: Problem, before: float):
    """(nnz, block) of the latest sparse tensor built with this call's M, or (None, None)."""
    best = None
    for ts, kind, dims in built:
        try:
            built_as, called_as = spec_of(kind), spec_of(fmt)
            if built_as.coordinates and called_as.coordinates and len(dims[0]) == 2:
                found = (dims[0][1], None)
            elif built_as.row_pointers and called_as.row_pointers:
                rows = dims[0][0] - 1
                values = dims[2]
                if len(values) == 3:  # BSR: values[nnzb, bs, bs]
                    if rows * values[1] != problem.m:
                        continue
                    found = (values[0] * values[1] * values[2], values[1])
                elif rows == problem.m:
                    found = (dims[1][0], None)
                else:
                    continue
            else:
                continue
        except IndexError:
            continue
        if best is None or ts <= before:
            best = found
    return best or (None, None)


def _format(library: str | None, dtype: str | None, children: frozenset, problem: Problem | None) -> str:
    if library in ("cuSPARSELt", "CUTLASS 2:4"):
        return "1:2" if dtype in ("fp32", "tf32") else "2:4"
    if library == "cuSPARSE":
        return "coo" if children & _COO_HINTS else "csr"
    if library == "PyTorch BSR (Triton)":
        return "bsr"
    if library in ("cuBLAS", "Triton"):
        return "dense"
    return "unknown"


def find_calls(trace: Trace, linked: Linked | None = None) -> list[MatmulCall]:
    """Every matrix-multiply call of the trace, in time order."""
    linked = linked or link(trace)
    ops = trace.ops
    children: dict[int, set] = defaultdict(set)
    inner: dict[int, list] = defaultdict(list)
    for i, op in enumerate(ops):
        root = linked.root_of[i]
        if root is not None and root != i:
            children[root].add(op.name)
            if op.name in MATMUL_OPS and op.shapes is not None:
                inner[root].append(op)
    built = _construction(trace)
    out = []
    for root in sorted(set(linked.calls) | {i for i, r in enumerate(linked.root_of) if r == i}):
        op = ops[root]
        gpu = tuple(sorted(linked.calls.get(root, ()), key=lambda g: g.ts))
        if not gpu:
            continue  # nothing ran on the GPU (a CPU tensor, or a call cut by the trace window)
        problem = problem_of(op)
        for other in inner[root]:
            problem = problem or problem_of(other)
        kinds = [classify(g.name) for g in gpu]
        if problem and problem.dtype == "fp32" and any(k.role == "gemm" and _TF32.search(g.name)
                                                       for g, k in zip(gpu, kinds)):
            problem = problem._replace(dtype="tf32")  # torch.backends.cuda.matmul.allow_tf32
        mains = [k for k in kinds if k.role == "gemm"]
        known = [k for k in mains if k.known]
        unknown_names = [g.name for g, k in zip(gpu, kinds) if not k.known]
        library = known[0].library if known and not unknown_names else None
        child_names = frozenset(children[root])
        kernel = _format(library, problem.dtype if problem else None, child_names, problem)
        if library == "cuBLAS" and problem and problem.sparse_operand:
            kernel = "dense"  # a dense fallback: decided with the prediction
        alg_id = None
        for other in [op] + inner[root]:
            if other.name == "aten::_cslt_sparse_mm" and other.shapes and len(other.shapes.concrete) >= 7:
                try:
                    alg_id = int(other.shapes.concrete[6])
                except ValueError:
                    pass
        nnz = block = None
        if problem and spec_of(kernel).needs_pattern:
            nnz, block = _nonzeros(built, kernel, problem, op.ts)
        out.append(MatmulCall(op.name, op.ts, op.dur, op.tid, problem, kernel, library, gpu, child_names,
                              alg_id, nnz, block, root))
    return out


def densified(call: MatmulCall) -> bool:
    """The call turned its sparse operand dense (an ``aten::to_dense`` inside it)."""
    return bool(call.children & _DENSIFY)
