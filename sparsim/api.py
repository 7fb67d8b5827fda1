"""The library entry point: ``sparsim.predict``.

One call builds a :class:`~sparsim.problem.Problem`, loads the hardware profile and its
calibration, builds the machine once from them and the problem's implementation
(:func:`sparsim.simulator.machine_for`), and asks a time model for a
:class:`~sparsim.prediction.Prediction` of one library call
(:func:`sparsim.simulator.predict_work`: the work counted as the implementation stores A,
the device time of its kernels plus the host work the GPU waits for).

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
from .simulator import MODELS, machine_for, predict_work

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
    **options,
) -> Prediction:
    """Predict one call of ``C[M×N] = A[M×K] @ B[K×N]`` with kernel ``kernel`` on profile ``hw``.

    ``impl`` names the software stack (``sparsim impl list``); None is the kernel's
    default library. ``options`` go to :func:`sparsim.models.build_work` (``index_policy``,
    ``b_layout``, ``group_size``, ``block``, ``weights`` as an array or a
    .npy/.safetensors path, ``weights_tensor`` to pick a tensor, ``sparsity_pattern``,
    ``pattern_options``). With ``compare``, the notes say what the implementation's knob
    would change (e.g. a searched cuSPARSELt plan instead of the default one).
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
                      impl=impl, seed=seed)
    prediction = predict_work(problem, machine_for(problem, profile, cal), model=model)
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
    if alt and problem.dtype in get_impl(alt).rules.get(problem.kernel, rule).dtypes:
        other = problem.with_impl(alt)
        q = predict_work(other, machine_for(other, profile, cal), model=model)
        ratio = p.time_s / q.time_s
        word = "faster" if ratio >= 1 else "slower"
        note += f"; with {alt} this call is predicted {max(ratio, 1 / ratio):.2f}x {word} ({_us(q.time_s)})"
    return replace(p, notes=p.notes + (note,))


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:,.3f} ms"
