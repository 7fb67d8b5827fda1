"""A kernel mapped onto a machine: the engine program plus what the report needs.

The mappings (:mod:`~sparsim.simulator.gemm`, :mod:`~sparsim.simulator.gather`,
:mod:`~sparsim.simulator.cpu`) each return a :class:`KernelPlan`; the discrete-event
model (:mod:`~sparsim.simulator.des`) simulates its program. Keeping the record here,
apart from both, lets the mappings and the model import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Program, SimResult

__all__ = ["KernelPlan"]


@dataclass(frozen=True)
class KernelPlan:
    """A kernel mapped onto a profile: the engine program plus what the report needs."""

    program: Program
    ctas: int
    waves: float
    notes: tuple[str, ...] = ()
    #: bytes the report adds to what the engine's pools served: a split-K reduction
    #: kernel's, less the tile padding a GEMM's identical CTAs are charged
    extra_l2_bytes: float = 0.0
    extra_hbm_bytes: float = 0.0
    #: the program's simulation, when the mapping already ran it (GEMM tile search)
    result: SimResult | None = None
