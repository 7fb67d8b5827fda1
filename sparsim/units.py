"""Human units for tables: bytes in binary units, seconds scaled to s/ms/us, counts in k/M/G/T.

>>> human_seconds(0.00123), human_bytes(3 * 2**20), human_count(2.5e12)
('1.230 ms', '3.00 MiB', '2.500 T')

With a unit, a count reads as a quantity, with the space a quantity has, and a rate
that is not a number says so instead of printing ``nanFLOP/s``:

>>> human_count(2.5e12, "FLOP/s"), human_count(0, "FLOP/s"), human_count(float("nan"), "FLOP/s")
('2.500 TFLOP/s', '0 FLOP/s', '—')
"""

from __future__ import annotations

__all__ = ["human_bytes", "human_seconds", "human_count", "kv_table", "prose_bytes", "prose_seconds"]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.2f} us"


def human_count(n: float, unit: str = "") -> str:
    """``n`` scaled to k/M/G/T; with ``unit`` glued to the prefix ("2.500 TFLOP/s", "0 FLOP/s");
    "—" for NaN or infinity."""
    if n != n or n in (float("inf"), float("-inf")):
        return "—"
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale and (unit or prefix != "P"):
            return f"{n / scale:.3f} {prefix}{unit}"
    return f"{n:g} {unit}" if unit else f"{n:g}"


def kv_table(rows: list[tuple[str, str]]) -> str:
    """Two aligned columns: names left, values left-aligned after the widest name.

    Values come from files (a profile's name, a record's ``hw``): control and bidi
    characters are escaped, so no value can move the cursor, clear or recolour a terminal.

    >>> print(kv_table([("hardware", "evil\\x1b[2J"), ("model", "des")]))
    hardware  evil\\u001b[2J
    model     des
    """
    from .errors import clean_text

    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k:<{width}}  {clean_text(str(v))}" for k, v in rows)


# Prose style, for the sentences of a report ("3.9 ms per step"): fewer digits than the
# terminal tables above, the same units.

def prose_bytes(n: float) -> str:
    """Bytes in binary units with one decimal.

    >>> prose_bytes(3 * 2**20), prose_bytes(12)
    ('3.0 MiB', '12 B')
    """
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def prose_seconds(s: float) -> str:
    """Seconds in s, ms or µs, with two or one decimals.

    >>> prose_seconds(0.0039), prose_seconds(2.5e-5)
    ('3.90 ms', '25.0 µs')
    """
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"
