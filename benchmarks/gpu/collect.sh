#!/usr/bin/env bash
# One prepared measurement run on a lent GPU (H100 or H200): decoder steps, quantized paths,
# long-cache attention kernels, profiler traces, then a re-measure of the calibration of the
# GPU it runs on, the fit (sparsim calibrate --from-results for that SKU) and a README. Fits
# in 8 minutes; installs nothing from the network; every stage has its own time budget,
# writes as it goes (resumable: run it again with the same --out), and a failing stage does
# not stop the next.
#
#   benchmarks/gpu/collect.sh --dry-run                      # the plan and the budgets, nothing runs
#   benchmarks/gpu/collect.sh --dry-run --hw h100-sxm5-80gb  # the plan on that SKU (data it has is skipped)
#   benchmarks/gpu/collect.sh --out "$OUT/run"               # on a GPU: the default plan
#   benchmarks/gpu/collect.sh --stages decoder,quant         # only these (plus env and readme)
#   benchmarks/gpu/collect.sh --skip traces --budget quant=60
#   benchmarks/gpu/collect.sh --backend numpy --out DIR      # CPU mode: the stages a CPU can run
#   benchmarks/gpu/collect.sh --wheels .whl --out DIR        # carried wheels (pip --no-index)
#
# Stages: env, decoder, quant, attention, traces, probe, measure-cupy, measure-torch, atlas-cupy,
# atlas-torch, fit, readme (benchmarks/gpu/plan.py has the table and the default plan).
# Output: --out, else sparsim/validate/data/<profile>-<date>/; at most 8 files (the device
# tool's limit): README.md, collect.log, decoder.jsonl, quant.jsonl, attention.jsonl,
# traces.tar, results.jsonl (calibration.toml), and more.tar when anything else had to be packed.
# Python: $PYTHON, else python3. Exit status: 0 when every stage ran or was skipped by
# design, 1 when one failed or ran out of time (its partial data is kept), 2 on bad usage.
set -u
case "${1:-}" in -h|--help) sed -n '2,/^set -u/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" "$ROOT/benchmarks/gpu/collect.py" "$@"
