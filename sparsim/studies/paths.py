"""Software paths of a study: which implementations run each format on each profile.

A study's ``[sweep] impls`` lists software stacks to compare (default ``["default",
"torch"]``). Each entry is ``"default"`` — every format's default library on that profile
(cuBLAS for dense, cuSPARSELt for 2:4, cuSPARSE for CSR, ...; see
:func:`sparsim.impls.default_impl`) — or an implementation name (``sparsim impl list``).
For one format on one profile the entries resolve to implementations; an entry whose
implementation does not run the format (PyTorch has no ``grouped`` kernel) or is for
another kind of hardware is left out silently, and two entries that resolve to the same
implementation are predicted once.

Each prediction is labelled with its **path**: ``"default"`` when the implementation is
the format's default library on that profile, else the implementation's name
(``"torch"``, ``"cusparselt-search"``). The report compares a format with dense on the
same path, so PyTorch's 2:4 is measured against ``torch.mm`` and cuSPARSELt against cuBLAS.

>>> [(i, p) for i, p in resolve("2:4", ("default", "torch", "cusparselt"), "gpu")]
[('cusparselt', 'default'), ('torch', 'torch')]
>>> resolve("grouped", ("default", "torch"), "gpu")
(('reference', 'default'),)

A model workload's linear layers take a path too: a :class:`StepPath` is a format, a
quantization scheme (``[sweep] quant``), an implementation and, for formats whose cost
depends on it, a density. ``"default"`` hands the choice of library to the step model
(``impl=None``), which for a quantized path picks the kernel that scheme needs:

>>> [p.label for p in step_paths(("dense", "2:4"), ("none", "w4a16"), ("default",), (0.5,))]
['dense', '2:4', 'w4a16', 'w4a16 + 2:4']
>>> [p.label for p in step_paths(("csr",), ("none",), ("default", "torch"), (0.1, 0.3))]
['csr 10%', 'csr 30%', 'csr 10% · torch', 'csr 30% · torch']
"""

from __future__ import annotations

from dataclasses import dataclass

from ..impls import default_impl, get_impl, impl_names

__all__ = ["DEFAULT_IMPLS", "DEFAULT_PATH", "resolve", "allowed_entries", "runs_any", "StepPath", "step_paths",
           "NO_QUANT", "DENSITY_FORMATS", "FIXED_DENSITY"]

#: what a study compares when it names no implementations
DEFAULT_IMPLS = ("default", "torch")
#: the path label of a format's default library
DEFAULT_PATH = "default"


def _runs(name: str, kernel: str, hw_kind: str) -> bool:
    return get_impl(name).runs_on(kernel, hw_kind)


def resolve(kernel: str, entries, hw_kind: str = "gpu") -> tuple[tuple[str, str], ...]:
    """(implementation, path) of each entry of ``entries`` that runs ``kernel`` on a
    ``hw_kind`` profile, in order, each implementation once."""
    default = default_impl(kernel, hw_kind)
    out: dict[str, str] = {}
    for entry in entries:
        name = default if entry == DEFAULT_PATH else entry
        if name in out or not _runs(name, kernel, hw_kind):
            continue
        out[name] = DEFAULT_PATH if name == default else name
    return tuple(out.items())


def runs_any(name: str, kernels) -> bool:
    """Whether implementation ``name`` runs at least one of ``kernels`` (on any hardware)."""
    return any(k in get_impl(name).rules for k in kernels)


def allowed_entries(kernels) -> tuple[str, ...]:
    """What ``[sweep] impls`` may list for a study of ``kernels``: ``default`` and every
    implementation that runs one of them."""
    return (DEFAULT_PATH,) + tuple(n for n in impl_names() if runs_any(n, kernels))


#: the ``[sweep] quant`` entry of unquantized weights (the model's own dtype)
NO_QUANT = "none"
#: formats whose time depends on the swept density (the kept fraction of weights or rows)
DENSITY_FORMATS = ("csr", "coo", "bsr", "grouped", "channel")
#: fraction of weights a format keeps whatever the swept density (N:M keeps N of M)
FIXED_DENSITY = {"dense": 1.0, "2:4": 0.5, "1:2": 0.5}


@dataclass(frozen=True)
class StepPath:
    """How every linear layer of a model step is stored and run."""

    format: str
    quant: str = NO_QUANT
    impl: str | None = None  # None: the step model's choice for (format, quant)
    path: str = DEFAULT_PATH  # "default" or the implementation's name
    density: float | None = None  # for DENSITY_FORMATS; None for the others

    @property
    def kept(self) -> float:
        """Fraction of the weights this path keeps (the ``density`` column of a step row)."""
        return self.density if self.density is not None else FIXED_DENSITY.get(self.format, 1.0)

    @property
    def label(self) -> str:
        """What a report calls the path: "2:4", "w4a16 + 2:4", "csr 10% · torch"."""
        fmt = self.format if self.density is None else f"{self.format} {self.density:.0%}"
        if self.quant != NO_QUANT:
            fmt = self.quant if self.format == "dense" else f"{self.quant} + {fmt}"
        return fmt if self.path == DEFAULT_PATH else f"{fmt} · {self.path}"


def step_paths(formats, quants, entries, densities, hw_kind: str = "gpu") -> tuple[StepPath, ...]:
    """Every :class:`StepPath` of a model sweep on one kind of hardware, in report order
    (implementation entries, then quantization, then format, then density)."""
    out: list[StepPath] = []
    for entry in entries:
        for quant in quants:
            for fmt in formats:
                if quant == NO_QUANT:
                    pairs = [(i, p) for i, p in resolve(fmt, (entry,), hw_kind)]
                elif entry == DEFAULT_PATH:  # the step model picks the kernel the scheme needs
                    pairs = [(None, DEFAULT_PATH)]
                else:  # a quantized path by a named implementation: the step model says if it runs it
                    pairs = [(entry, entry)] if _runs(entry, fmt, hw_kind) else []
                for impl, path in pairs:
                    impl = None if path == DEFAULT_PATH else impl  # the step model's default
                    for density in (densities if fmt in DENSITY_FORMATS else (None,)):
                        step = StepPath(fmt, quant, impl, path, density)
                        if step not in out:
                            out.append(step)
    return tuple(out)
