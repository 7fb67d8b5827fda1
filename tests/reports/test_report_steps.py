"""The report of a model study: decision tables first, then step charts, then one-sentence
findings; the layer sections below. Steps come from benchmarks/fake_step.py (``fake_steps``)."""

import copy
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from sparsim.reports import build_report
from sparsim.reports.decision import NO_FIT_COLOUR, ONLY_FIT_COLOUR, decision_table, speedup_colour
from sparsim.reports.steps import step_findings, step_speedups
from sparsim.studies import example_path, load_study, parse_study, run_sweep
from sparsim.studies.results import load_results, provenance, save_results

STUDY = {
    "version": 1,
    "name": "<script>alert('m')</script> model study",
    "description": "Decode <b>steps</b>.",
    "sweep": {"hardware": ["h200-sxm-141gb", "rtx-4090"], "formats": ["dense", "2:4"], "quant": ["none", "w4a16"],
              "batch_sizes": [1, 8, 64], "impls": ["default"]},
    "workloads": [{"model": "llama3-8b", "context": 2048, "modes": ["eager", "cuda-graphs"]}],
}


def _specs(html):
    return json.loads(re.search(r'id="sparsim-specs">(.*?)</script>', html, re.S).group(1))


def _cells(html, row_label):
    """Texts of the cells of the decision-table row whose path is ``row_label`` (first match)."""
    table = re.search(r'<table class="decision">.*?</table>', html, re.S).group(0)
    above = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        heads = re.findall(r"<th>(.*?)</th>", row)
        # a label the row above gave is left blank: carry it down
        heads = [h or (above[i] if i < len(above) else "") for i, h in enumerate(heads)]
        above = heads
        if heads and heads[-1] == row_label:
            return heads, re.findall(r"<td[^>]*>(.*?)</td>", row, re.S), re.findall(r'<td class="([^"]*)"', row)
    raise AssertionError(row_label)


@pytest.fixture
def model_report(fake_steps):
    study = parse_study(STUDY)
    result = run_sweep(study)
    return result, provenance(study, result, "serial"), build_report(result.table, provenance(study, result, "serial"))


def test_the_decision_table_comes_before_any_prose(model_report):
    _, _, html = model_report
    main = html[html.index("<main>"):]
    first_table = main.index('<table class="decision">')
    assert main.index('<ul class="findings">') > first_table
    assert "<p>" not in html[html.index("<header>"):html.index("</header>")]  # no intro paragraph
    assert main.index('id="steps"') > first_table and main.index('id="findings"') > main.index('id="steps"')


def test_cells_give_speedup_over_dense_on_the_same_gpu_and_mode_and_tokens_per_second(model_report, fake_steps):
    result, _, html = model_report
    heads, cells, _ = _cells(html, "w4a16 + 2:4")
    assert heads[:2] == ["NVIDIA H200 SXM 141GB", "eager"]
    for batch, cell in zip((1, 8, 64), cells):
        mine = fake_steps.predict_step("llama3-8b", hw="h200-sxm-141gb", batch=batch, context=2048, linear="2:4",
                                       quant="w4a16")
        dense = fake_steps.predict_step("llama3-8b", hw="h200-sxm-141gb", batch=batch, context=2048)
        assert f"{mine.tokens_per_s / dense.tokens_per_s:.2f}x" in cell
        assert f"{mine.tokens_per_s:,.0f} tok/s" in cell.replace(".0 tok", " tok") or \
            f"{mine.tokens_per_s:,.1f} tok/s" in cell
    _, dense_cells, _ = _cells(html, "dense")
    assert all("1.00x" in c for c in dense_cells)


def test_a_configuration_that_does_not_fit_says_how_much_it_needs(model_report, fake_steps):
    _, _, html = model_report
    table = re.search(r'<table class="decision">.*?</table>', html, re.S).group(0)
    dense = fake_steps.predict_step("llama3-8b", hw="rtx-4090", batch=64, context=2048)
    assert not dense.fits
    need = sum(dense.memory_bytes.values()) / 2**30
    assert f"does not fit: needs {need:.1f} GiB of 24.0 GiB" in table
    assert table.count(f"background:{NO_FIT_COLOUR}") == 4  # dense and 2:4 at batch 64, eager and graphs
    # w4a16 fits where dense does not: no speedup to give, but it is marked and has its tokens/s
    assert table.count(f"background:{ONLY_FIT_COLOUR}") == 4 and "fits; dense does not" in table


def test_colours_follow_the_speedup_and_the_fastest_path_is_bold():
    sp = step_speedups(pd.DataFrame({
        "workload": "w", "hw": "h", "hw_display": "GPU", "mode": "eager", "tp": 1, "dtype": "fp16", "batch": 4,
        "format": ["dense", "2:4", "csr"], "quant": "none", "path": "default", "series": ["dense", "2:4", "csr 10%"],
        "fits": True, "tokens_per_s": [100.0, 200.0, 50.0], "time_s": [0.04, 0.02, 0.08],
        "memory_bytes": 1e9, "memory_capacity_bytes": 8e9}))
    html = decision_table(sp, "w")
    assert f'background:{speedup_colour(2.0)}' in html and "rgba(45, 164, 78" in speedup_colour(2.0)
    assert f'background:{speedup_colour(0.5)}' in html and "rgba(207, 34, 46" in speedup_colour(0.5)
    assert re.search(r'font-weight:700">2.00x', html) and not re.search(r'font-weight:700">0.50x', html)
    # deeper colour further from 1x, the same depth for 2x and 1/2x
    alpha = lambda s: float(speedup_colour(s).rsplit(",", 1)[1].rstrip(")"))  # noqa: E731
    assert alpha(1.1) < alpha(1.5) < alpha(2.0) == alpha(0.5) == alpha(4.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(1.0, 1e5), st.booleans()), min_size=2, max_size=6))
def test_speedup_is_tokens_over_dense_tokens_and_only_where_both_fit(points):
    rows = pd.DataFrame({
        "workload": "w", "hw": "h", "mode": "eager", "tp": 1, "dtype": "fp16", "batch": 1,
        "format": ["dense"] + ["2:4"] * (len(points) - 1), "quant": "none", "path": "default",
        "series": [f"s{i}" for i in range(len(points))], "tokens_per_s": [p[0] for p in points],
        "fits": [p[1] for p in points]})
    sp = step_speedups(rows)
    dense_rate, dense_fits = points[0]
    for (rate, fits), speedup in zip(points, sp["speedup"]):
        if fits and dense_fits:
            assert speedup == pytest.approx(rate / dense_rate)
        else:
            assert math.isnan(speedup)


def test_charts_draw_the_kept_timelines_and_tokens_only_where_the_step_fits(model_report):
    result, _, html = model_report
    specs = _specs(html)
    timeline = next(s for s in specs.values() if "tl_step" in json.dumps(s.get("params", [])))
    options = timeline["params"][0]["bind"]["options"]
    assert len(options) == len(result.timelines) == 2 * 2 * 2
    assert options[0] == "NVIDIA H200 SXM 141GB · eager · dense · batch 1"
    rows = timeline["data"]["values"].splitlines()
    lanes = {r.split(",")[1] for r in rows[1:]}
    assert lanes == {"host", "GPU stream"}
    tokens = next(s for s in specs.values() if "tokens/s vs batch" in json.dumps(s.get("title", "")))
    csv = pd.read_csv(__import__("io").StringIO(tokens["data"]["values"]))
    assert len(csv) == int(result.steps["fits"].sum()) < len(result.steps)


def test_findings_are_one_sentence_each(model_report):
    _, _, html = model_report
    section = html[html.index('id="findings"'):html.index('id="provenance"')]
    items = re.findall(r"<li>(.*?)</li>", section)
    assert len(items) >= 5
    for item in items:
        assert item.endswith(".") and item.count(". ") == 0, item
    assert any(re.match(r"On NVIDIA GeForce RTX 4090 \(eager\), dense stops fitting at batch 64 \(does not fit: needs "
                        r"[\d.]+ GiB of 24.0 GiB\); w4a16 fits at every swept batch size\.", i) for i in items)
    assert any("CUDA graphs make them" in i for i in items) or any("prunable linear layers" in i for i in items)


def test_text_from_the_study_is_escaped(model_report):
    _, _, html = model_report
    assert "<script>alert('m')</script>" not in html and "Decode &lt;b&gt;steps&lt;/b&gt;." in html


def test_the_saved_results_rebuild_the_same_report(model_report, tmp_path):
    result, meta, html = model_report
    save_results(result.table, meta, tmp_path)
    for name in ("results.parquet", "results.csv"):
        table, back = load_results(tmp_path / name)
        again = build_report(table, back)
        strip = lambda h: re.sub(r"\d{4}-\d\d-\d\dT[\d:+]+", "", h)  # noqa: E731
        assert strip(re.search(r'<table class="decision">.*?</table>', again, re.S).group(0)) == \
            strip(re.search(r'<table class="decision">.*?</table>', html, re.S).group(0))
        assert _specs(again).keys() == _specs(html).keys()


def test_a_mixed_study_puts_the_layer_sections_below(fake_steps):
    data = copy.deepcopy(STUDY)
    data["sweep"].update(quant=["none"], hardware=["l4"])
    data["model"] = "analytic"
    data["workloads"].append({"network": "bert-base", "layers": ["query", "intermediate"]})
    study = parse_study(data)
    result = run_sweep(study)
    html = build_report(result.table, provenance(study, result, "serial"))
    assert html.index('<table class="decision">') < html.index('id="findings"') < html.index('id="summary"')
    assert "BERT" in html[html.index('id="summary"'):] and html.count('<table class="decision">') == 1


def test_a_steps_table_without_the_layer_columns_is_not_refused_as_a_layer_table(fake_steps):
    study = parse_study(STUDY)
    result = run_sweep(study)
    html = build_report(result.steps, {"study": study.to_dict()})
    assert '<table class="decision">' in html and 'id="summary"' not in html


def test_refused_points_show_as_not_run(fake_steps):
    data = copy.deepcopy(STUDY)
    data["sweep"]["impls"] = ["default", "torch"]
    study = parse_study(data)
    result = run_sweep(study)
    html = build_report(result.table, provenance(study, result, "serial"))
    assert 'id="not-run"' in html and "torch runs unquantized linears" in html
    assert "w4a16 · torch" in html[html.index('id="not-run"'):]


@pytest.mark.slow
def test_the_example_model_study_with_the_fake_builds_its_report(fake_steps):
    study = load_study(example_path("llama3-8b-decode"))
    result = run_sweep(study)
    html = build_report(result.table, provenance(study, result, "serial"))
    assert html.count('<table class="decision">') == 1 and len(result.steps) == 168
    assert len(re.findall(r'<td class="cell', html)) == 3 * 2 * 4 * 7


@pytest.mark.skipif(not hasattr(__import__("sparsim"), "predict_step"),
                    reason="sparsim.predict_step is not on this branch yet (steps-core); it runs once merged")
def test_the_real_step_model_fills_the_example_decision_table():
    study = load_study(example_path("llama3-8b-decode"))
    result = run_sweep(study)
    assert result.skipped == [] and len(result.steps) == 168
    steps = result.steps
    # CUDA graphs never make a step slower; int4 weights never need more memory than fp16
    eager = steps[steps["mode"] == "eager"].set_index(["hw", "series", "batch"])["time_s"]
    graphs = steps[steps["mode"] == "cuda-graphs"].set_index(["hw", "series", "batch"])["time_s"]
    # a step that does not fit has no time (RTX 4090, 24 GB, batch 64 dense and 2:4): compare the rest
    assert steps.loc[~steps["fits"], "time_s"].isna().all() and steps.loc[steps["fits"], "time_s"].notna().all()
    both = graphs.notna() & eager.notna()
    assert both.sum() == 84 - 2 and (graphs[both] <= eager[both] * 1.001).all()
    mem = steps.set_index(["hw", "mode", "series", "batch"])["memory_bytes"].unstack("series")
    assert (mem["w4a16"] < mem["dense"]).all() and (mem["w4a16 + 2:4"] < mem["2:4"]).all()
    html = build_report(result.table, provenance(study, result, "serial"))
    assert len(re.findall(r'<td class="cell', html)) == 3 * 2 * 4 * 7
    assert np.isfinite(steps.loc[steps["fits"], "tokens_per_s"]).all()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_every_row_has_one_cell_per_batch_and_each_group_one_bold_fastest(data):
    hws = data.draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    modes = data.draw(st.lists(st.sampled_from(["eager", "cuda-graphs"]), min_size=1, max_size=2, unique=True))
    batches = data.draw(st.lists(st.sampled_from([1, 2, 8, 64]), min_size=1, max_size=4, unique=True))
    paths = ["dense", "2:4", "w4a16"]
    rows = []
    for hw in hws:
        for mode in modes:
            for b in batches:
                for p in paths:
                    rows.append({"workload": "w", "hw": hw, "hw_display": hw.upper(), "mode": mode, "tp": 1,
                                 "dtype": "fp16", "batch": b, "format": "2:4" if "2:4" in p else "dense",
                                 "quant": "w4a16" if p == "w4a16" else "none", "path": "default", "series": p,
                                 "fits": data.draw(st.booleans()), "time_s": 0.01,
                                 "tokens_per_s": data.draw(st.floats(1, 1e4)), "memory_bytes": 3e9,
                                 "memory_capacity_bytes": 2e9})
    frame = pd.DataFrame(rows)
    html = decision_table(step_speedups(frame), "w")
    body = re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)[1:]
    assert len(body) == len(hws) * len(modes) * len(paths)
    assert all(len(re.findall(r"<td", r)) == len(batches) for r in body)
    groups_with_a_fit = frame[frame["fits"]].groupby(["hw", "mode", "batch"]).ngroups
    assert html.count("font-weight:700") == groups_with_a_fit
    assert html.count("does not fit: needs 2.8 GiB of 1.9 GiB") == int((~frame["fits"]).sum())


def test_a_damaged_steps_table_or_timeline_is_refused_in_one_line_or_left_out(model_report):
    from sparsim.errors import SparsimError

    result, meta, _ = model_report
    with pytest.raises(SparsimError, match=r"^RESULTS: step rows without columns fits, tokens_per_s; allowed"):
        build_report(result.table.drop(columns=["fits", "tokens_per_s"]), meta)
    broken = dict(meta, step_timelines=[{"workload": "x"}, 7, {**meta["step_timelines"][0], "events": [[1, 2]]}]
                  + meta["step_timelines"][1:2])
    specs = _specs(build_report(result.table, broken))
    timeline = next(s for s in specs.values() if "tl_step" in json.dumps(s.get("params", [])))
    assert len(timeline["params"][0]["bind"]["options"]) == 1
