"""Measured times: a minimal JSON-lines record, or the results file 'sparsim calibrate' writes."""

import json

import pytest

from sparsim.errors import SparsimError
from sparsim.studies.measured import MEASURED_KEYS, compare_measured, read_measured

DENSE = {"kernel": "dense", "m": 4096, "k": 4096, "n": 4096, "dtype": "fp16", "density": 1.0,
         "hw": "a100-sxm4-80gb", "time_s": 5.0e-4}


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_minimal_record_is_predicted_again_with_signed_error(tmp_path):
    path = _write(tmp_path / "m.jsonl", [DENSE])
    table = compare_measured(read_measured(path), model="analytic")
    row = table.iloc[0]
    assert row.measured_s == 5.0e-4 and row.predicted_s > 0
    assert row.error == pytest.approx((row.predicted_s - 5.0e-4) / 5.0e-4)
    # 2·4096³ FLOP at 97% of 312 TFLOP/s plus launch: about 0.46 ms, so about 8% too fast
    assert -0.12 < row.error < -0.04


def test_calibrate_results_file_is_read_as_it_is(tmp_path):
    from sparsim.validate import ResultsWriter

    path = tmp_path / "results.jsonl"
    with ResultsWriter(path) as out:
        out.write({"type": "run", "backend": "numpy", "hw": "a100-sxm4-80gb"})
        out.write({"type": "measurement", "key": "a", "status": "ok", **DENSE, "pattern": "dense", "split": "test"})
        out.write({"type": "measurement", "key": "b", "status": "error", **DENSE, "time_s": None})
    records = read_measured(path)
    assert len(records) == 1
    table = compare_measured(records, model="analytic")
    assert table.iloc[0].split == "test" and table.iloc[0].pattern == "uniform"


@pytest.mark.parametrize("record, message", [
    ({k: v for k, v in DENSE.items() if k != "hw"}, "line 1: key hw missing; allowed: records with " + ", ".join(MEASURED_KEYS)),
    ({**DENSE, "time_s": -1}, "line 1: key time_s: got -1; allowed: measured seconds from 1e-09 to 10000"),
    ([1, 2], "line 1: got a JSON list; allowed: a JSON object"),
    # issue 11: refused, never rounded (4096.7 became 4096) or left to crash later
    ({**DENSE, "m": 4096.7}, "line 1: key m: got 4096.7; allowed: a whole number in [1, 2,147,483,647]"),
    ({**DENSE, "m": "abc"}, "line 1: key m: got 'abc'; allowed: a whole number"),
    ({**DENSE, "m": 10**12}, "line 1: key m: got 1000000000000; allowed: a whole number"),
    ({**DENSE, "kernel": "csr", "density": 0.5}, "line 1: key pattern: got None; allowed: uniform"),
    ({**DENSE, "kernel": "csr", "density": 0.5, "pattern": "uniform", "m": 10**6, "k": 10**6},
     "line 1: key m: got 1000000; allowed: a sparse point of at most 268,435,456 nonzeros"),
    ({**DENSE, "pattern": "zebra"}, "line 1: key pattern: got 'zebra'; allowed: uniform"),
    ({**DENSE, "density": 2}, "line 1: key density: got 2; allowed: a number in [0, 1]"),
])
def test_bad_records_name_file_line_and_key(tmp_path, record, message):
    path = _write(tmp_path / "m.jsonl", [record])
    with pytest.raises(SparsimError) as info:
        read_measured(path)
    assert str(info.value).startswith(f"--validation {path}: {message}")


def test_binary_file_is_one_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(SparsimError, match=r"^--validation .*m.jsonl: not UTF-8 text \(byte 128\)"):
        read_measured(path)


def test_points_on_unknown_profiles_are_listed_not_fatal(tmp_path):
    # the README's command: results of 'sparsim calibrate' on a host CPU, shown in a GPU study's report
    host = {**DENSE, "hw": "host-amd-epyc-2c", "dtype": "fp32"}
    table = compare_measured(read_measured(_write(tmp_path / "m.jsonl", [DENSE, host, host])), model="analytic")
    assert list(table.hw) == ["a100-sxm4-80gb"]
    assert table.attrs["not_compared"] == [{
        "hw": "host-amd-epyc-2c", "kernel": "dense", "points": 2,
        "reason": "profile 'host-amd-epyc-2c' is not a built-in profile or a readable profile file; it is the "
                  "host CPU that took the measurements: score them there with 'sparsim validate --results ... "
                  "--calibration ...'"}]


def test_not_json(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("{nope\n")
    with pytest.raises(SparsimError, match=r"line 1 is not JSON"):
        read_measured(path)
    with pytest.raises(SparsimError, match=r"^--validation .*missing.jsonl: cannot read"):
        read_measured(tmp_path / "missing.jsonl")


def test_study_cli_shows_predicted_vs_measured(tmp_path, capsys):
    from sparsim.cli import main

    path = _write(tmp_path / "m.jsonl", [DENSE])
    code = main(["study", "--example", "bert-base", "--model", "analytic", "--jobs", "1", "--out", str(tmp_path / "o"),
                 "--validation", str(path)])
    assert code == 0, capsys.readouterr().err
    html = (tmp_path / "o" / "report.html").read_text()
    assert 'id="measured"' in html
    code = main(["report", str(tmp_path / "o"), "--out", str(tmp_path / "r.html"), "--validation", str(path)])
    assert code == 0 and 'id="measured"' in (tmp_path / "r.html").read_text()


def test_measured_records_are_predicted_with_the_implementation_they_timed():
    from sparsim.studies.measured import compare_measured

    base = dict(kernel="2:4", m=4096, k=4096, n=16, dtype="fp16", density=0.5, pattern="nm", hw="h200-sxm-141gb",
                seed=0, split="test")
    per_call = dict(base, impl="torch", backend="torch", time_s=400e-6, call_s=400e-6)
    kernel_only = dict(base, impl="cusparselt", backend="cupy", time_s=31.2e-6, kernel_s=31.2e-6, call_s=35e-6)
    table = compare_measured([per_call, kernel_only])
    torch_row, lt_row = table.iloc[0], table.iloc[1]
    # PyTorch's per-call host work (~0.45 ms) is in the torch prediction, not in the kernel-only one
    assert torch_row["predicted_s"] > 4e-4 and lt_row["predicted_s"] < 1e-4
    assert abs(lt_row["error"]) < 0.3
