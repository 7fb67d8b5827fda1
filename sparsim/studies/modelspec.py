"""Model workloads of a study: whole transformer steps instead of single layers.

A ``[[workloads]]`` table with ``model`` (a built-in name of the step model, e.g.
``"llama3-8b"``) or ``config`` (a Hugging Face ``config.json``, relative to the study
file) asks for whole inference steps (``sparsim.predict_step``) or whole requests
(``sparsim.predict_generation``) rather than per-layer kernels::

    [[workloads]]
    model = "llama3-8b"             # or config = "models/my-llama/config.json"
    phase = "decode"                # "decode" (needs context), "prefill" (needs prompt),
                                    # or "generate" (needs prompt and gen: TTFT and TPOT)
    context = 2048                  # tokens already in each sequence's KV cache
    modes = ["eager", "cuda-graphs"]  # how the host launches the step (default ["eager"])
    tp = [1]                        # tensor-parallel GPUs (a number or a list; default 1)
    # kv_dtype = "fp8"              # optional: KV cache element type
    # power_limit_w = 300           # optional: board power cap

The sweep crosses each model workload with the study's GPUs, batch sizes, dtypes,
formats (how every linear layer is stored: ``dense``, ``2:4``, ``csr`` at each swept
density, ...), ``[sweep] quant`` (``"none"`` and/or quantization schemes such as
``"w4a16"``; ``w4a16`` with format ``2:4`` is Sparse-Marlin-style int4 + 2:4) and
implementations (``[sweep] impls``), and with the workload's modes and tp degrees.

>>> from sparsim.speccheck import SpecChecker
>>> w = parse_model_workload(SpecChecker("study", "s.toml"), None, 0,
...     {"model": "llama3-8b", "phase": "decode", "context": 2048, "modes": ["eager", "cuda-graphs"]})
>>> w.ref, w.modes, w.tp, w.title
('llama3-8b', ('eager', 'cuda-graphs'), (1,), 'llama3-8b decode, context 2048')
>>> w.lengths()
{'context': 2048}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..dtypes import DTYPES

__all__ = ["ModelWorkload", "MODEL_KEYS", "PHASES", "MODES", "parse_model_workload", "is_model_workload", "is_file"]

#: keys a model workload may have
MODEL_KEYS = ("name", "model", "config", "phase", "context", "prompt", "gen", "modes", "tp", "kv_dtype",
              "power_limit_w")
#: phase -> the length keys it needs (decode and prefill are one step; generate a request)
PHASES = {"decode": ("context",), "prefill": ("prompt",), "generate": ("prompt", "gen")}
#: how the host launches a step (shared/DESIGN.md, predict_step's ``mode``)
MODES = ("eager", "cuda-graphs", "compiled")
#: the most tensor-parallel GPUs a workload may ask for (one NVLink domain of 8 x 9 = 72)
MAX_TP = 72


@dataclass(frozen=True)
class ModelWorkload:
    """One model and phase to predict whole steps (or requests) of."""

    name: str
    title: str
    phase: str
    model: str | None = None      # built-in name of the step model
    config: str | None = None     # resolved path of a config.json
    context: int | None = None
    prompt: int | None = None
    gen: int | None = None
    modes: tuple[str, ...] = ("eager",)
    tp: tuple[int, ...] = (1,)
    kv_dtype: str | None = None
    power_limit_w: float | None = None

    @property
    def ref(self) -> str:
        """What ``predict_step`` takes as ``model``: the built-in name or the config path."""
        return self.model if self.model is not None else str(self.config)

    def lengths(self) -> dict[str, int]:
        """The token lengths of this phase, as keyword arguments of the step model."""
        return {key: getattr(self, key) for key in PHASES[self.phase]}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "kind": "model", "model": self.model, "config": self.config,
                "phase": self.phase, "context": self.context, "prompt": self.prompt, "gen": self.gen,
                "modes": list(self.modes), "tp": list(self.tp), "kv_dtype": self.kv_dtype,
                "power_limit_w": self.power_limit_w}


def is_model_workload(table: Any) -> bool:
    """Whether a ``[[workloads]]`` table describes a model (it has ``model`` or ``config``)."""
    return isinstance(table, dict) and ("model" in table or "config" in table)


def is_file(path) -> bool:
    """Whether ``path`` is a file; False (not an OSError) for a name the file system refuses
    (longer than its limit), so the study's one-line error names the key instead."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def _config(c, base: Path | None, key: str, value: Any) -> str:
    path = Path(c.string(key, value)).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    allowed = "the path of a Hugging Face config.json (a JSON object), relative to the study file"
    if not is_file(path):
        raise c.fail(key, value, allowed)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        raise c.fail(key, value, allowed) from None
    if not isinstance(data, dict):
        raise c.fail(key, value, allowed)
    return str(path)


def _read_config(c, key: str, value: Any, ref: str):
    """The model's configuration, read now: a config the step model refuses (an unknown
    built-in name, a mixture-of-experts config.json) fails the study as it is loaded,
    before anything is swept."""
    from ..errors import SparsimError
    from ..models.transformer import builtin_names, load_config

    try:
        return load_config(ref)
    except SparsimError as exc:
        if key.endswith(".model"):
            raise c.fail(key, value, f"a built-in model ({', '.join(builtin_names())}); a config.json path goes "
                                     "in config = \"...\"") from None
        raise c.fail(key, value, f"a config.json of a model the step model reads ({exc})") from None


def _check_shapes(c, key: str, config, phase: str, lengths: dict[str, int], tp: tuple[int, ...]) -> None:
    """Refuse lengths past the model's max_position_embeddings and tp degrees that do not
    split its heads: each point of the sweep would be refused for the same reason."""
    from ..errors import SparsimError
    from ..models.step_ops import step_ops
    from ..models.transformer import positions_allowed

    total = sum(lengths.values())
    why = positions_allowed(config, total)
    if why is not None:
        first = next(iter(lengths))
        terms = " + ".join(f"{k} {v}" for k, v in lengths.items())
        raise c.fail(f"{key}.{first}", lengths[first], why + (f"; this workload's {terms} = {total:,}"
                                                              if len(lengths) > 1 else ""))
    for degree in tp:
        try:  # the step model's one rule for sharding heads and the MLP across GPUs
            step_ops(config, phase="decode", tp=degree)
        except SparsimError as exc:
            raise c.fail(f"{key}.tp", degree, str(exc).split("allowed: ", 1)[-1]) from None


def _tp(c, key: str, value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    degrees = [c.whole(key, v, maximum=MAX_TP) for v in c.nonempty_list(key, items)]
    return tuple(sorted(c.unique(key, degrees)))


def parse_model_workload(c, base: Path | None, i: int, value: Any) -> ModelWorkload:
    """Check one model ``[[workloads]]`` table (see the module doc) and build it."""
    key = f"workloads[{i}]"
    table = c.keys(key, value, MODEL_KEYS)
    if ("model" in table) == ("config" in table):
        raise c.fail(key, sorted(table), "exactly one of model, config")
    model = config = None
    if "model" in table:
        model = c.string(f"{key}.model", table["model"])
        if any(ch in model for ch in "/\\") or model.endswith(".json"):
            raise c.fail(f"{key}.model", model, "a built-in model name such as llama3-8b; a config.json path "
                                                "goes in config = \"...\"")
        shown_name = model
    else:
        config = _config(c, base, f"{key}.config", table["config"])
        shown_name = Path(config).parent.name or Path(config).stem
    phase = table.get("phase", "decode")
    if not isinstance(phase, str) or phase not in PHASES:  # (a list or table is no phase, and unhashable)
        raise c.fail(f"{key}.phase", phase, ", ".join(PHASES))
    lengths = {}
    for length in ("context", "prompt", "gen"):
        if length in table and length not in PHASES[phase]:
            needs = " and ".join(PHASES[phase])
            raise c.fail(f"{key}.{length}", table[length], f"no {length} for phase {phase!r} (it takes {needs})")
        if length in PHASES[phase]:
            if length not in table:
                raise c.fail(f"{key}.{length}", None, f"a whole number of tokens (required for phase {phase!r})")
            lengths[length] = c.whole(f"{key}.{length}", table[length])
    modes = c.choices(f"{key}.modes", table.get("modes", ["eager"]), MODES)
    tp = _tp(c, f"{key}.tp", table.get("tp", 1))
    kv_dtype = c.string(f"{key}.kv_dtype", table["kv_dtype"]) if "kv_dtype" in table else None
    if kv_dtype is not None and kv_dtype not in DTYPES:
        raise c.fail(f"{key}.kv_dtype", kv_dtype, ", ".join(DTYPES))
    _check_shapes(c, key, _read_config(c, f"{key}.model" if model is not None else f"{key}.config",
                                       table["model" if model is not None else "config"], model or config),
                  phase, lengths, tp)
    power = table.get("power_limit_w")
    if power is not None and (isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 < power < 1e5):
        raise c.fail(f"{key}.power_limit_w", power, "watts, a number in (0, 100000)")
    detail = ", ".join(f"{k} {v}" for k, v in lengths.items())
    title = c.string(f"{key}.name", table["name"]) if "name" in table else f"{shown_name} {phase}, {detail}"
    name = table.get("name", f"{shown_name}-{phase}")
    return ModelWorkload(name=name, title=title, phase=phase, model=model, config=config, modes=modes, tp=tp,
                         kv_dtype=kv_dtype, power_limit_w=float(power) if power is not None else None, **lengths)
