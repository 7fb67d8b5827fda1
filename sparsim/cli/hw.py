"""``sparsim hw``: list the built-in hardware profiles and show one with its sources.

``hw show NAME`` prints every number in human units (GiB, TB/s, ns, TFLOP/s) with its
source, then a legend of the short source tags (``[H100-WP]`` ...) the profile file
defines in its header. With ``--calibration FILE`` a column of measured values (the
calibration's ``[measured]`` table, written by ``sparsim probe``) sits beside the
datasheet, with their ratio.
"""

from __future__ import annotations

import difflib
import json
import re
from importlib import resources
from pathlib import Path

import click

from ..errors import SparsimError
from ..hwprofiles import list_profiles, load_profile
from ..hwprofiles.measured import MEASURED_KEYS, profile_key
from .format import human_bytes, human_seconds, kv_table

__all__ = ["hw", "human_value", "source_legend", "MEASURED_TO_PROFILE"]

#: calibration [measured] key -> the profile key it replaces (derived from its one owner,
#: sparsim.hwprofiles.measured)
MEASURED_TO_PROFILE = {key: profile_key(key) for key in MEASURED_KEYS}

#: what the untagged source prefixes mean (printed with the file's own tags)
_PREFIXES = {
    "estimate:": "derived from the cited measurements or rules, not published as such",
    "sysfs": "read from Linux sysfs on this machine",
    "procfs": "read from Linux procfs on this machine",
    "measured": "timed on this machine by sparsim (see sparsim.validate.hostbench / probe)",
}


@click.group()
def hw():
    """List and show hardware profiles.

    \b
    Examples:
      sparsim hw list
      sparsim hw show h100-sxm5-80gb
      sparsim hw show h200-sxm-141gb --calibration h200-measured.toml
    """


@hw.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of {name, display_name}.")
def list_cmd(as_json):
    """Print the names of the built-in profiles, one per line, with the GPU's full name.

    \b
    Examples:
      sparsim hw list
      sparsim hw list --json
    """
    names = list_profiles()
    if as_json:
        click.echo(json.dumps([{"name": n, "display_name": load_profile(n).display_name} for n in names]))
        return
    width = max(map(len, names))
    for name in names:
        click.echo(f"{name:<{width}}  {load_profile(name).display_name}")


def _check_name(name: str) -> None:
    allowed = list_profiles() + ["host"]
    if name in allowed or name.endswith(".toml") or "/" in name or Path(name).exists():
        return
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SparsimError(f"NAME: got {name!r}{hint}; allowed: {', '.join(allowed)}, or a path to a profile .toml")


def human_value(key: str, value) -> str:
    """A profile number in the unit a reader expects.

    >>> human_value("memory.hbm_bytes", 85899345920), human_value("memory.hbm_bytes_per_s", 3.35e12)
    ('80.00 GiB', '3.35 TB/s')
    >>> human_value("memory.l2_latency_ns", 187), human_value("tensor_dense_flops_per_s.fp16", 9.894e14)
    ('187 ns', '989.4 TFLOP/s')
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    leaf = key.rsplit(".", 1)[-1]
    if key.endswith("bytes_per_s"):
        return f"{value / 1e12:.3g} TB/s" if value >= 1e12 else f"{value / 1e9:.3g} GB/s"
    if "flops_per_s" in key:
        return f"{value / 1e12:.1f} TFLOP/s" if value >= 1e12 else f"{value / 1e9:.1f} GFLOP/s"
    if key.endswith("_ns"):
        return f"{value:.3g} ns"
    if key.endswith("_s"):
        return human_seconds(value)
    if leaf.endswith("bytes") or leaf.endswith("_bytes_per_sm") or leaf == "l1_bytes_per_sm":
        return human_bytes(value)
    if key.endswith("_mhz"):
        return f"{value:,.0f} MHz"
    if key.endswith("_w"):
        return f"{value:,.0f} W"
    if key.endswith("speedup"):
        return f"{value:g}x"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"


def _profile_text(profile) -> str:
    origin = str(profile.origin or "")
    try:
        if origin and Path(origin).is_file():
            return Path(origin).read_text(encoding="utf-8")
        entry = resources.files("sparsim.hwprofiles") / "data" / f"{profile.name}.toml"
        return entry.read_text(encoding="utf-8")
    except OSError:
        return ""


def source_legend(text: str) -> dict[str, str]:
    """``[TAG] description`` lines from a profile file's header comment (continuations joined).

    >>> source_legend("# Sources:\\n#   [A-WP]  A whitepaper\\n#           table 3\\n#   [DB] a database\\nversion = 1")
    {'A-WP': 'A whitepaper table 3', 'DB': 'a database'}
    """
    legend: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line[1:].strip()
        match = re.match(r"\[([^\]]+)\]\s+(.*)", body)
        if match:
            current = match.group(1)
            legend[current] = match.group(2).strip()
        elif current and line.startswith("#    ") and body and not body.endswith(":") and ":" not in body[:12]:
            legend[current] += " " + body
        else:
            current = None
    return legend


@hw.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as one JSON object.")
@click.option("--calibration", "calibration", default=None, type=click.Path(dir_okay=False),
              help="A calibration .toml whose [measured] values ('sparsim probe') are shown beside the datasheet.")
@click.option("--power-limit", "power_limit_w", type=float, default=None,
              help="Board power cap in W for the sustained clocks shown (default: the profile's board power).")
def show(name, as_json, calibration, power_limit_w):
    """Show every number of profile NAME (or a .toml path) with its source.

    \b
    Examples:
      sparsim hw show a100-sxm4-80gb
      sparsim hw show host --calibration probe.toml
      sparsim hw show a100-pcie-80gb --power-limit 250
    """
    # Longer than 60 lines on purpose: one printed row per profile field, with its measured value beside it.
    _check_name(name)
    if name == "host":
        from ..validate import hostbench  # noqa: F401 - registers the host measurer
    profile = load_profile(name)
    measured: dict[str, float] = {}
    if calibration:
        from ..calibration import load_calibration

        cal = load_calibration(calibration)
        cal.check_profile(profile.name)
        for key, value in cal.measured.items():
            if key.startswith("tensor_flops_per_s."):
                # on a CPU the probe's matrix peak is the BLAS peak: the profile's vector rate
                table = "vector_flops_per_s." if profile.kind == "cpu" else "tensor_dense_flops_per_s."
                measured[table + key.split(".", 1)[1]] = value
            else:
                measured[MEASURED_TO_PROFILE.get(key, key)] = value
    values = profile.to_dict()
    clocks = sustained_clocks(profile, power_limit_w)
    if as_json:
        out = {"values": values, "sources": dict(profile.sources)}
        if calibration:
            out["measured"] = measured
        if clocks:
            out["sustained_clock_mhz"] = {label: round(mhz, 1) for label, mhz in clocks}
        if profile.kind == "gpu" and not calibration:
            from ..api import resolve_calibration

            shipped = resolve_calibration(None, profile)
            out["basis"] = shipped.label if shipped else "datasheet only"
            out["shipped_measured"] = dict(shipped.measured) if shipped else {}
        click.echo(json.dumps(out))
        return
    rows = [(key, human_value(key, value)) for key, value in values.items()]
    width = max(len(v) for _, v in rows)
    if measured:
        shown = []
        for key, text in rows:
            m = measured.get(key)
            extra = ""
            if m is not None:
                ratio = m / values[key] if isinstance(values[key], (int, float)) and values[key] else None
                extra = human_value(key, m) + (f" ({ratio:.2f}x)" if ratio else "")
            shown.append((key, text, extra))
        for key, m in measured.items():
            if key not in values:
                shown.append((key, "-", human_value(key, m)))
        mwidth = max(len(e) for _, _, e in shown)
        header = ("", f"{'datasheet':<{width}}  {'measured':<{mwidth}}  source")
        click.echo(kv_table([header] + [(k, f"{v:<{width}}  {e:<{mwidth}}  {profile.sources.get(k, '')}".rstrip())
                                        for k, v, e in shown]))
    else:
        click.echo(kv_table([(k, f"{v:<{width}}  {profile.sources.get(k, '')}".rstrip()) for k, v in rows]))
    used = set()
    for source in profile.sources.values():
        used.update(re.findall(r"\[([^\]]+)\]", source))
    legend = source_legend(_profile_text(profile))
    lines = [f"  [{tag}] {legend[tag]}" for tag in sorted(used) if tag in legend]
    lines += [f"  {prefix} {meaning}" for prefix, meaning in _PREFIXES.items()
              if any(s.startswith(prefix) for s in profile.sources.values())]
    unknown = sorted(tag for tag in used if tag not in legend)
    if unknown:
        lines.append("  (not in the file's header: " + ", ".join(f"[{t}]" for t in unknown) + ")")
    if lines:
        click.echo("\nSources:")
        click.echo("\n".join(lines))
    if measured:
        click.echo(f"\nmeasured: from {calibration} (ratio = measured / datasheet)")
    elif profile.kind == "gpu":
        click.echo("\n" + _shipped_line(profile))
    if clocks:
        limit = power_limit_w or profile.board_power_w
        click.echo(f"\nSustained clock under {limit:,.0f} W (sparsim.simulator.power; boost "
                   f"{profile.boost_clock_mhz:,.0f} MHz, base {profile.base_clock_mhz:,.0f} MHz):")
        click.echo(kv_table([(label, f"{mhz:,.0f} MHz") for label, mhz in clocks]))


def _shipped_line(profile) -> str:
    """What predictions on ``profile`` rest on by default (its shipped calibration, its
    die's, or the datasheet) and the measured ceilings that replace datasheet rows."""
    from ..api import resolve_calibration

    cal = resolve_calibration(None, profile)
    if cal is None:
        return "predictions use: datasheet only (no calibration shipped for this board or its die)"
    values = profile.to_dict()
    ceilings = []
    for key, value in cal.measured.items():
        row = MEASURED_TO_PROFILE.get(key)
        if row in values and values[row]:
            ceilings.append(f"{row} {human_value(row, value)} ({value / values[row]:.2f}x)")
    line = f"predictions use: {cal.label}"
    return line + ("\n  measured, in place of the datasheet rows above: " + ", ".join(ceilings) if ceilings else "")


#: loads whose sustained clock ``hw show`` prints: (label, tensor activity at the library's
#: rate for fp16, DRAM activity): a large GEMM keeps its tensor cores ~97% busy and DRAM
#: ~20-30% (sparsim predictions of 8192^3 GEMMs); a memory-bound GEMV-like call ~5% and ~90%
_LOADS = (("large fp16 GEMM (tensor cores busy)", 0.97, 0.25),
          ("large int8 GEMM (tensor cores busy)", 0.97, 0.25),
          ("memory-bound call (weights streamed)", 0.05, 0.9))


def sustained_clocks(profile, power_limit_w=None) -> list[tuple[str, float]]:
    """(load, MHz) of the clock each of :data:`_LOADS` sustains under the board's power
    limit or ``power_limit_w``; empty for a profile without power data."""
    if profile.kind != "gpu" or not profile.board_power_w:
        if power_limit_w is not None:
            from ..simulator.power import check_power_limit

            check_power_limit(profile, power_limit_w)
        return []
    from ..simulator.power import sustained_clock

    out = []
    for label, tensor, memory in _LOADS:
        dtype = "int8" if "int8" in label else "fp16"
        if dtype not in profile.tensor_dense_flops_per_s:
            continue
        activity = tensor * profile.tensor_rate_fraction(dtype)
        clock = sustained_clock(profile, tensor_activity=activity, memory_activity=memory, power_limit_w=power_limit_w)
        out.append((label, clock.clock_mhz))
    return out
