"""Checkpoints: finished tasks are kept and reused; a changed study never reuses them."""

import pandas as pd

from sparsim.studies import parse_study, run_sweep
from sparsim.studies.checkpoint import PARTIAL_DIR, Checkpoint, task_key
from sparsim.studies.sweep import plan


def test_resumed_sweep_runs_only_the_missing_tasks_and_gives_the_same_table(tmp_path, small_data, monkeypatch):
    study = parse_study(small_data)
    whole = run_sweep(study).table
    cp = Checkpoint(tmp_path, study)
    tasks = plan(study)
    from sparsim.studies import sweep

    for task in tasks[:3]:
        cp.save(task, sweep.run_task(task))
    (cp.folder / f"{task_key(tasks[2])}.json").write_text("{cut")
    ran = []
    real = sweep.run_task
    monkeypatch.setattr("sparsim.studies.executor.run_task", lambda t: ran.append(t) or real(t))
    resumed = run_sweep(study, checkpoint=cp).table
    # tasks 0 and 1 came from disk; the damaged file of task 2 made it run again
    assert len(ran) == len(tasks) - 2 and tasks[0] not in ran and tasks[2] in ran
    pd.testing.assert_frame_equal(resumed, whole)
    assert cp.finished() == len(tasks)


def test_a_changed_study_drops_the_old_checkpoints(tmp_path, small_data):
    first = Checkpoint(tmp_path, parse_study(small_data))
    task = plan(parse_study(small_data))[0]
    from sparsim.studies.sweep import run_task

    first.save(task, run_task(task))
    small_data["sweep"]["batch_sizes"] = [1, 2]
    second = Checkpoint(tmp_path, parse_study(small_data))
    assert second.folder != first.folder and not first.folder.exists()
    assert [p.name for p in (tmp_path / PARTIAL_DIR).iterdir()] == [second.folder.name]
