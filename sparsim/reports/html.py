"""One self-contained HTML page: text, tables and Vega-Lite charts, nothing from the network.

The Vega, Vega-Lite and vega-embed JavaScript comes from ``vl-convert-python``'s bundle
(what altair's ``save(..., inline=True)`` inlines) and is written into the page once, for
every chart. Chart specifications are JSON inside a ``<script>`` element with ``<``, ``>``
and ``&`` written as ``\\u003c``-style escapes, so no string in a study (a title such as
``</script><script>alert(1)</script>``) can end the script early; all other text goes
through :func:`esc`. Each chart reports back: ``window.sparsimRendered`` counts charts
drawn, ``window.sparsimErrors`` collects failures (also sent to ``console.error``).

>>> esc('<script>alert("x")</script>')
'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
>>> esc("layer\\u202egnp.exe\\x00") == "layer\\ufffdgnp.exe\\ufffd"
True
>>> script_json({"t": "</script>"})
'{"t": "\\\\u003c/script\\\\u003e"}'
"""

from __future__ import annotations

import functools
import html
import json
from typing import Iterable, Sequence

from ..errors import clean_text

__all__ = ["esc", "clean_strings", "script_json", "table", "page", "javascript_bundle"]


def esc(text) -> str:
    """``text`` for HTML: markup escaped, control and bidi-override characters (U+202E,
    U+0000, ...) shown as U+FFFD so a name cannot reorder or hide the text around it."""
    return html.escape(clean_text(str(text), replace=True), quote=True)


def clean_strings(value):
    """Every string inside ``value`` (a chart spec, its inline CSV data) with control and
    bidi characters replaced as in :func:`esc` (newlines and tabs of CSV data kept)."""
    if isinstance(value, str):
        return clean_text(value, replace=True, keep="\n\t")
    if isinstance(value, dict):
        return {clean_strings(k): clean_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_strings(v) for v in value]
    return value


def script_json(value) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    text = json.dumps(clean_strings(value), ensure_ascii=False, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """vega + vega-lite + vega-embed as one script (about 0.9 MB), matching altair's
    Vega-Lite version."""
    import vl_convert as vlc
    from altair.utils._importers import vl_version_for_vl_convert

    bundle = vlc.javascript_bundle(vl_version=vl_version_for_vl_convert())
    if "</script" in bundle.lower():  # would end the inline script early
        raise RuntimeError("vl-convert bundle contains '</script'; cannot inline it")
    return bundle


def table(headers: Sequence[str], rows: Iterable[Sequence], *, cls: str = "") -> str:
    """An HTML table; every cell is escaped (pass numbers already formatted)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_CSS = """
:root { --ink:#1f2328; --muted:#57606a; --line:#d0d7de; --bg:#f6f8fa; --accent:#0969da; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0; background: #fff; }
header { background: var(--bg); border-bottom: 1px solid var(--line); padding: 24px 32px 16px; }
header h1 { margin: 0 0 6px; font-size: 24px; }
header p { margin: 4px 0; color: var(--muted); max-width: 70em; }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 14px; position: sticky; top: 0;
      background: #fff; z-index: 5; }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; }
main { padding: 8px 32px 48px; }
section { margin-top: 28px; }
h2 { font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
ul.findings li { margin: 6px 0; max-width: 75em; }
figure { margin: 16px 0 28px; overflow-x: auto; }
figcaption { color: var(--muted); font-size: 13px; max-width: 75em; margin-top: 4px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg); }
td.num, th.num { text-align: right; }
.note { color: var(--muted); font-size: 13px; }
.chart-error { color: #cf222e; font-family: monospace; }
/* vega-embed adds its own stylesheet later: be more specific than .vega-embed */
div.chart.vega-embed { display: flex; flex-direction: column; align-items: flex-start; }
div.chart.vega-embed .vega-bindings:empty { display: none; }
div.chart.vega-embed .vega-bindings { order: -1; margin: 4px 0 8px; font-size: 13px; background: var(--bg);
                             border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; }
div.chart.vega-embed .vega-bind { display: inline-block; margin-right: 18px; }
div.chart.vega-embed .vega-bind-name { font-weight: 600; }
/* the decision table of a model study (reports.decision) */
table.decision td.cell { text-align: right; min-width: 7.5em; }
table.decision td.cell .rate { color: var(--muted); font-size: 12px; }
table.decision td.nofit { color: #424a53; font-size: 12px; text-align: left; }
table.decision td.none { color: var(--muted); text-align: center; }
table.decision tr.group th, table.decision tr.group td { border-top: 2px solid #8c959f; }
table.decision tbody th { font-weight: 600; background: #fff; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border: 1px solid var(--line); }
"""

_RUNNER = """
window.sparsimRendered = 0;
window.sparsimErrors = [];
(function () {
  var specs = JSON.parse(document.getElementById("sparsim-specs").textContent);
  Object.keys(specs).forEach(function (id) {
    var target = document.getElementById(id);
    vegaEmbed(target, specs[id], {actions: false, renderer: "svg"})
      .then(function () { window.sparsimRendered += 1; })
      .catch(function (err) {
        window.sparsimErrors.push(id + ": " + err);
        console.error("chart " + id + " failed: " + err);
        var note = document.createElement("p");
        note.className = "chart-error";
        note.textContent = "This chart could not be drawn: " + err;
        target.appendChild(note);
      });
  });
})();
"""


def page(title: str, intro: Sequence[str], nav: Sequence[tuple[str, str]], body: str,
         specs: dict[str, dict]) -> str:
    """The full document. ``title``/``intro``/``nav`` labels are escaped here; ``body`` is
    HTML the caller built with :func:`esc` and :func:`table`."""
    intro_html = "".join(f"<p>{esc(p)}</p>" for p in intro)
    nav_html = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        # Nothing may be fetched: inline scripts/styles and data: images only.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:\">\n"
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1>{intro_html}</header>\n<nav>{nav_html}</nav>\n<main>\n{body}\n</main>\n"
        f"<script>{javascript_bundle()}</script>\n"
        f"<script type=\"application/json\" id=\"sparsim-specs\">{script_json(specs)}</script>\n"
        f"<script>{_RUNNER}</script>\n</body>\n</html>\n"
    )
