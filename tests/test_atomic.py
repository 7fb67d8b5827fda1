"""Crash-safe writes: a reader sees the old file or the new one, whole, never a torn one."""

import os

import pandas as pd
import pytest

from sparsim.atomic import TMP_PREFIX, atomic_group, atomic_path, write_text_atomic
from sparsim.errors import SparsimError
from sparsim.studies.results import load_results, save_results


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "report.html", "old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(path) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("killed")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["report.html"]


def test_new_file_gets_the_usual_mode_not_mkstemps_0600(tmp_path):
    path = write_text_atomic(tmp_path / "a.txt", "x")
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_group_renames_nothing_until_every_file_is_written(tmp_path):
    (tmp_path / "results.csv").write_text("old csv")
    (tmp_path / "results.parquet").write_bytes(b"old parquet")
    with pytest.raises(RuntimeError):
        with atomic_group() as temp:
            temp(tmp_path / "results.csv").write_text("new csv")
            raise RuntimeError("killed before the parquet was written")
    assert (tmp_path / "results.csv").read_text() == "old csv"
    assert (tmp_path / "results.parquet").read_bytes() == b"old parquet"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(TMP_PREFIX)]


def test_save_results_crashing_midway_keeps_the_previous_run(tmp_path, monkeypatch):
    save_results(pd.DataFrame({"time_s": [1.0, 2.0]}), {"study": {"name": "old"}, "rows": 2}, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what a Ctrl-C in the Parquet writer looks like

    monkeypatch.setattr("pyarrow.parquet.write_table", killed)
    with pytest.raises(KeyboardInterrupt):
        save_results(pd.DataFrame({"time_s": [3.0]}), {"study": {"name": "new"}, "rows": 1}, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    table, meta = load_results(tmp_path)
    assert list(table.time_s) == [1.0, 2.0] and meta["study"]["name"] == "old"


def test_unwritable_target_is_one_line(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SparsimError, match=r"^--out: cannot write .*file/a.txt: .*; allowed: a writable path$"):
        write_text_atomic(target / "a.txt", "y")
