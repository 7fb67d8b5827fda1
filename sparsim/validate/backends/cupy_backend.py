"""The ``cupy`` backend: cuBLAS, cuSPARSE and cuSPARSELt on an NVIDIA GPU through CuPy.

* ``dense``: ``cupy.matmul`` (cuBLAS), fp16 / bf16 / fp32 (fp32 as SGEMM: CuPy does not
  enable TF32 unless ``CUPY_TF32=1``), fp64;
* ``csr`` / ``coo``: ``cupyx.cusparse.spmm`` (cusparseSpMM on the CSR or COO descriptor,
  B and C column-major as cuSPARSE wants them), float32 / float64 only;
* ``2:4``: the library :mod:`~sparsim.validate.backends.nm` finds, fp16 / bf16.

Time is CUDA events around each call; L2 is flushed before each repetition by writing a
buffer twice its size; NVML telemetry is sampled after each repetition and throttled
repetitions are left out of the median (:mod:`~sparsim.validate.telemetry`).

The dtype rules, the profile matching and the 2:4 library chain are plain functions, so
they are tested without a GPU; nothing here fakes a GPU result.

>>> dense_dtype_name("bf16"), sparse_dtype_name("fp64")
('bfloat16', 'float64')
>>> match_profile("NVIDIA H100 80GB HBM3"), match_profile("NVIDIA A100-SXM4-40GB")
('h100-sxm5-80gb', 'a100-sxm4-40gb')
"""

from __future__ import annotations

import re

import numpy as np

from ...errors import SparsimError
from ...hwprofiles import HardwareProfile, load_profile
from ..spec import MeasureSpec
from ..telemetry import Telemetry
from ..timing import QUICK, TimingPolicy, WrongResult, reference_tolerance
from .base import Backend, Unsupported, random_values, time_calls
from .nm import NM_DTYPES, select_nm_library

__all__ = ["CupyBackend", "DENSE_DTYPES", "SPARSE_DTYPES", "dense_dtype_name", "sparse_dtype_name",
           "match_profile", "cupy_available"]

#: sparsim dtype -> CuPy/NumPy type name cuBLAS runs (``cupy.matmul``)
DENSE_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32", "fp64": "float64"}
#: cusparseSpMM through cupyx: real types float32 / float64 only
SPARSE_DTYPES = {"fp32": "float32", "fp64": "float64"}


def dense_dtype_name(dtype: str) -> str:
    if dtype not in DENSE_DTYPES:
        raise Unsupported(f"dtype {dtype!r} for cupy.matmul; allowed: {', '.join(DENSE_DTYPES)}")
    return DENSE_DTYPES[dtype]


def sparse_dtype_name(dtype: str) -> str:
    if dtype not in SPARSE_DTYPES:
        raise Unsupported(f"dtype {dtype!r} for cuSPARSE SpMM through cupyx.scipy.sparse; "
                          f"allowed: {', '.join(SPARSE_DTYPES)}")
    return SPARSE_DTYPES[dtype]


def resolve_dtype(cp, name: str):
    """The CuPy type for a type name; bfloat16 needs a CuPy that has it."""
    if name == "bfloat16":
        bf16 = getattr(cp, "bfloat16", None)
        if bf16 is None:
            raise Unsupported(f"bf16: cupy {cp.__version__} has no bfloat16 dtype")
        return bf16
    return getattr(cp, name)


# (regex on the NVML/CUDA device name, profile); first match wins
_PROFILE_NAMES = (
    (r"H200", "h200-sxm-141gb"),
    (r"H100.*PCIe", "h100-pcie-80gb"),
    (r"H100", "h100-sxm5-80gb"),
    (r"A100.*40\s*GB", "a100-sxm4-40gb"),
    (r"A100", "a100-sxm4-80gb"),
    (r"\bL4\b", "l4"),
    (r"RTX 4090", "rtx-4090"),
    (r"V100", "v100-sxm2-32gb"),
)


def match_profile(device_name: str) -> str | None:
    """The built-in profile for a device name, or None (then pass ``--hw``)."""
    for pattern, profile in _PROFILE_NAMES:
        if re.search(pattern, device_name, re.I):
            return profile
    return None


def cupy_available() -> tuple[bool, str]:
    """(True, "") when CuPy imports and sees a CUDA GPU, else (False, why)."""
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - ImportError, or a CUDA library that fails to load
        return False, f"cupy not importable ({type(exc).__name__}: {exc}; pip install 'sparsim[gpu]')"
    try:
        if not cupy.cuda.is_available():
            return False, "no CUDA GPU visible (cupy.cuda.is_available() is False)"
    except Exception as exc:  # noqa: BLE001
        return False, f"CUDA not usable ({type(exc).__name__}: {exc})"
    return True, ""


class CupyBackend(Backend):
    """Times cuBLAS / cuSPARSE / cuSPARSELt kernels on GPU ``device``."""

    name = "cupy"

    def __init__(self, *, policy: TimingPolicy = QUICK, hw: str | None = None, device: int = 0):
        super().__init__(policy=policy)
        ok, why = cupy_available()
        if not ok:
            raise SparsimError(f"--backend cupy: {why}; allowed: a machine with an NVIDIA GPU, or --backend numpy")
        import cupy as cp

        self.cp = cp
        self.device = device
        cp.cuda.Device(device).use()
        props = cp.cuda.runtime.getDeviceProperties(device)
        name = props["name"]
        self.device_name = name.decode() if isinstance(name, bytes) else str(name)
        self.l2_bytes = int(props.get("l2CacheSize", 0)) or (50 << 20)
        self._hw = hw or match_profile(self.device_name)
        if self._hw is None:
            raise SparsimError(f"--hw: no built-in profile matches GPU {self.device_name!r}; "
                               "allowed: --hw NAME (see 'sparsim hw list') or a profile .toml")
        self._profile: HardwareProfile | None = None
        self.telemetry, self.telemetry_note = Telemetry.open(device)
        self.nm = select_nm_library()
        # writing 2x L2 between repetitions evicts whatever the previous one left there
        self._flush = cp.empty(2 * self.l2_bytes // 4, dtype=cp.float32)

    def profile(self) -> HardwareProfile:
        if self._profile is None:
            self._profile = load_profile(self._hw)
        return self._profile

    def describe(self) -> dict:
        cp = self.cp
        rt = cp.cuda.runtime
        versions = {"cupy": cp.__version__, "cuda_runtime": rt.runtimeGetVersion(),
                    "cuda_driver": rt.driverGetVersion()}
        for key, fn in (("cublas", lambda: cp.cuda.cublas.getVersion(cp.cuda.device.get_cublas_handle())),
                        ("cusparse", lambda: __import__("cupy_backends.cuda.libs.cusparse", fromlist=["x"])
                         .getVersion(cp.cuda.device.get_cusparse_handle()))):
            try:
                versions[key] = fn()
            except Exception as exc:  # noqa: BLE001 - version strings are provenance, not essential
                versions[key] = f"unknown ({type(exc).__name__})"
        info = {"backend": self.name, "hw": self.profile().name, "device": self.device_name,
                "versions": versions, "nm_library": self.nm.name if self.nm.available else self.nm.reason}
        if self.telemetry is not None:
            info["nvml"] = self.telemetry.device_info()
            info["versions"]["driver"] = info["nvml"].get("driver_version")
        else:
            info["telemetry"] = self.telemetry_note
        return info

    def close(self) -> None:
        if self.telemetry is not None:
            self.telemetry.close()

    # -- timing ----------------------------------------------------------------------

    def _time(self, call, samples: list) -> tuple[list[float], int]:
        cp = self.cp
        start, end = cp.cuda.Event(), cp.cuda.Event()

        def timer(fn):
            start.record()
            fn()
            end.record()
            end.synchronize()
            seconds = cp.cuda.get_elapsed_time(start, end) / 1e3
            if self.telemetry is not None:
                samples.append(self.telemetry.sample())
            return seconds

        return time_calls(call, self.policy, timer, between=lambda i: self._flush.fill(i % 7 + 1))

    def _check(self, result, reference, spec) -> tuple[float, float]:
        cp = self.cp
        diff = float(cp.linalg.norm(result.astype(cp.float64) - reference))
        norm = float(cp.linalg.norm(reference))
        error = diff / norm if norm > 0 else diff
        tolerance = reference_tolerance(spec.dtype, spec.k)
        if not error <= tolerance:
            raise WrongResult(f"relative error {error:.3g} against the float64 reference; allowed: <= {tolerance:.3g}")
        return error, tolerance

    # -- kernels ---------------------------------------------------------------------

    def _measure(self, spec: MeasureSpec) -> dict:
        cp = self.cp
        try:
            if spec.kernel == "dense":
                call, result, reference, library = self._dense(spec)
            elif spec.kernel in ("csr", "coo"):
                call, result, reference, library = self._sparse(spec)
            elif spec.kernel == "2:4":
                call, result, reference, library = self._nm(spec)
            else:
                raise Unsupported(f"kernel {spec.kernel!r} on the cupy backend; allowed: dense, csr, coo, 2:4")
            error, tolerance = self._check(result, reference, spec)
            del result, reference
            samples: list = []
            times, warm = self._time(call, samples)
            telemetry = samples[warm:] if samples else []
            return {"times_s": times, "throttled": [s["throttled"] for s in telemetry] or None,
                    "telemetry": tuple(telemetry), "library": library, "reps": len(times), "warmup_reps": warm,
                    "rel_error": error, "tolerance": tolerance,
                    "extra": {} if self.telemetry else {"telemetry": self.telemetry_note}}
        finally:
            cp.get_default_memory_pool().free_all_blocks()

    def _host_operands(self, spec: MeasureSpec):
        rng = np.random.default_rng(spec.seed)
        b = random_values(rng, (spec.k, spec.n), np.float32)
        if spec.kernel == "dense":
            return random_values(rng, (spec.m, spec.k), np.float32), b
        return spec.sparsity_pattern().to_scipy(dtype=np.float32, seed=spec.seed), b

    def _dense(self, spec):
        cp = self.cp
        dtype = resolve_dtype(cp, dense_dtype_name(spec.dtype))
        a_host, b_host = self._host_operands(spec)
        a, b = cp.asarray(a_host).astype(dtype), cp.asarray(b_host).astype(dtype)
        out = cp.empty((spec.m, spec.n), dtype=dtype)
        reference = cp.matmul(a.astype(cp.float64), b.astype(cp.float64))
        result = cp.matmul(a, b)
        return (lambda i: cp.matmul(a, b, out=out)), result, reference, \
            f"cupy.matmul (cuBLAS, cupy {cp.__version__})"

    def _sparse(self, spec):
        cp = self.cp
        import cupyx.cusparse
        import cupyx.scipy.sparse as csp

        dtype = resolve_dtype(cp, sparse_dtype_name(spec.dtype))
        if not cupyx.cusparse.check_availability("spmm"):
            raise Unsupported("cusparseSpMM is not available in this CUDA build")
        a_host, b_host = self._host_operands(spec)
        a_host = a_host.astype(np.dtype(dtype))
        a = csp.csr_matrix(a_host) if spec.kernel == "csr" else csp.coo_matrix(a_host.tocoo())
        if spec.kernel == "coo":
            a.sum_duplicates()  # cuSPARSE COO SpMM wants row-sorted, duplicate-free entries
        b = cp.asfortranarray(cp.asarray(b_host).astype(dtype))
        out = cp.empty((spec.m, spec.n), dtype=dtype, order="F")
        reference = csp.csr_matrix(a_host.astype(np.float64)) @ cp.asarray(b_host, dtype=cp.float64)
        result = cupyx.cusparse.spmm(a, b)
        return (lambda i: cupyx.cusparse.spmm(a, b, c=out)), result, reference, \
            f"cuSPARSE SpMM {spec.kernel.upper()} (cupyx.cusparse.spmm, cupy {cp.__version__})"

    def _nm(self, spec):
        if spec.dtype not in NM_DTYPES:
            raise Unsupported(f"dtype {spec.dtype!r} for 2:4; allowed: {', '.join(NM_DTYPES)}")
        if not self.nm.available:
            raise Unsupported(self.nm.reason)
        cp = self.cp
        a_host, b_host = self._host_operands(spec)
        a_dense = a_host.toarray()  # the seeded 2:4 pattern, values never zero
        reference = cp.asarray(a_dense, dtype=cp.float64) @ cp.asarray(b_host, dtype=cp.float64)
        if self.nm.name.startswith("torch"):
            call, result, tensor_class = self._nm_torch(spec, a_dense, b_host)
            return call, result, reference, f"{self.nm.name} [{tensor_class}]"
        call, result, algorithm = self._nm_cusparselt(spec, a_dense, b_host)
        return call, result, reference, f"{self.nm.name} {algorithm}"

    def _nm_torch(self, spec, a_dense, b_host):
        torch = self.nm.module
        tdtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[spec.dtype]
        a = torch.tensor(a_dense, dtype=tdtype, device="cuda")
        b = torch.tensor(b_host, dtype=tdtype, device="cuda")
        a_sparse = torch.sparse.to_sparse_semi_structured(a)
        result = self.cp.from_dlpack(torch.mm(a_sparse, b).contiguous())
        return (lambda i: torch.mm(a_sparse, b)), result, type(a_sparse).__name__

    def _nm_cusparselt(self, spec, a_dense, b_host):
        """cuSPARSELt through CuPy's binding (the sequence of CuPy's examples/cusparselt)."""
        cp, lt = self.cp, self.nm.module
        from cupy_backends.cuda.libs import cusparse

        dtype = resolve_dtype(cp, dense_dtype_name(spec.dtype))
        cuda_type = {"fp16": cp.cuda.runtime.CUDA_R_16F, "bf16": getattr(cp.cuda.runtime, "CUDA_R_16BF", 14)}[spec.dtype]
        compute = getattr(lt, "CUSPARSE_COMPUTE_32F", None) if spec.dtype == "bf16" else None
        compute = compute if compute is not None else getattr(lt, "CUSPARSE_COMPUTE_16F")
        a = cp.asarray(a_dense).astype(dtype)
        b = cp.asarray(b_host).astype(dtype)
        c = cp.zeros((spec.m, spec.n), dtype=dtype)
        handle, mat_a, mat_b, mat_c = lt.Handle(), lt.MatDescriptor(), lt.MatDescriptor(), lt.MatDescriptor()
        matmul, alg_sel, plan = lt.MatmulDescriptor(), lt.MatmulAlgSelection(), lt.MatmulPlan()
        lt.init(handle)
        row = cusparse.CUSPARSE_ORDER_ROW
        lt.structuredDescriptorInit(handle, mat_a, spec.m, spec.k, spec.k, 128, cuda_type, row,
                                    lt.CUSPARSELT_SPARSITY_50_PERCENT)
        lt.denseDescriptorInit(handle, mat_b, spec.k, spec.n, spec.n, 128, cuda_type, row)
        lt.denseDescriptorInit(handle, mat_c, spec.m, spec.n, spec.n, 128, cuda_type, row)
        op = cusparse.CUSPARSE_OPERATION_NON_TRANSPOSE
        lt.matmulDescriptorInit(handle, matmul, op, op, mat_a, mat_b, mat_c, mat_c, compute)
        lt.matmulAlgSelectionInit(handle, alg_sel, matmul, lt.CUSPARSELT_MATMUL_ALG_DEFAULT)
        workspace_size = lt.matmulGetWorkspace(handle, alg_sel)
        workspace = cp.empty(max(int(workspace_size), 1), dtype=cp.int8)
        lt.matmulPlanInit(handle, plan, matmul, alg_sel, workspace_size)
        valid = np.array(-1, dtype=np.int32)
        lt.spMMAPruneCheck(handle, matmul, a.data.ptr, valid.ctypes.data)
        cp.cuda.Device().synchronize()
        if int(valid) != 0:
            raise WrongResult("cuSPARSELt says the 2:4 pattern of A is not 2:4 (spMMAPruneCheck)")
        compressed = cp.zeros(int(lt.spMMACompressedSize(handle, plan)), dtype=cp.uint8)
        lt.spMMACompress(handle, plan, a.data.ptr, compressed.data.ptr)
        alpha, beta = np.array(1.0, dtype=np.float32), np.array(0.0, dtype=np.float32)

        def call(i):
            lt.matmul(handle, plan, alpha.ctypes.data, compressed.data.ptr, b.data.ptr, beta.ctypes.data,
                      c.data.ptr, c.data.ptr, workspace.data.ptr)

        call(0)
        cp.cuda.Device().synchronize()
        return call, c.copy(), "CUSPARSELT_MATMUL_ALG_DEFAULT"
