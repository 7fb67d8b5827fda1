"""The decision table: which software path to run a model with, per GPU and batch size.

One table per model workload leads the report. Rows are GPU x mode (x tp, x dtype where
the study swept several) x software path ("dense", "2:4", "w4a16 + 2:4", "2:4 · torch");
columns are batch sizes. A cell gives the end-to-end speedup over dense (the same GPU,
mode, tp, dtype and batch size; :func:`sparsim.reports.steps.step_speedups`) and the
tokens per second of all sequences. Its colour says the answer at a glance: green where
the path beats dense, red where it loses (the deeper, the further from 1x, full at 2x on
a log scale), grey where it does not fit in the GPU's memory ("does not fit: needs X GiB
of Y"), blue where it fits but dense does not. The fastest path of each GPU, mode and
batch size is bold.

>>> speedup_colour(2.0), speedup_colour(1.0), speedup_colour(0.5)
('rgba(45, 164, 78, 0.62)', 'rgba(246, 248, 250, 1)', 'rgba(207, 34, 46, 0.62)')
"""

from __future__ import annotations

import math

import pandas as pd

from .html import esc
from .steps import does_not_fit, fmt_rate, row_keys

__all__ = ["decision_table", "speedup_colour", "NO_FIT_COLOUR", "ONLY_FIT_COLOUR"]

NO_FIT_COLOUR = "rgba(175, 184, 193, 0.55)"
ONLY_FIT_COLOUR = "rgba(9, 105, 218, 0.22)"
_NEUTRAL = "rgba(246, 248, 250, 1)"
_GREEN, _RED = (45, 164, 78), (207, 34, 46)
#: |speedup - 1| below this reads as "the same as dense"
_SAME = 0.02


def speedup_colour(speedup: float) -> str:
    """Background of a cell: green above 1x, red below, alpha by |log2 speedup| (full at 2x)."""
    if not math.isfinite(speedup) or abs(speedup - 1) < _SAME:
        return _NEUTRAL
    depth = min(abs(math.log2(speedup)), 1.0)
    r, g, b = _GREEN if speedup > 1 else _RED
    return f"rgba({r}, {g}, {b}, {0.08 + 0.54 * depth:.2f})"


def _cell(row, best: bool) -> str:
    if row is None:
        return '<td class="cell none" title="the step model refused this point: see Not run">not run</td>'
    tip = (f"{row['series']} on {row['hw_display']} ({row['mode']}), batch {int(row['batch'])}: "
           f"{row['time_s'] * 1e3:.3f} ms per step" if math.isfinite(row["time_s"]) else "")
    if not row["fits"]:
        text = does_not_fit(row)
        return f'<td class="cell nofit" style="background:{NO_FIT_COLOUR}" title="{esc(tip)}">{esc(text)}</td>'
    rate = fmt_rate(row["tokens_per_s"])
    weight = ' style="font-weight:700"' if best else ""
    if not math.isfinite(row["speedup"]):
        return (f'<td class="cell onlyfit" style="background:{ONLY_FIT_COLOUR}" title="{esc(tip)}">'
                f'<span{weight}>fits; dense does not</span><br><span class="rate">{esc(rate)}</span></td>')
    return (f'<td class="cell" style="background:{speedup_colour(row["speedup"])}" title="{esc(tip)}">'
            f'<span class="x"{weight}>{row["speedup"]:.2f}x</span><br><span class="rate">{esc(rate)}</span></td>')


def decision_table(sp: pd.DataFrame, workload: str) -> str:
    """The HTML decision table of one model workload (``sp``: step rows with speedups)."""
    s = sp[sp["workload"] == workload]
    if s.empty:
        return ""
    batches = sorted(int(b) for b in s["batch"].unique())
    several_tp, several_dtype = s["tp"].nunique() > 1, s["dtype"].nunique() > 1
    fitting = s[s["fits"]]
    best = set()
    if not fitting.empty:
        idx = fitting.groupby(["hw", "mode", "tp", "dtype", "batch"])["tokens_per_s"].idxmax()
        best = set(map(tuple, fitting.loc[idx, ["hw", "mode", "tp", "dtype", "batch", "series"]].itertuples(
            index=False, name=None)))
    cells = {(r.hw, r.mode, r.tp, r.dtype, r.series, int(r.batch)): r._asdict() for r in s.itertuples(index=False)}
    head = ["GPU", "mode"] + (["tp"] if several_tp else []) + (["dtype"] if several_dtype else []) + ["software path"]
    html = ['<table class="decision"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in head)
            + "".join(f'<th class="num">batch {b}</th>' for b in batches) + "</tr></thead><tbody>"]
    previous = previous_label = None
    for hw, mode, tp, dtype, series in row_keys(s):
        first = next(v for k, v in cells.items() if k[:5] == (hw, mode, tp, dtype, series))
        group = (hw, mode, tp, dtype)
        sep = ' class="group"' if previous is not None and group != previous else ""
        previous = group
        label = [first["hw_display"], mode] + ([tp] if several_tp else []) + ([dtype] if several_dtype else [])
        if not sep and previous_label is not None:  # the same GPU and mode as the row above: said once
            label = ["" if v == p else v for v, p in zip(label, previous_label)]
        previous_label = [first["hw_display"], mode] + ([tp] if several_tp else []) + (
            [dtype] if several_dtype else [])
        row = [f"<tr{sep}>"] + [f"<th>{esc(v)}</th>" for v in label + [series]]
        for b in batches:
            r = cells.get((hw, mode, tp, dtype, series, b))
            row.append(_cell(r, (hw, mode, tp, dtype, b, series) in best))
        html.append("".join(row) + "</tr>")
    html.append("</tbody></table>")
    return "".join(html)


def legend() -> str:
    """One line under the table that says what the colours mean."""
    swatches = [(speedup_colour(2.0), "2x dense"), (speedup_colour(1.25), "1.25x"), (_NEUTRAL, "same as dense"),
                (speedup_colour(0.8), "0.8x"), (speedup_colour(0.5), "half as fast"),
                (ONLY_FIT_COLOUR, "fits where dense does not"), (NO_FIT_COLOUR, "does not fit in memory")]
    return ('<p class="note legend">' + "".join(f'<span style="background:{c}">{esc(t)}</span>' for c, t in swatches)
            + " Cells: end-to-end speedup over dense (same GPU, mode and batch size) and tokens/s of all "
            "sequences; bold: the fastest path there.</p>")
