"""Reading a PyTorch profiler trace: the Chrome-trace JSON that ``torch.profiler`` exports.

``prof.export_chrome_trace("t.json")`` (or ``"t.json.gz"``, written gzipped) hands the
recorded activities to Kineto's ``ChromeTraceLogger`` (pytorch/kineto,
``libkineto/src/output_json.cpp``), which writes one JSON object::

    {"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "NVIDIA H200",
      "totalGlobalMem": ..., "computeMajor": 9, "computeMinor": 0, "numSms": 132, ...}],
     ..., "displayTimeUnit": "ms", "baseTimeNanoseconds": ..., "traceEvents": [...],
     "traceName": "..."}

Each event of ``traceEvents`` has a phase ``ph``: ``"X"`` a complete event with ``ts``
and ``dur`` in microseconds (``"{us}.{ns:03}"``: nanosecond digits), ``"s"``/``"f"`` the
start/end of a flow arrow, ``"M"`` metadata (process and thread names), ``"i"`` an instant
(the last one is ``"Record Window End"``). The ``cat`` of an ``"X"`` event says what it is:

* ``cpu_op``: an ATen operator on a host thread (``pid``/``tid`` are the process and
  thread). With ``record_shapes=True`` PyTorch adds ``"Input Dims"`` (one list per
  input; ``[]`` for a scalar or None), ``"Input type"`` (``"c10::Half"``,
  ``"c10::BFloat16"``, ``"float"``, ``"long int"``/``"long"``, ``"Scalar"``, ``""``),
  ``"Input Strides"`` (``[]`` for a tensor whose layout is not strided: a sparse CSR, COO
  or BSR operand keeps its logical sizes in Input Dims but has no strides) and ``"Concrete
  Inputs"`` (scalar arguments as strings, e.g. ``_cslt_sparse_mm``'s ``alg_id``), plus
  ``"Sequence number"``/``"Fwd thread id"`` for autograd and ``"Record function id"``
  (torch/csrc/profiler/kineto_shim.cpp and kineto_metadata.cpp: AddGenericMetadata).
* ``user_annotation``: ``record_function`` ranges; ``ProfilerStep#N`` is one step of
  ``prof.step()``.
* ``cuda_runtime`` / ``cuda_driver``: a CUDA API call on a host thread
  (``cudaLaunchKernel``, ``cuLaunchKernel`` for Triton, ``cudaMemsetAsync``,
  ``cudaDeviceSynchronize``...), with ``"correlation"`` (CUPTI's id for the call) and
  ``"cbid"``.
* ``kernel``, ``gpu_memcpy``, ``gpu_memset``: work on a GPU: ``pid`` is the device,
  ``tid`` the stream; args ``"device"``, ``"stream"``, ``"correlation"``, and for
  kernels ``"grid"``, ``"block"``, ``"registers per thread"``, ``"shared memory"``...
* ``ac2g`` flow events (``ph`` ``s`` on the runtime call, ``f`` with ``"bp": "e"`` on the
  kernel, ``id`` = the correlation id) draw the launch arrows; ``fwdbwd`` links autograd.

How the pieces tie together: a GPU activity's ``"correlation"`` equals that of the
runtime call that launched it (so the flow ids are redundant); Kineto writes the
``"External id"`` of a runtime call and of its GPU activity as the id of the CPU op
that was innermost when the launch happened (``handleActivity``: ``linkedActivity()``'s
correlation id), which is that op's own ``"External id"``. Older traces (Kineto before
2023) wrote a runtime call's own correlation as its External id; then the op is the
innermost ``cpu_op`` of the same thread whose span holds the launch. Operators nest by
time on a thread: ``aten::linear`` holds ``aten::t`` and ``aten::addmm``, which holds
the launch (HolisticTraceAnalysis's test traces, tests/data, show both forms).

:func:`read_trace` streams the file (gzip detected by its magic bytes, not its name):
one event is decoded at a time and only what explaining needs is kept, in slotted
records, so a trace of a million events reads in seconds and a fraction of a GiB
(``benchmarks/bench_trace.py`` measures it). A file that is not this format gets one
:class:`~sparsim.errors.SparsimError` line.

>>> import io, json
>>> events = [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 10.0, "dur": 9.0,
...            "args": {"External id": 5, "Input Dims": [[4096, 4096], [4096, 16]],
...                     "Input type": ["c10::Half", "c10::Half"], "Input Strides": [[4096, 1], [16, 1]]}},
...           {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 12.0,
...            "dur": 4.0, "args": {"External id": 5, "cbid": 211, "correlation": 77}},
...           {"ph": "X", "cat": "kernel", "name": "nvjet_sm90_hsh_64x16_64x16_2x1_v_bz_NNN", "pid": 0, "tid": 7,
...            "ts": 20.0, "dur": 16.1, "args": {"External id": 5, "device": 0, "stream": 7, "correlation": 77}}]
>>> t = read_trace(io.BytesIO(json.dumps({"traceEvents": events}).encode()))
>>> t.ops[0].name, t.ops[0].shapes.dims, t.gpu[0].correlation, t.launches[0].ext
('aten::mm', ((4096, 4096), (4096, 16)), 77, 5)
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from ..errors import SparsimError, shown
from ..units import prose_bytes
from .jsonstream import JsonStream

__all__ = ["Trace", "CpuOp", "Launch", "GpuActivity", "OpShapes", "read_trace", "MAX_EVENTS", "MAX_TEXT_BYTES",
           "SHAPED_OPS"]

#: more events than this is refused: 2 million events is ~0.7 GB of JSON as Kineto writes it
MAX_EVENTS = 2_000_000
#: more JSON text than this (after gunzip) is refused before it is all read
MAX_TEXT_BYTES = 1 << 30
#: operators whose recorded shapes are kept (matrix multiplies, sparse-tensor construction,
#: conversions that reveal a format or a fallback); other ops keep name and times only
SHAPED_OPS = frozenset({
    "aten::mm", "aten::addmm", "aten::matmul", "aten::linear", "aten::_scaled_mm", "aten::_cslt_sparse_mm",
    "aten::_sparse_semi_structured_linear", "aten::_sparse_semi_structured_mm", "aten::_sparse_semi_structured_addmm",
    "aten::_sparse_mm", "aten::sparse_mm", "aten::_sparse_addmm", "aten::addmm_", "aten::mm.out", "aten::_int_mm",
    "aten::_sparse_csr_tensor_unsafe", "aten::sparse_csr_tensor", "aten::_sparse_compressed_tensor_unsafe",
    "aten::sparse_compressed_tensor", "aten::_sparse_bsr_tensor_unsafe", "aten::sparse_bsr_tensor",
    "aten::_sparse_coo_tensor_unsafe", "aten::sparse_coo_tensor", "aten::_sparse_coo_tensor_with_dims_and_tensors",
})
_CPU_CATS = {"cpu_op": "op", "operator": "op", "user_annotation": "annotation"}
_RUNTIME_CATS = {"cuda_runtime", "cuda_driver", "runtime"}
_GPU_CATS = {"kernel": "kernel", "gpu_memcpy": "memcpy", "gpu_memset": "memset", "memcpy": "memcpy",
             "memset": "memset"}
_KNOWN = frozenset(_CPU_CATS) | _RUNTIME_CATS | frozenset(_GPU_CATS)


class OpShapes(NamedTuple):
    """What ``record_shapes=True`` recorded for one operator's inputs."""

    dims: tuple[tuple[int, ...], ...]
    types: tuple[str, ...]
    strides: tuple[tuple[int, ...] | None, ...]  # None where nothing was recorded
    concrete: tuple[str, ...] = ()


class CpuOp(NamedTuple):
    name: str
    ts: float  # microseconds
    dur: float
    pid: int
    tid: int
    ext: int  # "External id" (0 when absent)
    shapes: OpShapes | None = None


class Launch(NamedTuple):
    """A CUDA runtime or driver call on a host thread."""

    name: str
    ts: float
    dur: float
    tid: int
    ext: int
    correlation: int


class GpuActivity(NamedTuple):
    kind: str  # kernel | memcpy | memset
    name: str
    ts: float
    dur: float
    device: int
    stream: int
    ext: int
    correlation: int


@dataclass(frozen=True)
class Trace:
    source: str
    devices: tuple[Mapping[str, Any], ...]
    ops: tuple[CpuOp, ...]
    launches: tuple[Launch, ...]
    gpu: tuple[GpuActivity, ...]
    steps: tuple[tuple[str, float, float], ...]  # ProfilerStep#N: (name, ts, dur)
    events: int
    shaped_ops: int  # cpu ops that carried "Input Dims"

    def device(self, index: int = 0) -> Mapping[str, Any] | None:
        for props in self.devices:
            if props.get("id") == index:
                return props
        return self.devices[0] if self.devices else None


def read_trace(path_or_file, *, max_events: int = MAX_EVENTS, max_bytes: int = MAX_TEXT_BYTES) -> Trace:
    """Read a ``torch.profiler`` Chrome trace (path or binary file); one SparsimError line
    for anything that is not one (or exceeds ``max_events`` / ``max_bytes``)."""
    name = str(path_or_file) if isinstance(path_or_file, (str, Path)) else getattr(path_or_file, "name", "<trace>")
    label = f"trace {shown(str(name), 60)}"
    if isinstance(path_or_file, (str, Path)):
        path = Path(path_or_file)
        if not path.is_file():
            raise SparsimError(f"{label}: no such file; allowed: a torch.profiler trace (.json or .json.gz)")
        with open(path, "rb") as raw:
            return _read(raw, label, str(name), max_events, max_bytes)
    return _read(path_or_file, label, str(name), max_events, max_bytes)


def _read(raw, label: str, source: str, max_events: int, max_bytes: int) -> Trace:
    try:
        head = raw.read(16)
        raw.seek(0)
    except OSError as exc:  # a device or special file (/proc/self/mem): nothing to read
        raise SparsimError(f"{label}: cannot read ({exc.strerror or type(exc).__name__}); allowed: a torch.profiler "
                           "trace file (.json or .json.gz)") from None
    if head.startswith(b"SQLite format 3"):
        raise SparsimError(f"{label}: an SQLite database (Nsight Systems export?), not a torch.profiler "
                           "Chrome trace; allowed: the JSON that prof.export_chrome_trace() writes")
    if head[:2] == b"\x1f\x8b":
        # the gzip trailer's size cannot be trusted (a cut file ends in other bytes): the
        # reader counts the text as it inflates it instead
        binary = gzip.GzipFile(fileobj=raw, mode="rb")
    else:
        binary = raw
        if _size(raw) > max_bytes:
            raise SparsimError(f"{label}: more than {prose_bytes(max_bytes)} of JSON; allowed: a smaller trace "
                               "(profile fewer steps: torch.profiler.schedule(active=1))")
    text = io.TextIOWrapper(binary, encoding="utf-8-sig")  # a byte-order mark, if an editor added one, is skipped
    reader = JsonStream(text, label, max_bytes)
    builder = _Builder(label, max_events)
    try:
        first = reader.peek()
        if first == "[":  # the JSON-array form of a Chrome trace
            reader.events(builder.add)
            devices = ()
        elif first == "{":
            devices = reader.document(builder.add)
        else:
            raise SparsimError(f"{label}: not JSON (starts with {shown(first)}); allowed: the JSON (or .json.gz) "
                               "that torch.profiler's export_chrome_trace() writes")
    except RecursionError:
        raise SparsimError(f"{label}: JSON nested too deeply; allowed: a torch.profiler Chrome trace") from None
    except UnicodeDecodeError:
        raise SparsimError(f"{label}: not a text file (bytes that are not UTF-8); allowed: a torch.profiler "
                           "Chrome trace (.json or .json.gz)") from None
    except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as exc:
        raise SparsimError(f"{label}: the gzip stream is damaged or cut short ({exc}); allowed: a complete "
                           ".json.gz trace") from None
    return builder.build(source, devices)


def _size(raw) -> int:
    try:
        return os.fstat(raw.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        return 0


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def _num(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0


def _ints(value) -> tuple[int, ...]:
    """A flat list of sizes as a tuple; () for anything else (a TensorList's nested lists)."""
    if type(value) is not list:
        return ()
    try:
        return tuple(value) if all(type(v) is int for v in value) else tuple(int(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        return ()


def _shapes(args: Mapping) -> OpShapes | None:
    dims = args.get("Input Dims")
    if not isinstance(dims, list):
        return None
    types = args.get("Input type")
    types = types if isinstance(types, list) else []
    strides = args.get("Input Strides")
    strides = strides if isinstance(strides, list) and len(strides) == len(dims) else [None] * len(dims)
    concrete = args.get("Concrete Inputs") or []
    return OpShapes(dims=tuple(_ints(d) for d in dims), types=tuple(t if isinstance(t, str) else "" for t in types),
                    strides=tuple(_ints(st) if isinstance(st, list) else None for st in strides),
                    concrete=tuple(str(c) for c in concrete) if isinstance(concrete, list) else ())


class _Builder:
    """Turns decoded events into compact records, counting against the event limit."""

    def __init__(self, label: str, max_events: int):
        self.label, self.max_events = label, max_events
        self.ops, self.launches, self.gpu, self.steps = [], [], [], []
        self.count, self.shaped, self.kinds = 0, 0, set()

    def add(self, event) -> None:
        self.count += 1
        if self.count > self.max_events:
            raise SparsimError(f"{self.label}: more than {self.max_events:,} events; allowed: at most "
                               f"{self.max_events:,} (profile fewer steps: torch.profiler.schedule(active=1))")
        if not isinstance(event, dict) or event.get("ph") != "X":
            return
        cat = event.get("cat", "")
        if type(cat) is not str or cat not in _KNOWN:
            cat = str(cat).lower()
        self.kinds.add(cat)
        args = event.get("args")
        args = args if isinstance(args, dict) else {}
        name = sys.intern(str(event.get("name", "")))
        ts, dur = _num(event.get("ts")), max(_num(event.get("dur")), 0.0)
        if cat in _GPU_CATS:
            self.gpu.append(GpuActivity(_GPU_CATS[cat], name, ts, dur, _int(args.get("device", event.get("pid"))),
                                        _int(args.get("stream", event.get("tid"))), _int(args.get("External id")),
                                        _int(args.get("correlation"))))
        elif cat in _RUNTIME_CATS:
            self.launches.append(Launch(name, ts, dur, _int(event.get("tid")), _int(args.get("External id")),
                                        _int(args.get("correlation"))))
        elif _CPU_CATS.get(cat) == "op":
            has = "Input Dims" in args
            self.shaped += has
            shapes = _shapes(args) if has and name in SHAPED_OPS else None
            self.ops.append(CpuOp(name, ts, dur, _int(event.get("pid")), _int(event.get("tid")),
                                  _int(args.get("External id")), shapes))
        elif _CPU_CATS.get(cat) == "annotation" and name.startswith("ProfilerStep#"):
            self.steps.append((name, ts, dur))

    def build(self, source: str, devices) -> Trace:
        if not self.ops:
            other = ", ".join(sorted(k for k in self.kinds if k)[:6]) or "none"
            raise SparsimError(f"{self.label}: no cpu_op events (event categories: {other}): not a torch.profiler "
                               "trace; allowed: a trace from torch.profiler.profile(activities=[CPU, CUDA], "
                               "record_shapes=True)")
        if not self.gpu:
            raise SparsimError(f"{self.label}: no GPU kernels in the trace; allowed: a trace recorded with "
                               "activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]")
        if not self.shaped:
            raise SparsimError(f"{self.label}: no input shapes recorded; allowed: a trace from "
                               "torch.profiler.profile(..., record_shapes=True)")
        key = lambda e: e.ts  # noqa: E731
        return Trace(source=source, devices=tuple(devices), ops=tuple(sorted(self.ops, key=lambda o: (o.ts, -o.dur))),
                     launches=tuple(sorted(self.launches, key=key)), gpu=tuple(sorted(self.gpu, key=key)),
                     steps=tuple(sorted(self.steps, key=lambda s: s[1])), events=self.count, shaped_ops=self.shaped)
