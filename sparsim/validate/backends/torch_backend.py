"""The ``torch`` backend: PyTorch eager calls timed as users make them (impl ``torch``).

* ``dense``: ``torch.mm(A, B)`` (cuBLAS / cuBLASLt), fp16 / bf16 / fp32 (TF32 off);
* ``2:4``: ``A_s = torch.sparse.to_sparse_semi_structured(A)`` once, then ``A_s @ B``
  per call (cuSPARSELt where PyTorch has it, else CUTLASS; the library string says);
  with ``impl`` ``torch`` and the spec's ``b_layout`` unset;
* ``csr`` / ``coo``: ``A.to_sparse_csr() @ B`` and ``torch.sparse.mm(A_coo, B)`` on a
  coalesced COO tensor, int64 indices (PyTorch's default; ``index_bits`` 32 builds the
  CSR tensor with int32 indices, as some users do).

Two timings per point, like the cupy backend: ``call_s`` from CUDA events around the
Python call on an idle GPU (PyTorch's per-call host work inside: for 2:4 the cuSPARSELt
descriptors and plan it rebuilds every call); ``kernel_s`` from the same events with
``torch.cuda._sleep`` (a spin kernel) enqueued ahead, longer than three call times, so
the events bracket the kernels' device time only. L2 is flushed between repetitions.

Needs the optional extra ``torch`` (``pip install 'sparsim[torch]'``); without it, or
without a CUDA device, :func:`torch_available` says why in one line.

>>> TORCH_KERNELS
('dense', 'csr', 'coo', '2:4')
"""

from __future__ import annotations

import time

import numpy as np

from ...errors import SparsimError
from ...hwprofiles import HardwareProfile, load_profile
from ..spec import MeasureSpec
from ..telemetry import Telemetry
from ..timing import QUICK, TimingPolicy, WrongResult, reference_tolerance
from .base import Backend, Unsupported, time_calls
from .cupy_backend import host_operands, match_profile

__all__ = ["TorchBackend", "torch_available", "TORCH_KERNELS", "TORCH_DTYPES"]

TORCH_KERNELS = ("dense", "csr", "coo", "2:4")
TORCH_DTYPES = ("fp16", "bf16", "fp32")


def torch_available() -> tuple[bool, str]:
    """(True, "") when torch imports and sees a CUDA device, else (False, why)."""
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - ImportError, or a CUDA library that fails to load
        return False, f"torch not importable ({type(exc).__name__}: {exc}; pip install 'sparsim[torch]')"
    try:
        if not torch.cuda.is_available():
            return False, "no CUDA GPU visible to torch (torch.cuda.is_available() is False)"
    except Exception as exc:  # noqa: BLE001
        return False, f"CUDA not usable from torch ({type(exc).__name__}: {exc})"
    return True, ""


class TorchBackend(Backend):
    """Times PyTorch eager matmuls on CUDA device ``device``."""

    name = "torch"

    def __init__(self, *, policy: TimingPolicy = QUICK, hw: str | None = None, device: int = 0):
        super().__init__(policy=policy)
        ok, why = torch_available()
        if not ok:
            raise SparsimError(f"--backend torch: {why}; allowed: a machine with torch and an NVIDIA GPU")
        import torch

        self.torch = torch
        self.device = torch.device("cuda", device)
        torch.cuda.set_device(self.device)
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as the reference assumes
        props = torch.cuda.get_device_properties(self.device)
        self.device_name = props.name
        self.l2_bytes = int(getattr(props, "L2_cache_size", 0) or (50 << 20))
        self.clock_hz = float(getattr(props, "clock_rate", 0) or 1_500_000) * 1e3
        self._hw = hw or match_profile(self.device_name)
        if self._hw is None:
            raise SparsimError(f"--hw: no built-in profile matches GPU {self.device_name!r}; "
                               "allowed: --hw NAME (see 'sparsim hw list') or a profile .toml")
        self._profile: HardwareProfile | None = None
        self.telemetry, self.telemetry_note = Telemetry.open(device)
        self._flush = torch.empty(2 * self.l2_bytes // 4, dtype=torch.float32, device=self.device)

    def profile(self) -> HardwareProfile:
        if self._profile is None:
            self._profile = load_profile(self._hw)
        return self._profile

    def default_impl(self, spec: MeasureSpec) -> str:
        return "torch"

    def describe(self) -> dict:
        torch = self.torch
        versions = {"torch": torch.__version__, "cuda": torch.version.cuda,
                    "cusparselt": getattr(getattr(torch.backends, "cusparselt", None), "version", lambda: None)()}
        info = {"backend": self.name, "hw": self.profile().name, "device": self.device_name, "versions": versions,
                "timing": {"kernel_s": "CUDA events after torch.cuda._sleep (device time only)",
                           "call_s": "CUDA events around the Python call on an idle GPU"}}
        if self.telemetry is not None:
            info["nvml"] = self.telemetry.device_info()
        else:
            info["telemetry"] = self.telemetry_note
        return info

    def close(self) -> None:
        if self.telemetry is not None:
            self.telemetry.close()

    def _time(self, call, samples: list):
        torch = self.torch
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        flush = lambda i: self._flush.fill_(float(i % 7 + 1))  # noqa: E731

        def call_timer(fn):
            torch.cuda.synchronize(self.device)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3

        call_times, _ = time_calls(call, self.policy, call_timer, between=flush)
        delay_s = min(max(3 * float(np.median(call_times)), 50e-6), 20e-3)
        cycles = int(delay_s * self.clock_hz)
        hidden = []

        def kernel_timer(fn):
            torch.cuda._sleep(cycles)
            host = time.perf_counter()
            start.record()
            fn()
            end.record()
            hidden.append(time.perf_counter() - host < delay_s)
            end.synchronize()
            if self.telemetry is not None:
                samples.append(self.telemetry.sample())
            return start.elapsed_time(end) / 1e3

        kernel_times, warm = time_calls(call, self.policy, kernel_timer, between=flush)
        return kernel_times, call_times, warm, {"delay_s": delay_s,
                                                "host_hidden_share": float(np.mean(hidden[warm:])) if hidden[warm:] else None}

    def _measure(self, spec: MeasureSpec) -> dict:
        # Longer than 60 lines on purpose: one branch per kernel, each building its operands and timing one call.
        torch = self.torch
        if spec.impl not in (None, "torch"):
            raise Unsupported(f"impl {spec.impl!r} on the torch backend; allowed: torch")
        if spec.kernel not in TORCH_KERNELS:
            raise Unsupported(f"kernel {spec.kernel!r} on the torch backend; allowed: {', '.join(TORCH_KERNELS)}")
        if spec.dtype not in TORCH_DTYPES:
            raise Unsupported(f"dtype {spec.dtype!r} on the torch backend; allowed: {', '.join(TORCH_DTYPES)}")
        if spec.b_layout not in (None, "row"):
            raise Unsupported(f"b_layout {spec.b_layout!r} on the torch backend; allowed: row (contiguous B)")
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[spec.dtype]
        a_host, b_host = host_operands(spec, dense_a=True)  # A cached across N
        try:
            a = torch.from_numpy(a_host).to(self.device, dtype)
            b = torch.from_numpy(b_host).to(self.device, dtype)
            reference = a.double() @ b.double()
            extra: dict = {}
            if spec.kernel == "dense":
                call = lambda i: torch.mm(a, b)  # noqa: E731
                library = f"torch.mm (torch {torch.__version__})"
            elif spec.kernel == "2:4":
                a_sparse = torch.sparse.to_sparse_semi_structured(a)
                call = lambda i: a_sparse @ b  # noqa: E731
                library = f"to_sparse_semi_structured @ B [{type(a_sparse).__name__}] (torch {torch.__version__})"
            elif spec.kernel == "csr":
                a_csr = a.to_sparse_csr()
                if spec.index_bits == 32:
                    a_csr = torch.sparse_csr_tensor(a_csr.crow_indices().int(), a_csr.col_indices().int(),
                                                    a_csr.values(), a_csr.shape)
                call = lambda i: a_csr @ b  # noqa: E731
                library = f"sparse CSR @ dense (torch {torch.__version__})"
                extra["index_bits"] = int(a_csr.col_indices().element_size() * 8)
                extra["b_layout"] = "row"
            else:
                if spec.index_bits == 32:
                    raise Unsupported("index_bits 32 for COO on the torch backend: PyTorch COO indices are int64; "
                                      "allowed: 64")
                a_coo = a.to_sparse_coo().coalesce()
                call = lambda i: torch.sparse.mm(a_coo, b)  # noqa: E731
                library = f"torch.sparse.mm(COO, dense) (torch {torch.__version__})"
                extra["index_bits"], extra["b_layout"] = 64, "row"
            result = call(0)
            torch.cuda.synchronize(self.device)
            diff = float(torch.linalg.norm(result.double() - reference))
            norm = float(torch.linalg.norm(reference))
            error = diff / norm if norm > 0 else diff
            tolerance = reference_tolerance(spec.dtype, spec.k)
            if not error <= tolerance:  # NaN fails too
                raise WrongResult(f"relative error {error:.3g} against the float64 reference; "
                                  f"allowed: <= {tolerance:.3g}")
            del result, reference
            samples: list = []
            times, call_times, warm, notes = self._time(call, samples)
            extra.update(notes)
            telemetry = samples[warm:] if samples else []
            fields = {"times_s": times, "timing": "kernel", "call_times_s": call_times,
                      "throttled": [s["throttled"] for s in telemetry] or None, "telemetry": tuple(telemetry),
                      "library": library, "reps": len(times), "warmup_reps": warm, "rel_error": error,
                      "tolerance": tolerance, "impl": "torch", "extra": extra}
            for key in ("b_layout", "index_bits"):
                if key in extra:
                    fields[key] = extra.pop(key)
            return fields
        finally:
            torch.cuda.empty_cache()
