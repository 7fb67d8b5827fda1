"""A model workload is checked when the study is loaded, not when the sweep reaches it.

What the step model would refuse at every point of a workload (an unknown built-in name, a
config.json it cannot read, a sequence past the model's max_position_embeddings, a K/V
dtype that does not exist, a tp degree that does not split the heads) fails ``load_study``
with one line naming the study key, the value and what is allowed; ``sparsim study`` exits
2 before it writes anything or predicts a single step."""

import json

import pytest

from sparsim.cli import main
from sparsim.errors import SparsimError
from sparsim.studies import load_study

HEAD = 'version = 1\nname = "m"\n[sweep]\nhardware = ["h100-sxm5-80gb"]\nformats = ["dense"]\nbatch_sizes = [1]\n'
SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
         "vocab_size": 100, "max_position_embeddings": 256}


def _study(tmp_path, workload: str, config: dict | None = None):
    if config is not None:
        (tmp_path / "m").mkdir(exist_ok=True)
        (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    path = tmp_path / "s.toml"
    path.write_text(HEAD + "[[workloads]]\n" + workload)
    return path


#: workload table -> the words its one-line refusal must hold (config: the m/config.json it reads)
BAD = {
    "unknown built-in": ('model = "llama9-1t"\ncontext = 16\n', None,
                         ["key workloads[0].model: got 'llama9-1t'", "allowed: a built-in model (llama2-7b, "]),
    "mixture of experts": ('config = "m/config.json"\ncontext = 16\n', {**SMALL, "num_local_experts": 8},
                           ["key workloads[0].config: got 'm/config.json'", "key num_local_experts",
                            "mixture-of-experts"]),
    "config without heads": ('config = "m/config.json"\ncontext = 16\n', {"hidden_size": 64},
                             ["key workloads[0].config", "missing key num_attention_heads"]),
    "max_position_embeddings not a number": ('config = "m/config.json"\ncontext = 16\n',
                                             {**SMALL, "max_position_embeddings": "long"},
                                             ["key workloads[0].config", "key max_position_embeddings: got 'long'"]),
    "decode past the built-in's positions": ('model = "llama2-7b"\ncontext = 4097\n', None,
                                             ["key workloads[0].context: got 4097", "at most 4,096 tokens",
                                              "max_position_embeddings"]),
    "prefill past a config's positions": ('config = "m/config.json"\nphase = "prefill"\nprompt = 257\n', SMALL,
                                          ["key workloads[0].prompt: got 257", "at most 256 tokens",
                                           "max_position_embeddings"]),
    "generate: prompt + gen past the positions": (
        'model = "llama3-8b"\nphase = "generate"\nprompt = 8000\ngen = 193\n', None,
        ["key workloads[0].prompt: got 8000", "at most 8,192 tokens", "prompt 8000 + gen 193 = 8,193"]),
    "unknown kv_dtype": ('model = "llama2-7b"\ncontext = 16\nkv_dtype = "fp7"\n', None,
                         ["key workloads[0].kv_dtype: got 'fp7'", "fp16", "fp8"]),
    "tp that does not split the heads": ('model = "llama2-7b"\ncontext = 16\ntp = [1, 3]\n', None,
                                         ["key workloads[0].tp: got 3", "a divisor of num_attention_heads (32)"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_load_study_refuses_the_workload_naming_key_value_and_what_is_allowed(name, tmp_path):
    workload, config, words = BAD[name]
    with pytest.raises(SparsimError) as info:
        load_study(_study(tmp_path, workload, config))
    message = str(info.value)
    assert message.startswith(f"study {tmp_path / 's.toml'}: key ") and "\n" not in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("name", ["unknown built-in", "decode past the built-in's positions"])
def test_the_cli_exits_2_before_any_sweep_or_output(name, tmp_path, capsys, monkeypatch):
    import sparsim.studies.steps as steps

    monkeypatch.setattr(steps, "step_model", lambda: pytest.fail("the sweep started"))
    workload, config, words = BAD[name]
    code = main(["study", str(_study(tmp_path, workload, config)), "--out", str(tmp_path / "out"), "--jobs", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("sparsim: error: study ") and words[0] in err
    assert not (tmp_path / "out").exists()


def test_the_limits_hold_exactly_at_the_edge(tmp_path):
    # llama2-7b: 4,096 positions; a decode step over a cache of 4,096 tokens is the largest allowed
    assert load_study(_study(tmp_path, 'model = "llama2-7b"\ncontext = 4096\n')).model_workloads[0].context == 4096
    gen = load_study(_study(tmp_path, 'model = "llama3-8b"\nphase = "generate"\nprompt = 8000\ngen = 192\n'))
    assert gen.model_workloads[0].lengths() == {"prompt": 8000, "gen": 192}
    # a config.json without max_position_embeddings states no limit: nothing is refused (as before)
    unlimited = {k: v for k, v in SMALL.items() if k != "max_position_embeddings"}
    study = load_study(_study(tmp_path, 'config = "m/config.json"\ncontext = 100000\n', unlimited))
    assert study.model_workloads[0].context == 100000
    assert load_study(_study(tmp_path, 'model = "llama2-7b"\ncontext = 16\ntp = [1, 2, 4]\n')).model_workloads[0].tp \
        == (1, 2, 4)


def test_a_cpu_profile_beside_model_workloads_is_refused_at_load(tmp_path):
    from importlib import resources

    from sparsim.calibration import load_calibration
    from sparsim.tomlfile import dumps

    # a CPU profile as a file (the one stored with the shipped host-example calibration)
    cal = load_calibration(resources.files("sparsim.validate") / "data" / "host-example" / "calibration.toml")
    (tmp_path / "cpu.toml").write_text(dumps(json.loads(json.dumps(dict(cal.provenance["profile"])))))
    path = tmp_path / "s.toml"
    path.write_text(HEAD.replace('["h100-sxm5-80gb"]', '["h100-sxm5-80gb", "cpu.toml"]')
                    + '[[workloads]]\nmodel = "llama2-7b"\ncontext = 16\n')
    with pytest.raises(SparsimError, match=r"key sweep.hardware: got '.*cpu.toml'; allowed: GPU profiles in a study "
                                           r"with model workloads \(llama2-7b-decode\)"):
        load_study(path)
