"""``sparsim study``: run a what-if capacity study and write results and the HTML report."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import click

from ..api import MODELS

__all__ = ["study"]


@click.command()
@click.argument("study_file", required=False, type=click.Path(dir_okay=False))
@click.option("--example", default=None, metavar="NAME",
              help="Run a built-in example study instead of a file (llama2-7b, bert-base, resnet50, minilm-l6, ...).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for results.parquet, results.csv, provenance.json and report.html.")
@click.option("--jobs", default=None, type=int,
              help="Local worker processes (default: one per CPU; 1 runs in this process).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster instead, e.g. tcp://host:8786 (needs pip install 'sparsim[dist]').")
@click.option("--model", default=None, type=click.Choice(MODELS),
              help="Override the study's time model (des: discrete-event, analytic: roofline).")
@click.option("--validation", default=None, type=click.Path(dir_okay=False),
              help="JSON-lines file of measured times to show predicted vs measured (overrides the study's).")
@click.option("--no-report", is_flag=True, help="Write the results only, not report.html.")
def study(study_file, example, out_dir, jobs, scheduler, model, validation, no_report):
    """Sweep layers x formats x implementations x densities x GPUs x batch sizes of a
    study file and write the results (CSV, Parquet) and an offline HTML report.

    \b
    [sweep] impls picks the software stacks to compare (default: "default", each
    format's default library, and "torch"); see 'sparsim impl list'.

    \b
    A [[workloads]] table with model = "llama3-8b" (or config = "config.json")
    sweeps whole steps instead (phase, context/prompt/gen, modes, tp; [sweep]
    quant); the report then leads with a decision table per model.

    \b
    Examples:
      sparsim study --example llama2-7b --out out/llama2-7b
      sparsim study --example llama3-8b-decode --out out/llama3-8b-decode
      sparsim study my-study.toml --out out/my-study --jobs 4
      sparsim study big.toml --out out/big --scheduler tcp://scheduler:8786
    """
    from ..atomic import check_path_name
    from ..errors import SparsimError
    from ..studies import example_path, load_study
    from ..studies.checkpoint import Checkpoint
    from ..studies.executor import check_scheduler, default_jobs
    from ..studies.results import check_out_dir

    for label, name in (("STUDY_FILE", study_file), ("--validation", validation), ("--out", out_dir)):
        if name is not None:
            check_path_name(name, label)  # the names go into provenance.json and the report
    if (study_file is None) == (example is None):
        raise SparsimError("STUDY_FILE: give a study file or --example NAME (one of them); "
                           "allowed: e.g. 'sparsim study --example llama2-7b --out out/'")
    if jobs is not None and scheduler:
        raise SparsimError(f"--jobs: got {jobs} with --scheduler; allowed: one of --jobs, --scheduler")
    if scheduler:
        check_scheduler(scheduler)
    # every input is checked before any work: a bad flag fails in the first second
    path = example_path(example) if example else Path(study_file)
    spec = load_study(path)
    if model:
        spec = dataclasses.replace(spec, model=model)
    validation = validation or spec.validation
    records = None
    if validation and not no_report:
        from ..studies.measured import read_measured

        records = read_measured(validation)
    jobs = default_jobs() if jobs is None else jobs
    existed = Path(out_dir).exists()
    out = check_out_dir(out_dir)
    checkpoint = Checkpoint(out, spec)
    try:
        _run(spec, path, out, checkpoint, jobs, scheduler, records, no_report)
    except BaseException:
        if not existed and checkpoint.finished() == 0:  # nothing to resume: leave no empty folder behind
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run(spec, path, out, checkpoint, jobs, scheduler, records, no_report):
    from ..errors import SparsimError, clean_text
    from ..studies import open_executor, run_sweep
    from ..studies.results import provenance, save_results

    total = spec.grid_points()
    where = f"Dask scheduler {scheduler}" if scheduler else (f"{jobs} processes" if jobs > 1 else "this process")
    with open_executor(jobs=jobs, scheduler=scheduler) as executor:
        resumed = checkpoint.finished()
        click.echo(f"study {spec.name!r}: {total:,} predictions ({spec.model} model) on {where}"
                   + (f"; resuming: {resumed} finished tasks kept from the last run" if resumed else ""), err=True)
        with click.progressbar(length=total, label="sweeping", file=sys.stderr, show_pos=True,
                               show_eta=True, item_show_func=None) as bar:
            result = run_sweep(spec, executor, progress=bar.update, checkpoint=checkpoint)
    meta = provenance(spec, result, where)
    if result.table.empty:
        raise SparsimError(f"study {path}: every point was refused by the time model; allowed: a study with at "
                           f"least one runnable point (first reason: {result.skipped[0]['reason']})")
    html = None
    if not no_report:
        from ..reports import build_report

        measured = None
        if records is not None:
            from ..studies.measured import compare_measured

            measured = compare_measured(records, model=spec.model, calibration=_calibration_map(spec.calibration),
                                        seed=spec.seed)
            from .report import say_not_compared

            say_not_compared(measured)
        html = build_report(result.table, meta, measured)
    # results and report are renamed into place together: a kill leaves the last run's files whole
    paths = save_results(result.table, meta, out, report_html=html)
    checkpoint.remove()
    done = len(result.points) + (len(result.steps) if result.steps is not None else 0)
    click.echo(f"{done:,} predictions in {result.elapsed_s:.1f} s "
               f"({done / max(result.elapsed_s, 1e-9):,.0f} per second)", err=True)
    for skip in result.skipped[:5]:
        click.echo(clean_text(f"not run: {skip['format']} {skip['dtype']} on {skip['hw']} ({skip['points']} "
                              f"points): {skip['reason']}"), err=True)
    if len(result.skipped) > 5:
        click.echo(f"not run: {len(result.skipped) - 5} more reasons, listed in the report", err=True)
    click.echo(f"results: {paths['parquet']}  {paths['csv']}")
    if "report" in paths:
        click.echo(f"report:  {paths['report']}")


def _calibration_map(paths) -> dict[str, str]:
    from ..calibration import load_calibration

    return {load_calibration(p).hw: p for p in paths}
