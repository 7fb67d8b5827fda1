"""What the GPU stages write, without torch: records, resumption, profiler-trace trimming, packing.

The decoder-step and quantized stages append one JSON line per point to their own results
file (``decoder.jsonl``, ``quant.jsonl``) through :class:`sparsim.validate.results.ResultsWriter`
(one ``write`` per line, fsync'ed), so a stage killed at its deadline loses at most the
point in flight, and :func:`done_keys` tells a second run what is already on disk.
Quantized records carry the fields of the torch backend's records (``kernel_s``,
``call_s``, ``impl``, telemetry, the reference check) plus ``quant``; decoder records are
``kind = "decode-step"`` with the step's configuration and its times.

Profiler traces (Chrome JSON as ``torch.profiler`` exports it) are trimmed to fit what the
device tool brings back (8 files, 16 MiB each): python-stack events go, and when the
gzipped trace is still too large the host events are cut at a time and only the GPU
events launched by the host events kept stay, so every kept kernel keeps its launch:

>>> trace = {"traceEvents": [
...     {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 0, "dur": 5, "args": {"External id": 1}},
...     {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 1, "dur": 2,
...      "args": {"correlation": 7, "External id": 1}},
...     {"ph": "X", "cat": "kernel", "name": "nvjet_a", "ts": 4, "dur": 9, "args": {"correlation": 7}},
...     {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 20, "dur": 5, "args": {"External id": 2}},
...     {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 21, "dur": 2,
...      "args": {"correlation": 8, "External id": 2}},
...     {"ph": "X", "cat": "kernel", "name": "nvjet_b", "ts": 24, "dur": 9, "args": {"correlation": 8}},
...     {"ph": "X", "cat": "python_function", "name": "step", "ts": 0, "dur": 40}]}
>>> [e["name"] for e in trim_trace(trace, 3)["traceEvents"]]
['aten::mm', 'cudaLaunchKernel', 'nvjet_a']
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tarfile
from pathlib import Path

__all__ = ["done_keys", "profiles_in", "step_key", "step_record", "quant_key", "quant_record", "trim_trace", "trace_gz",
           "add_to_tar", "tar_members", "pack_for_device", "open_gpu_stage", "DEVICE_FILES", "DEVICE_FILE_BYTES"]

#: what the device tool brings back from $OUT (its README, "Limits")
DEVICE_FILES = 8
DEVICE_FILE_BYTES = 16 * 2**20
#: the files a run folder keeps as they are when it must be packed; the rest go into more.tar
KEEP_FIRST = ("README.md", "collect.log", "decoder.jsonl", "quant.jsonl", "attention.jsonl", "traces.tar",
              "results.jsonl", "calibration.toml")

DROP_CATS = frozenset({"python_function", "cpu_instant_event"})
DEVICE_CATS = frozenset({"kernel", "gpu_memcpy", "gpu_memset", "gpu_user_annotation", "ac2g"})


# -- results files ---------------------------------------------------------------------------
def done_keys(path: str | Path) -> set[str]:
    """Keys of the measurements on disk that a resumed run skips (flagged ones are re-measured);
    a last line cut off by a kill is ignored (the point is measured again)."""
    path = Path(path)
    if not path.exists():
        return set()
    keys = set()
    for raw in path.read_bytes().split(b"\n"):
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and record.get("type") == "measurement" and not record.get("flag"):
            keys.add(record.get("key"))
    return keys


def profiles_in(path: str | Path) -> set[str]:
    """The profiles (``hw``) a results file was measured on: a run resumes only its own."""
    path = Path(path)
    found = set()
    if path.exists():
        for raw in path.read_bytes().split(b"\n"):
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict) and record.get("hw"):
                found.add(record["hw"])
    return found


def _spread(times) -> dict:
    from sparsim.validate.timing import summarize

    return summarize(list(times))


def _telemetry_fields(samples) -> dict:
    samples = [s for s in samples if s]
    throttled = [bool(s.get("throttled")) for s in samples]
    return {"telemetry": samples, "throttled": throttled, "n_throttled": sum(throttled),
            "flag": "throttled" if throttled and all(throttled) else None}


def step_key(model: str, layers: int, batch: int, context: int, mode: str, linear: str, dtype: str) -> str:
    """The identity of a decode-step point in decoder.jsonl.

    >>> step_key("llama2-7b", 32, 8, 2048, "cuda-graphs", "2:4", "fp16")
    'decode|llama2-7b|L32|b8|c2048|cuda-graphs|2:4|fp16'
    """
    return f"decode|{model}|L{layers}|b{batch}|c{context}|{mode}|{linear}|{dtype}"


def step_record(*, config: dict, batch: int, context: int, mode: str, linear: str, hw: str, device: str,
                times_s=(), warmup_times_s=(), host_times_s=(), telemetry=(), library: str = "",
                error: str | None = None, extra: dict | None = None, timestamp: str = "") -> dict:
    """One decode step's record: ``time_s`` is the median step (CUDA events between
    back-to-back steps), ``tokens_per_s`` = batch / time_s; spread as the torch backend's."""
    spread = _spread(times_s)
    time_s = spread.pop("median_s")
    ok = error is None and time_s is not None
    return {"type": "measurement", "kind": "decode-step",
            "key": step_key(config["model"], config["layers"], batch, context, mode, linear, config["dtype"]),
            "model": config["model"], "layers": config["layers"], "config": config, "phase": "decode",
            "batch": batch, "context": context, "mode": mode, "linear": linear, "dtype": config["dtype"],
            "impl": "torch", "backend": "torch", "hw": hw, "device": device,
            "status": "ok" if ok else "error", "error": None if ok else (error or "no times"),
            "time_s": time_s, **spread, "tokens_per_s": batch / time_s if ok and time_s else None,
            "times_s": list(times_s), "warmup_times_s": list(warmup_times_s), "reps": len(times_s),
            "warmup_reps": len(warmup_times_s), "host_times_s": list(host_times_s),
            "host_s": _spread(host_times_s)["median_s"], **_telemetry_fields(telemetry),
            "library": library, "timestamp": timestamp, **({"extra": extra} if extra else {})}


def quant_key(kernel: str, m: int, k: int, n: int, dtype: str, impl: str, quant: str | None) -> str:
    """The torch backend's key (sparsim.validate.spec.MeasureSpec.key) plus the scheme.

    >>> quant_key("2:4", 4096, 4096, 16, "int8", "cusparselt", "w8a8")
    '2:4|4096x4096x16|int8|d=0.5|nm|s0|cusparselt|q=w8a8'
    """
    density, pattern = (0.5, "nm") if kernel == "2:4" else (1.0, "dense")
    return f"{kernel}|{m}x{k}x{n}|{dtype}|d={density:g}|{pattern}|s0|{impl}" + (f"|q={quant}" if quant else "")


def quant_record(*, kernel: str, m: int, k: int, n: int, dtype: str, impl: str, quant: str | None, hw: str,
                 kernel_times_s=(), call_times_s=(), warmup_reps: int = 0, telemetry=(), library: str = "",
                 rel_error: float | None = None, tolerance: float | None = None, error: str | None = None,
                 plan_s: float | None = None, compress_s: float | None = None, extra: dict | None = None,
                 timestamp: str = "") -> dict:
    """A quantized point in the torch backend's record format (time_s = kernel_s)."""
    spread = _spread(kernel_times_s)
    kernel_s = spread.pop("median_s")
    call_s = _spread(call_times_s)["median_s"]
    ok = error is None and kernel_s is not None
    density, pattern = (0.5, "nm") if kernel == "2:4" else (1.0, "dense")
    record = {"type": "measurement", "key": quant_key(kernel, m, k, n, dtype, impl, quant), "kernel": kernel,
              "m": m, "k": k, "n": n, "dtype": dtype, "density": density, "pattern": pattern, "seed": 0,
              "split": "test", "impl": impl, "b_layout": None, "index_bits": None, "quant": quant,
              "kernel_s": kernel_s if ok else None, "call_s": call_s if ok else None, "nnz": None,
              "backend": "torch", "hw": hw, "status": "ok" if ok else "error",
              "error": None if ok else (error or "no times"), "time_s": kernel_s if ok else None, **spread,
              "times_s": list(kernel_times_s), "call_times_s": list(call_times_s), "reps": len(kernel_times_s),
              "warmup_reps": warmup_reps, "rotating_copies": 1, "library": library, "rel_error": rel_error,
              "tolerance": tolerance, **_telemetry_fields(telemetry), "timestamp": timestamp}
    if plan_s is not None or compress_s is not None:
        record["plan_s"], record["compress_s"] = plan_s, compress_s
    if extra:
        record["extra"] = extra
    return record


# -- profiler traces ---------------------------------------------------------------------
def _correlation(event) -> int | None:
    if event.get("cat") == "ac2g":
        return event.get("id")
    return (event.get("args") or {}).get("correlation")


def trim_trace(trace: dict, max_events: int) -> dict:
    """``trace`` without python-stack events and with at most ``max_events`` events
    (metadata events always kept): host events up to a cut time, and the GPU events and
    flows whose correlation id a kept host event carries. Other top-level keys stay."""
    events = [e for e in trace.get("traceEvents", []) if e.get("cat") not in DROP_CATS]
    meta = [e for e in events if e.get("ph") == "M"]
    body = [e for e in events if e.get("ph") != "M"]
    if len(events) <= max_events:
        return {**trace, "traceEvents": events}
    host = sorted((e for e in body if e.get("cat") not in DEVICE_CATS), key=lambda e: e.get("ts", 0))
    device = [e for e in body if e.get("cat") in DEVICE_CATS]

    def build(n_host: int) -> list:
        kept = host[:n_host]
        ids = {c for c in map(_correlation, kept) if c is not None}
        linked = [e for e in device if _correlation(e) in ids]
        last = max((float(e.get("ts", 0)) + float(e.get("dur", 0)) for e in linked), default=-1.0)
        loose = [e for e in device if _correlation(e) is None and float(e.get("ts", 0)) <= last]
        return kept + linked + loose

    lo, hi = 0, len(host)
    while lo < hi:  # the most host events whose trimmed trace fits
        mid = (lo + hi + 1) // 2
        if len(meta) + len(build(mid)) <= max_events:
            lo = mid
        else:
            hi = mid - 1
    kept = build(lo)
    return {**trace, "traceEvents": meta + sorted(kept, key=lambda e: e.get("ts", 0)),
            "trimmed": {"events_before": len(trace.get("traceEvents", [])), "events_after": len(meta) + len(kept)}}


def trace_gz(trace: dict, max_bytes: int) -> tuple[bytes, dict]:
    """The trace as gzipped JSON of at most ``max_bytes``, trimming more events each try.

    >>> data, info = trace_gz({"traceEvents": [{"ph": "X", "cat": "cpu_op", "ts": i} for i in range(5000)]}, 2000)
    >>> len(data) <= 2000 and info["events"] < 5000
    True
    """
    limit = len(trace.get("traceEvents", [])) or 1
    while True:
        trimmed = trim_trace(trace, limit)
        data = gzip.compress(json.dumps(trimmed, separators=(",", ":")).encode(), compresslevel=6, mtime=0)
        if len(data) <= max_bytes or limit <= 1:
            return data, {"events": len(trimmed["traceEvents"]), "bytes": len(data),
                          "trimmed": "trimmed" in trimmed}
        limit = max(1, int(limit * max_bytes / len(data) * 0.9))


def exported_trace_gz(prof, max_bytes: int) -> tuple[bytes, dict]:
    """A finished ``torch.profiler.profile``'s Chrome trace, gzipped and trimmed to
    ``max_bytes`` (:func:`trace_gz`). ``export_chrome_trace`` writes only to a file, so the
    trace goes through a temporary one."""
    import tempfile

    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    try:
        prof.export_chrome_trace(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            trace = json.load(f)
    finally:
        os.remove(path)
    return trace_gz(trace, max_bytes)


def tar_members(tar_path: str | Path) -> list[str]:
    tar_path = Path(tar_path)
    if not tar_path.exists():
        return []
    with tarfile.open(tar_path, "r") as tar:
        return tar.getnames()


def add_to_tar(tar_path: str | Path, name: str, data: bytes) -> bool:
    """Add ``name`` to the (uncompressed) tar unless it is there already (a resumed run).
    The tar is rewritten beside and renamed into place, so a stage killed at its deadline
    leaves the old tar or the new one, never a cut one."""
    tar_path = Path(tar_path)
    if name in tar_members(tar_path):
        return False
    tmp = tar_path.with_name(tar_path.name + f".tmp{os.getpid()}")
    if tar_path.exists():
        tmp.write_bytes(tar_path.read_bytes())
    info = tarfile.TarInfo(name)
    info.size = len(data)
    with tarfile.open(tmp, "a") as tar:
        tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, tar_path)
    return True


def pack_for_device(folder: str | Path, limit: int = DEVICE_FILES, keep=KEEP_FIRST) -> list[str]:
    """Bring ``folder`` to at most ``limit`` files, none deeper than one sub-folder: the
    files in ``keep`` stay, the rest go into ``more.tar`` (and are removed). Returns the
    names moved."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    deep = [p for p in files if len(p.relative_to(folder).parts) > 2]
    if len(files) <= limit and not deep:
        return []
    kept = [p for p in files if p.relative_to(folder).as_posix() in keep]  # in ``keep``'s order of value
    stay = sorted(kept, key=lambda p: keep.index(p.relative_to(folder).as_posix()))[:limit - 1]
    moved = [p for p in files if p not in stay and p.name != "more.tar"]
    with tarfile.open(folder / "more.tar", "a") as tar:
        for path in moved:
            tar.add(path, arcname=path.relative_to(folder).as_posix())
    for path in moved:
        os.remove(path)
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(path.iterdir()):
            path.rmdir()
    return [p.relative_to(folder).as_posix() for p in moved]


# -- the start every torch GPU stage shares --------------------------------------------------
def open_gpu_stage(stage: str, out: Path, hw: str | None = None, why: str = ""):
    """``(torch, device name, profile)`` for a stage that writes ``out`` on GPU 0, or the exit
    status when it cannot run: 3 (skipped: no torch, no CUDA GPU; ``why`` says what needs
    one), 2 (``out`` holds another device's points). The profile is ``hw``, else the one
    the device's name maps to, else a slug of that name."""
    from sparsim.validate.backends.torch_backend import torch_available

    ok, reason = torch_available()
    if not ok:
        print(f"{stage}: skipped: {reason}" + (f" ({why})" if why else ""))
        return 3
    import torch
    from plan import detect_profile, slug

    name = torch.cuda.get_device_name(0)
    hw = hw or detect_profile(name) or slug(name)
    other = profiles_in(out) - {hw}
    if other:
        print(f"{stage}: error: --out: {out} was measured on {sorted(other)[0]}, this run is {hw}; "
              "allowed: the same device, or another --out", file=sys.stderr)
        return 2
    return torch, name, hw
