"""Recommendations in plain words, computed from the aggregated tables.

The charts show everything; this says what a reader would conclude from them, per
workload and GPU: where 2:4 pays, up to which density unstructured formats beat dense,
what the weights cost in memory (and whether they fit the GPU), and what was not run.
Sentences are returned as plain text; the page escapes them.

>>> fmt_ratio(1.7049), fmt_density(0.05), fmt_bytes(13.2 * 2**30)
('1.70x', '5%', '13.2 GiB')
"""

from __future__ import annotations

import pandas as pd

from .aggregate import STRUCTURED_FORMATS

__all__ = ["recommendations", "winners", "fmt_ratio", "fmt_density", "fmt_bytes", "fmt_seconds", "FORMAT_NAMES"]

FORMAT_NAMES = {"dense": "dense", "2:4": "2:4", "1:2": "1:2", "csr": "CSR", "coo": "COO", "bsr": "BSR",
                "grouped": "grouped (vector-sparse)", "channel": "channel pruning"}
_UNSTRUCTURED = ("csr", "coo", "bsr", "grouped")


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}x"


def fmt_density(d: float) -> str:
    return f"{d:.0%}" if d >= 0.1 or abs(d * 100 - round(d * 100)) < 1e-9 else f"{d:.1%}"


def fmt_bytes(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def _name(fmt: str) -> str:
    return FORMAT_NAMES.get(fmt, fmt)


def _batches(values) -> str:
    values = sorted(values)
    if not values:
        return "no batch size"
    if len(values) == 1:
        return f"batch {values[0]}"
    return "batch " + ", ".join(str(v) for v in values[:-1]) + f" and {values[-1]}"


def winners(sp: pd.DataFrame, density: float) -> pd.DataFrame:
    """Fastest format other than channel pruning per (workload, hw, dtype, batch) at
    ``density`` (2:4/1:2 count at any density: they keep their fixed half)."""
    at = sp[(sp["density"] == density) & (sp["format"] != "channel")]
    idx = at.groupby(["workload", "hw", "dtype", "batch"], observed=True)["time_s"].idxmin()
    return at.loc[idx, ["workload", "hw", "hw_display", "dtype", "batch", "format", "time_s", "speedup"]]


def recommendations(workload: str, sp: pd.DataFrame, be: pd.DataFrame, mem: pd.DataFrame,
                    profiles: dict[str, dict], dtype: str) -> list[str]:
    """Plain-words findings for one workload (one dtype): a list of sentences."""
    out = []
    sp = sp[(sp["workload"] == workload) & (sp["dtype"] == dtype)]
    be = be[(be["workload"] == workload) & (be["dtype"] == dtype)]
    for hw in dict.fromkeys(sp["hw"]):
        s_hw, b_hw = sp[sp["hw"] == hw], be[be["hw"] == hw]
        display = s_hw["hw_display"].iloc[0]
        parts = []
        dense = s_hw[s_hw["format"] == "dense"].groupby("batch")["time_s"].min()
        for fmt in STRUCTURED_FORMATS:
            rows = b_hw[b_hw["format"] == fmt]
            if rows.empty:
                continue
            pays = rows[rows["break_even_density"].notna()]
            loses = rows[rows["break_even_density"].isna()]
            if pays.empty:
                parts.append(f"{fmt} never beats dense (best {fmt_ratio(rows['best_speedup'].max())} at "
                             f"{_batches(rows.loc[[rows['best_speedup'].idxmax()], 'batch'])})")
            else:
                top = pays.loc[pays["speedup"].idxmax()]
                text = (f"{fmt} pays at {_batches(pays['batch'])} (up to {fmt_ratio(top['speedup'])}: "
                        f"{fmt_seconds(dense[top['batch']] / top['speedup'])} instead of "
                        f"{fmt_seconds(dense[top['batch']])} per step at batch {top['batch']})")
                if not loses.empty:
                    text += f" but not at {_batches(loses['batch'])} ({fmt_ratio(loses['best_speedup'].min())})"
                parts.append(text)
        for fmt in _UNSTRUCTURED:
            rows = b_hw[b_hw["format"] == fmt]
            if rows.empty:
                continue
            pays = rows[rows["break_even_density"].notna()]
            if pays.empty:
                parts.append(f"{_name(fmt)} never beats dense at the swept densities (best "
                             f"{fmt_ratio(rows['best_speedup'].max())})")
            else:
                beyond = pays["beyond_swept"] if "beyond_swept" in pays else pd.Series(False, index=pays.index)
                by_density = pays.assign(_beyond=beyond).groupby(["break_even_density", "_beyond"])["batch"].apply(list)
                # still faster at the top swept density: the limit lies beyond the sweep
                clauses = [(f"at every swept density (≥ {fmt_density(d)}, beyond the swept range) at {_batches(b)}"
                            if over else f"up to {fmt_density(d)} density at {_batches(b)}")
                           for (d, over), b in sorted(by_density.items(), reverse=True)]
                never = rows[rows["break_even_density"].isna()]["batch"]
                text = f"{_name(fmt)} beats dense only when few weights are kept: " + "; ".join(clauses)
                if len(never):
                    text += f"; never at {_batches(never)}"
                parts.append(text)
        rows = s_hw[s_hw["format"] == "channel"]
        if not rows.empty:
            half = rows.loc[(rows["density"] - 0.5).abs().sort_values(kind="stable").index[:1]]
            d = float(half["density"].iloc[0])
            lo, hi = (float(x) for x in rows[rows["density"] == d]["speedup"].agg(["min", "max"]))
            speed = (f"runs {fmt_ratio(lo)}-{fmt_ratio(hi)} faster than dense" if lo > 1
                     else f"runs at {fmt_ratio(lo)}-{fmt_ratio(hi)} the speed of dense")
            parts.append(f"channel pruning to {fmt_density(d)} of output channels {speed} "
                         "(a smaller dense GEMM: its price is accuracy, not speed)")
        if parts:
            out.append(f"{display}: " + ". ".join(p[0].upper() + p[1:] if p[0].islower() and not p[0].isdigit() else p
                                                  for p in parts) + ".")

    mem = mem[(mem["workload"] == workload) & (mem["dtype"] == dtype)]
    if not mem.empty:
        total = mem.assign(total=mem["bytes_values"] + mem["bytes_index"])
        dense_rows = total[total["format"] == "dense"]
        dense_bytes = float(dense_rows["total"].max()) if not dense_rows.empty else None
        bits = []
        if dense_bytes:
            bits.append(f"dense weights take {fmt_bytes(dense_bytes)} in {dtype}")
        for fmt in STRUCTURED_FORMATS:
            r = total[total["format"] == fmt]
            if not r.empty:
                r = r.iloc[0]
                bits.append(f"{fmt} {fmt_bytes(r['total'])} ({fmt_bytes(r['bytes_values'])} values + "
                            f"{fmt_bytes(r['bytes_index'])} metadata)")
        for fmt in ("csr", "coo", "bsr", "grouped"):
            r = total[total["format"] == fmt].sort_values("density")
            if r.empty or not dense_bytes:
                continue
            smaller = r[r["total"] < dense_bytes]
            lo = r.iloc[0]
            text = (f"{_name(fmt)} at {fmt_density(lo['density'])} density {fmt_bytes(lo['total'])}, "
                    f"{lo['bytes_index'] / max(lo['total'], 1):.0%} of it indices")
            if smaller.empty:
                text += ", and never less than dense at the swept densities"
            elif len(smaller) < len(r):
                text += f"; {_name(fmt)} is smaller than dense only up to {fmt_density(smaller['density'].max())} density"
            bits.append(text)
        if bits:
            out.append("Memory: " + "; ".join(bits) + ".")
        if dense_bytes and profiles:
            fit = [p["display_name"] for p in profiles.values() if p.get("hbm_bytes", 0) >= dense_bytes]
            nofit = [p["display_name"] for p in profiles.values() if 0 < p.get("hbm_bytes", 0) < dense_bytes]
            if nofit:
                smallest = total.loc[total["total"].idxmin()]
                out.append(f"The dense weights alone do not fit in the memory of {', '.join(nofit)}; the smallest "
                           f"swept option is {_name(smallest['format'])} at {fmt_density(smallest['density'])} "
                           f"({fmt_bytes(smallest['total'])}).")
            elif fit:
                out.append("The dense weights fit in the memory of every swept GPU (before activations and KV cache).")
    return out
