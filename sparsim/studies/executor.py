"""Running a sweep on any ``concurrent.futures``-style executor.

One code path serves every place a sweep can run: :func:`run_sweep` only calls
``executor.submit(run_task, task)`` and waits on the returned
:class:`concurrent.futures.Future` objects. :func:`open_executor` gives

* ``jobs=1``: :class:`SerialExecutor`, in this process (no start-up cost, easy to debug);
* ``jobs=N``: a :class:`~concurrent.futures.ProcessPoolExecutor` of N local processes;
* ``scheduler="tcp://host:8786"``: a Dask cluster through ``Client.get_executor()``, whose
  futures are ``concurrent.futures`` futures too (needs the ``dist`` extra:
  ``pip install 'sparsim[dist]'``).

At most ``window`` tasks are in flight at once, so memory stays bounded and the progress
callback moves as tasks finish, in serial runs too. Given a
:class:`~sparsim.studies.checkpoint.Checkpoint`, each task is saved as it finishes and
tasks saved by an earlier, killed run are not run again. Local worker processes die with
their parent (``PR_SET_PDEATHSIG`` on Linux, and a watch on the parent's pid everywhere),
so a killed study leaves no orphaned workers behind.

>>> from sparsim.studies.spec import parse_study
>>> study = parse_study({"version": 1, "model": "analytic", "sweep": {"hardware": ["l4"],
...     "formats": ["dense", "2:4"], "batch_sizes": [1, 8]},
...     "workloads": [{"network": "bert-base"}]})
>>> with open_executor(jobs=1) as ex:
...     result = run_sweep(study, ex)
>>> len(result.points), len(result.table)  # 3 distinct shapes x 2 formats x (library, torch) x 2 batch sizes
(24, 56)
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pandas as pd

from ..errors import SparsimError, shown
from .spec import Study
from .steps import STEP_COLUMNS, StepTask, StepTaskResult, plan_steps, run_step_task
from .sweep import RESULT_COLUMNS, TaskResult, plan, run_task

__all__ = ["SerialExecutor", "open_executor", "run_sweep", "SweepResult", "expand_layers", "check_scheduler"]


class SerialExecutor(Executor):
    """Runs each task when it is submitted, in this process.

    A task runs inside ``submit``, so :func:`run_sweep` keeps one in flight
    (``max_in_flight``): each is checkpointed as it finishes, and Ctrl-C (which is never
    stored in a future) stops the sweep within the task it interrupts.
    """

    #: tasks run_sweep submits before it collects (and checkpoints) the first
    max_in_flight = 1

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed to the caller through the future, like a pool
            future.set_exception(exc)
        return future


#: what --scheduler accepts: [tcp|tls|ws|wss://]host:port
_SCHEDULER = re.compile(r"^(?:(?:tcp|tls|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
                        r":(?P<port>[0-9]{1,5})$")
#: seconds to wait for a Dask scheduler before giving up
SCHEDULER_TIMEOUT_S = 5
#: most local worker processes
MAX_JOBS = 1024


def check_scheduler(address) -> str:
    """Return ``address`` if it is a Dask scheduler address, else raise (before connecting)."""
    allowed = "a Dask scheduler address [tcp://]HOST:PORT, e.g. tcp://scheduler:8786"
    match = _SCHEDULER.match(address) if isinstance(address, str) else None
    if match is None or not 0 < int(match["port"]) < 65536:
        raise SparsimError(f"--scheduler: got {shown(address)}; allowed: {allowed}")
    return address


@contextlib.contextmanager
def open_executor(jobs: int = 1, scheduler: str | None = None) -> Iterator[Executor]:
    """The executor a sweep runs on: serial, local processes, or a Dask cluster."""
    if scheduler:
        check_scheduler(scheduler)
        try:
            from dask.distributed import Client
        except ImportError:
            raise SparsimError(
                f"--scheduler: got {shown(scheduler)} but dask.distributed is not installed; "
                "allowed: after pip install 'sparsim[dist]'"
            ) from None
        try:
            client = Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
        except Exception as exc:  # OSError, TimeoutError, ValueError: whatever dask raises, one line
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise SparsimError(f"--scheduler: cannot reach {shown(scheduler)} within {SCHEDULER_TIMEOUT_S} s "
                               f"({reason}); allowed: the address of a running Dask scheduler, "
                               "e.g. tcp://host:8786") from None
        with client:
            yield client.get_executor(pure=False)
        return
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise SparsimError(f"--jobs: got {shown(jobs)}; allowed: a whole number in [1, {MAX_JOBS}]")
    if jobs == 1:
        yield SerialExecutor()
        return
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        # an interrupted sweep: do not wait for queued tasks, stop the workers now
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()
        raise
    pool.shutdown(wait=True)


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this process when the study's process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch():  # everywhere (and in case the forking thread, not the process, ends)
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="sparsim-parent-watch", daemon=True).start()


@dataclass
class SweepResult:
    """What a sweep produced: one row per predicted point, one row per layer, and the
    points the models refused (with why).

    A study with model workloads also has ``steps`` (one row per predicted step,
    :data:`~sparsim.studies.steps.STEP_COLUMNS`) and the ``timelines`` kept for the
    report; its ``table`` is the layer rows and the step rows together, told apart by
    the ``kind`` column ("layer" or "step"). A layer-only study's table has no ``kind``."""

    points: pd.DataFrame
    table: pd.DataFrame
    skipped: list[dict] = field(default_factory=list)
    elapsed_s: float = 0.0
    tasks: int = 0
    steps: pd.DataFrame | None = None
    timelines: list[dict] = field(default_factory=list)


def run_sweep(
    study: Study,
    executor: Executor | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    window: int = 64,
    checkpoint=None,
) -> SweepResult:
    """Run every task of ``study`` on ``executor`` (serial if None); ``progress(points)``
    is called as each task finishes with the number of points it held. With
    ``checkpoint`` (a :class:`~sparsim.studies.checkpoint.Checkpoint`), finished tasks
    are saved as they finish and tasks already saved are loaded instead of run."""
    # Longer than 60 lines on purpose: submit, checkpoint and collect in one loop, so a kill between them cannot lose a finished task.
    start = time.perf_counter()
    tasks = plan(study) + (plan_steps(study) if study.model_workloads else [])
    executor = executor or SerialExecutor()
    results: list[TaskResult] = []
    pending: set[Future] = set()
    sizes: dict[Future, int] = {}
    owner: dict[Future, object] = {}
    todo = []
    for task in tasks:
        saved = checkpoint.load(task) if checkpoint is not None else None
        if saved is None:
            todo.append(task)
            continue
        results.append(saved)
        if progress is not None:
            progress(task.points)
    queue = iter(todo)
    window = min(window, getattr(executor, "max_in_flight", window))
    try:
        while True:
            while len(pending) < window:
                task = next(queue, None)
                if task is None:
                    break
                future = executor.submit(run_step_task if isinstance(task, StepTask) else run_task, task)
                sizes[future] = task.points
                owner[future] = task
                pending.add(future)
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                if checkpoint is not None:
                    checkpoint.save(owner[future], result)
                del owner[future]
                results.append(result)
                if progress is not None:
                    progress(sizes.pop(future))
    except BaseException:
        for future in pending:
            future.cancel()
        raise

    columns = {name: [] for name in RESULT_COLUMNS}
    step_columns = {name: [] for name in STEP_COLUMNS}
    timelines: list[dict] = []
    skipped: dict[tuple, int] = {}
    for result in results:
        if isinstance(result, StepTaskResult):
            for name in STEP_COLUMNS:
                step_columns[name].extend(result.columns[name])
            timelines += result.timelines
        else:
            for name in RESULT_COLUMNS:
                columns[name].extend(result.columns[name])
        for kernel, dtype, hw, batch, reason in result.skipped:
            key = (kernel, dtype, hw, reason)
            skipped[key] = skipped.get(key, 0) + 1
    points = pd.DataFrame(columns)
    sort = ["workload", "shape_id", "hw", "dtype", "format", "path", "batch", "density"]
    points = points.sort_values(sort, kind="stable").reset_index(drop=True)
    # a model-only study has no layers to expand (its empty points have no workload keys)
    table = expand_layers(study, points) if len(points) or not study.model_workloads else pd.DataFrame()
    steps = None
    if study.model_workloads:
        steps = sort_steps(study, pd.DataFrame(step_columns))
        timelines = sorted(timelines, key=_timeline_order(study))
        table = pd.concat([table.assign(kind="layer"), steps], ignore_index=True) if len(table) else steps
    return SweepResult(
        points=points, table=table, steps=steps, timelines=timelines,
        skipped=[{"format": k, "dtype": d, "hw": h, "reason": r, "points": n}
                 for (k, d, h, r), n in sorted(skipped.items())],
        elapsed_s=time.perf_counter() - start, tasks=len(tasks),
    )


def sort_steps(study: Study, steps: pd.DataFrame) -> pd.DataFrame:
    """Step rows in the study's order (workload, GPU, mode, tp, dtype, path, batch), the
    order an uninterrupted serial run gives, whatever order tasks finished in."""
    if steps.empty:
        return steps
    order = {
        "workload": [w.name for w in study.model_workloads],
        "hw": [_profile_name(hw) for hw in study.hardware],
        "mode": list(dict.fromkeys(m for w in study.model_workloads for m in w.modes)),
        "series": list(dict.fromkeys(p.label for hw in study.hardware for p in study.step_paths(hw))),
    }
    keys = {col: steps[col].map({v: i for i, v in enumerate(values)}) for col, values in order.items()}
    ranked = steps.assign(**{f"_{c}": k for c, k in keys.items()})
    ranked = ranked.sort_values(["_workload", "_hw", "_mode", "tp", "dtype", "_series", "batch"], kind="stable")
    return ranked.drop(columns=[f"_{c}" for c in keys]).reset_index(drop=True)


def _timeline_order(study: Study):
    """Sort key of kept timelines: workload, GPU, mode and path in the study's order."""
    workloads = {w.name: (i, w.modes) for i, w in enumerate(study.model_workloads)}
    hws = {_profile_name(hw): i for i, hw in enumerate(study.hardware)}
    series = {p.label: i for i, p in enumerate(p for hw in study.hardware for p in study.step_paths(hw))}

    def key(t):
        index, modes = workloads.get(t["workload"], (len(workloads), ()))
        mode = modes.index(t["mode"]) if t["mode"] in modes else len(modes)
        return index, hws.get(t["hw"], len(hws)), mode, t.get("tp", 1), series.get(t["series"], len(series))
    return key


def _profile_name(hw: str) -> str:
    from .steps import _profile

    return _profile(hw).name


def expand_layers(study: Study, points: pd.DataFrame) -> pd.DataFrame:
    """One row per (layer, point): the distinct-shape predictions joined back onto every
    layer that has that shape, with the layer's repeat count."""
    rows = []
    for workload in study.workloads:
        keys = list(workload.distinct_shapes())
        for order, layer in enumerate(workload.layers):
            key = (layer.m, layer.k, workload.tokens * layer.n_per_sample,
                   layer.tensor if workload.weights_path else None)
            rows.append((workload.name, workload.title, keys.index(key), order, layer.name, layer.count, layer.kind))
    layers = pd.DataFrame(rows, columns=["workload", "workload_title", "shape_id", "layer_order", "layer",
                                         "layer_count", "layer_kind"])
    table = layers.merge(points, on=["workload", "shape_id"], how="inner")
    front = ["workload", "workload_title", "layer_order", "layer", "layer_count", "layer_kind"]
    return table[front + [c for c in points.columns if c not in front]].reset_index(drop=True)


def default_jobs() -> int:
    """Local processes to use when the user does not say: one per CPU."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
