"""sparsim's decode attention over a long static cache, kernel by kernel, against measured kernels.

collect.sh's ``attention`` stage (``benchmarks/gpu/attention_ops.py``) times one layer's
attention of one decode query over 8k-131k cached tokens the way torchao's eager decode
runs it (``repeat_interleave`` of K and V, then SDPA's math backend), PyTorch's default
backend, and a fused GQA kernel, and records the kernels of one profiled call. This script
reads every ``attention.jsonl`` under ``sparsim/validate/data/`` (or the files named) and
prints, per point, the measured kernel-only time beside sparsim's
(``sparsim.steps.step.attention_kernels_on`` on the record's GPU, its shipped calibration),
then the kernels side by side in launch order: which of them runs slower than its bytes
is what decides the 1.5x gap of the long-cache eager points (docs/steps.md).

    python benchmarks/bench_attention.py                    # every measured file in the repository
    python benchmarks/bench_attention.py DIR/attention.jsonl --hw h100-sxm5-80gb
    python benchmarks/bench_attention.py --predict-only --hw a100-sxm4-80gb   # no data needed

Without a measured file it says so and prints the prediction alone (exit 0). A malformed
file is one line naming it, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "llama3.1-8b"  # attention_ops.py's shape: 32 query heads, 8 K/V heads of 128
#: measured path -> (sparsim's attention kind, eager); math-repeat-kvq is set beside the bf16
#: math path: sparsim has no model of torchao's per-step dequantization of an int8 cache
PATH_KIND = {"math-repeat": ("repeat-kv-math", True), "default-repeat": ("repeat-kv", True),
             "fused-gqa": ("fused", True), "math-repeat-kvq": ("repeat-kv-math", True)}


def predicted(hw: str, cache: int, path: str) -> tuple[tuple[str, float], ...]:
    """sparsim's kernels of one layer's decode attention for a measured ``path``."""
    import sparsim
    from sparsim.api import _step_inputs
    from sparsim.steps.step import attention_kernels_on

    config, profile, cal, _ = _step_inputs(MODEL, hw, None)
    kind, eager = PATH_KIND[path]
    return attention_kernels_on(config, profile, cal, predict=sparsim.predict, context=cache, dtype="bf16",
                                attention=kind, eager=eager)


def load(path: Path) -> list[dict]:
    """The ok attention records of ``path``; a line that is not JSON is an error naming it."""
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {i} is not JSON ({exc.msg}); allowed: attention_ops.py's records") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: line {i} is not a JSON object; allowed: attention_ops.py's records")
        if record.get("kind") == "attention" and record.get("status") == "ok":
            for field in ("hw", "cache", "path", "kernel_s"):
                if field not in record:
                    raise ValueError(f"{path}: line {i} has no '{field}'; allowed: attention_ops.py's records")
            if record["path"] not in PATH_KIND:
                raise ValueError(f"{path}: line {i}: path {record['path']!r}; allowed: {', '.join(PATH_KIND)}")
            out.append(record)
    return out


def compare(record: dict, hw: str | None = None) -> dict:
    """Measured against predicted for one record: totals, ratio, both kernel lists."""
    kernels = predicted(hw or record["hw"], int(record["cache"]), record["path"])
    total = sum(s for _, s in kernels)
    return {"key": record.get("key", f"{record['path']} c{record['cache']}"), "hw": hw or record["hw"],
            "measured_s": float(record["kernel_s"]), "predicted_s": total,
            "ratio": float(record["kernel_s"]) / total if total > 0 else float("nan"),
            "measured_kernels": [(str(n), float(us) * 1e-6) for n, us in record.get("kernels", [])],
            "predicted_kernels": list(kernels)}


def render(row: dict, width: int = 60) -> list[str]:
    lines = [f"{row['key']} on {row['hw']}: measured {row['measured_s'] * 1e6:10.1f} us  predicted "
             f"{row['predicted_s'] * 1e6:10.1f} us  measured/predicted {row['ratio']:.2f}"]
    meas, pred = row["measured_kernels"], row["predicted_kernels"]
    for i in range(max(len(meas), len(pred))):
        left = f"{meas[i][0][:width]:<{width}} {meas[i][1] * 1e6:9.1f}" if i < len(meas) else " " * (width + 10)
        right = f"{pred[i][0]:<20} {pred[i][1] * 1e6:9.1f}" if i < len(pred) else ""
        lines.append(f"    {left}   | {right}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="attention.jsonl files (default: all under "
                                                           "sparsim/validate/data/)")
    parser.add_argument("--hw", default=None, help="predict on this profile (default: each record's own GPU)")
    parser.add_argument("--predict-only", action="store_true", help="print sparsim's kernels only")
    args = parser.parse_args(argv)
    from sparsim.errors import SparsimError

    files = args.files or sorted((ROOT / "sparsim" / "validate" / "data").glob("*/attention.jsonl"))
    try:
        if args.predict_only or not files:
            hw = args.hw or "a100-sxm4-80gb"
            if not args.predict_only:
                print("no measured attention data yet (benchmarks/gpu/collect.sh --stages attention on a GPU); "
                      f"sparsim's prediction on {hw}:")
            for cache in (8192, 32768, 131072):
                kernels = predicted(hw, cache, "math-repeat")
                print(f"math-repeat c{cache} on {hw}: {sum(s for _, s in kernels) * 1e6:.1f} us")
                for name, seconds in kernels:
                    print(f"    {name:<20} {seconds * 1e6:9.1f}")
            return 0
        for path in files:
            if not path.is_file():
                raise ValueError(f"{path}: no such file; allowed: an attention.jsonl from attention_ops.py")
            records = load(path)
            print(f"{path}: {len(records)} measured points")
            for record in records:
                print("\n".join(render(compare(record, args.hw))))
    except (ValueError, SparsimError) as exc:
        print(f"bench_attention: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
