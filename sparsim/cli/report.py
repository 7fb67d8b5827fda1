"""``sparsim report``: rebuild the HTML report from saved study results."""

from __future__ import annotations

from pathlib import Path

import click

from ..api import MODELS

__all__ = ["report"]


@click.command()
@click.argument("results", type=click.Path())
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="HTML file to write (one self-contained page, loads nothing from the network).")
@click.option("--validation", default=None, type=click.Path(dir_okay=False),
              help="JSON-lines file of measured times to show predicted vs measured.")
@click.option("--model", default=None, type=click.Choice(MODELS),
              help="Time model for re-predicting the measurements (default: the study's).")
def report(results, out_path, validation, model):
    """Rebuild the report of a study from its results (the --out folder of 'sparsim study',
    or its results.parquet / results.csv).

    \b
    Example:
      sparsim report out/llama2-7b --out llama2-7b.html
    """
    from ..atomic import check_path_name, prepare_out
    from ..reports import write_report
    from ..studies.results import load_results

    check_path_name(results, "RESULTS")
    if validation:
        check_path_name(validation, "--validation")
    prepare_out(out_path, "--out", folder=False)

    table, meta = load_results(results)
    measured = None
    if validation:
        from ..studies.measured import compare_measured, read_measured

        study = meta.get("study", {})
        calibration = {c["hw"]: c["path"] for c in meta.get("calibration") or []
                       if isinstance(c.get("path"), str) and Path(c["path"]).is_file()}
        measured = compare_measured(read_measured(validation), model=model or study.get("model", "des"),
                                    calibration=calibration, seed=study.get("seed", 0))
        say_not_compared(measured)
    path = write_report(out_path, table, meta, measured)
    click.echo(f"report: {path}")


def say_not_compared(measured) -> None:
    """One stderr line per cause of measured points the report could not compare."""
    from ..errors import clean_text

    for n in measured.attrs.get("not_compared", []):
        # hw and reason come from the measured file: escapes and bidi controls are shown, not obeyed
        click.echo(clean_text(f"not compared: {n['points']} measured {n['kernel']} point(s) on {n['hw']}: "
                              f"{n['reason']} (listed in the report)"), err=True)
