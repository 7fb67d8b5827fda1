"""The study report: findings, charts and provenance in one offline HTML file.

:func:`build_report` takes the table ``sparsim study`` writes (one row per layer and
predicted point) and its provenance, aggregates it (so a 10,000-point sweep stays a few
MB), and returns the page; :func:`write_report` saves it. Measured times, when given, add
a predicted-vs-measured section.

A study with model workloads (whole steps, :mod:`sparsim.studies.steps`) leads with one
decision table per model (:mod:`~sparsim.reports.decision`), before any prose; then a
step timeline, tokens/s against batch size and where a step's time goes
(:mod:`~sparsim.reports.stepcharts`), then its findings, one sentence each
(:mod:`~sparsim.reports.steps`); the per-layer kernel sections of layer workloads follow.

Implementations are compared side by side: every chart draws each (format, software
path) as its own series ("2:4 · torch"), each path is compared with dense on the same path
(:mod:`~sparsim.reports.aggregate`), and every finding names its implementation, the knob
and what its figures rest on (:mod:`~sparsim.reports.summary`). Results of studies from
before implementations were an axis (no ``path`` column) read as the default path.

>>> from sparsim.studies import parse_study, run_sweep
>>> study = parse_study({"version": 1, "name": "<script>x</script>", "model": "analytic",
...     "sweep": {"hardware": ["l4"], "formats": ["dense", "2:4"], "batch_sizes": [1]},
...     "workloads": [{"network": "bert-base"}]})
>>> html = build_report(run_sweep(study).table, {"study": study.to_dict()})
>>> "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import write_text_atomic
from ..errors import SparsimError
from ..models.kernels import BASELINE
from . import aggregate as agg
from . import charts
from .html import esc, page, table
from .steps import split_kinds, step_findings, step_speedups, valid_timelines
from .summary import FORMAT_NAMES, fmt_density, fmt_ratio, fmt_seconds, impl_name, recommendations, winners

__all__ = ["build_report", "write_report", "REQUIRED_COLUMNS"]

REQUIRED_COLUMNS = ("workload", "layer", "layer_order", "layer_count", "m", "k", "n", "batch", "density",
                    "format", "dtype", "hw", "time_s", "bytes_values", "bytes_index", "bytes_hbm",
                    "flops_executed", "flops_useful", "bound", "peak_flops_per_s", "hbm_bytes_per_s", "math")


def _slug(text: str, used: set) -> str:
    base = "".join(c if c.isalnum() else "-" for c in str(text).lower()).strip("-") or "section"
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


class _Figures:
    """The charts of one page: each figure gets an id and its Vega-Lite spec."""

    def __init__(self):
        self.specs: dict[str, dict] = {}

    def __call__(self, chart, caption: str) -> str:
        chart_id = f"chart-{len(self.specs) + 1}"
        self.specs[chart_id] = chart.to_dict()
        return f'<figure><div class="chart" id="{chart_id}"></div><figcaption>{esc(caption)}</figcaption></figure>'


def _tables(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The aggregates every section draws from, with display names of the GPUs."""
    missing = [c for c in REQUIRED_COLUMNS if c not in results.columns]
    if missing:
        raise SparsimError(f"RESULTS: missing columns {', '.join(missing)}; allowed: a table written by 'sparsim study'")
    if results.empty:
        raise SparsimError("RESULTS: no predicted points (every point was refused); allowed: a study with at least one point")
    t = agg.with_paths(results)
    if "hw_display" not in t:
        t["hw_display"] = t["hw"]
    if "workload_title" not in t:
        t["workload_title"] = t["workload"]
    for cat in agg.TIME_SPLIT:
        if f"time_{cat}_s" not in t:
            t[f"time_{cat}_s"] = 0.0
    display = dict(zip(t["hw"], t["hw_display"]))
    totals = agg.model_totals(t)
    totals["hw_display"] = totals["hw"].map(display)
    points = t.drop_duplicates(["workload", "m", "k", "n", "hw", "dtype", "format", "path", "density"])
    out = {"t": t, "totals": totals, "sp": agg.speedups(totals), "be": agg.break_even(totals),
           "mem": agg.weight_memory(totals), "split": agg.time_split(totals), "points": points,
           "roof": agg.roofline_points(points), "layers": agg.layer_times(t)}
    for name in ("be", "split", "roof", "layers"):
        out[name]["hw_display"] = out[name]["hw"].map(display)
    out["display"] = display
    return out


def _summary_section(d: dict, workloads: list, titles: dict, profiles: dict) -> str:
    t, sp, be, mem = d["t"], d["sp"], d["be"], d["mem"]
    summary = ['<section id="summary"><h2>Summary and recommendations</h2>']
    for w in workloads:
        dtypes = list(dict.fromkeys(t.loc[t["workload"] == w, "dtype"]))
        summary.append(f"<h3>{esc(titles[w])}</h3>")
        for dtype in dtypes:
            findings = recommendations(w, sp, be, mem, profiles, dtype)
            if len(dtypes) > 1:
                summary.append(f'<p class="note">{esc(dtype)}</p>')
            summary.append('<ul class="findings">' + "".join(f"<li>{esc(f)}</li>" for f in findings) + "</ul>")
            summary.append(_winners_table(sp[(sp["workload"] == w) & (sp["dtype"] == dtype)]))
    return "".join(summary) + "</section>"


def _workload_section(d: dict, w: str, name: str, anchor: str, figure: _Figures) -> str:
    sp, be, mem, roof, split = d["sp"], d["be"], d["mem"], d["roof"], d["split"]
    lt = d["layers"][d["layers"]["workload"] == w]
    batches, densities = sorted(set(lt["batch"])), sorted(set(lt["density"]))
    prefer = {"batch": batches[0], "density": agg.default_choice(densities)}
    parts = [f'<section id="{anchor}"><h2>{esc(name)}</h2>']
    layer_count = lt.drop_duplicates("layer")
    parts.append(f'<p class="note">{len(layer_count)} layer names, {int(layer_count["layer_count"].sum())} '
                 f'weight matrices; times are per forward step (every layer once per its count).</p>')
    parts.append(figure(charts.layer_chart(lt, f"{name}: time per call of each layer", prefer),
                        "Bars: predicted time of one call of the layer, per format; one panel per GPU. "
                        "Hover a bar for its GEMM shape, what bounds it and its time per step."))
    sw = sp[sp["workload"] == w]
    if (sw["format"] != BASELINE).any():
        parts.append(figure(charts.speedup_chart(sw, f"{name}: speedup over dense by density", prefer),
                            "Whole-model time of dense divided by each format's at the same batch size, dense "
                            "on the same software path (cuSPARSELt against cuBLAS, PyTorch's 2:4 against "
                            "torch.mm; a path without dense of its own against the default libraries'). "
                            "2:4 keeps half of the weights whatever the density, so its line is flat."))
        bw = be[be["workload"] == w]
        if bw["format"].isin(agg.STRUCTURED_FORMATS).any():
            parts.append(figure(charts.structured_chart(bw, f"{name}: where 2:4 pays"),
                                "2:4 keeps the largest 2 of every 4 weights and runs on sparse tensor cores; "
                                "its speedup does not depend on the density, only on the shape, the batch size "
                                "and the library: a per-call plan set-up (PyTorch eager) can outweigh it."))
        if (~bw["format"].isin(agg.STRUCTURED_FORMATS)).any():
            parts.append(figure(charts.break_even_chart(bw, f"{name}: break-even density by batch size"),
                                "The highest swept density at which a format still beats dense, per format "
                                "and implementation. Unstructured formats need very sparse weights; larger "
                                "batches favor dense tensor cores."))
    parts.append(figure(charts.memory_chart(mem[mem["workload"] == w], f"{name}: weight memory by format"),
                        "Bytes of all weights: values and index/metadata stacked. Indices make CSR/COO larger "
                        "than dense unless most weights are pruned; 2:4 adds 2 bits of metadata per kept value."))
    parts.append(figure(charts.roofline_chart(roof[roof["workload"] == w], f"{name}: roofline"),
                        "Each point is one predicted kernel (shape, format, density, batch). Lines: the GPU's "
                        "math peak per pipe and HBM bandwidth; points far below are latency- or launch-bound."))
    parts.append(figure(charts.time_split_chart(split[split["workload"] == w], f"{name}: where time goes", prefer),
                        "Whole-model time per step split into compute, memory, dependent-load latency, "
                        "kernel launch and the library's host work per call (which the GPU waits for in an "
                        "eager loop), as the time model attributes it; a call's extra kernels count as other."))
    return "".join(parts) + "</section>"


def _measured_section(measured: pd.DataFrame, figure: _Figures) -> str | None:
    not_compared = (measured.attrs.get("not_compared") or []) if measured is not None else []
    if measured is None or (measured.empty and not not_compared):
        return None
    parts = ['<section id="measured"><h2>Predicted vs measured</h2>']
    if not measured.empty:
        parts.append(figure(charts.measured_chart(measured, "Predicted vs measured time"),
                            "Each point is one measured kernel predicted again with this study's time model "
                            "and calibration. Error = (predicted - measured) / measured."))
        parts.append(_error_table(measured))
    if not_compared:
        parts.append('<h3>Measured points not compared</h3><p class="note">These measurements could not be '
                     "predicted again here; the reason says why.</p>"
                     + table(["hardware", "kernel", "points", "reason"],
                             [(n["hw"], n["kernel"], n["points"], n["reason"]) for n in not_compared]))
    return "".join(parts) + "</section>"


def _skipped_section(skipped: list, display: dict) -> str:
    return ('<section id="not-run"><h2>Points not run</h2><p class="note">The time model refused these '
            "combinations; the reason is its own message.</p>"
            + table(["format", "dtype", "GPU", "points", "reason"],
                    [(s["format"], s["dtype"], display.get(s["hw"], s["hw"]), s["points"], s["reason"])
                     for s in skipped]) + "</section>")


def _step_sections(steps: pd.DataFrame, meta: dict, figure: _Figures, used: set) -> tuple[list, list, list, list]:
    """(decision sections, chart section, findings section, nav entries) of the model workloads."""
    from . import stepcharts
    from .decision import decision_table, legend

    sp = step_speedups(steps)
    workloads = list(dict.fromkeys(sp["workload"]))
    titles = dict(zip(sp["workload"], sp["workload_title"]))
    timelines = valid_timelines(meta.get("step_timelines"))
    decisions, charts, nav = [], [], []
    for w in workloads:
        anchor = _slug(f"decide {titles[w]}", used)
        nav.append((anchor, titles[w]))
        decisions.append(f'<section id="{anchor}"><h2>{esc(titles[w])}: which path to run</h2>'
                         + decision_table(sp, w) + legend() + "</section>")
    for w in workloads:
        sw = sp[sp["workload"] == w]
        parts = [f"<h3>{esc(titles[w])}</h3>"]
        kept = [t for t in timelines if t.get("workload") == w]
        if kept:
            parts.append(figure(stepcharts.timeline_chart(kept, f"{titles[w]}: one step, host and GPU"),
                                "Each bar is one operator's host work (launch) or kernel; pick the step above the "
                                "chart. Eager steps launch every kernel from the host; a CUDA graph replays them "
                                "all from one launch."))
            if any(t.get("ops") for t in kept):
                parts.append(figure(stepcharts.ops_chart(kept, f"{titles[w]}: the operators of one step"),
                                    "Kernel time of each operator per step (per call times calls per step), as the "
                                    "step model predicts each kernel on that GPU."))
        if sw["fits"].any():
            parts.append(figure(stepcharts.tokens_chart(sw, f"{titles[w]}: tokens/s vs batch size"),
                                "Tokens per second of all sequences of a step, per software path and GPU."))
            if any(f"time_{c}_s" in sw and sw[f"time_{c}_s"].notna().any() for c in ("linear", "attention")):
                parts.append(figure(stepcharts.step_split_chart(sw, f"{titles[w]}: where a step's time goes"),
                                    "Seconds per step by op class, as the step model's timeline attributes them."))
        charts.append("".join(parts))
    findings = ['<section id="findings"><h2>Findings</h2>']
    study = meta.get("study", {})
    if study.get("description"):
        findings.append(f'<p class="note">{esc(study["description"])}</p>')
    for w in workloads:
        findings.append(f"<h3>{esc(titles[w])}</h3>" + '<ul class="findings">'
                        + "".join(f"<li>{esc(f)}</li>" for f in step_findings(sp, w)) + "</ul>")
    findings.append("</section>")
    chart_section = ['<section id="steps"><h2>Steps</h2>' + "".join(charts) + "</section>"]
    return decisions, chart_section, ["".join(findings)], nav


def build_report(results: pd.DataFrame, meta: dict[str, Any] | None = None,
                 measured: pd.DataFrame | None = None) -> str:
    """The report page for ``results`` (see module doc); ``measured`` is the table of
    :func:`sparsim.studies.measured.compare_measured`."""
    # Longer than 60 lines on purpose: the page's sections in the order a reader meets them.
    meta = meta or {}
    layers, steps = split_kinds(results)
    study = meta.get("study", {})
    profiles = {p["name"]: p for p in meta.get("profiles", [])}
    figure, used = _Figures(), set()
    nav, body = [], []
    if steps is not None:
        decisions, charts, findings, decide_nav = _step_sections(steps, meta, figure, used)
        nav += decide_nav + [("steps", "Steps"), ("findings", "Findings")]
        body += decisions + charts + findings
    d = _tables(layers) if steps is None or not layers.empty else None
    if d is not None:
        t = d["t"]
        workloads = list(dict.fromkeys(t["workload"]))
        titles = dict(zip(t["workload"], t["workload_title"]))
        nav.append(("summary", "Summary"))
        body.append(_summary_section(d, workloads, titles, profiles))
        for w in workloads:
            anchor = _slug(titles[w], used)
            nav.append((anchor, titles[w]))
            body.append(_workload_section(d, w, titles[w], anchor, figure))
    else:
        t = steps
    display = d["display"] if d is not None else {}
    if steps is not None:
        display = {**dict(zip(steps["hw"], steps["hw_display"])), **display}
    section = _measured_section(measured, figure)
    if section:
        nav.append(("measured", "Predicted vs measured"))
        body.append(section)
    if meta.get("skipped"):
        nav.append(("not-run", "Not run"))
        body.append(_skipped_section(meta["skipped"], display))
    nav.append(("provenance", "Provenance"))
    body.append(_provenance(meta, t))
    if steps is not None:  # the decision tables come first: no prose above them
        kernels = f", {len(d['points']):,} predicted kernels" if d is not None else ""
        body.append(f'<p class="note">{len(steps):,} predicted steps{kernels}; sparsim '
                    f"{esc(meta.get('sparsim_version', '?'))}, {esc(meta.get('date', ''))}.</p>")
        intro = []
    else:
        intro = [study.get("description") or "",
                 f"{len(d['points']):,} predicted kernels, {len(t):,} layer rows; time model "
                 f"{', '.join(sorted(set(t['model']))) if 'model' in t else study.get('model', '?')}; "
                 f"sparsim {meta.get('sparsim_version', '?')}, {meta.get('date', '')}."]
    return page(str(study.get("name") or "sparsim study"), [p for p in intro if p], nav, "\n".join(body),
                figure.specs)


def _winners_table(sp: pd.DataFrame) -> str:
    if sp.empty:
        return ""
    densities = sorted(set(sp["density"]))
    refs = list(dict.fromkeys([d for d in (0.5, densities[0]) if d in densities]))
    rows = []
    batches = sorted(set(sp["batch"]))
    several = "path" in sp and sp["path"].nunique() > 1
    for d in refs:
        win = winners(sp, d)
        for hw in dict.fromkeys(sp["hw"]):
            w = win[win["hw"] == hw].set_index("batch")
            if w.empty:
                continue
            cells = []
            for b in batches:
                if b in w.index:
                    r = w.loc[b]
                    # 2:4 keeps its fixed half whatever the swept density: say so, not "at 5%"
                    fixed = " at its fixed 50%" if r["format"] in agg.STRUCTURED_FORMATS else ""
                    impl = (r.get("impl", "") or r.get("path", "")) if several else ""
                    by = f" · {impl}" if impl else ""
                    cells.append(f"{FORMAT_NAMES.get(r['format'], r['format'])}{by}{fixed} "
                                 f"({fmt_ratio(r['speedup'])}, {fmt_seconds(r['time_s'])})")
                else:
                    cells.append("-")
            rows.append([w["hw_display"].iloc[0], fmt_density(d)] + cells)
    return ('<p class="note">Fastest format per GPU and batch size when unstructured formats keep the given '
            "density of weights (speedup over dense on the same software path, time per step); 2:4 and 1:2 always "
            "keep their fixed half. Channel pruning is left out: it is a smaller dense GEMM, fast by construction.</p>"
            + table(["GPU", "unstructured density"] + [f"batch {b}" for b in batches], rows))


def _error_table(mv: pd.DataFrame) -> str:
    rows = []
    for (kernel, hw), g in mv.groupby(["kernel", "hw"], sort=True):
        err = g["error"].abs()
        worst = g.loc[err.idxmax(), "error"]
        rows.append([kernel, hw, len(g), f"{err.mean():.1%}", f"{err.median():.1%}", f"{worst:+.1%}"])
    return table(["kernel", "hardware", "points", "mean |error|", "median |error|", "worst error"], rows)


def _provenance(meta: dict, t: pd.DataFrame) -> str:
    study = meta.get("study", {})
    rows = [
        ("study", study.get("name", "")), ("study file", study.get("origin", "")),
        ("sparsim version", meta.get("sparsim_version", "")), ("date (UTC)", meta.get("date", "")),
        ("time model", study.get("model", ", ".join(sorted(set(t.get("model", pd.Series(dtype=str))))))),
        ("seed", study.get("seed", "")),
        ("kernel options", ", ".join(f"{k}={v}" for k, v in study.get("kernel", {}).items() if v is not None)
         + ("; index width and B layout as each implementation calls them"
            if any(study.get("kernel", {}).get(k, "") is None for k in ("index_policy", "b_layout")) else "")),
        ("predictions", f"{meta.get('predictions', '')}"
         + (f" kernels, {meta['steps']} steps" if meta.get("steps") is not None else "")),
        ("run time", f"{meta.get('elapsed_s', '')} s"),
        ("executor", meta.get("executor", "")), ("python / platform", f"{meta.get('python', '')} / {meta.get('platform', '')}"),
    ]
    for w in study.get("workloads", []):
        if w.get("kind") == "model":
            lengths = ", ".join(f"{k} {w[k]}" for k in ("context", "prompt", "gen") if w.get(k) is not None)
            rows.append((f"workload {w.get('name')}", f"{w.get('title')}: model {w.get('model') or w.get('config')}, "
                                                      f"phase {w.get('phase')} ({lengths}), modes "
                                                      f"{', '.join(w.get('modes') or [])}, tp "
                                                      f"{', '.join(map(str, w.get('tp') or []))}"))
            continue
        rows.append((f"workload {w.get('name')}", f"{w.get('title')}: {w.get('source')} (tokens per sequence {w.get('tokens')})"))
    html_rows = table(["what", "value"], rows)
    basis = dict(zip(t["hw"], t["basis"])) if "basis" in t else {}
    profiles = table(["profile", "GPU", "figures rest on", "file"],
                     [(p["name"], p["display_name"], p.get("basis") or basis.get(p["name"], "datasheet only"),
                       p["origin"]) for p in meta.get("profiles", [])])
    impls = [i for i in dict.fromkeys(t["impl"]) if i] if "impl" in t else []
    impl_html = ""
    if impls:
        paths = t.drop_duplicates(["format", "path", "impl"])
        rows_i = [(i, impl_name(i), ", ".join(paths.loc[paths["impl"] == i, "format"].astype(str).unique()),
                   ", ".join(paths.loc[paths["impl"] == i, "path"].astype(str).unique())) for i in impls]
        impl_html = ("<h3>Implementations</h3>" + table(["implementation", "what it is", "formats", "path"], rows_i)
                     + '<p class="note">Study entries: ' + esc(", ".join(study.get("impls") or []) or "default")
                     + "; path default = each format's default library on that GPU "
                     "(sparsim impl list, sparsim impl show NAME).</p>")
    cals = meta.get("calibration") or []
    cal_html = (table(["calibration file", "profile", "figures", "parameters and measured ceilings", "provenance"],
                      [(c["path"] + (" (shipped with sparsim)" if c.get("shipped") else ""), c["hw"],
                        c.get("label", ""), ", ".join(f"{k}={v:.3g}" for k, v in {**c.get("params", {}),
                                                                               **c.get("measured", {})}.items()),
                        ", ".join(f"{k}: {v}" for k, v in c.get("provenance", {}).items())) for c in cals])
                if cals else "")
    if not cals or len(cals) < len(meta.get("profiles", [])):
        cal_html += ('<p class="note">' + ("Profiles without a calibration" if cals else "No calibration")
                     + ": datasheet peaks with default efficiencies (sparsim.simulator.params).</p>")
    return ('<section id="provenance"><h2>Provenance</h2>' + html_rows + "<h3>Hardware profiles</h3>" + profiles
            + impl_html + "<h3>Calibration</h3>" + cal_html + "</section>")


def write_report(path: str | Path, results: pd.DataFrame, meta: dict[str, Any] | None = None,
                 measured: pd.DataFrame | None = None) -> Path:
    """Build the report and write it to ``path``."""
    path = Path(path)
    text = build_report(results, meta, measured)
    return write_text_atomic(path, text)  # a reader sees the old report or the new one, whole
