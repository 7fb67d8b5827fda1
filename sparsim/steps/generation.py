"""A generation request: prefill then decode steps over a growing K/V cache.

Time to first token (TTFT) is the prefill step of ``prompt`` tokens per sequence (it
samples the first token). Each of the ``gen - 1`` later tokens is one decode step whose
attention reads a cache of ``prompt + i`` tokens; a decode step's time is (nearly)
linear in its context (the K/V read grows linearly; everything else is constant), so the
mean time per output token (TPOT) is integrated with Simpson's rule over three decode
steps: the first, the middle and the last context. ``static_cache`` models
gpt-fast/torchao, whose attention covers the whole allocated cache (``prompt + gen``
tokens, masked) at every step.

Tokens per second count generated tokens over prefill + decode time, as gpt-fast's
``generate.py`` reports them (wall time of ``generate()``, prefill included).

>>> import sparsim
>>> g = sparsim.predict_generation("llama2-7b", hw="h100-sxm5-80gb", batch=1, prompt=128, gen=64, mode="cuda-graphs")
>>> g.ttft_s < g.tpot_s * 10, round(g.total_s / (g.ttft_s + 63 * g.tpot_s), 6)
(True, 1.0)
"""

from __future__ import annotations

from typing import Callable

from ..errors import check_positive_int
from .prediction import GenerationPrediction

__all__ = ["predict_generation_on"]


def predict_generation_on(step: Callable, *, model_name: str, hw: str, batch: int, prompt: int, gen: int,
                          mode: str = "eager", prefill_mode: str | None = None, tp: int = 1,
                          static_cache: bool = False) -> GenerationPrediction:
    """Compose ``step(**kwargs) -> StepPrediction`` calls into one request."""
    batch, prompt, gen = (check_positive_int("--batch", batch), check_positive_int("--prompt", prompt),
                          check_positive_int("--gen", gen))
    common = dict(model=model_name, hw=hw, batch=batch, prompt=prompt, gen=gen, mode=mode, tp=tp)
    last_context = prompt + gen
    # memory: the largest step is the last decode step (the full cache)
    biggest = step(phase="decode", batch=batch, context=last_context)
    if not biggest.fits:
        return GenerationPrediction(**common, fits=False, fit_message=biggest.fit_message, steps=(biggest,))
    prefill = step(phase="prefill", batch=batch, prompt=prompt, mode=prefill_mode or mode)
    if gen == 1:
        return GenerationPrediction(**common, fits=True, fit_message=biggest.fit_message, ttft_s=prefill.time_s,
                                    tpot_s=0.0, total_s=prefill.time_s, steps=(prefill,))
    if static_cache:
        decodes = (biggest,)
        tpot = biggest.time_s
    else:
        first, last = prompt + 1, prompt + gen - 1
        middle = step(phase="decode", batch=batch, context=(first + last) // 2)
        lo = step(phase="decode", batch=batch, context=first)
        hi = biggest if last == last_context else step(phase="decode", batch=batch, context=last)
        decodes = (lo, middle, hi)
        tpot = (lo.time_s + 4 * middle.time_s + hi.time_s) / 6
    total = prefill.time_s + (gen - 1) * tpot
    return GenerationPrediction(**common, fits=True, fit_message=biggest.fit_message, ttft_s=prefill.time_s,
                                tpot_s=tpot, total_s=total, steps=(prefill,) + decodes)
