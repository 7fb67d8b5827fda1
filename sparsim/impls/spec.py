"""Reading an implementation file: every key checked, every number sourced.

:func:`parse_impl` turns the data of one ``sparsim/impls/data/*.toml`` file into the
frozen :class:`~sparsim.impls.implementation.Implementation` it describes (what the
data means is explained there). Each key of a ``[kernel.NAME]`` rule has one check that
names the key, the value received and what is allowed; a number without a ``source``
is refused, as hardware profiles refuse one; ``split_k`` is a sourced list or a table of
selectors of them. The kernels and dtypes a rule may name are passed in (the models own
them), and parameter names are checked by the simulator, which owns those.

>>> rule = {"mapping": "gemm", "dtypes": ["fp16"],
...         "tiles": {"default": {"value": [[128, 128]], "source": "a fixed plan"}},
...         "host_s": {"value": 2e-6, "source": "fitted"}}
>>> data = {"version": 1, "name": "mine", "display_name": "Mine", "library": "mylib", "kind": "gpu",
...         "kernel": {"dense": rule}}
>>> impl = parse_impl(data, kernels=("dense",), dtypes=("fp16",))
>>> impl.rule("dense").tiles_for(cc="9.0", dtype="fp16"), impl.rule("dense").host_s
(((128, 128),), 2e-06)
>>> parse_impl({**data, "kernel": {"dense": {**rule, "host_s": 2e-6}}}, "mine.toml", kernels=("dense",),
...            dtypes=("fp16",))
Traceback (most recent call last):
...
sparsim.errors.SparsimError: implementation mine.toml: key kernel.dense.host_s: got 2e-06; allowed: a table { value = ..., source = "..." }
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from ..errors import SparsimError
from ..speccheck import SpecChecker
from .implementation import (HW_KINDS, MAPPINGS, NO_LIBRARY, CtaShape, ExtraKernel, GemmPipeline,  # noqa: F401
                             Implementation, KernelRule)

__all__ = ["CtaShape", "ExtraKernel", "Implementation", "KernelRule", "MAPPINGS", "NO_LIBRARY", "parse_impl",
           "IMPL_VERSION"]

IMPL_VERSION = 1
_B_LAYOUTS = ("row", "col")
_INDEX_BITS = (32, 64)


def _fail(origin: str, key: str, got: Any, allowed: str) -> SparsimError:
    return SpecChecker("implementation", origin).fail(key, got, allowed)


def _sourced(origin: str, key: str, entry: Any) -> tuple[Any, str]:
    """A ``{ value = ..., source = "..." }`` entry: every number says where it comes from."""
    return SpecChecker("implementation", origin).sourced(key, entry)


def _seconds(origin: str, key: str, value: Any, limit: float = 10.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= limit:
        raise _fail(origin, key, value, f"seconds in [0, {limit}]")
    return float(value)


def _tiles(origin: str, key: str, value: Any) -> tuple[tuple[int, int], ...]:
    ok = isinstance(value, list) and value and all(
        isinstance(t, list) and len(t) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                    and 8 <= x <= 512 for x in t) for t in value)
    if not ok:
        raise _fail(origin, key, value, "a non-empty list of [tile_m, tile_n] pairs of integers in [8, 512]")
    return tuple((int(a), int(b)) for a, b in value)


def _split_k_list(origin: str, key: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or any(
            isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 64 for s in value) or 1 not in value:
        raise _fail(origin, key, value, "a list of integers in [1, 64] that includes 1")
    return tuple(sorted(set(value)))


def _split_k(origin: str, pre: str, entry: Any, sources: dict) -> tuple[tuple[int, ...], dict]:
    """``split_k``: one sourced list (every GPU), or a table of selectors (as ``tiles``)
    whose ``default`` entry, if any, is the list for the GPUs no other selector names."""
    if entry is None:
        return (1,), {}
    if isinstance(entry, Mapping) and "value" not in entry:
        by = {}
        for selector, item in entry.items():
            value, sources[f"split_k.{selector}"] = _sourced(origin, f"{pre}.split_k.{selector}", item)
            by[selector] = _split_k_list(origin, f"{pre}.split_k.{selector}", value)
        if not by:
            raise _fail(origin, f"{pre}.split_k", entry, "a sourced list, or a table of selectors of sourced lists")
        if "default" in by:
            sources["split_k"] = sources["split_k.default"]
        return by.get("default", (1,)), by
    value, sources["split_k"] = _sourced(origin, f"{pre}.split_k", entry)
    return _split_k_list(origin, f"{pre}.split_k", value), {}


def _rule(origin: str, kernel: str, table: Mapping, known_dtypes: tuple[str, ...]) -> KernelRule:
    # Longer than 60 lines on purpose: one check per key of an implementation rule, each naming the key it refuses.
    pre = f"kernel.{kernel}"
    allowed = {"mapping", "dtypes", "tiles", "split_k", "mma_n", "index_bits", "b_layout", "extra_kernels", "host_s",
               "params_from", "knob", "label", "alternative", "plan_from", "plan_as", "cta", "pipeline", *_QUANT_KEYS}
    for key in table:
        if key not in allowed:
            raise _fail(origin, f"{pre}.{key}", "(unknown key)", ", ".join(sorted(allowed)))
    sources: dict[str, str] = {}
    mapping, by_kind, plan_from, plan_as, cta = _plan_keys(origin, pre, table, sources)
    dtypes = table.get("dtypes")
    if not isinstance(dtypes, list) or not dtypes or any(d not in known_dtypes for d in dtypes):
        raise _fail(origin, f"{pre}.dtypes", dtypes, f"a list of {', '.join(known_dtypes)}")
    tiles: dict[str, tuple[tuple[int, int], ...]] = {}
    for selector, entry in (table.get("tiles") or {}).items():
        value, sources[f"tiles.{selector}"] = _sourced(origin, f"{pre}.tiles.{selector}", entry)
        tiles[selector] = _tiles(origin, f"{pre}.tiles.{selector}", value)
    split_k, split_k_by = _split_k(origin, pre, table.get("split_k"), sources)
    mma_n = 0
    if "mma_n" in table:
        mma_n, sources["mma_n"] = _sourced(origin, f"{pre}.mma_n", table["mma_n"])
        if isinstance(mma_n, bool) or not isinstance(mma_n, int) or not 1 <= mma_n <= 256:
            raise _fail(origin, f"{pre}.mma_n", mma_n, "a whole number in [1, 256]")
    index_bits = None
    if "index_bits" in table:
        index_bits, sources["index_bits"] = _sourced(origin, f"{pre}.index_bits", table["index_bits"])
        if index_bits not in _INDEX_BITS:
            raise _fail(origin, f"{pre}.index_bits", index_bits, "32 or 64")
    b_layout = None
    if "b_layout" in table:
        b_layout, sources["b_layout"] = _sourced(origin, f"{pre}.b_layout", table["b_layout"])
        if b_layout not in _B_LAYOUTS:
            raise _fail(origin, f"{pre}.b_layout", b_layout, "row or col")
    extras = []
    for i, entry in enumerate(table.get("extra_kernels") or []):
        key = f"{pre}.extra_kernels[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise _fail(origin, key, entry, "a table with name, seconds = { value, source }")
        seconds, src = _sourced(origin, f"{key}.seconds", entry.get("seconds"))
        per_nz, src2 = 0.0, ""
        if "per_nonzero_s" in entry:
            per_nz, src2 = _sourced(origin, f"{key}.per_nonzero_s", entry["per_nonzero_s"])
        extras.append(ExtraKernel(entry["name"], _seconds(origin, f"{key}.seconds", seconds),
                                  _seconds(origin, f"{key}.per_nonzero_s", per_nz, 1e-6), src + (f"; {src2}" if src2 else "")))
    host_s = 0.0
    if "host_s" in table:
        value, sources["host_s"] = _sourced(origin, f"{pre}.host_s", table["host_s"])
        host_s = _seconds(origin, f"{pre}.host_s", value)
    params_from = table.get("params_from")
    if params_from is not None and not isinstance(params_from, str):
        raise _fail(origin, f"{pre}.params_from", params_from, "an implementation name")
    for key in ("knob", "label", "alternative"):
        if not isinstance(table.get(key, ""), str):
            raise _fail(origin, f"{pre}.{key}", table.get(key), "a string")
    quant = _quant_keys(origin, pre, table, sources)
    return KernelRule(kernel=kernel, mapping=mapping, dtypes=tuple(dtypes), tiles=MappingProxyType(tiles),
                      split_k=split_k, split_k_by=MappingProxyType(split_k_by), mma_n=mma_n,
                      index_bits=index_bits, b_layout=b_layout, extra_kernels=tuple(extras),
                      host_s=host_s, params_from=params_from, knob=table.get("knob", ""),
                      alternative=table.get("alternative") or None,
                      label=table.get("label", ""), sources=MappingProxyType(sources),
                      mapping_by_kind=MappingProxyType(by_kind), plan_from=plan_from, plan_as=plan_as, cta=cta,
                      pipeline=_pipeline(origin, pre, table.get("pipeline"), sources), **quant)


def _pipeline(origin: str, pre: str, entry: Any, sources: dict) -> GemmPipeline | None:
    """A GEMM rule's ``pipeline`` table (warps, tile_k, stages, smem_bytes, source)."""
    if entry is None:
        return None
    fields = {"warps": (1, 32), "tile_k": (16, 1 << 16), "stages": (1, 8), "smem_bytes": (0, 1 << 20)}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("source"), str) or not entry["source"].strip() \
            or set(entry) - set(fields) - {"source"} or {"warps", "tile_k", "stages"} - set(entry):
        raise _fail(origin, f"{pre}.pipeline", entry, "a table of warps, tile_k, stages, smem_bytes (optional) and source")
    for key, (lo, hi) in fields.items():
        v = entry.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _fail(origin, f"{pre}.pipeline.{key}", v, f"a whole number in [{lo}, {hi}]")
    sources["pipeline"] = entry["source"]
    return GemmPipeline(entry["warps"], entry["tile_k"], entry["stages"], entry.get("smem_bytes", 0))


#: rule keys of quantized paths (sparsim.models.quant) and of the GPUs a kernel needs
_QUANT_KEYS = ("quant", "act_quant", "dequant_ops", "zero_point", "groups", "min_cc", "max_cc")
_QUANT_NAMES = ("none", "w8a16", "w4a16", "fp8", "w8a8")  # sparsim.models.quant.SCHEMES, and no quantization


def _cc(origin: str, key: str, value: Any) -> str:
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise _fail(origin, key, value, 'a compute capability "MAJOR.MINOR", e.g. "8.0"')
    return value


def _quant_keys(origin: str, pre: str, table: Mapping, sources: dict) -> dict[str, Any]:
    """The quantization keys of a rule: schemes, activation quantization, dequantization
    work and the compute capabilities the kernel needs (sourced where a number)."""
    out: dict[str, Any] = {}
    if "quant" in table:
        value = table["quant"]
        if not isinstance(value, list) or not value or any(q not in _QUANT_NAMES for q in value):
            raise _fail(origin, f"{pre}.quant", value, f"a list of {', '.join(_QUANT_NAMES)}")
        out["quant"] = tuple(value)
    if "act_quant" in table:
        if table["act_quant"] not in ("separate", "fused"):
            raise _fail(origin, f"{pre}.act_quant", table["act_quant"], "separate or fused")
        out["act_quant"] = table["act_quant"]
    if "groups" in table:
        value, sources["groups"] = _sourced(origin, f"{pre}.groups", table["groups"])
        if not isinstance(value, list) or not value or any(
                isinstance(g, bool) or not isinstance(g, int) or not 8 <= g <= 8192 for g in value):
            raise _fail(origin, f"{pre}.groups", value, "a list of group sizes, whole numbers in [8, 8192]")
        out["groups"] = tuple(value)
    if "zero_point" in table:
        if not isinstance(table["zero_point"], bool):
            raise _fail(origin, f"{pre}.zero_point", table["zero_point"], "true or false")
        out["zero_point"] = table["zero_point"]
    if "dequant_ops" in table:
        value, sources["dequant_ops"] = _sourced(origin, f"{pre}.dequant_ops", table["dequant_ops"])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 64:
            raise _fail(origin, f"{pre}.dequant_ops", value, "instructions per weight value in [0, 64]")
        out["dequant_ops"] = float(value)
    for key in ("min_cc", "max_cc"):
        if key in table:
            value, sources[key] = _sourced(origin, f"{pre}.{key}", table[key])
            out[key] = _cc(origin, f"{pre}.{key}", value)
    return out



def _plan_keys(origin: str, pre: str, table: Mapping, sources: dict):
    """(mapping, mapping by hardware kind, plan_from, plan_as, CTA shape) of a rule."""
    mapping, by_kind = table.get("mapping"), {}
    if isinstance(mapping, Mapping):
        if not mapping or any(k not in HW_KINDS or v not in MAPPINGS for k, v in mapping.items()):
            raise _fail(origin, f"{pre}.mapping", dict(mapping),
                        f"{', '.join(MAPPINGS)}, or a table of them by hardware kind ({', '.join(HW_KINDS)})")
        by_kind = dict(mapping)
        mapping = by_kind.get("gpu", next(iter(by_kind.values())))
    if mapping not in MAPPINGS:
        raise _fail(origin, f"{pre}.mapping", mapping, ", ".join(MAPPINGS))
    refs = []
    for key in ("plan_from", "plan_as"):
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise _fail(origin, f"{pre}.{key}", value, "an implementation name" if key == "plan_from" else "a kernel name")
        refs.append(value)
    cta = None
    if "cta" in table:
        entry = table["cta"]
        fields = {"warps": (1, 32), "columns": (1, 4096), "registers_per_thread": (16, 255), "smem_bytes": (0, 1 << 20)}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("source"), str) or not entry["source"].strip() \
                or set(entry) - set(fields) - {"source"} or {"warps", "columns", "registers_per_thread"} - set(entry):
            raise _fail(origin, f"{pre}.cta", entry, "a table of warps, columns, registers_per_thread, smem_bytes "
                        "(optional) and source")
        for key, (lo, hi) in fields.items():
            v = entry.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise _fail(origin, f"{pre}.cta.{key}", v, f"a whole number in [{lo}, {hi}]")
        cta = CtaShape(entry["warps"], entry["columns"], entry["registers_per_thread"], entry.get("smem_bytes", 0))
        sources["cta"] = entry["source"]
    return mapping, by_kind, refs[0], refs[1], cta


def parse_impl(data: Mapping[str, Any], origin: str = "<memory>", *, kernels: tuple[str, ...],
               dtypes: tuple[str, ...]) -> Implementation:
    """Check an implementation file's data and build an :class:`Implementation`.

    ``kernels`` and ``dtypes`` are what the models know (passed in). Parameter names are
    checked by the simulator, which owns them (``sparsim.simulator.library``).
    """
    allowed = {"version", "name", "display_name", "library", "kind", "description", "public", "measurable", "kernel",
               "params", "basis"}
    for key in data:
        if key not in allowed:
            raise _fail(origin, key, "(unknown key)", ", ".join(sorted(allowed)))
    if data.get("version") != IMPL_VERSION:
        raise _fail(origin, "version", data.get("version"), str(IMPL_VERSION))
    for key in ("name", "display_name", "library"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise _fail(origin, key, data.get(key), "a non-empty string")
    if data.get("kind") not in ("gpu", "cpu"):
        raise _fail(origin, "kind", data.get("kind"), "gpu or cpu")
    if data.get("basis", "") not in ("", "published", "datasheet", "measured"):
        raise _fail(origin, "basis", data.get("basis"), "published, datasheet or measured")
    rules_data = data.get("kernel")
    if not isinstance(rules_data, Mapping) or not rules_data:
        raise _fail(origin, "kernel", rules_data, "one [kernel.NAME] table per kernel it runs")
    rules = {}
    for kernel, table in rules_data.items():
        if kernel not in kernels:
            raise _fail(origin, f"kernel.{kernel}", kernel, ", ".join(kernels))
        if not isinstance(table, Mapping):
            raise _fail(origin, f"kernel.{kernel}", table, "a table")
        rules[kernel] = _rule(origin, kernel, table, dtypes)
    params, sources = {}, {}
    for key, entry in (data.get("params") or {}).items():
        if not isinstance(key, str) or not key.replace("_", "").isalnum():
            raise _fail(origin, f"params.{key}", key, "a parameter name of the time models")
        value, sources[f"params.{key}"] = _sourced(origin, f"params.{key}", entry)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1000:
            raise _fail(origin, f"params.{key}", value, "a number in (0, 1000]")
        params[key] = float(value)
    return Implementation(
        name=data["name"], display_name=data["display_name"], library=data["library"], kind=data["kind"],
        rules=MappingProxyType(rules), description=str(data.get("description", "")),
        public=bool(data.get("public", True)), measurable=bool(data.get("measurable", True)),
        params=MappingProxyType(params),
        sources=MappingProxyType(sources), origin=origin, basis=data.get("basis", ""),
    )
