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

import json
import math
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import SparsimError
from ..models.patterns import PATTERNS

__all__ = ["MEASURED_KEYS", "read_measured", "compare_measured"]

#: keys every measurement must carry
MEASURED_KEYS = ("kernel", "m", "k", "n", "dtype", "density", "hw", "time_s")
_COLUMNS = ["kernel", "m", "k", "n", "dtype", "density", "pattern", "hw", "backend", "split",
            "measured_s", "predicted_s", "error", "bound"]


def read_measured(path: str | Path) -> list[dict]:
    """The usable measurements of a JSON-lines file; errors name the file, line and key."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SparsimError(f"--validation {path}: cannot read: {exc.strerror or exc}; "
                           "allowed: a JSON-lines file of measured times") from None
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise SparsimError(f"validation {path}: line {number}: not JSON; allowed: one JSON object per line") from None
        if not isinstance(record, dict):
            raise SparsimError(f"validation {path}: line {number}: got {type(record).__name__}; allowed: a JSON object")
        if record.get("type", "measurement") != "measurement" or record.get("status", "ok") != "ok":
            continue
        for key in MEASURED_KEYS:
            if key not in record:
                raise SparsimError(f"validation {path}: line {number}: key {key} missing; "
                                   f"allowed: records with {', '.join(MEASURED_KEYS)}")
        t = record["time_s"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise SparsimError(f"validation {path}: line {number}: key time_s: got {t!r}; allowed: seconds > 0")
        out.append(record)
    return out


def compare_measured(records: Iterable[dict], *, model: str = "des",
                     calibration: dict[str, str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Predict each measured record; one row per record with measured, predicted, error.

    ``calibration`` maps a profile name to the calibration file to use for it.
    """
    from ..api import predict
    from ..hwprofiles import load_profile

    calibration = calibration or {}
    rows = []
    for r in records:
        profile = load_profile(r["hw"])
        pattern = r.get("pattern", "uniform")
        pattern = pattern if pattern in PATTERNS else "uniform"
        p = predict(r["kernel"], m=int(r["m"]), k=int(r["k"]), n=int(r["n"]), hw=profile, dtype=r["dtype"],
                    density=float(r["density"]), pattern=pattern, calibration=calibration.get(profile.name),
                    model=model, seed=int(r.get("seed", seed)))
        measured = float(r["time_s"])
        rows.append((r["kernel"], int(r["m"]), int(r["k"]), int(r["n"]), r["dtype"], float(r["density"]),
                     pattern, profile.name, str(r.get("backend", "")), str(r.get("split", "")),
                     measured, p.time_s, (p.time_s - measured) / measured, p.bound))
    return pd.DataFrame(rows, columns=_COLUMNS)
