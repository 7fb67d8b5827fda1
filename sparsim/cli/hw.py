"""``sparsim hw``: list the built-in hardware profiles and show one with its sources."""

from __future__ import annotations

import json

import click

from ..hwprofiles import list_profiles, load_profile
from .format import kv_table

__all__ = ["hw"]


@click.group()
def hw():
    """List and show hardware profiles.

    \b
    Examples:
      sparsim hw list
      sparsim hw show h100-sxm5-80gb
    """


@hw.command("list")
def list_cmd():
    """Print the names of the built-in profiles, one per line, with the GPU's full name."""
    names = list_profiles()
    width = max(map(len, names))
    for name in names:
        click.echo(f"{name:<{width}}  {load_profile(name).display_name}")


@hw.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as one JSON object.")
def show(name, as_json):
    """Show every number of profile NAME (or a .toml path) with its source.

    \b
    Example:
      sparsim hw show a100-sxm4-80gb
    """
    profile = load_profile(name)
    values = profile.to_dict()
    if as_json:
        click.echo(json.dumps({"values": values, "sources": dict(profile.sources)}))
        return
    rows = [(key, f"{value:,.6g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value))
            for key, value in values.items()]
    width = max(len(v) for _, v in rows)
    click.echo(kv_table([(k, f"{v:<{width}}  {profile.sources.get(k, '')}".rstrip()) for k, v in rows]))
