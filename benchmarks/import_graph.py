"""Draw sparsim's package import graph and check its layering.

    python benchmarks/import_graph.py          # prints edges, cycles and upward imports

Layers, bottom to top (a module may import its own layer or any below it, never above):
shared modules (errors, units, dtypes, tomlfile, atomic) < hwprofiles, models, impls <
calibration, prediction, problem, simulator < api < validate, studies < reports < cli.
Imports inside functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "sparsim"

#: package (first component under sparsim) -> layer; higher may import lower
LAYERS = {
    "errors": 0, "units": 0, "dtypes": 0, "tomlfile": 0, "atomic": 0, "version": 0, "speccheck": 0, "__init__": 9, "__main__": 9,
    "hwprofiles": 1, "models": 1, "impls": 2,
    "calibration": 3, "prediction": 3, "problem": 3, "simulator": 3,
    "api": 4, "steps": 4,
    "validate": 5, "studies": 5,
    "reports": 6,
    "cli": 7,
}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """Modules under sparsim that ``path`` imports (absolute names); ``from pkg import mod``
    is an edge to ``pkg.mod`` alone (not to the package's ``__init__``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    pkg = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("sparsim")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("sparsim"):
                subs = {f"{name}.{a.name}" for a in node.names}
                out |= subs & modules
                if subs - modules:
                    out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges = defaultdict(set)
    for name, path in modules.items():
        for target in imports(path, set(modules)):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                edges[name].add(target)
    return edges


def package_cycles(edges) -> list[list[str]]:
    pk = defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            if package_of(a) != package_of(b):
                pk[package_of(a)].add(package_of(b))
    cycles, seen = [], set()

    def visit(node, stack):
        for nxt in pk.get(node, ()):
            if nxt in stack:
                cycle = stack[stack.index(nxt):] + [nxt]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cycle)
            elif len(stack) < 12:
                visit(nxt, stack + [nxt])

    for start in list(pk):
        visit(start, [start])
    return cycles


def module_cycles(edges) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            strong(v)
    return out


def upward(edges) -> list[tuple[str, str]]:
    bad = []
    for a, bs in edges.items():
        for b in bs:
            la, lb = LAYERS.get(package_of(a)), LAYERS.get(package_of(b))
            if la is None or lb is None or lb > la:
                bad.append((a, b))
    return sorted(bad)


def main() -> int:
    edges = graph()
    pk = defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            if package_of(a) != package_of(b):
                pk[package_of(a)].add(package_of(b))
    print("package imports (layer: package -> packages it imports)")
    for p in sorted(pk, key=lambda p: (LAYERS.get(p, 99), p)):
        print(f"  {LAYERS.get(p, '?')}: {p:12s} -> {', '.join(sorted(pk[p], key=lambda q: (LAYERS.get(q, 99), q)))}")
    cyc, up, mod = package_cycles(edges), upward(edges), module_cycles(edges)
    print(f"\npackage cycles: {len(cyc)}" + "".join(f"\n  {' -> '.join(c)}" for c in cyc))
    print(f"module cycles: {len(mod)}" + "".join(f"\n  {', '.join(c)}" for c in mod))
    print(f"upward imports: {len(up)}" + "".join(f"\n  {a} -> {b}" for a, b in up))
    return 1 if cyc or up or mod else 0


if __name__ == "__main__":
    sys.exit(main())
