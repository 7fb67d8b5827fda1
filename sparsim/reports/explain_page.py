"""The HTML page of ``sparsim explain --html``: one trace explained, offline.

The page holds the table of matrix multiplies (measured vs predicted, causes,
alternatives), where the time went, the predicted step with each change, and the
trace's timeline (host thread and GPU streams, as replayed from the trace) next to the
predicted one (each matrix multiply at its predicted host and kernel times). It is built
like the study report (:mod:`sparsim.reports.html`): one file, Vega-Lite specs and their
JavaScript inline, every string escaped.

>>> from sparsim.validate.replay import Segment
>>> timeline_frame([Segment("host", 0.0, 1e-5, "aten::mm")], "measured").iloc[0].to_dict()["category"]
'matmul (host)'
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from ..units import human_seconds
from .charts import inline
from .html import esc, page, table

__all__ = ["explain_page", "timeline_frame"]

_MATMUL_WORDS = ("gemm", "nvjet", "csrmm", "partition", "bsr", "sparse", "mm", "linear", "splitK", "Memset")


def timeline_frame(segments, label: str) -> pd.DataFrame:
    rows = []
    for seg in segments:
        is_matmul = any(w in seg.name for w in _MATMUL_WORDS)
        kind = "host" if seg.lane == "host" else "kernel"
        rows.append({"timeline": label, "lane": seg.lane, "start_us": seg.start_s * 1e6, "end_us": seg.end_s * 1e6,
                     "name": seg.name[:80], "category": f"{'matmul' if is_matmul else 'other'} ({kind})"})
    return pd.DataFrame(rows, columns=["timeline", "lane", "start_us", "end_us", "name", "category"])


def _timeline_chart(frame: pd.DataFrame) -> dict:
    colors = alt.Scale(domain=["matmul (kernel)", "other (kernel)", "matmul (host)", "other (host)"],
                       range=["#f58518", "#4c78a8", "#ffbf79", "#9ecae9"])
    chart = alt.Chart(inline(frame)).mark_bar(height=14).encode(
        x=alt.X("start_us:Q", title="time from the first operator (µs)"), x2="end_us:Q",
        y=alt.Y("lane:N", title=None, sort=["host"]),
        color=alt.Color("category:N", scale=colors, title=None),
        tooltip=["name:N", "lane:N", alt.Tooltip("start_us:Q", format=".1f"), alt.Tooltip("end_us:Q", format=".1f")],
    ).properties(width=900, height=70).facet(row=alt.Row("timeline:N", title=None, sort=["measured", "predicted"]))
    return chart.to_dict()


def _paths_chart(summary) -> dict:
    rows = [{"what": f"matmul: {k}", "seconds": v} for k, v in summary["matmul_by_path_s"].items()]
    rows += [{"what": "other kernels", "seconds": summary["other_kernels_s"]},
             {"what": "GPU idle (host works)", "seconds": summary["gpu_idle_s"]}]
    frame = pd.DataFrame(rows)
    frame["us"] = frame["seconds"] * 1e6
    chart = alt.Chart(inline(frame[["what", "us"]])).mark_bar().encode(
        x=alt.X("us:Q", title="µs per step"), y=alt.Y("what:N", title=None, sort="-x"),
        tooltip=["what:N", alt.Tooltip("us:Q", format=".1f")]).properties(width=600)
    return chart.to_dict()


def _t(seconds) -> str:
    return "—" if seconds is None else human_seconds(seconds)


def explain_page(result) -> str:
    """The self-contained HTML document for one :class:`~sparsim.validate.explain.Explanation`."""
    s = result.summary
    specs = {"chart-timeline": _timeline_chart(pd.concat([timeline_frame(result.measured_timeline, "measured"),
                                                          timeline_frame(result.predicted_timeline, "predicted")])),
             "chart-paths": _paths_chart(s)}
    op_rows = [(op.op, op.kernel, f"{op.m}x{op.k}x{op.n}" if op.m is not None else "?", op.dtype or "?", op.impl,
                op.calls, _t(op.measured_kernel_s), _t(op.predicted_kernel_s), _t(op.measured_host_s),
                _t(op.predicted_time_s), "; ".join(op.causes) or "—",
                "; ".join(f"{name}: {human_seconds(a.predicted_time_s)} ({a.gain:.2f}x)"
                          for name, a in op.alternatives[:3]) or "—")
               for op in result.ops]
    ops_html = table(("operator", "kernel", "MxKxN", "dtype", "impl", "calls", "kernels measured",
                      "kernels predicted", "host measured", "call predicted", "causes", "alternatives"), op_rows)
    names = "".join(f"<li><b>{esc(op.op)} {esc(op.kernel)}</b>: {esc(', '.join(op.kernels))}</li>" for op in result.ops)
    where = table(("", "per step"), [("step (measured)", _t(s["measured_step_s"])),
                                     ("step (predicted)", _t(s["predicted_step_s"])),
                                     ("GPU busy", _t(s["gpu_busy_s"])), ("GPU idle while the host works",
                                                                        _t(s["gpu_idle_s"]))]
                  + [(f"matmul: {k}", _t(v)) for k, v in s["matmul_by_path_s"].items()]
                  + [("other kernels", _t(s["other_kernels_s"]))])
    changes = table(("change", "operator", "predicted step", "gain"),
                    [(c["change"], "all" if c["op"] == "all" else f"{c['op']} {c['kernel']} {c['m']}x{c['k']}x{c['n']}",
                      _t(c["predicted_step_s"]), f"{c['gain']:.2f}x") for c in result.changes])
    body = "\n".join([
        '<section id="ops"><h2>Matrix multiplies</h2>', ops_html,
        '<h3>Kernels as traced</h3><ul class="findings">', names, "</ul></section>",
        '<section id="time"><h2>Where the time went</h2>', where,
        '<figure><div class="chart" id="chart-paths"></div></figure></section>',
        '<section id="changes"><h2>Predicted step with each change</h2>', changes or "<p>No change predicted "
        "faster.</p>", "</section>",
        '<section id="timeline"><h2>Timeline: the trace and the prediction</h2>',
        '<figure><div class="chart" id="chart-timeline"></div><figcaption>Top: the trace replayed (host thread and '
        "GPU streams). Bottom: the same step with every matrix multiply at its predicted host and kernel time. "
        f"At most {len(result.measured_timeline)} segments are drawn.</figcaption></figure></section>",
    ])
    intro = [f"Trace {result.source}: {s['events']:,} events, {s['steps'] or 'no'} profiler steps.",
             f"Hardware {result.hw} (device in the trace: {result.device or 'not recorded'}); figures: {result.basis}."]
    nav = [("ops", "Matrix multiplies"), ("time", "Where the time went"), ("changes", "Changes"),
           ("timeline", "Timeline")]
    return page("sparsim explain", intro, nav, body, specs)
