"""How long a kernel's work takes on a hardware profile.

``des`` is the discrete-event (simpy) model of SMs, tensor cores, caches and HBM that
``sparsim.predict`` uses by default; ``analytic`` is the roofline reference; ``roofline``
gives the floor no prediction may go below; ``params`` the tunable efficiencies.
:func:`predict_work` is the one place that switches between the time models.

>>> from sparsim.models import build_work
>>> from sparsim.hwprofiles import load_profile
>>> p = predict_work(build_work("dense", m=64, k=64, n=64), load_profile("l4"), model="analytic")
>>> p.model, sorted(MODELS)
('analytic', ['analytic', 'des'])
"""

from __future__ import annotations

from .params import DEFAULT_PARAMS, resolve_params
from .roofline import math_peak, roofline_floor

__all__ = ["DEFAULT_PARAMS", "MODELS", "math_peak", "predict_work", "resolve_params", "roofline_floor"]

#: time models by name; the first is the default
MODELS = ("des", "analytic")


def predict_work(work, hw, calibration=None, *, model: str = "des", impl: str | None = None, seed: int = 0,
                 power_limit_w: float | None = None, l2: str = "cold"):
    """Predict ``work`` on profile ``hw`` with time model ``model``.

    ``calibration`` is None (defaults), a mapping of parameters, or a calibration object;
    ``impl`` picks its per-implementation parameters. A calibration's measured ceilings
    (``[measured]``) replace the profile's datasheet values first. Tensor-core kernels run
    at the clock they sustain under the board's power limit or ``power_limit_w``
    (:mod:`.power`); ``l2="warm"`` starts the call with its operands in L2 as far as they
    fit (:mod:`.l2state`).
    """
    from .l2state import check_l2
    from .power import predict_under_power

    l2 = check_l2(l2)
    measured = getattr(calibration, "measured", None)
    if measured:
        from ..hwprofiles import apply_measured

        hw = apply_measured(hw, measured)
    if model not in MODELS:
        from ..errors import SparsimError

        raise SparsimError(f"--model: got {model!r}; allowed: {', '.join(MODELS)}")

    def run(profile):
        if model == "analytic":
            from .analytic import predict_analytic

            return predict_analytic(work, profile, calibration, impl=impl)
        from .des import predict_des

        return predict_des(work, profile, calibration, seed=seed, impl=impl, l2=l2)

    prediction = predict_under_power(run, work, hw, calibration, impl=impl, power_limit_w=power_limit_w)
    if getattr(work, "act_quant_bytes", (0, 0))[0]:
        # W8A8: the activations are quantized by a kernel of their own (sparsim.simulator.quantized)
        from .quantized import with_activation_quant

        prediction = with_activation_quant(prediction, work, hw, calibration)
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
