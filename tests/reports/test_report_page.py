"""The report: one offline HTML page whose charts compile, whose text is escaped, and which
stays small for big sweeps."""

import json
import re
import time

import pytest

from sparsim.reports import build_report, write_report
from sparsim.reports.html import script_json
from sparsim.studies.measured import compare_measured



def _specs(html):
    match = re.search(r'<script type="application/json" id="sparsim-specs">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report_html(small_result):
    table, meta = small_result
    return build_report(table, meta)


def test_every_chart_compiles_to_vega(report_html):
    import vl_convert as vlc
    from altair.utils._importers import vl_version_for_vl_convert

    specs = _specs(report_html)
    # two workloads x (per-layer, speedup, 2:4, break-even, memory, roofline, time split)
    assert len(specs) == 14
    for chart_id, spec in specs.items():
        vega = vlc.vegalite_to_vega(spec, vl_version=vl_version_for_vl_convert())
        assert vega["marks"], chart_id
        title = spec.get("title", {})
        assert title.get("text") and title.get("subtitle"), chart_id


def test_page_loads_nothing_from_the_network(report_html):
    assert "Content-Security-Policy" in report_html and "default-src 'none'" in report_html
    assert not re.search(r"<script[^>]+src=", report_html)
    assert not re.search(r"<link[^>]+href=", report_html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", report_html)
    assert report_html.count("<script") == 3  # the bundle, the specs (JSON), the runner


def test_names_from_the_study_are_shown_as_text(report_html):
    assert "<script>alert('study')</script>" not in report_html
    assert "&lt;script&gt;alert(&#x27;study&#x27;)&lt;/script&gt; report test" in report_html
    assert "<img src=x" not in report_html and "&lt;img src=x onerror=alert(1)&gt;" in report_html
    assert "<b>with markup</b>" not in report_html and "&lt;b&gt;with markup&lt;/b&gt;" in report_html
    # the layer name "</script><b>proj" rides in chart data: escaped inside the JSON block
    assert "</script><b>proj" not in report_html
    assert any("</script><b>proj" in spec_text for spec_text in [json.dumps(_specs(report_html))])


def test_script_json_cannot_close_the_script_element():
    text = script_json({"x": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    # U+2028 (a line separator) is a control character in a name: shown as U+FFFD
    assert json.loads(text) == {"x": "</script><!-- & \ufffd"}


def test_control_and_bidi_characters_never_reach_the_page_raw(small_result):
    table, meta = small_result
    table = table.copy()
    table["layer"] = table["layer"].where(table["layer"] != "q_proj", "q\u202eforp\x00x")
    meta = {**meta, "study": {**meta["study"], "name": "evil\u202eydut\x00s"}}
    html = build_report(table, meta)
    assert "\u202e" not in html and "\x00" not in html
    assert "evil\ufffdydut\ufffds" in html and "q\ufffdforp\ufffdx" in html


def test_summary_says_where_formats_win(report_html):
    summary = report_html[report_html.index('id="summary"'):report_html.index("</section>")]
    assert "2:4 pays at batch" in summary or "2:4 never beats dense" in summary
    assert "Memory: dense weights take" in summary
    assert "Fastest format per GPU and batch size" in summary


def test_provenance_lists_profiles_version_and_date(report_html, small_result):
    _, meta = small_result
    prov = report_html[report_html.index('id="provenance"'):]
    for needle in ("a100-sxm4-80gb", "NVIDIA H100", meta["sparsim_version"], meta["date"],
                   "published: te42kyfo/gpu-benches gpu-stream on NVIDIA A100 80GB", "hbm_bytes_per_s=1.77e+12"):
        assert needle in prov


def test_measured_section_shows_error(small_result):
    table, meta = small_result
    records = [{"kernel": "dense", "m": 4096, "k": 4096, "n": 4096, "dtype": "fp16", "density": 1.0,
                "hw": "a100-sxm4-80gb", "time_s": 5.0e-4},
               {"kernel": "csr", "m": 4096, "k": 4096, "n": 256, "dtype": "fp32", "density": 0.1,
                "hw": "a100-sxm4-80gb", "time_s": 2.0e-4}]
    measured = compare_measured(records, model="analytic")
    html = build_report(table, meta, measured)
    assert 'id="measured"' in html and "Predicted vs measured" in html
    specs = _specs(html)
    assert len(specs) == 15
    dense = measured[measured.kernel == "dense"].iloc[0]
    assert f"{abs(dense.error):.1%}" in html


def test_ten_thousand_point_report_stays_small_and_builds_fast(tmp_path, synthetic_table):
    table = synthetic_table
    start = time.perf_counter()
    path = write_report(tmp_path / "big.html", table, {"study": {"name": "big"}})
    elapsed = time.perf_counter() - start
    size = path.stat().st_size
    assert size < 10 * 2**20, size
    assert elapsed < 30, elapsed


def test_missing_columns_are_one_line():
    import pandas as pd

    from sparsim.errors import SparsimError

    with pytest.raises(SparsimError, match=r"^RESULTS: missing columns workload, layer"):
        build_report(pd.DataFrame({"x": [1]}))
