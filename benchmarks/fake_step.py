"""A deterministic stand-in for the step model, to test and time the study machinery.

NOT a performance model: the numbers only have to depend on the inputs the way a reader
of a report expects (weights and KV cache stream from HBM, 2:4 and quantized weights are
smaller, eager steps pay host work per op, CUDA graphs do not, memory can run out), so
tests can assert what the sweep, the table and the report do with them. It obeys the
``sparsim.predict_step`` / ``predict_generation`` contract of shared/DESIGN.md (keyword
arguments, ``StepPrediction`` fields, ``fits=False`` instead of an error for a
configuration that does not fit, a one-line ``SparsimError`` for a bad argument).

Used by tests/conftest.py (fixture ``fake_steps``) and benchmarks/bench_study_steps.py,
which hand it to :func:`sparsim.studies.steps.step_model` with :func:`install`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field

from sparsim.errors import SparsimError
from sparsim.hwprofiles import load_profile

# (layers, hidden, intermediate, kv heads, head dim, vocab): shapes of the built-ins,
# as their Hugging Face config.json files give them
MODELS = {
    "llama2-7b": (32, 4096, 11008, 32, 128, 32000),
    "llama2-13b": (40, 5120, 13824, 40, 128, 32000),
    "llama2-70b": (80, 8192, 28672, 8, 128, 32000),
    "llama3-8b": (32, 4096, 14336, 8, 128, 128256),
    "llama3-70b": (80, 8192, 28672, 8, 128, 128256),
    "mistral-7b": (32, 4096, 14336, 8, 128, 32000),
    "qwen2.5-7b": (28, 3584, 18944, 4, 128, 152064),
}
# bytes per weight value and the math speedup of each path (fake, but ordered sensibly)
_QUANT_BYTES = {None: 2.0, "w8a16": 1.0, "w4a16": 0.5 + 4 / 128, "fp8": 1.0, "w8a8": 1.0}
_HOST_PER_OP_S = {"eager": 9e-6, "compiled": 9e-6, "cuda-graphs": 0.0}
_GAP_S = 1.2e-6  # GPU-side gap between kernels
_RESERVE = 2 * 2**30


@dataclass(frozen=True)
class FakeStep:
    time_s: float
    tokens_per_s: float
    tokens_per_s_per_seq: float
    breakdown: dict
    gpu_idle_s: float
    prunable_share: float
    memory_bytes: dict
    fits: bool
    basis: str
    ops: list = field(default_factory=list)
    timeline: list = field(default_factory=list)

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class FakeGeneration:
    ttft_s: float
    tpot_s: float
    tokens_per_s: float
    tokens_per_s_per_seq: float
    fits: bool
    basis: str


@functools.lru_cache(maxsize=64)
def _shape(model: str):
    if model in MODELS:
        return MODELS[model]
    if model.endswith(".json"):
        c = json.loads(open(model, encoding="utf-8").read())
        heads = c["num_attention_heads"]
        return (c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"], c.get("num_key_value_heads", heads),
                c.get("head_dim", c["hidden_size"] // heads), c["vocab_size"])
    raise SparsimError(f"model: got {model!r}; allowed: {', '.join(MODELS)}, or a path to a config.json")


def _weight_factor(linear: str, density, quant) -> float:
    per_value = _QUANT_BYTES[quant]
    if linear == "dense":
        return per_value
    if linear == "2:4":
        return per_value / 2 + 0.125 / 2  # half the values, 2 bits of metadata per kept value
    if linear in ("csr", "coo"):
        return density * (per_value + 4)
    if linear == "channel":
        return density * per_value
    raise SparsimError(f"linear: got {linear!r}; allowed: dense, 2:4, csr, coo, channel")


def predict_step(model, *, hw, phase="decode", batch=1, context=None, prompt=None, linear="dense", density=None,
                 impl=None, quant=None, kv_dtype=None, mode="eager", tp=1, dtype="fp16", calibration=None,
                 power_limit_w=None):
    layers, hidden, inter, kv_heads, head_dim, vocab = _shape(str(model))
    if quant not in _QUANT_BYTES:
        raise SparsimError(f"quant: got {quant!r}; allowed: none, w8a16, w4a16, fp8, w8a8")
    if quant is not None and linear not in ("dense", "2:4"):
        raise SparsimError(f"quant: got {quant!r} with linear {linear!r}; allowed: quantized dense or 2:4 linears")
    if impl == "torch" and quant is not None:
        raise SparsimError(f"impl: got 'torch' with quant {quant!r}; allowed: torch runs unquantized linears")
    p = load_profile(hw)
    tokens = batch * (prompt if phase == "prefill" else 1)
    ctx = prompt if phase == "prefill" else context
    per_layer_linear = 4 * hidden * hidden * (kv_heads * head_dim + hidden) / hidden / 2 + 3 * hidden * inter
    params_linear = layers * per_layer_linear + vocab * hidden
    weight_bytes = params_linear * _weight_factor(linear, density or 1.0, quant) / tp
    kv_bytes = 2 * layers * kv_heads * head_dim * ctx * batch * (1 if kv_dtype == "fp8" else 2) / tp
    act_bytes = tokens * (hidden + inter) * 2 * 4
    memory = {"weights": weight_bytes, "kv_cache": kv_bytes, "activations": act_bytes, "reserve": _RESERVE}
    fits = sum(memory.values()) <= p.hbm_bytes
    bw = p.hbm_bytes_per_s * (0.8 if power_limit_w else 1.0)
    peak = p.tensor_dense_flops_per_s.get(dtype, p.tensor_dense_flops_per_s.get("fp16", 1e14)) * 0.7
    math = 2 * params_linear * tokens / tp / (peak * (2 if linear == "2:4" else 1))
    per_linear = max(weight_bytes / bw, math) / (layers * 4 + 1)
    attn = kv_bytes / bw / layers + 2 * tokens * ctx * hidden / tp / peak / layers
    elem = tokens * hidden * 2 * 3 / bw + 2e-6
    comm = 0.0 if tp == 1 else 8e-6 + tokens * hidden * 2 / 450e9
    per_layer = [("norm", "elementwise", elem), ("qkv_proj", "linear", per_linear), ("rotary", "elementwise", elem),
                 ("attention", "attention", attn), ("o_proj", "linear", per_linear)]
    if tp > 1:
        per_layer.append(("all_reduce", "communication", comm))
    per_layer += [("add", "elementwise", elem), ("norm", "elementwise", elem), ("gate_up_proj", "linear", 2 * per_linear),
                  ("silu_mul", "elementwise", elem), ("down_proj", "linear", per_linear)]
    if tp > 1:
        per_layer.append(("all_reduce", "communication", comm))
    per_layer.append(("add", "elementwise", elem))
    if mode == "compiled":  # elementwise chains fused into one kernel each
        per_layer = [op for op in per_layer if op[0] not in ("add", "rotary")]
    seq = [("embedding", "elementwise", elem)] + per_layer * layers + [("lm_head", "linear", per_linear),
                                                                      ("sampling", "elementwise", elem)]
    host_op = _HOST_PER_OP_S[mode] + (15e-6 if impl == "torch" and mode == "eager" else 0.0)
    host_t = 0.0 if mode != "cuda-graphs" else 20e-6  # one graph replay
    gpu_t = 0.0
    timeline, busy = [], {"linear": 0.0, "attention": 0.0, "elementwise": 0.0, "communication": 0.0}
    if mode == "cuda-graphs":
        timeline.append({"lane": "host", "name": "graph replay", "op_class": "host", "start_s": 0.0, "end_s": host_t})
    for name, op_class, seconds in seq:
        if host_op:
            timeline.append({"lane": "host", "name": name, "op_class": op_class, "start_s": host_t,
                             "end_s": host_t + host_op})
            host_t += host_op
        start = max(host_t, gpu_t + _GAP_S)
        gpu_t = start + seconds
        busy[op_class] += seconds
        timeline.append({"lane": "comm" if op_class == "communication" else "gpu", "name": name,
                         "op_class": op_class, "start_s": start, "end_s": gpu_t})
    time_s = gpu_t
    idle = time_s - sum(busy.values())
    ops = {}
    for name, op_class, seconds in seq:
        row = ops.setdefault(name, {"name": name, "op_class": op_class, "count": 0, "kernel_s": seconds, "launches": 0})
        row["count"] += 1
        row["launches"] += 1
    return FakeStep(time_s=time_s, tokens_per_s=tokens / time_s, tokens_per_s_per_seq=tokens / time_s / batch,
                    breakdown={**busy, "host_idle": idle}, gpu_idle_s=idle, prunable_share=busy["linear"] / time_s,
                    memory_bytes=memory, fits=fits, basis=f"fake step model on {p.name}", ops=list(ops.values()),
                    timeline=timeline)


def predict_generation(model, *, hw, batch, prompt, gen, **options):
    first = predict_step(model, hw=hw, phase="prefill", batch=batch, prompt=prompt, **options)
    step = predict_step(model, hw=hw, phase="decode", batch=batch, context=prompt + gen // 2, **options)
    return FakeGeneration(ttft_s=first.time_s, tpot_s=step.time_s, tokens_per_s=batch / step.time_s,
                          tokens_per_s_per_seq=1 / step.time_s, fits=first.fits and step.fits, basis=step.basis)


def install(monkeypatch=None) -> None:
    """Hand this fake to the study sweep (``monkeypatch``: a pytest fixture; None patches
    the module for the rest of the process, as the benchmark does)."""
    from sparsim.studies import steps

    fake = lambda: (predict_step, predict_generation)  # noqa: E731
    if monkeypatch is not None:
        monkeypatch.setattr(steps, "step_model", fake)
    else:
        steps.step_model = fake
