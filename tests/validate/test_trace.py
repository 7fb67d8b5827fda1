"""Reading torch.profiler traces: the committed H200 traces, the format's links, and bad files."""

import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sparsim.errors import SparsimError
from sparsim.validate.trace import read_trace

DATA = Path(__file__).parent / "data" / "traces"
PATHS = DATA / "h200_paths.json"
DECODE = DATA / "h200_decode.json.gz"


def _doc(path):
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def test_the_paths_trace_holds_what_the_generator_wrote():
    t = read_trace(PATHS)
    doc = _doc(PATHS)
    kinds = [e.get("cat") for e in doc["traceEvents"] if e.get("ph") == "X"]
    assert t.events == len(doc["traceEvents"]) == 135
    assert len(t.gpu) == kinds.count("kernel") + kinds.count("gpu_memset") == 26
    assert len(t.ops) == kinds.count("cpu_op") == 22
    assert len(t.launches) == kinds.count("cuda_runtime") == 28  # 26 launches + 2 synchronizes
    assert [s[0] for s in t.steps] == ["ProfilerStep#1", "ProfilerStep#2"]
    assert t.device()["name"] == "NVIDIA H200" and t.device()["numSms"] == 132


def test_a_kernel_links_to_its_launch_by_correlation_and_to_its_op_by_external_id():
    t = read_trace(PATHS)
    by_corr = {launch.correlation: launch for launch in t.launches}
    ops = {op.ext: op for op in t.ops}
    for g in t.gpu:
        launch = by_corr[g.correlation]
        op = ops[g.ext]
        assert launch.ext == g.ext
        assert op.ts <= launch.ts <= op.ts + op.dur  # the launch happens inside its operator
        assert g.ts >= launch.ts  # and the kernel after its launch


def test_shapes_types_strides_and_concrete_inputs_are_kept_for_matrix_multiplies():
    t = read_trace(PATHS)
    cslt = [op for op in t.ops if op.name == "aten::_cslt_sparse_mm"]
    assert cslt[0].shapes.dims[:2] == ((4096, 2304), (4096, 16))
    assert cslt[0].shapes.types[:2] == ("c10::Half", "c10::Half")
    assert [op.shapes.concrete[6] for op in cslt[:2]] == ["0", "32"]  # alg_id: default, then searched
    sparse_mm = [op for op in t.ops if op.name == "aten::mm" and op.shapes.strides[0] == ()]
    assert len(sparse_mm) == 6  # csr int64, csr int32, bsr: no strides on a sparse operand
    copy = next(op for op in t.ops if op.name == "aten::copy_")
    assert copy.shapes is None  # not a matrix multiply: name and times only


def test_gzip_and_plain_give_the_same_records(tmp_path):
    plain = tmp_path / "d.json"
    plain.write_bytes(gzip.decompress(DECODE.read_bytes()))
    a, b = read_trace(DECODE), read_trace(plain)
    assert (a.ops, a.launches, a.gpu, a.steps) == (b.ops, b.launches, b.gpu, b.steps)
    named = tmp_path / "gz-without-suffix.json"  # gzip is told by its magic bytes, not its name
    named.write_bytes(DECODE.read_bytes())
    assert read_trace(named).gpu == a.gpu


def test_the_array_form_of_a_chrome_trace_is_read():
    events = _doc(PATHS)["traceEvents"]
    t = read_trace(io.BytesIO(json.dumps(events).encode()))
    assert len(t.gpu) == 26 and t.devices == ()


def _error(data: bytes, **limits) -> str:
    with pytest.raises(SparsimError) as info:
        read_trace(io.BytesIO(data), **limits)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_traces_get_one_line_each():
    doc = _doc(PATHS)
    assert "not JSON" in _error(b"hello, this is not a trace")
    assert "not a text file" in _error(b"{\xff\xfe\x00\x01}")
    assert "SQLite" in _error(b"SQLite format 3\x00" + bytes(200))  # an Nsight Systems export
    assert "without 'traceEvents'" in _error(json.dumps({"deviceProperties": [], "events": []}).encode())
    other = {"traceEvents": [{"ph": "X", "cat": "Op", "name": "conv2d", "ts": 1, "dur": 2, "pid": 1, "tid": 1}]}
    assert "no cpu_op events" in _error(json.dumps(other).encode())  # another profiler's Chrome JSON
    cpu_only = dict(doc, traceEvents=[e for e in doc["traceEvents"] if e.get("cat") not in ("kernel", "gpu_memset")])
    assert "no GPU kernels" in _error(json.dumps(cpu_only).encode())
    for e in doc["traceEvents"]:
        (e.get("args") or {}).pop("Input Dims", None)
    assert "record_shapes=True" in _error(json.dumps(doc).encode())
    assert "not JSON" in _error(b"")


def test_a_truncated_trace_says_so():
    text = PATHS.read_bytes()
    assert "truncated" in _error(text[: len(text) // 2])
    gz = DECODE.read_bytes()
    assert "cut short" in _error(gz[: len(gz) - 100]) or "truncated" in _error(gz[: len(gz) - 100])


def test_too_many_events_or_bytes_are_refused_before_reading_on():
    text = PATHS.read_bytes()
    assert "more than 100 events" in _error(text, max_events=100)
    assert "more than 4.0 KiB of JSON" in _error(text, max_bytes=4096)
    assert "more than 4.0 KiB of JSON" in _error(DECODE.read_bytes(), max_bytes=4096)  # counted while inflating


def test_a_file_larger_than_the_limit_is_refused_from_its_size(tmp_path, monkeypatch):
    import sparsim.validate.trace as trace_module

    big = tmp_path / "big.json"
    big.write_bytes(PATHS.read_bytes())
    monkeypatch.setattr(trace_module, "MAX_TEXT_BYTES", 1000)
    with pytest.raises(SparsimError, match="more than 1000 B of JSON"):
        trace_module.read_trace(big, max_bytes=trace_module.MAX_TEXT_BYTES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=41803))
def test_a_cut_anywhere_is_a_clean_error_or_a_complete_read(cut):
    text = PATHS.read_bytes()
    try:
        t = read_trace(io.BytesIO(text[:cut]))
    except SparsimError:
        return
    assert len(t.gpu) == 26  # only a cut in the trailing keys after traceEvents can still read


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 1e3), st.integers(1, 2**40)), min_size=1, max_size=30))
def test_every_kernel_written_is_read_back(kernels):
    events = [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 0.0, "dur": 1.0,
               "args": {"External id": 1, "Input Dims": [[2, 2], [2, 2]], "Input type": ["float", "float"]}}]
    events += [{"ph": "X", "cat": "kernel", "name": f"k{i}", "pid": 0, "tid": 7, "ts": ts, "dur": dur,
                "args": {"correlation": corr, "External id": 1, "device": 0, "stream": 7}}
               for i, (ts, dur, corr) in enumerate(kernels)]
    t = read_trace(io.BytesIO(json.dumps({"traceEvents": events}).encode()))
    assert sorted((g.ts, g.dur, g.correlation) for g in t.gpu) == sorted(kernels)
