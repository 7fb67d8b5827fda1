"""Implementations side by side: each software path compared with dense on the same path,
findings that name the implementation, the knob and what the figures rest on."""

import json
import re

import pandas as pd
import pytest

from sparsim.reports import aggregate as agg
from sparsim.reports import build_report
from sparsim.studies import parse_study, run_sweep
from sparsim.studies.results import provenance, save_results

H200 = "NVIDIA H200 SXM 141GB"
BASIS = "(calibrated on NVIDIA H200, 2026-11-29)"
STUDY = {
    "version": 1, "name": "impls report", "model": "des",
    "sweep": {"hardware": ["h200-sxm-141gb", "l4"], "formats": ["dense", "2:4", "csr"], "densities": [0.05, 0.5],
              "batch_sizes": [1, 64], "impls": ["default", "cusparselt-search", "torch"]},
    "workloads": [{"network": "llama2-7b", "layers": ["q_proj", "down_proj"]}],
}


@pytest.fixture(scope="module")
def impls_result():
    study = parse_study(STUDY)
    result = run_sweep(study)
    return result.table, provenance(study, result, "serial")


@pytest.fixture(scope="module")
def impls_html(impls_result):
    return build_report(*impls_result)


def _findings(html):
    summary = html[html.index('id="summary"'):html.index("</section>")]
    import html as html_module

    return [html_module.unescape(li) for li in re.findall(r"<li>(.*?)</li>", summary, re.S)]


def test_each_path_is_compared_with_dense_on_the_same_path(impls_result):
    table, _ = impls_result
    sp = agg.speedups(agg.model_totals(agg.with_paths(table)))
    h200 = sp[(sp.hw == "h200-sxm-141gb") & (sp.batch == 1) & (sp.format == "2:4") & (sp.density == 0.5)]
    h200 = h200.set_index("impl")
    assert h200.loc["torch", "dense_impl"] == "torch" and h200.loc["torch", "dense_path"] == "torch"
    assert h200.loc["cusparselt", "dense_impl"] == "cublas"
    # the searched plan has no dense of its own: compared with the default libraries' dense
    assert h200.loc["cusparselt-search", "dense_path"] == "default"
    assert h200.loc["cusparselt-search", "dense_impl"] == "cublas"
    # per step at batch 1 on H200: PyTorch's per-call plan set-up makes 2:4 many times slower
    # than torch.mm, while a searched cuSPARSELt plan beats cuBLAS
    assert h200.loc["torch", "speedup"] < 0.1
    assert h200.loc["cusparselt-search", "speedup"] > 1.1


def test_break_even_is_per_format_and_path(impls_result):
    table, _ = impls_result
    be = agg.break_even(agg.model_totals(agg.with_paths(table)))
    keys = set(zip(be.format, be.path))
    assert keys == {("2:4", "default"), ("2:4", "cusparselt-search"), ("2:4", "torch"), ("csr", "default"),
                    ("csr", "torch")}
    torch_24 = be[(be.format == "2:4") & (be.path == "torch") & (be.hw == "h200-sxm-141gb")]
    assert torch_24.break_even_density.isna().all()  # never pays with per-call plan set-up


def test_findings_name_the_implementation_the_knob_and_the_basis(impls_html):
    findings = _findings(impls_html)
    torch = next(f for f in findings if f.startswith(f"{H200} with PyTorch eager"))
    assert "2:4 never beats dense" in torch
    assert re.search(r"\d+\.\dx slower per step at batch 1", torch)
    assert "knob for PyTorch: per-call plan set-up costs ~0.45 ms" in torch
    assert re.search(r"with cuSPARSELt \(plan from cusparseLtMatmulSearch\), 2:4 is 1\.\d\dx faster than dense "
                     r"at batch 1", torch)
    assert "knob for PyTorch: int64 indices" in torch
    assert torch.endswith(BASIS)
    default = next(f for f in findings if f.startswith(f"{H200} with the default libraries"))
    assert "knob for cuSPARSELt: search the plan" in default and default.endswith(BASIS)
    searched = next(f for f in findings if f.startswith(f"{H200} with cuSPARSELt (plan from"))
    assert "compared with dense by cuBLAS" in searched and "2:4 pays at batch 1" in searched
    l4 = [f for f in findings if f.startswith("NVIDIA L4")]
    assert len(l4) == 3 and all(f.endswith("(datasheet only)") for f in l4)


def test_charts_draw_implementations_side_by_side(impls_html):
    specs = json.loads(re.search(r'<script type="application/json" id="sparsim-specs">(.*?)</script>',
                                 impls_html, re.S).group(1))
    text = json.dumps(specs, ensure_ascii=False)
    for label in ("2:4 · torch", "2:4 · cusparselt", "2:4 · cusparselt-search", "dense · cublas", "dense · torch",
                  "csr · cusparse"):
        assert label in text, label
    # the time split has a host category (PyTorch's per-call work)
    assert ",host," in text


def test_provenance_says_what_each_profile_rests_on(impls_html, impls_result):
    _, meta = impls_result
    assert {p["name"]: p["basis"] for p in meta["profiles"]} == {
        "h200-sxm-141gb": "calibrated on NVIDIA H200, 2026-11-29", "l4": "datasheet only"}
    assert [(c["hw"], c["shipped"], c["path"]) for c in meta["calibration"]] == [
        ("h200-sxm-141gb", True, "h200-sxm-141gb.toml")]
    prov = impls_html[impls_html.index('id="provenance"'):]
    assert "calibrated on NVIDIA H200, 2026-11-29" in prov and "shipped with sparsim" in prov
    assert "Implementations" in prov and "cusparselt-search" in prov
    assert "Profiles without a calibration" in prov


def _old_table(table):
    """A results table as studies wrote it before implementations were an axis."""
    old = table[table["path"] == "default"].drop(columns=["impl", "path", "basis", "kernel_s", "overhead_s",
                                                           "time_host_s"])
    return old.reset_index(drop=True)


def test_results_without_impl_columns_still_make_a_report(impls_result, tmp_path, capsys):
    table, meta = impls_result
    old = _old_table(table)
    html = build_report(old, {"study": {"name": "old"}})
    findings = _findings(html)
    assert findings[0].startswith(f"{H200}: 2:4")  # one path: no implementation named
    # no basis column: a named calibration file says calibrated, none says datasheet only
    assert findings[0].endswith("(calibrated with h200-sxm-141gb.toml)")
    assert findings[1].startswith("NVIDIA L4: ") and findings[1].endswith("(datasheet only)")
    # and through the command line, from a saved CSV of the old shape
    from sparsim.cli import main

    meta = {k: v for k, v in meta.items() if k not in ("rows",)}
    save_results(old, meta, tmp_path / "old")
    (tmp_path / "old" / "results.parquet").unlink()
    assert main(["report", str(tmp_path / "old"), "--out", str(tmp_path / "old.html")]) == 0
    assert "impls report" in (tmp_path / "old.html").read_text()
    assert "report:" in capsys.readouterr().out


def test_with_paths_fills_what_older_tables_lack():
    t = pd.DataFrame({"format": ["dense", "csr"], "calibration": [None, "cals/cal.toml"]})
    out = agg.with_paths(t)
    assert list(out.path) == ["default", "default"] and list(out.impl) == ["", ""]
    assert list(out.basis) == ["datasheet only", "calibrated with cal.toml"] and list(out.series) == ["dense", "csr"]
