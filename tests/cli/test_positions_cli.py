"""Sequences past a model's max_position_embeddings are refused, naming the limit and the key.

``sparsim step --context`` (decode), ``--prompt`` + ``--context`` (prefill) and ``sparsim
generate --prompt`` + ``--gen`` count the tokens of one sequence; past the model's
``max_position_embeddings`` they exit 2 with one line, before any kernel is predicted. A
user config.json without the key states no limit, and nothing is refused (as before)."""

import json

import pytest
from hypothesis import given, settings, strategies as st

import sparsim
from sparsim.cli import main
from sparsim.errors import SparsimError
from sparsim.models.transformer import BUILTIN_CONFIGS, config_from_dict

SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
         "vocab_size": 100}
LIMIT = "allowed: at most 4,096 tokens in a sequence for llama2-7b (its config's max_position_embeddings, " \
        "huggingface.co/meta-llama/Llama-2-7b-hf config.json)"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, first", [
    (("step", "--context", "4097"), "--context: got 4097; "),
    (("step", "--phase", "prefill", "--prompt", "4000", "--context", "97"),
     "--prompt: got 4000 (--prompt 4000 + --context 97 = 4,097 tokens); "),
    (("step", "--phase", "prefill", "--prompt", "5000"), "--prompt: got 5000; "),
    (("generate", "--prompt", "4000", "--gen", "97"), "--prompt: got 4000 (--prompt 4000 + --gen 97 = 4,097 tokens); "),
])
def test_past_the_limit_is_one_line_naming_the_limit_and_the_key(capsys, argv, first):
    code, out, err = run(capsys, *argv, "--model", "llama2-7b", "--hw", "h100-sxm5-80gb")
    assert code == 2 and out == ""
    assert err == f"sparsim: error: {first}{LIMIT}\n"


def test_the_limit_itself_is_allowed(capsys):
    code, out, err = run(capsys, "step", "--model", "llama2-7b", "--hw", "h100-sxm5-80gb", "--context", "4096", "--json")
    assert code == 0, err and json.loads(out)["context"] == 4096
    g = sparsim.predict_generation("llama2-7b", hw="h100-sxm5-80gb", prompt=4000, gen=96, mode="cuda-graphs")
    assert g.steps[-1].context == 4095  # the last decode step's cache (prompt + gen - 1) is within the limit


def test_a_prefill_after_no_cached_tokens_counts_only_the_prompt():
    p = sparsim.predict_step("llama2-7b", hw="h100-sxm5-80gb", phase="prefill", prompt=4096, context=0,
                             mode="cuda-graphs")
    assert p.fits and p.tokens == 4096


def test_every_builtin_states_its_limit():
    # each number is the one in the model's published config.json (its source)
    assert {name: c.max_position_embeddings for name, c in BUILTIN_CONFIGS.items()} == {
        "llama2-7b": 4096, "llama2-13b": 4096, "llama2-70b": 4096, "llama3-8b": 8192, "llama3-70b": 8192,
        "llama3.1-8b": 131072, "llama3.1-70b": 131072, "llama3.2-1b": 131072, "llama3.2-3b": 131072,
        "mistral-7b": 32768, "qwen2.5-7b": 131072, "qwen2.5-14b": 131072}


def test_a_user_config_without_the_key_keeps_todays_behaviour(tmp_path):
    path = tmp_path / "tiny" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(SMALL))
    p = sparsim.predict_step(str(path), hw="h100-sxm5-80gb", context=1_000_000, mode="cuda-graphs")
    assert p.context == 1_000_000
    path.write_text(json.dumps({**SMALL, "max_position_embeddings": 512}))
    with pytest.raises(SparsimError, match=r"^--context: got 513; allowed: at most 512 tokens in a sequence for tiny "
                                           r"\(its config's max_position_embeddings, config.json\)$"):
        sparsim.predict_step(str(path), hw="h100-sxm5-80gb", context=513)


@pytest.mark.parametrize("value", ["long", -1, 0.5, True, [4096]])
def test_a_max_position_embeddings_that_is_not_a_whole_number_is_refused(value):
    with pytest.raises(SparsimError, match=r"^model c.json: key max_position_embeddings: got .*; allowed: a whole "
                                           r"number >= 1$"):
        config_from_dict({**SMALL, "max_position_embeddings": value}, "c.json")


@settings(max_examples=30, deadline=None)
@given(limit=st.integers(1, 10_000), prompt=st.integers(1, 10_000), gen=st.integers(1, 10_000))
def test_generate_is_refused_exactly_when_prompt_plus_gen_pass_the_limit(limit, prompt, gen):
    from sparsim.models.transformer import check_positions

    config = config_from_dict({**SMALL, "max_position_embeddings": limit}, "c.json")
    if prompt + gen <= limit:
        check_positions(config, prompt=prompt, gen=gen)
    else:
        with pytest.raises(SparsimError, match=f"--prompt: got {prompt} .* = {prompt + gen:,} tokens\\); allowed: "
                                               f"at most {limit:,} tokens"):
            check_positions(config, prompt=prompt, gen=gen)
