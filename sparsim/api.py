"""The library entry point: ``sparsim.predict``.

One call builds a :class:`~sparsim.problem.Problem`, counts its work
(:mod:`sparsim.models`) as the chosen implementation stores A (:mod:`sparsim.impls`),
loads the hardware profile and its calibration, and asks a time model
(:mod:`sparsim.simulator`) for a :class:`~sparsim.prediction.Prediction` of one library
call: the device time of its kernels plus the host work the GPU waits for.

``calibration=None`` uses the measured calibration that ships for the profile, if one
does (the H200's, fitted to its 2026-11-29 measurements); ``calibration=False`` gives
datasheet-only figures. ``Prediction.basis`` says which.

>>> import sparsim
>>> p = sparsim.predict("csr", m=4096, k=4096, n=256, hw="h100-sxm5-80gb", density=0.1)
>>> p.dependent_access_depth, p.kernel, p.impl, p.basis
(2, 'csr', 'cusparse', 'datasheet only')
"""

from __future__ import annotations

from pathlib import Path

from .calibration import Calibration, load_calibration
from .errors import check_choice
from .hwprofiles import HardwareProfile, load_profile, shipped_calibration
from .models.patterns import load_weights
from .prediction import Prediction
from .problem import Problem
from .simulator import MODELS, predict_work

__all__ = ["predict", "MODELS", "resolve_calibration"]


def resolve_calibration(calibration, profile: HardwareProfile) -> Calibration | None:
    """None: the calibration shipped for ``profile`` (if any); False: none (datasheet
    only); else a path or Calibration, checked to be for ``profile``."""
    if calibration is False:
        return None
    if calibration is None:
        path = shipped_calibration(profile.name)
        return load_calibration(path) if path else None
    cal = load_calibration(calibration)
    cal.check_profile(profile.name)
    return cal


def predict(
    kernel: str,
    *,
    m: int,
    k: int,
    n: int,
    hw: str | Path | HardwareProfile,
    dtype: str = "fp16",
    density: float = 1.0,
    pattern: str = "uniform",
    calibration: str | Path | Calibration | None | bool = None,
    impl: str | None = None,
    model: str = "des",
    seed: int = 0,
    compare: bool = True,
    quant: str | None = None,
    group: int | None = None,
    **options,
) -> Prediction:
    """Predict one call of ``C[M×N] = A[M×K] @ B[K×N]`` with kernel ``kernel`` on profile ``hw``.

    ``impl`` names the software stack (``sparsim impl list``); None is the kernel's
    default library. ``options`` go to :func:`sparsim.models.build_work` (``index_policy``,
    ``b_layout``, ``group_size``, ``block``, ``weights`` as an array or a
    .npy/.safetensors path, ``weights_tensor`` to pick a tensor, ``sparsity_pattern``,
    ``pattern_options``). With ``compare``, the notes say what the implementation's knob
    would change (e.g. a searched cuSPARSELt plan instead of the default one).
    ``quant`` (``"w8a16"``, ``"w4a16"``, ``"fp8"``, ``"w8a8"``; ``group`` for w4a16)
    quantizes the weights (:mod:`sparsim.models.quant`); ``impl=None`` then picks the
    default implementation of that scheme (e.g. Marlin for w4a16).
    """
    check_choice("--model", model, MODELS)
    profile = load_profile(hw)  # "host": measured by sparsim.validate.hostbench, which sparsim/__init__ registers
    cal = resolve_calibration(calibration, profile)
    weights = options.pop("weights", None)
    tensor = options.pop("weights_tensor", None)
    if isinstance(weights, (str, Path)):
        weights = load_weights(weights, name=tensor)
    if weights is not None:
        options["weights"] = weights
    problem = Problem(kernel, m=m, k=k, n=n, dtype=dtype, density=density, pattern=pattern, options=options,
                      impl=impl, seed=seed, quant=quant, group=group)
    prediction = predict_work(problem.work(profile.kind), profile, cal, model=model, seed=seed,
                              impl=problem.impl_for(profile.kind))
    if compare:
        prediction = _with_knob_note(prediction, problem, profile, cal, model)
    return prediction


def _with_knob_note(p: Prediction, problem: Problem, profile, cal, model: str) -> Prediction:
    """Add the implementation's knob, and the alternative it leads to predicted beside it."""
    from dataclasses import replace

    from .impls import get_impl

    rule = get_impl(p.impl).rules.get(problem.kernel)
    if rule is None or not rule.knob:
        return p
    note = f"{p.impl}: {rule.knob}"
    alt = rule.alternative
    alt_rule = get_impl(alt).rules.get(problem.kernel, rule) if alt else None
    if alt and problem.compute_dtype in alt_rule.dtypes and (problem.quant or "none") in alt_rule.quant:
        other = problem.with_impl(alt)
        q = predict_work(other.work(profile.kind), profile, cal, model=model, seed=problem.seed, impl=alt)
        ratio = p.time_s / q.time_s
        word = "faster" if ratio >= 1 else "slower"
        note += f"; with {alt} this call is predicted {max(ratio, 1 / ratio):.2f}x {word} ({_us(q.time_s)})"
    return replace(p, notes=p.notes + (note,))


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:,.3f} ms"
