"""The Problem: one ``C[M×N] = A[M×K] @ B[K×N]`` to predict, measure or sweep.

A Problem is plain, frozen data: the kernel, the shape, the element type, A's sparsity
(density and pattern), kernel options, and the implementation (software stack) that
runs it. ``sparsim.predict``, the study sweep and the CLI all build one, so a field
means the same thing everywhere.

The implementation decides some options a user did not set: PyTorch's sparse tensors
carry int64 indices, cuSPARSE is called with int32, so :meth:`Problem.work` counts A's
index bytes the way the chosen library stores them.

>>> p = Problem("csr", m=4096, k=4096, n=16, density=0.01, impl="torch")
>>> p.resolved_options()["index_policy"], Problem("csr", m=4096, k=4096, n=16, density=0.01).resolved_options()["index_policy"]
('int64', 'library')

A quantization scheme (``quant``, ``group``; :mod:`sparsim.models.quant`) is part of the
problem: it picks the default implementation for that scheme and the work counts the
quantized weight's bytes and its dequantization (:mod:`sparsim.models.quantized`); Marlin
stores int4 values and an fp16 scale per 128 inputs, 0.516 bytes per weight:

>>> q = Problem("dense", m=4096, k=4096, n=1, quant="w4a16")
>>> q.impl_for(), q.work().a_element_bytes, q.work().dtype
('marlin', 0.515625, 'fp16')
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

from .errors import SparsimError, check_choice
from .impls import check_impl, default_impl
from .models.quant import get_scheme
from .models.quantized import compute_dtype, quantize_work
from .models.work import KERNELS, KernelWork, build_work

__all__ = ["Problem", "OPTION_KEYS", "call_options"]

#: kernel options a Problem may carry (passed to sparsim.models.build_work)
OPTION_KEYS = ("index_policy", "b_layout", "group_size", "block", "weights", "sparsity_pattern", "memory_budget",
               "pattern_options")


def call_options(rule, explicit: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Index policy and B layout of a library call: what the caller set explicitly, else
    what the implementation's rule says (PyTorch: int64 indices), else nothing (the
    models' defaults). The one place this is decided (Problem, study sweep, measured specs).

    >>> from sparsim.impls import get_impl
    >>> call_options(get_impl("torch").rule("csr")), call_options(get_impl("torch").rule("csr"), {"index_policy": "library"})
    ({'index_policy': 'int64', 'b_layout': 'row'}, {'index_policy': 'library', 'b_layout': 'row'})
    """
    explicit = {k: v for k, v in (explicit or {}).items() if v is not None}
    out = {}
    for key, from_rule in (("index_policy", rule.index_policy if rule else None),
                           ("b_layout", rule.b_layout if rule else None)):
        value = explicit.get(key, from_rule)
        if value is not None:
            out[key] = value
    return out


@dataclass(frozen=True, eq=False)
class Problem:
    kernel: str
    m: int
    k: int
    n: int
    dtype: str = "fp16"
    density: float = 1.0
    pattern: str = "uniform"
    options: Mapping[str, Any] = field(default_factory=dict)
    impl: str | None = None  # None: the kernel's default library
    seed: int = 0
    #: quantization scheme of the weights (sparsim.models.quant) and its group size
    quant: str | None = None
    group: int | None = None

    def __post_init__(self):
        check_choice("--kernel", self.kernel, KERNELS)
        get_scheme(self.quant, group=self.group)  # one line naming --quant / --group if wrong
        for key in self.options:
            check_choice("kernel option", key, OPTION_KEYS)
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def key(self) -> str:
        """A string that identifies the problem (options included), for caches and files."""
        options = ",".join(f"{k}={v!r}" for k, v in sorted(self.options.items()) if k not in ("weights", "sparsity_pattern"))
        return (f"{self.kernel}|{self.m}x{self.k}x{self.n}|{self.dtype}|d={self.density:g}|{self.pattern}|"
                f"s{self.seed}|{self.impl or '-'}|{options}"
                + (f"|q={self.quant}/{self.group or '-'}" if self.quant else ""))

    def __eq__(self, other) -> bool:
        return isinstance(other, Problem) and self.key == other.key and not (
            {"weights", "sparsity_pattern"} & (set(self.options) | set(other.options)))

    def __hash__(self) -> int:
        return hash(self.key)

    def impl_for(self, hw_kind: str = "gpu") -> str:
        """The implementation that runs this problem on a ``hw_kind`` profile."""
        return self.impl if self.impl is not None else default_impl(self.kernel, hw_kind, self.quant, self.dtype)

    @property
    def compute_dtype(self) -> str:
        """The dtype the GEMM runs in (fp8/int8 for W8A8 schemes, else ``dtype``)."""
        return compute_dtype(self.quant, self.dtype)

    def resolved_options(self, hw_kind: str = "gpu") -> dict[str, Any]:
        """The options with the implementation's index width and B layout filled in
        where the user set none (an explicit option always wins)."""
        if {"index_policy", "b_layout"} <= set(self.options):
            return dict(self.options)  # nothing left for the implementation to decide
        _, rule = check_impl(self.impl_for(hw_kind), self.kernel, self.compute_dtype, hw_kind, quant=self.quant)
        return {**self.options, **call_options(rule, self.options)}

    def work(self, hw_kind: str = "gpu") -> KernelWork:
        """The hardware-free work of this problem as its implementation stores A (and,
        for a quantized problem, as it dequantizes and quantizes)."""
        work = build_work(self.kernel, m=self.m, k=self.k, n=self.n, dtype=self.compute_dtype, density=self.density,
                          pattern=self.pattern, seed=self.seed, **self.resolved_options(hw_kind))
        return self._quantized(work, hw_kind)

    def _quantized(self, work: KernelWork, hw_kind: str) -> KernelWork:
        """``work`` with the weights quantized as ``quant`` (unchanged without a scheme)."""
        if self.quant is None:
            return work
        impl, rule = check_impl(self.impl_for(hw_kind), self.kernel, self.compute_dtype, hw_kind, quant=self.quant)
        group = get_scheme(self.quant, group=self.group).group
        if group is not None and rule.groups and group not in rule.groups:
            raise SparsimError(f"--group: got {group} with --impl {impl.name}; allowed: "
                               f"{', '.join(map(str, rule.groups))} ({rule.sources.get('groups', '')})")
        return quantize_work(work, self.quant, model_dtype=self.dtype, group=self.group,
                             dequant_ops=rule.dequant_ops, act_quant=rule.act_quant, zero_point=rule.zero_point)

    def work_for(self, machine) -> KernelWork:
        """The work of this problem as the library call of ``machine``
        (:func:`sparsim.simulator.machine_for`) stores A: its index width and B layout
        where the user set none. The implementation was checked when the machine was built."""
        call = machine.call
        if call.impl != self.impl_for(machine.hw.kind) or call.kernel != self.kernel:
            from .errors import SparsimError

            raise SparsimError(f"machine: built for {call.impl} {call.kernel}, not {self.impl_for(machine.hw.kind)} "
                               f"{self.kernel}; allowed: sparsim.simulator.machine_for(problem, hw, calibration)")
        options = {**self.options, **call_options(call, self.options)}
        work = build_work(self.kernel, m=self.m, k=self.k, n=self.n, dtype=self.compute_dtype, density=self.density,
                          pattern=self.pattern, seed=self.seed, **options)
        return self._quantized(work, machine.hw.kind)

    def with_impl(self, impl: str | None) -> "Problem":
        return replace(self, impl=impl)
