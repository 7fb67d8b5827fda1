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
The file is read and checked by :func:`sparsim.impls.spec.parse_impl`; this module holds
the frozen objects it builds.

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
from typing import Any, Mapping

from ..errors import SparsimError

__all__ = ["CtaShape", "ExtraKernel", "GemmPipeline", "HW_KINDS", "Implementation", "KernelRule", "MAPPINGS",
           "NO_LIBRARY"]

#: how an implementation's kernels are laid onto the machine (the simulator keeps one
#: mapping function per name: sparsim.simulator.mappings)
MAPPINGS = ("gemm", "gather", "cpu")
#: kinds of hardware a mapping table may name
HW_KINDS = ("gpu", "cpu")
#: the ``library`` of an implementation that runs no library (sparsim's own mapping, ``reference``)
NO_LIBRARY = "none"


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
