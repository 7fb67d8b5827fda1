"""Hardware ceilings by microbenchmark: the CPU probe for real, the GPU probe on a GPU only."""

import json

import pytest

from sparsim.calibration import MEASURED_KEYS, Calibration, load_calibration
from sparsim.cli import main
from sparsim.validate.probe import PROBE_SCHEMA, plateau, probe, run_probe


@pytest.fixture(scope="module")
def cpu_probe():
    return probe("numpy", quick=True)


def test_the_cpu_probe_measures_every_calibration_key(cpu_probe):
    measured = cpu_probe["measured"]
    assert set(MEASURED_KEYS) <= set(measured)
    assert {"tensor_flops_per_s.fp32", "tensor_flops_per_s.fp64"} <= set(measured)
    assert cpu_probe["schema"] == PROBE_SCHEMA and cpu_probe["backend"] == "numpy"
    # every value is one a calibration accepts
    Calibration(hw="host-x", measured=measured)


def test_cpu_ceilings_are_physically_plausible(cpu_probe):
    m = cpu_probe["measured"]
    assert 1e8 < m["hbm_bytes_per_s"] < 2e12
    # a working set inside the last-level cache streams no slower than DRAM; on a shared
    # 2-core VM one thread's two figures can come within a few percent of each other
    # (CI, 2026-12-03: 41.4 vs 42.8 GB/s), so the check allows 10% of timing noise: a
    # mis-keyed or swapped measurement is off by far more
    assert m["l2_bytes_per_s"] > 0.9 * m["hbm_bytes_per_s"]
    assert 0.2 < m["l1_latency_ns"] < 50 and 20 < m["hbm_latency_ns"] < 5000
    assert 1e-8 < m["launch_overhead_s"] < 1e-3
    assert m["tensor_flops_per_s.fp32"] > 1e8 and m["l2_bytes"] >= 1 << 20 and m["clock_mhz"] > 100


def test_the_llc_sweep_spans_inside_and_beyond_the_cache(cpu_probe):
    sweep = cpu_probe["details"]["l2_sweep"]
    sizes = [p["working_set_bytes"] for p in sweep]
    assert sizes == sorted(sizes) and sizes[0] == 64 << 10
    assert sizes[-1] >= 2 * cpu_probe["measured"]["l2_bytes"]


def test_plateau_takes_the_best_point_inside_the_window():
    sweep = [(1, 5.0), (4, 9.0), (8, 10.0), (64, 3.0)]
    assert plateau(sweep, lo=2, hi=16) == 10.0
    assert plateau(sweep, lo=100, hi=200) is None


def test_run_probe_refuses_an_unknown_backend():
    from sparsim.errors import SparsimError

    with pytest.raises(SparsimError, match=r"^--backend: got 'tpu'; allowed: numpy, cupy"):
        run_probe("tpu")


def test_the_cli_writes_json_or_a_measured_only_calibration(tmp_path, capsys, cpu_probe, monkeypatch):
    from sparsim.validate import probe as probe_module

    monkeypatch.setattr(probe_module, "probe", lambda backend, quick=False: json.loads(json.dumps(cpu_probe)))
    assert main(["probe", "--backend", "numpy", "--out", str(tmp_path / "p.json")]) == 0
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["measured"] == cpu_probe["measured"] and data["hw"].startswith("host-")
    assert main(["probe", "--backend", "numpy", "--out", str(tmp_path / "p.toml")]) == 0
    cal = load_calibration(tmp_path / "p.toml")
    assert cal.hw == data["hw"] and dict(cal.measured) == pytest.approx(cpu_probe["measured"])
    capsys.readouterr()
    assert main(["probe", "--backend", "numpy", "--out", str(tmp_path / "p.csv")]) == 2
    assert "--out: got" in capsys.readouterr().err


@pytest.mark.gpu
def test_the_gpu_probe_measures_every_key():
    pytest.importorskip("cupy")
    from sparsim.validate.backends.cupy_backend import cupy_available

    if not cupy_available()[0]:
        pytest.skip("no CUDA GPU")
    result = probe("cupy", quick=True)
    m = result["measured"]
    assert set(MEASURED_KEYS) <= set(m) and "tensor_flops_per_s.fp16" in m
    assert m["l1_latency_ns"] < m["l2_latency_ns"] < m["hbm_latency_ns"]
    # a working set inside the last-level cache streams no slower than DRAM; on a shared
    # 2-core VM one thread's two figures can come within a few percent of each other
    # (CI, 2026-12-03: 41.4 vs 42.8 GB/s), so the check allows 10% of timing noise: a
    # mis-keyed or swapped measurement is off by far more
    assert m["l2_bytes_per_s"] > 0.9 * m["hbm_bytes_per_s"]
