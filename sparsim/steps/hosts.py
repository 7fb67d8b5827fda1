"""The host that runs PyTorch: what one eager call costs the host thread.

In eager mode a decode step at batch 1 is host-bound (a 7B Llama step launches ~2,000
kernels), so its time is the host's per-call cost times the calls, and that cost is a
property of the machine that runs Python (its CPU, its PyTorch), not of the GPU. A
:class:`Host` holds it with its basis (``data/hosts.toml``):

* ``measured``: the host a shipped calibration was measured on (the H200 atlas's
  ``micro.json``), used for that board only (a board of the same die calibrated by
  transfer runs on some other machine);
* ``published``: ``reference-2023``, derived from a published eager run
  (:func:`derive_kernel_call_s` re-derives it), the default wherever no host was measured.

A user who timed their own host passes ``host=`` a name or a number (seconds per eager
kernel call; the CUDA-graph replay keeps the reference figure).

>>> from sparsim.hwprofiles import load_profile
>>> host_for(load_profile("a100-sxm4-80gb"), None).name
'reference-2023'
>>> round(resolve_host(12e-6, load_profile("l4"), None).kernel_call_s * 1e6, 2), resolve_host(12e-6, None, None).basis
(12.0, 'given')
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from ..errors import SparsimError, shown

__all__ = ["Host", "host_names", "host_for", "resolve_host", "derive_kernel_call_s", "REFERENCE_HOST"]

_DATA = Path(__file__).parent / "data" / "hosts.toml"
REFERENCE_HOST = "reference-2023"


@dataclass(frozen=True)
class Host:
    """Host seconds per eager kernel call and per CUDA-graph replay, with their basis."""

    name: str
    kernel_call_s: float
    graph_launch_s: float
    basis: str  # "measured", "published" or "given"
    description: str = ""
    calibration_hw: str | None = None
    calibration_date: str | None = None
    source: str = ""

    @property
    def label(self) -> str:
        """How a report names this host's figure."""
        what = self.basis if self.basis == "given" else f"{self.basis}: {self.description or self.name}"
        return f"{self.kernel_call_s * 1e6:.2f} us host per eager kernel call ({what})"


@lru_cache(maxsize=1)
def _hosts() -> dict[str, Host]:
    from ..tomlfile import read_toml

    data = read_toml(_DATA, "hosts file")
    out = {}
    for name, t in data["host"].items():
        out[name] = Host(name=name, kernel_call_s=float(t["kernel_call_s"]["value"]),
                         graph_launch_s=float(t["graph_launch_s"]["value"]), basis=t["basis"],
                         description=t.get("description", ""), calibration_hw=t.get("calibration_hw"),
                         calibration_date=t.get("calibration_date"), source=t["kernel_call_s"]["source"])
    return out


def host_names() -> tuple[str, ...]:
    """The names of the known hosts."""
    return tuple(_hosts())


def host_for(profile, calibration) -> Host:
    """The host a prediction on ``profile`` with ``calibration`` assumes: the one the
    calibration was measured with when it is this board's own, else the reference."""
    if calibration is not None and profile is not None:
        prov = getattr(calibration, "provenance", {}) or {}
        own = calibration.hw == profile.name and "calibrated_hw" not in prov
        for host in _hosts().values():
            if own and host.calibration_hw == calibration.hw and host.calibration_date == prov.get("date"):
                return host
    return _hosts()[REFERENCE_HOST]


def resolve_host(host, profile, calibration) -> Host:
    """``host``: None (:func:`host_for`), a known host's name, or seconds per eager
    kernel call (a number in (0, 1e-3])."""
    if host is None:
        return host_for(profile, calibration)
    if isinstance(host, Host):
        return host
    if isinstance(host, str):
        if host in _hosts():
            return _hosts()[host]
        try:
            host = float(host)
        except ValueError:
            raise SparsimError(f"--host: got {host!r}; allowed: {', '.join(_hosts())} or seconds per eager "
                               "kernel call (e.g. 12e-6)") from None
    if isinstance(host, bool) or not isinstance(host, numbers.Real) or not 0 < host <= 1e-3:
        raise SparsimError(f"--host: got {shown(host)}; allowed: {', '.join(_hosts())} or seconds per eager "
                           "kernel call, a number in (0, 1e-3]")
    ref = _hosts()[REFERENCE_HOST]
    return replace(ref, name="given", kernel_call_s=float(host), basis="given", description="given by the caller",
                   source="given by the caller")


def derive_kernel_call_s(tokens_per_s: float, predict_rate, lo: float = 1e-6, hi: float = 2e-4) -> float:
    """The host seconds per eager kernel call for which ``predict_rate(seconds)`` (a
    step model's tokens/s with that host) equals a published ``tokens_per_s``: bisection
    on a rate that falls as the host slows."""
    if not predict_rate(lo) > tokens_per_s > predict_rate(hi):
        raise SparsimError(f"derive_kernel_call_s: {tokens_per_s} tok/s is outside what hosts of {lo:g}-{hi:g} s "
                           "per call give")
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        if predict_rate(mid) > tokens_per_s:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5
