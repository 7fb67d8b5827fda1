"""The calibration workflow: measurements from elsewhere, the datasheet baseline a fit must
beat, the profile a calibration stores, and a calibration killed at any moment.

No real timing here: a deterministic fake backend and synthetic results files, so that
"the resumed run equals an uninterrupted one" can be asserted exactly.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sparsim.calibration import Calibration, load_calibration
from sparsim.cli import main
from sparsim.hwprofiles import load_profile
from sparsim.validate import read_results
from sparsim.validate.calibrator import predict_records
from sparsim.validate.spec import MeasureSpec
from sparsim.validate.workflow import profile_data, resolve_profile, stored_profile, write_atomically

ROOT = Path(__file__).resolve().parents[2]
GPU = "a100-sxm4-80gb"
TRAIN = [(512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (4096, 1024, 256), (1024, 4096, 2048),
         (8192, 8192, 1024)]
TEST = [(3072, 3072, 3072), (6144, 2048, 512)]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _specs():
    return [MeasureSpec("dense", m, k, n, dt, split=split) for split, shapes in (("train", TRAIN), ("test", TEST))
            for (m, k, n) in shapes for dt in ("fp16", "fp32")]


def _write_results(path: Path, hw_name: str, times_for, backend="cupy", profile=None):
    """A results file of our schema whose times come from ``times_for(records)``."""
    records = [{"schema": "sparsim-results/1", "type": "measurement", "key": s.key, **s.to_dict(),
                "backend": backend, "hw": hw_name, "status": "ok", "error": None, "flag": None,
                "library": "cupy.matmul (cuBLAS)"} for s in _specs()]
    for r, t in zip(records, times_for(records)):
        r["time_s"] = float(t)
    header = {"schema": "sparsim-results/1", "type": "run", "started": "2026-11-29T00:00:00+00:00",
              "backend": backend, "hw": hw_name, "device": "synthetic"}
    path.write_text("\n".join(json.dumps(x) for x in [header] + records) + "\n")
    return path


def _truth_times(hw, model="des"):
    truth = Calibration(hw=hw.name, impl_params={"cublas": {"tensor_efficiency": 0.6, "vector_efficiency": 0.5}})
    return lambda records: predict_records(records, hw, truth, model)


def test_write_atomically_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "calibration.toml"
    target.write_text("old\n")
    write_atomically(target, "new\n")
    assert target.read_text() == "new\n" and os.listdir(tmp_path) == ["calibration.toml"]


def test_from_results_fits_a_gpu_run_here_without_a_backend(tmp_path, capsys):
    hw = load_profile(GPU)
    results = _write_results(tmp_path / "gpu.jsonl", GPU, _truth_times(hw))
    code, out, err = run(capsys, "calibrate", "--from-results", results, "--out", tmp_path / "fit")
    assert code == 0, err
    assert "probe: skipped (--from-results" in out
    cal = load_calibration(tmp_path / "fit" / "calibration.toml")
    assert cal.hw == GPU and set(cal.impl_params) == {"cublas"}
    # fp32 runs on the CUDA cores (no TF32 in cupy.matmul): its efficiency is well identified
    assert cal.impl_params["cublas"]["vector_efficiency"] == pytest.approx(0.5, rel=0.03)
    prov = cal.provenance
    assert prov["held_out_mape"]["dense"] < 0.05 < 0.2 < prov["datasheet_held_out_mape"]["dense"]
    assert "profile" not in prov  # a built-in profile is named, not stored
    assert "held-out MAPE" in out and "datasheet-only" in out


def test_a_fit_worse_than_the_datasheet_exits_2_and_keeps_the_previous_calibration(tmp_path, capsys):
    hw = load_profile(GPU)
    slow = _truth_times(hw)
    datasheet = lambda records: predict_records(records, hw, None, "des")  # noqa: E731
    # training shapes say "slow", held-out shapes run at the datasheet: the fit cannot generalize
    results = _write_results(tmp_path / "gpu.jsonl", GPU,
                             lambda rs: [s if r["split"] == "train" else d
                                         for r, s, d in zip(rs, slow(rs), datasheet(rs))])
    out_dir = tmp_path / "fit"
    out_dir.mkdir()
    (out_dir / "calibration.toml").write_text("previous calibration\n")
    code, out, err = run(capsys, "calibrate", "--from-results", results, "--out", out_dir)
    assert code == 2 and err.count("\n") == 1
    assert "is worse than the datasheet-only 0.0%" in err and "calibration.rejected.toml" in err
    assert (out_dir / "calibration.toml").read_text() == "previous calibration\n"
    assert load_calibration(out_dir / "calibration.rejected.toml").hw == GPU


def test_validate_uses_the_profile_stored_in_the_calibration(tmp_path, capsys):
    data = profile_data(load_profile(GPU))
    data.update(name="host-test-cpu-2c", display_name="a profile no machine here has")
    cal = Calibration(hw="host-test-cpu-2c", provenance={"model": "des", "profile": data})
    cal_path = write_atomically(tmp_path / "calibration.toml", cal.to_toml())
    assert stored_profile(load_calibration(cal_path)).hbm_bytes_per_s == load_profile(GPU).hbm_bytes_per_s
    results = _write_results(tmp_path / "r.jsonl", "host-test-cpu-2c", lambda rs: [1e-3] * len(rs))
    code, out, err = run(capsys, "validate", "--results", results, "--calibration", cal_path)
    assert code == 0, err
    assert out.splitlines()[0].startswith("held-out error on host-test-cpu-2c")
    # not stored and not built in: one line, never this machine's host profile in its place
    bare = write_atomically(tmp_path / "bare.toml", Calibration(hw="host-test-cpu-2c").to_toml())
    code, out, err = run(capsys, "validate", "--results", results, "--calibration", bare)
    assert code == 2 and err.count("\n") == 1
    assert "neither built in nor stored in the calibration; allowed: --hw host" in err


def test_results_of_another_profile_are_one_line_exit_2(tmp_path, capsys):
    cal_path = write_atomically(tmp_path / "c.toml", Calibration(hw=GPU).to_toml())
    results = _write_results(tmp_path / "r.jsonl", "h100-sxm5-80gb", lambda rs: [1e-3] * len(rs))
    code, out, err = run(capsys, "validate", "--results", results, "--calibration", cal_path)
    assert code == 2 and err.count("\n") == 1
    assert "measured on profile 'h100-sxm5-80gb', not 'a100-sxm4-80gb'" in err
    with pytest.raises(Exception, match="not 'a100-sxm4-80gb'"):
        resolve_profile(Calibration(hw=GPU), read_results(results))


# -- killed at any moment ---------------------------------------------------------------

DRIVER = textwrap.dedent('''
    """Calibrate with a deterministic fake backend; SIGKILL ourselves at the point named by argv[2]."""
    import os, signal, sys
    from sparsim.calibration import Calibration
    from sparsim.hwprofiles import load_profile
    from sparsim.simulator import predict_work
    from sparsim.validate import points as calibrator, workflow  # points.py runs every prediction of a fit
    from sparsim.validate.backends.base import Backend
    from sparsim.validate.spec import MeasureSpec

    out, kill_at = sys.argv[1], sys.argv[2]
    HW = load_profile("a100-sxm4-80gb")
    TRUTH = Calibration(hw=HW.name, impl_params={"cublas": {"tensor_efficiency": 0.6, "vector_efficiency": 0.5}})
    SPECS = [MeasureSpec("dense", m, k, n, dt, split=split) for split, shapes in (("train", %(train)r), ("test", %(test)r))
             for (m, k, n) in shapes for dt in ("fp16", "fp32")]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class Fake(Backend):
        name = "fake"
        measured = 0

        def profile(self):
            return HW

        def describe(self):
            return {"backend": "fake", "hw": HW.name, "device": "deterministic fake"}

        def _measure(self, spec):
            if kill_at == "measure" and Fake.measured == 3:
                die()
            Fake.measured += 1
            t = predict_work(spec.work(), HW, TRUTH, impl="cublas").time_s
            return {"times_s": [t, t, t], "library": "fake cuBLAS"}

    if kill_at == "fit":
        real, calls = calibrator.predict_work, [0]
        def counting(*args, **kwargs):
            calls[0] += 1
            if calls[0] == 40:
                die()
            return real(*args, **kwargs)
        calibrator.predict_work = counting
    if kill_at == "write":
        real_replace = os.replace
        def replace(src, dst):
            if str(dst).endswith("calibration.toml"):
                die()
            real_replace(src, dst)
        os.replace = replace
    outcome = workflow.calibrate(out_dir=out, backend=Fake(), specs=SPECS, probe=False)
    print("accepted" if outcome.accepted else "rejected")
''')


def _drive(tmp_path, out_dir, kill_at):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER % {"train": TRAIN, "test": TEST})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(script), str(out_dir), kill_at], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _measurements(path):
    return [{k: v for k, v in m.items() if k != "timestamp"} for m in read_results(path).measurements]


def _fit(path):
    cal = load_calibration(path)
    prov = {k: v for k, v in cal.provenance.items() if k not in ("date", "results", "measured_from")}
    return cal.hw, dict(cal.params), {k: dict(v) for k, v in cal.impl_params.items()}, json.dumps(prov, default=list)


def test_a_calibration_killed_anywhere_keeps_the_previous_outputs_and_resumes_to_the_same_answer(tmp_path):
    reference = tmp_path / "reference"
    done = _drive(tmp_path, reference, "none")
    assert done.returncode == 0 and done.stdout.strip() == "accepted", done.stderr
    want_measurements = _measurements(reference / "results.jsonl")
    want_fit = _fit(reference / "calibration.toml")
    assert want_fit[2]["cublas"]["vector_efficiency"] == pytest.approx(0.5, rel=0.03)

    for kill_at, measured_before in (("measure", 3), ("fit", len(want_measurements)),
                                     ("write", len(want_measurements))):
        out = tmp_path / kill_at
        out.mkdir()
        previous = "# the previous calibration, which a killed run must leave whole\nversion = 2\n"
        (out / "calibration.toml").write_text(previous)
        killed = _drive(tmp_path, out, kill_at)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stdout, killed.stderr)
        assert (out / "calibration.toml").read_text() == previous, kill_at
        assert len(_measurements(out / "results.jsonl")) == measured_before, kill_at
        resumed = _drive(tmp_path, out, "none")
        assert resumed.returncode == 0, (kill_at, resumed.stderr)
        assert not [p.name for p in out.iterdir() if p.name.startswith(".calibration")], kill_at  # stale temp removed
        assert _measurements(out / "results.jsonl") == want_measurements, kill_at
        assert _fit(out / "calibration.toml") == want_fit, kill_at


def test_the_shipped_host_example_reproduces_its_recorded_error(capsys):
    example = ROOT / "sparsim" / "validate" / "data" / "host-example"
    code, out, err = run(capsys, "validate", "--results", example / "results.jsonl",
                         "--calibration", example / "calibration.toml", "--json")
    assert code == 0, err
    got = {row["kernel"]: row["mape"] for row in json.loads(out)["summary"] if row["dtype"] == "all"}
    cal = load_calibration(example / "calibration.toml")
    assert got == pytest.approx(dict(cal.provenance["held_out_mape"]), abs=1e-4)
    assert max(got.values()) < 0.2
    text = (example / "calibration.toml").read_text()
    assert "/work/" not in text and "/tmp/" not in text and "/home/" not in text


def test_accept_contended_counts_contended_points_as_measured(tmp_path):
    from sparsim.validate.runner import pending

    specs = _specs()
    path = _write_results(tmp_path / "r.jsonl", GPU, lambda rs: [1e-3] * len(rs))
    lines = path.read_text().splitlines()
    first = json.loads(lines[1])
    first["flag"] = "contended"
    path.write_text("\n".join([lines[0], json.dumps(first)] + lines[2:]) + "\n")
    todo, done = pending(specs, path, GPU)
    assert [s.key for s in todo] == [first["key"]] and done == len(specs) - 1
    todo, done = pending(specs, path, GPU, accept_flags=("contended",))
    assert todo == [] and done == len(specs)


def test_accept_contended_warns_on_stderr(tmp_path, capsys):
    hw = load_profile(GPU)
    results = _write_results(tmp_path / "gpu.jsonl", GPU, _truth_times(hw))
    code, out, err = run(capsys, "calibrate", "--from-results", results, "--out", tmp_path / "fit",
                         "--accept-contended")
    assert code == 0
    assert err.startswith("warning: --accept-contended: points timed while other processes kept the CPUs busy")
    assert load_calibration(tmp_path / "fit" / "calibration.toml").provenance["accepted_flags"] == ["contended"]


def _fake_backend():
    """An in-process backend whose times are the model's own under a known truth."""
    from sparsim.simulator import predict_work
    from sparsim.validate.backends.base import Backend

    hw = load_profile(GPU)
    truth = Calibration(hw=hw.name, impl_params={"cublas": {"tensor_efficiency": 0.6}})

    class Fake(Backend):
        name = "fake"

        def profile(self):
            return hw

        def describe(self):
            return {"backend": "fake", "hw": hw.name, "device": "deterministic fake"}

        def _measure(self, spec):
            t = predict_work(spec.work(), hw, truth, impl="cublas").time_s
            return {"times_s": [t, t, t], "library": "fake cuBLAS"}

    return Fake()


def test_calibrate_runs_the_probe_first_and_stores_its_ceilings(tmp_path, monkeypatch):
    import types

    from sparsim.validate.workflow import calibrate

    lines = []
    probe = types.ModuleType("sparsim.validate.probe")
    probe.run_probe = lambda backend, quick=False: {"hbm_bytes_per_s": 1.8e12, "l2_latency_ns": 200.0,
                                                    "not_a_ceiling": 3.0}
    monkeypatch.setitem(sys.modules, "sparsim.validate.probe", probe)
    outcome = calibrate(out_dir=tmp_path / "a", backend=_fake_backend(), specs=_specs(), echo=lines.append)
    assert dict(load_calibration(outcome.path).measured) == {"hbm_bytes_per_s": 1.8e12, "l2_latency_ns": 200.0}
    assert "probe: not used here: not_a_ceiling" in lines
    lines.clear()
    outcome = calibrate(out_dir=tmp_path / "b", backend=_fake_backend(), specs=_specs(), probe=False,
                        echo=lines.append)
    assert dict(load_calibration(outcome.path).measured) == {} and not any("probe" in line for line in lines)
    monkeypatch.setitem(sys.modules, "sparsim.validate.probe", None)  # the module is absent: a note
    calibrate(out_dir=tmp_path / "c", backend=_fake_backend(), specs=_specs(), echo=lines.append)
    assert "probe: sparsim.validate.probe is not available here; using the profile's values" in lines
