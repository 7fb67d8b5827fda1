"""Whole-model steps in a report: speedup over dense per cell, and findings in one sentence each.

The step rows of a study (``kind == "step"``, :data:`sparsim.studies.steps.STEP_COLUMNS`)
hold one predicted step (or request) per (model workload, GPU, mode, tp, dtype, software
path, batch). :func:`step_speedups` puts beside each the same step with dense,
unquantized linears on the same GPU, mode, tp, dtype and batch size, run by the same
implementation where it has a dense path of its own (else the default libraries'), and
the end-to-end speedup ``tokens_per_s / dense tokens_per_s``; it is defined only where
both fit in memory. :func:`step_findings` turns that into short sentences, one finding
each, which the report prints after the decision tables.

>>> import pandas as pd
>>> s = pd.DataFrame({"workload": "w", "hw": "h", "hw_display": "H", "mode": "eager", "tp": 1,
...     "dtype": "fp16", "batch": 1, "format": ["dense", "2:4"], "quant": "none", "path": "default",
...     "series": ["dense", "2:4"], "fits": True, "tokens_per_s": [100.0, 150.0], "time_s": [0.01, 0.0067]})
>>> step_speedups(s)["speedup"].round(2).tolist()
[1.0, 1.5]
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import SparsimError
from ..models.kernels import BASELINE
from ..units import prose_bytes, prose_seconds
from .aggregate import DEFAULT_PATH

__all__ = ["STEP_REQUIRED", "split_kinds", "valid_timelines", "step_speedups", "step_findings", "row_keys", "fmt_rate", "does_not_fit"]

#: what makes two steps comparable (a speedup compares paths inside one of these)
_CELL = ["workload", "hw", "mode", "tp", "dtype", "batch"]
#: what names one row of a decision table
_ROW = ["hw", "mode", "tp", "dtype", "series"]
_INT_COLUMNS = ("m", "k", "n", "batch", "shape_id", "layer_order", "layer_count", "tp", "context", "prompt", "gen",
                "dependent_access_depth")


def _ints(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole-number columns back to integers (a table of layers and steps together
    stores them as floats where the other kind has none)."""
    for col in _INT_COLUMNS:
        if col in frame and pd.api.types.is_float_dtype(frame[col]):
            values = frame[col]
            if values.notna().all() and (values == values.round()).all():
                frame[col] = values.astype("int64")
    return frame


#: columns a step row must have for the report
STEP_REQUIRED = ("workload", "workload_title", "phase", "hw", "hw_display", "mode", "tp", "dtype", "format",
                 "series", "batch", "fits", "time_s", "tokens_per_s")


def split_kinds(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(layer rows, step rows or None): a table without ``kind`` holds layers only."""
    if "kind" not in results:
        return results, None
    missing = [c for c in STEP_REQUIRED if c not in results.columns]
    if missing and (results["kind"] == "step").any():
        raise SparsimError(f"RESULTS: step rows without columns {', '.join(missing)}; allowed: a table written by "
                           "'sparsim study'")
    is_step = results["kind"] == "step"
    step_rows, layer_rows = results[is_step], results[~is_step]
    # a column only the other kind fills (a step has no GEMM shape, a layer no tokens/s)
    step_only = [c for c in results if layer_rows[c].isna().all() and step_rows[c].notna().any()]
    layer_only = [c for c in results if step_rows[c].isna().all() and layer_rows[c].notna().any()]
    steps = step_rows.drop(columns=layer_only).reset_index(drop=True)
    layers = layer_rows.drop(columns=step_only + ["kind"]).reset_index(drop=True)
    for col in ("fits",):
        if col in steps:
            steps[col] = steps[col].map(lambda v: v is True or str(v).lower() in ("true", "1", "1.0")).astype(bool)
    return _ints(layers), _ints(steps) if is_step.any() else None


def step_speedups(steps: pd.DataFrame) -> pd.DataFrame:
    """``steps`` with ``dense_tokens_per_s``, ``dense_fits``, ``dense_memory_bytes`` and
    ``speedup`` (see the module doc)."""
    s = steps.copy()
    for col, default in (("path", DEFAULT_PATH), ("quant", "none"), ("memory_bytes", np.nan),
                         ("memory_capacity_bytes", np.nan)):
        if col not in s:
            s[col] = default
    dense = s[(s["format"] == BASELINE) & (s["quant"] == "none")]
    ref = dense[_CELL + ["path", "tokens_per_s", "fits", "memory_bytes"]].drop_duplicates(_CELL + ["path"])
    ref = ref.rename(columns={"tokens_per_s": "dense_tokens_per_s", "fits": "dense_fits",
                              "memory_bytes": "dense_memory_bytes"})
    same = s.merge(ref, on=_CELL + ["path"], how="left")
    default = ref[ref["path"] == DEFAULT_PATH].drop(columns=["path"])
    fallback = s[_CELL].merge(default, on=_CELL, how="left")
    for col in ("dense_tokens_per_s", "dense_fits", "dense_memory_bytes"):
        same[col] = same[col].where(same[col].notna(), fallback[col].values)
    both = same["fits"].astype(bool) & same["dense_fits"].fillna(False).astype(bool)
    same["speedup"] = np.where(both, same["tokens_per_s"] / same["dense_tokens_per_s"], np.nan)
    return same


def row_keys(steps: pd.DataFrame) -> list[tuple]:
    """Rows of a decision table in order: GPU and mode as the study lists them, then tp,
    dtype, and the software paths in the order they were swept."""
    return list(dict.fromkeys(map(tuple, steps[_ROW].itertuples(index=False, name=None))))


def fmt_rate(tokens_per_s: float) -> str:
    """Tokens per second, 3 significant digits: "5,210 tok/s", "98.5 tok/s"."""
    if not math.isfinite(tokens_per_s):
        return "—"
    digits = max(0, 2 - int(math.floor(math.log10(max(tokens_per_s, 1e-9)))))
    return f"{tokens_per_s:,.{digits}f} tok/s"


def does_not_fit(row) -> str:
    """"does not fit: needs X GiB of Y GiB" for a step row (per GPU)."""
    need, have = _finite(row.get("memory_bytes")), _finite(row.get("memory_capacity_bytes"))
    if need is not None and have is not None:
        return f"does not fit: needs {prose_bytes(need)} of {prose_bytes(have)}"
    return "does not fit in memory"


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _batches(values) -> str:
    values = sorted(int(v) for v in values)
    if len(values) == 1:
        return f"batch {values[0]}"
    return f"batch {values[0]}-{values[-1]}" if len(values) > 2 else f"batch {values[0]} and {values[1]}"


def _where(row, several_tp: bool) -> str:
    tp = f", tp {int(row['tp'])}" if several_tp else ""
    return f"{row['hw_display']} ({row['mode']}{tp})"


def _fastest(group: pd.DataFrame, several_tp: bool) -> str | None:
    """Which path is fastest at each batch size on one GPU and mode."""
    fitting = group[group["fits"]]
    if fitting.empty:
        return None
    best = fitting.loc[fitting.groupby("batch")["tokens_per_s"].idxmax()].sort_values("batch")
    runs: list[tuple[str, list]] = []
    for _, r in best.iterrows():
        if runs and runs[-1][0] == r["series"]:
            runs[-1][1].append(r["batch"])
        else:
            runs.append((r["series"], [r["batch"]]))
    top = best.loc[best["speedup"].idxmax()] if best["speedup"].notna().any() else best.iloc[0]
    gain = (f"{top['speedup']:.2f}x dense at batch {int(top['batch'])}, {fmt_rate(top['tokens_per_s'])}"
            if math.isfinite(top["speedup"]) else f"{fmt_rate(top['tokens_per_s'])} at batch {int(top['batch'])}")
    where = _where(group.iloc[0], several_tp)
    if len(runs) == 1:
        return f"On {where}, {runs[0][0]} is the fastest path at every batch size that fits (up to {gain})."
    parts = ", ".join(f"{series} at {_batches(b)}" for series, b in runs)
    return f"On {where}, the fastest path is {parts} (best {gain})."


def _memory(group: pd.DataFrame) -> str | None:
    """Where dense runs out of memory, and which path still fits."""
    dense = group[(group["format"] == BASELINE) & (group["quant"] == "none")]
    out = dense[~dense["fits"]]
    if out.empty:
        return None
    first = out.sort_values("batch").iloc[0]
    fits_all = [s for s, g in group.groupby("series", sort=False) if g["fits"].all()]
    rest = (f"; {fits_all[0]} fits at every swept batch size" if fits_all else
            "; no swept path fits at every batch size")
    return (f"On {first['hw_display']} ({first['mode']}), dense stops fitting at batch {int(first['batch'])} "
            f"({does_not_fit(first)}){rest}.")


def _host_bound(steps: pd.DataFrame) -> list[str]:
    """Eager steps whose GPU sits idle, and what CUDA graphs give there."""
    out = []
    eager = steps[(steps["mode"] == "eager") & (steps["format"] == BASELINE) & (steps["quant"] == "none")
                  & (steps["path"] == DEFAULT_PATH) & steps["fits"]]
    for hw, g in eager.groupby("hw", sort=False):
        r = g.sort_values("batch").iloc[0]
        idle = r.get("gpu_idle_s", np.nan) / r["time_s"] if r["time_s"] > 0 else np.nan
        if not (isinstance(idle, float) and idle >= 0.2):
            continue
        text = f"Eager dense steps on {r['hw_display']} at batch {int(r['batch'])} leave the GPU idle {idle:.0%} of the step"
        graphs = steps[(steps["hw"] == hw) & (steps["mode"] == "cuda-graphs") & (steps["series"] == r["series"])
                       & (steps["batch"] == r["batch"]) & (steps["tp"] == r["tp"]) & (steps["dtype"] == r["dtype"])
                       & steps["fits"]]
        if not graphs.empty:
            text += f"; CUDA graphs make them {r['time_s'] / graphs['time_s'].iloc[0]:.2f}x faster"
        out.append(text + ".")
    return out


def _ceiling(steps: pd.DataFrame) -> list[str]:
    """How much of dense's step sparsity could remove at best (Amdahl's law on the
    prunable share)."""
    out = []
    dense = steps[(steps["format"] == BASELINE) & (steps["quant"] == "none") & (steps["path"] == DEFAULT_PATH)
                  & steps["fits"]]
    if "prunable_share" not in dense:
        return out
    for _, g in dense.groupby("hw", sort=False):
        g = g[g["mode"] == g["mode"].iloc[0]].sort_values("batch")
        lo, hi = g.iloc[0], g.iloc[-1]
        if not math.isfinite(lo["prunable_share"]) or lo["prunable_share"] >= 1:
            continue
        also = f" ({hi['prunable_share']:.0%} at batch {int(hi['batch'])})" if len(g) > 1 else ""
        out.append(f"On {lo['hw_display']} ({lo['mode']}), prunable linear layers are {lo['prunable_share']:.0%} of "
                   f"dense's step at batch {int(lo['batch'])}{also}, so pruning them can make that step at most "
                   f"{1 / (1 - lo['prunable_share']):.2f}x faster.")
    return out


def step_findings(sp: pd.DataFrame, workload: str) -> list[str]:
    """One sentence per finding for one model workload (``sp``: :func:`step_speedups`)."""
    s = sp[sp["workload"] == workload]
    if s.empty:
        return []
    several_tp = s["tp"].nunique() > 1
    first_dtype = s["dtype"].iloc[0]
    s1 = s[s["dtype"] == first_dtype]
    out = []
    for _, g in s1.groupby(["hw", "mode", "tp"], sort=False):
        sentence = _fastest(g, several_tp)
        if sentence:
            out.append(sentence)
    for _, g in s1.groupby("hw", sort=False):
        sentence = _memory(g[g["mode"] == g["mode"].iloc[0]])
        if sentence:
            out.append(sentence)
    out += _host_bound(s1) + _ceiling(s1)
    if s["phase"].iloc[0] == "generate" and "ttft_s" in s:
        d = s1[(s1["format"] == BASELINE) & (s1["quant"] == "none") & s1["fits"]].sort_values("batch")
        if not d.empty:
            r = d.iloc[0]
            out.append(f"A request on {r['hw_display']} at batch {int(r['batch'])} waits "
                       f"{prose_seconds(r['ttft_s'])} for its first token, then {prose_seconds(r['tpot_s'])} per token.")
    out.append("Figures rest on: " + "; ".join(f"{hw}: {parts}" for hw, parts in _bases(s).items()) + ".")
    return out


def _bases(s) -> dict[str, str]:
    """Per GPU, the distinct things its rows' figures rest on (calibration, published-only
    paths, the eager rows' host), each once, in first-seen order."""
    out: dict[str, list[str]] = {}
    for _, r in s.iterrows():
        parts = out.setdefault(r["hw_display"], [])
        for part in str(r.get("basis") or "datasheet only").split("; "):
            if part and part not in parts:
                parts.append(part)
    return {hw: "; ".join(parts) for hw, parts in out.items()}


def valid_timelines(value) -> list[dict]:
    """The timelines of a provenance that the charts can draw (a hand-edited or older
    provenance may hold none, or damaged ones: those are left out, not raised)."""
    keys = ("workload", "hw_display", "mode", "series", "batch", "events")
    out = []
    for t in value if isinstance(value, list) else []:
        if not isinstance(t, dict) or any(k not in t for k in keys) or not isinstance(t["events"], list):
            continue
        events = [e for e in t["events"] if isinstance(e, (list, tuple)) and len(e) == 5
                  and all(isinstance(x, (int, float)) for x in e[3:])]
        ops = [o for o in t.get("ops") or [] if isinstance(o, (list, tuple)) and len(o) == 5
               and all(isinstance(x, (int, float)) for x in o[2:])]
        if events:
            out.append({**t, "events": events, "ops": ops})
    return out
