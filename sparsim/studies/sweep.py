"""The sweep plan: a study cut into independent tasks, and the function that runs one.

A study's grid is every distinct layer shape × density × format × implementation ×
hardware × dtype × batch size. The expensive part of a sparse point is its pattern
(generating it, and the pattern statistics the kernel work needs), and the pattern depends
only on (shape, density). So a :class:`SweepTask` is one (shape, density) with every
format, implementation, dtype, batch size and profile to run on it: the pattern is built
once per task, each kernel's work once per (format, dtype, batch size, way the library
stores A), and only the time model runs per (profile, implementation). Identical shapes
(Llama's 32 decoder layers) are one task; the table is expanded back to layers afterwards.

Each row names its implementation (``impl``), its software path (``path``: ``default``
for the format's default library, else the implementation; :mod:`~sparsim.studies.paths`),
the device time of the call's kernels (``kernel_s``), the host work per call
(``overhead_s``; ``time_s`` is their sum) and what the figures rest on (``basis``:
``datasheet only`` or ``calibrated on <device>, <date>``). A profile the study names no
calibration for uses the measured one sparsim ships for it, if any
(:func:`sparsim.hwprofiles.shipped_calibration`).

Tasks are plain picklable data and :func:`run_task` is a module-level function, so any
``concurrent.futures``-style executor (local processes, a Dask cluster) can run them.

>>> from sparsim.studies.spec import parse_study
>>> study = parse_study({"version": 1, "model": "analytic", "sweep": {"hardware": ["h100-sxm5-80gb"],
...     "formats": ["dense", "csr"], "densities": [0.1], "batch_sizes": [1, 64]},
...     "workloads": [{"shapes": [{"m": 256, "k": 256, "count": 3}]}]})
>>> tasks = plan(study)
>>> len(tasks), tasks[0].points  # 2 formats x (default library, torch) x 2 batch sizes
(1, 8)
>>> out = run_task(tasks[0])
>>> sorted(set(zip(out.columns["format"], out.columns["impl"], out.columns["path"]))), out.skipped
([('csr', 'cusparse', 'default'), ('csr', 'torch', 'torch'), ('dense', 'cublas', 'default'), ('dense', 'torch', 'torch')], [])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..calibration import load_calibration
from ..errors import SparsimError
from ..hwprofiles import load_profile, shipped_calibration
from ..models.limits import decide, memory_budget
from ..models.patterns import generate, pattern_options
from ..problem import Problem, call_options
from ..simulator import machine_for, predict_work
from ..simulator.roofline import math_peak
from .paths import resolve
from .spec import KernelOptions, Study

__all__ = ["SweepTask", "TaskResult", "plan", "run_task", "calibrations", "RESULT_COLUMNS", "TIME_SPLIT"]

#: "where time goes" categories every prediction's time is split into ("host": the
#: library's host work per call that the GPU waits for)
TIME_SPLIT = ("compute", "memory", "latency", "launch", "host", "other")
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
    "pattern", "density_effective", "model", "calibration", "impl", "path", "basis", "time_s", "kernel_s",
    "overhead_s", "roofline_floor_s",
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
    impls: tuple[str, ...] = ("default",)  # [sweep] impls entries (studies.paths)

    @property
    def points(self) -> int:
        pairs = sum(len(resolve(f, self.impls, _profile(hw).kind)) for hw in self.hardware for f in self.formats)
        return pairs * len(self.dtypes) * len(self.batch_sizes)

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


def calibrations(study: Study) -> dict[str, tuple[str, bool]]:
    """Profile name -> (calibration path, shipped?) of every swept profile that has one:
    the study's own, else the measured calibration sparsim ships for a built-in profile."""
    out = {}
    for path in study.calibration:
        out[load_calibration(path).hw] = (str(path), False)
    for hw in study.hardware:
        name = _profile(hw).name
        shipped = shipped_calibration(hw) if not hw.endswith(".toml") else None
        if name not in out and shipped is not None:
            out[name] = (str(shipped), True)
    return out


def plan(study: Study) -> list[SweepTask]:
    """Cut ``study`` into tasks, most expensive first."""
    cal_of = {name: path for name, (path, _) in calibrations(study).items()}
    tasks = []
    for workload in study.workloads:
        for shape_id, (m, k, n_unit, tensor) in enumerate(workload.distinct_shapes()):
            for density in study.densities:
                tasks.append(SweepTask(
                    workload=workload.name, shape_id=shape_id, m=m, k=k, n_unit=n_unit, density=density,
                    formats=study.formats, hardware=study.hardware, dtypes=study.dtypes,
                    batch_sizes=study.batch_sizes, model=study.model, seed=study.seed,
                    kernel=study.kernel, calibration=tuple(sorted(cal_of.items())),
                    tensor=tensor, weights_path=workload.weights_path, impls=study.impls,
                ))
    return sorted(tasks, key=lambda t: -t.cost)


@functools.lru_cache(maxsize=32)
def _profile(hw: str):
    return load_profile(hw)


@functools.lru_cache(maxsize=32)
def _calibration(path: str):
    return load_calibration(path)


def time_split(prediction) -> dict[str, float]:
    """Seconds of ``prediction.time_s`` per :data:`TIME_SPLIT` category.

    The host work per call (``overhead_s``) is "host"; the call's extra kernels (cuSPARSE's
    partition kernel, a memset: the kernels after the first) count as "other". The main
    kernel's time is split by its breakdown: when the model's breakdown is additive (its
    parts sum to the time) the parts are used as they are; when its parts overlap (the
    analytic model's time is launch + the largest of its math and memory terms), launch
    keeps its share and the rest goes to what bound the kernel.
    """
    split = dict.fromkeys(TIME_SPLIT, 0.0)
    host = float(getattr(prediction, "overhead_s", 0.0) or 0.0)
    kernels = getattr(prediction, "kernels", ()) or ()
    extra = float(sum(seconds for _, seconds in kernels[1:]))
    split["host"], split["other"] = host, extra
    time_s = max(prediction.time_s - host - extra, 0.0)  # the main kernel
    parts = dict.fromkeys(TIME_SPLIT, 0.0)
    for key, seconds in prediction.breakdown.items():
        if key not in ("host", "extra kernels"):
            parts[_CATEGORY.get(key, "other")] += float(seconds)
    total = sum(parts.values())
    if total > 0 and abs(total - time_s) <= 0.02 * time_s:
        parts["other"] += time_s - total
        for cat in TIME_SPLIT:
            split[cat] += parts[cat]
        return split
    launch = min(parts["launch"], time_s)
    split["launch"] += launch
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


def _work_options(task: SweepTask, call) -> tuple[tuple[str, str], ...]:
    """Index policy and B layout of one implementation's call (a study's explicit value wins)."""
    explicit = {"index_policy": task.kernel.index_policy, "b_layout": task.kernel.b_layout}
    return tuple(sorted(call_options(call, explicit).items()))


def run_task(task: SweepTask) -> TaskResult:
    """Predict every point of ``task``; points the model refuses are listed, not raised."""
    # Longer than 60 lines on purpose: the nested loop over formats, implementations, dtypes, batches and profiles of one task.
    out = TaskResult()
    col = out.columns
    cals = dict(task.calibration)
    profiles = [_profile(hw) for hw in task.hardware]
    for kernel in task.formats:
        paths = {p.name: resolve(kernel, task.impls, p.kind) for p in profiles}
        if not any(paths.values()):
            continue
        try:
            options, density = _sources(task, kernel)
        except SparsimError as exc:
            out.skipped += [(kernel, dt, p.name, b, str(exc)) for dt in task.dtypes
                            for p in profiles for _ in paths[p.name] for b in task.batch_sizes]
            continue
        for dtype in task.dtypes:
            for batch in task.batch_sizes:
                n = batch * task.n_unit
                works: dict[tuple, object] = {}  # the library's way of storing A -> work (or refusal)
                for profile in profiles:
                    cal_path = cals.get(profile.name)
                    cal = _calibration(cal_path) if cal_path else None
                    for impl, path in paths[profile.name]:
                        explicit = {key: value for key, value in (("index_policy", task.kernel.index_policy),
                                                                  ("b_layout", task.kernel.b_layout)) if value}
                        problem = Problem(kernel, m=task.m, k=task.k, n=n, dtype=dtype, density=density,
                                          pattern=task.kernel.pattern, seed=task.seed, impl=impl,
                                          options={**explicit, "group_size": task.kernel.group_size,
                                                   "block": task.kernel.block, **options})
                        try:
                            machine = machine_for(problem, profile, cal)  # checks impl, kernel, dtype
                        except SparsimError as exc:
                            out.skipped.append((kernel, dtype, profile.name, batch, str(exc)))
                            continue
                        how = _work_options(task, machine.call)
                        if how not in works:
                            # one count of the work per way the libraries store A
                            try:
                                works[how] = problem.work_for(machine)
                            except SparsimError as exc:
                                works[how] = exc
                        work = works[how]
                        if isinstance(work, SparsimError):
                            out.skipped.append((kernel, dtype, profile.name, batch, str(work)))
                            continue
                        try:
                            p = predict_work(work, machine, model=task.model, seed=task.seed)
                            peak = math_peak(work, profile)
                        except SparsimError as exc:
                            out.skipped.append((kernel, dtype, profile.name, batch, str(exc)))
                            continue
                        values = (
                            task.workload, task.shape_id, task.m, task.k, n, batch, task.density, kernel,
                            dtype, profile.name, profile.display_name, p.pattern, p.density, p.model,
                            p.calibration, p.impl or impl, path, p.basis, p.time_s, p.kernel_s, p.overhead_s,
                            p.roofline_floor_s, p.flops_useful, p.flops_executed,
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
