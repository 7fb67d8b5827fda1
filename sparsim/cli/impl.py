"""``sparsim impl``: list the implementations (software stacks) and show one with its sources."""

from __future__ import annotations

import json

import click

from ..impls import get_impl, impl_names, plan_rule
from .format import human_seconds, kv_table

__all__ = ["impl"]


@click.group()
def impl():
    """List and show implementations: what one call of a library runs for each kernel.

    \b
    Examples:
      sparsim impl list
      sparsim impl show cusparselt
    """


@impl.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list: name, kind, kernels, display_name, quant.")
def list_cmd(as_json):
    """Print each implementation with the kernels it runs.

    \b
    Examples:
      sparsim impl list
      sparsim impl list --json
    """
    rows = []
    for name in impl_names():
        i = get_impl(name)
        schemes = [q for q in dict.fromkeys(q for r in i.rules.values() for q in r.quant) if q != "none"]
        rows.append({"name": name, "kind": i.kind, "kernels": list(i.kernels), "display_name": i.display_name,
                     "quant": schemes})
    if as_json:
        click.echo(json.dumps(rows))
        return
    width = max(len(r["name"]) for r in rows)
    kernels = max(len(", ".join(r["kernels"])) for r in rows)
    for r in rows:
        quant = f"  [quant: {', '.join(r['quant'])}]" if r["quant"] else ""
        click.echo(f"{r['name']:<{width}}  {r['kind']}  {', '.join(r['kernels']):<{kernels}}  {r['display_name']}{quant}")


@impl.command("show")
@click.argument("name", metavar="NAME")
@click.option("--json", "as_json", is_flag=True, help="Print the implementation as one JSON object.")
def show(name, as_json):
    """Print what NAME runs for each kernel, every number with its source.

    \b
    Example:
      sparsim impl show torch
    """
    from ..errors import SparsimError

    if name not in impl_names():
        raise SparsimError(f"NAME: got {name[:80]!r}; allowed: {', '.join(impl_names())}")
    i = get_impl(name)
    if as_json:
        click.echo(json.dumps(i.to_dict()))
        return
    rows = [("name", i.name), ("library", i.library), ("runs on", i.kind), ("what", i.description)]
    for key, value in i.params.items():
        rows.append((f"param {key}", f"{value:g}   [{i.sources.get(f'params.{key}', '')}]"))
    for kernel, r in i.rules.items():
        mapping = ", ".join(f"{m} on {k}" for k, m in r.mapping_by_kind.items()) or r.mapping
        rows.append((f"{kernel}", f"{mapping} mapping; dtypes {', '.join(r.dtypes)}"
                     + (f"; uses [impl.{r.params_from}] parameters" if r.params_from else "")))
        plan = plan_rule(i, kernel)  # the rule whose tiles, split-K and CTA this call runs
        if plan is not r:
            rows.append(("  plan", f"that of {r.plan_from or i.name} {r.plan_as or kernel}"))
        for selector, tiles in plan.tiles.items():
            rows.append((f"  tiles {selector}", f"{', '.join(f'{a}x{b}' for a, b in tiles)}   [{plan.sources.get(f'tiles.{selector}', '')}]"))
        if plan.tiles and not plan.split_k_by:
            rows.append(("  split-K", f"{', '.join(map(str, plan.split_k))}   [{plan.sources.get('split_k', 'no split-K')}]"))
        for selector, splits in plan.split_k_by.items():
            rows.append((f"  split-K {selector}", f"{', '.join(map(str, splits))}   [{plan.sources.get(f'split_k.{selector}', '')}]"))
        if plan.cta:
            c = plan.cta
            rows.append(("  CTA", f"{c.warps} warps, {c.columns} columns of B, {c.registers_per_thread} registers/thread"
                         + (f", {c.smem_bytes} B shared" if c.smem_bytes else "") + f"   [{plan.sources.get('cta', '')}]"))
        if r.index_bits:
            rows.append(("  indices", f"int{r.index_bits}   [{r.sources.get('index_bits', '')}]"))
        if r.b_layout:
            rows.append(("  B layout", f"{r.b_layout}-major   [{r.sources.get('b_layout', '')}]"))
        for extra in r.extra_kernels:
            cost = human_seconds(extra.seconds) + (f" + {extra.per_nonzero_s * 1e12:.2f} ps/nonzero" if extra.per_nonzero_s else "")
            rows.append(("  extra kernel", f"{extra.name}: {cost}   [{extra.source}]"))
        if r.quant != ("none",):
            rows.append(("  quantization", f"{', '.join(r.quant)}; activations quantized {r.act_quant}ly"
                         if any(q in ("fp8", "w8a8") for q in r.quant) else ", ".join(r.quant)))
        if r.dequant_ops:
            rows.append(("  dequantization", f"{r.dequant_ops:g} issue slots per weight value   [{r.sources.get('dequant_ops', '')}]"))
        if r.pipeline is not None:
            p = r.pipeline
            prefetch = "no prefetch" if p.stages == 1 else f"{p.stages} stages"
            rows.append(("  K loop", f"{p.warps} warps, {p.tile_k} K per CTA round, {prefetch}   "
                                     f"[{r.sources.get('pipeline', '')}]"))
        for key in ("min_cc", "max_cc"):
            if getattr(r, key):
                rows.append((f"  {key.replace('_', ' ')}", f"{getattr(r, key)}   [{r.sources.get(key, '')}]"))
        if r.host_s:
            rows.append(("  host per call", f"{human_seconds(r.host_s)}   [{r.sources.get('host_s', '')}]"))
        if r.knob:
            rows.append(("  knob", r.knob))
    click.echo(kv_table(rows))
