"""Write traces in the format torch.profiler exports, from the H200 atlas's measurements.

No GPU here, so the test traces of ``sparsim explain`` are built, not recorded. They follow
what Kineto's ChromeTraceLogger writes (pytorch/kineto libkineto/src/output_json.cpp,
2026: ``schemaVersion``, ``deviceProperties``, ``displayTimeUnit``, ``baseTimeNanoseconds``,
``traceEvents``, ``traceName``; "X" events with ``cat`` cpu_op / user_annotation /
cuda_runtime / kernel / gpu_memset; ``ac2g`` flow pairs keyed by the correlation id; "M"
process and thread names; the closing "Record Window End" instant) and the structure of a
real trace (HolisticTraceAnalysis tests/data, e.g. ns_resolution_trace: the CPU op's
``External id`` repeated on its runtime launches and kernels, the kernel's ``correlation``
equal to its launch's; args PyTorch adds with record_shapes: Input Dims, Input type, Input
Strides, Concrete Inputs, Record function id, Ev Idx).

What is measured and what is assumed:
* kernel names and durations: the H200 atlas (sparsim/validate/data/h200-2026-11-29/
  atlas.json; PyTorch 2.11, CUDA 13), names as recorded there (cut to 70 characters);
* host time of an operator: the atlas's ``event_s - kernel_s`` (the host work the GPU
  waited for per call), at least ``MIN_HOST_US`` (an assumption: a dispatch with the
  profiler on); launches sit in the operator's last 40%, 4 us each; kernels start 3 us
  after their launch or when the stream frees (assumptions);
* a sparse tensor's construction op carries the atlas point's nnz.

``python benchmarks/trace_gen.py OUTDIR`` rewrites the test traces
(tests/validate/data/traces/); ``bench_trace.py`` uses :func:`big_trace`.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ATLAS = ROOT / "sparsim" / "validate" / "data" / "h200-2026-11-29" / "atlas.json"
MIN_HOST_US = 8.0
LAUNCH_US = 4.0
QUEUE_US = 3.0
#: cudaGetDeviceProperties of the H200 as Kineto writes it (name as nvidia-smi.txt shows it;
#: memory 143771 MiB there; SMs, shared memory per SM: CUDA programming guide, cc 9.0)
H200 = {"id": 0, "name": "NVIDIA H200", "totalGlobalMem": 150754820096, "computeMajor": 9, "computeMinor": 0,
        "maxThreadsPerBlock": 1024, "maxThreadsPerMultiprocessor": 2048, "regsPerBlock": 65536,
        "regsPerMultiprocessor": 65536, "warpSize": 32, "sharedMemPerBlock": 49152,
        "sharedMemPerMultiprocessor": 233472, "numSms": 132, "sharedMemPerBlockOptin": 232448}
HALF = "c10::Half"


def atlas_point(impl: str, m: int, k: int, n: int, **match) -> dict:
    for p in json.loads(ATLAS.read_text())["points"]:
        if (p["impl"], p["m"], p["k"], p["n"]) == (impl, m, k, n) and all(p.get(a) == b for a, b in match.items()):
            if p.get("kernels"):
                return p
    raise KeyError(f"no atlas point {impl} {m}x{k}x{n} {match}")


class TraceWriter:
    def __init__(self, pid: int = 3117, tid: int = 3117, start_us: float = 1000.0):
        self.pid, self.tid, self.t = pid, tid, start_us
        self.events, self.ext, self.corr, self.index = [], 0, 1000, 0
        self.gpu_free = start_us
        self.start = start_us

    def _x(self, cat, name, ts, dur, args, pid=None, tid=None):
        self.events.append({"ph": "X", "cat": cat, "name": name, "pid": self.pid if pid is None else pid,
                            "tid": self.tid if tid is None else tid, "ts": round(ts, 3), "dur": round(dur, 3),
                            "args": args})

    def _op_args(self, dims, types, strides, concrete):
        self.ext += 1
        self.index += 1
        args = {"External id": self.ext, "Record function id": 0, "Ev Idx": self.index}
        if dims is not None:
            if concrete:
                args["Concrete Inputs"] = concrete
            args.update({"Input type": types, "Input Strides": strides, "Input Dims": dims})
        return args

    def launch(self, name: str, dur_us: float, at: float, ext: int, memset: bool = False) -> None:
        self.corr += 1
        runtime = "cudaMemsetAsync" if memset else "cudaLaunchKernel"
        self._x("cuda_runtime", runtime, at, LAUNCH_US, {"External id": ext, "cbid": 51 if memset else 211,
                                                         "correlation": self.corr})
        start = max(at + QUEUE_US, self.gpu_free)
        args = {"External id": ext, "device": 0, "context": 1, "stream": 7, "correlation": self.corr}
        if not memset:
            args.update({"queued": 0, "registers per thread": 168, "shared memory": 0, "blocks per SM": 1.0,
                         "warps per SM": 4.0, "grid": [132, 1, 1], "block": [128, 1, 1],
                         "est. achieved occupancy %": 6})
        self._x("gpu_memset" if memset else "kernel", name, start, dur_us, args, pid=0, tid=7)
        self.events.append({"ph": "s", "id": self.corr, "pid": self.pid, "tid": self.tid, "ts": round(at, 3),
                            "cat": "ac2g", "name": "ac2g"})
        self.events.append({"ph": "f", "id": self.corr, "pid": 0, "tid": 7, "ts": round(start, 3), "cat": "ac2g",
                            "name": "ac2g", "bp": "e"})
        self.gpu_free = start + dur_us

    def op(self, name, dims=None, types=None, strides=None, *, host_us: float = MIN_HOST_US, kernels=(),
           concrete=None, inner=None, children=(), gap_us: float = 2.0):
        """One operator; ``inner`` = (name, dims, types, strides, concrete) of the op inside it
        that launches ``kernels`` [(name, us)]; ``children``: names of ops run first inside it."""
        start = self.t + gap_us
        host_us = max(host_us, MIN_HOST_US + LAUNCH_US * len(kernels))
        outer_args = self._op_args(dims, types, strides, concrete)
        self._x("cpu_op", name, start, host_us, outer_args)
        cursor = start + 0.5
        for child in children:
            self._x("cpu_op", child, cursor, 1.5, self._op_args([[]], [""], [[]], None))
            cursor += 2.0
        ext = outer_args["External id"]
        launch_at = start + host_us * 0.6
        if inner is not None:
            iname, idims, itypes, istrides, iconcrete = inner
            inner_start = max(cursor, start + host_us * 0.5)
            inner_args = self._op_args(idims, itypes, istrides, iconcrete)
            self._x("cpu_op", iname, inner_start, start + host_us - 0.5 - inner_start, inner_args)
            ext = inner_args["External id"]
            launch_at = max(launch_at, inner_start + 0.5)
        for kname, us in kernels:
            self.launch(kname, us, launch_at, ext, memset=kname.startswith("Memset"))
            launch_at += LAUNCH_US
        self.t = start + host_us
        return self

    def synchronize(self) -> None:
        """torch.cuda.synchronize(): a runtime call with no ATen op around it."""
        self.corr += 1
        start = self.t + 1.0
        dur = max(self.gpu_free - start, 0.0) + 2.0
        self._x("cuda_runtime", "cudaDeviceSynchronize", start, dur, {"cbid": 165, "correlation": self.corr})
        self.t = start + dur

    def step(self, number: int, body) -> None:
        start = self.t + 1.0
        self.t = start
        self.ext += 1
        ext = self.ext
        body(self)
        self._x("user_annotation", f"ProfilerStep#{number}", start, self.t - start + 1.0,
                {"External id": ext, "Record function id": 0})
        self.t += 1.0

    def document(self, name: str) -> dict:
        meta = [{"name": "process_name", "ph": "M", "ts": self.start, "pid": self.pid, "tid": 0,
                 "args": {"name": "python3.12"}},
                {"name": "process_labels", "ph": "M", "ts": self.start, "pid": 0, "tid": 0, "args": {"labels": "GPU 0"}},
                {"name": "thread_name", "ph": "M", "ts": self.start, "pid": 0, "tid": 7, "args": {"name": "stream 7 "}},
                {"name": "thread_name", "ph": "M", "ts": self.start, "pid": self.pid, "tid": self.tid,
                 "args": {"name": f"thread {self.tid} (python3.12)"}}]
        end = {"ph": "i", "s": "g", "name": "Record Window End", "pid": "", "tid": "", "ts": round(self.t + 5, 3)}
        return {"schemaVersion": 1, "deviceProperties": [H200], "cupti_version": 26, "cuda_runtime_version": 13000,
                "cuda_driver_version": 13000, "record_shapes": 1, "displayTimeUnit": "ms",
                "baseTimeNanoseconds": 1764434400000000000,
                "traceEvents": sorted(self.events, key=lambda e: e["ts"]) + meta + [end], "traceName": name}

    def write(self, path: Path) -> Path:
        text = json.dumps(self.document(path.name), indent=1)
        if path.suffix == ".gz":
            with gzip.GzipFile(path, "wb", mtime=0) as f:
                f.write(text.encode())
        else:
            path.write_text(text)
        return path


def _host(p) -> float:
    return (p["event_s"] - p["kernel_s"]) * 1e6


def _kernels(p):
    names = [(name, us) for name, us in p["kernels"]]
    return sorted(names, key=lambda kv: 0 if kv[0].startswith(("Memset", "void at::native::vec")) or
                  "partition" in kv[0] else 1)


def paths_step(w: TraceWriter) -> None:
    """One of each path on 4096x4096 @ 4096x16 fp16, as the atlas measured them."""
    m = k = 4096
    n = 16
    ab = [[m, k], [k, n]]
    dense = atlas_point("dense-cublas", m, k, n)
    w.op("aten::mm", ab, [HALF, HALF], [[k, 1], [n, 1]], host_us=_host(dense), kernels=_kernels(dense))
    default = atlas_point("2:4-cusparselt-default", m, k, n)
    cslt = [[m, k * 9 // 16], [k, n], [], [], [], [], [], [], []]
    cslt_types = [HALF, HALF, "", "", "", "Scalar", "Scalar", "Scalar", "Scalar"]
    cslt_strides = [[k * 9 // 16, 1], [n, 1], [], [], [], [], [], [], []]
    w.op("aten::_cslt_sparse_mm", cslt, cslt_types, cslt_strides, host_us=_host(default), kernels=_kernels(default),
         concrete=["", "", "", "", "", "False", "0", "1", "-1"])
    searched = atlas_point("2:4-cusparselt-searched", m, k, n)
    w.op("aten::_cslt_sparse_mm", cslt, cslt_types, cslt_strides, host_us=_host(searched), kernels=_kernels(searched),
         concrete=["", "", "", "", "", "False", str(searched["alg_id"]), "1", "-1"])
    for bits, impl in ((64, "csr-cusparse-int64"), (32, "csr-cusparse-int32")):
        p = atlas_point(impl, m, k, n, density=0.1)
        index = "long int" if bits == 64 else "int"
        w.op("aten::_sparse_csr_tensor_unsafe", [[m + 1], [p["nnz"]], [p["nnz"]], [], [], [], []],
             [index, index, HALF, "", "", "", ""], [[1], [1], [1], [], [], [], []], host_us=9.0,
             concrete=["", "", "", f"[{m}, {k}]", "", "", ""])
        w.op("aten::mm", ab, [HALF, HALF], [[], [n, 1]], host_us=_host(p), kernels=_kernels(p))
    bsr = atlas_point("bsr16", m, k, n, density=0.1, block=16)
    blocks = round(0.1 * (m // 16) * (k // 16))
    w.op("aten::_sparse_bsr_tensor_unsafe", [[m // 16 + 1], [blocks], [blocks, 16, 16], [], [], [], []],
         ["long int", "long int", HALF, "", "", "", ""], [[1], [1], [256, 16, 1], [], [], [], []], host_us=9.0)
    w.op("aten::mm", ab, [HALF, HALF], [[], [n, 1]], host_us=_host(bsr), kernels=_kernels(bsr))
    # a GEMM from a library sparsim does not know: listed as unknown
    w.op("aten::mm", ab, [HALF, HALF], [[k, 1], [n, 1]], host_us=12.0, kernels=[("fused_matmul_bias_act_kernel", 20.0)])
    w.op("aten::copy_", [[m, n], [m, n], []], [HALF, HALF, "Scalar"], [[n, 1], [n, 1], []], host_us=10.0,
         kernels=[("void at::native::unrolled_elementwise_kernel<at::native::direct_copy_k", 2.1)])
    w.synchronize()


def decode_step(w: TraceWriter) -> None:
    """A decoder layer's linears at 16 tokens, as nn.Linear calls them: dense q/k/v/o
    (4096x4096), a 2:4 up projection through to_sparse_semi_structured (default plan),
    and the down projection (4096x11008) dense, then through a CSR weight that PyTorch
    turned dense (to_dense inside the call: a dense fallback)."""
    x = [1, 16, 4096]
    for _ in range(4):
        p = atlas_point("dense-cublas", 4096, 4096, 16)
        w.op("aten::linear", [x, [4096, 4096], []], [HALF, HALF, ""], [[65536, 4096, 1], [4096, 1], []],
             host_us=_host(p) + 10, kernels=_kernels(p), children=("aten::t",),
             inner=("aten::mm", [[16, 4096], [4096, 4096]], [HALF, HALF], [[4096, 1], [1, 4096]], None))
        w.op("aten::add", [[1, 16, 4096], [1, 16, 4096], []], [HALF, HALF, "Scalar"], [[65536, 4096, 1]] * 2 + [[]],
             host_us=9.0, kernels=[("void at::native::vectorized_elementwise_kernel<8, at::native::FillFunc", 1.2)])
    up = atlas_point("2:4-cusparselt-default", 4096, 11008, 16)
    w.op("aten::linear", [[1, 16, 11008], [4096, 11008], []], [HALF, HALF, ""], [[176128, 11008, 1], [11008, 1], []],
         host_us=_host(up) + 15, kernels=_kernels(up), children=("aten::t",),
         inner=("aten::_cslt_sparse_mm", [[4096, 11008 * 9 // 16], [11008, 16], [], [], [], [], [], [], []],
                [HALF, HALF, "", "", "", "Scalar", "Scalar", "Scalar", "Scalar"],
                [[11008 * 9 // 16, 1], [1, 11008], [], [], [], [], [], [], []],
                ["", "", "", "", "", "True", "0", "1", "-1"]))
    down = atlas_point("dense-cublas", 4096, 11008, 16)
    w.op("aten::linear", [[1, 16, 11008], [4096, 11008], []], [HALF, HALF, ""], [[176128, 11008, 1], [], []],
         host_us=_host(down) + 40, kernels=[("void at::native::vectorized_elementwise_kernel<8, at::native::FillFunc",
                                             14.0)] + _kernels(down),
         children=("aten::to_dense", "aten::t"),
         inner=("aten::mm", [[16, 11008], [11008, 4096]], [HALF, HALF], [[11008, 1], [1, 11008]], None))
    w.synchronize()


def write_test_traces(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    w = TraceWriter()
    for step in (1, 2):
        w.step(step, paths_step)
    a = w.write(out / "h200_paths.json")
    w = TraceWriter(pid=4021, tid=4021)
    for step in (1, 2, 3):
        w.step(step, decode_step)
    b = w.write(out / "h200_decode.json.gz")
    return [a, b]


def big_trace(path: Path, events: int) -> Path:
    """A trace of about ``events`` events: decode steps repeated (for the reading benchmark)."""
    w = TraceWriter()
    number = 0
    while len(w.events) < events:
        number += 1
        w.step(number, decode_step)
    return w.write(path)


if __name__ == "__main__":
    for path in write_test_traces(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/validate/data/traces"):
        print(path)
