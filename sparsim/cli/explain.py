"""``sparsim explain TRACE``: a PyTorch profiler trace, matrix multiply by matrix multiply."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..units import human_seconds

__all__ = ["explain", "render"]


@click.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--hw", default=None, help="Profile name (see 'sparsim hw list') or a .toml path; default: the GPU "
                                         "named in the trace's deviceProperties.")
@click.option("--density", type=float, default=None,
              help="Fraction of A that is nonzero, for sparse CSR/COO/BSR calls whose construction the trace "
                   "does not hold.")
@click.option("--calibration", type=click.Path(dir_okay=False), default=None,
              help="Calibration TOML (default: the one shipped for the profile, if any).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: ops, summary, changes.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML page with the trace's timeline next to the predicted one.")
def explain(trace, hw, density, calibration, as_json, html_out):
    """Explain a torch.profiler trace: for each matrix multiply, the path that ran, its
    measured and predicted time, why they differ, and what each change would gain.

    TRACE is the Chrome-trace JSON (or .json.gz) that prof.export_chrome_trace() writes,
    recorded with activities=[CPU, CUDA] and record_shapes=True.

    \b
    Examples:
      sparsim explain trace.json --hw h200-sxm-141gb
      sparsim explain trace.json.gz --json
      sparsim explain trace.json --html explain.html
    """
    from ..errors import check_density
    from ..validate.explain import explain as explain_fn

    if density is not None:
        density = check_density("--density", density)
    if hw is not None:  # refused before the trace is read: a GPU trace on a CPU profile predicts nothing
        from ..errors import SparsimError, shown
        from ..hwprofiles import load_profile

        if load_profile(hw).kind == "cpu":
            raise SparsimError(f"--hw: got {shown(hw)}, a CPU profile; allowed: a GPU profile ('sparsim hw list'): "
                               "a torch.profiler trace's matrix multiplies ran on a GPU")
    result = explain_fn(trace, hw=hw, density=density, calibration=calibration)
    if html_out:
        from ..atomic import write_text_atomic
        from ..reports.explain_page import explain_page

        write_text_atomic(Path(html_out), explain_page(result), label="--html")
    if as_json:
        click.echo(json.dumps(result.to_dict(), allow_nan=False))
        return
    click.echo(render(result))
    if html_out:
        click.echo(f"\nwrote {html_out}")


def _t(seconds) -> str:
    return "-" if seconds is None else human_seconds(seconds)


def _shape(op) -> str:
    return f"{op.m}x{op.k}x{op.n}" if op.m is not None else "?"


def render(result) -> str:
    s = result.summary
    lines = [f"trace      {Path(result.source).name}  ({s['events']:,} events, {s['steps'] or 'no'} profiler steps)",
             f"hardware   {result.hw}  (device in trace: {result.device or 'not recorded'}; {result.basis})", ""]
    header = ("op", "kernel", "MxKxN", "dtype", "impl", "calls", "kernel meas", "kernel pred", "host meas", "call pred")
    rows = [header]
    for op in result.ops:
        rows.append((op.op.replace("aten::", ""), op.kernel, _shape(op), op.dtype or "?", op.impl, str(op.calls),
                     _t(op.measured_kernel_s), _t(op.predicted_kernel_s), _t(op.measured_host_s),
                     _t(op.predicted_time_s)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {5, 6, 7, 8, 9}
    for r in rows:
        lines.append("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     .rstrip())
    lines.append("")
    for op in result.ops:
        lines.append(f"{op.op} {op.kernel} {_shape(op)} {op.dtype or '?'}: {op.path or 'no model of this path'}")
        lines.append(f"  kernels: {', '.join(op.kernels)}")
        for cause in op.causes:
            lines.append(f"  - {cause}")
        for name, alt in op.alternatives[:3]:
            lines.append(f"  > {name}: {human_seconds(alt.predicted_time_s)} per call ({alt.gain:.2f}x)")
    lines += ["", "where the time went (per step)"]
    for label, key in (("step (measured)", "measured_step_s"), ("step (predicted)", "predicted_step_s"),
                       ("GPU busy", "gpu_busy_s"), ("GPU idle (host works)", "gpu_idle_s")):
        lines.append(f"  {label:<54} {human_seconds(s[key])}")
    for path, seconds in s["matmul_by_path_s"].items():
        lines.append(f"  matmul: {path:<46} {human_seconds(seconds)}")
    lines.append(f"  {'other kernels':<54} {human_seconds(s['other_kernels_s'])}")
    if result.changes:
        lines += ["", "predicted step time with each change"]
        label = {id(c): f"{c['op']} {c['kernel']} {c['m']}x{c['k']}x{c['n']}" for c in result.changes}
        seen = [label[id(c)] for c in result.changes]
        for c in result.changes:
            what = "all of them" if c["op"] == "all" else label[id(c)]
            if c["op"] != "all" and seen.count(what) > 1 and c.get("path"):
                what += f" ({c['path']})"  # two calls of one shape on different paths: say which
            lines.append(f"  {human_seconds(c['predicted_step_s']):>10}  ({c['gain']:.2f}x)  {what}: {c['change']}")
    return "\n".join(lines)
