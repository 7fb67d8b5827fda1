"""Dask: the same sweep code path on a dask.distributed cluster (a LocalCluster here).

Skipped when the ``dist`` extra is not installed: pip install -e '.[dist]'.
"""

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install '.[dist]')")

from sparsim.cli import main  # noqa: E402
from sparsim.studies import SerialExecutor, parse_study, run_sweep  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_dask_executor_gives_the_same_table_as_serial(cluster, small_data):
    study = parse_study(small_data)
    serial = run_sweep(study, SerialExecutor()).table
    with distributed.Client(cluster) as client:
        table = run_sweep(study, client.get_executor(pure=False)).table
    pd.testing.assert_frame_equal(serial, table)


def test_cli_scheduler_runs_on_the_cluster(cluster, tmp_path, capsys):
    code = main(["study", "--example", "bert-base", "--model", "analytic", "--out", str(tmp_path),
                 "--scheduler", cluster.scheduler_address, "--no-report"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"Dask scheduler {cluster.scheduler_address}" in err
    assert (tmp_path / "results.parquet").is_file()


def test_unreachable_scheduler_is_one_line(capsys):
    code = main(["study", "--example", "bert-base", "--out", "unused", "--scheduler", "tcp://127.0.0.1:9"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("sparsim: error: --scheduler: cannot reach 'tcp://127.0.0.1:9'") and err.count("\n") == 1
