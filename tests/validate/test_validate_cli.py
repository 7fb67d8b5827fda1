"""``sparsim calibrate`` and ``sparsim validate`` in process and as a subprocess: outputs,
files, exit codes, and one-line refusals (truncated or foreign results, a calibration for
another device, an interrupt)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparsim.calibration import load_calibration
from sparsim.cli import main
from sparsim.validate import read_results
from sparsim.validate.runner import pending
from sparsim.validate.spec import plan

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, host_cache, model):
    """One real `sparsim calibrate --quick` over dense and CSR (about 10 s on 2 idle cores)."""
    out = tmp_path_factory.mktemp("calib")
    code = main(["calibrate", "--backend", "numpy", "--quick", "--kernels", "dense,csr", "--out", str(out),
                 "--model", model])
    if code == 2 and (out / "calibration.rejected.toml").exists():
        # a machine busy enough to make the fit lose to the datasheet: the command said so
        # and exited 2 (tested in test_validate_workflow); the plumbing below still applies
        (out / "calibration.toml").write_bytes((out / "calibration.rejected.toml").read_bytes())
        code = 0
    assert code == 0
    return out


def test_calibrate_writes_results_and_a_calibration_with_provenance(calibrated, host):
    results = read_results(calibrated / "results.jsonl")
    expected = plan("numpy", quick=True, kernels=["dense", "csr"])
    assert {m["key"] for m in results.measurements} == {s.key for s in expected}
    cal = load_calibration(calibrated / "calibration.toml")
    assert cal.hw == host.name
    prov = cal.provenance
    for key in ("date", "device", "versions", "clocks_seen", "samples", "fit_mape", "held_out_mape", "model"):
        assert key in prov, key
    assert prov["samples"] == sum(1 for s in expected if s.split == "train") - prov["excluded_points"] \
        or prov["samples"] <= sum(1 for s in expected if s.split == "train")
    assert set(prov["held_out_mape"]) == {"dense", "csr"}
    assert prov["versions"]["numpy"] and prov["versions"]["scipy"]
    assert set(cal.impl_params) <= {"numpy", "scipy"} and dict(cal.params) == {}
    assert all(0 < v for table in cal.impl_params.values() for v in table.values())
    # every candidate parameter is reported with its status; only "fitted" ones are written
    fitted = {f"{row['impl']}.{row['param']}" for row in prov["parameters"] if row["status"] == "fitted"}
    assert fitted == set(prov["fitted"])
    # the host profile it was fitted on is stored, so validate never re-measures this machine
    assert prov["profile"]["name"] == host.name and prov["profile"]["kind"] == "cpu"
    assert set(prov["datasheet_held_out_mape"]) == {"dense", "csr"}


def test_calibrate_again_resumes_and_prints_the_table(calibrated, capsys):
    before = (calibrated / "results.jsonl").read_bytes()
    code, out, err = run(capsys, "calibrate", "--backend", "numpy", "--quick", "--kernels", "dense,csr",
                         "--out", calibrated, "--model", load_calibration(calibrated / "calibration.toml").provenance["model"])
    assert code in (0, 2), err  # 2: the fit lost to the datasheet on a busy machine (said in one line)
    assert code == 0 or "worse than the datasheet-only" in err
    assert any("already in" in line for line in out.splitlines()[:3])  # after the probe line
    assert "held-out error on host-" in out and "MAPE" in out
    after = (calibrated / "results.jsonl").read_bytes()
    assert after.startswith(before)  # appends only: flagged points re-measured, nothing rewritten


def test_validate_prints_per_kernel_error(calibrated, capsys):
    code, out, err = run(capsys, "validate", "--results", calibrated / "results.jsonl",
                         "--calibration", calibrated / "calibration.toml")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("held-out error on host-") and "test split" in lines[0]
    kernels = {line.split()[0] for line in lines[3:] if line and line.split()[1:2] == ["all"]}
    assert kernels == {"dense", "csr"}
    assert "predicted vs measured" in out


def test_validate_json_matches_the_calibration_provenance(calibrated, capsys):
    code, out, err = run(capsys, "validate", "--results", calibrated / "results.jsonl",
                         "--calibration", calibrated / "calibration.toml", "--json")
    assert code == 0, err
    data = json.loads(out)
    summary = {row["kernel"]: row["mape"] for row in data["summary"] if row["dtype"] == "all"}
    prov = load_calibration(calibrated / "calibration.toml").provenance["held_out_mape"]
    for kernel, mape in prov.items():
        assert summary[kernel] == pytest.approx(mape, abs=1e-3)
    assert all(p["split"] == "test" for p in data["points"])


def test_predict_on_the_host_with_the_calibration(calibrated, capsys):
    cal = load_calibration(calibrated / "calibration.toml")
    code, out, err = run(capsys, "predict", "--hw", "host", "--calibration", calibrated / "calibration.toml",
                         "--kernel", "csr", "--m", 2048, "--k", 2048, "--n", 64, "--density", 0.01,
                         "--dtype", "fp32", "--json", "--model", cal.provenance["model"])
    assert code == 0, err
    data = json.loads(out)
    assert data["hw"] == cal.hw and data["calibration"] and data["time_s"] > 0


def test_a_calibration_for_another_device_is_refused(calibrated, tmp_path, capsys):
    text = (calibrated / "calibration.toml").read_text()
    host_name = load_calibration(calibrated / "calibration.toml").hw
    other_cpu = tmp_path / "other-cpu.toml"
    other_cpu.write_text(text.replace(f'hw = "{host_name}"', 'hw = "host-some-other-cpu-64c"'))
    code, out, err = run(capsys, "validate", "--results", calibrated / "results.jsonl", "--calibration", other_cpu)
    assert code == 2 and err.count("\n") == 1
    assert "fitted for profile 'host-some-other-cpu-64c'" in err and host_name in err
    gpu = tmp_path / "gpu.toml"
    gpu.write_text(text.replace(f'hw = "{host_name}"', 'hw = "h100-sxm5-80gb"'))
    code, out, err = run(capsys, "validate", "--results", calibrated / "results.jsonl", "--calibration", gpu)
    assert code == 2 and err.count("\n") == 1
    assert f"measured on profile '{host_name}', not 'h100-sxm5-80gb'" in err
    code, out, err = run(capsys, "predict", "--hw", "host", "--calibration", other_cpu, "--kernel", "dense",
                         "--m", 64, "--k", 64, "--n", 64, "--dtype", "fp32", "--model", "analytic")
    assert code == 2 and "fitted for profile 'host-some-other-cpu-64c'" in err


def test_truncated_results_exit_2_and_keep_every_measurement(calibrated, tmp_path, capsys):
    out_dir = tmp_path / "cut"
    out_dir.mkdir()
    whole = (calibrated / "results.jsonl").read_bytes()
    damaged = whole + b'{"schema":"sparsim-results/1","type":"measurement","key":"dense|9'
    (out_dir / "results.jsonl").write_bytes(damaged)
    for argv in (["validate", "--results", out_dir / "results.jsonl", "--calibration", calibrated / "calibration.toml"],
                 ["calibrate", "--backend", "numpy", "--quick", "--out", out_dir, "--model", "analytic"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1
        assert "is cut off mid-line" in err
        assert (out_dir / "results.jsonl").read_bytes() == damaged  # nothing measured, nothing lost


def test_foreign_schema_exits_2(tmp_path, capsys, calibrated):
    path = tmp_path / "foreign.jsonl"
    path.write_text(json.dumps({"schema": "mlperf-log/3", "type": "measurement", "key": "x"}) + "\n")
    code, out, err = run(capsys, "validate", "--results", path, "--calibration", calibrated / "calibration.toml")
    assert code == 2 and err.count("\n") == 1
    assert "schema 'mlperf-log/3'; allowed: 'sparsim-results/1'" in err


def test_help_has_an_example(capsys):
    for command in ("calibrate", "validate"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and "Example" in out and f"sparsim {command}" in out


def test_sigint_stops_cleanly_with_everything_on_disk(tmp_path, host_cache):
    out = tmp_path / "interrupted"
    env = {**os.environ, "SPARSIM_CACHE_DIR": str(host_cache), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "sparsim", "calibrate", "--backend", "numpy", "--quick",
                             "--out", str(out), "--model", "analytic"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.read_text().count("\n") >= 4:  # run header + 3 points
            break
        if proc.poll() is not None:
            pytest.fail(f"calibrate ended before it could be interrupted: {proc.communicate()}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, (stdout, stderr)
    assert stderr.strip().splitlines()[-1] == "sparsim: error: interrupted; everything measured so far is saved"
    assert "Traceback" not in stderr
    saved = read_results(results)  # every line complete and of our schema
    assert len(saved.measurements) >= 3
    assert not (out / "calibration.toml").exists()
    specs = plan("numpy", quick=True)
    todo, done = pending(specs, results, saved.measurements[0]["hw"])
    assert done == sum(1 for m in saved.measurements if not m.get("flag"))
    assert len(todo) == len(specs) - done
