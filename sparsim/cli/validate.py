"""``sparsim validate``: held-out error of a calibration against a results file.

The profile is the one the calibration names (built in) or stored (a host CPU's measured
profile), never silently this machine's: see :func:`sparsim.validate.workflow.resolve_profile`.
"""

from __future__ import annotations

import json

import click

from ..errors import shown

__all__ = ["validate"]


@click.command()
@click.option("--results", "results_path", required=True, type=click.Path(dir_okay=False),
              help="results.jsonl written by 'sparsim calibrate'.")
@click.option("--calibration", required=True, type=click.Path(dir_okay=False),
              help="calibration.toml written by 'sparsim calibrate'.")
@click.option("--hw", default=None,
              help="Profile to predict on (default: the calibration's, built in or stored in it; "
                   "'host' to use this machine's measured profile instead).")
@click.option("--model", default=None, type=click.Choice(["des", "analytic"]),
              help="Time model (default: the one the calibration was fitted for).")
@click.option("--split", default="test", show_default=True, type=click.Choice(["test", "train", "all"]),
              help="Which measurements to score: the held-out ones, the fitted ones, or all.")
@click.option("--max-rows", default=60, show_default=True, type=int, help="Rows of the predicted-vs-measured table.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: per-kernel summary and every point.")
def validate(results_path, calibration, hw, model, split, max_rows, as_json):
    """Print per-kernel error (MAPE, median, worst) and predicted vs measured times for the
    measurements of RESULTS that the calibration was not fitted on.

    \b
    Example:
      sparsim validate --results calib/results.jsonl --calibration calib/calibration.toml
    """
    from ..validate import evaluate
    from ..validate.workflow import load_for_validate

    cal, results, profile = load_for_validate(calibration, results_path, hw=hw)
    model = model or str(cal.provenance.get("model", "des"))
    from ..validate.spec import check_record

    for record in results.ok():  # each field checked here, so an error names the file and record
        check_record(record, f"--results {results_path}: record {shown(record.get('key'))}")
    flags = cal.provenance.get("accepted_flags") or ()
    report = evaluate(cal, results, hw=profile, model=model, split=None if split == "all" else split,
                      include_flagged=set(flags) or False)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    click.echo(report.render(max_points=max_rows))
