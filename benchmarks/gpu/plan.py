"""The plan of a collect.sh run: which stages, in which order, with which time budgets.

Stages are ordered by value: first what no data in the repository has yet (decoder steps,
the quantized paths, long-cache attention kernels, profiler traces), then a re-measure of the calibration of the GPU the
run is on, then the bookkeeping. A stage whose data already exists for this SKU in
``sparsim/validate/data/`` is left out of the default plan (the plan says where that data
is); naming it in ``--stages`` runs it anyway. The default plan fits the 8 minutes one
call of the device tool may take (``TOTAL_LIMIT``).

    python benchmarks/gpu/plan.py --backend cupy --hw h100-sxm5-80gb     # what would run
    python benchmarks/gpu/plan.py --detect                               # this machine's profile

The device name a GPU reports maps to a sparsim profile by the one device-name table,
:data:`sparsim.hwprofiles.devices.DEVICE_NAMES`:

>>> detect_profile("NVIDIA H100 80GB HBM3"), detect_profile("NVIDIA H100 PCIe")
('h100-sxm5-80gb', 'h100-pcie-80gb')
>>> detect_profile("NVIDIA H200"), detect_profile("NVIDIA H100 NVL", memory_mib=95830) is None
('h200-sxm-141gb', True)
>>> plan = make_plan("cupy", stages=["decoder"])
>>> [s.name for s in plan if s.run], sum(s.budget_s for s in plan if s.run) <= TOTAL_LIMIT
(['env', 'decoder', 'readme'], True)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

TOTAL_LIMIT = 480  # seconds: what one prepared call of the device tool may take (8 minutes)


@dataclass(frozen=True)
class Stage:
    """One stage: its budget (its own ``timeout``), what it does, whether the default plan has it."""

    name: str
    budget_s: int
    what: str
    default: bool = True
    #: kinds of existing data (:func:`existing_data`) that make the default plan skip it
    covered_by: tuple[str, ...] = ()
    run: bool = True
    note: str = ""


#: always planned (unless --skip names them): they record what ran
BOOKKEEPING = ("env", "readme")

GPU_STAGES = (
    Stage("env", 10, "record versions (nvidia-smi, torch, cuSPARSELt, pynvml); install carried wheels (--wheels)"),
    Stage("decoder", 150, "decode steps of a Llama-2-7B-shaped decoder (32 layers, fp16, random weights): "
          "batch 1/8/64 x context 512/2048 x eager/cuda-graphs x dense/2:4; one profiler trace per format",
          covered_by=("decoder",)),
    Stage("quant", 110, "quantized linears on the atlas shapes: _scaled_mm fp8 (cublaslt-fp8), _cslt_sparse_mm "
          "int8/fp8 (cusparselt, -search), torchao-int8-2:4, torch.mm fp16 baseline, marlin if carried",
          covered_by=("quant",)),
    Stage("attention", 25, "one decode step's attention over a long static cache (8k/32k/131k tokens, "
          "Llama-3.1-8B heads, bf16) kernel by kernel: gpt-fast's repeat_interleave + math SDPA, "
          "default SDPA, fused GQA, torchao int8 KV cache", covered_by=("attention",)),
    Stage("traces", 30, "torch.profiler traces (record_shapes) of the atlas calls: mm, _cslt_sparse_mm, "
          "semi-structured, sparse CSR, _scaled_mm", covered_by=("traces",)),
    Stage("probe", 30, "sparsim probe --backend cupy --quick: HBM/L2 bandwidth, latencies, launch, GEMM peaks",
          covered_by=("probe",)),
    Stage("measure-cupy", 85, "calibration measurement, cupy backend: cublas fp16/bf16/fp32, cusparse row/col "
          "x int32/int64, cusparselt, cusparselt-search", covered_by=("measure-cupy",)),
    Stage("measure-torch", 60, "calibration measurement, torch backend: torch.mm, semi-structured 2:4, CSR/COO",
          default=False, covered_by=("measure-torch",)),
    Stage("atlas-cupy", 100, "atlas (3 shapes x N 1..4096; CSR at 5 densities): cublas / cusparselt / cusparse",
          default=False, covered_by=("atlas",)),
    Stage("atlas-torch", 55, "atlas, torch backend", default=False, covered_by=("atlas",)),
    Stage("fit", 20, "sparsim calibrate --from-results results.jsonl --hw PROFILE (when this run measured one); "
          "probe -> [measured]"),
    Stage("readme", 15, "README.md: stages, point counts, versions; at most 8 files for the device tool"),
)

CPU_STAGES = (
    Stage("env", 10, "record versions; install carried wheels (--wheels DIR) with pip --no-index"),
    Stage("decoder", 15, "decode steps of a tiny decoder on the CPU (torch eager; skipped without torch)"),
    Stage("probe", 25, "sparsim probe --backend numpy: DRAM/LLC bandwidth, latencies, call overhead, BLAS peak"),
    Stage("measure-numpy", 60, "calibration measurement, numpy backend (numpy dense, scipy CSR/COO), quick plan"),
    Stage("fit", 25, "sparsim calibrate --from-results (skipped when that command is missing); probe -> [measured]"),
    Stage("readme", 10, "README.md: stages, point counts, versions; at most 8 files for the device tool"),
)


class PlanError(ValueError):
    """Bad usage: one line naming the option, the value and what is allowed."""


def stage_table(backend: str) -> tuple[Stage, ...]:
    if backend not in ("cupy", "numpy"):
        raise PlanError(f"--backend: got '{backend}'; allowed: cupy, numpy")
    return GPU_STAGES if backend == "cupy" else CPU_STAGES


def _names(option: str, text: str | None, table) -> list[str]:
    if text is None:
        return []
    allowed = [s.name for s in table]
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            raise PlanError(f"{option}: got '{name}'; allowed: {', '.join(allowed)}")
    if not names:
        raise PlanError(f"{option}: got '{text}'; allowed: a comma-separated list of {', '.join(allowed)}")
    return names


def make_plan(backend: str, stages: list[str] | str | None = None, skip: list[str] | str | None = None,
              existing: dict[str, str] | None = None, profile_known: bool = True) -> list[Stage]:
    """Every stage of ``backend``'s table, each marked ``run`` or not with a ``note`` saying why.

    ``stages``: the only stages to run (plus the bookkeeping ``env`` and ``readme``), even
    where data exists; ``skip``: stages never to run; ``existing``: kind of data -> the
    folder that holds it for this SKU (:func:`existing_data`); ``profile_known``: False when
    the device maps to no sparsim profile (then probe/measure/fit cannot run without --hw).
    """
    table = stage_table(backend)
    only = _names("--stages", stages if isinstance(stages, str) or stages is None else ",".join(stages), table)
    never = _names("--skip", skip if isinstance(skip, str) or skip is None else ",".join(skip), table)
    existing = existing or {}
    out = []
    for stage in table:
        if stage.name in never:
            out.append(replace(stage, run=False, note="skipped (--skip)"))
        elif only:
            chosen = stage.name in only or stage.name in BOOKKEEPING
            out.append(replace(stage, run=chosen, note="" if chosen else "not selected (--stages)"))
        elif not stage.default:
            out.append(replace(stage, run=False, note="optional: name it in --stages"))
        elif any(kind in existing for kind in stage.covered_by):
            where = existing[next(kind for kind in stage.covered_by if kind in existing)]
            out.append(replace(stage, run=False, note=f"skipped: this SKU's data exists in {where} "
                                                     "(--stages to re-measure)"))
        elif not profile_known and stage.name in ("probe", "measure-cupy", "measure-torch", "atlas-cupy",
                                                  "atlas-torch", "fit"):
            out.append(replace(stage, run=False, note="skipped: no sparsim profile for this device (pass --hw)"))
        else:
            out.append(stage)
    if not only:  # time the skipped stages left goes to optional stages this SKU has no data for
        for i, stage in enumerate(out):
            if (not stage.run and not stage.default and stage.name not in never and profile_known
                    and not any(kind in existing for kind in stage.covered_by)
                    and planned_total(out) + stage.budget_s <= TOTAL_LIMIT):
                out[i] = replace(stage, run=True, note="added: fills time left by skipped stages")
    return out


def planned_total(plan: list[Stage]) -> int:
    return sum(s.budget_s for s in plan if s.run)


def render_plan(plan: list[Stage], backend: str, out: str, profile: str, limit: int = TOTAL_LIMIT) -> str:
    lines = [f"collect.sh plan (--backend {backend}): profile {profile}; output {out}"]
    for s in plan:
        budget = f"{s.budget_s:4d}s" if s.run else "   -s"
        lines.append(f"  {s.name:<14} {budget}  {s.what}" + (f"  [{s.note}]" if s.note else ""))
    lines.append(f"  total          {planned_total(plan)}s of {limit}s allowed")
    return "\n".join(lines)


# -- which sparsim profile a device is -----------------------------------------------------
def detect_profile(device_name: str, memory_mib: int | None = None) -> str | None:
    """The sparsim profile of a device name (and its memory, which tells an H100 NVL that
    reports a plain "NVIDIA H100" from the 80 GB SXM5), or None: the one device-name table
    (:data:`sparsim.hwprofiles.devices.DEVICE_NAMES`)."""
    from sparsim.hwprofiles.devices import profile_for_device

    return profile_for_device(device_name, memory_bytes=None if memory_mib is None else memory_mib * 2**20)


def slug(device_name: str) -> str:
    """A file-name-safe name for a device without a profile: ``gpu-nvidia-h100-nvl``."""
    return "gpu-" + re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-")


def device_name() -> tuple[str | None, int | None]:
    """(name, memory MiB) of GPU 0 from nvidia-smi, else torch, else NVML; (None, None) without a GPU."""
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20)
        if smi.returncode == 0 and smi.stdout.strip():
            name, _, mem = smi.stdout.splitlines()[0].partition(",")
            return name.strip(), int(float(mem)) if mem.strip().replace(".", "").isdigit() else None
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            return props.name, int(props.total_memory // 2**20)
    except Exception:  # noqa: BLE001 - no torch, or no usable CUDA
        pass
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        return (name.decode() if isinstance(name, bytes) else str(name),
                int(pynvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20))
    except Exception:  # noqa: BLE001
        return None, None


# -- data the repository already has, per SKU ---------------------------------------------
_DATE = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def _folder_sku(folder: Path) -> str | None:
    stem = _DATE.sub("", folder.name)
    for path in sorted(folder.rglob("*.jsonl")):
        with path.open(errors="replace") as handle:
            for line in handle:
                if '"hw"' in line:
                    try:
                        hw = json.loads(line).get("hw")
                    except json.JSONDecodeError:
                        continue
                    if hw:
                        return hw
    for path in sorted(folder.rglob("*.json")):
        try:
            with path.open(errors="replace") as handle:
                head = handle.read(4096)
            match = re.search(r'"device"\s*:\s*"([^"]+)"', head)
        except OSError:
            match = None
        if match and detect_profile(match.group(1)):
            return detect_profile(match.group(1))
    return stem or None


def _kinds(folder: Path) -> set[str]:
    kinds = set()
    names = {p.name for p in folder.rglob("*") if p.is_file()}
    if names & {"probe.json", "micro.json"}:
        kinds.add("probe")
    if any(n.startswith("atlas") for n in names):
        kinds.add("atlas")
    if "decoder.jsonl" in names:
        kinds.add("decoder")
    if "quant.jsonl" in names:
        kinds.add("quant")
    if "attention.jsonl" in names:
        kinds.add("attention")
    if "traces.tar" in names or any(n.endswith(".json.gz") for n in names):
        kinds.add("traces")
    for path in folder.rglob("results.jsonl"):
        with path.open(errors="replace") as handle:
            text = handle.read(200_000)
        for backend in ("cupy", "torch"):
            if f'"backend":"{backend}"' in text.replace(" ", ""):
                kinds.add(f"measure-{backend}")
    return kinds


def existing_data(data_root: Path, profile: str | None) -> dict[str, str]:
    """Kind of data -> the folder (relative to the repository) holding it for ``profile``."""
    out: dict[str, str] = {}
    if profile is None or not data_root.is_dir():
        return out
    for folder in sorted(p for p in data_root.iterdir() if p.is_dir()):
        if _folder_sku(folder) != profile:
            continue
        for kind in sorted(_kinds(folder)):
            out.setdefault(kind, f"{data_root.name}/{folder.name}" if data_root.name != "data"
                           else f"sparsim/validate/data/{folder.name}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cupy")
    parser.add_argument("--stages", default=None)
    parser.add_argument("--skip", default=None)
    parser.add_argument("--hw", default=None)
    parser.add_argument("--detect", action="store_true", help="print this machine's GPU name and profile")
    args = parser.parse_args(argv)
    if args.detect:
        name, mem = device_name()
        print(f"{name}\t{mem}\t{detect_profile(name, mem) if name else None}")
        return 0
    root = Path(__file__).resolve().parents[2] / "sparsim" / "validate" / "data"
    try:
        plan = make_plan(args.backend, args.stages, args.skip, existing_data(root, args.hw))
    except PlanError as exc:
        print(f"plan.py: error: {exc}", file=sys.stderr)
        return 2
    print(render_plan(plan, args.backend, "-", args.hw or "not given"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
