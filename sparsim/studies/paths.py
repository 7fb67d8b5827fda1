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
"""

from __future__ import annotations

from ..impls import default_impl, get_impl, impl_names

__all__ = ["DEFAULT_IMPLS", "DEFAULT_PATH", "resolve", "allowed_entries", "runs_any"]

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
