"""Example study files shipped with sparsim (``sparsim study --example NAME``).

The TOML files in this folder are the canonical copies; the repository's ``examples/``
folder links to them, so the two cannot drift apart.

>>> list_examples()[:2]
['bert-base', 'llama2-7b']
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ...errors import SparsimError

__all__ = ["list_examples", "example_path"]


def _folder():
    return resources.files(__name__)


def list_examples() -> list[str]:
    """Names of the built-in example studies, sorted."""
    return sorted(p.name[:-5] for p in _folder().iterdir() if p.name.endswith(".toml"))


def example_path(name: str) -> Path:
    """Path of the example study ``name`` (a file inside the installed package)."""
    if name not in list_examples():
        raise SparsimError(f"--example: got {name!r}; allowed: {', '.join(list_examples())}")
    return Path(str(_folder() / f"{name}.toml"))
