"""``sparsim step`` and ``sparsim generate``: one model step, or one request, on one GPU profile.

A configuration that does not fit in the GPU's memory prints ``does not fit: needs X GiB
of Y GiB`` and exits with status 2; it is never predicted.
"""

from __future__ import annotations

import json

import click

from ..errors import SparsimError
from .format import human_bytes, human_seconds, kv_table

__all__ = ["step", "generate"]

_MODES = ("eager", "cuda-graphs", "compiled")
_LINEAR = ("dense", "2:4", "csr", "channel")
_QUANT = ("w8a16", "w4a16", "fp8", "w8a8")


def _common(f):
    opts = [
        click.option("--model", required=True, help="Built-in model (llama2-7b, llama3-8b, ...) or a path to a config.json."),
        click.option("--hw", required=True, help="Profile name (see 'sparsim hw list') or a path to a profile .toml."),
        click.option("--batch", default=1, show_default=True, type=int, help="Sequences in the batch."),
        click.option("--linear", default="dense", show_default=True, type=click.Choice(_LINEAR),
                     help="Format of every decoder-layer linear (lm_head stays dense)."),
        click.option("--density", default=None, type=float, help="Kept fraction for --linear csr/channel."),
        click.option("--impl", default=None, help="Implementation of the linears (see 'sparsim impl list')."),
        click.option("--quant", default=None, type=click.Choice(_QUANT), help="Quantization scheme of the linears."),
        click.option("--group", default=None, type=int, help="Group size for --quant w4a16 (default 128)."),
        click.option("--kv-dtype", default=None, help="K/V cache element type (default: --dtype)."),
        click.option("--mode", default="eager", show_default=True, type=click.Choice(_MODES),
                     help="eager PyTorch, CUDA-graph replay, or torch.compile (fusion + CUDA graphs)."),
        click.option("--tp", default=1, show_default=True, type=int, help="Tensor-parallel GPUs."),
        click.option("--dtype", default="fp16", show_default=True, help="Model dtype (fp16, bf16, ...)."),
        click.option("--attention", default="fused", show_default=True, type=click.Choice(("fused", "repeat-kv", "repeat-kv-math")),
                     help="fused GQA attention, gpt-fast's repeat of K/V heads before SDPA, or that with "
                          "decode on SDPA's math backend (gpt-fast/torchao)."),
        click.option("--power-limit", "power_limit_w", type=float, default=None,
                     help="Board power cap in W (nvidia-smi -pl): compute-bound kernels run at the clock it allows."),
        click.option("--host", default=None,
                     help="The machine running Python: a known host (h200-node-2026-11-29, reference-2023) or "
                          "seconds per eager kernel call (e.g. 12e-6). Default: the host the calibration was "
                          "measured on, else the published reference."),
        click.option("--calibration", type=click.Path(dir_okay=False), default=None,
                     help="Calibration TOML (default: the one shipped for the profile, if any)."),
        click.option("--datasheet", is_flag=True, help="Use datasheet figures only, not the shipped calibration."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _options(kw) -> dict:
    datasheet = kw.pop("datasheet")
    if datasheet and kw.get("calibration"):
        raise SparsimError("--datasheet: given with --calibration; allowed: one of the two")
    kw = {key: value for key, value in kw.items() if value is not None}
    if datasheet:
        kw["calibration"] = False
    return kw


@click.command()
@_common
@click.option("--phase", default="decode", show_default=True, type=click.Choice(("decode", "prefill")))
@click.option("--context", default=None, type=int,
              help="Decode: tokens in the K/V cache (default 1); prefill: tokens cached before (default 0).")
@click.option("--prompt", default=None, type=int, help="Prefill: prompt tokens per sequence (default 128).")
def step(as_json, **kw):
    """Predict one prefill or decode step of a model: time, tokens/s, breakdown, memory.

    \b
    Examples:
      sparsim step --model llama2-7b --hw a100-sxm4-80gb --batch 1 --context 512 --mode compiled
      sparsim step --model llama3-8b --hw h100-sxm5-80gb --phase prefill --prompt 2048 --linear 2:4
    """
    from ..api import predict_step

    p = predict_step(kw.pop("model"), **_options(kw))
    if not p.fits:
        raise SparsimError(_no_fit(p))
    click.echo(json.dumps(p.to_dict()) if as_json else render_step(p))


@click.command()
@_common
@click.option("--prompt", required=True, type=int, help="Prompt tokens per sequence.")
@click.option("--gen", required=True, type=int, help="Generated tokens per sequence.")
@click.option("--prefill-mode", default=None, type=click.Choice(_MODES), help="Mode of the prefill (default: --mode).")
@click.option("--static-cache", is_flag=True, help="Attend over the whole prompt+gen cache every step (gpt-fast).")
def generate(as_json, **kw):
    """Predict one request: TTFT, TPOT and tokens/s for a prompt of P tokens and G generated.

    \b
    Example:
      sparsim generate --model llama2-7b --hw a100-sxm4-80gb --prompt 128 --gen 256 --mode compiled
    """
    from ..api import predict_generation

    g = predict_generation(kw.pop("model"), **_options(kw))
    if not g.fits:
        raise SparsimError(_no_fit(g))
    click.echo(json.dumps(g.to_dict()) if as_json else render_generation(g))


def _no_fit(p) -> str:
    """The one-line error of a configuration over the GPU's memory: what it needs, on what,
    and which flags bring it down."""
    return (f"{p.fit_message} ({p.model} on {p.hw}" + (f" x{p.tp}" if p.tp > 1 else "") + f", batch {p.batch}); "
            "allowed: a configuration within the GPU's memory (a larger --tp, a smaller --batch or fewer "
            "tokens, or --quant)")


def render_step(p) -> str:
    rows = [
        ("model", f"{p.model}  {p.phase}  batch {p.batch}"
         + (f"  context {p.context}" if p.context else "  context 1 (default)" if p.phase == "decode" else "")
         + (f"  prompt {p.prompt}" if p.prompt else f"  prompt {p.tokens // p.batch} (default)"
            if p.phase == "prefill" and p.tokens else "")),
        ("hardware", f"{p.hw}" + (f" x{p.tp} (tensor parallel)" if p.tp > 1 else "")),
        ("linears", _linears(p)),
        ("mode", p.mode),
        ("figures", p.basis),
        ("host", p.notes[0] if p.notes else "-"),
        ("time per step", f"{human_seconds(p.time_s)}  ({p.bound}-bound, GPU idle {human_seconds(p.gpu_idle_s)})"),
        ("tokens/s", f"{p.tokens_per_s:,.1f} all sequences, {p.tokens_per_s_per_seq:,.1f} per sequence"),
        ("breakdown", ", ".join(f"{k} {human_seconds(v)}" for k, v in p.breakdown.items())),
        ("prunable share", f"{p.prunable_share:.1%} of the step is decoder-layer linears"),
        ("memory", f"{p.fit_message}: " + ", ".join(f"{k} {human_bytes(v)}" for k, v in p.memory_bytes.items())),
        ("max batch", f"{p.max_batch:,} sequence{'s fit' if p.max_batch != 1 else ' fits'} at this context and format"),
        ("kernels", f"{p.kernels:,} per step"),
    ]
    return kv_table(rows)


def _linears(p) -> str:
    """The ``linears`` row of a step: format, quantization, implementation, dtype."""
    return (f"{p.linear}" + (f" {p.quant}" if p.quant else "") + (f" via {p.impl}" if p.impl else "")
            + f"  {p.dtype}")


def render_generation(g) -> str:
    rows = [
        ("model", f"{g.model}  batch {g.batch}  prompt {g.prompt}  gen {g.gen}  {g.mode}"),
        ("hardware", g.hw + (f" x{g.tp}" if g.tp > 1 else "")),
        ("linears", _linears(g.steps[0])),
        ("figures", g.basis),
        ("host", g.steps[0].notes[0] if g.steps and g.steps[0].notes else "-"),
        ("TTFT", human_seconds(g.ttft_s)),
        ("TPOT", human_seconds(g.tpot_s) if g.gen > 1 else "- (--gen 1: the prefill samples the only token)"),
        ("request", human_seconds(g.total_s)),
        ("tokens/s", f"{g.tokens_per_s:,.1f} all sequences, {g.tokens_per_s_per_seq:,.1f} per sequence, "
                     f"{g.tokens_per_s_per_gpu:,.1f} per GPU"),
        ("memory", g.fit_message),
    ]
    return kv_table(rows)
