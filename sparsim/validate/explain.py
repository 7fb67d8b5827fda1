"""Explaining a measurement: a PyTorch profiler trace, matrix multiply by matrix multiply.

:func:`explain` reads a ``torch.profiler`` trace (:mod:`~sparsim.validate.trace`), finds
every matrix multiply and the kernels it ran (:mod:`~sparsim.validate.matmuls`), groups
identical calls, and for each group puts side by side the measured kernel and host time
per call, sparsim's prediction for the path that ran, the named causes of the gap and the
alternatives with their predicted gain (:mod:`~sparsim.validate.diagnose`). For the whole
trace it says where the time went (matrix multiplies by path, other kernels, GPU idle
while the host works) and replays the step with each suggested change
(:mod:`~sparsim.validate.replay`). ``hw=None`` takes the GPU from the trace's
``deviceProperties`` (name, SM count and memory matched against the built-in profiles).

>>> from sparsim.validate.trace import Trace
>>> profile_for_device({"name": "NVIDIA H200", "numSms": 132, "totalGlobalMem": 150754820096})
'h200-sxm-141gb'
>>> profile_for_device({"name": "NVIDIA A100-PG509-200", "numSms": 108, "totalGlobalMem": 42297524224})
'a100-sxm4-40gb'
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import SparsimError, shown
from .diagnose import Alternative, alternatives, causes, path_that_ran, predict_path
from .kernelnames import classify
from .matmuls import densified, find_calls, link, spec_of
from .replay import Change, Segment, gpu_busy_s, prepare, replay
from .trace import Trace, read_trace

__all__ = ["OpExplanation", "Explanation", "explain", "profile_for_device", "OP_KEYS"]

#: the keys of one entry of ``--json``'s ``ops`` list (issue 18), plus ``calls``
OP_KEYS = ("op", "kernel", "m", "k", "n", "dtype", "impl", "kernels", "measured_kernel_s", "measured_host_s",
           "predicted_kernel_s", "predicted_time_s", "causes", "alternatives", "calls")
#: segments of each timeline kept for the page
TIMELINE_SEGMENTS = 1500
#: the changes (best alternative of a group) that get a replayed step time
MAX_CHANGES = 8


@dataclass(frozen=True)
class OpExplanation:
    op: str
    kernel: str
    m: int | None
    k: int | None
    n: int | None
    dtype: str | None
    impl: str  # the sparsim implementation predicted; "unknown" when no model covers what ran
    kernels: tuple[str, ...]
    calls: int
    measured_kernel_s: float
    measured_host_s: float
    predicted_kernel_s: float | None
    predicted_time_s: float | None
    causes: tuple[str, ...]
    alternatives: tuple[tuple[str, Alternative], ...]
    library: str | None = None
    path: str = ""
    density: float | None = None
    roots: tuple[int, ...] = field(default=(), repr=False)  # the calls' operator indices in the trace

    def to_dict(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in OP_KEYS}
        out["kernels"] = list(self.kernels)
        out["causes"] = list(self.causes)
        out["alternatives"] = [{"impl": name, "predicted_time_s": a.predicted_time_s, "gain": a.gain}
                               for name, a in self.alternatives]
        return out


@dataclass(frozen=True)
class Explanation:
    source: str
    hw: str
    device: str
    basis: str
    ops: tuple[OpExplanation, ...]
    summary: Mapping[str, Any]
    changes: tuple[Mapping[str, Any], ...]
    measured_timeline: tuple[Segment, ...] = field(default=(), repr=False)
    predicted_timeline: tuple[Segment, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"trace": self.source, "hw": self.hw, "device": self.device, "basis": self.basis,
                "ops": [op.to_dict() for op in self.ops], "summary": dict(self.summary),
                "changes": [dict(c) for c in self.changes]}


def profile_for_device(props: Mapping[str, Any]) -> str | None:
    """The built-in profile of a trace's device (its ``deviceProperties``: name, SM count
    and memory), by the one device-name table (:mod:`sparsim.hwprofiles.devices`)."""
    from ..hwprofiles.devices import profile_for_device as by_name

    return by_name(str(props.get("name", "")), memory_bytes=props.get("totalGlobalMem") or None,
                   sm_count=props.get("numSms"))


def _median(values) -> float:
    return float(statistics.median(values)) if values else 0.0


def explain(trace: Trace | str | Path, *, hw=None, density: float | None = None, calibration=None) -> Explanation:
    """Explain every matrix multiply of a trace on profile ``hw`` (None: from the trace)."""
    from ..hwprofiles import load_profile
    from ..api import resolve_calibration
    from ..simulator.library import basis_of

    if not isinstance(trace, Trace):
        trace = read_trace(trace)
    device = trace.device() or {}
    if hw is None:
        hw = profile_for_device(device) if device else None
        if hw is None:
            raise SparsimError(f"--hw: not given, and the trace's device {shown(device.get('name', 'none'))} matches no "
                               "built-in profile; allowed: a profile name (sparsim hw list) or a .toml path")
    profile = load_profile(hw)
    basis = basis_of(resolve_calibration(calibration, profile))
    cc = profile.compute_capability
    linked = link(trace)
    calls = find_calls(trace, linked)
    groups = defaultdict(list)
    for call in calls:
        groups[(call.op, call.problem, call.kernel, call.library, call.names, call.alg_id, call.nnz, call.block)].append(call)
    ops, changes_by_group = [], []
    starts = [g.ts for g in trace.gpu]
    busy = [0.0]
    for g in trace.gpu:
        busy.append(busy[-1] + g.dur)
    for key, members in groups.items():
        between = float("inf")
        for a, b in zip(members, members[1:]):
            lo = bisect.bisect_right(starts, a.gpu[-1].ts)
            hi = bisect.bisect_left(starts, b.gpu[0].ts)
            between = min(between, max(busy[hi] - busy[lo], 0.0) * 1e-6)
        explained, best = _explain_group(members, profile, cc, density, calibration, between)
        explained = _with_roots(explained, tuple(c.index for c in members))
        ops.append(explained)
        if best is not None:
            changes_by_group.append((explained, best))
    ops.sort(key=lambda o: -o.measured_kernel_s * o.calls)
    return _summarize(trace, linked, profile, basis, device, ops, changes_by_group)


def _with_roots(op: OpExplanation, roots) -> OpExplanation:
    from dataclasses import replace

    return replace(op, roots=roots)


def _explain_group(members, profile, cc, density, calibration, between_s):
    call = members[0]
    kinds = [classify(g.name) for g in call.gpu]
    measured_kernel = _median([c.kernel_us * 1e-6 for c in members])
    measured_host = _median([c.dur * 1e-6 for c in members])
    p = call.problem
    ran = path_that_ran(call, kinds, cc) if p and p.dtype else None
    nnz_density = None
    if p and call.nnz:
        nnz_density = min(call.nnz / (p.m * p.k), 1.0)
    use_density = nnz_density if nnz_density is not None else density
    needs_density = spec_of(call.kernel).needs_pattern
    fallback = bool(p and p.sparse_operand and call.library == "cuBLAS" and densified(call))
    extra_causes = []
    if p is None:
        extra_causes.append("not predicted: the recorded input shapes do not give M, K and N")
    elif p.dtype is None:
        extra_causes.append("not predicted: an element type sparsim does not model")
    elif p.sparse_operand and call.library == "cuBLAS" and not fallback:
        ran = None  # cuBLAS kernels on a sparse operand with no conversion seen: which path is not known
        extra_causes.append("not predicted: a sparse operand ran cuBLAS kernels without a dense conversion in the "
                            "trace (a block-wise path sparsim has no model of)")
    density_or_1 = use_density if use_density is not None else 1.0
    pred = None
    if ran is not None and (not needs_density or use_density is not None):
        try:
            pred = predict_path(ran, p.m, p.k, p.n, p.dtype, profile, density=density_or_1, calibration=calibration)
        except SparsimError as exc:
            extra_causes.append(f"not predicted: {exc}")
            ran = None
    elif ran is not None:
        extra_causes.append("density unknown: the trace does not hold the sparse tensor's construction (its nnz); "
                            "pass --density")
    alts = {}
    if pred is not None:
        for name, spec in alternatives(call, ran, fallback):
            if spec_of(spec.kernel).needs_pattern and use_density is None:
                continue
            try:
                t = predict_path(spec, p.m, p.k, p.n, p.dtype, profile, density=density_or_1, calibration=calibration)
            except SparsimError:
                continue  # not offered for this dtype or hardware
            alts[name] = Alternative(spec.impl, t.time_s, pred.time_s / t.time_s if t.time_s > 0 else 0.0,
                                     t.kernel_s, t.host_s)
    named = causes(call, kinds, ran, pred, measured_kernel, measured_host, len(members), profile, fallback, alts,
                   between_s)
    if call.library is None:
        unknown = [g.name for g, k in zip(call.gpu, kinds) if not k.known]
        named.insert(0, f"unknown kernel{'s' if len(unknown) > 1 else ''}: {', '.join(dict.fromkeys(unknown))}; "
                        "not matched to a library, so not predicted")
    ordered = tuple(sorted(alts.items(), key=lambda item: item[1].predicted_time_s))
    best = None
    if pred is not None and ordered and ordered[0][1].gain > 1.05:
        best = (ordered[0][0], ordered[0][1], pred)
    explained = OpExplanation(
        op=call.op, kernel=call.kernel, m=p.m if p else None, k=p.k if p else None, n=p.n if p else None,
        dtype=p.dtype if p else None, impl=ran.impl if ran is not None and pred is not None else "unknown",
        kernels=call.names, calls=len(members), measured_kernel_s=measured_kernel, measured_host_s=measured_host,
        predicted_kernel_s=pred.kernel_s if pred else None, predicted_time_s=pred.time_s if pred else None,
        causes=tuple(extra_causes + named), alternatives=ordered, library=call.library,
        path=ran.label if ran is not None else "", density=use_density if needs_density else None)
    return explained, best


def _summarize(trace, linked, profile, basis, device, ops, changes_by_group) -> Explanation:
    prepared = prepare(trace)
    measured = replay(prepared, segments=TIMELINE_SEGMENTS)
    window_s = measured.step_s
    busy = gpu_busy_s(trace)
    by_path = defaultdict(float)
    for op in ops:
        by_path[op.path or f"{op.library or 'unknown'} ({op.op})"] += op.measured_kernel_s * op.calls
    other = defaultdict(float)
    for owner, g in linked.other:
        other[owner or "(no operator)"] += g.dur * 1e-6
    steps = max(len(trace.steps), 1)
    predicted_changes = {}
    for op in ops:
        if op.predicted_kernel_s is None or not op.roots:
            continue
        scale = op.predicted_kernel_s / op.measured_kernel_s if op.measured_kernel_s > 0 else 1.0
        for root in op.roots:
            predicted_changes[root] = Change(op.predicted_time_s - op.predicted_kernel_s, scale)
    predicted = replay(prepared, predicted_changes, segments=TIMELINE_SEGMENTS)
    changes, everything = [], {}
    # the changes that save the most (calls x predicted saving per call) get a replay each
    changes_by_group = sorted(changes_by_group, key=lambda c: -c[0].calls * (c[1][2].time_s - c[1][1].predicted_time_s))
    for op, (name, alt, pred) in changes_by_group[:MAX_CHANGES]:
        scale = alt.kernel_s / pred.kernel_s if pred.kernel_s > 0 else 1.0
        host = max(op.measured_host_s - (pred.host_s - alt.host_s), min(op.measured_host_s, alt.host_s))
        one = {root: Change(host, scale) for root in op.roots}
        everything.update(one)
        step = replay(prepared, one).step_s
        changes.append({"op": op.op, "m": op.m, "k": op.k, "n": op.n, "kernel": op.kernel, "path": op.path,
                        "change": name,
                        "predicted_step_s": step / steps, "gain": window_s / step if step > 0 else 0.0})
    changes.sort(key=lambda c: c["predicted_step_s"])
    if len(changes) > 1:
        step = replay(prepared, everything).step_s
        changes.append({"op": "all", "m": None, "k": None, "n": None, "kernel": "", "path": "",
                        "change": "every change above",
                        "predicted_step_s": step / steps, "gain": window_s / step if step > 0 else 0.0})
    matmul_s = sum(by_path.values())
    summary = {
        "steps": len(trace.steps), "events": trace.events,
        "measured_step_s": window_s / steps, "predicted_step_s": predicted.step_s / steps,
        "gpu_busy_s": busy / steps, "gpu_idle_s": max(window_s - busy, 0.0) / steps,
        "matmul_kernel_s": matmul_s / steps,
        "matmul_by_path_s": {k: v / steps for k, v in sorted(by_path.items(), key=lambda kv: -kv[1])},
        "other_kernels_s": sum(other.values()) / steps,
        "other_by_op_s": {k: v / steps for k, v in sorted(other.items(), key=lambda kv: -kv[1])[:12]},
    }
    return Explanation(source=trace.source, hw=profile.name, device=str(device.get("name", "")), basis=basis,
                       ops=tuple(ops), summary=summary, changes=tuple(changes),
                       measured_timeline=measured.segments, predicted_timeline=predicted.segments)
