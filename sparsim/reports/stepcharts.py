"""Charts of whole-model steps: one step's timeline, tokens/s against batch size, and
where a step's time goes.

* :func:`timeline_chart` — the host thread and the GPU stream (and the interconnect,
  with tensor parallelism) over one step, each kernel a bar from its start to its end;
  gaps on the GPU lane are where it waited for the host. A dropdown picks the step (GPU,
  mode, path, batch size) among those the study kept (:mod:`sparsim.studies.steps`).
* :func:`tokens_chart` — tokens per second of all sequences against batch size, one line
  per software path, one panel per GPU; points that do not fit in memory are left out.
* :func:`ops_chart` — the operators of one kept step: kernel time per call times calls
  per step, largest first (the model's per-layer kernels);
* :func:`step_split_chart` — seconds per step by op class (linear, attention,
  elementwise, communication, GPU idle waiting for the host) per path.

>>> t = [{"workload": "w", "hw": "h", "hw_display": "H", "mode": "eager", "tp": 1, "dtype": "fp16",
...       "series": "dense", "batch": 1, "time_s": 2e-5, "gpu_idle_s": 1e-5, "truncated": 0, "ops": [],
...       "events": [["host", "q", "linear", 0.0, 1e-5], ["gpu", "q", "linear", 1e-5, 2e-5]]}]
>>> timeline_frame(t)[["lane", "start_us", "end_us"]].values.tolist()
[['host', 0.0, 10.0], ['GPU stream', 10.0, 20.0]]
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from .charts import _controls, _filtered, _hw_facet, _title, inline

__all__ = ["timeline_frame", "timeline_chart", "ops_chart", "tokens_chart", "step_split_chart", "OP_COLOURS"]

#: one colour per op class, the same in every step chart
OP_COLOURS = {"linear": "#4c78a8", "attention": "#f58518", "elementwise": "#54a24b", "communication": "#b279a2",
              "host_idle": "#bab0ac", "host": "#9d755d", "other": "#72b7b2"}
_LANES = {"host": "host", "gpu": "GPU stream", "comm": "interconnect"}


def timeline_frame(timelines: list[dict]) -> pd.DataFrame:
    """One row per event of the kept timelines, with a label naming the step it belongs to."""
    rows = []
    for t in timelines:
        label = _label(t)
        for lane, name, op_class, start, end in t["events"]:
            rows.append((label, _LANES.get(lane, lane), name, op_class or "other", start * 1e6, end * 1e6))
    return pd.DataFrame(rows, columns=["step", "lane", "op", "op_class", "start_us", "end_us"])


def _op_scale(classes) -> alt.Scale:
    present = [c for c in OP_COLOURS if c in set(classes)] + sorted(set(classes) - set(OP_COLOURS))
    return alt.Scale(domain=present, range=[OP_COLOURS.get(c, "#888888") for c in present])


def timeline_chart(timelines: list[dict], title: str) -> alt.TopLevelMixin:
    """Gantt chart of one step per dropdown choice (see the module doc)."""
    data = timeline_frame(timelines)
    steps = list(dict.fromkeys(data["step"]))
    param = alt.param(name="tl_step", value=steps[0],
                      bind=alt.binding_select(options=steps, name="Step: "))
    lanes = [lane for lane in _LANES.values() if lane in set(data["lane"])]
    chart = alt.Chart(inline(data)).transform_filter("datum.step == tl_step").mark_bar(height=22).encode(
        x=alt.X("start_us:Q", title="time since the step began (µs)"),
        x2="end_us:Q",
        y=alt.Y("lane:N", sort=lanes, title=None),
        color=alt.Color("op_class:N", scale=_op_scale(data["op_class"]), title="op class"),
        tooltip=[alt.Tooltip("op:N", title="operator"), alt.Tooltip("op_class:N", title="class"),
                 alt.Tooltip("lane:N"), alt.Tooltip("start_us:Q", format=",.1f", title="start (µs)"),
                 alt.Tooltip("end_us:Q", format=",.1f", title="end (µs)")],
    ).add_params(param, alt.selection_interval(bind="scales", encodings=["x"])).properties(
        width=900, height=alt.Step(34))
    return chart.properties(title=_title(title, "Host thread and GPU stream over one step; a gap on the GPU lane is "
                                                "time the GPU waited for the host to launch the next kernel; drag or scroll to zoom"))


def _label(t: dict) -> str:
    several = f" · tp {t['tp']}" if t.get("tp", 1) != 1 else ""
    return f"{t['hw_display']} · {t['mode']}{several} · {t['series']} · batch {t['batch']}"


def ops_chart(timelines: list[dict], title: str) -> alt.TopLevelMixin:
    """Kernel time per step of each operator of one kept step (dropdown), largest first."""
    rows = [(_label(t), name, op_class or "other", count, kernel_s * 1e6, kernel_s * count * 1e6, launches)
            for t in timelines for name, op_class, count, kernel_s, launches in t.get("ops") or []]
    data = pd.DataFrame(rows, columns=["step", "op", "op_class", "count", "kernel_us", "total_us", "launches"])
    steps = list(dict.fromkeys(data["step"]))
    param = alt.param(name="ops_step", value=steps[0] if steps else "",
                      bind=alt.binding_select(options=steps or [""], name="Step: "))
    chart = alt.Chart(inline(data)).transform_filter("datum.step == ops_step").mark_bar().encode(
        y=alt.Y("op:N", sort="-x", title=None),
        x=alt.X("total_us:Q", title="kernel time per step (µs)"),
        color=alt.Color("op_class:N", scale=_op_scale(data["op_class"]), title="op class"),
        tooltip=[alt.Tooltip("op:N", title="operator"), alt.Tooltip("op_class:N", title="class"),
                 alt.Tooltip("kernel_us:Q", format=",.2f", title="kernel time per call (µs)"),
                 alt.Tooltip("count:Q", title="calls per step"), alt.Tooltip("launches:Q", title="launches"),
                 alt.Tooltip("total_us:Q", format=",.1f", title="per step (µs)")],
    ).add_params(param).properties(width=560, height=alt.Step(16))
    return chart.properties(title=_title(title, "Each operator's kernel time per call times its calls per step; "
                                                "pick the step above the chart"))


def _step_data(sp: pd.DataFrame) -> pd.DataFrame:
    cols = ["hw_display", "mode", "tp", "dtype", "series", "batch", "tokens_per_s", "tokens_per_s_per_seq", "time_s",
            "speedup", "fits"]
    return sp[[c for c in cols if c in sp]].copy()


def tokens_chart(sp: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Tokens/s of all sequences against batch size (log-log), one line per path."""
    data = _step_data(sp[sp["fits"]])
    data = data.assign(ms=data["time_s"] * 1e3)
    series = list(dict.fromkeys(sp["series"]))
    params, test = _controls(data, "tok", {"mode": "Mode:", "tp": "Tensor parallel:", "dtype": "Dtype:"})
    batches = sorted(int(b) for b in sp["batch"].unique())
    chart = _filtered(alt.Chart(inline(data)), test).mark_line(point=alt.OverlayMarkDef(filled=True, size=45)).encode(
        x=alt.X("batch:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(values=batches, format="d"),
                title="batch size (sequences per step)"),
        y=alt.Y("tokens_per_s:Q", scale=alt.Scale(type="log"), title="tokens/s, all sequences (log)"),
        color=alt.Color("series:N", sort=series, title="software path"),
        tooltip=[alt.Tooltip("series:N", title="software path"), alt.Tooltip("hw_display:N", title="GPU"),
                 alt.Tooltip("mode:N"), alt.Tooltip("batch:Q", title="batch size"),
                 alt.Tooltip("tokens_per_s:Q", format=",.1f", title="tokens/s"),
                 alt.Tooltip("tokens_per_s_per_seq:Q", format=",.1f", title="tokens/s per sequence"),
                 alt.Tooltip("speedup:Q", format=".2f", title="speedup over dense (x)"),
                 alt.Tooltip("ms:Q", format=",.3f", title="ms per step")],
    ).properties(width=260, height=200)
    return chart.facet(facet=_hw_facet(data if len(data) else sp), columns=3,
                       title=_title(title, "Throughput of each path as the batch grows; a line stops where the "
                                           "configuration no longer fits in memory")).add_params(*params)


def step_split_chart(sp: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Seconds per step by op class, one bar per path, one panel per GPU."""
    classes = [c for c in ("linear", "attention", "elementwise", "communication", "host_idle")
               if f"time_{c}_s" in sp and sp[f"time_{c}_s"].notna().any()]
    fits = sp[sp["fits"]]
    long = fits.melt(id_vars=["hw_display", "mode", "tp", "dtype", "series", "batch"],
                     value_vars=[f"time_{c}_s" for c in classes], var_name="op_class", value_name="seconds")
    long = long.assign(op_class=long["op_class"].str[5:-2], ms=long["seconds"] * 1e3).drop(columns=["seconds"])
    long = long[long["ms"].notna()]
    series = list(dict.fromkeys(sp["series"]))
    batches = sorted(int(b) for b in sp["batch"].unique())
    params, test = _controls(long, "split", {"batch": "Batch size:", "mode": "Mode:", "tp": "Tensor parallel:",
                                             "dtype": "Dtype:"}, {"batch": batches[0]})
    chart = _filtered(alt.Chart(inline(long)), test).mark_bar().encode(
        y=alt.Y("series:N", sort=series, title=None),
        x=alt.X("sum(ms):Q", title="time per step (ms)"),
        color=alt.Color("op_class:N", scale=_op_scale(classes), sort=classes, title="time spent on"),
        tooltip=[alt.Tooltip("series:N", title="software path"), alt.Tooltip("hw_display:N", title="GPU"),
                 alt.Tooltip("op_class:N", title="spent on"), alt.Tooltip("sum(ms):Q", format=",.3f", title="ms")],
    ).properties(width=260, height=alt.Step(16))
    return chart.facet(facet=_hw_facet(long if len(long) else sp), columns=3,
                       title=_title(title, "A step's time by op class; host_idle is GPU time spent waiting for the "
                                           "host")).add_params(*params).resolve_scale(x="independent")
