"""Reading the TOML data files sparsim takes (profiles, calibrations, studies).

Every way a file can fail, unreadable, not UTF-8, not TOML, or nested deeper than any
sparsim file needs (``tomllib`` recurses once per level, so ``x = [[[[...]]]]`` thousands
deep would end in a RecursionError), becomes one line that names the kind of file, its
path and what is wrong, so every loader reports them the same way.

>>> read_toml("/nonexistent/x.toml", "study")
Traceback (most recent call last):
...
sparsim.errors.SparsimError: study /nonexistent/x.toml: cannot read: No such file or directory; allowed: a readable TOML file
>>> nesting_depth('a = [[1, "]]]"], {b = [2]}]  # [[[')
3
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import SparsimError

__all__ = ["read_toml", "toml_key", "toml_value", "dumps", "parse_toml", "nesting_depth", "MAX_NESTING", "MAX_TOML_BYTES"]

#: deepest [ / { nesting a data file may have (sparsim's own need 3)
MAX_NESTING = 32
#: largest data file read (the biggest profile or study is a few kB)
MAX_TOML_BYTES = 16 * 2**20


def nesting_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in values of ``text``, outside strings and comments.

    Table headers (``[a]``, ``[[a]]``) open and close on their own line and count as 1-2.
    A linear scan: it never recurses, so it is safe on any input.
    """
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote)
            while i < n:
                if c == '"' and text[i] == "\\":
                    i += 2
                    continue
                if text.startswith(quote, i):
                    i += len(quote)
                    break
                if len(quote) == 1 and text[i] == "\n":  # unterminated: tomllib says so
                    break
                i += 1
            continue
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return deepest


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML ``text``; ``where`` ("study FILE") starts every error message."""
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        raise SparsimError(f"{where}: nested {depth} levels deep; allowed: at most {MAX_NESTING} levels of [ and {{")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = " ".join(str(exc).split())
        raise SparsimError(f"{where}: not valid TOML ({detail}); allowed: a TOML file") from None
    except RecursionError:  # belt and braces: the depth check should have caught it
        raise SparsimError(f"{where}: nested too deep to parse; allowed: at most {MAX_NESTING} levels") from None
    # dotted keys (a.b.c... = 1, [a.b.c...]) nest tables without a bracket: measure the result
    depth = _data_depth(data)
    if depth > MAX_NESTING:
        raise SparsimError(f"{where}: tables nested more than {MAX_NESTING} levels deep (dotted keys); "
                           f"allowed: at most {MAX_NESTING} levels")
    return data


def _data_depth(data) -> int:
    """Deepest nesting of tables and arrays in parsed data, without recursion."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return deepest


def read_toml(path: str | Path, label: str) -> dict[str, Any]:
    """Parse the TOML file at ``path``; ``label`` names the kind of file in errors."""
    path = Path(path)
    where = f"{label} {path}"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_TOML_BYTES + 1)
        if len(raw) > MAX_TOML_BYTES:
            raise SparsimError(f"{where}: larger than {MAX_TOML_BYTES // 2**20} MiB; allowed: a TOML data file "
                               f"of at most {MAX_TOML_BYTES // 2**20} MiB")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or ("not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc)
        raise SparsimError(f"{where}: cannot read: {reason}; allowed: a readable TOML file") from None
    return parse_toml(text, where)


# --- writing: the one TOML writer (calibrations, host profiles) ----------------------

def toml_key(k) -> str:
    """A bare key where TOML allows one, else a quoted key (provenance may say "2:4").

    >>> toml_key("hbm_efficiency"), toml_key("2:4")
    ('hbm_efficiency', '"2:4"')
    """
    k = str(k)
    if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k):
        return k
    return toml_value(k)


def toml_value(v) -> str:
    """One TOML value: booleans, numbers, strings (escaped), arrays and inline tables."""
    from collections.abc import Mapping

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    text = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def dumps(data, header: str = "") -> str:
    """A TOML document: top-level keys first, then one ``[table]`` per mapping value
    (a mapping of mappings becomes ``[table.sub]`` sections).

    >>> print(dumps({"version": 1, "device": {"hw": "l4"}, "impl": {"cublas": {"x": 0.5}}}), end="")
    version = 1
    <BLANKLINE>
    [device]
    hw = "l4"
    <BLANKLINE>
    [impl.cublas]
    x = 0.5
    """
    from collections.abc import Mapping

    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    for section, table in data.items():
        if not isinstance(table, Mapping):
            continue
        subtables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
        if not subtables or len(subtables) < len(table):
            lines += ["", f"[{toml_key(section)}]"]
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items() if k not in subtables]
        for name, sub in subtables.items():
            lines += ["", f"[{toml_key(section)}.{toml_key(name)}]"]
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in sub.items()]
    return "\n".join(lines).lstrip("\n") + "\n"
