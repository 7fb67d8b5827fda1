"""``sparsim calibrate``: measure real kernels, fit the simulator, report held-out error.

A thin call into :func:`sparsim.validate.workflow.calibrate`.
"""

from __future__ import annotations

import click

from ..errors import SparsimError, clean_text, shown

__all__ = ["calibrate"]


@click.command()
@click.option("--backend", default=None, type=click.Choice(["numpy", "cupy", "torch"]),
              help="numpy: NumPy/SciPy on this CPU (profile 'host'); cupy: cuBLAS/cuSPARSE/cuSPARSELt on the GPU; "
                   "torch: PyTorch eager calls on the GPU (implementation torch).")
@click.option("--from-results", "from_results", default=None, type=click.Path(dir_okay=False),
              help="Fit a results.jsonl measured elsewhere (e.g. on a GPU machine) instead of measuring here.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for results.jsonl and calibration.toml; an existing results.jsonl is resumed.")
@click.option("--quick", is_flag=True, help="The small sweep (numpy: under 3 minutes on 2 cores).")
@click.option("--hw", default=None,
              help="Profile to fit (default: 'host' for numpy, the GPU's built-in profile for cupy, "
                   "the results' profile for --from-results).")
@click.option("--model", default="des", show_default=True, type=click.Choice(["des", "analytic"]),
              help="Time model whose parameters are fitted.")
@click.option("--kernels", default=None, help="Comma-separated subset of dense,csr,coo,2:4 to measure.")
@click.option("--measure-only", is_flag=True, help="Measure and stop: no fit, no calibration file.")
@click.option("--no-probe", is_flag=True, help="Do not measure hardware ceilings first (keep the profile's values).")
@click.option("--accept-contended", is_flag=True,
              help="Fit and score points timed while other processes kept the CPUs busy (a busy machine).")
def calibrate(backend, from_results, out_dir, quick, hw, model, kernels, measure_only, no_probe, accept_contended):
    """Time real kernels (or read --from-results), fit the simulator on the training shapes,
    and print the error on shapes, densities and patterns the fit never saw.

    Every measurement is appended to DIR/results.jsonl as it is taken; run the same
    command again to resume after an interruption. The fit goes to DIR/calibration.toml,
    written atomically. A fit whose held-out error is worse than the datasheet-only
    prediction's goes to DIR/calibration.rejected.toml instead, and the command exits 2.

    \b
    Examples:
      sparsim calibrate --backend numpy --quick --out calib/
      sparsim calibrate --backend cupy --out calib-h100/
      sparsim calibrate --from-results h200/results.jsonl --out calib-h200/
      sparsim predict --hw host --calibration calib/calibration.toml --kernel csr \\
          --m 4096 --k 4096 --n 64 --density 0.01 --dtype fp32
    """
    # Longer than 60 lines on purpose: mostly the option checks and the printed table; the work is sparsim.validate.workflow.
    from ..validate.workflow import calibrate as run_calibration

    from ..atomic import check_path_name, prepare_out

    if backend is None and from_results is None:
        raise SparsimError("--backend: missing; allowed: numpy, cupy, torch, or --from-results FILE")
    if from_results is not None:
        check_path_name(from_results, "--from-results")
        for flag, given in (("--kernels", kernels), ("--quick", quick), ("--measure-only", measure_only)):
            if given:
                raise SparsimError(f"{flag}: got {shown(kernels) if flag == '--kernels' else 'set'} with "
                                   "--from-results; allowed: only when measuring here (--backend): "
                                   "--from-results fits every record of the file as it was measured")
    if backend is not None and from_results is None:
        from ..validate.backends import check_backend_hw

        check_backend_hw(backend, hw)
    if from_results is not None:
        from ..validate import read_results

        read_results(from_results)  # a damaged file is refused before --out is made
    # before anything is measured: a run that cannot save must fail now, not after an hour
    existed = check_path_name(out_dir, "--out").exists()
    prepare_out(out_dir, "--out", folder=True)
    if accept_contended:
        click.echo("warning: --accept-contended: points timed while other processes kept the CPUs busy are "
                   "fitted and scored; their times include that contention", err=True)
    bar = {}

    def on_start(profile, planned, done, todo):
        click.echo(clean_text(f"{backend} on {profile.display_name} (profile {profile.name}): "
                              f"{planned} points, {done} already in {out_dir}/results.jsonl"))
        if todo:
            bar["bar"] = click.progressbar(length=len(todo), label="measuring", show_pos=True,
                                           item_show_func=lambda s: s.key if s is not None else "")
            bar["bar"].__enter__()

    def on_point(spec, measurement):
        bar["bar"].current_item = spec
        bar["bar"].update(1)
        if measurement.status != "ok":
            bar.setdefault("failed", []).append(f"{spec.key}: {measurement.error}")

    chosen = [k.strip() for k in kernels.split(",")] if kernels else None
    try:
        outcome = run_calibration(out_dir=out_dir, backend=backend, from_results=from_results, quick=quick, hw=hw,
                                  model=model, kernels=chosen, probe=not no_probe,
                                  accept_contended=accept_contended, measure_only=measure_only,
                                  echo=click.echo, on_start=on_start, on_point=on_point)
    except BaseException:
        if not existed:  # a run refused before it wrote anything leaves no empty folder behind
            import contextlib
            import os

            with contextlib.suppress(OSError):
                os.rmdir(out_dir)
        raise
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    failed = bar.get("failed", [])
    for line in failed[:10]:
        click.echo(f"  failed: {line}")
    if len(failed) > 10:
        click.echo(f"  ... and {len(failed) - 10} more failed points (see {out_dir}/results.jsonl)")
    _warn_flagged(out_dir, from_results, accept_contended)
    if outcome is None:
        click.echo(f"measured; results in {out_dir}/results.jsonl")
        return
    fitted = outcome.calibrator
    click.echo(outcome.render_fit())
    click.echo(f"on {fitted.n_samples_} training points (train MAPE {fitted.fit_error_:.1%}, "
               f"datasheet-only {fitted.datasheet_fit_error_:.1%})")
    click.echo("")
    click.echo(outcome.report.render())
    click.echo("")
    click.echo(outcome.verdict())
    if not outcome.accepted:
        raise SparsimError(f"calibrate: held-out MAPE {outcome.held_out_mape:.1%} is worse than the datasheet-only "
                           f"{outcome.datasheet_mape:.1%}; wrote {outcome.rejected_path} and left "
                           f"{out_dir}/calibration.toml as it was; allowed: a fit that beats the datasheet")
    click.echo(f"wrote {outcome.path}")


def _warn_flagged(out_dir, from_results, accept_contended) -> None:
    from pathlib import Path

    from ..validate import read_results

    path = Path(from_results) if from_results else Path(out_dir) / "results.jsonl"
    if not path.exists():
        return
    flags: dict[str, int] = {}
    for m in read_results(path).ok():
        if m.get("flag") and not (accept_contended and m["flag"] == "contended"):
            flags[m["flag"]] = flags.get(m["flag"], 0) + 1
    if flags:
        what = ", ".join(f"{n} {flag}" for flag, n in sorted(flags.items()))
        click.echo(f"warning: {what} point(s) left out of the fit and the score (contended: other processes kept "
                   "the CPUs busy; throttled: GPU clocks held down); run the same command again to re-measure "
                   "them, or pass --accept-contended on a machine that is never idle", err=True)
