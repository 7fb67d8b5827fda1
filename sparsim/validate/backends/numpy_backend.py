"""The ``numpy`` backend: NumPy dense matmul and SciPy CSR/COO SpMM on the host CPU.

It exists so the whole measure -> fit -> hold-out loop runs for real on any machine, CI
included, against the detected host profile (``--hw host``,
:mod:`sparsim.hwprofiles.host`, timed by :mod:`sparsim.validate.hostbench`).

* ``dense``: ``numpy.matmul(A, B, out=C)`` (the BLAS NumPy links), fp32 and fp64;
* ``csr``: ``scipy.sparse.csr_matrix @ B`` (SciPy's ``csr_matvecs``), fp32 and fp64;
* ``coo``: ``scipy.sparse.coo_matrix @ B`` (``coo_matvecs``), fp32 and fp64.

Records name the implementation: ``impl`` is ``numpy`` for dense and ``scipy`` for CSR and
COO; a CPU call has no separate kernel time, so ``call_s`` = ``time_s`` and ``kernel_s`` is
None. Sparse points record ``b_layout`` "row" (NumPy's C order, what SciPy multiplies)
and ``index_bits`` as SciPy stored them (int32 below 2^31 entries; SciPy narrows int64
indices on every copy, so a 64-bit variant is refused here and measured on the GPU).

Each repetition reads a different copy of the inputs, so the copies together overflow the
last-level cache and every call starts cold ("rotating buffers", where they are cheap:
see :class:`~sparsim.validate.timing.TimingPolicy`); time is ``time.perf_counter``.

>>> from sparsim.validate.spec import MeasureSpec
>>> b = NumpyBackend()
>>> m = b.run(MeasureSpec("csr", 256, 256, 16, "fp32", density=0.05))  # doctest: +SKIP
>>> m.status, m.rel_error < m.tolerance                                 # doctest: +SKIP
('ok', True)
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
import scipy
import scipy.sparse as sp

from ...hwprofiles import HardwareProfile, load_profile
from ..hostbench import cpu_ticks, others_cpu_share
from ..spec import MeasureSpec
from ..timing import QUICK, TimingPolicy, WrongResult, reference_tolerance, relative_error, rotation_copies
from .base import Backend, Unsupported, random_values, time_calls

__all__ = ["NumpyBackend", "NUMPY_DTYPES", "CONTENDED_SHARE", "others_cpu_share"]

#: sparsim dtype -> NumPy type the CPU kernels run in
NUMPY_DTYPES = {"fp32": np.float32, "fp64": np.float64}
_KERNELS = ("dense", "csr", "coo")


def _perf_timer(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


#: timing is repeated (up to twice more) when other processes kept more than this
#: share of the CPUs busy: a BLAS thread that loses its core stalls the whole call
CONTENDED_SHARE = 0.25


def _nbytes(x) -> int:
    if sp.issparse(x):
        parts = (x.data, x.indices, x.indptr) if x.format == "csr" else (x.data, x.row, x.col)
        return int(sum(p.nbytes for p in parts))
    return int(x.nbytes)


class NumpyBackend(Backend):
    """Times NumPy/SciPy kernels on this CPU; predictions use the ``host`` profile."""

    name = "numpy"

    def __init__(self, *, policy: TimingPolicy = QUICK, hw: str | HardwareProfile = "host"):
        super().__init__(policy=policy)
        self._hw = hw
        self._profile: HardwareProfile | None = None

    def profile(self) -> HardwareProfile:
        if self._profile is None:
            self._profile = load_profile(self._hw)
        return self._profile

    def describe(self) -> dict:
        hw = self.profile()
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            blas_name = f"{blas.get('name')} {blas.get('version')}"
        except Exception:  # noqa: BLE001 - a label only
            blas_name = "unknown"
        return {
            "backend": self.name, "hw": hw.name, "device": hw.display_name,
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "scipy": scipy.__version__, "blas": blas_name},
            "threads": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                        if k in os.environ},
            "clocks": {"cpu_mhz": hw.boost_clock_mhz},
            "profile": {"vector_fp32_flops_per_s": hw.vector_flops_per_s.get("fp32"),
                        "vector_fp64_flops_per_s": hw.vector_flops_per_s.get("fp64"),
                        "dram_bytes_per_s": hw.hbm_bytes_per_s, "llc_bytes_per_s": hw.l2_bytes_per_s,
                        "launch_overhead_s": hw.launch_overhead_s},
        }

    def default_impl(self, spec: MeasureSpec) -> str:
        return "numpy" if spec.kernel == "dense" else "scipy"

    def _measure(self, spec: MeasureSpec) -> dict:
        # Longer than 60 lines on purpose: one branch per kernel, each building its operands and timing one call.
        if spec.impl is not None and spec.impl != self.default_impl(spec):
            raise Unsupported(f"impl {spec.impl!r} for {spec.kernel} on the numpy backend; "
                              f"allowed: {self.default_impl(spec)}")
        if spec.index_bits == 64:
            raise Unsupported("index_bits 64 on the numpy backend: SciPy picks int32 indices below 2^31 "
                              "entries and narrows them again on every copy; allowed: 32")
        if spec.b_layout not in (None, "row"):
            raise Unsupported(f"b_layout {spec.b_layout!r} on the numpy backend; allowed: row")
        if spec.kernel not in _KERNELS:
            raise Unsupported(f"kernel {spec.kernel!r} has no NumPy/SciPy implementation; "
                              f"the numpy backend runs {', '.join(_KERNELS)}")
        if spec.dtype not in NUMPY_DTYPES:
            raise Unsupported(f"dtype {spec.dtype!r} on the numpy backend; allowed: {', '.join(NUMPY_DTYPES)}")
        dtype = NUMPY_DTYPES[spec.dtype]
        rng = np.random.default_rng(spec.seed)
        b = random_values(rng, (spec.k, spec.n), dtype)
        if spec.kernel == "dense":
            a = random_values(rng, (spec.m, spec.k), dtype)
            reference = a.astype(np.float64) @ b.astype(np.float64)
            library = f"numpy.matmul (numpy {np.__version__}, BLAS)"
        else:
            csr = spec.sparsity_pattern().to_scipy(dtype=dtype, seed=spec.seed)
            a = csr if spec.kernel == "csr" else csr.tocoo()
            reference = np.asarray(csr.astype(np.float64) @ b.astype(np.float64))
            library = f"scipy.sparse.{spec.kernel}_matrix @ ndarray (scipy {scipy.__version__}, " \
                      f"{spec.kernel}_matvecs)"

        out = np.empty((spec.m, spec.n), dtype) if spec.kernel == "dense" else None
        per_set = _nbytes(a) + _nbytes(b) + spec.m * spec.n * np.dtype(dtype).itemsize
        copies = rotation_copies(per_set, self.profile().l2_bytes, self.policy)
        sets = [(a, b, out)] + [(a.copy(), b.copy(), None if out is None else out.copy())
                                for _ in range(copies - 1)]

        if spec.kernel == "dense":
            def call(i):
                x, y, c = sets[i % copies]
                return np.matmul(x, y, out=c)
        else:
            def call(i):
                x, y, _ = sets[i % copies]
                return x @ y

        tolerance = reference_tolerance(spec.dtype, spec.k)
        error = relative_error(call(0), reference)
        del reference
        if not error <= tolerance:
            raise WrongResult(f"relative error {error:.3g} against the float64 reference; "
                              f"allowed: <= {tolerance:.3g}")
        best = None
        for attempt in range(3):
            before = cpu_ticks()
            times, warm = time_calls(call, self.policy, _perf_timer)
            share = others_cpu_share(before, cpu_ticks())
            if best is None or (share is not None and share < best[2]):
                best = (times, warm, share if share is not None else 0.0, attempt + 1)
            if share is None or share <= CONTENDED_SHARE:
                break
            time.sleep(0.1 + 0.2 * attempt)
        times, warm, share, attempts = best
        extra = {"others_cpu_share": share, "attempts": attempts}
        if hasattr(os, "getloadavg"):
            extra["load_avg_1min"] = round(os.getloadavg()[0], 2)
        sparse = {} if spec.kernel == "dense" else {
            "b_layout": "row", "index_bits": int(np.dtype((a.indices if spec.kernel == "csr" else a.row).dtype).itemsize * 8)}
        return {"times_s": times, "timing": "call", **sparse, "library": library, "reps": len(times), "warmup_reps": warm,
                "rotating_copies": copies, "rel_error": error, "tolerance": tolerance, "extra": extra,
                "flag": "contended" if share > CONTENDED_SHARE else None}
