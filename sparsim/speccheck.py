"""The one spec checker: typed reads of a data file's keys with one-line errors.

Profiles, implementation files, studies and calibrations are plain TOML data; each key is
read through a :class:`SpecChecker`, so every refusal has the same shape:
``<kind> <file>: key <dotted.key>: got <value>; allowed: <what>`` (the value echoed
short and printable, see :func:`sparsim.errors.shown`).

>>> c = SpecChecker("study", "s.toml")
>>> c.whole("sweep.batch_sizes", 8)
8
>>> c.whole("sweep.batch_sizes", 0)
Traceback (most recent call last):
...
sparsim.errors.SparsimError: study s.toml: key sweep.batch_sizes: got 0; allowed: a whole number in [1, 2,147,483,647]
>>> c.sourced("memory.l2_bytes", {"value": 1, "source": ""})
Traceback (most recent call last):
...
sparsim.errors.SparsimError: study s.toml: key memory.l2_bytes.source: got ''; allowed: a non-empty string naming where the value comes from
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import SparsimError, shown

__all__ = ["SpecChecker", "MAX_WHOLE"]

#: the largest whole number a spec may hold (int32, as the libraries index)
MAX_WHOLE = 2**31 - 1


class SpecChecker:
    """Reads keys of one file of one kind (``"study"``, ``"profile"``, ``"implementation"``...)."""

    def __init__(self, kind: str, origin: str):
        self.kind = kind
        self.origin = origin

    def fail(self, key: str, got: Any, allowed: str) -> SparsimError:
        text = "nothing" if got is None else shown(got)
        return SparsimError(f"{self.kind} {self.origin}: key {key}: got {text}; allowed: {allowed}")

    def keys(self, key: str, table: Any, allowed: tuple[str, ...]) -> Mapping:
        if not isinstance(table, Mapping):
            raise self.fail(key, table, f"a table with keys {', '.join(allowed)}")
        for name in table:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                raise self.fail(where, name, "keys " + ", ".join(allowed))
        return table

    def string(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, value, "a non-empty string")
        return value

    def whole(self, key: str, value: Any, minimum: int = 1, maximum: int = MAX_WHOLE) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(key, value, f"a whole number in [{minimum}, {maximum:,}]")
        return value

    def choices(self, key: str, value: Any, allowed, *, unique: bool = True) -> tuple:
        items = self.nonempty_list(key, value)
        for item in items:
            if item not in allowed:
                raise self.fail(key, item, ", ".join(map(str, allowed)))
        return self.unique(key, items) if unique else tuple(items)

    def nonempty_list(self, key: str, value: Any) -> list:
        if not isinstance(value, list) or not value:
            raise self.fail(key, value, "a non-empty list")
        return value

    def unique(self, key: str, items) -> tuple:
        seen = []
        for item in items:
            if item in seen:
                raise self.fail(key, item, "each value once")
            seen.append(item)
        return tuple(seen)

    def sourced(self, key: str, entry: Any) -> tuple[Any, str]:
        """A ``{ value = ..., source = "..." }`` entry: every number says where it comes from."""
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise self.fail(key, entry, 'a table { value = ..., source = "..." }')
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise self.fail(f"{key}.source", source, "a non-empty string naming where the value comes from")
        return entry["value"], source
