"""The results file: JSON lines, one measurement per line, written as each is taken.

Every line is one JSON object carrying ``"schema": "sparsim-results/1"`` and a ``type``:
``"run"`` (written when a run starts or resumes: backend, device, profile, library
versions) or ``"measurement"`` (one point: its spec, ``status`` ``"ok"`` or ``"error"``,
the median time and the raw samples, telemetry, the reference check). A line is appended
with a single ``write`` of the whole line, then flushed and fsync'ed, so a run killed at
any moment loses at most the point in flight and a resumed run skips what is on disk.

Reading refuses, with one line naming the file and line: a line cut off mid-way (the
last one of a killed run, if the kill hit the write), a line that is not JSON (or nested
too deep to read), or a line of another schema, and an ``ok`` measurement whose times are
not measured seconds (:func:`check_times`: NaN, infinite, zero, negative, a string,
``true``, or outside 1 ns - 10,000 s). The same line reader (:func:`json_lines`) and time
check serve ``sparsim report --validation`` (:func:`sparsim.studies.measured.read_measured`),
so a file one command refuses the other refuses too.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> with ResultsWriter(path) as out:
...     out.write({"type": "measurement", "key": "dense|8x8x8|fp32", "status": "ok", "time_s": 1e-6})
>>> [r["key"] for r in read_results(path).measurements]
['dense|8x8x8|fp32']
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SparsimError, shown

__all__ = ["RESULTS_SCHEMA", "ResultsWriter", "ResultSet", "read_results", "json_lines", "check_times",
           "TIME_KEYS", "TIME_RANGE_S"]

RESULTS_SCHEMA = "sparsim-results/1"
_TYPES = ("run", "measurement")
#: the measured times a record may carry (median per call, kernels alone, per call)
TIME_KEYS = ("time_s", "kernel_s", "call_s")
#: a measured time outside this range is no measurement: nothing is timed below a
#: nanosecond (a few clock cycles, under any timer's resolution), and a point of more
#: than 10,000 s (2.8 hours) is a hang, not a kernel
TIME_RANGE_S = (1e-9, 1e4)


def check_times(record: dict, where: str, required: str | None = None) -> None:
    """Refuse a record whose times are not measured seconds (one line naming ``where``).

    Each of :data:`TIME_KEYS` present and not null must be a number (not ``true``, not a
    string) inside :data:`TIME_RANGE_S`; at least one must be present (``required``: that one).
    """
    lo, hi = TIME_RANGE_S
    found = []
    for key in TIME_KEYS:
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise SparsimError(f"{where}: key {key}: got {shown(value)}; allowed: measured seconds from "
                               f"{lo:g} to {hi:g} (a number, not NaN, infinite, zero, negative, a string or true)")
        found.append(key)
    if (required and required not in found) or not found:
        raise SparsimError(f"{where}: key {required or 'time_s'} missing; allowed: an ok measurement with its "
                           f"measured seconds ({', '.join(TIME_KEYS)})")


def json_lines(data: bytes, label: str):
    """(line number, object, whether the line ended with a newline) of each non-blank line
    of a JSON-lines file; ``label`` ("results FILE") starts every refusal."""
    lines = data.split(b"\n")
    last = len(lines) - (1 if lines and lines[-1] == b"" else 0)
    for number, raw in enumerate(lines[:last], start=1):
        if not raw.strip():
            continue
        complete = number < len(lines)  # every line but a final one without "\n" ended
        try:
            record = json.loads(raw)
        except RecursionError:
            raise SparsimError(f"{label}: line {number} is nested too deep to read; "
                               "allowed: one flat JSON object per line") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            if not complete:
                raise SparsimError(
                    f"{label}: line {number} is cut off mid-line (the run was killed while "
                    f"writing it); allowed: complete JSON lines; delete line {number} and run again to resume"
                ) from None
            raise SparsimError(f"{label}: line {number} is not JSON; allowed: one JSON object per line") from None
        if not isinstance(record, dict):
            raise SparsimError(f"{label}: line {number}: got a JSON {type(record).__name__}; allowed: a JSON object")
        yield number, record, complete


def _json_safe(value):
    """NaN/inf are not JSON; numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ResultsWriter:
    """Append records to a results file, each durable before ``write`` returns."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = None

    def __enter__(self) -> "ResultsWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self

    def write(self, record: dict) -> None:
        if self._fd is None:
            raise RuntimeError("ResultsWriter: use it as a context manager (with ResultsWriter(path) as out)")
        if record.get("type") == "measurement" and record.get("status") == "ok":
            try:  # what the reader would refuse is written as a failed point, with why
                check_times(record, "time")
            except SparsimError as exc:
                record = {**record, "status": "error", "error": f"not a measured time: {exc}"}
        record = {"schema": RESULTS_SCHEMA, **_json_safe(record)}
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
        # One write() of the whole line: an interrupt (SIGINT raises between bytecodes)
        # lands before or after it, never inside, so no half line from Ctrl-C.
        written = os.write(self._fd, line)
        if written != len(line):  # disk full: the short line would poison the file
            raise SparsimError(f"results {self.path}: short write ({written} of {len(line)} bytes); "
                               "allowed: a disk with free space")
        os.fsync(self._fd)

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class ResultSet:
    """What a results file holds: its run headers and measurements (last one per key)."""

    path: Path
    runs: list[dict] = field(default_factory=list)
    measurements: list[dict] = field(default_factory=list)

    @property
    def keys(self) -> set[str]:
        """Points already on disk (ok or error): a resumed run skips them."""
        return {m["key"] for m in self.measurements}

    def ok(self) -> list[dict]:
        return [m for m in self.measurements if m.get("status") == "ok"]

    def errors(self) -> list[dict]:
        return [m for m in self.measurements if m.get("status") != "ok"]

    def hw_names(self) -> set[str]:
        return {r["hw"] for r in self.runs + self.measurements if r.get("hw")}


def read_results(path: str | Path, missing_ok: bool = False) -> ResultSet:
    """Read and check a results file; errors name the file, the line and what is allowed."""
    path = Path(path)
    result = ResultSet(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return result
        raise SparsimError(f"--results: no such file {path}; allowed: a results.jsonl written by 'sparsim calibrate'") from None
    except OSError as exc:
        raise SparsimError(f"--results: cannot read {path}: {exc.strerror or exc}") from None
    by_key: dict[str, dict] = {}
    for number, record, _ in json_lines(data, f"results {path}"):
        schema = record.get("schema")
        if schema != RESULTS_SCHEMA:
            raise SparsimError(
                f"results {path}: line {number}: schema {schema!r}; allowed: {RESULTS_SCHEMA!r} "
                "(a file written by this version of 'sparsim calibrate')"
            )
        kind = record.get("type")
        if kind not in _TYPES:
            raise SparsimError(f"results {path}: line {number}: type {kind!r}; allowed: {', '.join(_TYPES)}")
        if kind == "run":
            result.runs.append(record)
        else:
            if not isinstance(record.get("key"), str):
                raise SparsimError(f"results {path}: line {number}: missing key; allowed: a measurement with a key")
            if record.get("status") == "ok":
                check_times(record, f"results {path}: line {number} (record {shown(record['key'])})")
            by_key[record["key"]] = record
    result.measurements = list(by_key.values())
    return result
