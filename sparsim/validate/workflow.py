"""The calibration workflow: measure -> fit -> evaluate -> provenance -> write atomically.

``sparsim calibrate`` and ``sparsim validate`` are thin calls into this module, and the
tests drive it directly. One run of :func:`calibrate`:

1. **probe** the hardware ceilings (``sparsim.validate.probe.run_probe``) unless told not
   to; they go into the calibration's ``[measured]`` table and replace datasheet values;
2. **measure** the plan's points into ``DIR/results.jsonl`` (resumed by key: points on
   disk are not measured again), or take ``from_results``, a file measured elsewhere;
3. **fit** the training split (:class:`~sparsim.validate.calibrator.Calibrator`: per
   implementation, inside physical ranges, cross-validated by shape);
4. **evaluate** the held-out split twice, fitted and datasheet-only;
5. write ``DIR/calibration.toml`` **atomically** (a temporary file, fsync, ``os.replace``):
   a run killed at any moment leaves the previous calibration whole. A fit whose held-out
   error is worse than the datasheet-only prediction's (by more than :data:`NOISE_MAPE`,
   the noise of the held-out points) is written to
   ``DIR/calibration.rejected.toml`` instead, and the previous calibration stays.

A calibration stores the profile it was fitted on when that profile is not built in (a
host CPU's profile is measured, and differs from machine to machine), so scoring it later
never falls back silently on the profile of the machine doing the scoring
(:func:`resolve_profile`).

>>> outcome = calibrate(out_dir="calib", from_results="h200/results.jsonl")   # doctest: +SKIP
>>> outcome.accepted, outcome.held_out_mape, outcome.datasheet_mape          # doctest: +SKIP
(True, 0.21, 0.66)
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..calibration import Calibration, load_calibration
from ..errors import SparsimError
from ..hwprofiles import HardwareProfile, list_profiles, load_profile
from ..hwprofiles.schema import _SCALARS, parse_profile
from .calibrator import Calibrator, usable_records
from .heldout import ErrorReport, evaluate
from .results import ResultSet, read_results

__all__ = ["CalibrationOutcome", "calibrate", "write_atomically", "resolve_profile", "profile_data",
           "stored_profile", "with_run_header", "measure", "fit_and_evaluate"]

#: held-out MAPE a fit may lose to the datasheet-only prediction and still count as no
#: worse: the spread of the same quick sweep measured twice on a 2-core machine
NOISE_MAPE = 0.005
CALIBRATION_FILE = "calibration.toml"
REJECTED_FILE = "calibration.rejected.toml"
RESULTS_FILE = "results.jsonl"
#: the flag ``accept_contended`` lets into the fit and the score
CONTENDED = "contended"


def write_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` so that a reader (or a crash) sees the old file or the
    new one, never a part: temporary file in the same directory, fsync, ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.tmp*"):  # left by a run killed mid-write
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


# -- profiles ---------------------------------------------------------------------------

def profile_data(hw: HardwareProfile) -> dict:
    """``hw`` as profile TOML data (what :func:`~sparsim.hwprofiles.schema.parse_profile` reads)."""
    def num(key: str, value):
        return {"value": value, "source": hw.sources.get(key) or f"stored with the calibration ({key})"}

    data: dict = {"version": hw.version, "name": hw.name, "display_name": hw.display_name, "kind": hw.kind}
    if hw.compute_capability:
        data["compute_capability"] = hw.compute_capability
    for section, key, attr, _ in _SCALARS:
        data.setdefault(section, {})[key] = num(f"{section}.{key}", getattr(hw, attr))
    for table, rates in (("tensor_dense_flops_per_s", hw.tensor_dense_flops_per_s),
                         ("vector_flops_per_s", hw.vector_flops_per_s)):
        if rates:
            data[table] = {dtype: num(f"{table}.{dtype}", float(v)) for dtype, v in rates.items()}
    if hw.sparse_dtypes:
        data["tensor_sparse"] = {"speedup": num("tensor_sparse.speedup", hw.sparse_speedup),
                                 "dtypes": list(hw.sparse_dtypes)}
    return data


def stored_profile(cal: Calibration) -> HardwareProfile | None:
    """The profile a calibration stored (``[provenance] profile``), or None."""
    data = cal.provenance.get("profile")
    if not isinstance(data, dict):
        return None
    return parse_profile(_plain(data), origin=f"{cal.name} [provenance] profile")


def _plain(value):
    """MappingProxy/tuple trees from a loaded calibration as plain dicts and lists."""
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def resolve_profile(cal: Calibration | None, results: ResultSet | None = None, hw=None) -> HardwareProfile:
    """The profile to score ``results`` with ``cal`` on: ``hw`` if given, else the built-in
    profile the calibration names, else the one it stored. Never this machine's host
    profile unless asked for (``hw="host"``); results of another profile are refused."""
    if hw is not None:
        profile = load_profile(hw)
    elif cal is None:
        raise SparsimError("--hw: no calibration and no profile given; allowed: a profile name, 'host' or a path")
    elif cal.hw in list_profiles():
        profile = load_profile(cal.hw)
    else:
        profile = stored_profile(cal)
        if profile is None:
            raise SparsimError(f"--calibration {cal.name}: profile {cal.hw!r} is neither built in nor stored in "
                               "the calibration; allowed: --hw host (this machine's measured profile) or "
                               "--hw PATH to that profile's .toml")
    if cal is not None:
        cal.check_profile(profile.name)
    if results is not None:
        other = sorted(results.hw_names() - {profile.name})
        if other:
            raise SparsimError(f"--results {results.path}: measured on profile {other[0]!r}, not {profile.name!r}; "
                               f"allowed: results measured on {profile.name!r}")
    return profile


#: run-header ``profile`` keys (written by the numpy backend) -> how they patch a profile
_RUN_PROFILE_KEYS = {"dram_bytes_per_s": "hbm_bytes_per_s", "llc_bytes_per_s": "l2_bytes_per_s",
                     "launch_overhead_s": "launch_overhead_s"}


def with_run_header(profile: HardwareProfile, results: ResultSet, echo=lambda line: None) -> HardwareProfile:
    """``profile`` with the measured rates the results' last run header recorded (a host
    CPU's profile is re-measured on every machine; the header says what it was when these
    points were timed). Other profiles, and headers of another profile, are left alone."""
    run = next((r for r in reversed(results.runs) if r.get("hw") == profile.name and r.get("profile")), None)
    if run is None or profile.kind != "cpu":
        return profile
    values = run["profile"]
    changes = {attr: float(values[key]) for key, attr in _RUN_PROFILE_KEYS.items()
               if isinstance(values.get(key), (int, float))}
    vector = dict(profile.vector_flops_per_s)
    for dtype in ("fp32", "fp64"):
        if isinstance(values.get(f"vector_{dtype}_flops_per_s"), (int, float)):
            vector[dtype] = float(values[f"vector_{dtype}_flops_per_s"])
    sources = dict(profile.sources)
    for key in [f"memory.{a}" for a in ("hbm_bytes_per_s", "l2_bytes_per_s")] + ["launch.overhead_s"] + \
            [f"vector_flops_per_s.{d}" for d in vector]:
        sources[key] = f"the run header of {results.path} (the profile when its points were timed)"
    echo(f"profile {profile.name}: rates from the results' run header ({run.get('started', '?')}), "
         "structure and latencies from this machine")
    return dataclasses.replace(profile, vector_flops_per_s=vector, sources=sources, **changes)


# -- the steps --------------------------------------------------------------------------

def _probe(backend_name: str, quick: bool, echo) -> dict:
    """The probe's measured ceilings, or {} with a one-line note when there is no probe."""
    try:
        probe = importlib.import_module("sparsim.validate.probe")
    except ImportError:
        echo("probe: sparsim.validate.probe is not available here; using the profile's values")
        return {}
    from ..hwprofiles import is_measured_key

    found = probe.run_probe(backend_name, quick=quick) or {}
    # only ceilings a calibration can carry (and the time models read) are kept
    measured = {k: float(v) for k, v in found.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                and v > 0 and is_measured_key(k)}
    if set(found) - set(measured):
        echo(f"probe: not used here: {', '.join(sorted(set(found) - set(measured)))}")
    echo(f"probe: {', '.join(f'{k}={v:.4g}' for k, v in sorted(measured.items())) or 'nothing measured'}")
    return measured


def measure(engine, specs, results_path: Path, *, accept_contended: bool = False,
            on_point: Callable | None = None, on_start: Callable | None = None):
    """Measure every spec not yet in ``results_path`` (resumed by key) with backend ``engine``."""
    from .runner import pending, run_sweep

    profile = engine.profile()
    todo, done = pending(specs, results_path, profile.name,
                         accept_flags=(CONTENDED,) if accept_contended else ())
    if on_start is not None:
        on_start(profile, len(specs), done, todo)
    if not todo:
        return None
    return run_sweep(engine, specs, results_path, on_point=on_point, todo=todo)


@dataclass(frozen=True)
class CalibrationOutcome:
    """What one calibration run produced (``path`` is None for a rejected fit)."""

    calibration: Calibration
    calibrator: Calibrator
    report: ErrorReport  # held-out error of the fit
    baseline: ErrorReport  # held-out error of the datasheet-only prediction
    accepted: bool
    path: Path | None
    rejected_path: Path | None = None

    @property
    def held_out_mape(self) -> float:
        return float(np.mean(np.abs(self.report.points["error"])))

    @property
    def datasheet_mape(self) -> float:
        return float(np.mean(np.abs(self.baseline.points["error"])))

    def render_fit(self) -> str:
        """Per-parameter table (value, uncertainty, status), then cross-validation by kernel."""
        fitted = self.calibrator
        lines = [f"{'impl':<10} {'parameter':<26} {'value':>10} {'+-':>7} {'default':>9}  status"]
        lines.append("-" * len(lines[0]))
        for row in fitted.param_report_:
            value = f"{row['value']:.4g}" if row.get("value") is not None else "-"
            std = f"{np.expm1(row['std_log']):.0%}" if row.get("std_log") is not None else "-"
            lines.append(f"{row['impl']:<10} {row['param']:<26} {value:>10} {std:>7} {row['default']:>9.4g}  "
                         f"{row['status']}")
        if fitted.cv_:
            lines += ["", f"cross-validation ({fitted.folds}-fold by shape, training points): MAPE fitted vs datasheet",
                      f"{'impl':<10} {'kernel':<7} {'n':>4} {'fitted':>8} {'datasheet':>10}"]
            for row in fitted.cv_:
                lines.append(f"{row['impl']:<10} {row['kernel']:<7} {row['n']:>4} {row['fitted']:>7.1%} "
                             f"{row['datasheet']:>10.1%}")
        return "\n".join(lines)

    def verdict(self) -> str:
        fit, base = self.held_out_mape, self.datasheet_mape
        per_kernel = ", ".join(f"{k} {v:.1%} (datasheet {self.baseline.kernel_mape().get(k, float('nan')):.1%})"
                               for k, v in self.report.kernel_mape().items())
        return f"held-out MAPE {fit:.1%} fitted vs {base:.1%} datasheet-only; by kernel: {per_kernel}"


def fit_and_evaluate(results: ResultSet, profile: HardwareProfile, *, model: str = "des", measured=None,
                     include_flagged=False, provenance: dict | None = None,
                     calibrator: Calibrator | None = None) -> tuple[Calibration, Calibrator, ErrorReport, ErrorReport]:
    """Fit the training split, score the held-out split fitted and datasheet-only."""
    train = usable_records(results, split="train", include_flagged=include_flagged)
    fitted = (calibrator or Calibrator(hw=profile, model=model, measured=measured,
                                       include_flagged=include_flagged)).fit(train)
    calibration = fitted.calibration_
    report = evaluate(calibration, results, hw=profile, model=model, split="test", include_flagged=include_flagged)
    baseline = evaluate(calibration, results, hw=profile, model=model, split="test",
                        include_flagged=include_flagged, datasheet=True)
    prov = dict(provenance or {})
    prov.update({
        "held_out_samples": int(len(report.points)),
        "held_out_mape": {k: round(v, 4) for k, v in report.kernel_mape().items()},
        "datasheet_held_out_mape": {k: round(v, 4) for k, v in baseline.kernel_mape().items()},
        "excluded_points": len(results.measurements) - len(usable_records(results, include_flagged=include_flagged)),
    })
    if profile.name not in list_profiles():
        prov["profile"] = profile_data(profile)
    return fitted.to_calibration(prov), fitted, report, baseline


def _provenance(results: ResultSet, backend: str, clocks_seen=None) -> dict:
    runs = results.runs
    last = runs[-1] if runs else {}
    telemetry = [s for m in results.ok() for s in (m.get("telemetry") or [])]
    clocks = (clocks_seen(telemetry) if clocks_seen else None) or dict(last.get("clocks") or {})
    prov = {
        "device": str(last.get("device", "unknown")),
        "backend": backend,
        "results": str(results.path),
        "versions": {k: str(v) for k, v in (last.get("versions") or {}).items() if v is not None},
        "clocks_seen": {k: v for k, v in clocks.items() if v is not None},
        "measured_from": str(min((r.get("started", "") for r in runs), default="")),
    }
    if last.get("nvml"):
        prov["nvml"] = {k: v for k, v in last["nvml"].items() if v is not None}
    if last.get("profile"):
        prov["profile_values"] = {k: v for k, v in last["profile"].items() if v is not None}
    return prov


def calibrate(*, out_dir, backend=None, from_results=None, quick: bool = False, hw=None, model: str = "des",
              kernels=None, probe: bool = True, accept_contended: bool = False, measure_only: bool = False,
              specs=None, echo: Callable[[str], None] = lambda line: None,
              on_start: Callable | None = None, on_point: Callable | None = None) -> CalibrationOutcome | None:
    """One calibration run (module docstring). ``backend`` is a name (``numpy``, ``cupy``)
    or a Backend; ``from_results`` a results file measured elsewhere (no backend, no
    probe); ``specs`` replaces the built-in plan. Returns None for ``measure_only``."""
    # Longer than 60 lines on purpose: the workflow's steps in order (probe, measure, fit, evaluate, write), each a call.
    from .backends import Backend, get_backend
    from .spec import plan
    from .timing import FULL, QUICK

    out = Path(out_dir)
    include = {CONTENDED} if accept_contended else False
    measured: dict = {}
    if from_results is not None:
        if backend is not None:
            raise SparsimError("--from-results: got a backend too; allowed: --backend (measure here) or "
                               "--from-results FILE (fit measurements taken elsewhere), not both")
        results = read_results(from_results)
        names = sorted(results.hw_names())
        if len(names) != 1:
            raise SparsimError(f"--from-results {from_results}: measured on profiles {names or 'none'}; "
                               "allowed: a results file of exactly one profile")
        if hw is None and names[0] not in list_profiles():
            raise SparsimError(f"--from-results {from_results}: measured on profile {names[0]!r}, which is not "
                               "built in; allowed: --hw host (this machine's measured profile) or --hw PATH")
        profile = with_run_header(load_profile(hw if hw is not None else names[0]), results, echo)
        resolve_profile(None, results, hw=profile)
        echo(f"probe: skipped (--from-results: {names[0]!r} was measured by another run, maybe elsewhere)")
        backend_name = str((results.runs[-1] if results.runs else {}).get("backend", "unknown"))
        clocks_seen = None
    else:
        if backend is None:
            raise SparsimError("--backend: missing; allowed: numpy, cupy, or --from-results FILE")
        if not isinstance(backend, Backend):
            from .backends import check_backend_hw

            check_backend_hw(backend, hw)  # a CPU's numbers never become a GPU's calibration
        engine = backend if isinstance(backend, Backend) else \
            get_backend(backend, policy=QUICK if quick else FULL, hw=hw)
        backend_name = engine.name
        if specs is None:
            specs = plan(backend_name, quick=quick, kernels=kernels)
        results_path = out / RESULTS_FILE
        try:
            profile = engine.profile()
            if probe:
                measured = _probe(backend_name, quick, echo)
            measure(engine, specs, results_path, accept_contended=accept_contended,
                    on_point=on_point, on_start=on_start)
        finally:
            engine.close()
        results = read_results(results_path)
        try:
            from .telemetry import clocks_seen
        except ImportError:  # pragma: no cover - telemetry ships with the package
            clocks_seen = None
    if measure_only:
        return None

    calibration, fitted, report, baseline = fit_and_evaluate(
        results, profile, model=model, measured=measured, include_flagged=include,
        provenance={**_provenance(results, backend_name, clocks_seen),
                    **({"accepted_flags": [CONTENDED]} if accept_contended else {})})
    # "worse" means worse by more than the repeat-to-repeat noise of the held-out points
    # (on a 2-core machine consecutive quick runs differ by ~0.5 points of MAPE)
    accepted = (float(np.mean(np.abs(report.points["error"])))
                <= float(np.mean(np.abs(baseline.points["error"]))) + NOISE_MAPE)
    path = write_atomically(out / (CALIBRATION_FILE if accepted else REJECTED_FILE), calibration.to_toml())
    report = dataclasses.replace(report, calibration=str(path))
    if accepted:
        return CalibrationOutcome(calibration, fitted, report, baseline, True, path)
    return CalibrationOutcome(calibration, fitted, report, baseline, False, None, path)


def load_for_validate(calibration_path, results_path, hw=None):
    """(calibration, results, profile) for ``sparsim validate``, checked against each other."""
    cal = load_calibration(calibration_path)
    results = read_results(results_path)
    return cal, results, resolve_profile(cal, results, hw=hw)
