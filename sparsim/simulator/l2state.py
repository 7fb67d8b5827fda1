"""What the L2 holds when a call starts: flushed (cold) or left by the same call (warm).

The atlas and most careful benchmarks flush L2 between timed calls (``l2="cold"``, the
default): every operand comes from DRAM once. A benchmark that runs back-to-back calls on
the same operands without a flush (``l2="warm"``), or a layer whose weights were just
used, finds in L2 what the previous call left there. Its footprint is A, B and C; as much
of it as fits in the usable L2 (``Machine.l2_usable_bytes``: the nominal size times
``l2_capacity_efficiency``) is served from L2, the rest from DRAM:

    resident = min(1, usable L2 / (A + B + C))

The resident share of each operand's first read (and of C's write-back, which stays in L2
as dirty lines the next call overwrites) leaves DRAM, and its load round trips wait the
L2 latency instead of DRAM's. Re-reads of panels that do not fit are unchanged. Only the
tensor-core GEMM mapping reads the state; SpMM gathers and CPU kernels predict a flushed
cache either way.

>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.simulator.machine import Machine
>>> from sparsim.simulator.params import resolve_params
>>> warm = Machine.build(load_profile("rtx-4090"), resolve_params(), l2="warm")
>>> round(resident_fraction(warm, 40e6), 2), round(resident_fraction(warm, 113e6), 2)
(1.0, 0.5)
>>> resident_fraction(Machine.build(load_profile("rtx-4090"), resolve_params()), 40e6)
0.0
"""

from __future__ import annotations

from ..errors import check_choice

__all__ = ["L2_STATES", "check_l2", "resident_fraction"]

#: the L2 states a prediction may start from; the first is the default
L2_STATES = ("cold", "warm")


def check_l2(l2: str) -> str:
    """``l2`` if it names a state, else a one-line error naming the choices."""
    check_choice("--l2", l2, L2_STATES)
    return l2


def resident_fraction(machine, footprint_bytes: float) -> float:
    """Share of a call's ``footprint_bytes`` (A + B + C) that starts in L2."""
    if getattr(machine, "l2_state", "cold") != "warm" or footprint_bytes <= 0:
        return 0.0
    return min(1.0, machine.l2_usable_bytes / footprint_bytes)
