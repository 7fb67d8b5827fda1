"""An implementation: what one call of a library runs for a kernel, as sourced data.

A hardware profile says what a GPU can do; an implementation says what a software stack
does with it. For each kernel it runs, an implementation file names

* the **mapping** onto the machine (``gemm``: tensor-core tiles; ``gather``: a
  cuSPARSE-style SpMM; ``cpu``: NumPy/SciPy on a host), or one per kind of hardware
  (``mapping = { gpu = "gemm", cpu = "cpu" }``: sparsim's library-free reference runs on
  either), and for a tiled GEMM the **tiles** the library picks from (one tile: a fixed
  plan, such as cuSPARSELt's default algorithm; several: a heuristic or a search) and the
  **split-K** slices it may use; for a gather the **CTA shape** it launches (warps,
  columns of B, registers, shared memory). ``plan_from = "cublas"`` takes the tiles,
  split-K, MMA granularity and CTA shape of another implementation's rule for the same
  kernel (``torch.mm`` runs cuBLAS's heuristics), ``plan_as = "dense"`` those of another
  kernel of the same file (a channel-pruned GEMM is a smaller dense one), so each list
  has one owner;
* the **index width** and **B layout** it calls the kernel with;
* **extra kernels** each call launches (cuSPARSE's partition kernel, a memset), with
  their time;
* **host work per call** that the GPU waits for (plan set-up, format checks, dispatch);
* the **knob** a user can turn to change the answer.

Every number carries its ``source`` (a document, or "fitted to <data>"), as profiles do.
Tables keyed by selector let one file describe several GPUs: for ``tiles`` the first of
``sm90.fp16``, ``sm90``, ``default.fp16``, ``default`` that exists applies (compute
capability 9.0, dtype fp16). ``split_k`` is one sourced list for every GPU, or a table of
selectors the same way (a library whose kernels split K on one architecture only).

>>> from sparsim.impls import get_impl
>>> rule = get_impl("cusparselt").rule("2:4")
>>> rule.mapping, rule.tiles_for(cc="9.0", dtype="fp16"), rule.split_k
('gemm', ((128, 256),), (1,))
>>> search = get_impl("cusparselt-search").rule("2:4")
>>> search.split_k_for(cc="8.9", dtype="fp16")[-1], search.split_k_for(cc="8.9", dtype="fp8")
(8, (1,))
>>> get_impl("reference").rule("dense").mapping_for("cpu"), get_impl("cusparse").rule("csr").cta.warps
('cpu', 8)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import SparsimError
from ..speccheck import SpecChecker

__all__ = ["CtaShape", "ExtraKernel", "Implementation", "KernelRule", "MAPPINGS", "NO_LIBRARY", "parse_impl",
           "IMPL_VERSION"]

IMPL_VERSION = 1
#: how an implementation's kernels are laid onto the machine (the simulator keeps one
#: mapping function per name: sparsim.simulator.mappings)
MAPPINGS = ("gemm", "gather", "cpu")
#: kinds of hardware a mapping table may name
HW_KINDS = ("gpu", "cpu")
#: the ``library`` of an implementation that runs no library (sparsim's own mapping, ``reference``)
NO_LIBRARY = "none"
_B_LAYOUTS = ("row", "col")
_INDEX_BITS = (32, 64)


@dataclass(frozen=True)
class ExtraKernel:
    """A kernel a call launches besides the main one: ``seconds + per_nonzero_s · nnz``."""

    name: str
    seconds: float
    per_nonzero_s: float = 0.0
    source: str = ""

    def time_s(self, nnz: int) -> float:
        return self.seconds + self.per_nonzero_s * nnz


@dataclass(frozen=True)
class CtaShape:
    """One CTA of a gather kernel, as the library launches it (mapping data)."""

    warps: int
    #: columns of B (and C) one CTA covers; the grid runs ceil(N / columns) slices
    columns: int
    registers_per_thread: int
    #: shared memory per CTA (staged blocks / group values); 0 for CSR and COO
    smem_bytes: int = 0


@dataclass(frozen=True)
class GemmPipeline:
    """How a GEMM kernel walks K, where it is not CUTLASS's multistage shared-memory
    pipeline that the GEMM mapping derives (mapping data, from the kernel's code)."""

    warps: int
    #: K elements one CTA's loads cover per round trip (all its warps together)
    tile_k: int
    #: k-blocks in flight + 1; 1: no prefetch, each round waits for its loads, then computes
    stages: int
    smem_bytes: int = 0


@dataclass(frozen=True)
class KernelRule:
    """How one implementation runs one kernel."""

    kernel: str
    mapping: str  # on the implementation's own kind of hardware
    dtypes: tuple[str, ...]
    #: selector ("sm90.fp16", "sm90", "default") -> candidate tiles (tile_m, tile_n)
    tiles: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    #: split-K slices on a GPU no selector of ``split_k_by`` names
    split_k: tuple[int, ...] = (1,)
    #: selector ("sm89.int8", "sm90", "default") -> split-K slices, where they differ by GPU
    split_k_by: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: the MMAs follow the N that holds data at this granularity (0: the whole tile runs)
    mma_n: int = 0
    index_bits: int | None = None
    b_layout: str | None = None
    extra_kernels: tuple[ExtraKernel, ...] = ()
    host_s: float = 0.0
    #: implementation whose fitted parameters the kernels use (torch runs cuBLAS kernels...)
    params_from: str | None = None
    knob: str = ""
    #: the implementation the knob leads to, predicted beside this one for comparison
    alternative: str | None = None
    label: str = ""  # what the kernel is called in a profiler trace
    sources: Mapping[str, str] = field(default_factory=dict)
    #: quantization schemes this call runs (sparsim.models.quant names; "none": unquantized)
    quant: tuple[str, ...] = ("none",)
    #: where W8A8 activations are quantized: "separate" (the framework runs a quantize
    #: kernel before the GEMM) or "fused" (the GEMM's prologue does it)
    act_quant: str = "separate"
    #: CUDA-core instructions (thread level) per stored weight value to dequantize it
    #: (int4/int8 -> fp16 unpack, zero point, scale), each time a CTA loads it
    dequant_ops: float = 0.0
    #: group sizes (inputs per scale) the kernel is built for; () : any
    groups: tuple[int, ...] = ()
    #: whether the stored weights carry a zero point beside each scale (None: the scheme's
    #: default; Marlin is symmetric, tinygemm stores scale and zero)
    zero_point: bool | None = None
    #: compute capabilities the kernel runs on ("" : no bound)
    min_cc: str = ""
    max_cc: str = ""
    #: hardware kind -> mapping, where it differs by kind (the reference implementation)
    mapping_by_kind: Mapping[str, str] = field(default_factory=dict)
    #: the implementation (same kernel) and the kernel (same implementation) whose plan
    #: data (tiles, split_k, mma_n, cta) this rule runs (see sparsim.impls.registry.plan_rule)
    plan_from: str | None = None
    plan_as: str | None = None
    #: a gather kernel's CTA
    cta: CtaShape | None = None
    #: a GEMM kernel's own K loop (None: the mapping's multistage pipeline)
    pipeline: GemmPipeline | None = None

    def mapping_for(self, hw_kind: str) -> str:
        """The mapping this rule uses on a ``hw_kind`` profile."""
        return self.mapping_by_kind.get(hw_kind, self.mapping)

    def tiles_for(self, *, cc: str | None, dtype: str) -> tuple[tuple[int, int], ...] | None:
        """The candidate tiles on a GPU of compute capability ``cc`` for ``dtype``, or None
        (the mapping's own heuristic candidates)."""
        return _select(self.tiles, cc, dtype)

    def split_k_for(self, *, cc: str | None, dtype: str) -> tuple[int, ...]:
        """The split-K slices the library may use on a GPU of compute capability ``cc`` for
        ``dtype`` (the first selector of ``split_k_by`` that applies, else ``split_k``)."""
        return _select(self.split_k_by, cc, dtype) or self.split_k

    @property
    def index_policy(self) -> str | None:
        """How A's indices are counted: int32 calls use the library rule (int32, and
        int64 only where a value cannot fit, as a caller must); int64 calls always int64."""
        return {32: "library", 64: "int64"}.get(self.index_bits)


def _select(table: Mapping[str, Any], cc: str | None, dtype: str):
    """The entry of a selector table that applies: the first of ``sm<cc>.<dtype>``,
    ``sm<cc>``, ``default.<dtype>``, ``default`` it has, else None."""
    arch = "sm" + cc.replace(".", "") if cc else None
    for key in ((f"{arch}.{dtype}", arch) if arch else ()) + (f"default.{dtype}", "default"):
        if key in table:
            return table[key]
    return None


@dataclass(frozen=True)
class Implementation:
    name: str
    display_name: str
    library: str
    kind: str  # "gpu" | "cpu"
    rules: Mapping[str, KernelRule]
    description: str = ""
    public: bool = True
    #: a measurement can name it (a library that runs; sparsim's reference does not)
    measurable: bool = True
    #: default parameters of this implementation's kernels (library behaviour, sourced)
    params: Mapping[str, float] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    origin: str = "<memory>"
    #: what the implementation's own figures rest on where no measurement of ours backs
    #: them: "published" (others' published measurements) or "datasheet"; "" otherwise
    basis: str = ""

    @property
    def kernels(self) -> tuple[str, ...]:
        return tuple(self.rules)

    def runs_on(self, kernel: str, hw_kind: str) -> bool:
        """Whether this implementation runs ``kernel`` on a ``hw_kind`` profile: a rule for
        it, on its own kind of hardware or one its rule names a mapping for (the reference)."""
        rule = self.rules.get(kernel)
        return rule is not None and (self.kind == hw_kind or hw_kind in rule.mapping_by_kind)

    def rule(self, kernel: str) -> KernelRule:
        if kernel not in self.rules:
            raise SparsimError(f"--impl: got {self.name!r} with --kernel {kernel}; "
                               f"allowed kernels for {self.name}: {', '.join(self.rules)}")
        return self.rules[kernel]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "display_name": self.display_name, "library": self.library, "kind": self.kind,
            "description": self.description, "params": dict(self.params), "basis": self.basis,
            "kernels": {k: {"mapping": dict(r.mapping_by_kind) or r.mapping, "dtypes": list(r.dtypes),
                            "tiles": {s: [list(t) for t in ts] for s, ts in r.tiles.items()},
                            "split_k": list(r.split_k),
                            "split_k_by": {s: list(v) for s, v in r.split_k_by.items()},
                            "index_bits": r.index_bits, "b_layout": r.b_layout,
                            "extra_kernels": [{"name": e.name, "seconds": e.seconds,
                                               "per_nonzero_s": e.per_nonzero_s} for e in r.extra_kernels],
                            "host_s": r.host_s, "params_from": r.params_from, "knob": r.knob,
                            "quant": list(r.quant), "act_quant": r.act_quant, "dequant_ops": r.dequant_ops,
                            "min_cc": r.min_cc, "max_cc": r.max_cc,
                            "plan_from": r.plan_from, "plan_as": r.plan_as,
                            "cta": None if r.cta is None else dict(r.cta.__dict__),
                            "pipeline": None if r.pipeline is None else dict(r.pipeline.__dict__)}
                        for k, r in self.rules.items()},
        }


# --- parsing --------------------------------------------------------------------------

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
