"""Calibration: fitted model parameters for one hardware profile, with provenance.

A calibration is plain data in a versioned TOML file, written by ``sparsim calibrate``
(:mod:`sparsim.validate`) and read by every time model. It names the profile it was
fitted for, the parameter values (see :mod:`sparsim.simulator.params`), and where they
came from: device, driver and library versions, clocks seen, date, sample count, fit error.

Three layers, each optional:

* ``[params]``: parameters that hold for every implementation on this device;
* ``[impl.NAME]``: parameters fitted for one implementation (``cublas``, ``cusparselt``,
  ...) that override ``[params]`` when that implementation runs;
* ``[measured]``: hardware ceilings measured by ``sparsim probe`` (keys as in the
  profile: ``hbm_bytes_per_s``, ``l2_latency_ns``, ...), which replace the datasheet
  value of the same key.

>>> cal = Calibration(hw="a100-sxm4-80gb", params={"hbm_efficiency": 0.85},
...                   impl_params={"cusparse": {"hbm_efficiency": 0.7}})
>>> cal.param("hbm_efficiency"), cal.param("l2_efficiency"), cal.param("hbm_efficiency", impl="cusparse")
(0.85, 0.8, 0.7)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .errors import SparsimError
from .hwprofiles.measured import MEASURED_KEYS as _MEASURED_KEYS
from .hwprofiles.measured import is_measured_key
from .speccheck import SpecChecker
from .tomlfile import dumps, read_toml
from .simulator.params import DEFAULT_PARAMS, EFFICIENCY_PARAMS

__all__ = ["Calibration", "load_calibration", "CALIBRATION_VERSION"]

CALIBRATION_VERSION = 2
#: versions this reader accepts (1 had no [impl.*] or [measured] tables)
READABLE_VERSIONS = (1, 2)
#: profile keys a probe may measure (their one owner: :mod:`sparsim.hwprofiles.measured`)
MEASURED_KEYS = _MEASURED_KEYS


@dataclass(frozen=True)
class Calibration:
    """Fitted parameters for the profile named ``hw``; unnamed ones keep their defaults."""

    hw: str
    params: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    name: str = "<memory>"  # file it came from
    #: implementation name -> parameters fitted for it (override ``params``)
    impl_params: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: measured hardware ceilings (profile keys; see MEASURED_KEYS, plus
    #: ``tensor_flops_per_s.<dtype>``) that replace the datasheet values
    measured: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        for key, value in self.params.items():
            _check_param(self.name, key, value)
        impl_params = {}
        for impl, table in dict(self.impl_params).items():
            if not isinstance(table, Mapping):
                raise SparsimError(f"calibration {self.name}: key impl.{impl}: got {table!r}; allowed: a table of parameters")
            for key, value in table.items():
                _check_param(self.name, key, value, prefix=f"impl.{impl}.")
            impl_params[str(impl)] = MappingProxyType(dict(table))
        for key, value in self.measured.items():
            _check_measured(self.name, key, value)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "impl_params", MappingProxyType(impl_params))
        object.__setattr__(self, "measured", MappingProxyType(dict(self.measured)))
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))

    def param(self, key: str, impl: str | None = None) -> float:
        if impl is not None and key in self.impl_params.get(impl, {}):
            return self.impl_params[impl][key]
        return self.params.get(key, DEFAULT_PARAMS[key])

    def all_params(self, impl: str | None = None) -> dict[str, float]:
        """Every parameter's value for ``impl`` (its own fit, else the device's, else the default)."""
        return {key: self.param(key, impl) for key in DEFAULT_PARAMS}

    @property
    def label(self) -> str:
        """How a report names the figures' footing: "calibrated on <device>, <date>", or for
        a calibration carried to another board of the die (:meth:`on_board`) "calibrated on
        <device> (same <die> die), <date>; clocks and memory from the <board> datasheet", or
        for a board's ceilings read from a publication (provenance ``basis = "published"``)
        "published: <source> on <device>".

        >>> Calibration(hw="a100-sxm4-80gb", measured={"hbm_bytes_per_s": 1.769e12},
        ...             provenance={"basis": "published", "source": "te42kyfo/gpu-benches gpu-stream",
        ...                         "device": "NVIDIA A100 80GB (SXM4 assumed)"}).label
        'published: te42kyfo/gpu-benches gpu-stream on NVIDIA A100 80GB'
        """
        device = self.provenance.get("device") or self.hw
        date = str(self.provenance.get("date", ""))[:10]
        if self.provenance.get("basis") == "published":  # a board's ceilings read from a publication
            return f"published: {self.provenance.get('source', 'a publication')} on {device.split(' (')[0]}"
        die, board = self.provenance.get("same_die"), self.provenance.get("board_datasheet")
        label = f"calibrated on {device}" + (f" (same {die} die)" if die else "") + (f", {date}" if date else "")
        return label + (f"; clocks and memory from the {board} datasheet" if board else "")

    def on_board(self, source, target) -> "Calibration":
        """This calibration, fitted on profile ``source``, for profile ``target`` of the same
        die: every parameter (die and library) carries over, the ``[measured]`` entries of
        the board (:data:`sparsim.hwprofiles.dies.SCOPE`) stay behind, and the basis names
        both. ``target`` is ``source``: unchanged.

        >>> from sparsim.hwprofiles import load_profile, shipped_calibration
        >>> h200 = load_calibration(shipped_calibration("h200-sxm-141gb"))
        >>> h100 = h200.on_board(load_profile("h200-sxm-141gb"), load_profile("h100-pcie-80gb"))
        >>> h100.hw, "hbm_bytes_per_s" in h100.measured, h100.impl_params == h200.impl_params
        ('h100-pcie-80gb', False, True)
        """
        from dataclasses import replace

        from .hwprofiles.dies import board_datasheet_name, board_keys

        if source.name == target.name:
            return self
        if not source.die or source.die != target.die:
            raise SparsimError(
                f"--calibration {self.name}: fitted for {source.name} (die {source.die or 'unknown'}), "
                f"not {target.name} (die {target.die or 'unknown'}); allowed: a calibration of {target.name} "
                f"or of another board with its die")
        drop = set(board_keys(self.measured))
        provenance = {**self.provenance, "device": self.provenance.get("device") or source.display_name,
                      "same_die": source.die, "board_datasheet": board_datasheet_name(target),
                      "calibrated_hw": source.name}
        return replace(self, hw=target.name, provenance=provenance,
                       measured={k: v for k, v in self.measured.items() if k not in drop})

    def check_profile(self, hw_name: str) -> None:
        """Refuse to apply this calibration to another profile."""
        if hw_name != self.hw:
            raise SparsimError(
                f"--calibration {self.name}: fitted for profile {self.hw!r}, not {hw_name!r}; "
                f"allowed: a calibration whose [device] hw is {hw_name!r}"
            )

    def to_toml(self) -> str:
        data = {"version": CALIBRATION_VERSION, "device": {"hw": self.hw},
                "params": {k: float(v) for k, v in sorted(self.params.items())},
                "impl": {impl: {k: float(v) for k, v in sorted(table.items())}
                         for impl, table in sorted(self.impl_params.items())}}
        if self.measured:
            data["measured"] = {k: float(v) for k, v in sorted(self.measured.items())}
        data["provenance"] = dict(self.provenance)
        return dumps(data)

    def save(self, path: str | Path) -> Path:
        """Write the TOML to ``path`` atomically (temporary file, fsync, rename)."""
        from .atomic import write_text_atomic

        return write_text_atomic(Path(path), self.to_toml(), label="calibration")


def _check_param(origin: str, key: str, value: Any, prefix: str = "params.") -> None:
    check = SpecChecker("calibration", origin)
    if key not in DEFAULT_PARAMS:
        raise check.fail(f"{prefix}{key}", key, f"one of {', '.join(DEFAULT_PARAMS)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise check.fail(f"{prefix}{key}", value, "a number > 0")
    if key in EFFICIENCY_PARAMS and value > 1:
        raise check.fail(f"{prefix}{key}", value, "a number in (0, 1]")


def _check_measured(origin: str, key: str, value: Any) -> None:
    from .dtypes import DTYPES

    if not is_measured_key(key):
        raise SparsimError(f"calibration {origin}: key measured.{key}: unknown; allowed: "
                           f"{', '.join(MEASURED_KEYS)}, tensor_flops_per_s.<dtype> "
                           f"(dtype one of {', '.join(DTYPES)})")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise SparsimError(f"calibration {origin}: key measured.{key}: got {value!r}; allowed: a number > 0")


def parameter_sets() -> tuple[str, ...]:
    """The names an ``[impl.NAME]`` table may have: every implementation, and every
    parameter set an implementation's rule borrows (``params_from``, e.g. ``torch-bsr``)."""
    from .impls import get_impl, impl_names

    names = set(impl_names(public_only=False))
    for impl in impl_names(public_only=False):
        names.update(rule.params_from for rule in get_impl(impl).rules.values() if rule.params_from)
    return tuple(sorted(names))


def load_calibration(path: str | Path | Calibration | None) -> Calibration | None:
    """Read a calibration TOML; errors name the file, the key and what is allowed."""
    if path is None or isinstance(path, Calibration):
        return path
    path = Path(path)
    data = read_toml(path, "calibration")
    if data.get("version") not in READABLE_VERSIONS:
        raise SparsimError(f"calibration {path}: key version: got {data.get('version')!r}; "
                           f"allowed: {', '.join(map(str, READABLE_VERSIONS))}")
    for key in data:
        if key not in ("version", "device", "params", "impl", "measured", "provenance"):
            raise SparsimError(f"calibration {path}: key {key}: unknown; "
                               "allowed: version, device, params, impl, measured, provenance")
    device = data.get("device", {})
    if not isinstance(device, dict) or not isinstance(device.get("hw"), str):
        raise SparsimError(f"calibration {path}: key device.hw: got {device.get('hw') if isinstance(device, dict) else device!r}; allowed: a profile name")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise SparsimError(f"calibration {path}: key params: got {params!r}; allowed: a table of parameters")
    for table in ("impl", "measured", "provenance"):
        if not isinstance(data.get(table, {}), dict):
            raise SparsimError(f"calibration {path}: key {table}: got {data[table]!r}; allowed: a table")
    known = parameter_sets()
    for name in data.get("impl", {}):
        if name not in known:  # a misspelt table would be ignored by every prediction
            raise SparsimError(f"calibration {path}: table [impl.{name}]: unknown parameter set; allowed: "
                               f"{', '.join(known)}")
    return Calibration(hw=device["hw"], params=params, provenance=data.get("provenance", {}), name=str(path),
                       impl_params=data.get("impl", {}), measured=data.get("measured", {}))
