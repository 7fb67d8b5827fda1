"""The study file: a what-if capacity study as plain, versioned TOML data.

A study names the workloads (built-in networks, custom GEMM shapes, or a weights file whose
matrices get pruned), the hardware profiles, the formats (kernels), densities, dtypes and
batch sizes to sweep, the time model, and optional calibration and validation files. It is
data only: nothing in it is executed, and every key is checked, so a typo fails with one
line naming the file, the key, the value and what is allowed.

::

    version = 1
    name = "Llama-2-7B decoding"
    model = "des"                     # or "analytic"
    calibration = ["a100-cal.toml"]   # optional, one per profile; paths relative to this file
    validation = "measured.jsonl"     # optional measured times to compare with

    [sweep]
    hardware = ["a100-sxm4-80gb", "h100-sxm5-80gb"]
    formats = ["dense", "2:4", "csr", "bsr", "channel"]
    densities = [0.05, 0.1, 0.3, 0.5]
    dtypes = ["fp16"]
    batch_sizes = [1, 16, 256]
    impls = ["default", "torch"]      # software stacks to compare (this is the default)

    [kernel]                          # options every kernel gets (all optional)
    pattern = "uniform"               # how generated unstructured patterns are placed
    # index_policy, b_layout: absent = as each implementation stores A and calls B

    [[workloads]]
    network = "llama2-7b"             # or shapes = [{name, m, k, count}], or weights = "file"
    tokens = 1                        # N = batch x tokens

    [[workloads]]                     # a whole model: steps, not layers (studies.modelspec)
    model = "llama3-8b"               # or config = "path/config.json"
    phase = "decode"
    context = 2048
    modes = ["eager", "cuda-graphs"]

Model workloads also sweep ``[sweep] quant`` (``["none"]`` unless given; e.g. ``["none",
"w4a16"]``), which layer workloads do not take.

What a density means per format: for csr/coo/bsr/grouped the fraction of weights kept
(unstructured); for channel the fraction of output channels (rows) kept; dense runs every
weight whatever the density; 2:4 (1:2) keeps the structured half, so its time does not
depend on density and a density above 0.5 is not reachable by 2:4 pruning alone.

``impls`` entries are ``"default"`` (each format's default library on that profile) or
implementation names (``sparsim impl list``); see :mod:`sparsim.studies.paths`.

>>> study = parse_study({"version": 1, "name": "t", "sweep": {"hardware": ["l4"],
...     "formats": ["dense"], "densities": [1.0], "dtypes": ["fp16"], "batch_sizes": [1]},
...     "workloads": [{"network": "bert-base"}]})
>>> study.workloads[0].tokens, study.impls, study.grid_points()  # dense by cuBLAS and by torch.mm
(128, ('default', 'torch'), 6)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..api import MODELS
from ..dtypes import DTYPES
from ..errors import SparsimError, shown
from ..models.formats import INDEX_POLICIES
from ..speccheck import MAX_WHOLE, SpecChecker
from ..tomlfile import read_toml
from ..models.patterns import PATTERNS
from ..models.work import B_LAYOUTS, KERNELS
from .layerspec import Workload, parse_workload, resolve_path as _resolve
from .modelspec import ModelWorkload, is_file, is_model_workload, parse_model_workload
from .paths import DEFAULT_IMPLS, NO_QUANT, allowed_entries, resolve, step_paths

__all__ = ["STUDY_VERSION", "Study", "Workload", "KernelOptions", "load_study", "parse_study"]

STUDY_VERSION = 1

_TOP_KEYS = ("version", "name", "description", "model", "seed", "calibration", "validation",
             "sweep", "kernel", "workloads")
_SWEEP_KEYS = ("hardware", "formats", "densities", "dtypes", "batch_sizes", "impls", "quant")
#: sweep keys a study must give
_SWEEP_REQUIRED = ("hardware", "formats", "batch_sizes")
_KERNEL_KEYS = ("pattern", "index_policy", "b_layout", "group_size", "block")
#: patterns a sweep can generate for unstructured formats (nm and channel have formats of
#: their own)
_SWEEP_PATTERNS = tuple(p for p in PATTERNS if p not in ("nm", "channel"))
#: largest whole number a study may give (M, K, counts, seeds): int32, what GEMM
#: libraries index with
#: largest N = batch x tokens (x spatial size) a point may have
MAX_N = 2**31 - 1
#: a study's grid is refused above this many points: a typo should not start a day-long run
MAX_GRID_POINTS = 2_000_000


@dataclass(frozen=True)
class KernelOptions:
    """Options every kernel of the sweep gets (see ``sparsim predict --help``).

    ``index_policy`` and ``b_layout`` None: as each implementation stores A's indices and
    calls B (:meth:`sparsim.problem.Problem.resolved_options`); a value overrides that for
    every implementation."""

    pattern: str = "uniform"
    index_policy: str | None = None
    b_layout: str | None = None
    group_size: int = 8
    block: int = 16


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    workloads: tuple[Workload, ...]
    hardware: tuple[str, ...]  # profile names or resolved paths to profile files
    formats: tuple[str, ...]
    densities: tuple[float, ...]
    dtypes: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    model: str = "des"
    seed: int = 0
    #: software stacks to compare: "default" and/or implementation names (studies.paths)
    impls: tuple[str, ...] = DEFAULT_IMPLS
    kernel: KernelOptions = field(default_factory=KernelOptions)
    calibration: tuple[str, ...] = ()  # resolved paths
    validation: str | None = None  # resolved path
    version: int = STUDY_VERSION
    origin: str = "<memory>"
    #: whole-model workloads (steps or requests), swept apart from the layer workloads
    model_workloads: tuple[ModelWorkload, ...] = ()
    #: quantization schemes of model workloads ("none": the dtype itself)
    quant: tuple[str, ...] = (NO_QUANT,)

    def step_paths(self, hw: str):
        """The :class:`~sparsim.studies.paths.StepPath` of every model-workload point on
        profile ``hw``."""
        from ..hwprofiles import load_profile

        return step_paths(self.formats, self.quant, self.impls, self.densities, load_profile(hw).kind)

    def step_points(self) -> int:
        """Whole-model predictions: per model workload, GPUs × paths × modes × tp × dtypes ×
        batch sizes."""
        paths = sum(len(self.step_paths(hw)) for hw in self.hardware) if self.model_workloads else 0
        return sum(paths * len(w.modes) * len(w.tp) * len(self.dtypes) * len(self.batch_sizes)
                   for w in self.model_workloads)

    def paths(self, hw: str) -> dict[str, tuple[tuple[str, str], ...]]:
        """Format -> (implementation, path) pairs the sweep predicts on profile ``hw``."""
        from ..hwprofiles import load_profile

        kind = load_profile(hw).kind
        return {fmt: resolve(fmt, self.impls, kind) for fmt in self.formats}

    def grid_points(self) -> int:
        """Predictions the sweep runs: distinct shapes × densities × dtypes × batch sizes ×
        (format, implementation) pairs per profile (repeated layers are predicted once)."""
        shapes = sum(len(w.distinct_shapes()) for w in self.workloads)
        pairs = sum(len(p) for hw in self.hardware for p in self.paths(hw).values()) if shapes else 0
        return shapes * len(self.densities) * len(self.dtypes) * len(self.batch_sizes) * pairs + self.step_points()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for provenance (what was swept, not the layer lists)."""
        out = {
            "version": self.version, "name": self.name, "description": self.description,
            "origin": self.origin, "model": self.model, "seed": self.seed,
            "workloads": [{"name": w.name, "title": w.title, "tokens": w.tokens, "source": w.source,
                           "layers": len(w.layers), "weights_path": w.weights_path} for w in self.workloads],
            "hardware": list(self.hardware), "formats": list(self.formats),
            "densities": list(self.densities), "dtypes": list(self.dtypes),
            "batch_sizes": list(self.batch_sizes), "impls": list(self.impls), "kernel": vars(self.kernel).copy(),
            "calibration": list(self.calibration), "validation": self.validation,
        }
        if self.model_workloads:  # layer-only studies keep their fingerprint
            out["workloads"] += [w.to_dict() for w in self.model_workloads]
            out["quant"] = list(self.quant)
        return out


# -- parsing ------------------------------------------------------------------------------

def _Checker(origin: str) -> SpecChecker:
    """Builds the one-line errors: ``study FILE: key KEY: got VALUE; allowed: WHAT``."""
    return SpecChecker("study", origin)


def _hardware(c: _Checker, base: Path | None, value: Any) -> tuple[str, ...]:
    from ..hwprofiles import list_profiles, load_profile

    names = list_profiles()
    out = []
    for item in c.nonempty_list("sweep.hardware", value):
        if not isinstance(item, str) or not item:
            raise c.fail("sweep.hardware", item, f"{', '.join(names)}, or a path to a profile .toml")
        if item in names:
            out.append(item)
        elif item.endswith(".toml"):
            path = _resolve(base, item)
            if not is_file(path):
                raise c.fail("sweep.hardware", item, f"{', '.join(names)}, or a path to an existing profile .toml")
            load_profile(path)  # check it now: a bad profile fails before the sweep starts
            out.append(path)
        else:
            raise c.fail("sweep.hardware", item, f"{', '.join(names)}, or a path to a profile .toml")
    return c.unique("sweep.hardware", out)


def _densities(c: _Checker, value: Any) -> tuple[float, ...]:
    out = []
    for item in c.nonempty_list("sweep.densities", value):
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not 0 < item <= 1:
            raise c.fail("sweep.densities", item, "numbers in (0, 1]")
        out.append(float(item))
    return tuple(sorted(c.unique("sweep.densities", out)))


def _impls(c: _Checker, value: Any, formats: tuple[str, ...]) -> tuple[str, ...]:
    allowed = allowed_entries(formats)
    items = c.nonempty_list("sweep.impls", value)
    for item in items:
        if item not in allowed:
            raise c.fail("sweep.impls", item, ", ".join(allowed)
                         + f" (the implementations that run {', '.join(formats)})")
    return c.unique("sweep.impls", items)


def _kernel(c: _Checker, value: Any) -> KernelOptions:
    table = c.keys("kernel", value, _KERNEL_KEYS)
    defaults = KernelOptions()
    pattern = table.get("pattern", defaults.pattern)
    if pattern not in _SWEEP_PATTERNS:
        raise c.fail("kernel.pattern", pattern, ", ".join(_SWEEP_PATTERNS))
    # absent: as each implementation stores A and calls B
    index_policy = table.get("index_policy", defaults.index_policy)
    if index_policy is not None and index_policy not in INDEX_POLICIES:
        raise c.fail("kernel.index_policy", index_policy, ", ".join(INDEX_POLICIES))
    b_layout = table.get("b_layout", defaults.b_layout)
    if b_layout is not None and b_layout not in B_LAYOUTS:
        raise c.fail("kernel.b_layout", b_layout, ", ".join(B_LAYOUTS))
    return KernelOptions(
        pattern=pattern, index_policy=index_policy, b_layout=b_layout,
        group_size=c.whole("kernel.group_size", table.get("group_size", defaults.group_size)),
        block=c.whole("kernel.block", table.get("block", defaults.block)),
    )


def _calibration(c: _Checker, base: Path | None, value: Any, hardware: tuple[str, ...]) -> tuple[str, ...]:
    from ..calibration import load_calibration
    from ..hwprofiles import load_profile

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise c.fail("calibration", value, "a calibration .toml path or a list of them")
    names = [load_profile(hw).name for hw in hardware]
    seen: dict[str, str] = {}
    out = []
    for item in items:
        path = _resolve(base, item)
        if not is_file(path):
            raise c.fail("calibration", item, "paths of existing calibration files (relative to the study file)")
        cal = load_calibration(path)
        if cal.hw not in names:
            raise c.fail("calibration", item, f"calibrations fitted for a swept profile ({', '.join(names)}); "
                                              f"this one is for {cal.hw!r}")
        if cal.hw in seen:
            raise c.fail("calibration", item, f"one calibration per profile ({cal.hw!r} already has {seen[cal.hw]})")
        seen[cal.hw] = item
        out.append(path)
    return tuple(out)


def parse_study(data: Mapping[str, Any], origin: str = "<memory>", base: Path | None = None) -> Study:
    """Check a study's data (as read from TOML) and build the :class:`Study`."""
    # Longer than 60 lines on purpose: one check per key of the study file, each naming the key it refuses.
    c = _Checker(origin)
    c.keys("", data, _TOP_KEYS)
    if "version" not in data:
        raise c.fail("version", None, f"{STUDY_VERSION} (required)")
    if data["version"] != STUDY_VERSION or isinstance(data["version"], bool):
        raise c.fail("version", data["version"], str(STUDY_VERSION))
    name = c.string("name", data.get("name", Path(origin).stem if origin != "<memory>" else "study"))
    description = data.get("description", "")
    if not isinstance(description, str):
        raise c.fail("description", description, "a string")
    model = data.get("model", "des")
    if model not in MODELS:
        raise c.fail("model", model, ", ".join(MODELS))
    seed = c.whole("seed", data.get("seed", 0), minimum=0)

    if "sweep" not in data:
        raise c.fail("sweep", None, f"a [sweep] table with {', '.join(_SWEEP_KEYS)} (required)")
    sweep = c.keys("sweep", data["sweep"], _SWEEP_KEYS)
    for needed in _SWEEP_REQUIRED:
        if needed not in sweep:
            raise c.fail(f"sweep.{needed}", None, "a non-empty list (required)")
    hardware = _hardware(c, base, sweep["hardware"])
    formats = c.choices("sweep.formats", sweep["formats"], KERNELS)
    densities = _densities(c, sweep.get("densities", [1.0]))
    dtypes = c.choices("sweep.dtypes", sweep.get("dtypes", ["fp16"]), tuple(DTYPES))
    batch_sizes = tuple(sorted(c.unique("sweep.batch_sizes", [
        c.whole("sweep.batch_sizes", b) for b in c.nonempty_list("sweep.batch_sizes", sweep["batch_sizes"])])))
    if "impls" in sweep:
        impls = _impls(c, sweep["impls"], formats)
    else:  # the default list, less what runs none of the formats (torch has no grouped kernel)
        impls = tuple(i for i in DEFAULT_IMPLS if i in allowed_entries(formats))
    kernel = _kernel(c, data.get("kernel", {}))

    if "workloads" not in data:
        raise c.fail("workloads", None, "one or more [[workloads]] tables (required)")
    tables = list(enumerate(c.nonempty_list("workloads", data["workloads"])))
    workloads = tuple(parse_workload(c, base, i, w) for i, w in tables if not is_model_workload(w))
    model_workloads = tuple(parse_model_workload(c, base, i, w) for i, w in tables if is_model_workload(w))
    c.unique("workloads[].name", [w.name for w in workloads + model_workloads])
    if model_workloads:  # a model step runs on GPUs: each point on a CPU profile would be refused
        from ..hwprofiles import load_profile

        for hw in hardware:
            if load_profile(hw).kind == "cpu":
                raise c.fail("sweep.hardware", hw, "GPU profiles in a study with model workloads "
                             f"({', '.join(w.name for w in model_workloads)}); sweep a CPU in a study of its own")
    quant = (NO_QUANT,)
    if "quant" in sweep:
        from ..models.quant import SCHEMES

        quant = c.choices("sweep.quant", sweep["quant"], (NO_QUANT, *SCHEMES))
        if quant != (NO_QUANT,) and workloads:
            raise c.fail("sweep.quant", list(quant), f"[\"{NO_QUANT}\"] in a study with layer workloads "
                         f"({', '.join(w.name for w in workloads)}); quantized paths are swept for model "
                         "workloads only: put them in a study of their own")

    calibration = _calibration(c, base, data["calibration"], hardware) if data.get("calibration") else ()
    validation = None
    if data.get("validation"):
        validation = _resolve(base, c.string("validation", data["validation"]))
        if not is_file(validation):
            raise c.fail("validation", data["validation"], "the path of an existing JSON-lines file of measured times")

    study = Study(name=name, description=description, workloads=workloads, hardware=hardware,
                  formats=formats, densities=densities, dtypes=dtypes, batch_sizes=batch_sizes,
                  model=model, seed=seed, impls=impls, kernel=kernel, calibration=calibration,
                  validation=validation, origin=origin, model_workloads=model_workloads, quant=quant)
    for workload in workloads:
        widest = max(n_unit for (_, _, n_unit, _) in workload.distinct_shapes())
        if max(batch_sizes) * widest > MAX_N:
            raise c.fail("sweep.batch_sizes", max(batch_sizes),
                         f"batch sizes with N = batch x {widest:,} (tokens x positions of {workload.name}) "
                         f"at most {MAX_N:,}")
    points = study.grid_points()
    if points == 0:
        raise c.fail("sweep.impls", list(impls), "implementations that run a swept format on a swept profile "
                     f"({', '.join(allowed_entries(formats))})")
    if points > MAX_GRID_POINTS:
        raise c.fail("sweep", f"{points:,} points", f"at most {MAX_GRID_POINTS:,} points; split the study")
    return study


def load_study(path: str | Path) -> Study:
    """Read and check a study TOML file; relative paths inside it are relative to it."""
    path = Path(path)
    return parse_study(read_toml(path, "study"), origin=str(path), base=path.parent)
