"""The discrete-event model: what ``sparsim.predict`` (and ``sparsim predict``) use by default.

``predict_des(work, hw)`` maps a kernel's work onto the hardware the way the libraries do
(:mod:`~sparsim.simulator.gemm` for cuBLAS/cuSPARSELt tensor-core GEMMs,
:mod:`~sparsim.simulator.gather` for cuSPARSE-style SpMM, :mod:`~sparsim.simulator.cpu`
for NumPy/SciPy on a CPU profile), folds the CTAs into a few classes of identical SM
slots (:mod:`~sparsim.simulator.dispatch`), runs them in the simpy engine
(:mod:`~sparsim.simulator.engine`) and reports a :class:`~sparsim.prediction.Prediction`:
time, bytes per memory level, waves, the busy fraction of each resource, where the
critical SM's time went (``breakdown``), the bound, and notes that say why.

Why it cannot beat the roofline floor: every executed FLOP passes a math pool whose rate
is the datasheet peak times an efficiency <= 1, and every DRAM byte (at least the
compulsory A, B and C) the HBM pool, at most the datasheet bandwidth; launch time only
adds. A last guard lifts the time to the floor if that ever failed, and says so in the
notes; the tests assert it never fires.

>>> from sparsim.models import build_work
>>> from sparsim.hwprofiles import load_profile
>>> hw = load_profile("h100-sxm5-80gb")
>>> full = predict_des(build_work("dense", m=12 * 128, k=8192, n=11 * 256), hw, tile=(128, 256))
>>> full.ctas, full.waves, full.bound
(132, 1.0, 'compute')
>>> more = predict_des(build_work("dense", m=19 * 128, k=8192, n=7 * 256), hw, tile=(128, 256))
>>> more.ctas, round(more.time_s / full.time_s, 2)  # one equal CTA more: a second wave
(133, 1.95)
"""

from __future__ import annotations

from ..hwprofiles import HardwareProfile
from ..models.work import KernelWork
from ..prediction import Prediction
from .engine import BOUND_OF, POOL_KINDS, SimResult, simulate
from .l2state import resident_fraction
from .library import call_timeline
from .machine import Machine
from .mappings import plan_kernel
from .plan import KernelPlan
from .roofline import roofline_floor

__all__ = ["KernelPlan", "plan_kernel", "predict_des", "des_on"]


def _tail_note(plan: KernelPlan, result: SimResult) -> str | None:
    """Say when fewer than half the SMs hold work for a sizeable part of the run."""
    program = plan.program
    ends = {}
    for cls in program.slot_classes:
        ends[cls.group] = max(ends.get(cls.group, 0.0), result.class_end_s[cls.name])
    done = sorted(((ends.get(g, program.launch_s), grp.sms) for g, grp in enumerate(program.groups)))
    finished, half_time = 0, result.time_s
    for end, sms in done:
        finished += sms
        if finished > program.sm_count / 2:
            half_time = end
            break
    tail = (result.time_s - program.reduction_s - half_time) / result.time_s if result.time_s else 0.0
    if tail < 0.1:
        return None
    return (f"tail: for the last {tail:.0%} of the time fewer than half of the {program.sm_count} SMs "
            f"hold work (wave quantization or load imbalance)")


def predict_des(work: KernelWork, hw: HardwareProfile, calibration=None, *,
                seed: int = 0, tile: tuple[int, int] | None = None, impl=None, l2: str = "cold") -> Prediction:
    """Predict one call of ``impl`` (None: the kernel's default library) running ``work``
    on ``hw`` with the discrete-event model (deterministic for ``seed``).

    ``seed`` salts the sampling of the pattern's access stream; ``tile`` forces a GEMM
    tile (tile_m, tile_n), e.g. to study wave quantization at a fixed tile; ``l2`` the
    state of L2 when the call starts (:mod:`~sparsim.simulator.l2state`).
    """
    machine = Machine.for_call(hw, calibration, impl=impl, kernel=work.kernel, dtype=work.dtype,
                               quant=work.quant, l2=l2)
    return des_on(work, machine, seed=seed, tile=tile)


def des_on(work: KernelWork, machine: Machine, *, seed: int = 0, tile: tuple[int, int] | None = None) -> Prediction:
    """The discrete-event prediction of ``work`` on ``machine`` (its call's mapping, host
    work and extra kernels included; operands already in L2 as far as ``machine.l2_state``
    says)."""
    hw, call, calibration = machine.hw, machine.call, machine.calibration
    resident = resident_fraction(machine, work.bytes_a + work.bytes_b + work.bytes_c) if work.math != "vector" else 0.0
    floor = roofline_floor(work, hw, resident)
    plan = plan_kernel(work, machine, seed, tile=tile)
    result = plan.result or simulate(plan.program, trace=False)
    notes = [*work.notes, *plan.notes]
    tail = _tail_note(plan, result)
    if tail:
        notes.append(tail)
    time_s = result.time_s
    if time_s < floor:
        # Last guard only: structurally unreachable (see module docstring); never hides silently.
        notes.append(f"guard: simulated {time_s:.4g} s was below the roofline floor {floor:.4g} s; raised to it")
        time_s = floor
    path = result.critical_path
    by_bound: dict[str, float] = {}
    for category, seconds in path.items():
        by_bound[BOUND_OF[category]] = by_bound.get(BOUND_OF[category], 0.0) + seconds
    bound = max(by_bound, key=by_bound.get)
    if call.host_s > time_s:
        bound = "overhead"
    pipe = "cpu" if hw.kind == "cpu" else work.math
    # each reported pool kind's busy fraction, the math pool under the pipe's name
    busy = {(pipe if kind == "math" else kind): share for kind, share in result.busy.items()
            if kind not in POOL_KINDS or POOL_KINDS[kind].reported}
    breakdown = {k: v for k, v in path.items() if v > 0}
    kernels, kernel_s, overhead_s = call_timeline(call, work, time_s)
    if len(kernels) > 1:
        breakdown["extra kernels"] = kernel_s - time_s
    if overhead_s:
        breakdown["host"] = overhead_s
    return Prediction(
        **work.prediction_fields(), hw=hw.name, model="des",
        calibration=getattr(calibration, "name", None),
        time_s=kernel_s + overhead_s, roofline_floor_s=floor, impl=call.impl, kernel_s=kernel_s,
        overhead_s=overhead_s, kernels=kernels, basis=machine.basis,
        bytes_hbm=round(result.bytes_hbm + plan.extra_hbm_bytes),
        bytes_l2=round(result.bytes_l2 + plan.extra_l2_bytes),
        bound=bound, waves=plan.waves, ctas=plan.ctas, events=result.events,
        busy=busy, breakdown=breakdown, notes=tuple(notes),
    )
