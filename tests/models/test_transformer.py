"""Transformer configs: built-ins carry the published numbers; HF config.json is read and checked."""

import json

import pytest

from sparsim.errors import SparsimError
from sparsim.models.transformer import BUILTIN_CONFIGS, config_from_dict, load_config

REQUIRED = ("llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b", "llama3-70b", "mistral-7b", "qwen2.5-7b")

LLAMA3_8B_JSON = {  # meta-llama/Meta-Llama-3-8B config.json (architecture keys)
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "vocab_size": 128256, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "tie_word_embeddings": False, "max_position_embeddings": 8192, "hidden_act": "silu",
}


@pytest.mark.parametrize("name", REQUIRED)
def test_the_issue_builtins_exist_and_cite_their_config(name):
    c = load_config(name)
    assert c.source.startswith("huggingface.co/") and c.source.endswith("config.json")
    assert c.num_attention_heads % c.num_key_value_heads == 0


def test_builtin_parameter_counts_match_the_model_names():
    # published sizes: Llama-2-7B 6.74e9, Llama-2-70B 68.98e9, Llama-3-8B 8.03e9, Qwen2.5-7B 7.62e9
    assert round(load_config("llama2-7b").params / 1e9, 2) == 6.74
    assert round(load_config("llama2-70b").params / 1e9, 1) == 69.0
    assert round(load_config("llama3-8b").params / 1e9, 2) == 8.03
    assert round(load_config("qwen2.5-7b").params / 1e9, 2) == 7.62  # (bias vectors not counted)


def test_a_config_json_reads_like_the_builtin(tmp_path):
    path = tmp_path / "Meta-Llama-3-8B" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(LLAMA3_8B_JSON))
    c = load_config(path)
    b = BUILTIN_CONFIGS["llama3-8b"]
    fields = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings")
    assert [getattr(c, f) for f in fields] == [getattr(b, f) for f in fields]
    assert load_config(path.parent).head_dim == 128  # a folder holding config.json


def test_head_dim_key_wins_over_hidden_over_heads():
    c = config_from_dict({**LLAMA3_8B_JSON, "head_dim": 64})
    assert c.head_dim == 64 and c.q_size == 32 * 64


@pytest.mark.parametrize("key,value,words", [
    ("num_local_experts", 8, "mixture-of-experts"),
    ("n_routed_experts", 64, "mixture-of-experts"),
    ("kv_lora_rank", 512, "multi-head latent attention"),
    ("is_encoder_decoder", True, "encoder-decoder"),
])
def test_unsupported_architectures_are_refused_naming_the_key(key, value, words):
    with pytest.raises(SparsimError, match=f"key {key}: {words}"):
        config_from_dict({**LLAMA3_8B_JSON, key: value}, "config.json")


def test_a_false_flag_is_not_a_refusal():
    assert config_from_dict({**LLAMA3_8B_JSON, "is_encoder_decoder": False}).hidden_size == 4096


@pytest.mark.parametrize("change,words", [
    ({"model_type": "gpt2"}, "key model_type"),
    ({"num_key_value_heads": 5}, "divisor of num_attention_heads"),
    ({"hidden_size": 0}, "key hidden_size"),
    ({"hidden_act": "gelu"}, "key hidden_act"),
])
def test_bad_values_name_the_key(change, words):
    with pytest.raises(SparsimError, match=words):
        config_from_dict({**LLAMA3_8B_JSON, **change}, "config.json")


def test_missing_key_and_unknown_name():
    data = dict(LLAMA3_8B_JSON)
    del data["intermediate_size"]
    with pytest.raises(SparsimError, match="missing key intermediate_size"):
        config_from_dict(data)
    with pytest.raises(SparsimError, match="--model: got 'llama9-1b'; allowed: llama2-7b"):
        load_config("llama9-1b")


def test_unreadable_json_is_one_line(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(SparsimError, match="cannot read JSON"):
        load_config(bad)
