"""Saving and reloading a study's results with their provenance.

``sparsim study`` writes into its output folder:

* ``results.parquet`` — one row per (layer, predicted point); the provenance (study,
  profiles, calibration, sparsim version, date, refused points) rides in the file's schema
  metadata under ``sparsim``, so the Parquet file alone rebuilds the report;
* ``results.csv`` — the same rows for spreadsheets;
* ``provenance.json`` — the provenance on its own (and for a CSV-only reload);
* ``report.html`` — the report (:mod:`sparsim.reports`).

Each file is written to a temporary file and renamed (:mod:`sparsim.atomic`), the Parquet
file last of the three: a run killed while saving leaves the previous run's files whole,
and a reader never sees a cut-off file.

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

import numpy as np
import pandas as pd

from ..atomic import atomic_group
from ..errors import SparsimError, shown

__all__ = ["save_results", "load_results", "provenance", "check_out_dir", "RESULT_FILES"]

RESULT_FILES = {"parquet": "results.parquet", "csv": "results.csv", "provenance": "provenance.json"}
REPORT_FILE = "report.html"
_META_KEY = b"sparsim"


def provenance(study, result, executor: str) -> dict[str, Any]:
    """Where the numbers came from: study, profiles (with their files and what their figures
    rest on: ``basis``), calibration files (the study's, or the one sparsim ships for a
    profile: ``shipped``) and what they were fitted on, sparsim version, date, machine,
    time taken."""
    from ..version import __version__
    from ..calibration import load_calibration
    from ..hwprofiles import load_profile
    from .sweep import calibrations as _calibrations

    cal_of = _calibrations(study)
    profiles = []
    calibrations = []
    for hw in study.hardware:
        p = load_profile(hw)
        path, shipped = cal_of.get(p.name, (None, False))
        cal = load_calibration(path) if path else None
        profiles.append({"name": p.name, "display_name": p.display_name, "origin": p.origin,
                         "hbm_bytes": p.hbm_bytes, "hbm_bytes_per_s": p.hbm_bytes_per_s,
                         "basis": cal.label if cal else "datasheet only"})
        if cal is not None:
            calibrations.append({"path": Path(path).name if shipped else path, "hw": cal.hw, "shipped": shipped,
                                 "label": cal.label, "params": dict(cal.params),
                                 "measured": {k: float(v) for k, v in cal.measured.items()},
                                 "provenance": {k: _plain(v) for k, v in cal.provenance.items()}})
    steps = getattr(result, "steps", None)
    extra = {}
    if steps is not None:
        # the report's step timelines ride with the provenance, so the results alone rebuild it
        extra = {"steps": int(len(steps)), "step_timelines": getattr(result, "timelines", [])}
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
        **extra,
    }


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def save_results(table: pd.DataFrame, meta: dict[str, Any], folder: str | Path,
                 report_html: str | None = None) -> dict[str, Path]:
    """Write ``table`` as Parquet (with ``meta``) and CSV, ``meta`` as JSON, and the
    report page if given; the files are renamed into place together, Parquet last."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = check_out_dir(folder)
    paths = {kind: folder / name for kind, name in RESULT_FILES.items()}
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
    with atomic_group() as temp:
        temp(paths["provenance"]).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        table.to_csv(temp(paths["csv"]), index=False)
        if report_html is not None:
            paths["report"] = folder / REPORT_FILE
            temp(paths["report"]).write_text(report_html, encoding="utf-8")
        pq.write_table(arrow, temp(paths["parquet"]))
    return paths


def check_out_dir(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check that files can be written in it, before any
    work is done: a run that cannot save should fail in its first second, not its last."""
    from ..atomic import prepare_out

    return prepare_out(folder, "--out", folder=True)  # its name too: UTF-8, within NAME_MAX


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
    if suffix not in (".parquet", ".csv"):
        raise SparsimError(f"RESULTS {path}: unknown extension {suffix or '(none)'!r}; "
                           "allowed: .parquet, .csv, or a folder")
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            arrow = pq.read_table(path)
            raw = (arrow.schema.metadata or {}).get(_META_KEY)
            meta = _meta_json(raw, path) if raw else _sibling_meta(path)
            table = arrow.to_pandas()
        else:
            with open(path, "rb") as f:
                f.seek(0, 2)
                if f.tell() > 0:
                    f.seek(-1, 2)
                    if f.read(1) != b"\n":
                        raise SparsimError(f"RESULTS {path}: cut off (the last line has no end; the run that "
                                           "wrote it was killed); allowed: a whole results file: run the study again")
            table, meta = pd.read_csv(path), _sibling_meta(path)
    except SparsimError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pyarrow and pandas raise subclasses of these
        raise SparsimError(f"RESULTS {path}: unreadable ({' '.join(str(exc).split())[:200]}); "
                           "allowed: a results file written by 'sparsim study'") from None
    _check_table(table, path)
    rows = meta.get("rows")
    if isinstance(rows, int) and not isinstance(rows, bool) and rows != len(table):
        raise SparsimError(f"RESULTS {path}: holds {len(table)} rows but its provenance says {rows} (cut off, or "
                           "files of two runs); allowed: the files of one 'sparsim study' run")
    return table, meta


#: columns that must hold finite numbers wherever they are present
NUMERIC_COLUMNS = ("m", "k", "n", "batch", "density", "time_s", "kernel_s", "overhead_s", "roofline_floor_s",
                   "flops_useful", "flops_executed", "bytes_hbm", "bytes_l2", "bytes_values", "bytes_index",
                   "layer_order", "layer_count", "peak_flops_per_s", "hbm_bytes_per_s")


#: columns of a step row (kind "step") that must hold finite numbers: the rest (times of a
#: configuration that does not fit, TTFT of a single step) may be empty
STEP_NUMERIC_COLUMNS = ("batch", "density", "tp", "memory_capacity_bytes")


def _check_table(table: pd.DataFrame, path: Path) -> None:
    """Refuse a table whose numbers are not numbers (a hand-edited or damaged file)."""
    is_step = (table["kind"] == "step").to_numpy() if "kind" in table.columns else np.zeros(len(table), bool)
    for column in NUMERIC_COLUMNS + STEP_NUMERIC_COLUMNS:
        if column not in table.columns:
            continue
        # layer columns on layer rows, step columns on step rows (batch, density: both)
        rows = np.ones(len(table), bool) if column in NUMERIC_COLUMNS and column in STEP_NUMERIC_COLUMNS else (
            is_step if column in STEP_NUMERIC_COLUMNS else ~is_step)
        values = pd.to_numeric(table[column], errors="coerce").astype(float).to_numpy()
        bad = ~np.isfinite(values) & rows
        if bad.any():
            row = int(bad.nonzero()[0][0])
            raise SparsimError(f"RESULTS {path}: column {column}, row {row + 1}: got {shown(table[column].iloc[row])}; "
                               "allowed: finite numbers (a results file written by 'sparsim study')")


def _meta_json(raw, path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SparsimError(f"RESULTS {path}: its provenance is not JSON; allowed: a file written by "
                           "'sparsim study'") from None
    if not isinstance(meta, dict):
        raise SparsimError(f"RESULTS {path}: provenance is a JSON {type(meta).__name__}; allowed: a JSON object")
    for key, kind, allowed in _META_SHAPE:
        value = meta.get(key)
        if value is None:
            continue
        items = value if kind == "list of objects" else [value]
        if (kind == "list of objects" and not isinstance(value, list)) or not all(isinstance(v, dict) for v in items):
            raise SparsimError(f"RESULTS {path}: provenance key {key}: got {shown(value)}; allowed: {allowed}")
    return meta


# what the report reads from a provenance: (key, kind, allowed)
_META_SHAPE = (("study", "object", "a JSON object"), ("profiles", "list of objects", "a list of JSON objects"),
               ("calibration", "list of objects", "a list of JSON objects"),
               ("skipped", "list of objects", "a list of JSON objects"))


def _sibling_meta(path: Path) -> dict[str, Any]:
    meta_path = path.with_name(RESULT_FILES["provenance"])
    if not meta_path.is_file():
        return {}
    try:
        raw = meta_path.read_bytes()
    except OSError as exc:
        raise SparsimError(f"RESULTS {meta_path}: cannot read: {exc.strerror or exc}; allowed: a readable "
                           "provenance.json") from None
    return _meta_json(raw, meta_path)
