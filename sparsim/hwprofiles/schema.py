"""The hardware profile: a frozen record of one machine's published or measured limits.

A profile is plain data in a TOML file (see ``data/``), loaded once into a
:class:`HardwareProfile`. Every number is written as ``{ value = ..., source = "..." }``
so the citation travels with the figure; the loader refuses a number without one.
Units sit in the key names (``hbm_bytes_per_s``, ``l2_latency_ns``).

>>> from sparsim.hwprofiles import load_profile
>>> hw = load_profile("a100-sxm4-80gb")
>>> hw.sm_count, hw.tensor_dense_flops_per_s["fp16"] / 1e12
(108, 312.0)
>>> hw.source("memory.hbm_bytes_per_s")  # doctest: +ELLIPSIS
'...'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import SparsimError, shown
from ..speccheck import SpecChecker

__all__ = ["HardwareProfile", "SCHEMA_VERSION", "parse_profile", "MATH_DTYPES"]

SCHEMA_VERSION = 1

#: dtypes a tensor-core table may list
MATH_DTYPES = ("fp64", "tf32", "fp16", "bf16", "fp8", "int8")

# (section, key, attribute, kind). kind "int": whole number >= 1; "pos": number > 0.
_SCALARS = (
    ("compute", "sm_count", "sm_count", "int"),
    ("compute", "boost_clock_mhz", "boost_clock_mhz", "pos"),
    ("compute", "base_clock_mhz", "base_clock_mhz", "pos"),
    ("compute", "max_ctas_per_sm", "max_ctas_per_sm", "int"),
    ("compute", "max_warps_per_sm", "max_warps_per_sm", "int"),
    ("compute", "registers_per_sm", "registers_per_sm", "int"),
    ("compute", "shared_mem_per_sm_bytes", "shared_mem_per_sm_bytes", "int"),
    ("memory", "hbm_bytes", "hbm_bytes", "int"),
    ("memory", "hbm_bytes_per_s", "hbm_bytes_per_s", "pos"),
    ("memory", "hbm_latency_ns", "hbm_latency_ns", "pos"),
    ("memory", "l2_bytes", "l2_bytes", "int"),
    ("memory", "l2_bytes_per_s", "l2_bytes_per_s", "pos"),
    ("memory", "l2_latency_ns", "l2_latency_ns", "pos"),
    ("memory", "l1_bytes_per_sm", "l1_bytes_per_sm", "int"),
    ("memory", "l1_latency_ns", "l1_latency_ns", "pos"),
    ("memory", "sector_bytes", "sector_bytes", "int"),
    ("launch", "overhead_s", "launch_overhead_s", "pos"),
)
# Physically meaningful ranges, wide enough for any CPU or GPU of the next decade and
# narrow enough that a typo (1e15 SMs, a rate of 1e-300 FLOP/s) is refused instead of
# turning into NaN or a memory error deep in the simulator. Key -> (lowest, highest).
LIMITS = {
    "sm_count": (1, 10_000),
    "boost_clock_mhz": (1, 10_000), "base_clock_mhz": (1, 10_000),
    "max_ctas_per_sm": (1, 1024), "max_warps_per_sm": (1, 1024),
    "registers_per_sm": (1, 2**24), "shared_mem_per_sm_bytes": (1, 2**30),
    "hbm_bytes": (2**20, 2**50), "hbm_bytes_per_s": (1e6, 1e16), "hbm_latency_ns": (0.01, 1e6),
    "l2_bytes": (1, 2**36), "l2_bytes_per_s": (1e6, 1e17), "l2_latency_ns": (0.01, 1e6),
    "l1_bytes_per_sm": (1, 2**30), "l1_latency_ns": (0.01, 1e6), "sector_bytes": (1, 4096),
    "overhead_s": (1e-10, 10.0),
    "flops_per_s": (1e6, 1e19),  # every tensor and vector rate
    "speedup": (1.0, 16.0),
    "link_bytes_per_s": (1e6, 1e14), "allreduce_latency_s": (1e-8, 1.0),
    # [power]: a board draws at least a watt and no accelerator of the next decade 5 kW
    "board_power_w": (1.0, 5000.0), "idle_power_w": (0.1, 5000.0), "memory_power_w": (0.1, 5000.0),
}

_TOP = ("version", "name", "display_name", "kind")
_OPTIONAL_TOP = ("compute_capability", "die")
_SECTIONS = ("compute", "memory", "launch", "tensor_dense_flops_per_s", "tensor_sparse",
             "vector_flops_per_s", "tensor_fp16_accumulate_flops_per_s", "power", "interconnect")
#: optional [interconnect] keys (GPU-to-GPU link of a multi-GPU box): bytes per second one
#: GPU sends (one direction) and the fixed latency of one small all-reduce
INTERCONNECT_KEYS = ("link_bytes_per_s", "allreduce_latency_s")
_RATE_SECTIONS = ("tensor_dense_flops_per_s", "vector_flops_per_s", "tensor_fp16_accumulate_flops_per_s")
#: [power] keys (all optional; a profile without board_power_w is never power-limited)
_POWER_KEYS = ("board_power_w", "idle_power_w", "memory_power_w")
#: dtypes whose tensor rate depends on the accumulate type (int8 always accumulates in int32)
ACCUMULATE_DTYPES = ("fp16", "bf16", "fp8")
_NUMBER_FORM = '{ value = <number>, source = "<citation>" }'


@dataclass(frozen=True)
class HardwareProfile:
    """One machine's limits. Build it with :func:`parse_profile` or ``load_profile``."""

    name: str
    display_name: str
    kind: str  # "gpu" or "cpu"
    sm_count: int  # SMs on a GPU, physical cores on a CPU
    boost_clock_mhz: float
    #: the clock the board guarantees at its rated power under full load (simulator.power)
    base_clock_mhz: float
    max_ctas_per_sm: int
    max_warps_per_sm: int
    registers_per_sm: int
    shared_mem_per_sm_bytes: int
    hbm_bytes: int  # device memory (DRAM on a CPU)
    hbm_bytes_per_s: float
    hbm_latency_ns: float
    l2_bytes: int  # last-level cache shared by all SMs/cores
    l2_bytes_per_s: float
    l2_latency_ns: float
    l1_bytes_per_sm: int
    #: an L1 hit: measured by ``sparsim probe`` and compared by ``hw show --calibration``;
    #: the time models need none (an L1 hit is hidden under the pipelined loads they time)
    l1_latency_ns: float
    #: global memory's transaction size: gathers move whole sectors (simulator.gather)
    sector_bytes: int
    launch_overhead_s: float
    #: dense tensor-core (matrix unit) peak per dtype, FLOP/s (int8/fp8: OP/s)
    tensor_dense_flops_per_s: Mapping[str, float]
    #: multiply-add units outside the tensor cores (CUDA cores / CPU SIMD), FLOP/s
    vector_flops_per_s: Mapping[str, float]
    #: sparse tensor cores run N:M sparse math at this multiple of the dense rate
    sparse_speedup: float = 1.0
    sparse_dtypes: tuple[str, ...] = ()
    version: int = SCHEMA_VERSION
    #: CUDA compute capability "MAJOR.MINOR" ("" for CPUs and profiles that omit it)
    compute_capability: str = ""
    #: GPU-to-GPU link (``link_bytes_per_s``, ``allreduce_latency_s``); empty when not stated
    interconnect: Mapping[str, float] = field(default_factory=dict)
    origin: str = "<memory>"  # file it came from, for messages
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: the chip the board is built on ("GH100", "GA100", "AD102", ...; "" when unknown):
    #: boards of one die share a calibration's die-and-library parameters (``hwprofiles.dies``)
    die: str = ""
    #: [power]: the board power limit (TDP / TGP), the power at idle and the DRAM's power at
    #: full bandwidth, in W (0: unknown; a profile without a board power is never power-limited)
    board_power_w: float = 0.0
    idle_power_w: float = 0.0
    memory_power_w: float = 0.0
    #: tensor rates with fp16 accumulation where the board runs fp32 accumulation slower
    #: (GeForce Ada: half rate). ``tensor_dense_flops_per_s`` holds the rates with the
    #: accumulate type the libraries use (fp32 for fp16/bf16/fp8: cuBLAS via PyTorch runs
    #: CUBLAS_COMPUTE_32F, cuSPARSELt CUSPARSE_COMPUTE_32F), so only the tensor cores' full
    #: rate (:meth:`tensor_rate_fraction`) reads this table
    tensor_fp16_accumulate_flops_per_s: Mapping[str, float] = field(default_factory=dict)

    def source(self, key: str) -> str:
        """The citation of a number, by its dotted key (``"compute.sm_count"``)."""
        return self.sources[key]

    @property
    def cc_major(self) -> int:
        """Major compute capability (0 when unknown): 7 Volta, 8 Ampere/Ada, 9 Hopper."""
        return int(self.compute_capability.split(".")[0]) if self.compute_capability else 0

    @property
    def clock_hz(self) -> float:
        return self.boost_clock_mhz * 1e6

    def tensor_peak(self, dtype: str, sparse: bool = False) -> float | None:
        """Tensor-core FLOP/s for ``dtype`` (None if the chip has no such path)."""
        dense = self.tensor_dense_flops_per_s.get(dtype)
        if dense is None:
            return None
        if not sparse:
            return dense
        if dtype not in self.sparse_dtypes:
            return None
        return dense * self.sparse_speedup

    def tensor_rate_fraction(self, dtype: str) -> float:
        """The library's rate of ``dtype`` (fp32 accumulate) over the tensor cores' full rate
        (fp16 accumulate where the board lists it faster): 0.5 for fp16 on a GeForce Ada
        (Ada whitepaper, RTX 4090: 165.2 vs 330.3 TFLOPS), 1.0 where both rates agree."""
        dtype = "tf32" if dtype == "fp32" else dtype
        rate = self.tensor_dense_flops_per_s.get(dtype)
        full = self.tensor_fp16_accumulate_flops_per_s.get(dtype)
        if not rate or not full or full <= rate:
            return 1.0
        return rate / full

    def vector_peak(self, rate: str) -> float:
        """CUDA-core / SIMD FLOP/s for ``"fp32"`` or ``"fp64"``."""
        return self.vector_flops_per_s[rate]

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("name", "display_name", "kind", "version", "compute_capability")}
        for section, key, attr, _ in _SCALARS:
            out[f"{section}.{key}"] = getattr(self, attr)
        for dtype, v in self.tensor_dense_flops_per_s.items():
            out[f"tensor_dense_flops_per_s.{dtype}"] = v
        for dtype, v in self.vector_flops_per_s.items():
            out[f"vector_flops_per_s.{dtype}"] = v
        out["tensor_sparse.speedup"] = self.sparse_speedup
        out["tensor_sparse.dtypes"] = list(self.sparse_dtypes)
        for key, v in self.interconnect.items():
            out[f"interconnect.{key}"] = v
        for dtype, v in self.tensor_fp16_accumulate_flops_per_s.items():
            out[f"tensor_fp16_accumulate_flops_per_s.{dtype}"] = v
        if self.die:
            out["die"] = self.die
        for key in _POWER_KEYS:
            if getattr(self, key):
                out[f"power.{key}"] = getattr(self, key)
        return out


def _fail(origin: str, key: str, got: Any, allowed: str) -> SparsimError:
    return SpecChecker("profile", origin).fail(key, got, allowed)


def _number(origin: str, table: Mapping, section: str, key: str, kind: str,
            sources: dict) -> float | int:
    dotted = f"{section}.{key}"
    if key not in table:
        raise SparsimError(f"profile {origin}: missing key {dotted}; allowed: {_NUMBER_FORM}")
    entry = table[key]
    if not isinstance(entry, dict) or set(entry) - {"value", "source", "note"} or "value" not in entry:
        raise _fail(origin, dotted, entry, _NUMBER_FORM)
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise _fail(origin, dotted + ".source", source, "a non-empty citation string")
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(origin, dotted, value, "a finite number")
    lo, hi = LIMITS["flops_per_s" if section in _RATE_SECTIONS else key]
    if kind == "int":
        if not float(value).is_integer() or not lo <= value <= hi:
            raise _fail(origin, dotted, value, f"a whole number in [{lo:,}, {hi:,}]")
        value = int(value)
    elif not lo <= value <= hi:
        raise _fail(origin, dotted, value, f"a number in [{lo:g}, {hi:g}]")
    sources[dotted] = source.strip()
    return value


def _rate_table(origin: str, data: Mapping, section: str, allowed: tuple[str, ...],
                sources: dict) -> dict[str, float]:
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise _fail(origin, section, table, f"a table of {', '.join(allowed)}")
    rates = {}
    for dtype in table:
        if dtype not in allowed:
            raise _fail(origin, f"{section}.{dtype}", dtype, ", ".join(allowed))
        rates[dtype] = float(_number(origin, table, section, dtype, "pos", sources))
    return rates


def _interconnect(origin: str, table, sources: dict) -> dict[str, float]:
    """The optional [interconnect] table: both keys or none."""
    if table is None:
        return {}
    if not isinstance(table, dict) or set(table) != set(INTERCONNECT_KEYS):
        raise _fail(origin, "interconnect", table, "a table with " + ", ".join(INTERCONNECT_KEYS))
    return {key: float(_number(origin, table, "interconnect", key, "pos", sources)) for key in INTERCONNECT_KEYS}


def parse_profile(data: Mapping[str, Any], origin: str = "<memory>") -> HardwareProfile:
    """Check a profile's TOML data against the schema and build the record.

    Errors name the file, the dotted key, the value found and what is allowed.
    """
    # Longer than 60 lines on purpose: one check per section of the profile file, each naming the key it refuses.
    if not isinstance(data, Mapping):
        raise SparsimError(f"profile {origin}: got {type(data).__name__}; allowed: a TOML table")
    for key in data:
        if key not in _TOP + _OPTIONAL_TOP and key not in _SECTIONS:
            raise _fail(origin, key, key, "keys " + ", ".join(_TOP + _OPTIONAL_TOP + _SECTIONS))
    for key in _TOP:
        if key not in data:
            raise SparsimError(f"profile {origin}: missing key {key}")
    if data["version"] != SCHEMA_VERSION:
        raise _fail(origin, "version", data["version"], str(SCHEMA_VERSION))
    for key in ("name", "display_name"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise _fail(origin, key, data[key], "a non-empty string")
    if data["kind"] not in ("gpu", "cpu"):
        raise _fail(origin, "kind", data["kind"], "gpu, cpu")
    cc = data.get("compute_capability", "")
    if cc and not (isinstance(cc, str) and re.fullmatch(r"\d+\.\d+", cc)):
        raise _fail(origin, "compute_capability", cc, 'a string "MAJOR.MINOR", e.g. "9.0"')

    sources: dict[str, str] = {}
    values: dict[str, Any] = {}
    die = ""
    if "die" in data:
        entry = data["die"]
        if (not isinstance(entry, dict) or set(entry) - {"value", "source", "note"}
                or not isinstance(entry.get("value"), str) or not re.fullmatch(r"[A-Za-z0-9-]{2,16}", entry["value"])):
            raise _fail(origin, "die", entry, '{ value = "<die, e.g. GH100>", source = "<citation>" }')
        if not isinstance(entry.get("source"), str) or not entry["source"].strip():
            raise _fail(origin, "die.source", entry.get("source"), "a non-empty citation string")
        die = entry["value"]
        sources["die"] = entry["source"].strip()
    power = data.get("power", {})
    if not isinstance(power, dict):
        raise _fail(origin, "power", power, "a table of " + ", ".join(_POWER_KEYS))
    for key in power:
        if key not in _POWER_KEYS:
            raise _fail(origin, f"power.{key}", key, ", ".join(_POWER_KEYS))
    for key in _POWER_KEYS:
        if key in power:
            values[key] = float(_number(origin, power, "power", key, "pos", sources))
    if values.get("board_power_w") and values.get("idle_power_w", 0.0) + values.get("memory_power_w", 0.0) >= values["board_power_w"]:
        raise _fail(origin, "power.idle_power_w", values.get("idle_power_w"),
                    "idle_power_w + memory_power_w below power.board_power_w")
    for section in ("compute", "memory", "launch"):
        if section not in data or not isinstance(data[section], dict):
            raise SparsimError(f"profile {origin}: missing table [{section}]")
        known = {key for sec, key, _, _ in _SCALARS if sec == section}
        for key in data[section]:
            if key not in known:
                raise _fail(origin, f"{section}.{key}", key, ", ".join(sorted(known)))
    for section, key, attr, kind in _SCALARS:
        values[attr] = _number(origin, data[section], section, key, kind, sources)

    tensor = _rate_table(origin, data, "tensor_dense_flops_per_s", MATH_DTYPES, sources)
    vector = _rate_table(origin, data, "vector_flops_per_s", ("fp32", "fp64"), sources)
    fp16_accumulate = _rate_table(origin, data, "tensor_fp16_accumulate_flops_per_s", ACCUMULATE_DTYPES, sources)
    if "fp32" not in vector:
        raise SparsimError(f"profile {origin}: missing key vector_flops_per_s.fp32; "
                           f"allowed: {_NUMBER_FORM}")

    speedup, sparse_dtypes = 1.0, ()
    sparse = data.get("tensor_sparse")
    if sparse is not None:
        if not isinstance(sparse, dict) or set(sparse) - {"speedup", "dtypes"}:
            raise _fail(origin, "tensor_sparse", sparse, "a table with speedup and dtypes")
        speedup = float(_number(origin, sparse, "tensor_sparse", "speedup", "pos", sources))
        dtypes = sparse.get("dtypes", [])
        if not isinstance(dtypes, list) or any(not isinstance(d, str) or d not in tensor
                                               for d in dtypes):
            raise _fail(origin, "tensor_sparse.dtypes", dtypes,
                        "a list of dtypes that tensor_dense_flops_per_s lists")
        sparse_dtypes = tuple(dtypes)
    interconnect = _interconnect(origin, data.get("interconnect"), sources)

    return HardwareProfile(
        name=data["name"], display_name=data["display_name"], kind=data["kind"],
        tensor_dense_flops_per_s=MappingProxyType(tensor),
        vector_flops_per_s=MappingProxyType(vector),
        tensor_fp16_accumulate_flops_per_s=MappingProxyType(fp16_accumulate), die=die,
        sparse_speedup=speedup, sparse_dtypes=sparse_dtypes, interconnect=MappingProxyType(interconnect),
        version=data["version"], origin=origin, compute_capability=cc,
        sources=MappingProxyType(sources), **values,
    )
