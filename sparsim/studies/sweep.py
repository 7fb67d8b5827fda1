"""The sweep plan: a study cut into independent tasks, and the function that runs one.

A study's grid is every distinct layer shape × density × format × hardware × dtype × batch
size. The expensive part of a sparse point is its pattern (generating it, and the pattern
statistics the kernel work needs), and the pattern depends only on (shape, density). So a
:class:`SweepTask` is one (shape, density) with every format, dtype, batch size and profile
to run on it: the pattern is built once per task, each kernel's work once per (format,
dtype, batch size), and only the time model runs per profile. Identical shapes (Llama's 32
decoder layers) are one task; the table is expanded back to layers afterwards.

Tasks are plain picklable data and :func:`run_task` is a module-level function, so any
``concurrent.futures``-style executor (local processes, a Dask cluster) can run them.

>>> from sparsim.studies.spec import parse_study
>>> study = parse_study({"version": 1, "model": "analytic", "sweep": {"hardware": ["h100-sxm5-80gb"],
...     "formats": ["dense", "csr"], "densities": [0.1], "batch_sizes": [1, 64]},
...     "workloads": [{"shapes": [{"m": 256, "k": 256, "count": 3}]}]})
>>> tasks = plan(study)
>>> len(tasks), tasks[0].points
(1, 4)
>>> out = run_task(tasks[0])
>>> sorted(set(out.columns["format"])), len(out.columns["time_s"]), out.skipped
(['csr', 'dense'], 4, [])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..calibration import load_calibration
from ..errors import SparsimError
from ..hwprofiles import load_profile
from ..models.limits import decide, memory_budget
from ..models.patterns import generate, pattern_options
from ..models.work import build_work
from ..simulator.roofline import math_peak
from .spec import KernelOptions, Study

__all__ = ["SweepTask", "TaskResult", "plan", "run_task", "RESULT_COLUMNS", "TIME_SPLIT"]

#: "where time goes" categories every prediction's time is split into
TIME_SPLIT = ("compute", "memory", "latency", "launch", "other")
#: kernels whose cost depends on where the nonzeros are (they need the pattern)
_PATTERN_KERNELS = ("coo", "csr", "bsr", "grouped")
# breakdown keys of the time models -> report category
_CATEGORY = {
    "launch": "launch",
    "compute": "compute", "math": "compute", "tensor": "compute", "vector": "compute",
    "sparse_tensor": "compute", "mma": "compute",
    "memory": "memory", "hbm": "memory", "dram": "memory", "l2": "memory", "l1": "memory",
    "gather": "memory", "shared": "memory", "bandwidth": "memory", "reduction": "memory",
    "latency": "latency", "dependent": "latency", "pointer_chase": "latency",
}

#: columns of one predicted point, in order
RESULT_COLUMNS = (
    "workload", "shape_id", "m", "k", "n", "batch", "density", "format", "dtype", "hw", "hw_display",
    "pattern", "density_effective", "model", "calibration", "time_s", "roofline_floor_s",
    "flops_useful", "flops_executed", "bytes_hbm", "bytes_l2", "bytes_values", "bytes_index",
    "bytes_b", "bytes_c", "dependent_access_depth", "dependent_accesses", "bound", "waves",
    "math", "peak_flops_per_s", "hbm_bytes_per_s",
) + tuple(f"time_{c}_s" for c in TIME_SPLIT)


@dataclass(frozen=True)
class SweepTask:
    """One (shape, density) of a study with everything to run on it."""

    workload: str
    shape_id: int
    m: int
    k: int
    n_unit: int  # N of one batch item: tokens (x out_h*out_w for convolutions)
    density: float
    formats: tuple[str, ...]
    hardware: tuple[str, ...]
    dtypes: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    model: str
    seed: int
    kernel: KernelOptions
    calibration: tuple[tuple[str, str], ...] = ()  # (profile name, calibration path)
    tensor: str | None = None
    weights_path: str | None = None

    @property
    def points(self) -> int:
        return len(self.formats) * len(self.hardware) * len(self.dtypes) * len(self.batch_sizes)

    @property
    def cost(self) -> float:
        """Rough relative cost, to start the biggest tasks first."""
        sparse = sum(f in _PATTERN_KERNELS for f in self.formats)
        return self.m * self.k * self.density * (1 + sparse * len(self.batch_sizes)) + self.points


@dataclass
class TaskResult:
    """Predicted points of one task as columns, plus the points that could not run."""

    columns: dict[str, list] = field(default_factory=lambda: {c: [] for c in RESULT_COLUMNS})
    #: (format, dtype, hw, batch, reason) of each point the model refused
    skipped: list[tuple] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.columns["time_s"])


def plan(study: Study) -> list[SweepTask]:
    """Cut ``study`` into tasks, most expensive first."""
    cal_of = {}
    for path in study.calibration:
        cal = load_calibration(path)
        cal_of[cal.hw] = path
    tasks = []
    for workload in study.workloads:
        for shape_id, (m, k, n_unit, tensor) in enumerate(workload.distinct_shapes()):
            for density in study.densities:
                tasks.append(SweepTask(
                    workload=workload.name, shape_id=shape_id, m=m, k=k, n_unit=n_unit, density=density,
                    formats=study.formats, hardware=study.hardware, dtypes=study.dtypes,
                    batch_sizes=study.batch_sizes, model=study.model, seed=study.seed,
                    kernel=study.kernel, calibration=tuple(sorted(cal_of.items())),
                    tensor=tensor, weights_path=workload.weights_path,
                ))
    return sorted(tasks, key=lambda t: -t.cost)


@functools.lru_cache(maxsize=32)
def _profile(hw: str):
    return load_profile(hw)


@functools.lru_cache(maxsize=32)
def _calibration(path: str):
    return load_calibration(path)


def _time_model(work, profile, calibration, model: str, seed: int):
    from ..simulator import predict_work

    return predict_work(work, profile, calibration, model=model, seed=seed)


def time_split(prediction) -> dict[str, float]:
    """Seconds of ``prediction.time_s`` per :data:`TIME_SPLIT` category.

    When the model's breakdown is additive (its parts sum to the time) the parts are used
    as they are. When its parts overlap (the analytic model's time is launch + the largest
    of its math and memory terms), launch keeps its share and the rest goes to what bound
    the kernel.
    """
    time_s = prediction.time_s
    parts = dict.fromkeys(TIME_SPLIT, 0.0)
    for key, seconds in prediction.breakdown.items():
        parts[_CATEGORY.get(key, "other")] += float(seconds)
    total = sum(parts.values())
    if total > 0 and abs(total - time_s) <= 0.02 * time_s:
        parts["other"] += time_s - total
        return parts
    launch = min(parts["launch"], time_s)
    split = dict.fromkeys(TIME_SPLIT, 0.0)
    split["launch"] = launch
    body = prediction.bound if prediction.bound in ("compute", "memory", "latency") else (
        "compute" if parts["compute"] >= parts["memory"] else "memory")
    split[body] += time_s - launch
    return split


def _sources(task: SweepTask, kernel: str):
    """(options for build_work, density to pass) for ``kernel`` in this task."""
    if task.weights_path is not None:
        from .weights import pruned

        return pruned(task.weights_path, task.tensor, kernel, task.density)
    if kernel in _PATTERN_KERNELS:
        options = {"block": (task.kernel.block, task.kernel.block)} if task.kernel.pattern == "block" else {}
        how = decide(task.kernel.pattern, task.m, task.k, task.density,
                     pattern_options(task.kernel.pattern, options), budget=memory_budget())
        if how == "sampled":
            # build_work samples it (and keeps the small sampled form for the next points)
            return {"pattern_options": options}, task.density
        return {"sparsity_pattern": _generated_pattern(task.kernel.pattern, task.m, task.k, task.density,
                                                       task.seed, tuple(sorted(options.items())))}, task.density
    return {}, task.density


@functools.lru_cache(maxsize=1)
def _generated_pattern(pattern, m, k, density, seed, options):
    # one pattern at a time: a task uses one, and the next task another
    return generate(pattern, m, k, density, seed=seed, **dict(options))


def run_task(task: SweepTask) -> TaskResult:
    """Predict every point of ``task``; points the model refuses are listed, not raised."""
    out = TaskResult()
    col = out.columns
    cals = dict(task.calibration)
    profiles = [_profile(hw) for hw in task.hardware]
    for kernel in task.formats:
        try:
            options, density = _sources(task, kernel)
        except SparsimError as exc:
            out.skipped += [(kernel, dt, p.name, b, str(exc)) for dt in task.dtypes
                            for p in profiles for b in task.batch_sizes]
            continue
        for dtype in task.dtypes:
            for batch in task.batch_sizes:
                n = batch * task.n_unit
                try:
                    work = build_work(
                        kernel, m=task.m, k=task.k, n=n, dtype=dtype, density=density,
                        pattern=task.kernel.pattern, seed=task.seed, index_policy=task.kernel.index_policy,
                        b_layout=task.kernel.b_layout, group_size=task.kernel.group_size,
                        block=task.kernel.block, **options)
                except SparsimError as exc:
                    out.skipped += [(kernel, dtype, p.name, batch, str(exc)) for p in profiles]
                    continue
                for profile in profiles:
                    cal_path = cals.get(profile.name)
                    cal = _calibration(cal_path) if cal_path else None
                    try:
                        p = _time_model(work, profile, cal, task.model, task.seed)
                        peak = math_peak(work, profile)
                    except SparsimError as exc:
                        out.skipped.append((kernel, dtype, profile.name, batch, str(exc)))
                        continue
                    values = (
                        task.workload, task.shape_id, task.m, task.k, n, batch, task.density, kernel,
                        dtype, profile.name, profile.display_name, p.pattern, p.density, p.model,
                        p.calibration, p.time_s, p.roofline_floor_s, p.flops_useful, p.flops_executed,
                        p.bytes_hbm, p.bytes_l2, p.bytes_values, p.bytes_index, p.bytes_b, p.bytes_c,
                        p.dependent_access_depth, p.dependent_accesses, p.bound, float(p.waves),
                        work.math, peak, profile.hbm_bytes_per_s,
                    )
                    for name, value in zip(RESULT_COLUMNS, values):
                        col[name].append(value)
                    split = time_split(p)
                    for cat in TIME_SPLIT:
                        col[f"time_{cat}_s"].append(split[cat])
    return out
