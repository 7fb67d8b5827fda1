"""The library entry point: ``sparsim.predict``.

One call builds a :class:`~sparsim.problem.Problem`, loads the hardware profile and its
calibration, builds the machine once from them and the problem's implementation
(:func:`sparsim.simulator.machine_for`), and asks a time model for a
:class:`~sparsim.prediction.Prediction` of one library call
(:func:`sparsim.simulator.predict_work`: the work counted as the implementation stores A,
the device time of its kernels plus the host work the GPU waits for).

``calibration=None`` uses the measured calibration that ships for the profile, else the
one of a board with the same die (the H200's, fitted to its 2026-11-29 measurements,
serves every GH100 board: :mod:`sparsim.hwprofiles.dies`); ``calibration=False`` gives
datasheet-only figures. ``Prediction.basis`` says which.

>>> import sparsim
>>> p = sparsim.predict("csr", m=4096, k=4096, n=256, hw="h100-sxm5-80gb", density=0.1)
>>> p.dependent_access_depth, p.kernel, p.impl
(2, 'csr', 'cusparse')
>>> p.basis
'calibrated on NVIDIA H200 (same GH100 die), 2026-11-29; clocks and memory from the H100 SXM5 80GB datasheet'
>>> sparsim.predict("csr", m=4096, k=4096, n=256, hw="h100-sxm5-80gb", density=0.1, calibration=False).basis
'datasheet only'
"""

from __future__ import annotations

from pathlib import Path

from .calibration import Calibration, load_calibration
from .errors import check_choice
from .hwprofiles import HardwareProfile, list_profiles, load_profile
from .models.patterns import load_weights
from .prediction import Prediction
from .problem import Problem
from .simulator import MODELS, machine_for, predict_work

__all__ = ["predict", "MODELS", "resolve_calibration", "predict_step", "predict_generation"]


def resolve_calibration(calibration, profile: HardwareProfile) -> Calibration | None:
    """None: the calibration shipped for ``profile``, else for a board of its die
    (:mod:`sparsim.hwprofiles.dies`), else none; False: none (datasheet only); else a
    path or Calibration, for ``profile`` or for another board of its die."""
    if calibration is False:
        return None
    if calibration is None:
        from .hwprofiles.dies import shipped_for

        found = shipped_for(profile)
        if not found:
            return None
        source, path = found
        return load_calibration(path).on_board(load_profile(source), profile)
    cal = load_calibration(calibration)
    if cal.hw != profile.name and cal.hw in list_profiles() and profile.die and load_profile(cal.hw).die == profile.die:
        return cal.on_board(load_profile(cal.hw), profile)
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
    l2: str = "cold",
    power_limit_w: float | None = None,
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
    ``l2="warm"``: back-to-back calls on the same operands, so what fits in L2 starts there
    (``"cold"``, the default: a flushed L2, as the atlas measures). ``power_limit_w``: a
    board power cap in W (default: the profile's board power); tensor-core kernels run at
    the clock they sustain under it.
    ``quant`` (``"w8a16"``, ``"w4a16"``, ``"fp8"``, ``"w8a8"``; ``group`` for w4a16)
    quantizes the weights (:mod:`sparsim.models.quant`); ``impl=None`` then picks the
    default implementation of that scheme (e.g. Marlin for w4a16).
    """
    check_choice("--model", model, MODELS)
    profile = load_profile(hw)  # "host": measured by sparsim.validate.hostbench, which sparsim/__init__ registers lazily
    cal = resolve_calibration(calibration, profile)
    weights = options.pop("weights", None)
    tensor = options.pop("weights_tensor", None)
    if isinstance(weights, (str, Path)):
        weights = load_weights(weights, name=tensor)
    if weights is not None:
        options["weights"] = weights
    problem = Problem(kernel, m=m, k=k, n=n, dtype=dtype, density=density, pattern=pattern, options=options,
                      impl=impl, seed=seed, quant=quant, group=group)
    conditions = {"l2": l2, "power_limit_w": power_limit_w}
    prediction = predict_work(problem, machine_for(problem, profile, cal), model=model, **conditions)
    if compare:
        prediction = _with_knob_note(prediction, problem, profile, cal, model, conditions)
    return prediction


def _with_knob_note(p: Prediction, problem: Problem, profile, cal, model: str, conditions=None) -> Prediction:
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
        q = predict_work(other, machine_for(other, profile, cal), model=model, **(conditions or {}))
        ratio = p.time_s / q.time_s
        word = "faster" if ratio >= 1 else "slower"
        note += f"; with {alt} this call is predicted {max(ratio, 1 / ratio):.2f}x {word} ({_us(q.time_s)})"
    return replace(p, notes=p.notes + (note,))


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:,.3f} ms"


def _step_inputs(model, hw, calibration):
    from .models.transformer import load_config

    config = load_config(model)
    profile = load_profile(hw)
    if profile.kind == "cpu":  # the step model lays out GPU streams, launches and HBM capacity
        from .errors import SparsimError, shown

        raise SparsimError(f"--hw: got {shown(hw if isinstance(hw, str) else profile.name)}, a CPU profile; "
                           "allowed: a GPU profile ('sparsim hw list'): a model step runs on GPUs")
    cal = resolve_calibration(calibration, profile)
    from .simulator.library import basis_of

    return config, profile, cal, basis_of(cal)


def predict_step(
    model,
    *,
    hw,
    phase: str = "decode",
    batch: int = 1,
    context: int | None = None,
    prompt: int | None = None,
    linear: str = "dense",
    density: float | None = None,
    impl: str | None = None,
    quant: str | None = None,
    kv_dtype: str | None = None,
    mode: str = "eager",
    tp: int = 1,
    dtype: str = "fp16",
    calibration=None,
    power_limit_w: float | None = None,
    group: int | None = None,
    attention: str = "fused",
    host=None,
):
    """Predict one prefill or decode step of ``model`` (a built-in name such as
    ``"llama3-8b"`` or a path to a Hugging Face ``config.json``) on ``hw``.

    Every decoder-layer linear is ``linear`` (``dense``, ``2:4``, ``csr`` or ``channel``
    with ``density``), run by ``impl`` and quantized by ``quant`` (``w8a16``, ``w4a16``
    with ``group``, ``fp8``, ``w8a8``); ``mode`` is ``eager``, ``cuda-graphs`` or
    ``compiled``; ``tp`` GPUs split the layers. Returns a
    :class:`~sparsim.steps.StepPrediction`; one that does not fit in memory has
    ``fits=False`` and no times. ``attention="repeat-kv"`` models gpt-fast's copy of
    grouped K/V heads before SDPA; ``"repeat-kv-math"`` adds its decode steps' math SDPA
    backend (eager: kernel by kernel, see :mod:`sparsim.steps.sdpa_math`). ``host``: the
    machine that runs Python (:mod:`sparsim.steps.hosts`): a known host's name or seconds
    per eager kernel call; by default the host the calibration was measured on, else the
    published reference host.
    """
    from .models.transformer import check_positions
    from .steps.step import predict_step_on

    config, profile, cal, basis = _step_inputs(model, hw, calibration)
    # a sequence past the model's positions is refused, not predicted (prefill: context 0 = none cached)
    if phase == "decode":
        check_positions(config, context=context)
    elif phase == "prefill":
        check_positions(config, prompt=prompt, context=context or None)
    return predict_step_on(config, profile, cal, predict=predict, model_name=config.name, phase=phase, batch=batch,
                           context=context, prompt=prompt, linear=linear, density=density, impl=impl, quant=quant,
                           group=group, kv_dtype=kv_dtype, mode=mode, tp=tp, dtype=dtype,
                           power_limit_w=power_limit_w, attention=attention, basis=basis, host=host)


def predict_generation(model, *, hw, batch: int = 1, prompt: int = 128, gen: int = 128, prefill_mode: str | None = None,
                       static_cache: bool = False, **options):
    """Predict a request of ``batch`` sequences, ``prompt`` tokens in and ``gen`` out:
    TTFT (the prefill step), TPOT (decode steps over a growing context) and tokens/s.
    ``options`` are :func:`predict_step`'s; ``prefill_mode`` runs the prefill in another
    mode (gpt-fast compiles only the decode step); ``static_cache``: every decode step
    attends over the whole cache of ``prompt + gen`` tokens (gpt-fast's static cache)."""
    from .models.transformer import check_positions
    from .steps.generation import predict_generation_on
    from .steps.step import predict_step_on

    config, profile, cal, basis = _step_inputs(model, hw, options.pop("calibration", None))
    check_positions(config, prompt=prompt, gen=gen)  # the last decode step holds prompt + gen tokens
    shared: dict = {}  # the request's steps share their linear-layer predictions

    def step(**kw):
        return predict_step_on(config, profile, cal, predict=predict, model_name=config.name, basis=basis,
                               linear_cache=shared, **{**options, **kw})

    return predict_generation_on(step, model_name=config.name, hw=profile.name, batch=batch, prompt=prompt, gen=gen,
                                 mode=options.get("mode", "eager"), prefill_mode=prefill_mode, tp=options.get("tp", 1),
                                 static_cache=static_cache)
