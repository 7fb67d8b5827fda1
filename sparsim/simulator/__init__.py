"""How long a kernel's work takes on a machine.

``des`` is the discrete-event (simpy) model of SMs, tensor cores, caches and HBM that
``sparsim.predict`` uses by default; ``analytic`` is the roofline reference; ``roofline``
gives the floor no prediction may go below; ``params`` the tunable efficiencies.
:func:`predict_work` is the one place that switches between the time models. It takes a
:class:`~sparsim.problem.Problem` and the :class:`~sparsim.simulator.machine.Machine`
built once from a profile, a calibration and the problem's implementation
(:func:`machine_for`); the older form ``predict_work(work, hw, calibration, impl=...)``
builds that machine itself.

>>> from sparsim.problem import Problem
>>> from sparsim.hwprofiles import load_profile
>>> problem = Problem("dense", m=64, k=64, n=64)
>>> p = predict_work(problem, machine_for(problem, load_profile("l4")), model="analytic")
>>> p.model, p.impl, sorted(MODELS)
('analytic', 'cublas', ['analytic', 'des'])
"""

from __future__ import annotations

from .params import DEFAULT_PARAMS, resolve_params
from .roofline import math_peak, roofline_floor

__all__ = ["DEFAULT_PARAMS", "MODELS", "machine_for", "math_peak", "predict_work", "resolve_params", "roofline_floor"]

#: time models by name; the first is the default
MODELS = ("des", "analytic")


def machine_for(problem, hw, calibration=None, *, l2: str = "cold"):
    """The :class:`~sparsim.simulator.machine.Machine` that runs ``problem``'s library call
    on profile ``hw`` under ``calibration`` (None: datasheet; a Calibration; or a mapping
    of parameter values), L2 ``l2`` ("cold" or "warm", :mod:`.l2state`) when the call
    starts: built once, then shared by every prediction of that call."""
    from ..impls import check_impl
    from .machine import Machine

    if problem.impl is None and problem.quant is not None and hw.kind == "gpu":
        # the scheme's default implementation, not named by the user: a GPU it cannot run
        # on is refused naming --quant and the GPUs the scheme's paths need
        check_impl(problem.impl_for(hw.kind), problem.kernel, problem.compute_dtype, hw.kind, quant=problem.quant,
                   cc=getattr(hw, "compute_capability", None) or None, hw_name=hw.name, defaulted=True)
    return Machine.for_call(hw, calibration, impl=problem.impl_for(hw.kind), kernel=problem.kernel,
                            dtype=problem.compute_dtype, quant=problem.quant, l2=l2)


def predict_work(work, hw, calibration=None, *, model: str = "des", impl: str | None = None, seed: int = 0,
                 power_limit_w: float | None = None, l2: str | None = None):
    """Predict a problem (or its work) on a machine (or a profile) with time model ``model``.

    ``predict_work(problem, machine)``: the :class:`~sparsim.problem.Problem` (its work is
    counted as the machine's library call stores A) on ``machine`` (:func:`machine_for`);
    ``problem`` may also be the work already counted for that call (a sweep reuses it).
    ``predict_work(work, hw, calibration, impl=...)``: ``calibration`` is None (defaults),
    a mapping of parameters, or a calibration object whose measured ceilings
    (``[measured]``) replace the profile's datasheet values first; ``impl`` picks the
    library call and its per-implementation parameters.

    Tensor-core kernels run at the clock they sustain under the board's power limit or
    ``power_limit_w`` (:mod:`.power`); ``l2="warm"`` starts the call with its operands in
    L2 as far as they fit (:mod:`.l2state`; None: the machine's own state, else cold). A
    W8A8 call's activation-quantization kernel is added (:mod:`.quantized`).
    """
    from dataclasses import replace

    from ..errors import SparsimError
    from .l2state import check_l2
    from .machine import Machine
    from .power import predict_under_power

    if model not in MODELS:
        raise SparsimError(f"--model: got {model!r}; allowed: {', '.join(MODELS)}")
    if isinstance(hw, Machine):
        machine = hw
        if calibration is not None or impl is not None:
            raise SparsimError("predict_work: a Machine already holds its calibration and implementation; "
                               "allowed: predict_work(problem, machine)")
        if l2 is not None and check_l2(l2) != machine.l2_state:
            machine = replace(machine, l2_state=l2)
    else:
        machine = Machine.for_call(hw, calibration, impl=impl, kernel=work.kernel, dtype=work.dtype,
                                   quant=getattr(work, "quant", None), l2=l2 or "cold")
    from ..problem import Problem

    if isinstance(work, Problem):  # its work as this machine's call stores A
        seed = work.seed
        work = work.work_for(machine)

    def run(profile):
        on = machine if profile is machine.hw else machine.on(profile)
        if model == "analytic":
            from .analytic import analytic_on

            return analytic_on(work, on)
        from .des import des_on

        return des_on(work, on, seed=seed)

    prediction = predict_under_power(run, work, machine.hw, machine.calibration, params=machine.params,
                                     power_limit_w=power_limit_w)
    if getattr(work, "act_quant_bytes", (0, 0))[0]:
        # W8A8: the activations are quantized by a kernel of their own (sparsim.simulator.quantized)
        from .quantized import with_activation_quant

        prediction = with_activation_quant(prediction, work, machine.hw, machine.calibration)
    return _with_impl_basis(prediction)


def _with_impl_basis(prediction):
    """Say in ``basis`` when the implementation's own figures rest on published numbers
    or the datasheet only (no measurement of ours behind them)."""
    from ..impls import get_impl, impl_names

    known = prediction.impl in impl_names(public_only=False)  # a file loaded by the caller has no registry entry
    basis = get_impl(prediction.impl).basis if known else ""
    if basis in ("published", "datasheet"):
        from dataclasses import replace

        words = "published figures only" if basis == "published" else "datasheet figures only"
        prediction = replace(prediction, basis=f"{prediction.basis}; {prediction.impl}: {words}")
    return prediction
