"""Reading the TOML data files sparsim takes (profiles, calibrations, studies).

Both ways a file can fail, unreadable or not TOML, become one line that names the kind
of file, its path and what is wrong, so every loader reports them the same way.

>>> read_toml("/nonexistent/x.toml", "study")
Traceback (most recent call last):
...
sparsim.errors.SparsimError: study /nonexistent/x.toml: cannot read: No such file or directory; allowed: a readable TOML file
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import SparsimError

__all__ = ["read_toml"]


def read_toml(path: str | Path, label: str) -> dict[str, Any]:
    """Parse the TOML file at ``path``; ``label`` names the kind of file in errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise SparsimError(f"{label} {path}: cannot read: {reason}; allowed: a readable TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = " ".join(str(exc).split())
        raise SparsimError(f"{label} {path}: not valid TOML ({detail}); allowed: a TOML file") from None
