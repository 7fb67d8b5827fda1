"""Measured ceilings: the keys a probe measures and a calibration's ``[measured]`` table
carries, and how they replace a profile's datasheet values.

This module is the one owner of the map from a measured key to the profile field it
replaces: the calibration reader checks keys against it, the probe writes them, the time
models apply them (:func:`apply_measured`) and ``sparsim hw show --calibration`` prints
them under the profile's own key names.

>>> MEASURED_ATTRS["clock_mhz"], profile_key("clock_mhz"), profile_key("tensor_flops_per_s.fp16")
('boost_clock_mhz', 'compute.boost_clock_mhz', 'tensor_dense_flops_per_s.fp16')
>>> is_measured_key("l2_bytes"), is_measured_key("tensor_flops_per_s.bf16"), is_measured_key("sm_count")
(True, True, False)
"""

from __future__ import annotations

import dataclasses

from .schema import _SCALARS, HardwareProfile

__all__ = ["MEASURED_ATTRS", "MEASURED_KEYS", "TENSOR_PREFIX", "apply_measured", "is_measured_key", "profile_key"]

#: a calibration's [measured] keys -> the profile attribute each replaces
MEASURED_ATTRS = {"hbm_bytes_per_s": "hbm_bytes_per_s", "l2_bytes_per_s": "l2_bytes_per_s",
                  "l2_latency_ns": "l2_latency_ns", "hbm_latency_ns": "hbm_latency_ns",
                  "l1_latency_ns": "l1_latency_ns", "launch_overhead_s": "launch_overhead_s",
                  "l2_bytes": "l2_bytes", "clock_mhz": "boost_clock_mhz"}
#: the keys a probe may measure besides the per-dtype matrix rates
MEASURED_KEYS = tuple(MEASURED_ATTRS)
#: a measured matrix rate of one dtype: ``tensor_flops_per_s.<dtype>``
TENSOR_PREFIX = "tensor_flops_per_s."
_SOURCE = "measured (calibration [measured] table)"


def is_measured_key(key: str) -> bool:
    """Whether a calibration's ``[measured]`` table may carry ``key``."""
    from ..dtypes import DTYPES

    return key in MEASURED_ATTRS or (isinstance(key, str) and key.startswith(TENSOR_PREFIX)
                                     and key[len(TENSOR_PREFIX):] in DTYPES)


def profile_key(key: str) -> str:
    """The profile key (``section.name``, as ``sparsim hw show`` prints it) that measured key ``key`` replaces."""
    if key.startswith(TENSOR_PREFIX):
        return "tensor_dense_flops_per_s." + key[len(TENSOR_PREFIX):]
    attr = MEASURED_ATTRS[key]
    return next(f"{section}.{name}" for section, name, scalar_attr, _ in _SCALARS if scalar_attr == attr)


def apply_measured(profile: HardwareProfile, measured) -> HardwareProfile:
    """``profile`` with the ceilings a probe measured (a calibration's ``[measured]``
    table) in place of the datasheet values; the sources say "measured".

    >>> from sparsim.hwprofiles import load_profile
    >>> p = apply_measured(load_profile("h200-sxm-141gb"), {"l2_bytes": 62914560})
    >>> p.l2_bytes, p.source("memory.l2_bytes")
    (62914560, 'measured (calibration [measured] table)')
    """
    if not measured:
        return profile
    changes, tensor = {}, dict(profile.tensor_dense_flops_per_s)
    sources = dict(profile.sources)
    for key, value in dict(measured).items():
        if key.startswith(TENSOR_PREFIX):
            tensor[key[len(TENSOR_PREFIX):]] = float(value)
            sources[profile_key(key)] = _SOURCE
        elif key in MEASURED_ATTRS:
            attr = MEASURED_ATTRS[key]
            changes[attr] = type(getattr(profile, attr))(value)
            sources[profile_key(key)] = _SOURCE
    return dataclasses.replace(profile, **changes, tensor_dense_flops_per_s=tensor, sources=sources)
