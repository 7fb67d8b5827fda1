"""Running a sweep: measure each spec once, append it to the results file, resume after a stop.

A results file belongs to one profile: resuming a sweep measured on another machine is
refused. Points already on disk (timed or failed) are skipped, except flagged ones
(throttled or contended), which are measured again; so ``sparsim calibrate``
run twice with the same ``--out`` measures only what is missing. An interrupt
(``KeyboardInterrupt``) propagates: everything written before it is already durable.

>>> from sparsim.validate.backends.numpy_backend import NumpyBackend   # doctest: +SKIP
>>> summary = run_sweep(NumpyBackend(), plan("numpy", quick=True), "out/results.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import SparsimError
from .backends.base import Backend, Measurement, now_iso
from .results import ResultsWriter, read_results
from .spec import MeasureSpec

__all__ = ["run_sweep", "SweepSummary", "pending"]


@dataclass
class SweepSummary:
    path: Path
    planned: int
    skipped: int  # already on disk
    measured: int = 0
    errors: list[str] = field(default_factory=list)  # "key: error" of points that failed now


def pending(specs: list[MeasureSpec], path: str | Path, hw: str,
            accept_flags=()) -> tuple[list[MeasureSpec], int]:
    """(specs still to measure, how many are already on disk); checks the file first.
    Points flagged with one of ``accept_flags`` (``"contended"`` under
    ``--accept-contended``) count as done."""
    existing = read_results(path, missing_ok=True)
    other = existing.hw_names() - {hw}
    if other:
        raise SparsimError(
            f"results {path}: measured for profile {sorted(other)[0]!r}, this run is {hw!r}; "
            "allowed: the same device, or another --out directory"
        )
    # flagged points (throttled, contended) are measured again; failed ones are not
    done = {m["key"] for m in existing.measurements if not m.get("flag") or m.get("flag") in accept_flags}
    todo = [s for s in specs if s.key not in done]
    return todo, len(specs) - len(todo)


def run_sweep(backend: Backend, specs: list[MeasureSpec], path: str | Path,
              on_point: Callable[[MeasureSpec, Measurement], None] | None = None,
              todo: list[MeasureSpec] | None = None) -> SweepSummary:
    """Measure every spec not yet in ``path``; each measurement is on disk when it returns."""
    path = Path(path)
    hw = backend.profile().name
    if todo is None:
        todo, skipped = pending(specs, path, hw)
    else:
        skipped = len(specs) - len(todo)
    summary = SweepSummary(path=path, planned=len(specs), skipped=skipped)
    if not todo:
        return summary
    with ResultsWriter(path) as out:
        out.write({"type": "run", "started": now_iso(), "planned": len(specs), "already_done": skipped,
                   **backend.describe()})
        for spec in todo:
            measurement = backend.run(spec)
            out.write(measurement.to_record())
            summary.measured += 1
            if measurement.status != "ok":
                summary.errors.append(f"{spec.key}: {measurement.error}")
            if on_point is not None:
                on_point(spec, measurement)
    return summary
