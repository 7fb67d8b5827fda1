"""Checkpoints of a running study: each finished task saved as it finishes, so a killed
study resumes where it stopped.

A study's tasks (:func:`sparsim.studies.sweep.plan`) are independent and deterministic, so
a finished task's points can be kept on disk and reused. :class:`Checkpoint` keeps them in
``OUT/.partial/<fingerprint>/``, one small JSON file per task, each written atomically
(:mod:`sparsim.atomic`). The fingerprint covers everything the numbers depend on (the
study's data, the sparsim version, and the bytes of every profile and calibration file it
reads, the measured calibrations sparsim ships included), so a changed study never reuses
stale points; older fingerprints are removed. A rerun with the same study and ``--out``
loads the finished tasks and runs only the rest;
the table it builds is the one an uninterrupted run builds, since tasks are sorted into
place afterwards. The folder is removed once the results are saved.

>>> import tempfile
>>> from sparsim.studies.spec import parse_study
>>> from sparsim.studies.sweep import plan, run_task
>>> study = parse_study({"version": 1, "model": "analytic", "sweep": {"hardware": ["l4"],
...     "formats": ["dense"], "batch_sizes": [1]}, "workloads": [{"shapes": [{"m": 64, "k": 64}]}]})
>>> task = plan(study)[0]
>>> cp = Checkpoint(tempfile.mkdtemp(), study)
>>> cp.load(task) is None
True
>>> cp.save(task, run_task(task))
>>> cp.load(task).columns["time_s"] == run_task(task).columns["time_s"]
True
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..atomic import write_text_atomic
from .steps import STEP_COLUMNS, StepTask, StepTaskResult
from .sweep import RESULT_COLUMNS, SweepTask, TaskResult

__all__ = ["Checkpoint", "PARTIAL_DIR"]

#: folder under the study's --out that holds the checkpoints of an unfinished run
PARTIAL_DIR = ".partial"


def _plain(value):
    """JSON-able Python value; floats keep every bit (json writes repr, NaN as NaN)."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def fingerprint(study) -> str:
    """Hash of everything a study's numbers depend on."""
    from ..version import __version__

    h = hashlib.sha256()
    h.update(json.dumps({"version": __version__, "study": study.to_dict()}, sort_keys=True, default=str).encode())
    from .sweep import calibrations

    shipped = [path for path, is_shipped in calibrations(study).values() if is_shipped]
    for path in list(study.calibration) + shipped + [hw for hw in study.hardware if hw.endswith(".toml")]:
        try:
            h.update(Path(path).read_bytes())
        except OSError:
            h.update(b"unreadable:" + str(path).encode())
    for workload in study.workloads:
        for layer in workload.layers:
            h.update(repr((workload.name, layer)).encode())
    for model in study.model_workloads:  # a config.json's bytes are what the steps depend on
        if model.config is not None:
            try:
                h.update(Path(model.config).read_bytes())
            except OSError:
                h.update(b"unreadable:" + model.config.encode())
    return h.hexdigest()[:20]


def task_key(task: SweepTask) -> str:
    return hashlib.sha256(repr(task).encode()).hexdigest()[:24]


class Checkpoint:
    """Finished tasks of one study, kept under ``out_dir/.partial/``."""

    def __init__(self, out_dir: str | Path, study):
        self.root = Path(out_dir) / PARTIAL_DIR
        self.folder = self.root / fingerprint(study)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.root.iterdir():  # checkpoints of another study (or version): stale
            if old != self.folder:
                shutil.rmtree(old, ignore_errors=True)

    def _path(self, task: SweepTask) -> Path:
        return self.folder / f"{task_key(task)}.json"

    def load(self, task: SweepTask | StepTask) -> TaskResult | StepTaskResult | None:
        """The saved result of ``task`` (a layer or a step task), or None if it has not
        finished (or its file is damaged: then it runs again)."""
        path = self._path(task)
        is_step = isinstance(task, StepTask)
        names = STEP_COLUMNS if is_step else RESULT_COLUMNS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["task"] != repr(task) or set(data["columns"]) != set(names):
                return None
            columns = {c: data["columns"][c] for c in names}
            skipped = [tuple(s) for s in data["skipped"]]
            if is_step:
                timelines = data["timelines"]
                if not isinstance(timelines, list) or not all(isinstance(t, dict) for t in timelines):
                    return None
                return StepTaskResult(columns=columns, skipped=skipped, timelines=timelines)
            return TaskResult(columns=columns, skipped=skipped)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, task: SweepTask | StepTask, result: TaskResult | StepTaskResult) -> None:
        data = {"task": repr(task), "columns": {c: _plain(v) for c, v in result.columns.items()},
                "skipped": _plain(result.skipped)}
        if isinstance(result, StepTaskResult):
            data["timelines"] = result.timelines
        write_text_atomic(self._path(task), json.dumps(data, allow_nan=True))

    def finished(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json"))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


