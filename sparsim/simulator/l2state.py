"""What the L2 holds when a call starts: flushed (cold) or left by the same call (warm).

The atlas and most careful benchmarks flush L2 between timed calls (``l2="cold"``, the
default): every operand comes from DRAM once. A benchmark that runs back-to-back calls on
the same operands without a flush (``l2="warm"``), or a layer whose weights were just
used, finds in L2 what the previous call left there. Its footprint F is A, B and C. When
F fits in the usable L2 C (``Machine.l2_usable_bytes``: the nominal size times
``l2_capacity_efficiency``) all of it is there. When it does not, the previous call's
last F - C bytes evicted as much of what it had read before, so only 2C - F bytes of the
footprint survive to be hit, and nothing once F reaches twice the usable L2:

    resident = max(0, min(1, (2C - F) / F))

(A cyclic sweep through a strict LRU cache would keep nothing once F > C; NVIDIA's L2
keeps some, as published back-to-back measurements show: SlideSparse on an RTX 4090 reads
a 68 MB fp8 weight at 1.6 TB/s with a 72 MB L2, above the 1.0 TB/s of its DRAM, and a
136 MB fp16 one at 0.85 TB/s; shared/data/published/kernels.json.)

The resident share of each operand's first read (and of C's write-back, which stays in L2
as dirty lines the next call overwrites) leaves DRAM, and its load round trips wait the
L2 latency instead of DRAM's; the roofline floor serves it at L2's rate. Re-reads of
panels that do not fit are unchanged. Only the tensor-core GEMM mapping reads the state;
SpMM gathers and CPU kernels predict a flushed cache either way.

>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.simulator.machine import Machine
>>> from sparsim.simulator.params import resolve_params
>>> warm = Machine.build(load_profile("rtx-4090"), resolve_params(), l2="warm")
>>> [round(resident_fraction(warm, mb * 1e6), 2) for mb in (40, 68, 85, 137)]
[1.0, 0.67, 0.33, 0.0]
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
    usable = machine.l2_usable_bytes
    return max(0.0, min(1.0, (2.0 * usable - footprint_bytes) / footprint_bytes))
