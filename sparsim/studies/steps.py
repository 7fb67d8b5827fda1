"""The model half of a sweep: whole steps of a model workload, cut into tasks.

A model workload (:mod:`~sparsim.studies.modelspec`) is predicted one step (or, for phase
``generate``, one request) at a time by the step model, ``sparsim.predict_step`` /
``sparsim.predict_generation``. A :class:`StepTask` is one (workload, GPU, mode, tp,
dtype, software path) with every swept batch size; :func:`run_step_task` returns one row
of :data:`STEP_COLUMNS` per batch size. A configuration that does not fit the GPU's
memory is a row with ``fits`` False (the step model says so; it is not an error); a
configuration the step model refuses (an implementation that does not run a scheme) is
listed as skipped with the step model's own reason, as the layer sweep does.

The step model is called in one place, :func:`step_point`, through :func:`step_model`,
which imports it from :mod:`sparsim.api` when first needed (so planning a study costs no
step-model import, and a test can hand in a stand-in there).

Columns of a step row: what was asked (``model_ref``: the built-in name or config path;
``phase``; ``context``/``prompt``/``gen`` where the phase has them; ``mode``; ``tp``;
``format``, ``quant``, ``density`` (the fraction of weights kept: 1 for dense, 0.5 for
2:4), ``impl`` ("" where the step model chose), ``path`` and ``series``, the path's label)
and what the step model said: ``fits``; ``time_s`` (one step; for phase generate the whole
request, ``ttft_s + gen x tpot_s``); ``tokens_per_s`` (all sequences) and
``tokens_per_s_per_seq``; ``gpu_idle_s``; ``prunable_share``; ``memory_bytes`` (the sum of
the step model's parts) against ``memory_capacity_bytes`` (the step model's figure if it
gives one, else the profile's memory per GPU); ``basis``; and ``time_<class>_s`` per op
class of the breakdown. A figure the step model does not give is NaN.

For a few points per workload the task also keeps the step's timeline (host and GPU
lanes) and its operators, which the report draws: per GPU and mode, the smallest batch
size of dense and of the first other path (:func:`plan_steps`).

>>> from sparsim.studies.spec import parse_study
>>> study = parse_study({"version": 1, "sweep": {"hardware": ["h200-sxm-141gb", "rtx-4090"],
...     "formats": ["dense", "2:4"], "batch_sizes": [1, 8, 64], "impls": ["default"]},
...     "workloads": [{"model": "llama3-8b", "context": 2048, "modes": ["eager", "cuda-graphs"]}]})
>>> tasks = plan_steps(study)
>>> len(tasks), sum(t.points for t in tasks), study.step_points()   # 2 GPUs x 2 paths x 2 modes
(8, 24, 24)
>>> [(t.hw, t.mode, t.step.label, t.timeline_batches) for t in tasks[:2]]
[('h200-sxm-141gb', 'eager', 'dense', (1,)), ('h200-sxm-141gb', 'eager', '2:4', (1,))]
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from ..errors import SparsimError
from .paths import DEFAULT_PATH, NO_QUANT, StepPath

__all__ = ["StepTask", "StepTaskResult", "STEP_COLUMNS", "STEP_CLASSES", "plan_steps", "run_step_task",
           "step_point", "step_model", "MAX_TIMELINE_EVENTS"]

#: op classes of a step's time (StepPrediction.breakdown keys)
STEP_CLASSES = ("linear", "attention", "elementwise", "communication", "host_idle")
#: columns of one predicted step (or request), in order
STEP_COLUMNS = (
    "kind", "workload", "workload_title", "model_ref", "phase", "context", "prompt", "gen", "hw", "hw_display",
    "mode", "tp", "dtype", "format", "quant", "density", "impl", "path", "series", "batch", "fits", "time_s",
    "tokens_per_s", "tokens_per_s_per_seq", "ttft_s", "tpot_s", "gpu_idle_s", "prunable_share", "memory_bytes",
    "memory_capacity_bytes", "basis",
) + tuple(f"time_{c}_s" for c in STEP_CLASSES)
#: events kept of one step's timeline (a 70B eager step has a few thousand)
MAX_TIMELINE_EVENTS = 6000
_NAN = float("nan")


@dataclass(frozen=True)
class StepTask:
    """One (model workload, GPU, mode, tp, dtype, software path) with every batch size."""

    workload: str
    title: str
    model_ref: str
    phase: str
    lengths: tuple[tuple[str, int], ...]
    hw: str
    mode: str
    tp: int
    dtype: str
    step: StepPath
    batch_sizes: tuple[int, ...]
    calibration: str | None = None  # the study's own calibration for this GPU (None: as shipped)
    kv_dtype: str | None = None
    power_limit_w: float | None = None
    #: batch sizes whose timeline and operators are kept for the report
    timeline_batches: tuple[int, ...] = ()

    @property
    def points(self) -> int:
        return len(self.batch_sizes)

    @property
    def cost(self) -> float:
        """Rough relative cost, to start the biggest tasks first (eager steps simulate
        the host's every launch)."""
        return self.points * (2.0 if self.mode == "eager" else 1.0) * self.tp


@dataclass
class StepTaskResult:
    """Predicted steps of one task as columns, the points the step model refused, and the
    timelines kept for the report."""

    columns: dict[str, list] = field(default_factory=lambda: {c: [] for c in STEP_COLUMNS})
    skipped: list[tuple] = field(default_factory=list)
    timelines: list[dict] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.columns["time_s"])


def plan_steps(study) -> list[StepTask]:
    """Cut the model workloads of ``study`` into tasks, in the study's order."""
    from .sweep import calibrations

    own = {name: path for name, (path, shipped) in calibrations(study).items() if not shipped}
    tasks = []
    for w in study.model_workloads:
        for hw in study.hardware:
            paths = study.step_paths(hw)
            shown = _timeline_paths(paths)
            for mode in w.modes:
                for tp in w.tp:
                    for dtype in study.dtypes:
                        first = tp == w.tp[0] and dtype == study.dtypes[0] and w.phase != "generate"
                        for step in paths:
                            tasks.append(StepTask(
                                workload=w.name, title=w.title, model_ref=w.ref, phase=w.phase,
                                lengths=tuple(w.lengths().items()), hw=hw, mode=mode, tp=tp, dtype=dtype,
                                step=step, batch_sizes=study.batch_sizes, calibration=own.get(_profile(hw).name),
                                kv_dtype=w.kv_dtype, power_limit_w=w.power_limit_w,
                                timeline_batches=(study.batch_sizes[0],) if first and step in shown else ()))
    return tasks


def _timeline_paths(paths) -> tuple[StepPath, ...]:
    """Dense on the default path, and the first other path: the pair a timeline compares."""
    dense = [p for p in paths if p.format == "dense" and p.quant == NO_QUANT and p.path == DEFAULT_PATH]
    other = [p for p in paths if p not in dense]
    return tuple(dense[:1] + other[:1])


@functools.lru_cache(maxsize=32)
def _profile(hw: str):
    from ..hwprofiles import load_profile

    return load_profile(hw)


def step_model():
    """``(predict_step, predict_generation)`` of :mod:`sparsim.api`, imported when first
    needed: the one place the sweep reaches the step model."""
    from .. import api

    if not hasattr(api, "predict_step"):
        raise SparsimError("workloads: model workloads need sparsim.predict_step and predict_generation, which "
                           "this sparsim does not have; allowed: layer workloads (network, shapes, weights)")
    return api.predict_step, getattr(api, "predict_generation", None)


def step_point(task: StepTask, batch: int):
    """The step model's prediction of one point of ``task``: a ``StepPrediction`` for phases
    decode and prefill, the request's generation result for phase generate."""
    predict_step, predict_generation = step_model()
    step = task.step
    options = dict(hw=task.hw, batch=batch, linear=step.format, density=step.density, impl=step.impl,
                   quant=None if step.quant == NO_QUANT else step.quant, mode=task.mode, tp=task.tp,
                   dtype=task.dtype, calibration=task.calibration)
    if task.kv_dtype is not None:
        options["kv_dtype"] = task.kv_dtype
    if task.power_limit_w is not None:
        options["power_limit_w"] = task.power_limit_w
    lengths = dict(task.lengths)
    if task.phase == "generate":
        if predict_generation is None:
            raise SparsimError(f"workloads: phase 'generate' of {task.workload} needs sparsim.predict_generation, "
                               "which this sparsim does not have; allowed: phase decode or prefill")
        return predict_generation(task.model_ref, prompt=lengths["prompt"], gen=lengths["gen"], **options)
    return predict_step(task.model_ref, phase=task.phase, **lengths, **options)


def _number(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return _NAN
    return out if math.isfinite(out) else _NAN


def _memory(prediction) -> float:
    parts = getattr(prediction, "memory_bytes", None)
    if isinstance(parts, dict):
        return float(sum(_number(v) for v in parts.values())) if parts else _NAN
    return _number(parts)


def _basis(task: StepTask, p) -> str:
    """What a row's figures rest on; an eager row adds its host's per-call figure and basis
    (sparsim.steps.hosts): the step is host-bound there."""
    basis = str(getattr(p, "basis", "") or "")
    steps = getattr(p, "steps", None)
    notes = getattr(p, "notes", None) or (steps[0].notes if steps else ())
    if task.mode == "eager" and notes:
        basis = f"{basis}; {notes[0]}" if basis else notes[0]
    return basis


def _row(task: StepTask, batch: int, p, profile) -> tuple:
    lengths = dict(task.lengths)
    breakdown = getattr(p, "breakdown", None) or {}
    if task.phase == "generate":  # one request: TTFT, then gen tokens at TPOT each
        ttft, tpot = _number(p.ttft_s), _number(p.tpot_s)
        time_s = ttft + lengths["gen"] * tpot
    else:
        ttft = tpot = _NAN
        time_s = _number(p.time_s)
    capacity = _number(getattr(p, "memory_capacity_bytes", profile.hbm_bytes))
    step = task.step
    return (
        "step", task.workload, task.title, task.model_ref, task.phase, lengths.get("context", _NAN),
        lengths.get("prompt", _NAN), lengths.get("gen", _NAN), profile.name, profile.display_name, task.mode,
        task.tp, task.dtype, step.format, step.quant, step.kept, step.impl or "", step.path, step.label, batch,
        bool(p.fits), time_s, _number(p.tokens_per_s), _number(p.tokens_per_s_per_seq), ttft, tpot,
        _number(getattr(p, "gpu_idle_s", _NAN)), _number(getattr(p, "prunable_share", _NAN)), _memory(p),
        capacity, _basis(task, p),
    ) + tuple(_number(breakdown.get(c, _NAN)) for c in STEP_CLASSES)


def _timeline(task: StepTask, batch: int, p, profile) -> dict | None:
    events = getattr(p, "timeline", None)
    if not events or not getattr(p, "fits", False):
        return None
    kept = [[str(e["lane"]), str(e["name"]), str(e.get("op_class", "")), float(e["start_s"]), float(e["end_s"])]
            for e in list(events)[:MAX_TIMELINE_EVENTS]]
    ops = [[str(o["name"]), str(o.get("op_class", "")), int(o.get("count", 1)), float(o.get("kernel_s", 0.0)),
            int(o.get("launches", 1))] for o in (getattr(p, "ops", None) or [])]
    return {"workload": task.workload, "hw": profile.name, "hw_display": profile.display_name, "mode": task.mode,
            "tp": task.tp, "dtype": task.dtype, "series": task.step.label, "batch": batch,
            "time_s": _number(p.time_s), "gpu_idle_s": _number(getattr(p, "gpu_idle_s", _NAN)),
            "events": kept, "truncated": max(0, len(events) - MAX_TIMELINE_EVENTS), "ops": ops}


def run_step_task(task: StepTask) -> StepTaskResult:
    """Predict every batch size of ``task``; points the step model refuses are listed, not raised."""
    out = StepTaskResult()
    profile = _profile(task.hw)
    for batch in task.batch_sizes:
        try:
            p = step_point(task, batch)
            values = _row(task, batch, p, profile)
        except SparsimError as exc:
            out.skipped.append((f"{task.step.label} ({task.mode}, tp {task.tp})", task.dtype, profile.name, batch,
                                str(exc)))
            continue
        for name, value in zip(STEP_COLUMNS, values):
            out.columns[name].append(value)
        if batch in task.timeline_batches:
            timeline = _timeline(task, batch, p, profile)
            if timeline is not None:
                out.timelines.append(timeline)
    return out
