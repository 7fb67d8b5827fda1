"""Aggregation: the results table reduced to the small tables each chart draws.

A 10,000-point sweep expands to tens of thousands of layer rows; charts should carry only
what they show. Everything here is plain pandas on the columns ``sparsim study`` writes
(one row per layer and point), knows nothing of how the times were predicted, and is
computed once per report.

Each software path (``path``: ``default`` for each format's default library, else the
implementation, :mod:`sparsim.studies.paths`) is compared with dense on the same path:
PyTorch's 2:4 with ``torch.mm``, cuSPARSELt with cuBLAS. A path without a dense of its
own (``cusparselt-search``, ``reference``) is compared with the default path's dense.

* :func:`model_totals` — whole-network time per step, weight bytes and time split,
  summed over layers with their repeat counts;
* :func:`break_even` — the highest swept density at which each format still beats dense;
* :func:`speedups` — dense time / format time, per density;
* :func:`with_paths` — fills ``path``/``impl``/``basis`` for tables of older studies and
  adds ``series``, the label ("2:4 · torch") charts show each (format, path) by;
* :func:`weight_memory` — values and index/metadata bytes of all weights per format;
* :func:`layer_times`, :func:`roofline_points`, :func:`time_split` — per-chart slices.

>>> import pandas as pd
>>> t = pd.DataFrame({"workload": "w", "hw": "gpu", "dtype": "fp16", "batch": 1, "layer": "q",
...     "layer_order": 0, "layer_count": 2, "format": ["dense", "csr", "csr"],
...     "density": [0.1, 0.1, 0.5], "time_s": [1.0, 0.5, 2.0], "bytes_values": 8, "bytes_index": 4})
>>> be = break_even(model_totals(t))
>>> be[["format", "path", "break_even_density", "speedup"]].values.tolist()
[['csr', 'default', 0.1, 2.0]]
"""

from __future__ import annotations

from pathlib import PurePath

import numpy as np
import pandas as pd

from ..models.kernels import BASELINE, KERNEL_OBJECTS

__all__ = [
    "TIME_SPLIT", "SPARSE_FORMATS", "STRUCTURED_FORMATS", "model_totals", "break_even", "speedups",
    "weight_memory", "layer_times", "roofline_points", "time_split", "default_choice", "FORMAT_ORDER",
    "with_paths", "DEFAULT_PATH", "path_order",
]

TIME_SPLIT = ("compute", "memory", "latency", "launch", "host", "other")
#: the path label of each format's default library (sparsim.studies.paths)
DEFAULT_PATH = "default"
#: formats whose benefit depends on the density (unstructured, or fewer channels)
SPARSE_FORMATS = ("csr", "coo", "bsr", "grouped", "channel")
#: formats that keep a fixed structured fraction whatever the density
STRUCTURED_FORMATS = tuple(name for name, k in KERNEL_OBJECTS.items() if k.is_nm)
#: formats that remove whole rows (a smaller dense GEMM)
ROW_PRUNING_FORMATS = tuple(name for name, k in KERNEL_OBJECTS.items() if k.prunes_rows)
#: order formats appear in legends and tables
FORMAT_ORDER = ("dense", "2:4", "1:2", "csr", "coo", "bsr", "grouped", "channel")
_STEP = ["workload", "hw", "dtype", "format", "path", "density", "batch"]
#: columns that follow from the step's (format, path, hw): carried through the totals
_CARRIED = ("impl", "basis", "series")


def _ordered(values) -> list:
    present = list(dict.fromkeys(values))
    return [f for f in FORMAT_ORDER if f in present] + [f for f in present if f not in FORMAT_ORDER]


def path_order(paths) -> list[str]:
    """Paths in the order a report shows them: the default libraries first."""
    present = list(dict.fromkeys(paths))
    return [p for p in present if p == DEFAULT_PATH] + [p for p in present if p != DEFAULT_PATH]


def with_paths(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``path``, ``impl``, ``basis`` and ``series`` columns.

    Results of studies from before implementations were an axis have none of the first
    three: their path is the default one, their implementation unknown (""), and their
    basis "datasheet only" unless a calibration file was named. ``series`` is the format
    alone when the table holds one path, else "format · implementation".
    """
    t = table.copy()
    if "path" not in t:
        t["path"] = DEFAULT_PATH
    t["path"] = t["path"].fillna(DEFAULT_PATH).astype(str)
    if "impl" not in t:
        t["impl"] = ""
    t["impl"] = t["impl"].fillna("").astype(str)
    if "basis" not in t:
        cal = t["calibration"] if "calibration" in t else pd.Series(None, index=t.index, dtype=object)
        t["basis"] = ["datasheet only" if c is None or (isinstance(c, float) and np.isnan(c)) or c == ""
                      else f"calibrated with {PurePath(str(c)).name}" for c in cal]
    t["basis"] = t["basis"].fillna("datasheet only").astype(str)
    if t["path"].nunique() <= 1:
        t["series"] = t["format"].astype(str)
    else:
        named = t["impl"].where(t["impl"] != "", t["path"])
        t["series"] = t["format"].astype(str) + " · " + named
    return t


def model_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, hw, dtype, format, path, density, batch): the network's time per
    step (every layer once per its count), weight bytes, and seconds per time category."""
    if "path" not in table or "series" not in table:
        table = with_paths(table)
    t = table.assign(_w=table["layer_count"])
    sums = {"time_s": t["time_s"] * t["_w"], "bytes_values": t["bytes_values"] * t["_w"],
            "bytes_index": t["bytes_index"] * t["_w"]}
    for cat in TIME_SPLIT:
        col = f"time_{cat}_s"
        if col in t:
            sums[col] = t[col] * t["_w"]
    frame = pd.DataFrame(sums)
    for key in _STEP:
        frame[key] = t[key].values
    out = frame.groupby(_STEP, sort=False, observed=True).sum().reset_index()
    out["layers"] = t.groupby(_STEP, sort=False, observed=True)["_w"].sum().values
    carried = t.drop_duplicates(_STEP)[_STEP + list(_CARRIED)]
    return out.merge(carried, on=_STEP, how="left")


_REF = ["workload", "hw", "dtype", "batch"]


def _dense_reference(totals: pd.DataFrame) -> pd.DataFrame:
    """Dense time per (workload, hw, dtype, batch, path) with the dense implementation; a
    dense kernel ignores the density, so the fastest of its rows stands for all."""
    dense = totals[totals["format"] == BASELINE]
    if dense.empty:
        return pd.DataFrame(columns=_REF + ["path", "dense_time_s", "dense_impl"])
    idx = dense.groupby(_REF + ["path"], observed=True)["time_s"].idxmin()
    ref = dense.loc[idx, _REF + ["path", "time_s"] + (["impl"] if "impl" in dense else [])]
    return ref.rename(columns={"time_s": "dense_time_s", "impl": "dense_impl"}).reset_index(drop=True)


def speedups(totals: pd.DataFrame) -> pd.DataFrame:
    """``totals`` with ``dense_time_s`` and ``speedup`` (dense time / this time), dense on
    the same path or, for a path without dense, on the default path (``dense_path`` says
    which, ``dense_impl`` which library ran it). Rows with neither are left out."""
    if "path" not in totals:
        totals = totals.assign(path=DEFAULT_PATH)
    ref = _dense_reference(totals)
    if "dense_impl" not in ref:
        ref = ref.assign(dense_impl="")
    own = totals.merge(ref, on=_REF + ["path"], how="left")
    own["dense_path"] = own["path"].where(own["dense_time_s"].notna(), DEFAULT_PATH)
    fallback = ref[ref["path"] == DEFAULT_PATH].drop(columns="path").rename(
        columns={"dense_time_s": "_fallback_s", "dense_impl": "_fallback_impl"})
    out = own.merge(fallback, on=_REF, how="left")
    missing = out["dense_time_s"].isna()
    out.loc[missing, "dense_time_s"] = out.loc[missing, "_fallback_s"]
    out.loc[missing, "dense_impl"] = out.loc[missing, "_fallback_impl"]
    out = out.drop(columns=["_fallback_s", "_fallback_impl"])
    out = out[out["dense_time_s"].notna()].reset_index(drop=True)
    out["dense_time_s"] = out["dense_time_s"].astype(float)
    out["speedup"] = out["dense_time_s"] / out["time_s"]
    return out


def break_even(totals: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, hw, dtype, batch, format other than dense, path): the highest swept
    density at which the format is faster than dense on its path (NaN: not at any swept density), and the
    speedup there. For 2:4/1:2, whose time does not depend on the density, the
    break-even density is the structured density (0.5) when it is faster at all.

    ``beyond_swept`` is True when the format still beats dense at the highest density the
    study swept: the real break-even lies beyond the swept range (it is at least that
    density), so reports say "≥ X" instead of presenting X as the limit."""
    sp = speedups(totals)
    sp = sp[sp["format"] != BASELINE]
    rows = []
    for key, group in sp.groupby(["workload", "hw", "dtype", "batch", "format", "path"], sort=False, observed=True):
        if key[4] in STRUCTURED_FORMATS:
            best = group.loc[group["speedup"].idxmax()]
            pays = best["speedup"] > 1
            rows.append((*key, 0.5 if pays else np.nan, float(best["speedup"]), float(group["speedup"].max()),
                         False))
            continue
        faster = group[group["speedup"] > 1]
        if faster.empty:
            rows.append((*key, np.nan, np.nan, float(group["speedup"].max()), False))
        else:
            top = faster.loc[faster["density"].idxmax()]
            beyond = bool(top["density"] >= group["density"].max())
            rows.append((*key, float(top["density"]), float(top["speedup"]), float(group["speedup"].max()), beyond))
    out = pd.DataFrame(rows, columns=["workload", "hw", "dtype", "batch", "format", "path", "break_even_density",
                                      "speedup", "best_speedup", "beyond_swept"])
    carried = [c for c in _CARRIED + ("dense_path", "dense_impl") if c in sp]
    keys = ["workload", "hw", "dtype", "batch", "format", "path"]
    return out.merge(sp.drop_duplicates(keys)[keys + carried], on=keys, how="left")


def weight_memory(totals: pd.DataFrame) -> pd.DataFrame:
    """Bytes of all weights per (workload, dtype, format, stored form, density), split
    into values and index/metadata (the same on every GPU and batch size).

    Paths that store a format alike (cuBLAS and torch.mm both keep dense weights) are one
    row; where libraries store it differently (PyTorch's int64 CSR indices, cuSPARSE's
    int32) each gets a row, its ``series`` naming the implementations ("csr · torch")."""
    t = totals if "path" in totals else totals.assign(path=DEFAULT_PATH)
    if "impl" not in t:
        t = t.assign(impl="")
    first = t.drop_duplicates(["workload", "dtype", "format", "path", "density"])
    rows = []
    for (workload, dtype, fmt), group in first.groupby(["workload", "dtype", "format"], sort=False):
        forms: dict[tuple, list] = {}  # the bytes at every density -> paths storing it so
        for path in path_order(group["path"]):
            g = group[group["path"] == path].sort_values("density")
            key = tuple(zip(g["density"], g["bytes_values"], g["bytes_index"]))
            forms.setdefault(key, []).append(g)
        for groups in forms.values():
            names = [str(g["impl"].iloc[0]) or str(g["path"].iloc[0]) for g in groups]
            series = fmt if len(forms) == 1 else f"{fmt} · {'/'.join(names)}"
            g = groups[0]
            rows.append(g.assign(series=series, path=groups[0]["path"].iloc[0])[
                ["workload", "dtype", "format", "path", "series", "density", "bytes_values", "bytes_index"]])
    if not rows:
        return pd.DataFrame(columns=["workload", "dtype", "format", "path", "series", "density", "bytes_values",
                                     "bytes_index"])
    return pd.concat(rows, ignore_index=True)


def layer_times(table: pd.DataFrame) -> pd.DataFrame:
    """The per-layer chart's slice: time per call of every layer, point by point."""
    cols = ["workload", "layer", "layer_order", "layer_count", "m", "k", "n", "hw", "dtype", "format", "path",
            "series", "impl", "density", "batch", "time_s", "bound"]
    return table[[c for c in cols if c in table]].reset_index(drop=True)


def roofline_points(points: pd.DataFrame) -> pd.DataFrame:
    """One point per distinct predicted kernel: arithmetic intensity (executed FLOPs per
    DRAM byte) against the executed FLOP/s it reached."""
    key = ["workload", "m", "k", "n", "hw", "dtype", "format", "density"] + (["path"] if "path" in points else [])
    p = points.drop_duplicates(key)
    cols = ["workload", "m", "k", "n", "batch", "hw", "dtype", "format", "path", "series", "density", "bound",
            "time_s", "flops_executed", "flops_useful", "bytes_hbm", "peak_flops_per_s", "hbm_bytes_per_s", "math"]
    out = p[[c for c in cols if c in p]].copy()
    out["intensity"] = out["flops_executed"] / out["bytes_hbm"].clip(lower=1)
    out["tflops"] = out["flops_executed"] / out["time_s"] / 1e12
    out["useful_tflops"] = out["flops_useful"] / out["time_s"] / 1e12
    return out.reset_index(drop=True)


def time_split(totals: pd.DataFrame) -> pd.DataFrame:
    """Long form of the time categories: one row per (step, category) with seconds."""
    cols = [f"time_{c}_s" for c in TIME_SPLIT if f"time_{c}_s" in totals]
    ids = _STEP + [c for c in ("series",) if c in totals]
    long = totals.melt(id_vars=ids, value_vars=cols, var_name="category", value_name="seconds")
    long["category"] = long["category"].str[len("time_"):-len("_s")]
    return long[long["seconds"] > 0].reset_index(drop=True)


def default_choice(values, prefer=None):
    """The value a chart's dropdown starts on: ``prefer`` if swept, else the middle one."""
    values = sorted(set(values))
    if prefer is not None and prefer in values:
        return prefer
    return values[(len(values) - 1) // 2]
