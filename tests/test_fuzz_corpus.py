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
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- issue 14: a fresh fuzz ----------------------------------------------------------------

def _measurements(time_s=None, **extra):
    """A results file of three dense points; the second one's time_s is ``time_s`` (raw JSON)."""
    lines = []
    for i, m in enumerate((256, 512, 1024)):
        record = {"schema": "sparsim-results/1", "type": "measurement", "status": "ok", "split": "train",
                  "key": f"dense{m}", "kernel": "dense", "m": m, "k": m, "n": m, "dtype": "fp16", "density": 1.0,
                  "pattern": "dense", "hw": "a100-sxm4-80gb", "backend": "cupy", "time_s": 1e-5 * (i + 1), **extra}
        line = json.dumps(record)
        if i == 1 and time_s is not None:
            line = line.replace('"time_s": 2e-05', f'"time_s": {time_s}')
        lines.append(line + "\n")
    return "".join(lines)


#: times no measurement can have (raw JSON): each refused by both readers, naming the record
BAD_TIMES = {"NaN": "nan", "-1": "-1", "0": "0", '"abc"': "'abc'", "Infinity": "inf", "1e-300": "1e-300",
             "true": "True", "1e300": "1e+300"}
DEEP_JSON = "[" * 200_000 + "]" * 200_000 + "\n"
BAD_CAL = 'version = 2\n[device]\nhw = "a100-sxm4-80gb"\n'

CASES.update({
    # RecursionError in json
    "results line nested 200,000 deep": lambda t, o: (
        ["calibrate", "--from-results", _write(t, "deep.jsonl", DEEP_JSON), "--out", str(t / "c")],
        ["results", "deep.jsonl", "line 1", "nested too deep"]),
    "validation line nested 200,000 deep": lambda t, o: (
        ["report", str(o), "--out", str(t / "r.html"), "--validation", _write(t, "deep.jsonl", DEEP_JSON)],
        ["--validation", "deep.jsonl", "line 1", "nested too deep"]),
    # one reader: calibrate --from-results and report --validation refuse the same times
    **{f"calibrate --from-results time_s {raw}": (lambda raw, shown_: lambda t, o: (
        ["calibrate", "--from-results", _write(t, "r.jsonl", _measurements(raw)), "--out", str(t / "c")],
        ["results", "r.jsonl", "line 2", "record 'dense512'", f"key time_s: got {shown_}", "1e-09 to 10000"]))(raw, s)
       for raw, s in BAD_TIMES.items()},
    **{f"report --validation time_s {raw}": (lambda raw, shown_: lambda t, o: (
        ["report", str(o), "--out", str(t / "r.html"), "--validation", _write(t, "v.jsonl", _measurements(raw))],
        ["--validation", "v.jsonl", "line 2", f"key time_s: got {shown_}", "1e-09 to 10000"]))(raw, s)
       for raw, s in BAD_TIMES.items()},
    "calibrate --from-results every time true": lambda t, o: (
        ["calibrate", "--from-results", _write(t, "r.jsonl", _measurements().replace('"time_s": 1e-05', '"time_s": true')),
         "--out", str(t / "c")], ["line 1", "key time_s: got True"]),
    # names that cannot be written: checked before the sweep, not in studies/results.py after it
    "study --out not UTF-8": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(t / "o\udcff")], ["--out", "not valid UTF-8"]),
    "study file name not UTF-8": lambda t, o: (
        ["study", _write(t, "s\udcfe.toml", STUDY), "--out", str(t / "o")], ["STUDY_FILE", "not valid UTF-8"]),
    "study --out name of 300 characters": lambda t, o: (
        ["study", _write(t, "s.toml", STUDY), "--out", str(t / ("y" * 300))], ["--out", "300 bytes", "at most 255"]),
    "report --out name of 300 characters": lambda t, o: (
        ["report", str(o), "--out", str(t / ("r" * 295 + ".html"))], ["--out", "300 bytes"]),
    "calibrate --out not UTF-8": lambda t, o: (
        ["calibrate", "--from-results", _write(t, "r.jsonl", _measurements()), "--out", str(t / "c\udcff")],
        ["--out", "not valid UTF-8"]),
    # outputs that cannot be made: refused before anything is measured
    "probe --out under a file": lambda t, o: (
        ["probe", "--backend", "numpy", "--out", str(o / "results.csv" / "sub" / "p.toml")],
        ["--out", "results.csv", "is a file, not a folder"]),
    "calibrate --out under a file": lambda t, o: (
        ["calibrate", "--backend", "numpy", "--quick", "--out", str(o / "results.csv" / "cal")],
        ["--out", "results.csv", "is a file, not a folder"]),
    # a CPU's ceilings never become a GPU's calibration
    "probe numpy as an H100": lambda t, o: (
        ["probe", "--backend", "numpy", "--hw", "h100-sxm5-80gb", "--out", str(t / "p.toml")],
        ["--hw", "h100-sxm5-80gb", "GPU profile", "--backend numpy", "--hw host"]),
    "calibrate numpy as an H100": lambda t, o: (
        ["calibrate", "--backend", "numpy", "--hw", "h100-sxm5-80gb", "--out", str(t / "c")],
        ["--hw", "h100-sxm5-80gb", "GPU profile", "--backend numpy"]),
    "probe --hw unknown": lambda t, o: (
        ["probe", "--backend", "numpy", "--hw", "a200"], ["--hw: got 'a200'"]),
    "probe --hw invalid profile": lambda t, o: (
        ["probe", "--backend", "numpy", "--hw", _write(t, "deep.toml", DEEP)], ["profile", "deep.toml", "nested"]),
    "probe --hw another CPU's profile": lambda t, o: (
        ["probe", "--backend", "numpy", "--hw", _write(t, "cpu.toml", _cpu_profile_toml("host-other-cpu-64c"))],
        ["--hw", "cpu.toml", "host-other-cpu-64c", "another CPU"]),
    # accepted in silence before
    "--kernels with --from-results": lambda t, o: (
        ["calibrate", "--from-results", _write(t, "r.jsonl", _measurements()), "--kernels", "dense",
         "--out", str(t / "c")], ["--kernels", "'dense'", "--from-results"]),
    "--quick with --from-results": lambda t, o: (
        ["calibrate", "--from-results", _write(t, "r.jsonl", _measurements()), "--quick", "--out", str(t / "c")],
        ["--quick", "--from-results"]),
    "calibration [measured] tensor rate of an unknown dtype": lambda t, o: (
        ["predict", "--hw", "a100-sxm4-80gb", "--calibration",
         _write(t, "cal.toml", BAD_CAL + '[measured]\n"tensor_flops_per_s.fp99" = 1e12\n'), "--kernel", "dense",
         *SMALL], ["calibration", "cal.toml", "measured.tensor_flops_per_s.fp99", "unknown"]),
    "calibration [impl.NAME] of no implementation": lambda t, o: (
        ["predict", "--hw", "a100-sxm4-80gb", "--calibration",
         _write(t, "cal.toml", BAD_CAL + "[impl.cublass]\nhbm_efficiency = 0.5\n"), "--kernel", "dense", *SMALL],
        ["calibration", "cal.toml", "[impl.cublass]", "unknown parameter set", "cublas"]),
    "--density with --weights": lambda t, o: (
        ["predict", "--hw", "l4", "--kernel", "csr", *SMALL, "--weights", _npy(t), "--density", "0.1"],
        ["--density", "0.1", "--weights"]),
    "--pattern with --weights": lambda t, o: (
        ["predict", "--hw", "l4", "--kernel", "csr", *SMALL, "--weights", _npy(t), "--pattern", "block"],
        ["--pattern", "'block'", "--weights"]),
    "--tensor without --weights": lambda t, o: (
        ["predict", "--hw", "l4", "--kernel", "csr", *SMALL, "--tensor", "w"], ["--tensor", "--weights"]),
})


def _npy(tmp_path) -> str:
    import numpy as np

    path = tmp_path / "w.npy"
    np.save(path, np.eye(8, dtype=np.float32))
    return str(path)


def _cpu_profile_toml(name: str) -> str:
    """A CPU profile (the one stored with the shipped host-example calibration), renamed."""
    from sparsim.calibration import load_calibration
    from sparsim.tomlfile import dumps

    cal = load_calibration(importlib_resources.files("sparsim.validate") / "data" / "host-example" / "calibration.toml")
    data = json.loads(json.dumps(dict(cal.provenance["profile"])))
    data["name"] = name
    return dumps(data)


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


# -- issue 14: what must happen before (or instead of) the work --------------------------------

def test_probe_and_calibrate_check_their_output_before_measuring(tmp_path, monkeypatch, capsys):
    import sparsim.validate.probe as probe_module
    import sparsim.validate.workflow as workflow

    def never(*args, **kwargs):
        raise AssertionError("measured although the output cannot be written")

    monkeypatch.setattr(probe_module, "probe", never)
    monkeypatch.setattr(workflow, "calibrate", never)
    blocker = Path(_write(tmp_path, "file", "x"))
    assert main(["probe", "--backend", "numpy", "--out", str(blocker / "p.json")]) == 2
    assert main(["calibrate", "--backend", "numpy", "--out", str(blocker / "cal")]) == 2
    err = capsys.readouterr().err
    assert err.count("sparsim: error: --out: ") == 2 and err.count("is a file, not a folder") == 2


def test_probe_prints_what_it_measured_before_writing_it(tmp_path, monkeypatch, capsys):
    import sparsim.atomic as atomic
    import sparsim.validate.probe as probe_module

    result = {"schema": "sparsim-probe/1", "backend": "numpy", "quick": True, "device": "a CPU", "date": "2026-12-03",
              "measured": {"hbm_bytes_per_s": 1.25e10}, "details": {}}
    monkeypatch.setattr(probe_module, "probe", lambda backend, quick=False: dict(result))

    def full_disk(path, text, label="--out", encoding="utf-8"):
        raise SparsimError(f"{label}: cannot write {path}: No space left on device; allowed: a writable path")

    from sparsim.errors import SparsimError

    monkeypatch.setattr(atomic, "write_text_atomic", full_disk)
    assert main(["probe", "--backend", "numpy", "--json", "--out", str(tmp_path / "p.json")]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["measured"] == {"hbm_bytes_per_s": 1.25e10}  # the measurement is not lost
    assert err.startswith("sparsim: error: --out: cannot write") and "No space left" in err


def test_a_refused_calibration_leaves_no_empty_out_folder(tmp_path, capsys):
    results = _write(tmp_path, "r.jsonl", _measurements().replace("a100-sxm4-80gb", "no-such-gpu"))
    assert main(["calibrate", "--from-results", results, "--out", str(tmp_path / "new")]) == 2
    assert "no-such-gpu" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_memory_budget_past_the_machine_is_refused_before_any_work(monkeypatch, capsys):
    from sparsim.models.limits import machine_memory

    memory = machine_memory()
    assert memory and memory > 2**26
    monkeypatch.setenv("SPARSIM_MEMORY_BUDGET", "1TiB" if memory < 2**40 else f"{memory * 2}")
    code = main(["predict", "--hw", "a100-sxm4-80gb", "--kernel", "csr", "--m", "200000", "--k", "200000",
                 "--n", "8", "--density", "0.5", "--pattern", "block"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("sparsim: error: SPARSIM_MEMORY_BUDGET: got ")
    assert "more than this machine's memory" in err and err.count("\n") == 1
    monkeypatch.setenv("SPARSIM_MEMORY_BUDGET", "64MiB")  # within the machine: used as given
    assert main(["predict", "--hw", "l4", "--kernel", "csr", *SMALL, "--density", "0.5"]) == 0


# a task is one (shape, density): five of them
STUDY_OF_TASKS = STUDY.replace("densities = [0.1]", "densities = [0.05, 0.1, 0.2, 0.3, 0.5]")


def test_a_serial_study_saves_each_task_and_stops_at_ctrl_c(tmp_path, monkeypatch, capsys):
    import sparsim.studies.executor as executor

    real, calls = executor.run_task, []

    def interrupted_third(task):
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(executor, "run_task", interrupted_third)
    study, out = _write(tmp_path, "s.toml", STUDY_OF_TASKS), tmp_path / "o"
    assert main(["study", study, "--out", str(out), "--jobs", "1"]) == 2
    assert "interrupted" in capsys.readouterr().err
    assert len(calls) == 3  # nothing ran after the interrupt
    saved = list((out / ".partial").glob("*/*.json"))
    assert len(saved) == 2  # each finished task was saved as it finished
    monkeypatch.setattr(executor, "run_task", real)
    assert main(["study", study, "--out", str(out), "--jobs", "1"]) == 0
    assert "resuming: 2 finished tasks kept from the last run" in capsys.readouterr().err


def test_escapes_in_names_reach_the_terminal_escaped(tmp_path, earlier_run, capsys):
    evil = "evil\x1b[2J\x1b[31m\u202e"
    profile = _write(tmp_path, "p.toml", _profile('name = "a100-sxm4-80gb"', 'name = "evil\\u001b[2J\\u001b[31m\\u202e"'))
    assert main(["predict", "--hw", profile, "--kernel", "dense", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert "evil\\u001b[2J\\u001b[31m\\u202e" in out
    record = {**RECORD, "hw": evil}
    assert main(["report", str(earlier_run), "--out", str(tmp_path / "r.html"), "--validation",
                 _write(tmp_path, "v.jsonl", _jsonl(record))]) == 0
    err = capsys.readouterr().err
    line = next(l for l in err.splitlines() if l.startswith("not compared:"))
    assert "\x1b" not in err and "\u202e" not in err and "evil\\u001b[2J" in line


def test_2_4_on_a_cpu_says_no_cpu_library_runs_it(tmp_path):
    import sparsim

    cpu = _write(tmp_path, "cpu.toml", _cpu_profile_toml("host-some-cpu-2c"))
    p = sparsim.predict("2:4", m=64, k=64, n=8, hw=cpu, dtype="fp16", calibration=False)
    assert p.impl == "reference"
    assert any(n.startswith("CPU: no CPU library runs 2:4 (NumPy and SciPy have no 2:4 kernel)") for n in p.notes)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-10, max_value=10**6),
                 st.text(max_size=4), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_both_readers_take_or_refuse_the_same_times(value):
    """calibrate --from-results (read_results) and report --validation (read_measured) are one
    reader: a time either passes both, as seconds in range, or is refused by both in one line
    naming line 2, never with another exception."""
    import tempfile

    from sparsim.errors import SparsimError
    from sparsim.studies.measured import read_measured
    from sparsim.validate.results import TIME_RANGE_S, read_results

    text = _measurements(json.dumps(value, allow_nan=True))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.jsonl"
        path.write_text(text, encoding="utf-8")
        outcomes = []
        for read in (read_results, read_measured):
            try:
                read(path)
                outcomes.append("read")
            except SparsimError as exc:
                assert "line 2" in str(exc) and "time_s" in str(exc) and "\n" not in str(exc)
                outcomes.append("refused")
    assert outcomes[0] == outcomes[1], (value, outcomes)
    fits = (not isinstance(value, bool) and isinstance(value, (int, float))
            and TIME_RANGE_S[0] <= value <= TIME_RANGE_S[1])
    assert outcomes[0] == ("read" if fits else "refused")
