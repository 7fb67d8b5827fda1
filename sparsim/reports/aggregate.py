"""Aggregation: the results table reduced to the small tables each chart draws.

A 10,000-point sweep expands to tens of thousands of layer rows; charts should carry only
what they show. Everything here is plain pandas on the columns ``sparsim study`` writes
(one row per layer and point), knows nothing of how the times were predicted, and is
computed once per report.

* :func:`model_totals` — whole-network time per step, weight bytes and time split,
  summed over layers with their repeat counts;
* :func:`break_even` — the highest swept density at which each format still beats dense;
* :func:`speedups` — dense time / format time, per density;
* :func:`weight_memory` — values and index/metadata bytes of all weights per format;
* :func:`layer_times`, :func:`roofline_points`, :func:`time_split` — per-chart slices.

>>> import pandas as pd
>>> t = pd.DataFrame({"workload": "w", "hw": "gpu", "dtype": "fp16", "batch": 1, "layer": "q",
...     "layer_order": 0, "layer_count": 2, "format": ["dense", "csr", "csr"],
...     "density": [0.1, 0.1, 0.5], "time_s": [1.0, 0.5, 2.0], "bytes_values": 8, "bytes_index": 4})
>>> be = break_even(model_totals(t))
>>> be[["format", "break_even_density", "speedup"]].values.tolist()
[['csr', 0.1, 2.0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "TIME_SPLIT", "SPARSE_FORMATS", "STRUCTURED_FORMATS", "model_totals", "break_even", "speedups",
    "weight_memory", "layer_times", "roofline_points", "time_split", "default_choice", "FORMAT_ORDER",
]

TIME_SPLIT = ("compute", "memory", "latency", "launch", "other")
#: formats whose benefit depends on the density (unstructured, or fewer channels)
SPARSE_FORMATS = ("csr", "coo", "bsr", "grouped", "channel")
#: formats that keep a fixed structured fraction whatever the density
STRUCTURED_FORMATS = ("2:4", "1:2")
#: order formats appear in legends and tables
FORMAT_ORDER = ("dense", "2:4", "1:2", "csr", "coo", "bsr", "grouped", "channel")
_STEP = ["workload", "hw", "dtype", "format", "density", "batch"]


def _ordered(values) -> list:
    present = list(dict.fromkeys(values))
    return [f for f in FORMAT_ORDER if f in present] + [f for f in present if f not in FORMAT_ORDER]


def model_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, hw, dtype, format, density, batch): the network's time per step
    (every layer once per its count), weight bytes, and seconds per time category."""
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
    return out


def _dense_reference(totals: pd.DataFrame) -> pd.Series:
    """Dense time per (workload, hw, dtype, batch); a dense kernel ignores the density,
    so the fastest of its rows stands for all."""
    dense = totals[totals["format"] == "dense"]
    return dense.groupby(["workload", "hw", "dtype", "batch"], observed=True)["time_s"].min()


def speedups(totals: pd.DataFrame) -> pd.DataFrame:
    """``totals`` with ``dense_time_s`` and ``speedup`` (dense time / this time)."""
    ref = _dense_reference(totals).rename("dense_time_s").reset_index()
    out = totals.merge(ref, on=["workload", "hw", "dtype", "batch"], how="inner")
    out["speedup"] = out["dense_time_s"] / out["time_s"]
    return out


def break_even(totals: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, hw, dtype, batch, format other than dense): the highest swept density
    at which the format is faster than dense (NaN: not at any swept density), and the
    speedup there. For 2:4/1:2, whose time does not depend on the density, the
    break-even density is the structured density (0.5) when it is faster at all.

    ``beyond_swept`` is True when the format still beats dense at the highest density the
    study swept: the real break-even lies beyond the swept range (it is at least that
    density), so reports say "≥ X" instead of presenting X as the limit."""
    sp = speedups(totals)
    sp = sp[sp["format"] != "dense"]
    rows = []
    for key, group in sp.groupby(["workload", "hw", "dtype", "batch", "format"], sort=False, observed=True):
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
    return pd.DataFrame(rows, columns=["workload", "hw", "dtype", "batch", "format", "break_even_density",
                                       "speedup", "best_speedup", "beyond_swept"])


def weight_memory(totals: pd.DataFrame) -> pd.DataFrame:
    """Bytes of all weights per (workload, dtype, format, density), split into values and
    index/metadata (the same on every GPU and batch size)."""
    first = totals.drop_duplicates(["workload", "dtype", "format", "density"])
    return first[["workload", "dtype", "format", "density", "bytes_values", "bytes_index"]].reset_index(drop=True)


def layer_times(table: pd.DataFrame) -> pd.DataFrame:
    """The per-layer chart's slice: time per call of every layer, point by point."""
    cols = ["workload", "layer", "layer_order", "layer_count", "m", "k", "n", "hw", "dtype", "format",
            "density", "batch", "time_s", "bound"]
    return table[cols].reset_index(drop=True)


def roofline_points(points: pd.DataFrame) -> pd.DataFrame:
    """One point per distinct predicted kernel: arithmetic intensity (executed FLOPs per
    DRAM byte) against the executed FLOP/s it reached."""
    p = points.drop_duplicates(["workload", "m", "k", "n", "hw", "dtype", "format", "density"])
    out = p[["workload", "m", "k", "n", "batch", "hw", "dtype", "format", "density", "bound", "time_s",
             "flops_executed", "flops_useful", "bytes_hbm", "peak_flops_per_s", "hbm_bytes_per_s", "math"]].copy()
    out["intensity"] = out["flops_executed"] / out["bytes_hbm"].clip(lower=1)
    out["tflops"] = out["flops_executed"] / out["time_s"] / 1e12
    out["useful_tflops"] = out["flops_useful"] / out["time_s"] / 1e12
    return out.reset_index(drop=True)


def time_split(totals: pd.DataFrame) -> pd.DataFrame:
    """Long form of the time categories: one row per (step, category) with seconds."""
    cols = [f"time_{c}_s" for c in TIME_SPLIT if f"time_{c}_s" in totals]
    long = totals.melt(id_vars=_STEP, value_vars=cols, var_name="category", value_name="seconds")
    long["category"] = long["category"].str[len("time_"):-len("_s")]
    return long[long["seconds"] > 0].reset_index(drop=True)


def default_choice(values, prefer=None):
    """The value a chart's dropdown starts on: ``prefer`` if swept, else the middle one."""
    values = sorted(set(values))
    if prefer is not None and prefer in values:
        return prefer
    return values[(len(values) - 1) // 2]
