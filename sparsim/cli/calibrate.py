"""``sparsim calibrate``: measure real kernels, fit the simulator, report held-out error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

__all__ = ["calibrate"]


@click.command()
@click.option("--backend", required=True, type=click.Choice(["numpy", "cupy"]),
              help="numpy: NumPy/SciPy on this CPU (profile 'host'); cupy: cuBLAS/cuSPARSE/cuSPARSELt on the GPU.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for results.jsonl and calibration.toml; an existing results.jsonl is resumed.")
@click.option("--quick", is_flag=True, help="The small sweep (numpy: under 3 minutes on 2 cores).")
@click.option("--hw", default=None,
              help="Profile to fit (default: 'host' for numpy, the GPU's built-in profile for cupy).")
@click.option("--model", default="des", show_default=True, type=click.Choice(["des", "analytic"]),
              help="Time model whose parameters are fitted.")
@click.option("--kernels", default=None, help="Comma-separated subset of dense,csr,coo,2:4 to measure.")
@click.option("--measure-only", is_flag=True, help="Measure and stop: no fit, no calibration file.")
def calibrate(backend, out_dir, quick, hw, model, kernels, measure_only):
    """Time real kernels, fit the simulator on the training shapes, and print the error on
    shapes, densities and patterns the fit never saw.

    Every measurement is appended to DIR/results.jsonl as it is taken; run the same
    command again to resume after an interruption. The fit goes to DIR/calibration.toml.

    \b
    Examples:
      sparsim calibrate --backend numpy --quick --out calib/
      sparsim calibrate --backend cupy --out calib-h100/
      sparsim predict --hw host --calibration calib/calibration.toml --kernel csr \\
          --m 4096 --k 4096 --n 64 --density 0.01 --dtype fp32
    """
    from ..validate import (FULL, QUICK, Calibrator, evaluate, get_backend, plan, read_results,
                            run_sweep, usable_records)
    from ..validate.runner import pending
    from ..validate.telemetry import clocks_seen

    out = Path(out_dir)
    chosen = [k.strip() for k in kernels.split(",")] if kernels else None
    specs = plan(backend, quick=quick, kernels=chosen)
    engine = get_backend(backend, policy=QUICK if quick else FULL, hw=hw)
    try:
        profile = engine.profile()
        results_path = out / "results.jsonl"
        todo, done = pending(specs, results_path, profile.name)
        click.echo(f"{backend} on {profile.display_name} (profile {profile.name}): "
                   f"{len(specs)} points, {done} already in {results_path}")
        if todo:
            with click.progressbar(length=len(todo), label="measuring", show_pos=True,
                                   item_show_func=lambda s: s.key if s is not None else "") as bar:
                def advance(spec, measurement):
                    bar.current_item = spec
                    bar.update(1)

                summary = run_sweep(engine, specs, results_path, on_point=advance, todo=todo)
            for line in summary.errors[:10]:
                click.echo(f"  failed: {line}")
            if len(summary.errors) > 10:
                click.echo(f"  ... and {len(summary.errors) - 10} more failed points (see {results_path})")
    finally:
        engine.close()

    results = read_results(results_path)
    _warn_flagged(results)
    if measure_only:
        click.echo(f"measured; results in {results_path}")
        return
    train = usable_records(results, split="train")
    fitted = Calibrator(hw=profile, model=model).fit(train)
    report = evaluate(fitted.calibration_, results, hw=profile, model=model, split="test")
    provenance = _provenance(results, fitted, report, backend, clocks_seen)
    calibration = fitted.to_calibration(provenance)
    cal_path = calibration.save(out / "calibration.toml")
    report = dataclasses.replace(report, calibration=str(cal_path))
    click.echo(f"fitted {', '.join(f'{k}={v:.4g}' for k, v in fitted.params_.items())}")
    if fitted.at_bounds_:
        click.echo(f"at the edge of their range (not determined by these points): {', '.join(fitted.at_bounds_)}")
    click.echo(f"on {fitted.n_samples_} training points (train MAPE {fitted.fit_error_:.1%}); wrote {cal_path}")
    click.echo("")
    click.echo(report.render())


def _warn_flagged(results) -> None:
    flags: dict[str, int] = {}
    for m in results.ok():
        if m.get("flag"):
            flags[m["flag"]] = flags.get(m["flag"], 0) + 1
    if flags:
        what = ", ".join(f"{n} {flag}" for flag, n in sorted(flags.items()))
        click.echo(f"warning: {what} point(s) left out of the fit and the score (contended: other processes kept "
                   "the CPUs busy; throttled: GPU clocks held down); run the same command again to re-measure them",
                   err=True)


def _provenance(results, fitted, report, backend, clocks_seen) -> dict:
    from ..validate import usable_records

    runs = results.runs
    last = runs[-1] if runs else {}
    telemetry = [s for m in results.ok() for s in (m.get("telemetry") or [])]
    clocks = clocks_seen(telemetry) or dict(last.get("clocks") or {})
    versions = {k: str(v) for k, v in (last.get("versions") or {}).items() if v is not None}
    prov = {
        "device": str(last.get("device", "unknown")),
        "backend": backend,
        "results": str(results.path),
        "versions": versions,
        "clocks_seen": {k: v for k, v in clocks.items() if v is not None},
        "measured_from": str(min((r.get("started", "") for r in runs), default="")),
        "held_out_samples": int(len(report.points)),
        "held_out_mape": {row.kernel: round(float(row.mape), 4) for row in report.summary.itertuples()
                          if row.dtype == "all"},
        "excluded_points": len(results.measurements) - len(usable_records(results)),
    }
    if last.get("nvml"):
        prov["nvml"] = {k: v for k, v in last["nvml"].items() if v is not None}
    if last.get("profile"):
        prov["profile_values"] = {k: v for k, v in last["profile"].items() if v is not None}
    return prov
