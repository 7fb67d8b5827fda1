"""The report's charts, as altair (Vega-Lite) specifications.

Each function takes an already aggregated table (:mod:`sparsim.reports.aggregate`) and
returns an altair chart with a title, axis titles with units, and tooltips. Dimensions a
chart does not plot (batch size, density, dtype) become dropdowns when the study swept
more than one value, so a chart carries its slices without drawing them all at once. Data
is inlined as CSV with explicit number parsing, which is about a third of the size of the
JSON rows altair writes by default (the shared scales, colors and controls:
:mod:`~sparsim.reports.chartkit`).

>>> import pandas as pd
>>> df = pd.DataFrame({"format": ["dense", "2:4"], "x": [1.0, 2.0]})
>>> spec = alt.Chart(inline(df)).mark_point().encode(x="x:Q").to_dict()
>>> spec["data"]["format"]["type"], spec["data"]["values"].splitlines()[0]
('csv', 'format,x')
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from ..models.kernels import BASELINE
from .aggregate import FORMAT_ORDER, STRUCTURED_FORMATS, TIME_SPLIT
# the shared scales, colors and controls (stepcharts and explain_page import them from here too)
from .chartkit import (_CATEGORY_COLORS, _FACET_WIDTH, _controls, _filtered, _hw_facet, _pct,  # noqa: F401
                       _series, _test, _title, _with_series, format_scale, inline, series_scale)

__all__ = [
    "inline", "format_scale", "series_scale", "layer_chart", "break_even_chart", "structured_chart", "speedup_chart", "memory_chart",
    "roofline_chart", "time_split_chart", "measured_chart",
]

def layer_chart(df: pd.DataFrame, title: str, prefer: dict | None = None) -> alt.TopLevelMixin:
    """Per-layer time per call, by format and implementation (bars side by side) and GPU
    (panels)."""
    df = _with_series(df)
    formats = _series(df)
    layers = list(df.sort_values("layer_order")["layer"].drop_duplicates())
    data = df.assign(time_us=df["time_s"] * 1e6, total_us=df["time_s"] * 1e6 * df["layer_count"])
    data = data[["layer", "layer_count", "m", "k", "n", "hw_display", "dtype", "format", "path", "series", "density",
                 "batch", "time_us", "total_us", "bound"]]
    params, test = _controls(data, "layer", {"batch": "Batch size:", "density": "Density (weights kept):",
                                             "dtype": "Dtype:"}, prefer)
    width = int(min(1100, max(560, len(layers) * (len(formats) * 7 + 10))))
    base = _filtered(alt.Chart(inline(data)), test).mark_bar().encode(
        x=alt.X("layer:N", sort=layers, title="layer", axis=alt.Axis(labelAngle=-40, labelLimit=160)),
        xOffset=alt.XOffset("series:N", sort=formats),
        y=alt.Y("time_us:Q", title="time per call (µs)"),
        color=alt.Color("series:N", scale=series_scale(df), sort=formats, title="format · implementation"),
        tooltip=[alt.Tooltip("layer:N"), alt.Tooltip("series:N", title="format · implementation"),
                 alt.Tooltip("hw_display:N", title="GPU"),
                 alt.Tooltip("m:Q", title="M (out)"), alt.Tooltip("k:Q", title="K (in)"),
                 alt.Tooltip("n:Q", title="N (batch x tokens)"),
                 alt.Tooltip("density:Q", format=".0%", title="density"),
                 alt.Tooltip("time_us:Q", format=",.2f", title="time per call (µs)"),
                 alt.Tooltip("layer_count:Q", title="calls per step"),
                 alt.Tooltip("total_us:Q", format=",.1f", title="time per step (µs)"),
                 alt.Tooltip("bound:N", title="bound by")],
    ).properties(width=width, height=190)
    return base.facet(facet=_hw_facet(data), columns=1, title=_title(title, "Time per call of each layer; pick batch size and density above the chart"),
                      ).add_params(*params).resolve_scale(y="independent")


def break_even_chart(be: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Highest swept density at which each density-dependent format still beats dense,
    across batch sizes; formats that never beat dense at a batch size have no point there."""
    be = _with_series(be[~be["format"].isin(STRUCTURED_FORMATS)])
    formats = _series(be) if len(be) else []
    beyond = be["beyond_swept"] if "beyond_swept" in be else pd.Series(False, index=be.index)
    data = be[be["break_even_density"].notna()].assign(
        speedup_text=lambda d: [f"{s:.2f}x" for s in d["speedup"]],
        best_text=lambda d: [f"{s:.2f}x" for s in d["best_speedup"]],
        # a format still faster at the top swept density: its break-even is beyond the sweep
        limit_text=lambda d: [f"≥ {_pct(x)} (beyond the swept range)" if b else f"{_pct(x)}"
                              for x, b in zip(d["break_even_density"], beyond[d.index])],
        limit=lambda d: ["beyond the swept range" if b else "break-even" for b in beyond[d.index]],
    )[["hw_display", "dtype", "batch", "format", "path", "series", "break_even_density", "speedup_text", "best_text",
       "limit_text", "limit"]]
    # formats with the same break-even (CSR and COO often) would draw one line over the
    # other: each format sits a few percent to the side of its batch size on the log axis
    offset = {f: 1.07 ** (i - (len(formats) - 1) / 2) for i, f in enumerate(formats)}
    data = data.assign(batch_x=data["batch"] * data["series"].map(offset).astype(float))
    params, test = _controls(data, "be", {"dtype": "Dtype:"})
    batches = sorted(set(be["batch"].tolist()))
    base = _filtered(alt.Chart(inline(data)), test).encode(
        x=alt.X("batch_x:Q", scale=alt.Scale(type="log", domain=[min(batches) / 1.25, max(batches) * 1.25]
                                             if batches else None),
                title="batch size (sequences per step)", axis=alt.Axis(values=batches, format="d")),
        y=alt.Y("break_even_density:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                title="beats dense up to this density"),
        color=alt.Color("series:N", scale=series_scale(be), sort=formats, title="format · implementation"),
        tooltip=[alt.Tooltip("series:N", title="format · implementation"), alt.Tooltip("hw_display:N", title="GPU"),
                 alt.Tooltip("batch:Q", title="batch size"),
                 alt.Tooltip("limit_text:N", title="beats dense at densities up to"),
                 alt.Tooltip("speedup_text:N", title="speedup there"),
                 alt.Tooltip("best_text:N", title="best speedup swept")],
    )
    # hollow triangles: still faster at the top swept density (a lower bound, not a limit)
    points = base.mark_point(size=70).encode(
        shape=alt.Shape("limit:N", title="point", scale=alt.Scale(domain=["break-even", "beyond the swept range"],
                                                                  range=["circle", "triangle-up"]),
                        legend=alt.Legend(symbolStrokeColor="#555", symbolFillColor="white")),
        fill=alt.condition("datum.limit == 'break-even'", alt.Color("series:N", scale=series_scale(be),
                                                                     sort=formats), alt.value("white")))
    chart = alt.layer(base.mark_line(), points).properties(width=_FACET_WIDTH, height=170)
    return chart.facet(facet=_hw_facet(data if len(data) else be), columns=4,
                       title=_title(title, "Keep at most this fraction of the weights and the format beats dense; "
                                           "a format missing at a batch size never beats dense there; hollow "
                                           "triangles still beat dense at the top swept density (break-even beyond "
                                           "the sweep)")).add_params(*params)


def structured_chart(be: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Speedup of 2:4 (1:2) over dense on the same software path across batch sizes, one
    line per implementation, one panel per GPU."""
    be = _with_series(be)
    data = be[be["format"].isin(STRUCTURED_FORMATS)][["hw_display", "dtype", "batch", "format", "path",
                                                      "series", "best_speedup"]]
    series = _series(data)
    params, test = _controls(data, "nm", {"dtype": "Dtype:"})
    batches = sorted(set(data["batch"].tolist()))
    lo = float(min(data["best_speedup"].min(), 1.0)) if len(data) else 0.5
    hi = float(max(data["best_speedup"].max(), 1.0)) if len(data) else 2.0
    base = _filtered(alt.Chart(inline(data)), test)
    enc = dict(
        x=alt.X("batch:Q", scale=alt.Scale(type="log", domain=[min(batches), max(batches)] if batches else None),
                title="batch size (sequences per step)", axis=alt.Axis(values=batches, format="d")),
        y=alt.Y("best_speedup:Q", scale=alt.Scale(type="log", domain=[lo / 1.05, hi * 1.05], nice=False),
                title="speedup over dense (x, log)"),
        color=alt.Color("series:N", scale=series_scale(data), sort=series, title="format · implementation"),
        tooltip=[alt.Tooltip("series:N", title="format · implementation"), alt.Tooltip("hw_display:N", title="GPU"),
                 alt.Tooltip("batch:Q", title="batch size"),
                 alt.Tooltip("best_speedup:Q", format=".2f", title="speedup over dense (x)")],
    )
    lines = base.encode(**enc).mark_line(point=alt.OverlayMarkDef(filled=True, size=50))
    rule = base.mark_rule(color="#555", strokeDash=[4, 3]).encode(y=alt.datum(1))
    return alt.layer(lines, rule).properties(width=_FACET_WIDTH, height=200).facet(
        facet=_hw_facet(data if len(data) else be), columns=4,
        title=_title(title, "Whole-model time of dense divided by 2:4's, each on its own software path; above the "
                            "dashed line 2:4 pays"),
    ).add_params(*params)


def speedup_chart(sp: pd.DataFrame, title: str, prefer: dict | None = None) -> alt.TopLevelMixin:
    """Whole-network speedup over dense (on the same software path) against density, one
    line per format and implementation."""
    sp = _with_series(sp)
    data = sp[sp["format"] != BASELINE].assign(time_ms=sp["time_s"] * 1e3, dense_ms=sp["dense_time_s"] * 1e3)
    formats = _series(data)
    data = data[["hw_display", "dtype", "batch", "format", "path", "series", "density", "speedup", "time_ms",
                 "dense_ms"]]
    params, test = _controls(data, "sp", {"batch": "Batch size:", "dtype": "Dtype:"}, prefer)
    # the axis spans the data and the dashed 1x line, no more: no labels where nothing is drawn
    lo = float(min(data["speedup"].min(), 1.0)) if len(data) else 0.5
    hi = float(max(data["speedup"].max(), 1.0)) if len(data) else 2.0
    base = _filtered(alt.Chart(inline(data)), test)
    # formats with near-equal speedups (CSR and COO) would hide each other: each format has
    # its own point shape and dash, and the lines are drawn half transparent
    lines = base.mark_line(point=alt.OverlayMarkDef(filled=False, size=45), opacity=0.8, strokeWidth=1.8).encode(
        shape=alt.Shape("series:N", sort=formats, title="format · implementation", scale=_format_shapes(formats)),
        strokeDash=alt.StrokeDash("series:N", sort=formats, title="format · implementation",
                                  scale=_format_dashes(formats)),
        x=alt.X("density:Q", scale=alt.Scale(type="log", nice=False, domain=[float(data["density"].min()) / 1.15,
                                                                              float(data["density"].max()) * 1.15]
                                             if len(data) else None),
                axis=alt.Axis(format="~%"), title="density (weights kept, log)"),
        y=alt.Y("speedup:Q", scale=alt.Scale(type="log", domain=[lo / 1.1, hi * 1.1], nice=False),
                title="speedup over dense (x, log)"),
        color=alt.Color("series:N", scale=series_scale(data), sort=formats, title="format · implementation"),
        tooltip=[alt.Tooltip("series:N", title="format · implementation"), alt.Tooltip("hw_display:N", title="GPU"),
                 alt.Tooltip("batch:Q", title="batch size"), alt.Tooltip("density:Q", format=".1%"),
                 alt.Tooltip("speedup:Q", format=".2f", title="speedup (x)"),
                 alt.Tooltip("time_ms:Q", format=",.3f", title="time per step (ms)"),
                 alt.Tooltip("dense_ms:Q", format=",.3f", title="dense time per step, same path (ms)")],
    )
    rule = base.mark_rule(color="#555", strokeDash=[4, 3]).encode(y=alt.datum(1))
    return alt.layer(lines, rule).properties(width=_FACET_WIDTH, height=180).facet(
        facet=_hw_facet(data), columns=4,
        title=_title(title, "Whole-model time of dense divided by each format's; above the dashed line the format is faster"),
    ).add_params(*params)


_SHAPES = ["circle", "square", "triangle-up", "diamond", "cross", "triangle-down", "wedge", "stroke"]
_DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [1, 3], [10, 2], [3, 6]]


def _format_shapes(formats) -> alt.Scale:
    return alt.Scale(domain=list(formats), range=_SHAPES[:len(formats)] + ["circle"] * max(0, len(formats) - 8))


def _format_dashes(formats) -> alt.Scale:
    return alt.Scale(domain=list(formats), range=_DASHES[:len(formats)] + [[1, 0]] * max(0, len(formats) - 8))


def memory_chart(mem: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Bytes of all weights per format (and per implementation where libraries store it
    differently) and density, values vs index/metadata stacked."""
    mem = _with_series(mem)
    formats = _series(mem)
    dense = mem[mem["format"] == BASELINE].groupby("dtype")[["bytes_values", "bytes_index"]].max().sum(axis=1)
    long = []
    for part, col in (("values", "bytes_values"), ("index + metadata", "bytes_index")):
        long.append(mem.assign(part=part, gib=mem[col] / 2**30))
    data = pd.concat(long, ignore_index=True)
    data["total_gib"] = (data["bytes_values"] + data["bytes_index"]) / 2**30
    data["dense_gib"] = data["dtype"].map(dense).fillna(0) / 2**30
    data["density_label"] = [_pct(d) for d in data["density"]]
    data = data[["dtype", "format", "path", "series", "density", "density_label", "part", "gib", "total_gib", "dense_gib"]]
    params, test = _controls(data, "mem", {"dtype": "Dtype:"})
    order = [_pct(d) for d in sorted(set(mem["density"]))]
    base = _filtered(alt.Chart(inline(data)), test)
    bars = base.mark_bar().encode(
        x=alt.X("density_label:O", sort=order, title=None, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("sum(gib):Q", title="weight memory (GiB)"),
        color=alt.Color("part:N", title="stored as", scale=alt.Scale(domain=["values", "index + metadata"],
                                                                   range=["#4c78a8", "#f58518"])),
        order=alt.Order("part:N", sort="descending"),
        tooltip=[alt.Tooltip("series:N", title="format · implementation"), alt.Tooltip("density:Q", format=".1%"),
                 alt.Tooltip("part:N", title="part"),
                 alt.Tooltip("gib:Q", format=",.3f", title="this part (GiB)"),
                 alt.Tooltip("total_gib:Q", format=",.3f", title="total (GiB)"),
                 alt.Tooltip("dense_gib:Q", format=",.3f", title="dense (GiB)")],
    )
    rule = base.mark_rule(color="#555", strokeDash=[4, 3]).encode(y=alt.Y("max(dense_gib):Q"))
    return alt.layer(bars, rule).properties(width=max(90, 22 * len(order)), height=180).facet(
        column=alt.Column("series:N", sort=formats, title=None, header=alt.Header(labelFontSize=13, labelFontWeight="bold")),
        title=_title(title, "All weights of the network at each density (weights kept); dashed line: dense"),
    ).add_params(*params)


def roofline_chart(rp: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Each predicted kernel as a point under its GPU's roofline (log-log)."""
    rp = _with_series(rp)
    formats = _series(rp)
    data = rp.assign(time_us=rp["time_s"] * 1e6)[[
        "hw_display", "dtype", "format", "path", "series", "density", "batch", "m", "k", "n", "intensity", "tflops", "useful_tflops",
        "time_us", "bound"]]
    lo = max(float(data["intensity"].min()) / 2, 1e-3) if len(data) else 0.1
    hi = float(data["intensity"].max()) * 2 if len(data) else 1e4
    # pipes with the same executed-FLOP peak share one roof (sparse tensor cores execute
    # only the kept half of the MACs, at the dense rate)
    ceilings: dict[tuple, list] = {}
    for (hw, math_pipe), g in rp.groupby(["hw_display", "math"], sort=False):
        key = (hw, float(g["peak_flops_per_s"].max()), float(g["hbm_bytes_per_s"].iloc[0]))
        ceilings.setdefault(key, []).append(_PIPES.get(math_pipe, math_pipe))
    roofs = []
    for (hw, peak, bw), names in ceilings.items():
        for x in np.logspace(math.log10(lo), math.log10(hi), 48):
            roofs.append((hw, " and ".join(names), x, min(peak, x * bw) / 1e12, peak / 1e12, bw / 1e9))
    roof = pd.DataFrame(roofs, columns=["hw_display", "pipe", "intensity", "tflops", "peak_tflops", "hbm_gbs"])
    params, test = _controls(data, "roof", {"hw_display": "GPU:", "dtype": "Dtype:"},
                             {"hw_display": data["hw_display"].iloc[0] if len(data) else None})
    roof_test = _test(test, only=("hw_display",))
    x = alt.X("intensity:Q", scale=alt.Scale(type="log"), title="arithmetic intensity (executed FLOP per DRAM byte, log)")
    y = alt.Y("tflops:Q", scale=alt.Scale(type="log"), title="executed TFLOP/s (log)")
    lines = _filtered(alt.Chart(inline(roof)), roof_test).mark_line(color="#333", strokeWidth=1.2).encode(
        x=x, y=y, strokeDash=alt.StrokeDash("pipe:N", title="roof (peak, HBM)", legend=alt.Legend(labelLimit=320)),
        tooltip=[alt.Tooltip("hw_display:N", title="GPU"), alt.Tooltip("pipe:N", title="math pipe"),
                 alt.Tooltip("peak_tflops:Q", format=",.1f", title="peak (TFLOP/s)"),
                 alt.Tooltip("hbm_gbs:Q", format=",.0f", title="HBM (GB/s)")])
    # hollow markers of a fixed stroke: CSR and COO points at the same place both stay visible
    points = _filtered(alt.Chart(inline(data)), test).mark_point(filled=False, opacity=0.85, size=55,
                                                                 strokeWidth=1.6).encode(
        x=x, y=y, color=alt.Color("series:N", scale=series_scale(rp), sort=formats, title="format · implementation"),
        shape=alt.Shape("bound:N", title="bound by"),
        tooltip=[alt.Tooltip("series:N", title="format · implementation"), alt.Tooltip("m:Q", title="M"), alt.Tooltip("k:Q", title="K"),
                 alt.Tooltip("n:Q", title="N"), alt.Tooltip("density:Q", format=".1%"),
                 alt.Tooltip("intensity:Q", format=",.2f", title="FLOP/byte"),
                 alt.Tooltip("tflops:Q", format=",.2f", title="executed TFLOP/s"),
                 alt.Tooltip("useful_tflops:Q", format=",.2f", title="useful TFLOP/s"),
                 alt.Tooltip("time_us:Q", format=",.2f", title="time (µs)"), alt.Tooltip("bound:N", title="bound by")])
    return alt.layer(lines, points).properties(
        width=640, height=340,
        title=_title(title, "Every predicted kernel under its GPU's roofline; pick the GPU above the chart"),
    ).add_params(*params).resolve_scale(color="independent", shape="independent")


_PIPES = {"tensor": "tensor cores", "sparse_tensor": "sparse tensor cores", "vector": "CUDA cores"}


def time_split_chart(ts: pd.DataFrame, title: str, prefer: dict | None = None) -> alt.TopLevelMixin:
    """Where the whole-model time goes (compute / memory / latency / launch / host work) per
    format and implementation."""
    ts = _with_series(ts)
    formats = _series(ts)
    data = ts.assign(ms=ts["seconds"] * 1e3)[["hw_display", "dtype", "format", "path", "series", "density", "batch",
                                               "category", "ms"]]
    params, test = _controls(data, "ts", {"batch": "Batch size:", "density": "Density (weights kept):",
                                          "dtype": "Dtype:"}, prefer)
    cats = [c for c in TIME_SPLIT if c in set(data["category"])]
    chart = _filtered(alt.Chart(inline(data)), test).mark_bar().encode(
        y=alt.Y("series:N", sort=formats, title=None),
        x=alt.X("sum(ms):Q", title="time per step (ms)"),
        color=alt.Color("category:N", title="time spent on", sort=cats,
                        scale=alt.Scale(domain=cats, range=[_CATEGORY_COLORS[c] for c in cats])),
        order=alt.Order("category_order:Q"),
        tooltip=[alt.Tooltip("series:N", title="format · implementation"), alt.Tooltip("hw_display:N", title="GPU"),
                 alt.Tooltip("category:N", title="spent on"), alt.Tooltip("sum(ms):Q", format=",.3f", title="ms per step")],
    ).transform_calculate(category_order=f"indexof({cats!r}, datum.category)").properties(width=_FACET_WIDTH, height=alt.Step(16))
    return chart.facet(facet=_hw_facet(data), columns=2,
                       title=_title(title, "Whole-model time split by what limits each kernel")).add_params(*params).resolve_scale(x="independent")


def measured_chart(mv: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Predicted against measured time per kernel (log-log), with the y = x line."""
    data = mv.assign(measured_us=mv["measured_s"] * 1e6, predicted_us=mv["predicted_s"] * 1e6)[[
        "kernel", "m", "k", "n", "dtype", "density", "hw", "measured_us", "predicted_us", "error"]]
    lo = float(min(data["measured_us"].min(), data["predicted_us"].min())) / 1.5
    hi = float(max(data["measured_us"].max(), data["predicted_us"].max())) * 1.5
    diag = pd.DataFrame({"measured_us": [lo, hi], "predicted_us": [lo, hi]})
    scale = alt.Scale(type="log", domain=[lo, hi])
    x = alt.X("measured_us:Q", scale=scale, title="measured time (µs, log)")
    y = alt.Y("predicted_us:Q", scale=scale, title="predicted time (µs, log)")
    kernels = sorted(set(data["kernel"]), key=lambda f: FORMAT_ORDER.index(f) if f in FORMAT_ORDER else 99)
    line = alt.Chart(inline(diag)).mark_line(color="#555", strokeDash=[4, 3]).encode(x=x, y=y)
    points = alt.Chart(inline(data)).mark_point(filled=True, size=60, opacity=0.8).encode(
        x=x, y=y, color=alt.Color("kernel:N", scale=format_scale(kernels), sort=kernels, title="kernel"),
        shape=alt.Shape("hw:N", title="hardware"),
        tooltip=[alt.Tooltip("kernel:N"), alt.Tooltip("hw:N", title="hardware"), alt.Tooltip("dtype:N"),
                 alt.Tooltip("m:Q", title="M"), alt.Tooltip("k:Q", title="K"), alt.Tooltip("n:Q", title="N"),
                 alt.Tooltip("density:Q", format=".1%"), alt.Tooltip("measured_us:Q", format=",.2f", title="measured (µs)"),
                 alt.Tooltip("predicted_us:Q", format=",.2f", title="predicted (µs)"),
                 alt.Tooltip("error:Q", format="+.1%", title="error (predicted - measured) / measured")])
    return alt.layer(line, points).properties(
        width=420, height=340, title=_title(title, "Dashed: prediction = measurement; above it the model is too slow"))
