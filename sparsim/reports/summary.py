"""Recommendations in plain words, computed from the aggregated tables.

The charts show everything; this says what a reader would conclude from them, per
workload, GPU and software path: where 2:4 pays, up to which density unstructured formats
beat dense, what the weights cost in memory (and whether they fit the GPU), and what was
not run. Each finding names the implementation it is about and, where the library has
one, the knob that changes the answer (the implementation's ``knob``; where turning it
leads to another implementation the study swept, that one's predicted ratio), and ends
with what its figures rest on: "(datasheet only)" or "(calibrated on <device>, <date>)".
Sentences are returned as plain text; the page escapes them.

>>> fmt_ratio(1.7049), fmt_density(0.05), fmt_bytes(13.2 * 2**30), fmt_times(0.05), fmt_times(1.4)
('1.70x', '5%', '13.2 GiB', '20.0x slower', '1.40x faster')
"""

from __future__ import annotations

import pandas as pd

from ..units import prose_bytes as fmt_bytes, prose_seconds as fmt_seconds
from ..models.kernels import BASELINE, kernel_of
from .aggregate import DEFAULT_PATH, FORMAT_ORDER, ROW_PRUNING_FORMATS, STRUCTURED_FORMATS, path_order

__all__ = ["recommendations", "winners", "fmt_ratio", "fmt_density", "fmt_bytes", "fmt_seconds", "fmt_times",
           "FORMAT_NAMES", "impl_name", "library_of", "knob_of"]

FORMAT_NAMES = {"dense": "dense", "2:4": "2:4", "1:2": "1:2", "csr": "CSR", "coo": "COO", "bsr": "BSR",
                "grouped": "grouped (vector-sparse)", "channel": "channel pruning"}
#: formats whose cost depends on where the nonzeros are, in report order
_UNSTRUCTURED = tuple(f for f in FORMAT_ORDER if kernel_of(f).needs_pattern)


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}x"


def fmt_times(speedup: float) -> str:
    """A speedup as words: "1.40x faster", "20.0x slower"."""
    if speedup >= 1:
        return f"{fmt_ratio(speedup)} faster"
    slower = 1 / speedup
    return f"{slower:.1f}x slower" if slower >= 10 else f"{fmt_ratio(slower)} slower"


def _rule(impl: str, fmt: str):
    """The implementation's rule for ``fmt``, or None (unknown implementation)."""
    if not impl:
        return None
    try:
        from ..impls import get_impl

        return get_impl(impl).rules.get(fmt)
    except Exception:  # a name this sparsim does not ship (results of another version)
        return None


def library_of(impl: str) -> str:
    """The library an implementation calls ("cuSPARSELt"), else its name."""
    try:
        from ..impls import get_impl

        return get_impl(impl).library
    except Exception:
        return impl


def impl_name(impl: str) -> str:
    """What a report calls an implementation: its display name, else its name."""
    try:
        from ..impls import get_impl

        return get_impl(impl).display_name
    except Exception:
        return impl


def knob_of(impl: str, fmt: str) -> tuple[str, str | None]:
    """(knob sentence, alternative implementation or None) of ``impl`` running ``fmt``."""
    rule = _rule(impl, fmt)
    if rule is None:
        return "", None
    return rule.knob, rule.alternative


def fmt_density(d: float) -> str:
    return f"{d:.0%}" if d >= 0.1 or abs(d * 100 - round(d * 100)) < 1e-9 else f"{d:.1%}"


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
    """Fastest (format, implementation) other than channel pruning per (workload, hw,
    dtype, batch) at ``density`` (2:4/1:2 count at any density: they keep their fixed half)."""
    at = sp[(sp["density"] == density) & (~sp["format"].isin(ROW_PRUNING_FORMATS))]
    idx = at.groupby(["workload", "hw", "dtype", "batch"], observed=True)["time_s"].idxmin()
    cols = ["workload", "hw", "hw_display", "dtype", "batch", "format", "time_s", "speedup"]
    return at.loc[idx, cols + [c for c in ("path", "impl", "series") if c in at]]


def _path_title(path: str, rows: pd.DataFrame, several: bool) -> str:
    """How a finding names its software path."""
    impls = []
    if "impl" in rows:
        by_format = rows.assign(_order=[FORMAT_ORDER.index(f) if f in FORMAT_ORDER else 99 for f in rows["format"]])
        impls = [i for i in dict.fromkeys(by_format.sort_values("_order", kind="stable")["impl"]) if i]
    if path != DEFAULT_PATH:
        return "with " + impl_name(impls[0] if impls else path)
    if not several:
        return ""
    named = ", ".join(dict.fromkeys(library_of(i) for i in impls))
    return "with the default libraries" + (f" ({named})" if named else "")


def _knob(impl: str, fmt: str, batch_rows: pd.DataFrame, s_all: pd.DataFrame) -> str:
    """The knob of ``impl`` for ``fmt`` and, where it leads to an implementation swept
    here, that one's speedup over dense at the same batch size."""
    knob, alternative = knob_of(impl, fmt)
    if not knob:
        return ""
    text = f"knob for {library_of(impl)}: {knob}"
    if alternative and alternative != impl and "impl" in s_all:
        alt_rows = s_all[(s_all["impl"] == alternative) & (s_all["format"] == fmt)]
        batch = int(batch_rows["batch"].min())
        at = alt_rows[alt_rows["batch"] == batch]
        if not at.empty:
            best = at.loc[at["speedup"].idxmax()]
            where = f"batch {batch}" if fmt in STRUCTURED_FORMATS else \
                f"batch {batch} and {fmt_density(best['density'])} density"
            text += (f"; with {impl_name(alternative)}, {_name(fmt)} is {fmt_times(best['speedup'])} than dense "
                     f"at {where} ({fmt_seconds(best['time_s'])} per step)")
    return text


def _format_parts(fmt: str, b_hw: pd.DataFrame, s_hw: pd.DataFrame, s_all: pd.DataFrame,
                  dense: pd.Series) -> list[str]:
    """The sentences about one format on one path of one GPU."""
    parts = []
    rows = b_hw[b_hw["format"] == fmt]
    if fmt in STRUCTURED_FORMATS and not rows.empty:
        pays = rows[rows["break_even_density"].notna()]
        loses = rows[rows["break_even_density"].isna()]
        if pays.empty:
            worst = rows.loc[rows["best_speedup"].idxmin()]
            best = rows.loc[rows["best_speedup"].idxmax()]
            text = f"{fmt} never beats dense (best {fmt_ratio(best['best_speedup'])} at {_batches([best['batch']])}"
            if worst["batch"] != best["batch"] or worst["best_speedup"] < 1:
                b = worst["batch"]
                text += (f"; {fmt_times(worst['best_speedup'])} per step at batch {b}: "
                         f"{fmt_seconds(dense[b] / worst['best_speedup'])} instead of {fmt_seconds(dense[b])}")
            parts.append(text + ")")
        else:
            top = pays.loc[pays["speedup"].idxmax()]
            text = (f"{fmt} pays at {_batches(pays['batch'])} (up to {fmt_ratio(top['speedup'])}: "
                    f"{fmt_seconds(dense[top['batch']] / top['speedup'])} instead of "
                    f"{fmt_seconds(dense[top['batch']])} per step at batch {top['batch']})")
            if not loses.empty:
                text += f" but not at {_batches(loses['batch'])} ({fmt_ratio(loses['best_speedup'].min())})"
            parts.append(text)
    elif fmt in _UNSTRUCTURED and not rows.empty:
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
    elif fmt in ROW_PRUNING_FORMATS:
        ch = s_hw[s_hw["format"] == fmt]
        if not ch.empty:
            half = ch.loc[(ch["density"] - 0.5).abs().sort_values(kind="stable").index[:1]]
            d = float(half["density"].iloc[0])
            lo, hi = (float(x) for x in ch[ch["density"] == d]["speedup"].agg(["min", "max"]))
            speed = (f"runs {fmt_ratio(lo)}-{fmt_ratio(hi)} faster than dense" if lo > 1
                     else f"runs at {fmt_ratio(lo)}-{fmt_ratio(hi)} the speed of dense")
            parts.append(f"channel pruning to {fmt_density(d)} of output channels {speed} "
                         "(a smaller dense GEMM: its price is accuracy, not speed)")
    if parts and fmt not in ROW_PRUNING_FORMATS and "impl" in s_hw:
        impls = [i for i in dict.fromkeys(s_hw.loc[s_hw["format"] == fmt, "impl"]) if i]
        knob = _knob(impls[0], fmt, rows if not rows.empty else s_hw, s_all) if impls else ""
        if knob:
            parts[-1] += f" ({knob})"
    return parts


def recommendations(workload: str, sp: pd.DataFrame, be: pd.DataFrame, mem: pd.DataFrame,
                    profiles: dict[str, dict], dtype: str) -> list[str]:
    """Plain-words findings for one workload (one dtype): a list of sentences, one per GPU
    and software path, each ending with what its figures rest on."""
    # Longer than 60 lines on purpose: one sentence per finding, assembled in the order the report prints them.
    out = []
    sp = sp[(sp["workload"] == workload) & (sp["dtype"] == dtype)]
    be = be[(be["workload"] == workload) & (be["dtype"] == dtype)]
    if "path" not in sp:
        sp = sp.assign(path=DEFAULT_PATH)
    if "path" not in be:
        be = be.assign(path=DEFAULT_PATH)
    several = sp["path"].nunique() > 1
    for hw in dict.fromkeys(sp["hw"]):
        s_all = sp[sp["hw"] == hw]
        display = s_all["hw_display"].iloc[0]
        for path in path_order(s_all["path"]):
            s_hw, b_hw = s_all[s_all["path"] == path], be[(be["hw"] == hw) & (be["path"] == path)]
            dense = s_hw.groupby("batch")["dense_time_s"].min()
            parts = []
            for fmt in STRUCTURED_FORMATS + _UNSTRUCTURED + ROW_PRUNING_FORMATS:
                parts += _format_parts(fmt, b_hw, s_hw, s_all, dense)
            if not parts:
                continue
            title = _path_title(path, s_hw, several)
            dense_impl = [i for i in dict.fromkeys(s_hw.get("dense_impl", pd.Series(dtype=str)).dropna()) if i]
            if path != DEFAULT_PATH and dense_impl and "dense_path" in s_hw \
                    and (s_hw["dense_path"] != path).any():
                title += f" (compared with dense by {impl_name(dense_impl[0])})"
            basis = "; ".join(dict.fromkeys(s_hw["basis"])) if "basis" in s_hw else "datasheet only"
            head = f"{display}{' ' + title if title else ''}: "
            out.append(head + ". ".join(p[0].upper() + p[1:] if p[0].islower() and not p[0].isdigit() else p
                                        for p in parts) + f". ({basis})")

    mem = mem[(mem["workload"] == workload) & (mem["dtype"] == dtype)]
    if "path" in mem and (mem["path"] == DEFAULT_PATH).any():
        mem = mem[mem["path"] == DEFAULT_PATH]  # as the default libraries store the weights
    if not mem.empty:
        total = mem.assign(total=mem["bytes_values"] + mem["bytes_index"])
        dense_rows = total[total["format"] == BASELINE]
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
        for fmt in _UNSTRUCTURED:
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
