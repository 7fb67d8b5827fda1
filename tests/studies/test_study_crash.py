"""A study killed at any moment (SIGKILL: no cleanup runs) loses nothing it had saved.

The rules (issue 11): the previous run's files stay byte for byte as they were; finished
tasks are kept under ``OUT/.partial`` and a rerun with the same study and ``--out``
resumes from them, giving the table an uninterrupted run gives; no worker process of the
killed study outlives it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sparsim.studies.checkpoint import PARTIAL_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker processes"),
]

# 160 tasks (32 shapes x 5 densities) of a few ms each: a few seconds on 2 processes
SHAPES = ", ".join(f'{{name = "s{i}", m = {512 + 64 * i}, k = {768 + 32 * i}}}' for i in range(32))
STUDY = f"""
version = 1
name = "crash test"
model = "analytic"
[sweep]
hardware = ["a100-sxm4-80gb", "l4"]
formats = ["dense", "csr", "coo", "2:4"]
densities = DENSITIES
batch_sizes = [1, 16]
[[workloads]]
name = "many"
shapes = [{SHAPES}]
"""
OLD = STUDY.replace("DENSITIES", "[0.5]")  # the previous run, whose files must survive
NEW = STUDY.replace("DENSITIES", "[0.02, 0.05, 0.1, 0.3, 0.5]")
TASKS = 32 * 5
OUTPUTS = ("results.parquet", "results.csv", "provenance.json", "report.html")


def _study(tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _command(study, out, *extra):
    return [sys.executable, "-m", "sparsim", "study", str(study), "--out", str(out), "--jobs", "2", *extra]


def _env():
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _run(study, out, *extra):
    done = subprocess.run(_command(study, out, *extra), capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def _children(pid: int) -> set[int]:
    """Pids of the processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing


def _chunks(out: Path) -> int:
    return sum(1 for _ in (out / PARTIAL_DIR).glob("*/*.json"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The table of an uninterrupted run of the new study."""
    tmp = tmp_path_factory.mktemp("reference")
    out = tmp / "out"
    _run(_study(tmp, NEW, "new.toml"), out, "--no-report")
    assert not (out / PARTIAL_DIR).exists()  # checkpoints are removed once the results are saved
    return pd.read_parquet(out / "results.parquet"), (out / "results.csv").read_bytes()


@pytest.fixture(scope="module")
def old_outputs(tmp_path_factory):
    """The --out folder of a finished earlier run (with its report)."""
    tmp = tmp_path_factory.mktemp("old")
    _run(_study(tmp, OLD, "old.toml"), tmp / "out")
    return tmp / "out"


@pytest.mark.parametrize("kill_after_chunks", [1, 40])
def test_sigkill_keeps_old_outputs_resumes_and_leaves_no_workers(tmp_path, reference, old_outputs, kill_after_chunks):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(old_outputs, out)
    before = {name: (out / name).read_bytes() for name in OUTPUTS}

    new = _study(tmp_path, NEW, "new.toml")
    proc = subprocess.Popen(_command(new, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    deadline = time.monotonic() + 120
    while _chunks(out) < kill_after_chunks:
        assert proc.poll() is None, "the study finished before it could be killed: make it bigger"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    saved = _chunks(out)
    assert saved >= kill_after_chunks and workers, "the study ran on worker processes"

    # no worker outlives its parent (PR_SET_PDEATHSIG, or the pid watch within a second)
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]

    # the previous run's files, byte for byte; no temporary file left beside them
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before
    assert not [p.name for p in out.iterdir() if p.name.startswith(".sparsim-tmp-")]

    # the rerun resumes from the saved tasks and gives the uninterrupted run's table
    done = _run(new, out)
    assert f"resuming: {saved} finished tasks" in done.stderr and saved < TASKS
    table, csv = reference
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), table)
    assert (out / "results.csv").read_bytes() == csv
    assert not (out / PARTIAL_DIR).exists()
