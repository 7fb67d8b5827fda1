"""benchmarks/gpu/collect.sh: the plan, the budgets, bad usage; a tiny CPU stage for real."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu" / "collect.sh"


def _run(*args, env=None, timeout=60):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHON": sys.executable, **(env or {})})


def _stages(out):
    return [(m.group(1), int(m.group(2))) for m in re.finditer(r"^  (\S+)\s+(\d+)s  ", out, re.M)]


def test_the_gpu_plan_covers_every_implementation_within_8_minutes():
    proc = _run("--dry-run")
    assert proc.returncode == 0, proc.stderr
    stages = _stages(proc.stdout)
    assert [name for name, _ in stages] == ["env", "probe", "measure-cupy", "measure-torch", "atlas-cupy",
                                            "atlas-torch", "fit", "readme"]
    total = sum(b for _, b in stages)
    assert total <= 480 and f"total          {total}s of 480s allowed" in proc.stdout
    assert all(b > 0 for _, b in stages)
    for impl in ("cublas fp16/bf16/fp32", "cusparse row/col x int32/int64", "cusparselt, cusparselt-search",
                 "torch.mm", "--from-results"):
        assert impl in proc.stdout


def test_the_cpu_plan_runs_in_a_couple_of_minutes():
    proc = _run("--dry-run", "--backend", "numpy")
    assert proc.returncode == 0
    stages = dict(_stages(proc.stdout))
    assert sum(stages.values()) <= 150 and stages["atlas"] == 0 and stages["measure-numpy"] > 0


def test_bad_usage_is_one_line_and_exit_2():
    proc = _run("--backend", "tpu")
    assert proc.returncode == 2 and proc.stderr == "collect.sh: error: --backend: got 'tpu'; allowed: cupy, numpy\n"
    proc = _run("--frobnicate")
    assert proc.returncode == 2 and proc.stderr.startswith("collect.sh: error: argument --frobnicate: unknown")


@pytest.mark.slow
def test_a_stage_stops_at_its_deadline_and_resumes(tmp_path, host):
    """measure.py, the stage runner collect.sh uses: a deadline stops it between points;
    running it again measures only what is missing."""
    measure = ROOT / "benchmarks" / "gpu" / "measure.py"
    out = tmp_path / "results.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(measure), "--backend", "numpy", "--plan", "quick", "--out", str(out), "--deadline-s", "0"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    assert "partial (deadline)" in first.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["type"] for r in lines] == ["run", "measurement"]
    # a point timed while this shared machine was busy is flagged and measured again on
    # resume; clear the flag so the test sees the resume rule, not the machine's load
    lines[1]["flag"] = None
    out.write_text("".join(json.dumps(r) + "\n" for r in lines))
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert ", 1 already in " in second.stdout
    keys = [json.loads(line)["key"] for line in out.read_text().splitlines() if '"measurement"' in line]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert json.loads(out.read_text().splitlines()[1])["impl"] == "numpy"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    os.environ.setdefault("SPARSIM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
