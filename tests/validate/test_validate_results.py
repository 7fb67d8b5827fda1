"""The results file: durable appends, resume, and one-line refusals of damaged files."""

from __future__ import annotations

import json

import pytest

from sparsim.errors import SparsimError
from sparsim.validate.results import RESULTS_SCHEMA, ResultsWriter, read_results
from sparsim.validate.runner import pending
from sparsim.validate.spec import MeasureSpec

SPECS = [MeasureSpec("dense", 64 * i, 64, 64, "fp32") for i in range(1, 5)]


def _write(path, records):
    with ResultsWriter(path) as out:
        for r in records:
            out.write(r)


def _measurement(spec, **extra):
    return {"type": "measurement", "key": spec.key, **spec.to_dict(), "hw": "host-x-2c", "status": "ok",
            "time_s": 1e-3, **extra}


def test_each_line_carries_the_schema_and_reads_back(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, [{"type": "run", "hw": "host-x-2c"}, _measurement(SPECS[0]), _measurement(SPECS[1], time_s=float("nan"))])
    lines = path.read_text().splitlines()
    assert [json.loads(line)["schema"] for line in lines] == [RESULTS_SCHEMA] * 3
    result = read_results(path)
    assert len(result.runs) == 1 and len(result.measurements) == 2
    assert result.measurements[1]["time_s"] is None  # NaN is not JSON: written as null
    # and a NaN time is no measurement: the point is recorded as failed, with why
    assert result.measurements[1]["status"] == "error"
    assert result.measurements[1]["error"] == ("not a measured time: time: key time_s: got nan; allowed: measured "
                                               "seconds from 1e-09 to 10000 (a number, not NaN, infinite, zero, "
                                               "negative, a string or true)")


def test_a_later_line_for_the_same_point_replaces_the_earlier(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, [_measurement(SPECS[0], time_s=1.0), _measurement(SPECS[0], time_s=2.0)])
    assert [m["time_s"] for m in read_results(path).measurements] == [2.0]


def test_resume_skips_done_and_failed_points_but_remeasures_flagged_ones(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, [_measurement(SPECS[0]), _measurement(SPECS[1], status="error", error="out of memory: x"),
                  _measurement(SPECS[2], flag="contended")])
    todo, done = pending(SPECS, path, "host-x-2c")
    assert [s.key for s in todo] == [SPECS[2].key, SPECS[3].key]
    assert done == 2


def test_resume_on_another_device_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, [_measurement(SPECS[0])])
    with pytest.raises(SparsimError, match=r"measured for profile 'host-x-2c', this run is 'h100-sxm5-80gb'"):
        pending(SPECS, path, "h100-sxm5-80gb")


def test_a_line_cut_off_mid_way_is_refused_and_the_file_is_left_alone(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, [_measurement(SPECS[0]), _measurement(SPECS[1])])
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"schema": "sparsim-results/1", "type": "measu')
    with pytest.raises(SparsimError) as info:
        read_results(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"results {path}: line 3 is cut off mid-line" in message
    assert "delete line 3" in message
    assert path.read_bytes().startswith(whole)


def test_a_foreign_schema_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, [_measurement(SPECS[0])])
    with open(path, "a") as f:
        f.write(json.dumps({"schema": "other-tool/7", "type": "measurement", "key": "x"}) + "\n")
    with pytest.raises(SparsimError, match=r"line 2: schema 'other-tool/7'; allowed: 'sparsim-results/1'"):
        read_results(path)


def test_garbage_inside_the_file_is_not_json(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("hello\n" + json.dumps({"schema": RESULTS_SCHEMA, "type": "run"}) + "\n")
    with pytest.raises(SparsimError, match="line 1 is not JSON"):
        read_results(path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(SparsimError, match="--results: no such file"):
        read_results(tmp_path / "nope.jsonl")
    assert read_results(tmp_path / "nope.jsonl", missing_ok=True).measurements == []
