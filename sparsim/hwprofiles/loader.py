"""Finding and reading hardware profiles.

A profile is named by the stem of a TOML file in ``sparsim/hwprofiles/data/``
(``sparsim hw list`` shows them), by a path to any TOML file of the same schema, or as
``"host"``: the CPU this process runs on, detected and measured at run time.

>>> [p for p in list_profiles() if p.startswith("h100")]
['h100-pcie-80gb', 'h100-sxm5-80gb']
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path

from ..errors import SparsimError
from ..tomlfile import read_toml
from .measured import apply_measured
from .schema import HardwareProfile, parse_profile

__all__ = ["apply_measured", "load_profile", "list_profiles", "read_profile_file", "shipped_calibration"]

HOST = "host"


def _data_dir():
    return resources.files("sparsim.hwprofiles") / "data"


def list_profiles() -> list[str]:
    """Names of the built-in profiles, sorted."""
    return sorted(p.name[:-5] for p in _data_dir().iterdir() if p.name.endswith(".toml"))


def shipped_calibration(name: str) -> Path | None:
    """The measured calibration that ships for built-in profile ``name``, if any
    (``sparsim/hwprofiles/calibrations/<name>.toml``; see its provenance for the data)."""
    entry = resources.files("sparsim.hwprofiles") / "calibrations" / f"{name}.toml"
    return Path(str(entry)) if entry.is_file() else None


def read_profile_file(path: str | Path) -> HardwareProfile:
    """Read and check one profile file; errors name the file."""
    return parse_profile(read_toml(path, "profile"), origin=str(path))


@functools.lru_cache(maxsize=64)
def _load_builtin(name: str) -> HardwareProfile:
    entry = _data_dir() / f"{name}.toml"
    data = tomllib.loads(entry.read_text(encoding="utf-8"))
    return parse_profile(data, origin=f"{name}.toml")


def load_profile(hw: str | Path | HardwareProfile) -> HardwareProfile:
    """Resolve a profile name, path or ``"host"`` to a :class:`HardwareProfile`."""
    if isinstance(hw, HardwareProfile):
        return hw
    text = str(hw)
    if text == HOST:
        from .host import host_profile  # measured lazily: it takes a few seconds

        return host_profile()
    if text in list_profiles():
        return _load_builtin(text)
    if text.endswith(".toml") or "/" in text or Path(text).exists():
        return read_profile_file(text)
    raise SparsimError(
        f"--hw: got {text!r}; allowed: {', '.join(list_profiles() + [HOST])}, or a path to a profile .toml"
    )
