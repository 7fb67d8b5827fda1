"""collect.sh's last stages: put the probe into the fitted calibration, and write README.md.

    python benchmarks/gpu/summarize.py merge-probe DIR     # DIR/probe.json -> DIR/calibration.toml [measured]
    python benchmarks/gpu/summarize.py readme DIR --backend cupy

The README says what ran (each stage's budget, time used and status, read from the
``STAGE`` lines collect.sh writes to DIR/collect.log), how many points each results file
holds (ok / failed, per implementation), and the versions of everything involved.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import subprocess
import sys
from collections import Counter
from pathlib import Path


def merge_probe(folder: Path) -> str:
    from sparsim.calibration import Calibration, load_calibration

    probe_path, cal_path = folder / "probe.json", folder / "calibration.toml"
    if not probe_path.exists():
        return "no probe.json: nothing to merge"
    probe = json.loads(probe_path.read_text())
    if cal_path.exists():
        cal = load_calibration(cal_path)
        if probe.get("hw") and probe["hw"] != cal.hw:
            return f"probe is for {probe['hw']}, calibration for {cal.hw}: not merged"
        merged = Calibration(hw=cal.hw, params=cal.params, provenance=cal.provenance, impl_params=cal.impl_params,
                             measured={**cal.measured, **probe["measured"]})
    else:
        if not probe.get("hw"):
            return "probe.json names no profile: no calibration written"
        merged = Calibration(hw=probe["hw"], measured=probe["measured"],
                             provenance={"device": probe.get("device", ""), "date": probe.get("date", ""),
                                         "source": "sparsim probe (no fit ran)"})
    merged.save(cal_path)
    return f"[measured] from probe.json written to {cal_path.name} ({len(probe['measured'])} values)"


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for module in ("sparsim", "numpy", "scipy", "cupy", "torch"):
        try:
            mod = __import__(module)
            out[module] = getattr(mod, "__version__", "?")
        except Exception:  # noqa: BLE001 - absent is an answer
            out[module] = "absent"
    try:
        import torch

        out["torch_cuda"] = torch.version.cuda
        if hasattr(torch.backends, "cusparselt") and torch.backends.cusparselt.is_available():
            out["torch_cusparselt"] = torch.backends.cusparselt.version()
    except Exception:  # noqa: BLE001
        pass
    try:
        from sparsim.validate.backends.cusparselt import find_library

        out["libcusparseLt"] = find_library() or "not found"
    except Exception:  # noqa: BLE001
        pass
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        if smi.returncode == 0:
            out["nvidia-smi"] = smi.stdout.strip()
    except Exception:  # noqa: BLE001 - no GPU tools here
        pass
    return out


def _stages(log: Path) -> list[list[str]]:
    rows = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("STAGE\t"):
                rows.append(line.split("\t")[1:])
    return rows


def _records(path: Path):
    """Each record of a JSON-lines file, None for a line that does not parse (a cut-off
    last line of an interrupted stage)."""
    for line in path.read_text().splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            yield None


def _results(path: Path) -> str:
    if not path.exists():
        return f"- `{path.name}`: not written"
    counts: Counter = Counter()
    for record in _records(path):
        if record is None:
            counts["(cut-off line)", "error"] += 1
            continue
        if record.get("type") == "measurement":
            name = record.get("impl") or record.get("backend")
            if record.get("kind") == "decode-step":
                name = f"{record.get('mode')} {record.get('linear')}"
            elif record.get("kind") == "attention":
                name = record.get("path")
            elif record.get("quant"):
                name = f"{name} {record['quant']}"
            counts[name, record.get("status")] += 1
    impls = sorted({impl for impl, _ in counts})
    parts = [f"{impl} {counts[impl, 'ok']} ok / {counts[impl, 'error']} failed" for impl in impls]
    return f"- `{path.name}`: " + ("; ".join(parts) if parts else "no measurements")


def _steps(path: Path) -> list[str]:
    """Median decode-step times (ms) by batch x context, one column per mode and format."""
    if not path.exists():
        return []
    cells: dict = {}
    for record in _records(path):
        if record is not None and record.get("kind") == "decode-step" and record.get("status") == "ok":
            cells[(record["batch"], record["context"]), (record["mode"], record["linear"])] = record["time_s"] * 1e3
    columns = sorted({c for _, c in cells})
    rows = sorted({r for r, _ in cells})
    if not rows:
        return []
    out = ["", "Decode step, median ms (CUDA events between back-to-back steps):", "",
           "| batch | context | " + " | ".join(f"{m} {lin}" for m, lin in columns) + " |",
           "|---|---|" + "---|" * len(columns)]
    for b, c in rows:
        out.append(f"| {b} | {c} | " + " | ".join(f"{cells[(b, c), col]:.2f}" if ((b, c), col) in cells else "-"
                                             for col in columns) + " |")
    return out


def _quant(path: Path) -> list[str]:
    """Median kernel time (us) of each quantized path by shape and N."""
    if not path.exists():
        return []
    cells: dict = {}
    for record in _records(path):
        if record is not None and record.get("type") == "measurement" and record.get("status") == "ok":
            column = f"{record['impl']} {record.get('quant') or record['dtype']}"
            cells[(record["m"], record["k"], record["n"]), column] = record["kernel_s"] * 1e6
    columns = sorted({c for _, c in cells})
    rows = sorted({r for r, _ in cells})
    if not rows:
        return []
    out = ["", "Quantized paths, median kernel time in us (CUDA events, L2 flushed):", "",
           "| M x K | N | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for m, k, n in rows:
        out.append(f"| {m} x {k} | {n} | " + " | ".join(
            f"{cells[(m, k, n), c]:.1f}" if ((m, k, n), c) in cells else "-" for c in columns) + " |")
    return out


def _attention(path: Path) -> list[str]:
    """Median kernel time (us) of one layer's decode attention by cache length and path."""
    if not path.exists():
        return []
    cells = {(r["cache"], r["path"]): (r["kernel_s"] * 1e6, r.get("n_kernels"))
             for r in _records(path) if r is not None and r.get("kind") == "attention" and r.get("status") == "ok"}
    paths = sorted({p for _, p in cells})
    if not cells:
        return []
    out = ["", "Decode attention of one layer, median kernel time in us (kernels per call):", "",
           "| cache | " + " | ".join(paths) + " |", "|---|" + "---|" * len(paths)]
    for cache in sorted({c for c, _ in cells}):
        out.append(f"| {cache} | " + " | ".join(f"{cells[cache, p][0]:.1f} ({cells[cache, p][1]})"
                                                 if (cache, p) in cells else "-" for p in paths) + " |")
    return out


def _tar(path: Path) -> str:
    import tarfile

    if not path.exists():
        return f"- `{path.name}`: not written"
    with tarfile.open(path) as tar:
        return f"- `{path.name}`: " + ", ".join(f"`{m.name}` ({m.size // 1024} KiB)" for m in tar.getmembers())


def readme(folder: Path, backend: str) -> str:
    stages = _stages(folder / "collect.log")
    lines = [f"# Measurements: {folder.name}", "",
             f"Collected by `benchmarks/gpu/collect.sh --backend {backend}` on "
             f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. Every stage has its own time "
             "budget (`timeout`) and writes as it goes; run the script again with the same output folder to "
             "resume a partial stage.", "", "## Stages", "", "| stage | budget s | used s | status |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in stages] or ["| (none recorded) | | | |"]
    lines += ["", "## Files", "",
              "- `probe.json`: hardware ceilings by microbenchmark (`sparsim probe`), keyed as a calibration's "
              "[measured] table", _results(folder / "results.jsonl"), _results(folder / "atlas.jsonl"),
              _results(folder / "decoder.jsonl"), _results(folder / "quant.jsonl"),
              _results(folder / "attention.jsonl"), _tar(folder / "traces.tar"),
              "- `calibration.toml`: the fit (`sparsim calibrate --from-results`) with the probe's [measured] table, "
              "or the [measured] table alone when no fit ran",
              "- `collect.log`: every stage's output", "",
              "Records: `kernel_s` = device time of one call's kernels (CUDA events after a delay kernel), `call_s` = "
              "one call as a user makes it (events around the Python call on an idle GPU), `time_s` = `kernel_s` "
              "when measured else `call_s`; `impl`, `b_layout`, `index_bits`, and for cuSPARSELt `plan_s` / "
              "`compress_s` (one-time costs). `quant.jsonl` adds `quant` (the scheme: fp8, w8a8, w4a16) and "
              "`extra.n_padded`; `decoder.jsonl` records are `kind = decode-step` (model, layers, batch, context, "
              "mode, linear; `time_s` median step, `host_s` host enqueue time per step, `tokens_per_s`, telemetry); "
              "`attention.jsonl` records are `kind = attention` (cache, path; `kernels`: one profiled call's "
              "kernels in order with their device us). "
              "`traces.tar`: gzipped torch.profiler Chrome traces (record_shapes) with `atlas-<family>.calls.json` "
              "listing the calls of each atlas trace."]
    lines += _steps(folder / "decoder.jsonl") + _quant(folder / "quant.jsonl") + _attention(folder / "attention.jsonl")
    lines += ["", "## Versions", ""]
    lines += [f"- {key}: {value}" for key, value in _versions().items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("merge-probe", "readme"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--backend", default="cupy")
    args = parser.parse_args(argv)
    if args.action == "merge-probe":
        print(merge_probe(args.folder))
    else:
        (args.folder / "README.md").write_text(readme(args.folder, args.backend), encoding="utf-8")
        print(f"wrote {args.folder / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
