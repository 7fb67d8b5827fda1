"""benchmarks/gpu/collect.sh: the plan, stage selection, the SKU table, records, traces, CPU mode."""

import gzip
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "benchmarks" / "gpu"
SCRIPT = GPU / "collect.sh"
sys.path.insert(0, str(GPU))

import plan as plan_mod  # noqa: E402
import records  # noqa: E402
from decoder_step import CONFIGS, points  # noqa: E402
from quant_paths import PATHS, quant_points  # noqa: E402


def _run(*args, env=None, timeout=60):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHON": sys.executable, **(env or {})})


def _stages(out):
    """(name, budget) of the stages the plan runs."""
    return [(m.group(1), int(m.group(2))) for m in re.finditer(r"^  (\S+)\s+(\d+)s  ", out, re.M)]


# -- the plan --------------------------------------------------------------------------------
def test_the_default_gpu_plan_puts_new_data_first_and_fits_8_minutes():
    proc = _run("--dry-run", "--hw", "h100-sxm5-80gb")  # no H100 data in the repo: the whole default plan
    assert proc.returncode == 0, proc.stderr
    stages = _stages(proc.stdout)
    assert [name for name, _ in stages] == ["env", "decoder", "quant", "attention", "traces", "probe",
                                            "measure-cupy", "fit", "readme"]
    budget = dict(stages)
    assert budget["decoder"] <= 180 and budget["quant"] <= 120
    total = sum(budget.values())
    assert total <= 480 and f"total          {total}s of 480s allowed" in proc.stdout
    for what in ("_scaled_mm fp8", "_cslt_sparse_mm int8/fp8", "eager/cuda-graphs", "--from-results",
                 "repeat_interleave + math SDPA",
                 "measure-torch     -s", "[optional: name it in --stages]"):
        assert what in proc.stdout


def test_stages_with_data_for_this_sku_are_skipped_and_say_where():
    proc = _run("--dry-run", "--hw", "h200-sxm-141gb")
    assert proc.returncode == 0, proc.stderr
    names = [name for name, _ in _stages(proc.stdout)]
    assert names == ["env", "decoder", "quant", "attention", "traces", "measure-torch", "fit", "readme"]
    assert "measure-torch    60s" in proc.stdout and "[added: fills time left by skipped stages]" in proc.stdout
    skipped = [line for line in proc.stdout.splitlines() if "h200-2026-11-29" in line]
    assert [line.split()[0] for line in skipped] == ["probe", "measure-cupy"]
    # naming a stage runs it even where data exists
    assert "measure-cupy" in dict(_stages(_run("--dry-run", "--hw", "h200-sxm-141gb", "--stages",
                                               "measure-cupy").stdout))


def test_stage_selection_and_skip():
    proc = _run("--dry-run", "--stages", "quant,decoder")
    assert [n for n, _ in _stages(proc.stdout)] == ["env", "decoder", "quant", "readme"]  # canonical order
    proc = _run("--dry-run", "--skip", "traces,env", "--hw", "h100-pcie-80gb")
    names = [n for n, _ in _stages(proc.stdout)]
    assert "traces" not in names and "env" not in names and "decoder" in names


@pytest.mark.parametrize("args, message", [
    (("--stages", "decoder,frobnicate"), "collect.sh: error: --stages: got 'frobnicate'; allowed: env, decoder, "),
    (("--skip", "atlas"), "collect.sh: error: --skip: got 'atlas'; allowed: env, decoder, "),
    (("--budget", "decoder=lots"), "collect.sh: error: --budget: got 'decoder=lots'; allowed: NAME=SECONDS"),
    (("--backend", "tpu"), "collect.sh: error: --backend: got 'tpu'; allowed: cupy, numpy"),
    (("--frobnicate",), "collect.sh: error: argument --frobnicate: unknown; allowed: --dry-run, "),
])
def test_bad_usage_is_one_line_and_exit_2(args, message):
    proc = _run("--dry-run", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1


def test_budgets_over_8_minutes_are_refused():
    proc = _run("--dry-run", "--hw", "h100-sxm5-80gb", "--budget", "decoder=300")
    assert proc.returncode == 1 and "budgets sum to 625s; allowed: <= 480s" in proc.stderr
    proc = _run("--out", "unused", "--hw", "h100-sxm5-80gb", "--budget", "decoder=300")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and not (ROOT / "unused").exists()


def test_the_cpu_plan():
    proc = _run("--dry-run", "--backend", "numpy")
    assert proc.returncode == 0
    stages = dict(_stages(proc.stdout))
    assert list(stages) == ["env", "decoder", "probe", "measure-numpy", "fit", "readme"]
    assert sum(stages.values()) <= 150


# -- which profile a device is ------------------------------------------------------------
@pytest.mark.parametrize("name, memory, profile", [
    ("NVIDIA H200", 143771, "h200-sxm-141gb"),
    ("NVIDIA H200 NVL", 143771, None),
    ("NVIDIA GH200 480GB", 97871, None),
    ("NVIDIA H100 80GB HBM3", 81559, "h100-sxm5-80gb"),
    ("NVIDIA H100 PCIe", 81559, "h100-pcie-80gb"),
    ("NVIDIA H100 NVL", 95830, None),
    ("NVIDIA H100", 95830, None),              # an NVL that reports a plain name: told by its memory
    ("NVIDIA A100-SXM4-80GB", 81920, "a100-sxm4-80gb"),
    ("NVIDIA A100-SXM4-40GB", 40960, "a100-sxm4-40gb"),
    ("NVIDIA A100 80GB PCIe", 81920, "a100-pcie-80gb"),
    ("NVIDIA A100-PCIE-40GB", 40960, None),
    ("NVIDIA L4", 23034, "l4"),
    ("NVIDIA L40S", 46068, "l40s"),
    ("NVIDIA GeForce RTX 4090", 24564, "rtx-4090"),
    ("Tesla V100-SXM2-32GB", 32768, "v100-sxm2-32gb"),
    ("NVIDIA RTX A6000", 49140, None),
])
def test_the_sku_table(name, memory, profile):
    assert plan_mod.detect_profile(name, memory) == profile


def test_every_profile_the_table_names_for_h100_and_h200_is_shipped():
    from sparsim.hwprofiles import list_profiles

    for name in ("NVIDIA H200", "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"):
        assert plan_mod.detect_profile(name) in list_profiles()
    assert plan_mod.slug("NVIDIA H100 NVL") == "gpu-nvidia-h100-nvl"


def test_existing_data_is_found_per_sku(tmp_path):
    folder = tmp_path / "h100-2027-01-02"
    folder.mkdir()
    (folder / "results.jsonl").write_text(json.dumps({"type": "run", "backend": "cupy", "hw": "h100-sxm5-80gb"}) + "\n")
    (folder / "decoder.jsonl").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "atlas.json").write_text(json.dumps({"device": "NVIDIA H200", "points": []}))
    found = plan_mod.existing_data(tmp_path, "h100-sxm5-80gb")
    assert set(found) == {"measure-cupy", "decoder"}
    assert plan_mod.existing_data(tmp_path, "h200-sxm-141gb") == {"atlas": f"{tmp_path.name}/other"}
    plan = plan_mod.make_plan("cupy", existing=found)
    assert [s.name for s in plan if not s.run and s.default] == ["decoder", "measure-cupy"]


# -- records and resumption --------------------------------------------------------------------
def _step(batch=8, times=(0.010, 0.012, 0.011), flag_all=False, **kw):
    cfg = {"model": "llama2-7b", "layers": 32, "dtype": "fp16"}
    telemetry = [{"sm_clock_mhz": 1980, "power_w": 500.0, "throttled": flag_all}] * 2
    return records.step_record(config=cfg, batch=batch, context=512, mode="eager", linear="2:4", hw="h200-sxm-141gb",
                               device="NVIDIA H200", times_s=times, warmup_times_s=(0.5, 0.02, 0.011),
                               host_times_s=(0.004, 0.005, 0.006), telemetry=telemetry, **kw)


def test_a_step_record():
    record = _step()
    assert record["key"] == "decode|llama2-7b|L32|b8|c512|eager|2:4|fp16"
    assert record["status"] == "ok" and record["time_s"] == pytest.approx(0.011)
    assert record["tokens_per_s"] == pytest.approx(8 / 0.011)
    assert record["min_s"] == 0.010 and record["max_s"] == 0.012 and record["host_s"] == pytest.approx(0.005)
    assert record["warmup_reps"] == 3 and record["flag"] is None and record["n_throttled"] == 0
    failed = _step(times=(), error="does not fit: needs 70.0 GiB")
    assert failed["status"] == "error" and failed["time_s"] is None and failed["tokens_per_s"] is None
    assert _step(flag_all=True)["flag"] == "throttled"


def test_records_resume_after_a_kill(tmp_path):
    from sparsim.validate.results import ResultsWriter, read_results

    path = tmp_path / "decoder.jsonl"
    with ResultsWriter(path) as out:
        out.write({"type": "run", "hw": "h200-sxm-141gb"})
        out.write(_step(batch=1))
        out.write(_step(batch=8, flag_all=True))  # throttled: measured again
        out.write(_step(batch=64, times=(), error="does not fit"))  # failed: not measured again
    assert len(read_results(path).measurements) == 3
    with path.open("ab") as f:
        f.write(json.dumps(_step(batch=2)).encode()[:50])  # the kill hit a write
    assert records.done_keys(path) == {"decode|llama2-7b|L32|b1|c512|eager|2:4|fp16",
                                       "decode|llama2-7b|L32|b64|c512|eager|2:4|fp16"}
    assert records.done_keys(tmp_path / "absent.jsonl") == set()
    assert records.profiles_in(path) == {"h200-sxm-141gb"}  # a run on another SKU refuses to resume it


def test_a_quant_record_reads_as_a_torch_backend_record(tmp_path):
    from sparsim.validate.results import ResultsWriter, read_results
    from sparsim.validate.spec import impl_of

    record = records.quant_record(kernel="2:4", m=4096, k=11008, n=16, dtype="int8", impl="cusparselt-search",
                                  quant="w8a8", hw="h100-sxm5-80gb", kernel_times_s=[2e-5, 3e-5, 2.5e-5],
                                  call_times_s=[4e-4], warmup_reps=2, rel_error=1e-3, tolerance=0.04, plan_s=0.2,
                                  compress_s=0.01, extra={"n_padded": 32, "alg_id": 3})
    with ResultsWriter(tmp_path / "quant.jsonl") as out:
        out.write(record)
    (back,) = read_results(tmp_path / "quant.jsonl").measurements
    assert back["key"] == "2:4|4096x11008x16|int8|d=0.5|nm|s0|cusparselt-search|q=w8a8"
    assert impl_of(back) == "cusparselt-search" and back["quant"] == "w8a8"
    assert back["kernel_s"] == back["time_s"] == pytest.approx(2.5e-5) and back["call_s"] == pytest.approx(4e-4)
    assert (back["pattern"], back["density"], back["plan_s"], back["extra"]["n_padded"]) == ("nm", 0.5, 0.2, 32)
    torch_fields = {"kernel_s", "call_s", "times_s", "call_times_s", "reps", "warmup_reps", "library", "rel_error",
                    "tolerance", "throttled", "n_throttled", "telemetry", "timestamp", "min_s", "rel_iqr", "flag"}
    assert torch_fields <= set(back)


def test_the_stage_plans():
    cfg = CONFIGS["llama2-7b"]
    assert (cfg.hidden, cfg.heads, cfg.intermediate, cfg.layers, cfg.vocab) == (4096, 32, 11008, 32, 32000)
    assert cfg.weight_bytes() == pytest.approx(13.48e9, rel=0.01)  # 6.74 B parameters in fp16
    pts = points(cfg, (1, 8, 64), (512, 2048), ("eager", "cuda-graphs"), ("dense", "2:4"))
    assert pts[:4] == [(1, 512, "eager", "dense"), (1, 512, "eager", "2:4"), (1, 512, "cuda-graphs", "dense"),
                       (8, 512, "eager", "dense")]
    assert len(set(pts)) == 24 and all(p[2:] == ("cuda-graphs", "2:4") for p in pts[18:])  # the risky captures last
    qp = quant_points()
    assert len(qp) == 3 * 11 * len(PATHS) and len(set(qp)) == len(qp)
    assert {p.impl for p in PATHS} >= {"cublaslt-fp8", "cusparselt", "cusparselt-search", "torchao-int8-2:4", "marlin",
                                          "torchao-int4"}


# -- traces ----------------------------------------------------------------------------------
def _profiler_trace(ops: int) -> dict:
    """A trace in the layout torch.profiler's export_chrome_trace writes (CPU op, runtime
    launch, kernel tied by correlation id, flow events, metadata, python stack events)."""
    events = [{"ph": "M", "name": "process_name", "pid": 0, "args": {"name": "python"}}]
    for i in range(ops):
        t = 100 * i
        events += [
            {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": t, "dur": 20,
             "args": {"External id": i, "Input Dims": [[4096, 4096], [4096, 16]], "Input type": ["c10::Half"] * 2}},
            {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": t + 5,
             "dur": 4, "args": {"correlation": 1000 + i, "External id": i}},
            {"ph": "s", "cat": "ac2g", "name": "ac2g", "id": 1000 + i, "pid": 1, "tid": 1, "ts": t + 5},
            {"ph": "X", "cat": "kernel", "name": f"nvjet_sm90_{i}", "pid": 0, "tid": 7, "ts": t + 30, "dur": 15,
             "args": {"correlation": 1000 + i, "External id": i, "device": 0, "stream": 7}},
            {"ph": "f", "cat": "ac2g", "name": "ac2g", "id": 1000 + i, "pid": 0, "tid": 7, "ts": t + 30, "bp": "e"},
            {"ph": "X", "cat": "python_function", "name": "step", "pid": 1, "tid": 1, "ts": t, "dur": 50},
        ]
    return {"schemaVersion": 1, "deviceProperties": [{"name": "NVIDIA H200"}], "traceEvents": events}


@settings(max_examples=40, deadline=None)
@given(ops=st.integers(1, 40), limit=st.integers(1, 300))
def test_a_trimmed_trace_keeps_each_kernel_with_its_launch(ops, limit):
    trimmed = records.trim_trace(_profiler_trace(ops), limit)
    events = trimmed["traceEvents"]
    assert len(events) <= max(limit, 1) or len(events) == 1  # the metadata event always stays
    assert not [e for e in events if e.get("cat") == "python_function"]
    assert trimmed["deviceProperties"] == [{"name": "NVIDIA H200"}] and events[0]["ph"] == "M"
    launched = {e["args"]["correlation"] for e in events if e.get("cat") == "cuda_runtime"}
    kernels = {e["args"]["correlation"] for e in events if e.get("cat") == "kernel"}
    assert kernels <= launched
    if limit >= 5 * ops + 1:  # room for everything but the python events
        assert len(events) == 5 * ops + 1 and "trimmed" not in trimmed


def test_a_trace_is_gzipped_within_its_byte_limit_and_tarred_once(tmp_path):
    data, info = records.trace_gz(_profiler_trace(3000), 60_000)
    assert len(data) <= 60_000 and info["trimmed"] and 0 < info["events"] < 15_001
    trace = json.loads(gzip.decompress(data))
    assert trace["trimmed"]["events_before"] == 18_001 and trace["schemaVersion"] == 1
    tar = tmp_path / "traces.tar"
    assert records.add_to_tar(tar, "decoder-dense-eager-b1-c512.json.gz", data)
    assert not records.add_to_tar(tar, "decoder-dense-eager-b1-c512.json.gz", b"again")  # a resumed run
    assert records.add_to_tar(tar, "atlas-mm.json.gz", data[:100])
    assert records.tar_members(tar) == ["decoder-dense-eager-b1-c512.json.gz", "atlas-mm.json.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traces.tar"]  # written beside, renamed into place


def test_a_run_folder_is_packed_to_what_the_device_tool_brings_back(tmp_path):
    names = ["README.md", "collect.log", "decoder.jsonl", "quant.jsonl", "traces.tar", "results.jsonl",
             "calibration.toml", "probe.json", "atlas.jsonl", "fit/a/deep.txt"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    moved = records.pack_for_device(tmp_path)
    assert sorted(moved) == ["atlas.jsonl", "fit/a/deep.txt", "probe.json"]
    left = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert len(left) == 8 and "more.tar" in left and not (tmp_path / "fit").exists()
    with tarfile.open(tmp_path / "more.tar") as tar:
        assert tar.extractfile("fit/a/deep.txt").read() == b"fit/a/deep.txt"
    assert records.pack_for_device(tmp_path) == []


def test_packing_keeps_the_most_valuable_files_when_all_are_there(tmp_path):
    for name in records.KEEP_FIRST + ("probe.json",):
        (tmp_path / name).write_text(name)
    moved = records.pack_for_device(tmp_path)
    assert sorted(moved) == ["calibration.toml", "probe.json"]  # the last of KEEP_FIRST, then the rest
    assert (tmp_path / "traces.tar").exists() and (tmp_path / "attention.jsonl").exists()


# -- the CPU mode, for real ----------------------------------------------------------------------
def test_the_cpu_mode_runs_its_stages_and_writes_a_readme(tmp_path):
    out = tmp_path / "run"
    proc = _run("--backend", "numpy", "--out", str(out), "--stages", "decoder,fit", timeout=240)
    log = (out / "collect.log").read_text()
    stage_lines = [line.split("\t") for line in log.splitlines() if line.startswith("STAGE\t")]
    assert [row[1] for row in stage_lines] == ["env", "decoder", "probe", "measure-numpy", "fit", "readme"]
    status = {row[1]: row[4] for row in stage_lines}
    assert status["probe"] == status["measure-numpy"] == "not selected (--stages)"
    assert status["fit"].startswith("skipped") and "fit skipped: this run measured no results.jsonl" in log
    try:
        import torch  # noqa: F401
        assert status["decoder"] == "ok" and len(records.done_keys(out / "decoder.jsonl")) == 4
    except ImportError:
        assert status["decoder"].startswith("skipped") and "torch not importable" in log
    readme = (out / "README.md").read_text()
    assert "| decoder | 15 |" in readme and "| measure-numpy | 0 | 0 | not selected (--stages) |" in readme
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len([p for p in out.rglob("*") if p.is_file()]) <= 8


def _seed_host_profile(cache):
    """Measure this CPU's profile once and cache it for the stages' processes (on a busy
    machine sparsim measures it three times and caches nothing, in every process)."""
    from sparsim.hwprofiles import host
    from sparsim.validate import hostbench

    before = os.environ.get("SPARSIM_CACHE_DIR")
    os.environ["SPARSIM_CACHE_DIR"] = str(cache)
    try:
        path = host._cache_path(host.detect_host())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(host._toml(hostbench.measure_host(host.detect_host())), encoding="utf-8")
    finally:
        if before is None:
            del os.environ["SPARSIM_CACHE_DIR"]
        else:
            os.environ["SPARSIM_CACHE_DIR"] = before


@pytest.mark.slow
def test_the_cpu_mode_measures_and_resumes(tmp_path):
    """collect.sh --backend numpy with its measurement stage: points on disk for this CPU's
    profile; the stage run again measures only what is missing. (On a busy machine most of
    the time goes to measuring the host profile, which is then not cached.)"""
    out = tmp_path / "run"
    env = {"SPARSIM_CACHE_DIR": str(tmp_path / "cache")}
    _seed_host_profile(tmp_path / "cache")
    _run("--backend", "numpy", "--out", str(out), "--stages", "measure-numpy", "--budget", "measure-numpy=60",
         env=env, timeout=300)
    log = (out / "collect.log").read_text()
    assert "STAGE\tmeasure-numpy\t60\t" in log
    measured = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert measured[0]["type"] == "run" and measured[1]["hw"].startswith("host")
    # a point timed while this shared machine was busy is flagged and measured again on
    # resume; clear the flags so the test sees the resume rule, not the machine's load
    for record in measured:
        record.pop("flag", None)
    # keep the run record and two points, so the rerun has points left to measure however
    # fast this machine measured them all the first time
    measured = measured[:3]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in measured))
    before = len(records.done_keys(out / "results.jsonl"))
    assert before >= 1
    # the stage itself, run again: what is on disk (and unflagged) is not measured again
    proc = subprocess.run([sys.executable, str(GPU / "measure.py"), "--backend", "numpy", "--plan", "quick", "--out",
                           str(out / "results.jsonl"), "--deadline-s", "0"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert f", {before} already in " in proc.stdout and "partial (deadline)" in proc.stdout


class _Calls:
    """A stand-in for collect.Runner that records the commands a stage would run."""

    def __init__(self, out):
        self.out, self.commands, self.notes = out, [], []

    def call(self, cmd, timeout):
        self.commands.append([str(c) for c in cmd])
        return 0

    def note(self, text):
        self.notes.append(text)


@pytest.mark.parametrize("backend, profile, hw", [("numpy", "host", ["--hw", "host"]),
                                                  ("cupy", "h100-sxm5-80gb", ["--hw", "h100-sxm5-80gb"])])
def test_each_stage_names_the_profile(tmp_path, backend, profile, hw):
    import collect

    (tmp_path / "results.jsonl").write_text("")
    calls = _Calls(tmp_path)
    bodies = collect.stage_bodies(calls, "python3", backend, profile, None)
    bodies["fit"](20)
    (check, fit) = calls.commands
    assert check[-1] == "import simpy"  # the fit's simulator; the device image lacks it unless carried
    assert fit[1:5] == ["-m", "sparsim", "calibrate", "--from-results"] and fit[-2:] == hw
    if backend == "numpy":
        bodies["decoder"](15)
        assert calls.commands[-1][-3:] == ["cpu", "--deadline-s", "12"]  # torch's import fits in a short budget
    if backend == "cupy":
        for name in ("decoder", "quant", "measure-cupy", "probe"):
            bodies[name](100)
            assert hw[1] in calls.commands[-1]
        assert calls.commands[-2][-2:] == ["--deadline-s", "88"]  # measure-cupy stops 12 s inside its budget
        bodies["probe"](30)
        assert calls.commands[-1][-1] == "--quick"  # a short budget: the probe's small buffers


def test_the_decoder_step_on_the_cpu(tmp_path):
    """The tiny config through decoder_step.py for real (needs torch; skipped without it)."""
    pytest.importorskip("torch")
    import decoder_step

    assert decoder_step.main(["--out", str(tmp_path), "--device", "cpu"]) == 0
    recs = [json.loads(line) for line in (tmp_path / "decoder.jsonl").read_text().splitlines()]
    steps = [r for r in recs if r["type"] == "measurement"]
    assert len(steps) == 4 and all(r["status"] == "ok" for r in steps), steps
    assert all(r["tokens_per_s"] == pytest.approx(r["batch"] / r["time_s"]) for r in steps)
    trace = json.loads(gzip.decompress(tarfile.open(tmp_path / "traces.tar").extractfile(
        "decoder-dense-eager-b1-c16.json.gz").read()))
    assert any(e.get("name") in ("aten::linear", "aten::addmm", "aten::mm") for e in trace["traceEvents"])
    assert decoder_step.main(["--out", str(tmp_path), "--device", "cpu"]) == 0  # resumed: nothing left to do
    assert len((tmp_path / "decoder.jsonl").read_text().splitlines()) == len(recs)


@pytest.mark.parametrize("module", ["plan", "records", "decoder_step", "decoder_model", "quant_paths", "atlas_traces",
                                    "collect", "attention_ops"])
def test_the_docstring_examples_of_the_stage_modules(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


def test_the_readme_tabulates_steps_and_quantized_paths(tmp_path):
    from sparsim.validate.results import ResultsWriter

    import summarize

    cfg = {"model": "llama2-7b", "layers": 32, "dtype": "fp16"}
    with ResultsWriter(tmp_path / "decoder.jsonl") as out:
        for mode, ms in (("eager", 12.5), ("cuda-graphs", 7.25)):
            out.write(records.step_record(config=cfg, batch=8, context=2048, mode=mode, linear="dense",
                                          hw="h100-sxm5-80gb", device="NVIDIA H100 80GB HBM3", times_s=[ms / 1e3] * 5))
    with ResultsWriter(tmp_path / "quant.jsonl") as out:
        out.write(records.quant_record(kernel="dense", m=8192, k=8192, n=256, dtype="fp8", impl="cublaslt-fp8",
                                       quant="fp8", hw="h100-sxm5-80gb", kernel_times_s=[42e-6] * 5))
        out.write(records.quant_record(kernel="dense", m=4096, k=4096, n=1, dtype="int4", impl="marlin",
                                       quant="w4a16", hw="h100-sxm5-80gb", error="skipped: no marlin module"))
    records.add_to_tar(tmp_path / "traces.tar", "atlas-mm.json.gz", b"x" * 3000)
    import attention_ops

    with ResultsWriter(tmp_path / "attention.jsonl") as out:
        out.write(attention_ops.attention_record(cache=32768, path="math-repeat", hw="h100-sxm5-80gb", device="H100",
                                                 kernel_times_s=[2.5e-3] * 5, kernels=[["copy", 100.0]] * 20))
        out.write(attention_ops.attention_record(cache=32768, path="fused-gqa", hw="h100-sxm5-80gb", device="H100",
                                                 error="TypeError: unexpected keyword argument 'enable_gqa'"))
    text = summarize.readme(tmp_path, "cupy")
    assert "| cache | math-repeat |" in text and "| 32768 | 2500.0 (20) |" in text
    assert "fused-gqa 0 ok / 1 failed; math-repeat 1 ok / 0 failed" in text
    assert "| batch | context | cuda-graphs dense | eager dense |" in text and "| 8 | 2048 | 7.25 | 12.50 |" in text
    assert "| 8192 x 8192 | 256 | 42.0 |" in text and "marlin w4a16 0 ok / 1 failed" in text
    assert "`atlas-mm.json.gz` (2 KiB)" in text


# -- the attention stage -----------------------------------------------------------------------
def test_the_attention_stage_plan_and_records(tmp_path):
    import attention_ops

    pts = attention_ops.points()
    assert len(pts) == 12 and pts[0] == (8192, "math-repeat") and pts[-1] == (131072, "math-repeat-kvq")
    # bytes held: the cache (2 x 8 heads x 128 x 2 B per token), 4x that repeated, 3 more repeated-sizes (fp32)
    per_token = 2 * 8 * 128 * 2
    assert attention_ops.need_bytes(1000, "fused-gqa") == 1000 * per_token
    assert attention_ops.need_bytes(1000, "math-repeat") == 1000 * per_token * (1 + 4 + 12)
    # kvq: the int8 cache (half) and a bf16 scale per token and K/V head besides
    assert attention_ops.need_bytes(1000, "math-repeat-kvq") == 1000 * (per_token * (1 + 4 + 12 + 0.5) + 2 * 8 * 2)
    kernels = attention_ops.kernels_from_trace(_profiler_trace(3))
    assert kernels == [["nvjet_sm90_0", 15.0], ["nvjet_sm90_1", 15.0], ["nvjet_sm90_2", 15.0]]
    record = attention_ops.attention_record(cache=8192, path="math-repeat", hw="h200-sxm-141gb", device="NVIDIA H200",
                                            kernel_times_s=[1e-3, 1.2e-3, 1.1e-3], call_times_s=[2e-3] * 3,
                                            kernels=kernels)
    assert record["key"] == "attention|llama3.1-8b|b1|c8192|math-repeat|bf16"
    assert record["status"] == "ok" and record["kernel_s"] == pytest.approx(1.1e-3) and record["n_kernels"] == 3
    failed = attention_ops.attention_record(cache=8192, path="fused-gqa", hw="h200-sxm-141gb", device="H200",
                                            error="does not fit: needs 1.0 GiB")
    assert failed["status"] == "error" and failed["kernel_s"] is None
    from sparsim.validate.results import ResultsWriter

    with ResultsWriter(tmp_path / "attention.jsonl") as out:
        out.write(record)
    assert records.done_keys(tmp_path / "attention.jsonl") == {record["key"]}
    assert attention_ops.main(["--out", str(tmp_path / "attention.jsonl"), "--deadline-s", "1"]) in (0, 3)


def test_a_gpu_stage_without_a_gpu_is_skipped_with_one_line(tmp_path, capsys):
    try:
        import torch
        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    opened = records.open_gpu_stage("demo", tmp_path / "x.jsonl", why="its kernels run on a GPU")
    out = capsys.readouterr().out
    if has_gpu:
        torch_module, name, hw = opened
        assert name and hw
    else:
        # the reasons sparsim.validate.backends.torch_backend.torch_available gives
        assert opened == 3 and out.count("\n") == 1
        assert re.match(r"demo: skipped: (torch not importable|no CUDA GPU visible to torch) .*"
                        r"\(its kernels run on a GPU\)$", out.strip())
