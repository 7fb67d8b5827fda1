"""The explain page: both charts render (Vega-Lite to SVG, as a browser would draw them)."""

import json
from pathlib import Path

import pytest

from sparsim.reports.explain_page import explain_page, timeline_frame
from sparsim.validate.explain import explain

DATA = Path(__file__).resolve().parents[1] / "validate" / "data" / "traces"


@pytest.fixture(scope="module")
def page_and_result():
    result = explain(DATA / "h200_decode.json.gz")
    return explain_page(result), result


def test_the_timelines_hold_every_replayed_segment(page_and_result):
    _, result = page_and_result
    measured = timeline_frame(result.measured_timeline, "measured")
    predicted = timeline_frame(result.predicted_timeline, "predicted")
    # per step: 10 top-level operators; 17 GPU activities (4 x (GEMM + split-K reduce), 4 adds, memset +
    # sparse GEMM, fill + GEMM + reduce)
    assert len(measured) == len(predicted) == 3 * (10 + 17)
    assert set(measured["lane"]) == {"host", "stream 7"}
    # the predicted step ends earlier: the model's plan set-up is shorter than the one traced
    assert predicted["end_us"].max() < measured["end_us"].max()


def test_both_charts_render_to_svg(page_and_result):
    vlc = pytest.importorskip("vl_convert")
    html, result = page_and_result
    specs = json.loads(html.split('id="sparsim-specs">')[1].split("</script>")[0])
    timeline = vlc.vegalite_to_svg(json.dumps(specs["chart-timeline"]))
    bars = timeline.count('role-mark" role="graphics-object"') or timeline.count("<path")
    assert bars >= 2 and "predicted" in timeline and "measured" in timeline
    paths = vlc.vegalite_to_svg(json.dumps(specs["chart-paths"]))
    assert "_cslt_sparse_mm -&gt; cuSPARSELt default plan" in paths or "cuSPARSELt default plan" in paths
