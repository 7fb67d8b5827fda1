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
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

from .errors import check_choice
from .impls import check_impl, default_impl
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

    def __post_init__(self):
        check_choice("--kernel", self.kernel, KERNELS)
        for key in self.options:
            check_choice("kernel option", key, OPTION_KEYS)
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def key(self) -> str:
        """A string that identifies the problem (options included), for caches and files."""
        options = ",".join(f"{k}={v!r}" for k, v in sorted(self.options.items()) if k not in ("weights", "sparsity_pattern"))
        return (f"{self.kernel}|{self.m}x{self.k}x{self.n}|{self.dtype}|d={self.density:g}|{self.pattern}|"
                f"s{self.seed}|{self.impl or '-'}|{options}")

    def __eq__(self, other) -> bool:
        return isinstance(other, Problem) and self.key == other.key and not (
            {"weights", "sparsity_pattern"} & (set(self.options) | set(other.options)))

    def __hash__(self) -> int:
        return hash(self.key)

    def impl_for(self, hw_kind: str = "gpu") -> str:
        """The implementation that runs this problem on a ``hw_kind`` profile."""
        return self.impl if self.impl is not None else default_impl(self.kernel, hw_kind)

    def resolved_options(self, hw_kind: str = "gpu") -> dict[str, Any]:
        """The options with the implementation's index width and B layout filled in
        where the user set none (an explicit option always wins)."""
        if {"index_policy", "b_layout"} <= set(self.options):
            return dict(self.options)  # nothing left for the implementation to decide
        _, rule = check_impl(self.impl_for(hw_kind), self.kernel, self.dtype, hw_kind)
        return {**self.options, **call_options(rule, self.options)}

    def work(self, hw_kind: str = "gpu") -> KernelWork:
        """The hardware-free work of this problem as its implementation stores A."""
        return build_work(self.kernel, m=self.m, k=self.k, n=self.n, dtype=self.dtype, density=self.density,
                          pattern=self.pattern, seed=self.seed, **self.resolved_options(hw_kind))

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
        return build_work(self.kernel, m=self.m, k=self.k, n=self.n, dtype=self.dtype, density=self.density,
                          pattern=self.pattern, seed=self.seed, **options)

    def with_impl(self, impl: str | None) -> "Problem":
        return replace(self, impl=impl)
