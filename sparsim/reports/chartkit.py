"""The shared pieces of the report's charts: inline data, colors, scales and controls.

Every chart of a report (:mod:`~sparsim.reports.charts`, :mod:`~sparsim.reports.stepcharts`,
:mod:`~sparsim.reports.explain_page`) draws a format in one fixed color (Tableau 10), a
format's other software paths in shades of it, puts its data inline as CSV with explicit
number parsing (about a third of the size of the JSON rows altair writes by default), and
turns each swept dimension it does not plot into a dropdown that filters the chart.

>>> import pandas as pd
>>> df = pd.DataFrame({"format": ["dense", "2:4"], "x": [1.0, 2.0]})
>>> spec = alt.Chart(inline(df)).mark_point().encode(x="x:Q").to_dict()
>>> spec["data"]["format"]["type"], spec["data"]["values"].splitlines()[0]
('csv', 'format,x')
>>> format_scale(["csr", "dense"]).to_dict()
{'domain': ['dense', 'csr'], 'range': ['#4c78a8', '#54a24b']}
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from .aggregate import FORMAT_ORDER, default_choice, path_order

__all__ = ["inline", "format_scale", "series_scale"]

# Tableau 10, one fixed color per format across every chart of a report.
_PALETTE = {"dense": "#4c78a8", "2:4": "#f58518", "1:2": "#e45756", "csr": "#54a24b", "coo": "#b279a2",
            "bsr": "#72b7b2", "grouped": "#eeca3b", "channel": "#9d755d"}
_CATEGORY_COLORS = {"compute": "#4c78a8", "memory": "#f58518", "latency": "#e45756", "launch": "#bab0ac",
                    "host": "#b279a2", "other": "#9d755d"}
_FACET_WIDTH = 230


def inline(df: pd.DataFrame) -> alt.Data:
    """``df`` as inline CSV data with its numeric columns parsed as numbers."""
    parse = {c: "number" for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}
    text = df.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    return alt.Data(values=text, format=alt.DataFormat(type="csv", parse=parse or None))


def format_scale(formats) -> alt.Scale:
    present = [f for f in FORMAT_ORDER if f in set(formats)] + [f for f in dict.fromkeys(formats) if f not in FORMAT_ORDER]
    return alt.Scale(domain=present, range=[_PALETTE.get(f, "#888888") for f in present])


def _formats(df) -> list[str]:
    present = set(df["format"])
    return [f for f in FORMAT_ORDER if f in present] + sorted(present - set(FORMAT_ORDER))


def _shade(color: str, step: int) -> str:
    """The format's color for its ``step``-th software path: the default path keeps it,
    the next ones are lighter, darker, lighter still."""
    if step == 0:
        return color
    towards, share = ((255, 0.45), (0, 0.35), (255, 0.7), (0, 0.6))[(step - 1) % 4]
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (towards - c) * share):02x}" for c in rgb)


def _series_colors(df) -> dict[str, str]:
    """Series label -> color, in legend order (format order, then default path first)."""
    if "series" not in df:
        return {f: _PALETTE.get(f, "#888888") for f in _formats(df)}
    keys = df[["format", "path", "series"]].drop_duplicates("series")
    out = {}
    for fmt in _formats(keys):
        rows = keys[keys["format"] == fmt]
        for step, path in enumerate(path_order(rows["path"])):
            for series in rows.loc[rows["path"] == path, "series"]:
                out[series] = _shade(_PALETTE.get(fmt, "#888888"), step)
    return out


def _series(df) -> list[str]:
    return list(_series_colors(df))


def series_scale(df) -> alt.Scale:
    """One color per (format, path): the format's color, shaded per implementation."""
    colors = _series_colors(df)
    return alt.Scale(domain=list(colors), range=list(colors.values()))


def _with_series(df: pd.DataFrame) -> pd.DataFrame:
    return df if "series" in df else df.assign(series=df["format"], path="default")


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.1 else f"{x:.1%}".replace(".0%", "%")


def _controls(df: pd.DataFrame, prefix: str, dims: dict[str, str], prefer: dict | None = None):
    """Dropdown params for the dimensions of ``dims`` with more than one value, and a
    filter test per dimension that keeps the chosen slice."""
    prefer = prefer or {}
    params, tests = [], {}
    for col, label in dims.items():
        values = sorted(set(df[col]))
        if len(values) <= 1:
            continue
        labels = [_pct(v) if col == "density" else str(v) for v in values]
        values = [v.item() if hasattr(v, "item") else v for v in values]
        param = alt.param(name=f"{prefix}_{col}", value=default_choice(values, prefer.get(col)),
                          bind=alt.binding_select(options=values, labels=labels, name=f"{label} "))
        params.append(param)
        tests[col] = f"datum.{col} == {param.name}"
    return params, tests


def _test(tests: dict[str, str], only=None) -> str | None:
    chosen = [t for col, t in tests.items() if only is None or col in only]
    return " && ".join(chosen) or None


def _filtered(chart: alt.Chart, tests) -> alt.Chart:
    test = _test(tests) if isinstance(tests, dict) else tests
    return chart.transform_filter(test) if test else chart


def _hw_facet(df) -> alt.Facet:
    order = list(dict.fromkeys(df["hw_display"]))
    return alt.Facet("hw_display:N", title=None, sort=order, header=alt.Header(labelFontSize=13, labelFontWeight="bold"))


def _title(text: str, subtitle: str) -> alt.TitleParams:
    return alt.TitleParams(text=text, subtitle=subtitle, anchor="start", fontSize=15, subtitleFontSize=12,
                           subtitleColor="#555")
