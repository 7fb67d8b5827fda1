"""Predict one step of a model: operators -> kernel times -> launches -> timeline.

:func:`predict_step_on` is the engine behind ``sparsim.predict_step``: it takes a
resolved profile and calibration and the function that predicts one linear layer
(``sparsim.predict``, handed in by :mod:`sparsim.api`, so this package never imports
the API above it). Identical linear layers are predicted once per step.

In eager mode one operator's PyTorch calls form one launch item: its kernels start once
the host has made all of the operator's calls (at most one operator's host time later
than launching call by call; RMSNorm's 8 kernels, for instance, start together).

Tensor parallelism: every GPU runs the same sharded step; an all-reduce of the hidden
state follows the attention and the MLP, timed as a ring all-reduce (Patarasuk and
Yuan, "Bandwidth optimal all-reduce algorithms", JPDC 2009: each GPU sends
``2 (tp-1)/tp`` of the payload) over the profile's ``[interconnect]`` link plus its
fixed latency.

>>> import sparsim
>>> p = sparsim.predict_step("llama2-7b", hw="a100-sxm4-80gb", batch=1, context=512, mode="eager")
>>> p.bound, p.host_busy_s > p.breakdown["linear"]    # eager decode at batch 1 waits on Python
('host', True)
>>> q = sparsim.predict_step("llama2-7b", hw="a100-sxm4-80gb", batch=1, context=512, mode="cuda-graphs")
>>> q.bound, p.time_s > 1.5 * q.time_s
('gpu', True)
"""

from __future__ import annotations

import numbers

from dataclasses import replace
from typing import Callable

from ..dtypes import get_dtype
from ..errors import SparsimError, check_choice, shown
from ..models.kernels import kernel_of
from ..models.step_ops import Op, StepOps, step_ops
from ..simulator.attention import attention_time
from ..simulator.streaming import stream_machine, streaming_time
from . import sdpa_math
from .framework import MODES, host_seconds, plan_groups
from .hosts import resolve_host
from .memory import LINEAR_FORMATS, max_batch, memory_plan
from .prediction import StepPrediction
from .timeline import Launch, simulate

__all__ = ["predict_step_on", "attention_kernels_on", "allreduce_time", "ATTENTION_KINDS"]

#: how attention reads grouped K/V heads: "fused" (FlashAttention, vLLM, TensorRT-LLM read
#: each K/V head once for its query heads), "repeat-kv" (repeat_interleave copies K and V to
#: every query head, then a fused SDPA kernel reads the copies) or "repeat-kv-math" (gpt-fast
#: and torchao as they run: the copies, and decode steps under SDPA's math backend, which
#: eager mode runs kernel by kernel: steps.sdpa_math; compiled, Inductor's kernel is timed
#: as the fused one)
ATTENTION_KINDS = ("fused", "repeat-kv", "repeat-kv-math")
_KERNEL_OF = {"dense": "dense", "2:4": "2:4", "csr": "csr", "channel": "channel"}


def allreduce_time(nbytes: int, tp: int, hw) -> float:
    """Seconds of one ring all-reduce of ``nbytes`` per GPU over ``hw``'s link."""
    link = hw.interconnect
    if not link:
        raise SparsimError(f"--tp: got {tp} on {hw.name}, whose profile has no [interconnect] table; allowed: 1")
    return link["allreduce_latency_s"] + 2 * (tp - 1) / tp * nbytes / link["link_bytes_per_s"]


class _Kernels:
    """Kernel seconds of each operator on one machine (linear predictions cached by shape)."""

    def __init__(self, profile, calibration, predict, *, dtype, linear, density, impl, quant, group,
                 power_limit_w, resident, attention_kind, cache=None, host=None):
        self.profile, self.predict, self.dtype = profile, predict, dtype
        self.host = host
        self.machine = stream_machine(profile, calibration)
        self.calibration = calibration if calibration is not None else False
        self.linear, self.density, self.impl, self.quant, self.group = linear, density, impl, quant, group
        self.power_limit_w, self.resident, self.attention_kind = power_limit_w, resident, attention_kind
        self.cache: dict = {} if cache is None else cache  # shared by the steps of one request

    def linear_call(self, op: Op):
        kernel = _KERNEL_OF[self.linear] if op.prunable else "dense"
        impl = self.impl if (op.prunable or (self.linear == "dense" and self.quant is None)) else None
        key = (self.profile.name, self.dtype, self.density, self.quant, self.group, self.power_limit_w,
               kernel, op.m, op.k, op.n, impl, op.prunable)
        if key not in self.cache:
            extra = {}
            # quantized paths (issue 16): only when asked, so plain calls work everywhere; the
            # output projection stays in the model's dtype (vLLM's default; memory counts it so)
            if self.quant is not None and op.prunable:
                extra.update(quant=self.quant, group=self.group)
            if self.power_limit_w is not None:
                extra["power_limit_w"] = self.power_limit_w
            spec = kernel_of(kernel)  # a density of its own: unstructured or channel-pruned weights
            density = self.density if (spec.needs_pattern or spec.prunes_rows) and self.density is not None else 1.0
            try:
                self.cache[key] = self.predict(kernel, m=op.m, k=op.k, n=op.n, hw=self.profile, dtype=self.dtype,
                                               density=density, impl=impl, calibration=self.calibration,
                                               compare=False, **extra)
            except SparsimError as exc:  # a step's flag is --linear, not predict's --kernel
                raise SparsimError(str(exc).replace(f"--kernel: got {kernel!r}", f"--linear: got {kernel!r}")
                                   .replace(f" --kernel {kernel}", f" --linear {kernel}")) from None
        return self.cache[key]

    def batched_gemm(self, g) -> float:
        """Kernel seconds of ``g.count`` independent GEMMs, timed as one GEMM of ``count x m``
        rows: the same bytes, FLOPs and output tiles (cuBLAS's strided-batched kernels give
        each product its own tiles along a grid dimension)."""
        key = ("bmm", self.profile.name, g, self.power_limit_w)
        if key not in self.cache:
            extra = {} if self.power_limit_w is None else {"power_limit_w": self.power_limit_w}
            self.cache[key] = self.predict("dense", m=g.m * g.count, k=g.k, n=g.n, hw=self.profile, dtype=g.dtype,
                                           calibration=self.calibration, compare=False, **extra)
        return self.cache[key].kernel_s

    def stream(self, read, written, flops):
        return streaming_time(self.machine, bytes_read=read, bytes_written=written, flops=flops, resident=self.resident)

    def attention(self, op: Op, *, eager: bool = False) -> tuple[float, int]:
        """(seconds, kernels) of the attention op (fused form unless eager runs the math backend)."""
        kernels = self.attention_kernels(op.attention, eager=eager)
        return sum(s for _, s in kernels), len(kernels)

    def attention_kernels(self, work, *, eager: bool = False) -> tuple[tuple[str, float], ...]:
        """The attention op's kernels in launch order, ``(name, seconds)``: gpt-fast's two
        ``repeat_interleave`` copies of K and V (when heads are repeated), then one fused
        kernel, or in eager mode the math backend's kernels (:mod:`sdpa_math`)."""
        if self.attention_kind == "fused":
            return (("sdpa_fused", attention_time(self.machine, work, dtype=self.dtype)),)
        out: list[tuple[str, float]] = []
        if work.kv_heads != work.heads:  # one copy of K, one of V: each half of the cache
            each = self.stream(work.bytes_kv // 2, work.bytes_kv * work.heads // work.kv_heads // 2, 0)
            out += [("repeat_interleave_k", each), ("repeat_interleave_v", each)]
            work = replace(work, kv_heads=work.heads)
        if eager and self.attention_kind == "repeat-kv-math" and sdpa_math.applies(work):
            gemms = sdpa_math.batched_gemms(work)
            return tuple(out + [(name, self.batched_gemm(gemms[name]) if name in gemms else self.stream(r, w, f))
                                for name, r, w, f in sdpa_math.math_kernels(work)])
        return tuple(out + [("sdpa_fused", attention_time(self.machine, work, dtype=self.dtype))])


def _eager_launch(op: Op, kern: _Kernels, layer: int, hw, tp: int) -> Launch:
    common = dict(name=op.name, op_class=op.op_class, layer=layer)
    if op.op_class == "linear":
        p = kern.linear_call(op)
        host = host_seconds(eager_kernels=1, eager_views=op.eager_views, eager_modules=op.eager_modules,
                            library_host_s=p.overhead_s, kernel_call_s=kern.host.kernel_call_s)
        return Launch(**common, host_s=host, gpu_s=p.kernel_s, kernels=max(1, len(p.kernels)), prunable=op.prunable)
    host = host_seconds(eager_kernels=op.eager_kernels, eager_views=op.eager_views, eager_modules=op.eager_modules,
                        kernel_call_s=kern.host.kernel_call_s)
    if op.op_class == "attention":
        seconds, n = kern.attention(op, eager=True)
        work = op.attention
        repeats = 2 if kern.attention_kind != "fused" and work.kv_heads != work.heads else 0
        inner = n - repeats - 1  # kernels SDPA launches from C++ beyond its own call's one (math backend)
        copies = op.eager_kernels - repeats - 1  # the other calls copy (contiguous) the attention output
        seconds += copies * kern.stream(work.bytes_qo // 2, work.bytes_qo // 2, 0)
        host = host_seconds(eager_kernels=op.eager_kernels, eager_views=op.eager_views, eager_modules=op.eager_modules,
                            inner_kernels=inner, kernel_call_s=kern.host.kernel_call_s)
        return Launch(**common, host_s=host, gpu_s=seconds, kernels=copies + n)
    if op.op_class == "communication":
        return Launch(**common, host_s=host, gpu_s=allreduce_time(op.comm_bytes, tp, hw), lane="comm")
    each = kern.stream(op.bytes_read, op.bytes_written, op.flops / max(1, op.eager_kernels))
    return Launch(**common, host_s=host, gpu_s=op.eager_kernels * each, kernels=op.eager_kernels)


def _fused_launches(ops: tuple[Op, ...], kern: _Kernels, layer: int, hw, tp: int) -> list[Launch]:
    """torch.compile: each run of operators with one fusion label becomes one kernel;
    GEMMs, attention and all-reduces stay library kernels (attention without eager's copies)."""
    out = []
    for group in plan_groups([op.fusion for op in ops]):
        members = [ops[i] for i in group]
        first = members[0]
        if len(members) == 1 and first.op_class == "attention":
            seconds, n = kern.attention(first)
            out.append(Launch(first.name, "attention", gpu_s=seconds, kernels=n, layer=layer))
        elif len(members) == 1 and first.op_class != "elementwise":
            out.append(_eager_launch(first, kern, layer, hw, tp))
        else:
            seconds = kern.stream(sum(m.bytes_read for m in members), sum(m.bytes_written for m in members),
                                  sum(m.flops for m in members))
            out.append(Launch("+".join(m.name for m in members), "elementwise", gpu_s=seconds, layer=layer))
    return out


def _launches(ops: StepOps, kern: _Kernels, mode: str, hw) -> list[Launch]:
    """The step's launches in order: the Python loop's own calls, then the model (one
    graph replay outside eager mode), with the layer's launches repeated per layer."""
    if mode == "compiled":
        def build(seq, layer):
            return _fused_launches(seq, kern, layer, hw, ops.tp)
    else:
        def build(seq, layer):
            return [_eager_launch(op, kern, layer, hw, ops.tp) for op in seq]
    body, layer, post = build(ops.pre, -1), build(ops.layer, 0), build(ops.post, -1)
    if mode != "eager":  # captured once, replayed: no host work per operator
        body, layer, post = ([replace(i, host_s=0.0) for i in part] for part in (body, layer, post))
        body.insert(0, Launch("graph launch", "elementwise", host_s=kern.host.graph_launch_s, gpu_s=0.0, kernels=0))
    loop = [_eager_launch(op, kern, -1, hw, ops.tp) for op in ops.loop]
    layers = [replace(i, layer=n) for n in range(ops.n_layers) for i in layer]
    return loop + body + layers + post


def _op_rows(items: list[Launch], n_layers: int) -> tuple[dict, ...]:
    rows: dict[str, dict] = {}
    for item in items:
        if item.layer > 0:
            continue
        row = rows.setdefault(item.name, {"name": item.name, "op_class": item.op_class,
                                          "count": n_layers if item.layer == 0 else 1,
                                          "kernel_s": item.gpu_s, "host_s": item.host_s, "launches": item.kernels})
        row["kernel_s"] = item.gpu_s
    return tuple(rows.values())


def predict_step_on(config, profile, calibration, *, predict: Callable, model_name: str, phase: str = "decode",
                    batch: int = 1, context: int | None = None, prompt: int | None = None, linear: str = "dense",
                    density: float | None = None, impl: str | None = None, quant: str | None = None,
                    group: int | None = None, kv_dtype: str | None = None, mode: str = "eager", tp: int = 1,
                    dtype: str = "fp16", power_limit_w: float | None = None, attention: str = "fused",
                    basis: str = "datasheet only", linear_cache: dict | None = None, host=None) -> StepPrediction:
    """One step of ``config`` on ``profile``; see :func:`sparsim.predict_step`.
    ``linear_cache`` (a dict the caller owns) lets the steps of one request share their
    linear-layer predictions: keys hold every argument the prediction depends on.
    ``host``: see :func:`sparsim.steps.hosts.resolve_host`."""
    check_choice("--mode", mode, MODES)
    check_choice("--linear", linear, LINEAR_FORMATS)
    host = resolve_host(host, profile, calibration)
    check_choice("--attention", attention, ATTENTION_KINDS)
    if linear in ("csr", "channel") and density is None:
        raise SparsimError(f"--density: got None with --linear {linear}; allowed: a number in (0, 1]")
    if density is not None and (isinstance(density, bool) or not isinstance(density, numbers.Real)
                                or not 0 < density <= 1):  # also NaN
        raise SparsimError(f"--density: got {shown(density)} with --linear {linear}; allowed: a number in (0, 1]")
    if group is not None and quant is None:
        raise SparsimError(f"--group: got {group} without --quant; allowed: only with --quant w4a16")
    if density is not None and linear not in ("csr", "channel"):
        raise SparsimError(f"--density: got {density} with --linear {linear}; allowed: only with --linear csr or channel")
    dtype_bytes = get_dtype(dtype).bytes
    try:
        kv_bytes = dtype_bytes if kv_dtype is None else get_dtype(kv_dtype).bytes
    except SparsimError as exc:
        raise SparsimError(str(exc).replace("--dtype", "--kv-dtype", 1)) from None
    ops = step_ops(config, phase=phase, batch=batch, context=context, prompt=prompt, tp=tp,
                   dtype_bytes=dtype_bytes, kv_bytes=kv_bytes)
    plan = memory_plan(ops, config, capacity_bytes=profile.hbm_bytes, linear=linear, density=density, quant=quant,
                       group=group, dtype_bytes=dtype_bytes, kv_bytes=kv_bytes)
    common = dict(model=model_name, hw=profile.name, phase=phase, batch=ops.batch, context=context, prompt=prompt,
                  linear=linear, impl=impl, quant=quant, mode=mode, tp=ops.tp, dtype=dtype, fits=plan.fits,
                  fit_message=plan.message, memory_bytes=dict(plan.parts), memory_capacity_bytes=plan.capacity_bytes,
                  tokens=ops.tokens,
                  max_batch=max_batch(config, capacity_bytes=profile.hbm_bytes, phase=phase, context=context,
                                      prompt=prompt, tp=ops.tp, linear=linear, density=density, quant=quant,
                                      group=group, dtype_bytes=dtype_bytes, kv_bytes=kv_bytes))
    if not plan.fits:
        return StepPrediction(**common, basis=basis)
    kern = _Kernels(profile, calibration, predict, dtype=dtype, linear=linear, density=density, impl=impl,
                    quant=quant, group=group, power_limit_w=power_limit_w, resident=phase == "decode",
                    attention_kind=attention, cache=linear_cache, host=host)
    items = _launches(ops, kern, mode, profile)
    result = simulate(items)
    if kern.cache:
        basis = next(iter(kern.cache.values())).basis
    breakdown = {cls: s for cls, s in result.busy_by_class.items()}
    breakdown["host_idle"] = result.gpu_idle_s
    return StepPrediction(
        **common, basis=basis, time_s=result.time_s, breakdown=breakdown, gpu_idle_s=result.gpu_idle_s,
        host_busy_s=result.host_busy_s, bound="host" if result.host_busy_s > result.gpu_busy_s else "gpu",
        prunable_share=result.prunable_s / result.time_s, ops=_op_rows(items, ops.n_layers),
        timeline=result.records, kernels=result.kernels,
        notes=(host.label,),
    )


def attention_kernels_on(config, profile, calibration, *, predict: Callable, context: int, batch: int = 1,
                         dtype: str = "bf16", attention: str = "repeat-kv-math",
                         eager: bool = True) -> tuple[tuple[str, float], ...]:
    """One layer's decode attention over ``context`` cached tokens, kernel by kernel in
    launch order, ``(name, predicted seconds)``: what ``benchmarks/bench_attention.py`` sets
    beside the kernels collect.sh's ``attention`` stage measures."""
    check_choice("--attention", attention, ATTENTION_KINDS)
    dtype_bytes = get_dtype(dtype).bytes
    ops = step_ops(config, phase="decode", batch=batch, context=context, dtype_bytes=dtype_bytes,
                   kv_bytes=dtype_bytes)
    work = next(op.attention for op in ops.layer if op.op_class == "attention")
    kern = _Kernels(profile, calibration, predict, dtype=dtype, linear="dense", density=None, impl=None, quant=None,
                    group=None, power_limit_w=None, resident=True, attention_kind=attention)
    return kern.attention_kernels(work, eager=eager)
