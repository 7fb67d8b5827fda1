"""`sparsim explain`: in process, exit codes, the table, --json, --html and one-line errors."""

import gzip
import json
from pathlib import Path

import pytest

from sparsim.cli import main
from sparsim.validate.explain import OP_KEYS

DATA = Path(__file__).resolve().parents[1] / "validate" / "data" / "traces"
PATHS = str(DATA / "h200_paths.json")
DECODE = str(DATA / "h200_decode.json.gz")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_is_one_object_with_the_issues_keys(capsys):
    code, out, err = run(capsys, "explain", PATHS, "--hw", "h200-sxm-141gb", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["hw"] == "h200-sxm-141gb" and len(data["ops"]) == 7
    for op in data["ops"]:
        assert tuple(op) == OP_KEYS
    kernels = {op["kernel"] for op in data["ops"]}
    assert kernels == {"dense", "2:4", "csr", "bsr", "unknown"}


def test_the_table_names_paths_causes_and_changes(capsys):
    code, out, err = run(capsys, "explain", DECODE)  # --hw from deviceProperties
    assert code == 0, err
    assert "hardware   h200-sxm-141gb  (device in trace: NVIDIA H200" in out
    assert "linear  2:4     4096x11008x16  fp16   torch" in out
    assert "  - per-call plan set-up: 657.0 µs of host work per call" in out
    assert "  - dense fallback: the sparse operand was turned dense inside the call" in out
    assert "predicted step time with each change" in out


def test_html_is_written_and_loads_nothing_from_the_network(capsys, tmp_path):
    page = tmp_path / "explain.html"
    code, out, err = run(capsys, "explain", DECODE, "--html", str(page))
    assert code == 0, err
    html = page.read_text()
    assert "<script src" not in html and "sparsim-specs" in html
    specs = json.loads(html.split('id="sparsim-specs">')[1].split("</script>")[0])
    assert set(specs) == {"chart-timeline", "chart-paths"}
    assert "_cslt_sparse_mm -&gt; cuSPARSELt default plan" in html


@pytest.mark.parametrize("content,words", [
    (b"not json at all", "not JSON"),
    (b"SQLite format 3\x00" + bytes(100), "SQLite"),
    (json.dumps({"schemaVersion": 1}).encode(), "without 'traceEvents'"),
    (json.dumps({"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::add", "ts": 0, "dur": 1,
                                  "pid": 1, "tid": 1, "args": {}}]}).encode(), "no GPU kernels"),
])
def test_bad_traces_exit_2_with_one_line(capsys, tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, out, err = run(capsys, "explain", str(path), "--hw", "h200-sxm-141gb")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("sparsim: error: trace") and words in err


def test_a_truncated_gzip_and_a_missing_file_exit_2(capsys, tmp_path):
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(Path(PATHS).read_bytes())[:2000])
    code, _, err = run(capsys, "explain", str(cut), "--hw", "h200-sxm-141gb")
    assert code == 2 and ("cut short" in err or "truncated" in err) and err.count("\n") == 1
    code, _, err = run(capsys, "explain", str(tmp_path / "none.json"), "--hw", "h200-sxm-141gb")
    assert code == 2 and "no such file" in err


def test_an_unknown_gpu_needs_hw(capsys, tmp_path):
    doc = json.loads(Path(PATHS).read_text())
    doc["deviceProperties"][0].update(name="Some Future GPU", numSms=999)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    code, _, err = run(capsys, "explain", str(path))
    assert code == 2 and "--hw: not given, and the trace's device 'Some Future GPU' matches no" in err
    code, _, err = run(capsys, "explain", str(path), "--density", "2")
    assert code == 2 and "--density: got 2.0; allowed: a number in [0, 1]" in err


def test_changes_of_one_shape_on_two_paths_name_the_path(capsys):
    """h200_paths.json holds two 4096x4096x16 CSR calls (int64 and int32 indices): their
    change rows would read the same without the path."""
    code, out, err = run(capsys, "explain", PATHS)
    assert code == 0, err
    changes = out.split("predicted step time with each change\n")[1].splitlines()
    assert len(changes) == len(set(line.split(")  ", 1)[1] for line in changes))
    assert any(line.endswith("aten::mm csr 4096x4096x16 (A_csr @ B -> cuSPARSE (int64)): dense torch.mm (cuBLAS)")
               for line in changes)
    assert any(line.endswith("aten::mm dense 4096x4096x16: 2:4 pruning, cusparselt-search (plan built once)")
               for line in changes)  # a shape on one path keeps the short label
