"""The fuzz corpus of issue 11: inputs that once gave a traceback, a hang or a wrong answer.

Every case runs the CLI in process and must end with exit status 2 and exactly one line
on stderr that starts ``sparsim: error:`` and names the argument or file at fault, with no
traceback; where a case points ``--out`` at the folder of an earlier run, that folder must
come out byte for byte as it went in. Predict sizes far past memory are refused before
any work (sparsim.models.limits), in a child process with a time and memory cap.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from importlib import resources as importlib_resources
from pathlib import Path

import pytest

from sparsim.cli import main

PROFILE = (importlib_resources.files("sparsim.hwprofiles") / "data" / "a100-sxm4-80gb.toml").read_text()
STUDY = """
version = 1
name = "fuzz"
model = "analytic"
[sweep]
hardware = ["h100-sxm5-80gb"]
formats = ["dense", "csr"]
densities = [0.1]
batch_sizes = [1]
[[workloads]]
shapes = [{m = 256, k = 256}]
"""
DEEP = "x = " + "[" * 5000 + "]" * 5000 + "\n"
RECORD = {"kernel": "dense", "m": 256, "k": 256, "n": 256, "dtype": "fp16", "density": 1.0,
          "hw": "a100-sxm4-80gb", "time_s": 1e-4}
SMALL = ["--m", "8", "--k", "8", "--n", "8"]


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """The --out folder of a finished study: results, provenance and report."""
    folder = tmp_path_factory.mktemp("earlier")
    (folder / "study.toml").write_text(STUDY)
    assert main(["study", str(folder / "study.toml"), "--out", str(folder / "out"), "--jobs", "1"]) == 0
    return folder / "out"


def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def _jsonl(*records):
    return "".join(json.dumps(r) + "\n" for r in records)


def _profile(edit_from, edit_to):
    assert edit_from in PROFILE
    return PROFILE.replace(edit_from, edit_to)


def _results(record):
    return _jsonl({"schema": "sparsim-results/1", "type": "measurement", "status": "ok", "split": "test", **record})


def _copy_of(earlier_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(earlier_run, out)
    return out


# name -> builder(tmp_path, out) -> (argv, words the one line must hold). ``out`` is a copy of
# an earlier run's folder; cases that write there must leave it as it was.
CASES = {
    # RecursionError in tomllib
    "deep TOML profile": lambda t, o: (
        ["predict", "--hw", _write(t, "deep.toml", DEEP), "--kernel", "dense", *SMALL], ["profile", "deep.toml", "32"]),
    "deep TOML calibration": lambda t, o: (
        ["predict", "--hw", "a100-sxm4-80gb", "--calibration", _write(t, "deep.toml", DEEP), "--kernel", "dense",
         *SMALL], ["calibration", "deep.toml", "nested"]),
    "dotted keys 20000 deep in a calibration": lambda t, o: (
        ["predict", "--hw", "a100-sxm4-80gb", "--calibration",
         _write(t, "dot.toml", 'version = 2\n[device]\nhw = "a100-sxm4-80gb"\n[provenance]\nx' + ".x" * 20000 + " = 1\n"),
         "--kernel", "dense", *SMALL], ["calibration", "dot.toml", "more than 32 levels"]),
    "deep TOML study": lambda t, o: (
        ["study", _write(t, "deep.toml", DEEP), "--out", str(o)], ["study", "deep.toml", "nested"]),
    # ValueError / OverflowError on unbounded Python ints
    "huge --m": lambda t, o: (
        ["predict", "--hw", "l4", "--kernel", "dense", "--m", "99999999999999999999999", "--k", "8", "--n", "8"],
        ["--m", "99999999999999999999999"]),
    # ArrayMemoryError / NaN from unphysical profile numbers
    "sm_count 1e15": lambda t, o: (
        ["predict", "--hw", _write(t, "sm.toml", _profile("sm_count = { value = 108", "sm_count = { value = 1e15")),
         "--kernel", "dense", *SMALL], ["sm.toml", "compute.sm_count", "10,000"]),
    "tensor rate 1e-300": lambda t, o: (
        ["predict", "--hw", _write(t, "rate.toml", _profile("fp16 = { value = 312e12", "fp16 = { value = 1e-300")),
         "--kernel", "dense", *SMALL], ["rate.toml", "tensor_dense_flops_per_s.fp16", "1e-300"]),
    "10 MB string in a profile": lambda t, o: (
        ["predict", "--hw", _write(t, "long.toml", _profile("sm_count = { value = 108",
                                                            'sm_count = { value = "' + "y" * 10_000_000 + '\\u202e"')),
         "--kernel", "dense", *SMALL], ["long.toml", "compute.sm_count", "(10000008 chars)"]),
    "provenance = 5 in a calibration": lambda t, o: (
        ["predict", "--hw", "a100-sxm4-80gb", "--calibration",
         _write(t, "cal.toml", 'version = 2\nprovenance = 5\n[device]\nhw = "a100-sxm4-80gb"\n'), "--kernel", "dense",
         *SMALL], ["cal.toml", "provenance"]),
    "results record without pattern": lambda t, o: (
        ["validate", "--results", _write(t, "r.jsonl", _results({"key": "a", "kernel": "csr", "m": 64, "k": 64, "n": 64,
                                                                  "dtype": "fp32", "density": 0.1, "time_s": 1e-5})),
         "--calibration", _write(t, "c.toml", 'version = 2\n[device]\nhw = "a100-sxm4-80gb"\n')],
        ["--results", "r.jsonl", "pattern"]),
    # study files
    "network is a list": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY.replace("shapes = [{m = 256, k = 256}]", 'network = ["llama2-7b"]')),
         "--out", str(o)], ["s.toml", "workloads[0].network"]),
    "batch size 2**63 - 1": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY.replace("batch_sizes = [1]", "batch_sizes = [9223372036854775807]")),
         "--out", str(o)], ["s.toml", "sweep.batch_sizes"]),
    # --scheduler: refused before any connection is tried
    "scheduler not a url": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(o), "--scheduler", "not a url"], ["--scheduler"]),
    "scheduler without port": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(o), "--scheduler", "localhost"], ["--scheduler"]),
    "scheduler http url": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(o), "--scheduler", "http://127.0.0.1:8786"],
        ["--scheduler", "http://"]),
    # --validation files: checked before the sweep starts
    "validation record with 1e12 rows": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(o), "--validation",
         _write(t, "v.jsonl", _jsonl({**RECORD, "kernel": "csr", "density": 0.5, "pattern": "uniform",
                                      "m": 10**12}))], ["--validation", "v.jsonl", "key m"]),
    "validation m = 4096.7": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(o), "--validation",
         _write(t, "v.jsonl", _jsonl({**RECORD, "m": 4096.7}))], ["--validation", "v.jsonl", "4096.7"]),
    "validation binary": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(o), "--validation",
         _write(t, "v.jsonl", bytes(range(256)) * 8)], ["--validation", "v.jsonl", "UTF-8"]),
    "validation mistyped": lambda t, o: (
        ["report", str(o), "--out", str(o / "report.html"), "--validation",
         _write(t, "v.jsonl", _jsonl({**RECORD, "n": "256"}))], ["--validation", "v.jsonl", "key n"]),
    # damaged results of an earlier run
    "results.csv time_s abc": lambda t, o: (
        ["report", _damage_csv(t, o, lambda text: _set_field(text, _column(o, "time_s"), '"abc"')),
         "--out", str(t / "r.html")], ["RESULTS", "results.csv", "column time_s, row 1", "'abc'"]),
    "results.csv cut off": lambda t, o: (
        ["report", _damage_csv(t, o, lambda text: text[: len(text) * 2 // 3]), "--out", str(t / "r.html")],
        ["RESULTS", "results.csv", "cut off"]),
    "provenance.json is a list": lambda t, o: (
        ["report", _damage_provenance(t, o, "[1, 2]"), "--out", str(t / "r.html")],
        ["provenance.json", "list"]),
    "results.parquet of 4 bytes": lambda t, o: (
        ["report", _write(t, "results.parquet", b"PAR1"), "--out", str(t / "r.html")],
        ["RESULTS", "results.parquet", "unreadable"]),
    # outputs
    "--out under /proc": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", "/proc/forbidden"], ["--out", "/proc/forbidden"]),
    "--out is a file": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(o / "results.csv")], ["--out", "results.csv"]),
    # weights
    "junk .npy weights": lambda t, o: (
        ["predict", "--hw", "l4", "--kernel", "csr", *SMALL, "--weights", _object_npy(t)],
        ["weights file", "w.npy", "not a numeric .npy array"]),
    "text file as .npy weights": lambda t, o: (
        ["predict", "--hw", "l4", "--kernel", "csr", *SMALL, "--weights", _write(t, "w.npy", "hello\n")],
        ["weights file", "w.npy", "not a .npy file"]),
}


def _set_field(text: str, column: int, value: str) -> str:
    lines = text.split("\n")
    cells = lines[1].split(",")
    cells[column] = value
    lines[1] = ",".join(cells)
    return "\n".join(lines)


def _object_npy(tmp_path) -> str:
    import numpy as np

    path = tmp_path / "w.npy"
    np.save(path, np.array([[{"a": 1}, None]], dtype=object), allow_pickle=True)
    return str(path)


def _column(out: Path, name: str) -> int:
    return (out / "results.csv").read_text().splitlines()[0].split(",").index(name)


def _damage_csv(tmp_path, out, edit):
    folder = tmp_path / "damaged"
    folder.mkdir()
    text = (out / "results.csv").read_text()
    (folder / "results.csv").write_text(edit(text))
    return str(folder / "results.csv")


def _damage_provenance(tmp_path, out, text):
    folder = tmp_path / "damaged"
    folder.mkdir()
    shutil.copy(out / "results.csv", folder / "results.csv")
    (folder / "provenance.json").write_text(text)
    return str(folder / "results.csv")


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_loses_nothing(name, tmp_path, earlier_run, capsys):
    out = _copy_of(earlier_run, tmp_path)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    argv, words = CASES[name](tmp_path, out)
    capsys.readouterr()
    code = main(argv)
    stdout, err = capsys.readouterr()
    assert code == 2, (stdout, err)
    assert err.count("\n") == 1 and err.startswith("sparsim: error: "), err[:500]
    assert "Traceback" not in err and len(err) < 1000
    assert not any(c in err[:-1] for c in "\x00\u202e\r\x1b")  # printable: no NUL, bidi override, escapes
    for word in words:
        assert word in err, (word, err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bidi_and_nul_in_names_never_reach_the_report_raw(tmp_path, capsys):
    study = STUDY.replace('name = "fuzz"', 'name = "evil\\u202eydut\\u0000s"').replace(
        "shapes = [{m = 256, k = 256}]", 'name = "w\\u202e"\nshapes = [{name = "l\\u0000x", m = 256, k = 256}]')
    path = _write(tmp_path, "s.toml", study)
    assert main(["study", path, "--out", str(tmp_path / "o"), "--jobs", "1"]) == 0, capsys.readouterr().err
    html = (tmp_path / "o" / "report.html").read_text()
    assert "\u202e" not in html and "\x00" not in html
    assert "evil\ufffdydut\ufffds" in html


def test_the_density_0_rate_reads_as_a_quantity(capsys):
    assert main(["predict", "--hw", "l4", "--kernel", "csr", *SMALL, "--density", "0"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("useful FLOP/s"))
    assert line.split(None, 2)[2] == "0 FLOP/s"


def _predict_in_child(argv, seconds=20, memory=2 * 2**30):
    """Run ``sparsim`` in a child limited in time and memory (a size case must not hang
    or swap the test machine while it still fails)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        done = subprocess.run([sys.executable, "-m", "sparsim", *argv], capture_output=True, text=True,
                              timeout=seconds, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        pytest.fail(f"sparsim {' '.join(argv)} ran past {seconds} s")
    return done.returncode, done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses RLIMIT_AS")
def test_huge_nnz_is_refused_before_work():
    code, err = _predict_in_child(["predict", "--hw", "l4", "--kernel", "csr", "--m", "1000000000",
                                   "--k", "1000000000", "--n", "8", "--density", "0.5"])
    assert code == 2 and err.count("\n") == 1 and err.startswith("sparsim: error: --") and "Traceback" not in err
