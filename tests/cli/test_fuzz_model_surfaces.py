"""Fuzz of the model-level CLI surfaces: ``sparsim step``, ``sparsim generate``, ``sparsim
explain`` and study files with model workloads.

Every bad input ends with exit status 2 and exactly one line on stderr that starts
``sparsim: error:`` and names the argument or study key at fault; never a traceback. The
table holds the inputs that once gave a traceback (each named after what it hit); the
hypothesis tests draw arguments from pools of good and bad values and check the same rule
on whatever comes out."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsim.cli import main
from sparsim.errors import SparsimError
from sparsim.studies.spec import parse_study

TRACE = str(Path(__file__).resolve().parents[1] / "validate" / "data" / "traces" / "h200_paths.json")
LONG = "y" * 5000  # longer than any file system's name limit (ENAMETOOLONG, not ENOENT)
HEAD = 'version = 1\nname = "f"\n[sweep]\nhardware = ["h100-sxm5-80gb"]\nformats = ["dense"]\nbatch_sizes = [1]\n'


def _study(tmp_path, text: str, top: str = "") -> str:
    path = tmp_path / "s.toml"
    path.write_text(top + HEAD + text)
    return str(path)


#: name -> builder(tmp_path) -> (argv, words the one line must hold)
CASES = {
    # OSError: File name too long, from Path.is_file() / open()
    "step --model of 5000 characters": lambda t: (
        ["step", "--model", LONG, "--hw", "l4"], ["--model: got 'yyy", "(5002 chars)", "llama2-7b"]),
    "step --hw of 5000 characters": lambda t: (
        ["step", "--model", "llama2-7b", "--hw", LONG], ["--hw: got 'yyy", "File name too long"]),
    "explain TRACE of 5000 characters": lambda t: (
        ["explain", LONG], ["TRACE: got 'yyy", "File name too long"]),
    "study validation path of 400 characters": lambda t: (
        ["study", _study(t, '[[workloads]]\nmodel = "llama2-7b"\ncontext = 16\n', f'validation = "{"v" * 400}.jsonl"\n'),
         "--out", str(t / "o")], ["key validation: got 'vvv", "existing JSON-lines file"]),
    "study config path of 400 characters": lambda t: (
        ["study", _study(t, f'[[workloads]]\nconfig = "{"c" * 400}.json"\ncontext = 16\n'), "--out", str(t / "o")],
        ["key workloads[0].config: got 'ccc", "Hugging Face config.json"]),
    # ValueError: embedded null byte, from click.Path's os.stat
    "NUL in --calibration": lambda t: (
        ["step", "--model", "llama2-7b", "--hw", "l4", "--calibration", "a\x00b"],
        ["--calibration: got 'a\\x00b'", "without NUL bytes"]),
    "NUL in the study file name": lambda t: (
        ["study", "s\x00.toml", "--out", str(t / "o")], ["STUDY_FILE: got 's\\x00.toml'", "without NUL bytes"]),
    # TypeError: unhashable type, from `phase not in PHASES`
    "study phase is a list": lambda t: (
        ["study", _study(t, '[[workloads]]\nmodel = "llama2-7b"\nphase = ["decode"]\ncontext = 16\n'),
         "--out", str(t / "o")], ["key workloads[0].phase: got ['decode']", "decode, prefill, generate"]),
    "study phase is a table": lambda t: (
        ["study", _study(t, '[[workloads]]\nmodel = "llama2-7b"\nphase = {a = 1}\ncontext = 16\n'),
         "--out", str(t / "o")], ["key workloads[0].phase: got {'a': 1}"]),
    # ValueError: int('long'), reading a config.json's max_position_embeddings
    "config.json max_position_embeddings 'long'": lambda t: (
        ["step", "--model", _config(t, max_position_embeddings="long"), "--hw", "l4"],
        ["model config.json: key max_position_embeddings: got 'long'", "a whole number >= 1"]),
    # RecursionError in json, reading a config.json nested 200,000 deep
    "config.json nested 200,000 deep": lambda t: (
        ["step", "--model", _deep_config(t), "--hw", "l4"], ["--model: config.json: cannot read JSON"]),
    # ran for minutes: a step's timeline simulates every layer (no answer, no error)
    "config.json with 100,000 layers": lambda t: (
        ["step", "--model", _config(t, hidden_size=1, num_attention_heads=1, intermediate_size=1, vocab_size=1,
                                    num_hidden_layers=100_000), "--hw", "l4"],
        ["model config.json: key num_hidden_layers: got 100,000; allowed: at most 1,024"]),
    # accepted in silence before: a "gpu-bound" CUDA-graph step of Llama-2-7B on this machine's CPU
    "step --hw host": lambda t: (
        ["step", "--model", "llama2-7b", "--hw", "host", "--mode", "cuda-graphs"],
        ["--hw: got 'host', a CPU profile; allowed: a GPU profile"]),
    "generate --hw host": lambda t: (
        ["generate", "--model", "llama2-7b", "--hw", "host", "--prompt", "4", "--gen", "2"],
        ["--hw: got 'host', a CPU profile"]),
    # accepted in silence before: every matrix multiply of a GPU trace "unknown" on the host CPU
    "explain --hw host": lambda t: (
        ["explain", TRACE, "--hw", "host"], ["--hw: got 'host', a CPU profile; allowed: a GPU profile"]),
    # accepted in silence before: a sequence past the model's positions
    "step --context past llama3-8b's 8192": lambda t: (
        ["step", "--model", "llama3-8b", "--hw", "h100-sxm5-80gb", "--context", "8193"],
        ["--context: got 8193", "at most 8,192 tokens", "max_position_embeddings"]),
    "generate prompt + gen past a config's limit": lambda t: (
        ["generate", "--model", _config(t, max_position_embeddings=64), "--hw", "l4", "--prompt", "60", "--gen", "5"],
        ["--prompt: got 60 (--prompt 60 + --gen 5 = 65 tokens)", "at most 64 tokens", "max_position_embeddings"]),
}
if hasattr(os, "mkfifo"):
    # os.replace put a regular file in place of the FIFO (of /dev/null, run as root)
    CASES["explain --html onto a FIFO"] = lambda t: (
        ["explain", TRACE, "--hw", "h200-sxm-141gb", "--html", _fifo(t)], ["--html: got ", "a device or special file"])
if sys.platform.startswith("linux"):
    # OSError: Input/output error, reading the first bytes of a special file
    CASES["explain /proc/self/mem"] = lambda t: (["explain", "/proc/self/mem"], ["trace '/proc/self/mem': cannot read"])


def _deep_config(tmp_path) -> str:
    path = tmp_path / "deep" / "config.json"
    path.parent.mkdir()
    path.write_text("[" * 200_000 + "]" * 200_000)
    return str(path)


def _fifo(tmp_path) -> str:
    path = tmp_path / "page.html"
    os.mkfifo(path)
    return str(path)


def _config(tmp_path, **extra) -> str:
    path = tmp_path / "tiny" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({**{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                                   "intermediate_size": 128, "vocab_size": 100}, **extra}))
    return str(path)


def _one_line(code, out, err):
    assert code == 2, (code, out[-300:], err[-600:])
    assert err.count("\n") == 1 and err.startswith("sparsim: error: "), err[-600:]
    assert "Traceback" not in err and len(err) < 1500


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_exit_2(name, tmp_path, capsys):
    argv, words = CASES[name](tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    _one_line(code, out, err)
    for word in words:
        assert word in err, (word, err)
    assert not (tmp_path / "o").exists()  # a refused study writes nothing
    if (tmp_path / "page.html").exists() or (tmp_path / "page.html").is_symlink():
        assert stat.S_ISFIFO((tmp_path / "page.html").lstat().st_mode)  # still the FIFO


# -- drawn inputs --------------------------------------------------------------------------

_VALUES = {
    "--model": ["llama2-7b", "llama3.2-1b", "qwen2.5-7b", "nope-1b", "", "x" * 300],
    "--hw": ["h100-sxm5-80gb", "l4", "v100-sxm2-32gb", "nope", "x.toml"],
    "--batch": ["1", "8", "0", "-3", "1.5", "abc", "99999999999999999999"],
    "--linear": ["dense", "2:4", "csr", "channel", "coo"],
    "--density": ["0.1", "1", "0", "-1", "nan", "inf", "abc"],
    "--impl": ["cublas", "cusparselt", "marlin", "numpy", "scipy", "nope"],
    "--quant": ["w8a16", "w4a16", "fp8", "w8a8", "int3"],
    "--group": ["64", "128", "0", "-1", "100"],
    "--kv-dtype": ["fp8", "int8", "fp16", "fp7", ""],
    "--mode": ["eager", "cuda-graphs", "compiled", "lazy"],
    "--tp": ["1", "2", "3", "0", "1000"],
    "--dtype": ["fp16", "bf16", "fp32", "fp8", "int4"],
    "--attention": ["fused", "repeat-kv", "flash"],
    "--context": ["1", "512", "4096", "4097", "0", "-1", "1e3"],
    "--prompt": ["1", "128", "4000", "0", "abc"],
    "--gen": ["1", "64", "200", "0"],
    "--phase": ["decode", "prefill", "serve"],
}
_STEP_ONLY, _GENERATE_ONLY = ("--context", "--phase"), ("--gen",)


@st.composite
def _argv(draw):
    command = draw(st.sampled_from(["step", "generate"]))
    allowed = [k for k in _VALUES if k not in (_GENERATE_ONLY if command == "step" else _STEP_ONLY)]
    keys = draw(st.lists(st.sampled_from(allowed), min_size=1, max_size=4, unique=True))
    argv = [command, "--model", "llama2-7b", "--hw", "h100-sxm5-80gb", "--mode", "cuda-graphs"]
    if command == "generate":
        argv += ["--prompt", "16", "--gen", "4"]
    for key in keys:  # a later flag wins over the defaults above (click keeps the last value)
        argv += [key, draw(st.sampled_from(_VALUES[key]))]
    return argv + (["--json"] if draw(st.booleans()) else [])


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity (not JSON, though Python writes them)."""
    def refuse(constant):
        raise ValueError(f"{constant} in the output")
    return json.loads(text, parse_constant=refuse)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_argv())
def test_step_and_generate_answer_or_refuse_in_one_line(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    if code == 0:
        assert err == "" and out
        if "--json" in argv:
            assert isinstance(_strict_json(out), dict)
    else:
        _one_line(code, out, err)
        # it names the flag (ours or click's), the profile or model file, or what does not fit
        assert re.search(r"^sparsim: error: (--|Invalid value for '--|profile |model |does not fit)", err), err


_WEIRD = [None, -1, 0, 1, 2.5, float("nan"), 10**30, "", "abc", [], [1], ["eager"], {}, {"a": 1}, True, "decode",
          "prefill", "generate", "fp8", "fp99", "llama2-7b", "x" * 3000, "a\x00b", "v" * 400 + ".json"]
_KEYS = ["name", "model", "config", "phase", "context", "prompt", "gen", "modes", "tp", "kv_dtype", "power_limit_w",
         "batch"]


@settings(max_examples=150, deadline=None)
@given(edits=st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(_WEIRD), min_size=1, max_size=3))
def test_a_model_workload_is_loaded_or_refused_in_one_line_naming_its_key(edits):
    workload = {"model": "llama2-7b", "phase": "decode", "context": 64, **edits}
    data = {"version": 1, "sweep": {"hardware": ["l4"], "formats": ["dense"], "batch_sizes": [1]},
            "workloads": [{k: v for k, v in workload.items() if v is not None}]}
    try:
        study = parse_study(data, origin="s.toml")
    except SparsimError as exc:
        message = str(exc)
        assert message.startswith("study s.toml: key workloads[0]") and "\n" not in message, message
        return
    (w,) = study.model_workloads
    assert w.phase in ("decode", "prefill", "generate") and all(v >= 1 for v in w.lengths().values())
