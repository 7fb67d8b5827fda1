"""The registry of implementations: the built-in files in ``impls/data/`` by name.

A kernel's default implementation is the library a user reaches first: cuBLAS for dense
and channel-pruned GEMMs, cuSPARSE for CSR/COO/BSR, cuSPARSELt for 2:4 and 1:2, and on a
CPU profile NumPy (dense) and SciPy (sparse). ``reference`` is sparsim's own
library-free mapping (the best tile for the hardware, no extra kernels, no host work):
the default for the ``grouped`` kernel, which no library ships.

A quantized problem (``quant=``, :mod:`sparsim.models.quant`) has its own default per
kernel and scheme (:data:`QUANT_DEFAULTS`): Marlin for int4 weight-only, Sparse-Marlin
for int4 + 2:4, cuBLASLt for fp8 and int8 W8A8, cuSPARSELt for W8A8 2:4. A file's name
cannot hold ``:`` on every system, so ``_`` in a file name stands for ``:`` in the
implementation's name (``cutlass-2_4.toml`` holds ``cutlass-2:4``).

>>> default_impl("dense", quant="w4a16"), default_impl("2:4", quant="w4a16"), default_impl("2:4", quant="w8a8")
('marlin', 'sparse-marlin', 'cusparselt')

>>> get_impl("torch").rule("2:4").params_from
'cusparselt'
>>> check_impl("cusparselt", "2:4", "fp64")
Traceback (most recent call last):
...
sparsim.errors.SparsimError: --dtype: got 'fp64' with --impl cusparselt --kernel 2:4; allowed: fp16, bf16, int8, fp8
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from ..dtypes import DTYPES
from ..errors import SparsimError
from ..models.kernels import KERNEL_OBJECTS, KERNELS, kernel_of
from ..tomlfile import read_toml
from .spec import Implementation, KernelRule, parse_impl

__all__ = ["check_impl", "default_impl", "get_impl", "impl_names", "load_impl", "plan_rule", "DEFAULTS",
           "QUANT_DEFAULTS"]

#: kernel -> default implementation on a GPU profile (DESIGN.md, sparsim.predict contract)
DEFAULTS = {"dense": "cublas", "channel": "cublas", "csr": "cusparse", "coo": "cusparse", "bsr": "cusparse",
            "2:4": "cusparselt", "1:2": "cusparselt", "grouped": "reference"}
#: kernel -> default implementation on a CPU profile (NumPy/SciPy take every dtype: the
#: CPU model runs narrow types as the BLAS/SciPy loops do, after conversion)
CPU_DEFAULTS = {"dense": "numpy", "channel": "numpy", "csr": "scipy", "coo": "scipy"}
#: (kernel, quantization scheme) -> default implementation on a GPU profile: what vLLM and
#: torchao pick for that scheme (vLLM: Marlin for GPTQ/AWQ int4, cuBLASLt/CUTLASS scaled
#: GEMMs for W8A8; torchao: int8 weight-only via torch.compile, Sparse-Marlin for int4 + 2:4)
#: (Marlin runs fp16 activations only; tinygemm, torchao's int4 path, bf16: a bf16 model
#: takes the first implementation in the list that runs its dtype)
QUANT_DEFAULTS = {("dense", "w8a16"): "torchao-int8wo", ("channel", "w8a16"): "torchao-int8wo",
                  ("dense", "w4a16"): ("marlin", "torchao-int4"), ("channel", "w4a16"): ("marlin", "torchao-int4"),
                  ("2:4", "w4a16"): "sparse-marlin",
                  ("dense", "fp8"): "cublaslt-fp8", ("channel", "fp8"): "cublaslt-fp8", ("2:4", "fp8"): "cusparselt",
                  ("dense", "w8a8"): "cublaslt-int8", ("channel", "w8a8"): "cublaslt-int8",
                  ("2:4", "w8a8"): "cusparselt"}


def _data_dir():
    return resources.files("sparsim.impls") / "data"


@functools.lru_cache(maxsize=None)
def _builtin() -> dict[str, Implementation]:
    out = {}
    for entry in sorted(_data_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            impl = load_impl(Path(str(entry)))
            expected = entry.name[:-5].replace("_", ":")  # "_" in a file name stands for ":"
            if impl.name != expected:
                raise SparsimError(f"implementation {entry.name}: key name: got {impl.name!r}; "
                                   f"allowed: {expected!r} (the file's name)")
            out[impl.name] = impl
    for impl in out.values():  # every plan_from / plan_as names a rule that exists
        for kernel in impl.rules:
            _plan_rule(out, impl, kernel)
    return out


def _plan_rule(impls: dict, impl: Implementation, kernel: str) -> tuple[Implementation, KernelRule]:
    rule, seen = impl.rule(kernel), [(impl.name, kernel)]
    while rule.plan_from or rule.plan_as:
        owner = impls.get(rule.plan_from or impl.name)
        target = rule.plan_as or kernel
        if owner is None or target not in owner.rules or (owner.name, target) in seen:
            raise SparsimError(f"implementation {impl.origin}: key kernel.{seen[0][1]}: plan from "
                               f"{rule.plan_from or impl.name} {target}: no such rule (or a cycle); allowed: "
                               f"an implementation and kernel with tiles of their own ({', '.join(sorted(impls))})")
        impl, kernel, rule = owner, target, owner.rules[target]
        seen.append((impl.name, kernel))
    return impl, rule


def plan_rule(name, kernel: str) -> KernelRule:
    """The rule whose plan data (tiles, split-K, MMA granularity, CTA shape) a call of
    implementation ``name`` for ``kernel`` runs: its own, or the one ``plan_from`` /
    ``plan_as`` point to (the one owner of each list).

    >>> plan_rule("torch", "dense") is get_impl("cublas").rule("dense"), plan_rule("torch", "channel").split_k[-1]
    (True, 16)
    """
    impl = get_impl(name)
    return _plan_rule({**_builtin(), impl.name: impl}, impl, kernel)[1]


def plan_library(name, kernel: str) -> str:
    """The library whose plan (tiles, split-K) a call of ``name`` for ``kernel`` runs."""
    impl = get_impl(name)
    return _plan_rule({**_builtin(), impl.name: impl}, impl, kernel)[0].library


def load_impl(path: str | Path) -> Implementation:
    """Read and check one implementation TOML file."""
    return parse_impl(read_toml(path, "implementation"), str(Path(path).name), kernels=KERNELS,
                      dtypes=tuple(DTYPES))


def impl_names(public_only: bool = True) -> tuple[str, ...]:
    return tuple(sorted(name for name, impl in _builtin().items() if impl.public or not public_only))


def get_impl(name) -> Implementation:
    """A built-in implementation by name (or the object itself)."""
    if isinstance(name, Implementation):
        return name
    impls = _builtin()
    if name not in impls:
        raise SparsimError(f"--impl: got {str(name)[:80]!r}; allowed: {', '.join(impl_names())}")
    return impls[name]


def default_impl(kernel: str, hw_kind: str = "gpu", quant: str | None = None, dtype: str | None = None) -> str:
    """The implementation a kernel runs with when none is named (for ``quant``, a
    quantization scheme, the one that runs that scheme, and of those the first that runs
    ``dtype``).

    >>> default_impl("dense", quant="w4a16", dtype="fp16"), default_impl("dense", quant="w4a16", dtype="bf16")
    ('marlin', 'torchao-int4')
    """
    if quant is not None:
        if hw_kind == "cpu":
            raise SparsimError(f"--quant: got {quant!r} on a cpu profile; allowed: none (quantized kernels are GPU paths)")
        if (kernel, quant) not in QUANT_DEFAULTS:
            kernels = sorted({k for k, q in QUANT_DEFAULTS if q == quant})
            raise SparsimError(f"--kernel: got {kernel!r} with --quant {quant}; allowed: {', '.join(kernels)}")
        choices = QUANT_DEFAULTS[(kernel, quant)]
        choices = (choices,) if isinstance(choices, str) else choices
        for name in choices:
            rule = get_impl(name).rules.get(kernel)
            if dtype is None or (rule is not None and dtype in rule.dtypes):
                return name
        return choices[0]  # none runs dtype: check_impl names the dtypes the first one takes
    if hw_kind == "cpu":
        return CPU_DEFAULTS.get(kernel, "reference")
    return DEFAULTS[kernel]


def _cc_tuple(cc: str) -> tuple[int, int]:
    major, minor = cc.split(".")
    return int(major), int(minor)


def _span(rule: KernelRule) -> str:
    """The compute capabilities ``rule`` runs on, in words."""
    return (f"compute capability {rule.min_cc} only" if rule.min_cc == rule.max_cc
            else f"compute capability {rule.min_cc} to {rule.max_cc}" if rule.min_cc and rule.max_cc
            else f"compute capability {rule.min_cc} or later" if rule.min_cc
            else f"compute capability up to {rule.max_cc}")


def _runs_cc(rule: KernelRule, cc: str) -> bool:
    return not ((rule.min_cc and _cc_tuple(cc) < _cc_tuple(rule.min_cc))
                or (rule.max_cc and _cc_tuple(cc) > _cc_tuple(rule.max_cc)))


def _scheme_gpus(kernel: str, quant: str) -> str:
    """Which GPUs run ``kernel`` under scheme ``quant`` at all: each public implementation
    of it with the compute capabilities it needs (what a refusal of a default names)."""
    spans = []
    for name in impl_names():
        rule = get_impl(name).rules.get(kernel)
        if rule is not None and quant in rule.quant:
            spans.append(f"{name}: {_span(rule)}" if rule.min_cc or rule.max_cc else f"{name}: any GPU")
    return "; ".join(spans)


def _check_quant_and_gpu(impl: Implementation, rule: KernelRule, kernel: str, quant: str | None,
                         cc: str | None, hw_name: str | None, defaulted: bool = False) -> None:
    """One line if ``rule`` does not run scheme ``quant`` or compute capability ``cc``.
    ``defaulted``: the user named no implementation (it is the scheme's default), so a GPU
    the scheme cannot run on is blamed on ``--quant``, naming the GPUs its paths need."""
    scheme = quant or "none"
    if scheme not in rule.quant:
        allowed = ", ".join(q for q in rule.quant)
        raise SparsimError(f"--quant: got {scheme!r} with --impl {impl.name} --kernel {kernel}; allowed: {allowed}")
    if cc and (rule.min_cc or rule.max_cc) and not _runs_cc(rule, cc):
        where = f"{hw_name or 'this GPU'} (compute capability {cc})"
        if defaulted and quant is not None:
            here = [name for name in impl_names() if kernel in get_impl(name).rules
                    and quant in get_impl(name).rules[kernel].quant and _runs_cc(get_impl(name).rules[kernel], cc)]
            allowed = (f"--impl {' or '.join(here)} on this GPU" if here else "none on this GPU")
            raise SparsimError(f"--quant: got {quant!r} with --kernel {kernel} on {where} (default --impl "
                               f"{impl.name}); allowed: {allowed} ({_scheme_gpus(kernel, quant)})")
        raise SparsimError(f"--impl: got {impl.name!r} on {where}; "
                           f"allowed: a GPU of {_span(rule)} ({rule.sources.get('min_cc') or rule.sources.get('max_cc')})")


def check_impl(name, kernel: str, dtype: str, hw_kind: str = "gpu", *, quant: str | None = None,
               cc: str | None = None, hw_name: str | None = None,
               defaulted: bool = False) -> tuple[Implementation, KernelRule]:
    """The implementation and its rule for ``kernel`` in ``dtype`` (the dtype the GEMM
    runs in); one clear line if it does not run that kernel, dtype, kind of hardware,
    quantization scheme ``quant`` or compute capability ``cc`` (``defaulted``: ``name``
    is the default the user did not name, so a GPU refusal names ``--quant``)."""
    impl = get_impl(name)
    rule = impl.rule(kernel)
    _check_quant_and_gpu(impl, rule, kernel, quant, cc, hw_name, defaulted)
    if dtype not in rule.dtypes:
        hint = ""
        others = [k.name for k in KERNEL_OBJECTS.values() if k.is_nm and k.name != kernel and dtype in k.dtypes]
        if kernel_of(kernel).is_nm and others:
            other = others[0]
            hint = (f" (cuSPARSELt runs fp32/tf32 as 1:2 sparsity and fp16/bf16/int8/fp8 as 2:4; "
                    f"use --kernel {other} for {dtype})")
        raise SparsimError(f"--dtype: got {dtype!r} with --impl {impl.name} --kernel {kernel}; "
                           f"allowed: {', '.join(rule.dtypes)}{hint}")
    if not impl.runs_on(kernel, hw_kind):
        names = [n for n in impl_names() if get_impl(n).kind == hw_kind and kernel in get_impl(n).rules]
        raise SparsimError(f"--impl: got {impl.name!r}, a {impl.kind} library, on a {hw_kind} profile; "
                           f"allowed for --kernel {kernel} there: {', '.join(names) or 'none'}")
    return impl, rule
