"""Saving and reloading a study's results with their provenance.

``sparsim study`` writes into its output folder:

* ``results.parquet`` — one row per (layer, predicted point); the provenance (study,
  profiles, calibration, sparsim version, date, refused points) rides in the file's schema
  metadata under ``sparsim``, so the Parquet file alone rebuilds the report;
* ``results.csv`` — the same rows for spreadsheets;
* ``provenance.json`` — the provenance on its own (and for a CSV-only reload);
* ``report.html`` — the report (:mod:`sparsim.reports`).

>>> import pandas as pd, tempfile
>>> folder = tempfile.mkdtemp()
>>> paths = save_results(pd.DataFrame({"time_s": [1e-3]}), {"study": {"name": "t"}}, folder)
>>> table, meta = load_results(folder)
>>> float(table.time_s[0]), meta["study"]["name"]
(0.001, 't')
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import SparsimError

__all__ = ["save_results", "load_results", "provenance", "RESULT_FILES"]

RESULT_FILES = {"parquet": "results.parquet", "csv": "results.csv", "provenance": "provenance.json"}
_META_KEY = b"sparsim"


def provenance(study, result, executor: str) -> dict[str, Any]:
    """Where the numbers came from: study, profiles (with their files), calibration files
    and what they were fitted on, sparsim version, date, machine, time taken."""
    from .. import __version__
    from ..calibration import load_calibration
    from ..hwprofiles import load_profile

    profiles = []
    for hw in study.hardware:
        p = load_profile(hw)
        profiles.append({"name": p.name, "display_name": p.display_name, "origin": p.origin,
                         "hbm_bytes": p.hbm_bytes, "hbm_bytes_per_s": p.hbm_bytes_per_s})
    calibrations = []
    for path in study.calibration:
        cal = load_calibration(path)
        calibrations.append({"path": path, "hw": cal.hw, "params": dict(cal.params),
                             "provenance": {k: _plain(v) for k, v in cal.provenance.items()}})
    return {
        "sparsim_version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "study": study.to_dict(),
        "profiles": profiles,
        "calibration": calibrations,
        "predictions": int(len(result.points)),
        "rows": int(len(result.table)),
        "tasks": result.tasks,
        "elapsed_s": round(result.elapsed_s, 3),
        "executor": executor,
        "skipped": result.skipped,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "argv": [str(a) for a in sys.argv[1:]],
    }


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def save_results(table: pd.DataFrame, meta: dict[str, Any], folder: str | Path) -> dict[str, Path]:
    """Write ``table`` as Parquet (with ``meta``) and CSV, and ``meta`` as JSON."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SparsimError(f"--out: cannot create {folder}: {exc.strerror or exc}; allowed: a writable folder") from None
    paths = {kind: folder / name for kind, name in RESULT_FILES.items()}
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
    pq.write_table(arrow, paths["parquet"])
    table.to_csv(paths["csv"], index=False)
    paths["provenance"].write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return paths


def load_results(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read results written by :func:`save_results`: a folder, a .parquet or a .csv file."""
    path = Path(path)
    if path.is_dir():
        for kind in ("parquet", "csv"):
            if (path / RESULT_FILES[kind]).is_file():
                return load_results(path / RESULT_FILES[kind])
        raise SparsimError(f"RESULTS {path}: holds no {RESULT_FILES['parquet']} or {RESULT_FILES['csv']}; "
                           "allowed: the --out folder of 'sparsim study', or one of those files")
    if not path.is_file():
        raise SparsimError(f"RESULTS {path}: no such file or folder; allowed: the --out folder of "
                           "'sparsim study', or its results.parquet / results.csv")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            arrow = pq.read_table(path)
            raw = (arrow.schema.metadata or {}).get(_META_KEY)
            meta = json.loads(raw) if raw else _sibling_meta(path)
            return arrow.to_pandas(), meta
        if suffix == ".csv":
            return pd.read_csv(path), _sibling_meta(path)
    except (OSError, ValueError) as exc:  # pyarrow and pandas raise subclasses of these
        raise SparsimError(f"RESULTS {path}: unreadable ({' '.join(str(exc).split())[:200]}); "
                           "allowed: a results file written by 'sparsim study'") from None
    raise SparsimError(f"RESULTS {path}: unknown extension {suffix or '(none)'!r}; allowed: .parquet, .csv, or a folder")


def _sibling_meta(path: Path) -> dict[str, Any]:
    meta_path = path.with_name(RESULT_FILES["provenance"])
    if meta_path.is_file():
        try:
            return json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    return {}
