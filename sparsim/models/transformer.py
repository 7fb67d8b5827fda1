"""Decoder-only transformer configurations: the shapes one model step is made of.

A :class:`TransformerConfig` holds what decides the work of a Llama-style decoder
(RMSNorm, rotary attention with grouped-query K/V heads, a gated SiLU MLP): hidden
size, MLP width, layers, query and K/V heads, head size, vocabulary and whether the
output projection shares the embedding's weights. It is read from a Hugging Face
``config.json`` on a local path (nothing is downloaded), or taken from a built-in whose
every number is the one in that model's published ``config.json`` (the Hugging Face
repository named in ``source``).

Keys that change the architecture into one this model does not describe (mixture of
experts, multi-head latent attention, encoder-decoder) are refused, naming the key;
keys that do not change the work (``rms_norm_eps``, ``rope_theta``, ...) are ignored.

>>> c = load_config("llama3-8b")
>>> c.hidden_size, c.num_key_value_heads, c.head_dim, c.kv_group
(4096, 8, 128, 4)
>>> c.params_per_layer == 4096 * (4096 + 2 * 1024) + 4096 * 4096 + 3 * 4096 * 14336
True
>>> config_from_dict({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
...                   "intermediate_size": 128, "vocab_size": 100, "num_local_experts": 8}, "x.json")
Traceback (most recent call last):
sparsim.errors.SparsimError: model x.json: key num_local_experts: mixture-of-experts models are not supported; allowed: dense decoder-only Llama/Mistral/Qwen2 configs
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from ..errors import SparsimError, check_positive_int, shown

__all__ = ["TransformerConfig", "BUILTIN_CONFIGS", "load_config", "config_from_dict", "builtin_names",
           "positions_allowed", "check_positions"]

# Keys whose presence means an architecture the step model does not describe -> why.
_REFUSED_KEYS = {
    "num_local_experts": "mixture-of-experts models are not supported",
    "num_experts": "mixture-of-experts models are not supported",
    "n_routed_experts": "mixture-of-experts models are not supported",
    "num_experts_per_tok": "mixture-of-experts models are not supported",
    "moe_intermediate_size": "mixture-of-experts models are not supported",
    "kv_lora_rank": "multi-head latent attention (MLA) is not supported",
    "q_lora_rank": "multi-head latent attention (MLA) is not supported",
    "is_encoder_decoder": "encoder-decoder models are not supported",
    "decoder_start_token_id": "encoder-decoder models are not supported",
    "encoder_layers": "encoder-decoder models are not supported",
}
_SUPPORTED = "dense decoder-only Llama/Mistral/Qwen2 configs"
#: most decoder layers a config may have: a step's timeline simulates every layer's launches
#: (100,000 layers ran for minutes). The deepest published dense decoder, Llama-3.1-405B,
#: has 126 (huggingface.co/meta-llama/Llama-3.1-405B config.json, num_hidden_layers).
MAX_LAYERS = 1024
_MODEL_TYPES = ("llama", "mistral", "qwen2")


@dataclass(frozen=True)
class TransformerConfig:
    """The shapes of a Llama-style decoder (hardware-free)."""

    name: str
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool = False
    #: q/k/v projections carry a bias (Qwen2): an extra add, no change to the GEMM
    attention_bias: bool = False
    max_position_embeddings: int = 0  # 0: not stated
    source: str = ""

    @property
    def kv_group(self) -> int:
        """Query heads that share one K/V head (1: multi-head attention)."""
        return self.num_attention_heads // self.num_key_value_heads

    @property
    def q_size(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def params_per_layer(self) -> int:
        """Weights of the linear layers of one decoder layer (q, k, v, o, gate, up, down)."""
        h = self.hidden_size
        return h * (self.q_size + 2 * self.kv_size) + self.q_size * h + 3 * h * self.intermediate_size

    @property
    def params(self) -> int:
        """All weights: layers, norms, embedding and (unless tied) the output projection."""
        embed = self.vocab_size * self.hidden_size
        norms = (2 * self.num_hidden_layers + 1) * self.hidden_size
        return self.num_hidden_layers * self.params_per_layer + norms + embed * (1 if self.tie_word_embeddings else 2)


def _hf(repo: str) -> str:
    return f"huggingface.co/{repo} config.json"


#: built-in models: every number as in the model's published config.json
BUILTIN_CONFIGS: dict[str, TransformerConfig] = {c.name: c for c in (
    TransformerConfig("llama2-7b", 4096, 11008, 32, 32, 32, 128, 32000, False, False, 4096, _hf("meta-llama/Llama-2-7b-hf")),
    TransformerConfig("llama2-13b", 5120, 13824, 40, 40, 40, 128, 32000, False, False, 4096, _hf("meta-llama/Llama-2-13b-hf")),
    TransformerConfig("llama2-70b", 8192, 28672, 80, 64, 8, 128, 32000, False, False, 4096, _hf("meta-llama/Llama-2-70b-hf")),
    TransformerConfig("llama3-8b", 4096, 14336, 32, 32, 8, 128, 128256, False, False, 8192, _hf("meta-llama/Meta-Llama-3-8B")),
    TransformerConfig("llama3-70b", 8192, 28672, 80, 64, 8, 128, 128256, False, False, 8192, _hf("meta-llama/Meta-Llama-3-70B")),
    TransformerConfig("llama3.1-8b", 4096, 14336, 32, 32, 8, 128, 128256, False, False, 131072, _hf("meta-llama/Llama-3.1-8B")),
    TransformerConfig("llama3.1-70b", 8192, 28672, 80, 64, 8, 128, 128256, False, False, 131072, _hf("meta-llama/Llama-3.1-70B")),
    TransformerConfig("llama3.2-1b", 2048, 8192, 16, 32, 8, 64, 128256, True, False, 131072, _hf("meta-llama/Llama-3.2-1B")),
    TransformerConfig("llama3.2-3b", 3072, 8192, 28, 24, 8, 128, 128256, True, False, 131072, _hf("meta-llama/Llama-3.2-3B")),
    TransformerConfig("mistral-7b", 4096, 14336, 32, 32, 8, 128, 32000, False, False, 32768, _hf("mistralai/Mistral-7B-v0.1")),
    TransformerConfig("qwen2.5-7b", 3584, 18944, 28, 28, 4, 128, 152064, False, True, 131072, _hf("Qwen/Qwen2.5-7B")),
    TransformerConfig("qwen2.5-14b", 5120, 13824, 48, 40, 8, 128, 152064, False, True, 131072, _hf("Qwen/Qwen2.5-14B")),
)}


def builtin_names() -> tuple[str, ...]:
    return tuple(BUILTIN_CONFIGS)


def _int(origin: str, data: Mapping, key: str, default=None) -> int:
    if key not in data or data[key] is None:
        if default is not None:
            return default
        raise SparsimError(f"model {origin}: missing key {key}; allowed: a whole number >= 1")
    try:
        return check_positive_int(key, data[key])
    except SparsimError:
        raise SparsimError(f"model {origin}: key {key}: got {shown(data[key])}; allowed: a whole number >= 1") from None


def _layers(origin: str, data: Mapping) -> int:
    layers = _int(origin, data, "num_hidden_layers")
    if layers > MAX_LAYERS:
        raise SparsimError(f"model {origin}: key num_hidden_layers: got {layers:,}; allowed: at most {MAX_LAYERS:,} "
                           "(Llama-3.1-405B has 126)")
    return layers


def config_from_dict(data: Mapping[str, Any], origin: str = "<config>") -> TransformerConfig:
    """Check a Hugging Face ``config.json`` mapping and build the configuration."""
    if not isinstance(data, Mapping):
        raise SparsimError(f"model {origin}: got {type(data).__name__}; allowed: a JSON object")
    for key, why in _REFUSED_KEYS.items():
        if key in data and data[key] not in (None, False, 0):
            raise SparsimError(f"model {origin}: key {key}: {why}; allowed: {_SUPPORTED}")
    model_type = data.get("model_type")
    if model_type is not None and model_type not in _MODEL_TYPES:
        raise SparsimError(f"model {origin}: key model_type: got {shown(model_type)}; allowed: {', '.join(_MODEL_TYPES)}")
    if data.get("hidden_act", "silu") not in ("silu", "swish"):
        raise SparsimError(f"model {origin}: key hidden_act: got {shown(data['hidden_act'])}; allowed: silu (gated SiLU MLP)")
    hidden = _int(origin, data, "hidden_size")
    heads = _int(origin, data, "num_attention_heads")
    kv_heads = _int(origin, data, "num_key_value_heads", default=heads)
    if heads % kv_heads:
        raise SparsimError(f"model {origin}: key num_key_value_heads: got {kv_heads}; "
                           f"allowed: a divisor of num_attention_heads ({heads})")
    if data.get("head_dim") is None and hidden % heads:
        raise SparsimError(f"model {origin}: missing key head_dim (hidden_size {hidden} is not a multiple of "
                           f"num_attention_heads {heads}); allowed: a whole number >= 1")
    head_dim = _int(origin, data, "head_dim", default=hidden // heads)
    return TransformerConfig(
        name=str(data.get("_name_or_path") or Path(origin).parent.name or origin),
        hidden_size=hidden, intermediate_size=_int(origin, data, "intermediate_size"),
        num_hidden_layers=_layers(origin, data), num_attention_heads=heads,
        num_key_value_heads=kv_heads, head_dim=head_dim, vocab_size=_int(origin, data, "vocab_size"),
        tie_word_embeddings=bool(data.get("tie_word_embeddings", False)),
        attention_bias=bool(data.get("attention_bias", model_type == "qwen2")),
        # absent or null: the config states no limit (0), and none is checked
        max_position_embeddings=_int(origin, data, "max_position_embeddings", default=0),
        source=str(origin),
    )


def positions_allowed(config: TransformerConfig, positions: int) -> str | None:
    """None when a sequence of ``positions`` tokens (prompt, cached context and generated
    tokens together) fits the model's ``max_position_embeddings``, or the config states
    none; else what is allowed, naming the limit and the config key.

    >>> positions_allowed(load_config("llama2-7b"), 4096) is None
    True
    >>> positions_allowed(load_config("llama2-7b"), 4097)
    "at most 4,096 tokens in a sequence for llama2-7b (its config's max_position_embeddings, huggingface.co/meta-llama/Llama-2-7b-hf config.json)"
    """
    limit = config.max_position_embeddings
    if not limit or positions <= limit:
        return None
    return (f"at most {limit:,} tokens in a sequence for {config.name} (its config's max_position_embeddings"
            + (f", {config.source})" if config.source else ")"))


def check_positions(config: TransformerConfig, **lengths) -> None:
    """Refuse token lengths (``context=``, ``prompt=``, ``gen=``: the flags of one step or
    request, None where not given) whose sum is past the model's
    ``max_position_embeddings``; the message names the first flag and the sum.

    >>> check_positions(load_config("llama2-7b"), prompt=4000, gen=200)
    Traceback (most recent call last):
    sparsim.errors.SparsimError: --prompt: got 4000 (--prompt 4000 + --gen 200 = 4,200 tokens); allowed: at most 4,096 tokens in a sequence for llama2-7b (its config's max_position_embeddings, huggingface.co/meta-llama/Llama-2-7b-hf config.json)
    """
    given = {key: check_positive_int(f"--{key}", value) for key, value in lengths.items() if value is not None}
    total = sum(given.values())
    why = positions_allowed(config, total)
    if why is None:
        return
    (first, value), *rest = given.items()
    terms = " + ".join(f"--{key} {v}" for key, v in given.items())
    raise SparsimError(f"--{first}: got {value}" + (f" ({terms} = {total:,} tokens)" if rest else "")
                       + f"; allowed: {why}")


def load_config(model: str | Path | TransformerConfig) -> TransformerConfig:
    """A built-in name (``llama2-7b``, ``llama3-8b``, ...), a path to a ``config.json``
    (or a folder holding one), or a config already built."""
    if isinstance(model, TransformerConfig):
        return model
    if isinstance(model, str) and model in BUILTIN_CONFIGS:
        return BUILTIN_CONFIGS[model]
    path = Path(model) if isinstance(model, (str, Path)) else None
    try:
        found = path is not None and (path.is_file() or (path / "config.json").is_file())
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        found = False
    if not found:
        raise SparsimError(f"--model: got {shown(model)}; allowed: {', '.join(BUILTIN_CONFIGS)} "
                           "or a path to a Hugging Face config.json")
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SparsimError(f"--model: {path.name}: cannot read JSON ({type(exc).__name__}); allowed: a config.json") from None
    config = config_from_dict(data, path.name)
    if not data.get("_name_or_path"):  # a model's config.json is named after its folder, as a study names it
        config = replace(config, name=path.parent.name if path.name == "config.json" and path.parent.name else path.stem)
    return config
