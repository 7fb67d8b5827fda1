"""Model workloads in a study: the spec, the sweep of whole steps, checkpoints and results.

The step model itself (sparsim.predict_step) is stood in for by benchmarks/fake_step.py
(fixture ``fake_steps``), whose numbers depend on the inputs, so these tests check what
the sweep does with them; tests marked ``needs_step_model`` run the real one."""

import copy
import json
import math

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from sparsim.errors import SparsimError
from sparsim.studies import load_study, example_path, open_executor, parse_study, run_sweep
from sparsim.studies.checkpoint import Checkpoint
from sparsim.studies.paths import step_paths
from sparsim.studies.results import load_results, provenance, save_results
from sparsim.studies.steps import STEP_COLUMNS, plan_steps, run_step_task

MODEL_STUDY = {
    "version": 1,
    "name": "model",
    "sweep": {"hardware": ["h200-sxm-141gb", "rtx-4090"], "formats": ["dense", "2:4"], "quant": ["none", "w4a16"],
              "batch_sizes": [1, 8, 32, 64], "impls": ["default"]},
    "workloads": [{"model": "llama3-8b", "phase": "decode", "context": 2048, "modes": ["eager", "cuda-graphs"]}],
}


def _study(**edits):
    data = copy.deepcopy(MODEL_STUDY)
    for key, value in edits.items():
        if key == "workload":
            data["workloads"][0].update(value)
        else:
            data["sweep"][key] = value
    return parse_study(data)


# -- the study file ------------------------------------------------------------------------

def test_a_model_workload_parses_with_its_defaults():
    study = _study()
    (w,) = study.model_workloads
    assert (w.ref, w.phase, w.context, w.modes, w.tp) == ("llama3-8b", "decode", 2048, ("eager", "cuda-graphs"), (1,))
    assert study.workloads == () and study.quant == ("none", "w4a16")
    # 2 GPUs x (dense, 2:4, w4a16, w4a16 + 2:4) x 2 modes x 1 tp x 1 dtype x 4 batch sizes
    assert study.grid_points() == 2 * 4 * 2 * 1 * 1 * 4 == 64


def test_density_formats_sweep_each_density_and_others_once():
    study = _study(formats=["dense", "2:4", "csr"], densities=[0.1, 0.3], quant=["none"])
    labels = [p.label for p in study.step_paths("h200-sxm-141gb")]
    assert labels == ["dense", "2:4", "csr 10%", "csr 30%"]
    assert [p.kept for p in study.step_paths("h200-sxm-141gb")] == [1.0, 0.5, 0.1, 0.3]


def test_a_named_implementation_is_its_own_path_and_the_default_path_leaves_the_choice_to_the_step_model():
    paths = step_paths(("2:4",), ("none", "w4a16"), ("default", "torch"), (0.5,))
    assert [(p.label, p.impl, p.path) for p in paths] == [
        ("2:4", None, "default"), ("w4a16 + 2:4", None, "default"),
        ("2:4 · torch", "torch", "torch"), ("w4a16 + 2:4 · torch", "torch", "torch")]


@pytest.mark.parametrize("edit, key, allowed", [
    ({"workload": {"config": "x.json"}}, "key workloads[0]", "exactly one of model, config"),
    ({"workload": {"phase": "serve"}}, "key workloads[0].phase: got 'serve'", "decode, prefill, generate"),
    ({"workload": {"context": 0}}, "key workloads[0].context: got 0", "a whole number"),
    ({"workload": {"prompt": 128}}, "key workloads[0].prompt: got 128", "no prompt for phase 'decode'"),
    ({"workload": {"modes": ["lazy"]}}, "key workloads[0].modes: got 'lazy'", "eager, cuda-graphs, compiled"),
    ({"workload": {"tp": [1, 1]}}, "key workloads[0].tp: got 1", "each value once"),
    ({"workload": {"tp": 0}}, "key workloads[0].tp: got 0", "a whole number in [1, 72]"),
    ({"workload": {"model": "models/llama.json"}}, "key workloads[0].model", "config = "),
    ({"workload": {"power_limit_w": -5}}, "key workloads[0].power_limit_w: got -5", "watts"),
    ({"workload": {"batch": 4}}, "key workloads[0].batch: got 'batch'", "keys name, model, config"),
    ({"quant": ["int3"]}, "key sweep.quant: got 'int3'", "none, w8a16, w4a16, fp8, w8a8"),
])
def test_bad_model_workloads_name_the_key_and_what_is_allowed(edit, key, allowed):
    data = copy.deepcopy(MODEL_STUDY)
    for k, v in edit.items():
        (data["workloads"][0] if k == "workload" else data["sweep"]).update(v if k == "workload" else {k: v})
    with pytest.raises(SparsimError) as info:
        parse_study(data, origin="m.toml")
    message = str(info.value)
    assert message.startswith("study m.toml: ") and key in message and allowed in message and "\n" not in message


def test_a_generate_workload_needs_prompt_and_gen():
    data = copy.deepcopy(MODEL_STUDY)
    data["workloads"] = [{"model": "llama3-8b", "phase": "generate", "prompt": 128}]
    with pytest.raises(SparsimError, match=r"workloads\[0\].gen: got nothing; allowed: a whole number of tokens "
                                           r"\(required for phase 'generate'\)"):
        parse_study(data)


def test_quantized_paths_are_refused_beside_layer_workloads():
    data = copy.deepcopy(MODEL_STUDY)
    data["workloads"].append({"network": "bert-base"})
    with pytest.raises(SparsimError, match=r"key sweep.quant: got \['none', 'w4a16'\]; allowed: \[\"none\"\] in a "
                                           r"study with layer workloads \(bert-base\)"):
        parse_study(data)


def test_a_config_path_is_read_relative_to_the_study_file(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"hidden_size": 64, "num_hidden_layers": 2,
                                                            "num_attention_heads": 4, "intermediate_size": 128,
                                                            "vocab_size": 100}))
    (tmp_path / "s.toml").write_text('version = 1\n[sweep]\nhardware = ["l4"]\nformats = ["dense"]\n'
                                     'batch_sizes = [1]\n[[workloads]]\nconfig = "m/config.json"\ncontext = 16\n')
    study = load_study(tmp_path / "s.toml")
    assert study.model_workloads[0].ref == str(tmp_path / "m" / "config.json")
    assert study.model_workloads[0].title == "m decode, context 16"
    (tmp_path / "m" / "config.json").write_text("[1, 2]")
    with pytest.raises(SparsimError, match=r"key workloads\[0\].config: got 'm/config.json'; allowed: the path of a "
                                           r"Hugging Face config.json \(a JSON object\)"):
        load_study(tmp_path / "s.toml")


def test_the_example_model_study_sweeps_three_gpus_four_paths_two_modes_seven_batches():
    study = load_study(example_path("llama3-8b-decode"))
    assert [p.label for p in study.step_paths("rtx-4090")] == ["dense", "2:4", "w4a16", "w4a16 + 2:4"]
    assert study.grid_points() == 3 * 4 * 2 * 7 == 168


# -- the sweep -----------------------------------------------------------------------------

def test_the_sweep_predicts_every_step_once_and_marks_what_does_not_fit(fake_steps):
    study = _study(hardware=["h200-sxm-141gb", "rtx-4090"], batch_sizes=[1, 8, 64])
    result = run_sweep(study)
    steps = result.steps
    assert list(steps.columns) == list(STEP_COLUMNS) and len(steps) == study.grid_points() == 48
    assert (result.table["kind"] == "step").all() and result.skipped == []
    # the fake's numbers, unchanged: one row is one call of the step model
    row = steps[(steps["hw"] == "rtx-4090") & (steps["series"] == "dense") & (steps["batch"] == 64)
                & (steps["mode"] == "eager")].iloc[0]
    expected = fake_steps.predict_step("llama3-8b", hw="rtx-4090", batch=64, context=2048)
    assert row["fits"] == expected.fits is False
    assert row["memory_bytes"] == pytest.approx(sum(expected.memory_bytes.values()))
    from sparsim.hwprofiles import load_profile

    assert row["memory_capacity_bytes"] == load_profile("rtx-4090").hbm_bytes  # the fake gives none: the profile's
    assert row["time_linear_s"] == pytest.approx(expected.breakdown["linear"])
    # w4a16 weights are a quarter of fp16's: it still fits where dense does not
    w4 = steps[(steps["hw"] == "rtx-4090") & (steps["series"] == "w4a16") & (steps["batch"] == 64)]
    assert w4["fits"].all()


def test_points_the_step_model_refuses_are_listed_with_its_reason(fake_steps):
    study = _study(impls=["default", "torch"], hardware=["h200-sxm-141gb"], batch_sizes=[1, 2])
    result = run_sweep(study)
    refused = {s["format"] for s in result.skipped}
    assert refused == {"w4a16 · torch (eager, tp 1)", "w4a16 + 2:4 · torch (eager, tp 1)",
                       "w4a16 · torch (cuda-graphs, tp 1)", "w4a16 + 2:4 · torch (cuda-graphs, tp 1)"}
    assert all(s["points"] == 2 and "torch runs unquantized linears" in s["reason"] for s in result.skipped)
    assert set(result.steps["series"]) == {"dense", "2:4", "w4a16", "w4a16 + 2:4", "dense · torch", "2:4 · torch"}


def test_timelines_are_kept_for_dense_and_the_first_other_path_at_the_smallest_batch(fake_steps):
    study = _study(batch_sizes=[2, 4])
    result = run_sweep(study)
    kept = [(t["hw"], t["mode"], t["series"], t["batch"]) for t in result.timelines]
    assert kept == [(hw, mode, s, 2) for hw in ("h200-sxm-141gb", "rtx-4090") for mode in ("eager", "cuda-graphs")
                    for s in ("dense", "2:4")]
    eager = result.timelines[0]
    lanes = {e[0] for e in eager["events"]}
    assert lanes == {"host", "gpu"} and eager["time_s"] == pytest.approx(max(e[4] for e in eager["events"]))
    assert {o[0] for o in eager["ops"]} >= {"qkv_proj", "attention", "down_proj", "lm_head"}


def test_a_generate_workload_gives_ttft_and_tpot(fake_steps):
    data = copy.deepcopy(MODEL_STUDY)
    data["workloads"] = [{"model": "llama2-7b", "phase": "generate", "prompt": 128, "gen": 256}]
    result = run_sweep(parse_study(data))
    row = result.steps.iloc[0]
    gen = fake_steps.predict_generation("llama2-7b", hw=row["hw"], batch=int(row["batch"]), prompt=128, gen=256)
    assert row["ttft_s"] == pytest.approx(gen.ttft_s) and row["tpot_s"] == pytest.approx(gen.tpot_s)
    assert row["time_s"] == pytest.approx(gen.ttft_s + 256 * gen.tpot_s)
    assert result.timelines == []


def test_local_processes_give_the_serial_table(fake_steps):
    study = _study(batch_sizes=[1, 16])
    serial = run_sweep(study)
    with open_executor(jobs=2) as ex:
        parallel = run_sweep(study, ex, window=3)
    pd.testing.assert_frame_equal(serial.table, parallel.table)
    assert serial.timelines == parallel.timelines


def test_a_resumed_model_study_runs_only_the_missing_tasks(tmp_path, fake_steps, monkeypatch):
    study = _study(batch_sizes=[1, 16])
    tasks = plan_steps(study)
    cp = Checkpoint(tmp_path, study)
    for task in tasks[:5]:
        cp.save(task, run_step_task(task))
    ran = []
    import sparsim.studies.executor as executor

    real = executor.run_step_task
    monkeypatch.setattr(executor, "run_step_task", lambda t: ran.append(t) or real(t))
    resumed = run_sweep(study, checkpoint=Checkpoint(tmp_path, study))
    assert ran == tasks[5:]
    whole = run_sweep(study)
    pd.testing.assert_frame_equal(resumed.table, whole.table)
    assert resumed.timelines == whole.timelines


def test_results_round_trip_with_their_timelines(tmp_path, fake_steps):
    study = _study(batch_sizes=[1, 64], hardware=["rtx-4090"])
    result = run_sweep(study)
    meta = provenance(study, result, "serial")
    save_results(result.table, meta, tmp_path)
    for name in ("results.parquet", "results.csv"):
        table, back = load_results(tmp_path / name)
        assert len(table) == len(result.table) and (table["kind"] == "step").all()
        assert back["steps"] == len(result.steps) and back["step_timelines"] == json.loads(json.dumps(
            result.timelines))
        assert (~table["fits"].astype(bool)).sum() == (~result.table["fits"]).sum() > 0


def test_a_damaged_step_row_is_refused_but_an_empty_time_of_a_config_that_does_not_fit_is_not(tmp_path, fake_steps):
    result = run_sweep(_study(batch_sizes=[1], hardware=["l4"]))
    table = result.table.copy()
    table.loc[0, "time_s"] = float("nan")
    save_results(table, {}, tmp_path)
    assert math.isnan(load_results(tmp_path)[0].loc[0, "time_s"])
    table.loc[1, "batch"] = float("nan")
    save_results(table, {}, tmp_path)
    with pytest.raises(SparsimError, match=r"column batch, row 2: got .*nan.*; allowed: finite numbers"):
        load_results(tmp_path)


def test_a_mixed_study_keeps_its_layer_rows_as_they_were(fake_steps):
    data = copy.deepcopy(MODEL_STUDY)
    data["sweep"].update(quant=["none"], batch_sizes=[1, 8], hardware=["l4"])
    data["model"] = "analytic"
    layers_only = copy.deepcopy(data)
    layers_only["workloads"] = [{"network": "bert-base", "layers": ["query"]}]
    data["workloads"].append({"network": "bert-base", "layers": ["query"]})
    mixed = run_sweep(parse_study(data))
    alone = run_sweep(parse_study(layers_only))
    assert "kind" not in alone.table
    layer_rows = mixed.table[mixed.table["kind"] == "layer"]
    assert len(layer_rows) == len(alone.table) and len(mixed.steps) == 2 * 2 * 2
    from sparsim.reports.steps import split_kinds

    layers, steps = split_kinds(mixed.table)
    # the same values; the whole numbers a report labels by are whole numbers again
    pd.testing.assert_frame_equal(layers[alone.table.columns], alone.table, check_dtype=False)
    assert all(layers[c].dtype == "int64" for c in ("m", "k", "n", "batch", "layer_order", "layer_count"))
    assert len(steps) == len(mixed.steps)


def test_without_the_step_model_the_study_says_so_in_one_line(monkeypatch):
    import sparsim.api

    monkeypatch.delattr(sparsim.api, "predict_step", raising=False)
    result = run_sweep(_study(batch_sizes=[1], hardware=["l4"]))
    assert len(result.steps) == 0
    assert {s["reason"] for s in result.skipped} == {
        "workloads: model workloads need sparsim.predict_step and predict_generation, which this sparsim does not "
        "have; allowed: layer workloads (network, shapes, weights)"}


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.sampled_from([1, 2, 3, 8, 24, 64, 200]), min_size=1, max_size=4, unique=True),
       modes=st.lists(st.sampled_from(["eager", "cuda-graphs", "compiled"]), min_size=1, max_size=3, unique=True))
def test_every_planned_point_is_one_row_or_one_refusal(batches, modes):
    import sys

    import sparsim.studies.steps as steps

    fake = sys.modules["fake_step"]  # loaded by tests/conftest.py (fixtures cannot reach a hypothesis test)

    saved = steps.step_model
    steps.step_model = lambda: (fake.predict_step, fake.predict_generation)
    try:
        data = copy.deepcopy(MODEL_STUDY)
        data["sweep"].update(batch_sizes=batches, impls=["default", "torch"], hardware=["a100-sxm4-80gb"])
        data["workloads"][0]["modes"] = modes
        study = parse_study(data)
        result = run_sweep(study)
    finally:
        steps.step_model = saved
    refused = sum(s["points"] for s in result.skipped)
    assert len(result.steps) + refused == study.grid_points()
    # fewer weight bytes never need more memory at the same batch size
    s = result.steps
    for (mode, batch), g in s.groupby(["mode", "batch"]):
        mem = dict(zip(g["series"], g["memory_bytes"]))
        assert mem["w4a16 + 2:4"] < mem["w4a16"] < mem["dense"] and mem["2:4"] < mem["dense"]


# -- the command line ----------------------------------------------------------------------

def _cli(capsys, *argv):
    from sparsim.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_example_model_study_runs_from_the_command_line(tmp_path, capsys, fake_steps):
    code, out, err = _cli(capsys, "study", "--example", "llama3-8b-decode", "--out", str(tmp_path), "--jobs", "1")
    assert code == 0, err
    assert "168 predictions in" in err and "report:" in out
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count('<table class="decision">') == 1 and "does not fit: needs" in html
    code, out, err = _cli(capsys, "report", str(tmp_path), "--out", str(tmp_path / "again.html"))
    assert code == 0, err
    assert '<table class="decision">' in (tmp_path / "again.html").read_text(encoding="utf-8")


@pytest.mark.skipif(hasattr(__import__("sparsim"), "predict_step"), reason="the step model is here")
def test_without_the_step_model_the_command_exits_2_in_one_line(tmp_path, capsys):
    code, out, err = _cli(capsys, "study", "--example", "llama3-8b-decode", "--out", str(tmp_path / "o"),
                          "--jobs", "1")
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "every point was refused" in last and "model workloads need sparsim.predict_step" in last


# -- the one seam to the step model ----------------------------------------------------------

def _recorded_call(monkeypatch, workload, sweep=None):
    import sparsim.studies.steps as steps

    calls = []
    monkeypatch.setattr(steps, "step_model", lambda: (lambda model, **kw: calls.append(("step", model, kw)) or 1 / 0,
                                                      lambda model, **kw: calls.append(("gen", model, kw)) or 1 / 0))
    data = copy.deepcopy(MODEL_STUDY)
    data["workloads"] = [workload]
    data["sweep"].update(sweep or {})
    task = next(t for t in plan_steps(parse_study(data)) if t.step.label == "w4a16 + 2:4")
    with pytest.raises(ZeroDivisionError):
        steps.step_point(task, 8)
    return calls[0]


def test_the_step_model_is_called_with_the_contract_keywords(monkeypatch):
    kind, model, kw = _recorded_call(monkeypatch, {"model": "llama3-8b", "context": 2048, "modes": ["cuda-graphs"],
                                                   "tp": 2, "kv_dtype": "fp8", "power_limit_w": 300})
    assert (kind, model) == ("step", "llama3-8b")
    assert kw == {"hw": "h200-sxm-141gb", "batch": 8, "linear": "2:4", "density": None, "impl": None,
                  "quant": "w4a16", "mode": "cuda-graphs", "tp": 2, "dtype": "fp16", "calibration": None,
                  "kv_dtype": "fp8", "power_limit_w": 300.0, "phase": "decode", "context": 2048}
    kind, model, kw = _recorded_call(monkeypatch, {"model": "llama2-7b", "phase": "generate", "prompt": 128,
                                                   "gen": 256})
    assert kind == "gen" and kw["prompt"] == 128 and kw["gen"] == 256 and "phase" not in kw and kw["batch"] == 8


@pytest.mark.skipif(not hasattr(__import__("sparsim.api").api, "predict_step"),
                    reason="sparsim.predict_step is not on this branch yet (steps-core); it runs once merged")
def test_the_real_step_model_takes_what_the_sweep_passes(monkeypatch):
    import inspect

    import sparsim.api

    _, _, kw = _recorded_call(monkeypatch, {"model": "llama3-8b", "context": 2048, "kv_dtype": "fp8",
                                            "power_limit_w": 300})
    inspect.signature(sparsim.api.predict_step).bind("llama3-8b", **kw)
    _, _, kw = _recorded_call(monkeypatch, {"model": "llama3-8b", "phase": "generate", "prompt": 64, "gen": 64})
    inspect.signature(sparsim.api.predict_generation).bind("llama3-8b", **kw)
    from sparsim.studies.steps import step_point

    monkeypatch.undo()
    study = parse_study({**MODEL_STUDY, "sweep": {**MODEL_STUDY["sweep"], "hardware": ["rtx-4090"]}})
    task = next(t for t in plan_steps(study) if t.step.label == "dense" and t.mode == "eager")
    small, big = step_point(task, 1), step_point(task, 64)
    assert small.fits and not big.fits  # 16 GB of weights + 64 x 256 MiB of KV cache > 24 GB
