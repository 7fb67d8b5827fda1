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
callback moves as tasks finish, in serial runs too.

>>> from sparsim.studies.spec import parse_study
>>> study = parse_study({"version": 1, "model": "analytic", "sweep": {"hardware": ["l4"],
...     "formats": ["dense", "2:4"], "batch_sizes": [1, 8]},
...     "workloads": [{"network": "bert-base"}]})
>>> with open_executor(jobs=1) as ex:
...     result = run_sweep(study, ex)
>>> len(result.points), len(result.table)  # 3 distinct shapes predicted, 7 layers reported
(12, 28)
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pandas as pd

from ..errors import SparsimError
from .spec import Study
from .sweep import RESULT_COLUMNS, TaskResult, plan, run_task

__all__ = ["SerialExecutor", "open_executor", "run_sweep", "SweepResult", "expand_layers"]


class SerialExecutor(Executor):
    """Runs each task when it is submitted, in this process."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, like a pool
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def open_executor(jobs: int = 1, scheduler: str | None = None) -> Iterator[Executor]:
    """The executor a sweep runs on: serial, local processes, or a Dask cluster."""
    if scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise SparsimError(
                f"--scheduler: got {scheduler!r} but dask.distributed is not installed; "
                "allowed: after pip install 'sparsim[dist]'"
            ) from None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise SparsimError(f"--scheduler: cannot reach {scheduler!r} ({' '.join(str(exc).split())}); "
                               "allowed: the address of a running Dask scheduler, e.g. tcp://host:8786") from None
        with client:
            yield client.get_executor(pure=False)
        return
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SparsimError(f"--jobs: got {jobs!r}; allowed: a whole number >= 1")
    if jobs == 1:
        yield SerialExecutor()
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield pool


@dataclass
class SweepResult:
    """What a sweep produced: one row per predicted point, one row per layer, and the
    points the models refused (with why)."""

    points: pd.DataFrame
    table: pd.DataFrame
    skipped: list[dict] = field(default_factory=list)
    elapsed_s: float = 0.0
    tasks: int = 0


def run_sweep(
    study: Study,
    executor: Executor | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    window: int = 64,
) -> SweepResult:
    """Run every task of ``study`` on ``executor`` (serial if None); ``progress(points)``
    is called as each task finishes with the number of points it held."""
    start = time.perf_counter()
    tasks = plan(study)
    executor = executor or SerialExecutor()
    results: list[TaskResult] = []
    pending: set[Future] = set()
    sizes: dict[Future, int] = {}
    queue = iter(tasks)
    try:
        while True:
            while len(pending) < window:
                task = next(queue, None)
                if task is None:
                    break
                future = executor.submit(run_task, task)
                sizes[future] = task.points
                pending.add(future)
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results.append(future.result())
                if progress is not None:
                    progress(sizes.pop(future))
    except BaseException:
        for future in pending:
            future.cancel()
        raise

    columns = {name: [] for name in RESULT_COLUMNS}
    skipped: dict[tuple, int] = {}
    for result in results:
        for name in RESULT_COLUMNS:
            columns[name].extend(result.columns[name])
        for kernel, dtype, hw, batch, reason in result.skipped:
            key = (kernel, dtype, hw, reason)
            skipped[key] = skipped.get(key, 0) + 1
    points = pd.DataFrame(columns)
    sort = ["workload", "shape_id", "hw", "dtype", "format", "batch", "density"]
    points = points.sort_values(sort, kind="stable").reset_index(drop=True)
    return SweepResult(
        points=points, table=expand_layers(study, points),
        skipped=[{"format": k, "dtype": d, "hw": h, "reason": r, "points": n}
                 for (k, d, h, r), n in sorted(skipped.items())],
        elapsed_s=time.perf_counter() - start, tasks=len(tasks),
    )


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
