"""Quantized linear paths timed on the atlas shapes (collect.sh's ``quant`` stage), plain torch.

A is the weight (M×K, the quantized and, for 2:4, the sparse operand), B the activations
(K×N, N tokens), as in the atlas. Paths, named as sparsim's implementations and
quantization schemes (sparsim.models.quant) name them:

* ``torch`` fp16: ``torch.mm(A, B)``, the dense baseline on the same device and clocks;
* ``cublaslt-fp8`` (``fp8``): ``torch._scaled_mm`` of e4m3 A and B, one fp32 scale per
  weight row and per token (row-wise scaling), bf16 out;
* ``cusparselt`` / ``cusparselt-search`` (``w8a8`` int8, ``fp8`` e4m3): A pruned 2:4,
  ``torch._cslt_compress`` once, ``torch._cslt_sparse_mm`` per call with the weight-row
  scales as ``alpha`` where this torch takes them, bf16 out; ``-search`` with the
  ``alg_id`` ``torch._cslt_sparse_mm_search`` picked (its time is ``plan_s``);
* ``torchao-int8-2:4`` (``w8a8``): what torchao's int8 dynamic-activation 2:4 layout runs
  per call, re-written in plain torch (torchao is not on the device image): per-token
  absmax scales and int8 rounding of B (the activation-quantization kernels), then
  ``_cslt_sparse_mm`` and the per-token rescale, all inside the timed call;
* ``marlin`` (``w4a16``): IST-DASLab's ``marlin.Layer`` when a wheel of it is carried
  (``--wheels``), else one record saying it was skipped;
* ``torchao-int4`` (``w4a16``): PyTorch's own tinygemm kernel ``aten._weight_int4pack_mm``
  (torchao int4 weight-only, gpt-fast int4), bf16, group 64: no wheel needed.

B's N is padded to the path's multiple (``n_padded`` in ``extra``) with random rows, as a
framework pads: the record's ``n`` is the user's N. Every result is checked against a
float64 reference of the dequantized operands; kernel and per-call times as the torch
backend takes them (:meth:`TorchBackend._time`: CUDA events, a spin kernel ahead for
kernel-only time, L2 flushed between repetitions, NVML telemetry).

>>> [p.impl for p in PATHS][:3]
['torch', 'cublaslt-fp8', 'cusparselt']
>>> padded(1, 16), padded(33, 32), padded(4096, 16)
(16, 64, 4096)
>>> pts = quant_points()
>>> len(pts), pts[0][:3], len({(m, k) for m, k, n, p in pts[:len(PATHS) * 15]})
(297, (4096, 4096, 1), 3)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import done_keys, open_gpu_stage, quant_key, quant_record  # noqa: E402

_T0 = time.perf_counter()

#: the atlas (sparsim.validate.spec.ATLAS_SHAPES / ATLAS_N)
SHAPES = ((4096, 4096), (4096, 11008), (8192, 8192))
N_COARSE = (1, 16, 128, 1024, 4096)
N_FINE = (8, 32, 64, 256, 512, 2048)


@dataclass(frozen=True)
class Path_:
    impl: str
    kernel: str      # "dense" or "2:4"
    dtype: str       # the operands' element type
    quant: str | None
    pad: int         # N is padded to a multiple of this
    search: bool = False


# N padding: torch._scaled_mm checks that both operands' dimensions are multiples of 16
# (aten/src/ATen/native/cuda/Blas.cpp, _scaled_mm_out_cuda); PyTorch pads a cuSPARSELt
# int8 / fp8 dense operand to 16 rows and columns (torch/sparse/semi_structured.py,
# SparseSemiStructuredTensorCUSPARSELT._DTYPE_SHAPE_CONSTRAINTS, dense_min_rows/cols);
# the atlas saw _cslt_sparse_mm refuse N = 1 unpadded (sparsim/validate/data/h200-2026-11-29).
PATHS = (
    Path_("torch", "dense", "fp16", None, 1),
    Path_("cublaslt-fp8", "dense", "fp8", "fp8", 16),
    Path_("cusparselt", "2:4", "int8", "w8a8", 16),
    Path_("cusparselt-search", "2:4", "int8", "w8a8", 16, search=True),
    Path_("cusparselt", "2:4", "fp8", "fp8", 16),
    Path_("cusparselt-search", "2:4", "fp8", "fp8", 16, search=True),
    Path_("torchao-int8-2:4", "2:4", "int8", "w8a8", 16),
    Path_("marlin", "dense", "int4", "w4a16", 1),  # Marlin tiles any number of tokens itself
    Path_("torchao-int4", "dense", "int4", "w4a16", 1),  # tinygemm pads tokens to 16 itself
)
#: the group size the tinygemm path is timed at (torchao int4wo-64, e2e.json's torchao points)
TINYGEMM_GROUP = 64


def padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def quant_points() -> list[tuple[int, int, int, Path_]]:
    """(M, K, N, path): coarse N for every shape first, then the rest, so a stage cut by
    its deadline still spans the shapes and the range of N."""
    return [(m, k, n, p) for ns in (N_COARSE, N_FINE) for (m, k) in SHAPES for n in ns for p in PATHS]


# -- torch from here on ----------------------------------------------------------------
class Operands:
    """The weight of one shape in every path's storage, made once (compressions timed)."""

    def __init__(self, torch, m: int, k: int, device):
        self.torch, self.m, self.k, self.device = torch, m, k, device
        gen = torch.Generator(device=device).manual_seed(m * 31 + k)
        w = torch.randn(m, k, generator=gen, device=device, dtype=torch.float32)
        self.w = w
        groups = w.reshape(m, -1, 4)
        keep = groups.abs().topk(2, dim=-1).indices
        self.w24 = (groups * torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)).reshape(m, k)
        self.cache: dict = {}

    def weight(self, path: Path_):
        """(quantized weight, fp32 per-row scales, compressed or None, compress_s)."""
        key = (path.kernel, path.dtype)
        if key not in self.cache:
            torch = self.torch
            w = self.w24 if path.kernel == "2:4" else self.w
            if path.dtype == "fp16":
                q, scale = w.half(), None
            elif path.dtype == "fp8":
                scale = w.abs().amax(dim=1).clamp(min=1e-12) / 448.0  # e4m3 max normal 448
                q = (w / scale[:, None]).to(torch.float8_e4m3fn)
            elif path.dtype == "int8":
                scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
                q = (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
            else:
                q, scale = w.half(), None
            compressed, compress_s = None, None
            if path.kernel == "2:4":
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                compressed = torch._cslt_compress(q)
                torch.cuda.synchronize()
                compress_s = time.perf_counter() - t0
            self.cache[key] = (q, scale, compressed, compress_s)
        return self.cache[key]

    def activations(self, n_padded: int, dtype: str, seed: int):
        """(N×K activations in ``dtype``, fp32 per-token scales or None)."""
        torch = self.torch
        gen = torch.Generator(device=self.device).manual_seed(seed)
        x = torch.randn(n_padded, self.k, generator=gen, device=self.device, dtype=torch.float32)
        if dtype == "fp8":
            scale = x.abs().amax(dim=1).clamp(min=1e-12) / 448.0
            return (x / scale[:, None]).to(torch.float8_e4m3fn), scale
        if dtype == "int8":
            scale = x.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            return (x / scale[:, None]).round().clamp(-127, 127).to(torch.int8), scale
        return x.half(), None


def _cslt_kwargs(torch, compressed, b_t, alpha) -> dict:
    """_cslt_sparse_mm's keywords, the first this torch takes: the weight-row scales as
    ``alpha`` with bf16 out (what torchao passes), bf16 out, or the library's default out."""
    first = None
    for kwargs in ({"alpha": alpha, "out_dtype": torch.bfloat16}, {"out_dtype": torch.bfloat16}, {}):
        try:
            torch._cslt_sparse_mm(compressed, b_t, **kwargs)
            return kwargs
        except (RuntimeError, TypeError) as exc:
            first = first or exc
    raise first


def _search(torch, compressed, b_t, kwargs) -> int:
    """The alg_id cuSPARSELt's search picks for these operands and keywords."""
    found = torch._cslt_sparse_mm_search(compressed, b_t, **kwargs)
    return int(found[0] if isinstance(found, (tuple, list)) else found)


def build_call(torch, ops: Operands, path: Path_, n: int):
    """(call(i), float64 reference M×N_padded, notes) for one point."""
    npad = padded(n, path.pad)
    q, w_scale, compressed, compress_s = ops.weight(path)
    notes: dict = {"n_padded": npad, "compress_s": compress_s}
    if path.impl == "torch":
        b = ops.activations(npad, "fp16", seed=n)[0].t().contiguous()  # K×N row-major, as the atlas
        return (lambda i: torch.mm(q, b)), q.double() @ b.double(), notes
    if path.impl == "cublaslt-fp8":
        x, x_scale = ops.activations(npad, "fp8", seed=n)
        sa, sb = w_scale[:, None].contiguous(), x_scale[None, :].contiguous()
        call = lambda i: torch._scaled_mm(q, x.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16)  # noqa: E731
        return call, (q.double() * sa.double()) @ (x.double() * x_scale.double()[:, None]).t(), notes
    if path.impl == "torchao-int8-2:4":
        x = ops.activations(npad, "fp16", seed=n)[0].to(torch.bfloat16)
        alpha = w_scale.float()

        def call(i):  # torchao int8_dynamic_activation_int8_weight with the 2:4 layout, per call
            x_scale = x.abs().amax(dim=1, keepdim=True).float().clamp(min=1e-12) / 127.0
            xq = (x.float() / x_scale).round().clamp(-128, 127).to(torch.int8)
            y = torch._cslt_sparse_mm(compressed, xq.t(), alpha=alpha, out_dtype=torch.bfloat16)
            return y * x_scale.t().to(torch.bfloat16)

        xs = x.double().abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
        ref = (q.double() * w_scale.double()[:, None]) @ ((x.double() / xs).round().clamp(-128, 127) * xs).t()
        return call, ref, notes
    if path.impl in ("cusparselt", "cusparselt-search"):
        x, x_scale = ops.activations(npad, path.dtype, seed=n)
        b_t = x.t()
        kwargs = _cslt_kwargs(torch, compressed, b_t, w_scale.float())
        scaled = "alpha" in kwargs
        if path.search:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            kwargs["alg_id"] = _search(torch, compressed, b_t, kwargs)
            torch.cuda.synchronize()
            notes.update(plan_s=time.perf_counter() - t0, alg_id=kwargs["alg_id"])
        call = lambda i: torch._cslt_sparse_mm(compressed, b_t, **kwargs)  # noqa: E731
        notes["alpha"] = "weight-row scales" if scaled else "none (this torch takes no alpha: scales not applied)"
        notes["out_dtype"] = str(kwargs.get("out_dtype", "library default"))
        ref = (q.double() * (w_scale.double()[:, None] if scaled else 1.0)) @ x.double().t()
        return call, ref, notes
    raise ValueError(f"path {path.impl} {path.dtype}: no builder")


@dataclass(frozen=True)
class _Failed:
    """A shape whose operands could not be made (out of memory): its points say why."""

    m: int
    k: int
    error: str


def marlin_call(torch, ops: Operands, n: int):
    """IST-DASLab Marlin (``marlin.Layer``, W4A16, group 128) if a wheel was carried."""
    import marlin  # noqa: F401 - ImportError says it was not carried

    layer = marlin.Layer(ops.k, ops.m, groupsize=128)
    w = ops.w.half()
    groups = w.reshape(ops.m, ops.k // 128, 128)
    scales = (groups.abs().amax(dim=-1) / 7.0).clamp(min=1e-6)  # symmetric int4: [-8, 7]
    fake = (groups / scales[..., None]).round().clamp(-8, 7) * scales[..., None]
    linear = torch.nn.Linear(ops.k, ops.m, bias=False).half()
    linear.weight.data = fake.reshape(ops.m, ops.k).cpu()
    layer.pack(linear, scales.t().contiguous().cpu())  # marlin: scales of shape (groups, outfeatures)
    layer = layer.to(ops.device)
    x = ops.activations(n, "fp16", seed=n)[0]
    # marlin.Layer computes x @ W^T (N x M): its transpose is the atlas's M x N
    return (lambda i: layer(x).t()), fake.reshape(ops.m, ops.k).double() @ x.double().t(), {"n_padded": n}


def tinygemm_call(torch, ops: Operands, n: int, group: int = TINYGEMM_GROUP):
    """PyTorch's tinygemm int4 kernel (``aten._weight_int4pack_mm``, what torchao
    int4_weight_only and gpt-fast --mode int4 run), bf16, asymmetric int4 with a bf16 scale
    and zero per ``group`` inputs, inner_k_tiles 8 (their default). Built into torch: no
    wheel to carry. Dequantized value = (q - 8) * scale + zero (int4mm.cu)."""
    w = ops.w.reshape(ops.m, ops.k // group, group)
    lo, hi = w.amin(dim=-1), w.amax(dim=-1)
    scale = ((hi - lo) / 15).clamp(min=1e-6)
    zero = lo + 8 * scale  # so that q = 0..15 covers [lo, hi]
    q = ((w - zero[..., None]) / scale[..., None] + 8).round().clamp(0, 15).to(torch.int32)
    scale, zero = scale.to(torch.bfloat16).float(), zero.to(torch.bfloat16).float()  # as the kernel reads them
    fake = ((q.float() - 8) * scale[..., None] + zero[..., None]).reshape(ops.m, ops.k)
    q = q.reshape(ops.m, ops.k)
    try:  # torch >= 2.5 packs two int4 per uint8 (high nibble first)
        packed = torch.ops.aten._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8), 8)
    except RuntimeError:  # older torch: int32 values 0..15
        packed = torch.ops.aten._convert_weight_to_int4pack(q, 8)
    scales_and_zeros = torch.stack([scale.t(), zero.t()], dim=-1).to(torch.bfloat16).contiguous()
    x = ops.activations(n, "fp16", seed=n)[0].to(torch.bfloat16)
    ref = fake.to(torch.bfloat16).double() @ x.double().t()
    call = lambda i: torch.ops.aten._weight_int4pack_mm(x, packed, group, scales_and_zeros).t()  # noqa: E731
    return call, ref, {"n_padded": n, "group": group, "inner_k_tiles": 8}


def measure(torch, backend, ops: Operands, path: Path_, n: int, hw: str) -> dict:
    """One point's record; every failure is the record's error."""
    from sparsim.validate.backends.base import now_iso
    from sparsim.validate.timing import reference_tolerance

    base = {"kernel": path.kernel, "m": ops.m, "k": ops.k, "n": n, "dtype": path.dtype, "impl": path.impl,
            "quant": path.quant, "hw": hw}
    notes: dict = {}
    try:
        if path.impl == "marlin":
            call, reference, notes = marlin_call(torch, ops, n)
        elif path.impl == "torchao-int4":
            call, reference, notes = tinygemm_call(torch, ops, n)
        else:
            call, reference, notes = build_call(torch, ops, path, n)
        result = call(0)
        torch.cuda.synchronize()
        result = result.double()
        diff = float(torch.linalg.norm(result - reference))
        norm = float(torch.linalg.norm(reference))
        error = diff / norm if norm > 0 else diff
        tolerance = max(reference_tolerance("bf16", ops.k), 0.02 if path.dtype in ("fp8", "int4") else 0.0)
        del result, reference
        if not error <= tolerance:  # NaN fails too
            return quant_record(**base, rel_error=error, tolerance=tolerance, timestamp=now_iso(),
                                error=f"wrong result: relative error {error:.3g}; allowed: <= {tolerance:.3g}",
                                extra=notes)
        samples: list = []
        kernel_times, call_times, warm, timing = backend._time(call, samples)
        notes.update(timing)
        library = {"torch": "torch.mm", "cublaslt-fp8": "torch._scaled_mm (row-wise scales)",
                   "torchao-int8-2:4": "plain-torch torchao int8 dynamic-activation 2:4: quantize + _cslt_sparse_mm",
                   "marlin": "marlin.Layer (IST-DASLab)",
                   "torchao-int4": f"aten._weight_int4pack_mm (tinygemm, group {TINYGEMM_GROUP})"
                   }.get(path.impl, "torch._cslt_sparse_mm")
        return quant_record(**base, kernel_times_s=kernel_times, call_times_s=call_times, warmup_reps=warm,
                            telemetry=samples[warm:], library=f"{library} (torch {torch.__version__})",
                            rel_error=error, tolerance=tolerance, plan_s=notes.pop("plan_s", None),
                            compress_s=notes.pop("compress_s", None), extra=notes, timestamp=now_iso())
    except ImportError as exc:
        return quant_record(**base, error=f"skipped: {exc} (carry a wheel with --wheels)", timestamp=now_iso())
    except Exception as exc:  # noqa: BLE001 - refused by the library, out of memory: recorded
        text = (f"{type(exc).__name__}: {exc}".strip().splitlines() or ["?"])[0][:400]
        return quant_record(**base, error=text, extra=notes, timestamp=now_iso())
    finally:
        torch.cuda.empty_cache()


def _cusparselt_version(torch):
    try:
        return torch.backends.cusparselt.version()
    except Exception:  # noqa: BLE001 - a build without it
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="quant.jsonl (appended, resumed)")
    parser.add_argument("--deadline-s", type=float, default=None)
    parser.add_argument("--hw", default=None, help="profile recorded with each point (default: from the device)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    plan = quant_points()
    done = done_keys(out)
    marlin_key = quant_key("dense", *SHAPES[0], 1, "int4", "marlin", "w4a16")
    todo = [p for p in plan if quant_key(p[3].kernel, p[0], p[1], p[2], p[3].dtype, p[3].impl, p[3].quant) not in done]
    print(f"quant: {len(plan)} points, {len(plan) - len(todo)} already in {out}, {len(todo)} to measure", flush=True)
    if not todo:
        return 0
    opened = open_gpu_stage("quant", out, args.hw, "the quantized paths are GPU kernels")
    if isinstance(opened, int):
        return opened
    torch, name, hw = opened
    from sparsim.validate.backends.base import now_iso
    from sparsim.validate.backends.torch_backend import TorchBackend
    from sparsim.validate.results import ResultsWriter

    backend = TorchBackend(hw=hw)
    try:
        import marlin  # noqa: F401
        has_marlin = True
    except ImportError:
        has_marlin = False
    counts, status, ops = {"ok": 0, "error": 0}, "complete", None
    with ResultsWriter(out) as writer:
        writer.write({"type": "run", "stage": "quant", "started": now_iso(), "hw": hw, "device": name,
                      "versions": {"torch": torch.__version__, "cuda": torch.version.cuda,
                                   "cusparselt": _cusparselt_version(torch), "marlin": has_marlin},
                      "planned": len(plan), "already_done": len(plan) - len(todo)})
        for m, k, n, path in todo:
            if args.deadline_s is not None and time.perf_counter() - _T0 > args.deadline_s:
                status = "partial (deadline)"
                break
            if path.impl == "marlin" and not has_marlin:  # one record says so, not one per point
                if marlin_key not in done:
                    writer.write(quant_record(kernel="dense", m=SHAPES[0][0], k=SHAPES[0][1], n=1, dtype="int4",
                                              impl="marlin", quant="w4a16", hw=hw, timestamp=now_iso(),
                                              error="skipped: no marlin module (carry a wheel with --wheels)"))
                    done.add(marlin_key)
                continue
            if ops is None or (ops.m, ops.k) != (m, k):
                ops = None
                torch.cuda.empty_cache()
                try:
                    ops = Operands(torch, m, k, torch.device("cuda", 0))
                except Exception as exc:  # noqa: BLE001 - recorded with this shape's points
                    ops = _Failed(m, k, f"operands: {type(exc).__name__}: {exc}".splitlines()[0][:300])
            if isinstance(ops, _Failed):
                record = quant_record(kernel=path.kernel, m=m, k=k, n=n, dtype=path.dtype, impl=path.impl,
                                      quant=path.quant, hw=hw, error=ops.error, timestamp=now_iso())
            else:
                record = measure(torch, backend, ops, path, n, hw)
            writer.write(record)
            counts[record["status"]] += 1
            shown = f"{record['kernel_s'] * 1e6:.1f} us" if record["status"] == "ok" else record["error"]
            print(f"  {record['key']}: {shown}", flush=True)
    backend.close()
    print(f"quant: {status}: {counts['ok']} ok, {counts['error']} failed this run", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
