"""Measured times next to predictions: the report's predicted-vs-measured section.

The input is a JSON-lines file, one measurement per line. The minimal record is::

    {"kernel": "csr", "m": 4096, "k": 4096, "n": 256, "dtype": "fp32",
     "density": 0.1, "hw": "a100-sxm4-80gb", "time_s": 0.00123}

``time_s`` is the measured time in seconds (a median, as a benchmark reports it); ``hw``
a profile name, ``"host"`` or a profile path. Optional keys: ``pattern`` and ``seed`` (the
generator of A's nonzeros; default uniform, 0), ``status`` (lines whose status is not
``"ok"`` are left out), ``backend`` and ``split`` (shown as they are). This is a subset of
the results file ``sparsim calibrate`` writes (schema ``sparsim-results/1``), so that file
can be given as it is; its ``"type": "run"`` header lines are skipped.

Each measurement is predicted again with the study's time model and calibration, and the
signed error ``(predicted - measured) / measured`` is reported (positive: the model is
too slow).

>>> import json, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "m.jsonl")
>>> with open(path, "w") as f:
...     _ = f.write(json.dumps({"kernel": "dense", "m": 4096, "k": 4096, "n": 4096, "dtype": "fp16",
...                             "density": 1.0, "hw": "a100-sxm4-80gb", "time_s": 4.7e-4}) + "\\n")
>>> table = compare_measured(read_measured(path), model="analytic")
>>> round(float(table.error[0]), 2)
-0.03
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import SparsimError, shown
from ..models.patterns import PATTERNS

__all__ = ["MEASURED_KEYS", "read_measured", "compare_measured"]

#: keys every measurement must carry
MEASURED_KEYS = ("kernel", "m", "k", "n", "dtype", "density", "hw", "time_s")
_COLUMNS = ["kernel", "m", "k", "n", "dtype", "density", "pattern", "hw", "backend", "split",
            "measured_s", "predicted_s", "error", "bound"]


#: largest measured-times file read (a calibration run writes a few MB)
MAX_MEASURED_BYTES = 256 * 2**20


def read_measured(path: str | Path) -> list[dict]:
    """The usable measurements of a JSON-lines file; errors name the file, line and key.

    Every field is checked (:func:`sparsim.validate.spec.check_record`): a value of the wrong
    type or out of range is refused, never rounded or replaced.
    """
    from ..models.work import KERNELS
    from ..validate.results import check_times, json_lines
    from ..validate.spec import check_record

    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MEASURED_BYTES + 1)
    except OSError as exc:
        raise SparsimError(f"--validation {path}: cannot read: {exc.strerror or exc}; "
                           "allowed: a JSON-lines file of measured times") from None
    if len(raw) > MAX_MEASURED_BYTES:
        raise SparsimError(f"--validation {path}: larger than {MAX_MEASURED_BYTES // 2**20} MiB; "
                           "allowed: a JSON-lines file of measured times")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SparsimError(f"--validation {path}: not UTF-8 text (byte {exc.start}); "
                           "allowed: a JSON-lines file of measured times") from None
    out = []
    # the one line reader and time check of results files (sparsim.validate.results)
    for number, record, _ in json_lines(raw, f"--validation {path}"):
        where = f"--validation {path}: line {number}"
        if record.get("type", "measurement") != "measurement" or record.get("status", "ok") != "ok":
            continue
        for key in MEASURED_KEYS:
            if key not in record:
                raise SparsimError(f"{where}: key {key} missing; allowed: records with {', '.join(MEASURED_KEYS)}")
        check_times(record, where, required="time_s")
        hw = record["hw"]
        if not isinstance(hw, str) or not hw.strip():
            raise SparsimError(f"{where}: key hw: got {shown(hw)}; allowed: a profile name or path")
        fields = check_record(record, where, kernels=KERNELS)
        if "seed" in record:
            fields["seed"] = record["seed"]
        out.append({**record, **fields})
    return out


def _call_of(record: dict, profile) -> dict:
    """The implementation and call options a measured record timed (its ``impl``,
    ``b_layout`` and ``index_bits``; older records by their backend), for ``predict``."""
    from ..impls import get_impl, impl_names
    from ..models.kernels import kernel_of
    from ..validate.spec import impl_of

    out = {}
    impl = impl_of(record)
    if impl in impl_names() and record["kernel"] in get_impl(impl).rules and get_impl(impl).kind == profile.kind:
        out["impl"] = impl
    if record.get("b_layout") in ("row", "col"):
        out["b_layout"] = record["b_layout"]
    elif record.get("impl") is None and record.get("backend") == "cupy" and kernel_of(record["kernel"]).reuse_unit == "row":
        out["b_layout"] = "col"  # cupyx.cusparse.spmm, before records named their variant
    if record.get("index_bits") in (32, 64) and kernel_of(record["kernel"]).needs_pattern:
        out["index_policy"] = "int64" if record["index_bits"] == 64 else "library"
    return out


def compare_measured(records: Iterable[dict], *, model: str = "des",
                     calibration: dict[str, str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Predict each measured record; one row per record with measured, predicted, error.

    ``calibration`` maps a profile name to the calibration file to use for it. A record
    that cannot be compared (its profile is not one this machine knows, such as a host CPU
    profile of another run, or the time model refuses its point) is left out and listed in
    ``table.attrs["not_compared"]``: ``{"hw", "kernel", "points", "reason"}`` per cause.
    """
    from ..api import predict
    from ..hwprofiles import load_profile

    calibration = calibration or {}
    rows = []
    profiles: dict[str, object] = {}
    skipped: dict[tuple, int] = {}
    for r in records:
        hw = r["hw"]
        if hw not in profiles:
            try:
                profiles[hw] = load_profile(hw) if hw != "host" else None
                if profiles[hw] is None:
                    raise SparsimError("'host' names whatever CPU reads the file; compare host measurements "
                                       "with 'sparsim validate' on the machine that took them")
            except SparsimError as exc:
                profiles[hw] = exc
        profile = profiles[hw]
        if isinstance(profile, SparsimError):
            reason = str(profile)
            if reason.startswith("--hw:"):
                reason = f"profile {hw!r} is not a built-in profile or a readable profile file"
                if hw.startswith("host-"):  # what 'sparsim calibrate' names a host CPU
                    reason += ("; it is the host CPU that took the measurements: score them there with "
                               "'sparsim validate --results ... --calibration ...'")
            key = (hw, r["kernel"], reason)
            skipped[key] = skipped.get(key, 0) + 1
            continue
        pattern = r.get("pattern", "uniform")
        pattern = pattern if pattern in PATTERNS else "uniform"  # "dense" of a dense record
        try:
            p = predict(r["kernel"], m=r["m"], k=r["k"], n=r["n"], hw=profile, dtype=r["dtype"],
                        density=r["density"], pattern=pattern, calibration=calibration.get(profile.name),
                        model=model, seed=int(r.get("seed", seed)), compare=False, **_call_of(r, profile))
        except SparsimError as exc:
            key = (profile.name, r["kernel"], str(exc))
            skipped[key] = skipped.get(key, 0) + 1
            continue
        # a record that timed the kernels alone is compared with the predicted kernels
        kernel_only = isinstance(r.get("kernel_s"), (int, float)) and r.get("kernel_s") == r.get("time_s")
        predicted = p.kernel_s if kernel_only else p.time_s
        measured = float(r["time_s"])
        rows.append((r["kernel"], r["m"], r["k"], r["n"], r["dtype"], r["density"],
                     pattern, profile.name, str(r.get("backend", "")), str(r.get("split", "")),
                     measured, predicted, (predicted - measured) / measured, p.bound))
    table = pd.DataFrame(rows, columns=_COLUMNS)
    table.attrs["not_compared"] = [{"hw": hw, "kernel": kernel, "points": n, "reason": reason}
                                   for (hw, kernel, reason), n in skipped.items()]
    return table
