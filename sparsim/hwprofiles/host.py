"""The host CPU as a hardware profile: static detection here, timing in the validation layer.

``--hw host`` names this profile. Structure comes from sysfs and procfs (physical cores,
cache sizes and line size, clock, memory, SIMD width from the CPU flags), read without
timing anything. Speed (FLOP rate, bandwidths, latencies, call overhead) is measured by
microbenchmarks that live in :mod:`sparsim.validate.hostbench`, because timing is the
validation layer's job and this package holds data: that module registers itself here
with :func:`register_host_measurer` when imported, and :func:`sparsim.predict` imports it
when asked for ``hw="host"``. This package never imports :mod:`sparsim.validate`.

GPU-only fields map onto their CPU meaning: an "SM" is a physical core, "L2" the
last-level cache shared by all cores, "HBM" main memory, a "sector" a cache line. Every
number's source says where it came from ("sysfs ...", "procfs ...", or "measured on this
host by ... at <date>"). Measuring takes a few seconds, so the profile is cached as TOML
in the user cache directory (``$SPARSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/sparsim``,
else ``~/.cache/sparsim``), one file per CPU model and core count; a cached profile loads
without the measurer.

The profile's name is ``host-<cpu model>-<cores>c``, so a calibration fitted on one
machine is refused on another with a different CPU.

>>> facts = detect_host()                                 # doctest: +SKIP
>>> host_name(facts)                                      # doctest: +SKIP
'host-amd-epyc-2c'
"""

from __future__ import annotations

import functools
import os
import platform
import re
import tomllib
from pathlib import Path
from typing import Callable

from ..tomlfile import dumps
from ..errors import SparsimError
from .schema import HardwareProfile, parse_profile

__all__ = ["host_profile", "detect_host", "host_name", "cache_dir", "register_host_measurer",
           "HOST_PROFILE_VERSION"]

#: bump when the way the profile is measured changes, so stale caches are re-measured
HOST_PROFILE_VERSION = 2

#: facts -> (profile data, may it be cached); set by sparsim.validate.hostbench on import
_MEASURER: Callable[[dict], tuple[dict, bool]] | None = None

_SYS_CPU = Path("/sys/devices/system/cpu")


# -- structure: sysfs and procfs --------------------------------------------------------

def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _cpu_list(text: str) -> set[int]:
    """Parse a sysfs CPU list such as ``0-3,8``."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _size_bytes(text: str) -> int:
    """``32K`` / ``1024K`` / ``32M`` (sysfs cache size) to bytes."""
    match = re.fullmatch(r"(\d+)\s*([KMG]?)", text.strip(), re.I)
    if not match:
        raise ValueError(text)
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2).upper()]


def _cpuinfo() -> dict[str, str]:
    """First processor's fields from /proc/cpuinfo (empty off Linux)."""
    fields: dict[str, str] = {}
    text = _read(Path("/proc/cpuinfo")) or ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _simd(flags: set[str]) -> tuple[int, int, str]:
    """(SIMD width in bits, architectural vector registers, the flag that says so)."""
    for flag, bits, regs in (("avx512f", 512, 32), ("avx2", 256, 16), ("avx", 256, 16),
                             ("sse2", 128, 16), ("asimd", 128, 32), ("neon", 128, 32)):
        if flag in flags:
            return bits, regs, flag
    return 64, 16, "none"


def detect_host() -> dict:
    """What sysfs and procfs say about this machine, each value with its source."""
    # Longer than 60 lines on purpose: one /proc or /sys fact per line, each with its source.
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    info = _cpuinfo()
    model = info.get("model name") or info.get("Model") or platform.processor() or platform.machine() or "unknown CPU"
    facts: dict = {"model": model, "cpus": allowed}

    cores: set[tuple[str, str]] = set()
    threads_per_core = 1
    for cpu in allowed:
        topo = _SYS_CPU / f"cpu{cpu}" / "topology"
        pkg, core = _read(topo / "physical_package_id"), _read(topo / "core_id")
        cores.add((pkg or "0", core if core is not None else str(cpu)))
        siblings = _read(topo / "thread_siblings_list")
        if siblings:
            threads_per_core = max(threads_per_core, len(_cpu_list(siblings) & set(allowed)) or 1)
    facts["cores"] = (len(cores), f"sysfs {_SYS_CPU}/cpu*/topology: {len(cores)} distinct (package, core_id) "
                                   f"among the {len(allowed)} CPUs this process may run on")
    facts["threads_per_core"] = (threads_per_core, f"sysfs {_SYS_CPU}/cpu*/topology/thread_siblings_list")

    caches = {}
    cache_root = _SYS_CPU / f"cpu{allowed[0]}" / "cache"
    for index in sorted(cache_root.glob("index*")) if cache_root.exists() else []:
        level, kind, size = _read(index / "level"), _read(index / "type"), _read(index / "size")
        if not (level and kind and size):
            continue
        shared = _cpu_list(_read(index / "shared_cpu_list") or str(allowed[0]))
        # instances of this cache among the allowed CPUs (one L3 per CCX on AMD, say)
        instances = {frozenset(_cpu_list(_read(_SYS_CPU / f"cpu{c}" / "cache" / index.name / "shared_cpu_list") or str(c)))
                     for c in allowed}
        caches[(int(level), kind)] = {
            "size": _size_bytes(size), "instances": len(instances), "shared": len(shared),
            "line": int(_read(index / "coherency_line_size") or 64), "path": str(index),
        }
    l1 = caches.get((1, "Data"))
    unified = [key for key in caches if key[1] == "Unified"]
    llc = caches[max(unified)] if unified else None
    if l1 is None or llc is None:
        raise SparsimError(f"--hw host: cannot read the CPU caches from sysfs ({cache_root}); "
                           "allowed: a Linux host with /sys/devices/system/cpu/*/cache")
    facts["l1_bytes"] = (l1["size"], f"sysfs {l1['path']}/size (L1 data, per core)")
    facts["line_bytes"] = (l1["line"], f"sysfs {l1['path']}/coherency_line_size")
    facts["llc_bytes"] = (llc["size"] * llc["instances"],
                          f"sysfs {llc['path']}/size x {llc['instances']} instance(s) (last-level cache)")
    facts["llc_level"] = max(unified)[0]
    l2 = caches.get((2, "Unified"))
    facts["private_l2_bytes"] = l2["size"] if l2 and l2 is not llc else 0

    flags = set((info.get("flags") or info.get("Features") or "").split())
    bits, regs, flag = _simd(flags)
    facts["simd_bits"] = (bits, f"procfs /proc/cpuinfo flags: {flag}")
    facts["vector_registers"] = (regs, f"procfs /proc/cpuinfo flags: {flag} -> {regs} architectural vector registers")

    max_khz = _read(_SYS_CPU / f"cpu{allowed[0]}" / "cpufreq" / "cpuinfo_max_freq")
    base_khz = _read(_SYS_CPU / f"cpu{allowed[0]}" / "cpufreq" / "base_frequency")
    if max_khz:
        facts["boost_mhz"] = (int(max_khz) / 1000, f"sysfs {_SYS_CPU}/cpu{allowed[0]}/cpufreq/cpuinfo_max_freq")
    elif info.get("cpu MHz"):
        facts["boost_mhz"] = (float(info["cpu MHz"]), "procfs /proc/cpuinfo cpu MHz (no cpufreq in sysfs)")
    else:
        facts["boost_mhz"] = (1000.0, "procfs: no clock reported; 1000 MHz placeholder")
    if base_khz:
        facts["base_mhz"] = (int(base_khz) / 1000, f"sysfs {_SYS_CPU}/cpu{allowed[0]}/cpufreq/base_frequency")
    else:
        facts["base_mhz"] = (facts["boost_mhz"][0], facts["boost_mhz"][1] + " (no base frequency reported)")

    mem = re.search(r"MemTotal:\s+(\d+) kB", _read(Path("/proc/meminfo")) or "")
    total = int(mem.group(1)) * 1024 if mem else int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    facts["memory_bytes"] = (total, "procfs /proc/meminfo MemTotal")
    return facts


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "cpu"


def host_name(facts: dict) -> str:
    """``host-<cpu model>-<cores>c``: the profile name calibrations are checked against."""
    model = re.sub(r"\(r\)|\(tm\)|\bcpu\b|\bprocessor\b|@.*$", " ", facts["model"], flags=re.I)
    return f"host-{_slug(model)[:40].strip('-')}-{facts['cores'][0]}c"


def register_host_measurer(measure: Callable[[dict], tuple[dict, bool]] | None) -> None:
    """Install the function that times this host (``facts -> (profile data, cacheable)``).

    :mod:`sparsim.validate.hostbench` calls this when imported; ``None`` removes it.
    """
    global _MEASURER
    _MEASURER = measure
    _cached_profile.cache_clear()


# -- the cache --------------------------------------------------------------------------

def cache_dir() -> Path:
    """``$SPARSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/sparsim``, else ``~/.cache/sparsim``."""
    if os.environ.get("SPARSIM_CACHE_DIR"):
        return Path(os.environ["SPARSIM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sparsim"


def _cache_path(facts: dict) -> Path:
    return cache_dir() / f"{host_name(facts)}.v{HOST_PROFILE_VERSION}.toml"


def _toml(data: dict) -> str:
    return dumps(data, header="sparsim host profile, measured by sparsim.validate.hostbench; delete to re-measure")


def host_profile(refresh: bool = False) -> HardwareProfile:
    """The profile of this machine: from the cache, or measured (a few seconds) and cached."""
    facts = detect_host()
    return _cached_profile(str(_cache_path(facts)), refresh, _facts_key(facts))


def _facts_key(facts: dict) -> str:
    return repr(sorted((k, v if not isinstance(v, list) else tuple(v)) for k, v in facts.items()))


@functools.lru_cache(maxsize=8)
def _cached_profile(path_text: str, refresh: bool, _key: str) -> HardwareProfile:
    path = Path(path_text)
    if path.exists() and not refresh:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            return parse_profile(data, origin=str(path))
        except (OSError, tomllib.TOMLDecodeError, SparsimError):
            pass  # a damaged cache is re-measured, not an error
    if _MEASURER is None:
        raise SparsimError(
            f"--hw host: no measured profile of this CPU in {path.parent}; allowed: run "
            "'sparsim probe --backend numpy' once, or call sparsim.predict (which measures it)")
    data, cacheable = _MEASURER(detect_host())
    profile = parse_profile(data, origin=str(path))
    if not cacheable:
        return profile  # numbers from a busy machine: good enough for now, not for next time
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(_toml(data), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
    except OSError:
        pass  # a read-only home still gets a profile, measured again next time
    return profile
