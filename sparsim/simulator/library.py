"""One library call on a machine: which kernels an implementation launches, with which
tiles and parameters, and the host work the GPU waits for.

An implementation (:mod:`sparsim.impls`) is data; this module turns its rule for a kernel
into what the time model needs:

* the **parameters**: the defaults (:mod:`~sparsim.simulator.params`), then the
  implementation file's own (library behaviour, such as cuSPARSE's int64 slow-down), then
  a calibration's device-wide ``[params]``, then its ``[impl.NAME]`` table, where NAME is
  the rule's ``params_from`` (PyTorch's ``torch.mm`` runs cuBLAS kernels, so it uses
  cuBLAS's fitted values) or the implementation's own name;
* the **mapping** the rule names for this kind of hardware (:mod:`~sparsim.simulator.mappings`
  runs the one of that name), and its plan data: the **candidate tiles and split-K** of a
  tensor-core GEMM (one tile: a fixed plan), the **CTA shape** of a gather, and the
  library whose plan it is (:func:`sparsim.impls.plan_rule`);
* the **extra kernels** and the **host seconds** per call.

``time_s = kernel_s + overhead_s``: ``kernel_s`` is the device time of the kernels of
one call (main kernel, then the extra ones, back to back), ``overhead_s`` the host work
per call that an eager loop makes the GPU wait for.

>>> from sparsim.hwprofiles import load_profile
>>> call = library_call("torch", "2:4", "fp16", load_profile("h200-sxm-141gb"))
>>> call.params_key, call.tiles, round(call.host_s * 1e3, 2)
('cusparselt', ((128, 256),), 0.45)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..errors import SparsimError
from ..impls import check_impl, default_impl, get_impl, plan_library, plan_rule
from ..impls.spec import NO_LIBRARY, CtaShape, ExtraKernel, GemmPipeline
from .params import DEFAULT_PARAMS

__all__ = ["LibraryCall", "library_call", "call_params", "call_timeline", "basis_of"]


@dataclass(frozen=True)
class LibraryCall:
    impl: str
    kernel: str
    mapping: str  # a name of sparsim.impls.spec.MAPPINGS, for this kind of hardware
    params_key: str  # the [impl.NAME] table of a calibration that applies
    tiles: tuple[tuple[int, int], ...] | None  # a GEMM's candidate tiles (None: the reference's)
    split_k: tuple[int, ...] | None  # a GEMM's candidate split-K slices
    mma_n: int = 0  # a fixed tile's MMAs follow the N that holds data at this granularity
    extra_kernels: tuple[ExtraKernel, ...] = ()
    host_s: float = 0.0
    index_policy: str | None = None
    b_layout: str | None = None
    label: str = ""
    knob: str = ""
    library: str = ""
    defaults: tuple[tuple[str, float], ...] = ()  # the implementation file's [params]
    cta: CtaShape | None = None  # a gather's CTA
    plan_library: str = ""  # the library whose tiles / CTA the plan runs (cuBLAS for torch.mm)
    pipeline: GemmPipeline | None = None  # a GEMM's own K loop (None: the mapping's multistage one)

    @property
    def fixed_tile(self) -> bool:
        return self.tiles is not None and len(self.tiles) == 1

    def tile_for(self, n: int) -> tuple[int, int]:
        """The fixed tile as it runs on N columns: with ``mma_n`` its N shrinks to the
        columns that hold data (rounded up to ``mma_n``) when N is below one tile."""
        tm, tn = self.tiles[0]
        if self.mma_n:
            tn = min(tn, -(-n // self.mma_n) * self.mma_n)
        return tm, tn


def library_call(impl, kernel: str, dtype: str, hw, quant: str | None = None) -> LibraryCall:
    """The call ``impl`` (a name, an Implementation, or None for the kernel's default)
    makes for ``kernel`` in ``dtype`` on profile ``hw`` (weights quantized as ``quant``;
    a kernel the GPU's compute capability cannot run is refused here)."""
    name = default_impl(kernel, hw.kind, quant, dtype) if impl is None else impl
    implementation, rule = check_impl(name, kernel, dtype, hw.kind, quant=quant,
                                      cc=getattr(hw, "compute_capability", None) or None, hw_name=hw.name,
                                      defaulted=impl is None)
    for key in implementation.params:  # checked here: the simulator owns parameter names
        if key not in DEFAULT_PARAMS:
            raise SparsimError(f"implementation {implementation.origin}: key params.{key}: unknown; "
                               f"allowed: {', '.join(DEFAULT_PARAMS)}")
    plan = plan_rule(implementation, kernel)
    # the kernels' library behaviour: that of the implementation whose kernels run
    # (PyTorch's A_csr @ B runs cuSPARSE's kernels, with cuSPARSE's int64 slow-down)
    from ..impls import impl_names

    owner = get_impl(rule.params_from) if rule.params_from in impl_names(public_only=False) else implementation
    cc = getattr(hw, "compute_capability", None)
    tiles = plan.tiles_for(cc=cc, dtype=dtype)
    return LibraryCall(
        impl=implementation.name, kernel=kernel, mapping=rule.mapping_for(hw.kind),
        params_key=rule.params_from or implementation.name,
        tiles=tiles, split_k=plan.split_k_for(cc=cc, dtype=dtype), mma_n=plan.mma_n,
        extra_kernels=rule.extra_kernels, host_s=rule.host_s, index_policy=rule.index_policy,
        b_layout=rule.b_layout, label=rule.label, knob=rule.knob, library=implementation.library,
        defaults=tuple(sorted(owner.params.items())), cta=plan.cta,
        plan_library=plan_library(implementation, kernel), pipeline=plan.pipeline,
    )


def call_params(call: LibraryCall, calibration=None) -> dict[str, float]:
    """Parameter values for ``call``: defaults < implementation file < calibration
    ``[params]`` < calibration ``[impl.<params_key>]``."""
    params = {**DEFAULT_PARAMS, **dict(call.defaults)}
    if calibration is None:
        return params
    if isinstance(calibration, Mapping):  # a plain mapping of parameters
        return {**params, **calibration}
    params.update(calibration.params)
    params.update(calibration.impl_params.get(call.params_key, {}))
    return params


def call_timeline(call: LibraryCall, work, main_s: float):
    """((kernel name, seconds) of each kernel one call launches, kernel seconds, host seconds)."""
    # sparsim's own mapping (library "none") runs no library kernel: say so, not "none dense"
    name = call.label or (f"{call.library} {work.kernel}" if call.library != NO_LIBRARY
                          else f"sparsim reference {work.kernel} kernel (no library)")
    kernels = [(name, main_s)]
    kernels += [(extra.name, extra.time_s(work.nnz)) for extra in call.extra_kernels]
    return tuple(kernels), sum(t for _, t in kernels), call.host_s


def basis_of(calibration) -> str:
    """What a prediction's figures rest on, in the words a report shows."""
    label = getattr(calibration, "label", None)
    if label:
        return label
    return "parameters given" if calibration else "datasheet only"
