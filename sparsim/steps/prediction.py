"""What a step or a generation request is predicted to cost: :class:`StepPrediction`
and :class:`GenerationPrediction`, with ``to_dict()`` for ``--json``.

Fields follow shared/DESIGN.md's contract. ``breakdown`` splits the step's time by
operator class plus ``host_idle`` (the GPU waiting for the host), so its values add up
to ``time_s``. A configuration that does not fit in memory has ``fits=False``, its
``fit_message`` ("does not fit: needs X GiB of Y GiB") and no times (``None``): it is
never silently predicted.

>>> p = StepPrediction(model="m", hw="h", phase="decode", batch=2, context=8, prompt=None, linear="dense",
...                    impl=None, quant=None, mode="eager", tp=1, dtype="fp16", fits=True, fit_message="fits",
...                    memory_bytes={"weights": 10}, memory_capacity_bytes=100, basis="datasheet only",
...                    time_s=0.01, tokens=2, breakdown={"linear": 0.008, "host_idle": 0.002})
>>> p.tokens_per_s, p.tokens_per_s_per_seq
(200.0, 100.0)
>>> p.to_dict()["memory_bytes"]
{'weights': 10}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["StepPrediction", "GenerationPrediction"]


def _plain(value):
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class StepPrediction:
    model: str
    hw: str
    phase: str
    batch: int
    context: int | None
    prompt: int | None
    linear: str
    impl: str | None
    quant: str | None
    mode: str
    tp: int
    dtype: str
    fits: bool
    fit_message: str
    memory_bytes: Mapping[str, int]
    memory_capacity_bytes: int
    basis: str
    #: seconds of one step (None when it does not fit)
    time_s: float | None = None
    #: tokens the step produces or processes, all sequences (decode: batch; prefill: batch x prompt)
    tokens: int = 0
    #: op class -> seconds: linear, attention, elementwise, communication, host_idle
    breakdown: Mapping[str, float] = field(default_factory=dict)
    gpu_idle_s: float | None = None
    host_busy_s: float | None = None
    #: "host" when the host thread was busy longer than the GPU (the launches set the pace), else "gpu"
    bound: str = ""
    #: share of the step spent in the decoder layers' linear kernels (what pruning can shrink)
    prunable_share: float | None = None
    #: per operator: name, op_class, count (per step), kernel_s (one instance), launches
    ops: tuple[Mapping[str, Any], ...] = ()
    #: one step's lanes: {lane, name, op_class, start_s, end_s}; layers 2..L summarised
    timeline: tuple[Mapping[str, Any], ...] = ()
    kernels: int = 0
    #: the largest batch that fits at this context and format (per GPU)
    max_batch: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def tokens_per_s(self) -> float | None:
        return None if not self.time_s else self.tokens / self.time_s

    @property
    def tokens_per_s_per_seq(self) -> float | None:
        return None if not self.time_s else self.tokens / self.batch / self.time_s

    def to_dict(self) -> dict[str, Any]:
        out = {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}
        out["tokens_per_s"] = self.tokens_per_s
        out["tokens_per_s_per_seq"] = self.tokens_per_s_per_seq
        return out


@dataclass(frozen=True)
class GenerationPrediction:
    """One request shape: ``batch`` sequences, ``prompt`` tokens in, ``gen`` tokens out."""

    model: str
    hw: str
    batch: int
    prompt: int
    gen: int
    mode: str
    tp: int
    fits: bool
    fit_message: str
    #: time to first token: the prefill step (it samples the first token)
    ttft_s: float | None = None
    #: mean time per output token after the first, over a context growing from prompt+1
    tpot_s: float | None = None
    #: prefill + (gen - 1) decode steps
    total_s: float | None = None
    steps: tuple[StepPrediction, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def tokens_per_s_per_seq(self) -> float | None:
        return None if not self.total_s else self.gen / self.total_s

    @property
    def tokens_per_s(self) -> float | None:
        """Generated tokens per second, all sequences (per GPU: divide by ``tp``)."""
        return None if not self.total_s else self.batch * self.gen / self.total_s

    @property
    def tokens_per_s_per_gpu(self) -> float | None:
        return None if not self.total_s else self.tokens_per_s / self.tp

    @property
    def basis(self) -> str | None:
        """Which figures the steps used (the prefill step's ``basis``); None when none ran."""
        return self.steps[0].basis if self.steps else None

    def to_dict(self) -> dict[str, Any]:
        out = {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__ if name != "steps"}
        out["steps"] = [s.to_dict() for s in self.steps]
        for name in ("tokens_per_s", "tokens_per_s_per_seq", "tokens_per_s_per_gpu", "basis"):
            out[name] = getattr(self, name)
        return out
