"""The registry of mappings: how a library call's work is laid onto the machine, by name.

An implementation rule names its mapping (``sparsim.impls``: ``mapping = "gemm"``, or
one per kind of hardware), :func:`~sparsim.simulator.library.library_call` resolves it
for the profile, and :func:`plan_kernel` runs the mapping of that name, with the call's
plan data (tiles, split-K, CTA shape) from the machine. Nothing here asks what kind of
kernel or hardware it is: a new mapping is one new entry in :data:`MAPPINGS`.

* ``gemm``: tensor-core tiles, the library's candidates simulated and the fastest kept
  (:mod:`~sparsim.simulator.gemm`); one candidate is a fixed plan;
* ``gather``: a cuSPARSE-style SpMM that gathers rows of B (:mod:`~sparsim.simulator.gather`);
* ``cpu``: NumPy's BLAS or SciPy's sparse loop on a host (:mod:`~sparsim.simulator.cpu`).

>>> from sparsim.hwprofiles import load_profile
>>> from sparsim.models import build_work
>>> from sparsim.simulator.machine import Machine
>>> machine = Machine.for_call(load_profile("h100-sxm5-80gb"), None, impl="cusparselt", kernel="2:4", dtype="fp16")
>>> plan = plan_kernel(build_work("2:4", m=4096, k=4096, n=256), machine)
>>> machine.call.mapping, plan.ctas
('gemm', 32)
>>> sorted(MAPPINGS)
['cpu', 'gather', 'gemm']
"""

from __future__ import annotations

from ..impls.spec import MAPPINGS as MAPPING_NAMES
from ..impls.spec import NO_LIBRARY
from ..models.work import KernelWork
from .machine import Machine
from .plan import KernelPlan

__all__ = ["MAPPINGS", "plan_kernel"]


def _gemm(work: KernelWork, machine: Machine, seed: int, tile: tuple[int, int] | None) -> KernelPlan:
    """A tensor-core GEMM: a forced tile, the call's one fixed plan, or its candidates."""
    from .gemm import make_tile, plan_gemm

    call = machine.call
    # whose tile the note names: sparsim's own mapping has no library
    who = "sparsim reference" if call.library == NO_LIBRARY else None
    if tile:
        return plan_gemm(work, machine, make_tile(work, machine, tile), who=who)
    if call.fixed_tile and call.split_k in (None, (1,)):
        # a plan with one fixed algorithm (cuSPARSELt's default): no choice to make
        return plan_gemm(work, machine, make_tile(work, machine, call.tile_for(work.n)), who=who,
                         why="the library's default plan: one fixed algorithm, no search")
    return plan_gemm(work, machine, tiles=call.tiles, splits=call.split_k, who=who)


def _gather(work: KernelWork, machine: Machine, seed: int, tile) -> KernelPlan:
    """A gather of B rows; 64-bit indices slow its loop (the library's measured behaviour)."""
    from .gather import plan_gather

    if work.index_policy == "int64":
        # 64-bit indices: wider address math and loads slow the gather loop (library
        # behaviour measured per implementation; 1.0 without a measurement)
        params = machine.params
        slow = params["index64_efficiency"]
        machine = machine.with_params(gather_efficiency=params["gather_efficiency"] * slow,
                                      vector_efficiency=params["vector_efficiency"] * slow)
    return plan_gather(work, machine, seed)


def _cpu(work: KernelWork, machine: Machine, seed: int, tile) -> KernelPlan:
    from .cpu import plan_cpu

    return plan_cpu(work, machine, seed)


#: mapping name (an implementation rule's ``mapping``) -> the function that plans it
MAPPINGS = {"gemm": _gemm, "gather": _gather, "cpu": _cpu}
assert set(MAPPINGS) == set(MAPPING_NAMES), "every mapping an implementation may name has a function"


def plan_kernel(work: KernelWork, machine: Machine, seed: int = 0, *, tile: tuple[int, int] | None = None) -> KernelPlan:
    """Lay ``work`` onto ``machine`` with the mapping its call names (``machine.call``).

    ``tile`` (tile_m, tile_n) forces a GEMM tile instead of the library's choice.
    """
    return MAPPINGS[machine.call.mapping](work, machine, seed, tile)
