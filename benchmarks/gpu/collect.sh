#!/usr/bin/env bash
# One prepared measurement run: probe, calibration measurement of every implementation,
# the atlas, the fit, a README. Fits in 8 minutes of one GPU; installs nothing from the
# network; every stage has its own time budget, writes as it goes (resumable: run it
# again with the same --out), and a failing stage does not stop the next.
#
#   benchmarks/gpu/collect.sh --dry-run                 # the plan and the budgets, nothing runs
#   benchmarks/gpu/collect.sh                           # on a GPU: cupy + torch backends
#   benchmarks/gpu/collect.sh --backend numpy           # CPU mode: end to end in ~2 minutes
#   benchmarks/gpu/collect.sh --wheels .whl --out DIR   # carried wheels, chosen output folder
#
# Output: sparsim/validate/data/<profile>-<date>/ (results.jsonl, atlas.jsonl, probe.json,
# calibration.toml when a fit or the probe produced one, README.md, collect.log).
# Python: $PYTHON, else python3. Exit status: 0 when every stage ran or was skipped by
# design, 1 when one failed or ran out of time (its partial data is kept), 2 on bad usage.
set -u

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

MODE=gpu
DRY=0
OUT=""
WHEELS=""
PY=${PYTHON:-python3}
TOTAL_LIMIT=480  # seconds: the 8 minutes a prepared run may take on the device

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --backend) MODE=${2:-}; shift ;;
    --backend=*) MODE=${1#*=} ;;
    --out) OUT=${2:-}; shift ;;
    --out=*) OUT=${1#*=} ;;
    --wheels) WHEELS=${2:-}; shift ;;
    --wheels=*) WHEELS=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    *) echo "collect.sh: error: argument $1: unknown; allowed: --dry-run, --backend cupy|numpy, --out DIR, --wheels DIR" >&2; exit 2 ;;
  esac
  shift
done
case "$MODE" in
  gpu|cupy) MODE=gpu ;;
  numpy) ;;
  *) echo "collect.sh: error: --backend: got '$MODE'; allowed: cupy, numpy" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/benchmarks/gpu"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

# name|budget seconds|what it does   (the order is the order they run in)
if [ "$MODE" = gpu ]; then
  STAGES=(
    "env|15|record versions; install carried wheels (--wheels DIR) with pip --no-index"
    "probe|60|sparsim probe --backend cupy: HBM/L2 bandwidth, L1/L2/HBM latency, launch, GEMM peaks"
    "measure-cupy|150|calibration measurement, cupy backend: cublas fp16/bf16/fp32, cusparse row/col x int32/int64, cusparselt, cusparselt-search"
    "measure-torch|60|calibration measurement, torch backend: torch.mm, semi-structured 2:4, CSR/COO int64"
    "atlas-cupy|100|atlas (3 shapes x N 1..4096; CSR at 5 densities), cublas / cusparselt / cusparse"
    "atlas-torch|55|atlas, torch backend"
    "fit|25|sparsim calibrate --from-results (skipped when that command is missing); probe -> [measured]"
    "readme|10|README.md: stages, point counts, versions"
  )
else
  STAGES=(
    "env|10|record versions; install carried wheels (--wheels DIR) with pip --no-index"
    "probe|30|sparsim probe --backend numpy: DRAM/LLC bandwidth, latencies, call overhead, BLAS peak"
    "measure-numpy|60|calibration measurement, numpy backend (numpy dense, scipy CSR/COO), quick plan"
    "atlas|0|skipped on the CPU: the atlas is a GPU measurement"
    "fit|25|sparsim calibrate --from-results (skipped when that command is missing); probe -> [measured]"
    "readme|10|README.md: stages, point counts, versions"
  )
fi

total=0
for s in "${STAGES[@]}"; do IFS='|' read -r _ b _ <<<"$s"; total=$((total + b)); done

if [ "$DRY" = 1 ]; then
  echo "collect.sh plan (--backend ${MODE/gpu/cupy}): output ${OUT:-sparsim/validate/data/<profile>-<date>/}"
  for s in "${STAGES[@]}"; do
    IFS='|' read -r name budget what <<<"$s"
    printf '  %-14s %4ss  %s\n' "$name" "$budget" "$what"
  done
  echo "  total          ${total}s of ${TOTAL_LIMIT}s allowed"
  if [ "$total" -gt "$TOTAL_LIMIT" ]; then
    echo "collect.sh: error: stage budgets sum to ${total}s; allowed: <= ${TOTAL_LIMIT}s" >&2
    exit 1
  fi
  exit 0
fi

budget_of() { for s in "${STAGES[@]}"; do IFS='|' read -r n b _ <<<"$s"; [ "$n" = "$1" ] && echo "$b"; done; }

# -- env: carried wheels first, so every later stage sees them ---------------------------
t0=$(date +%s)
env_status=ok
if [ -n "$WHEELS" ]; then
  if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    SITE=${TMPDIR:-/tmp}/sparsim-site
    if timeout "$(budget_of env)" "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target "$SITE" "$WHEELS"/*.whl; then
      export PYTHONPATH="$ROOT:$SITE${PYTHONPATH#"$ROOT"}"
    else
      env_status="failed (pip install of $WHEELS)"
    fi
  else
    env_status="failed (no .whl in $WHEELS)"
  fi
fi

if [ -z "$OUT" ]; then
  backend_for_name=$([ "$MODE" = gpu ] && echo cupy || echo numpy)
  profile=$(timeout 15 "$PY" "$HERE/measure.py" --profile-name --backend "$backend_for_name" 2>/dev/null) ||
    profile=$(timeout 15 "$PY" "$HERE/measure.py" --profile-name --backend torch 2>/dev/null) || profile=unknown-device
  OUT="$ROOT/sparsim/validate/data/${profile}-$(date -u +%Y-%m-%d)"
fi
mkdir -p "$OUT" || { echo "collect.sh: error: --out: cannot create $OUT" >&2; exit 2; }
LOG="$OUT/collect.log"
{
  echo "== collect.sh ${MODE} $(date -u +%Y-%m-%dT%H:%M:%SZ) into $OUT"
  "$PY" -c 'import sys, platform; print("python", platform.python_version(), sys.executable)' 2>&1
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1
} >>"$LOG"
printf 'STAGE\tenv\t%s\t%s\t%s\n' "$(budget_of env)" "$(( $(date +%s) - t0 ))" "$env_status" >>"$LOG"

failures=0
# run_stage NAME COMMAND...: its own timeout, output to the log, one STAGE line with the outcome
run_stage() {
  local name=$1; shift
  local budget; budget=$(budget_of "$name")
  local start; start=$(date +%s)
  echo "== stage $name (budget ${budget}s): $*" >>"$LOG"
  timeout --kill-after=5 "$budget" "$@" >>"$LOG" 2>&1
  local rc=$?
  local used=$(( $(date +%s) - start ))
  local status
  case $rc in
    0) status=ok
       grep -q "partial (deadline)" <(tail -n 3 "$LOG") && status="partial (deadline; run again to resume)" ;;
    124|137) status="timed out (partial data kept; run again to resume)"; failures=$((failures + 1)) ;;
    3) status="skipped (see collect.log)" ;;
    *) status="failed (exit $rc; see collect.log)"; failures=$((failures + 1)) ;;
  esac
  printf 'STAGE\t%s\t%s\t%s\t%s\n' "$name" "$budget" "$used" "$status" >>"$LOG"
  echo "collect.sh: $name: $status (${used}s of ${budget}s)"
}

# a stage command's own deadline, a little inside its timeout, so it stops between points
deadline() { echo $(( $(budget_of "$1") - 12 )); }

fit_stage() {
  if "$PY" -m sparsim calibrate --help 2>/dev/null | grep -q -- '--from-results'; then
    "$PY" -m sparsim calibrate --from-results "$OUT/results.jsonl" --out "$OUT/fit" &&
      { [ ! -f "$OUT/fit/calibration.toml" ] || cp "$OUT/fit/calibration.toml" "$OUT/calibration.toml"; }
    local rc=$?
  else
    echo "fit skipped: 'sparsim calibrate' has no --from-results here"
    local rc=3
  fi
  "$PY" "$HERE/summarize.py" merge-probe "$OUT" || return 1
  return $rc
}

if [ "$MODE" = gpu ]; then
  run_stage probe "$PY" -m sparsim probe --backend cupy --out "$OUT/probe.json"
  run_stage measure-cupy "$PY" "$HERE/measure.py" --backend cupy --plan quick --out "$OUT/results.jsonl" --deadline-s "$(deadline measure-cupy)"
  run_stage measure-torch "$PY" "$HERE/measure.py" --backend torch --plan quick --out "$OUT/results.jsonl" --deadline-s "$(deadline measure-torch)"
  run_stage atlas-cupy "$PY" "$HERE/measure.py" --backend cupy --plan atlas --out "$OUT/atlas.jsonl" --deadline-s "$(deadline atlas-cupy)"
  run_stage atlas-torch "$PY" "$HERE/measure.py" --backend torch --plan atlas --out "$OUT/atlas.jsonl" --deadline-s "$(deadline atlas-torch)"
else
  run_stage probe "$PY" -m sparsim probe --backend numpy --out "$OUT/probe.json"
  run_stage measure-numpy "$PY" "$HERE/measure.py" --backend numpy --plan quick --out "$OUT/results.jsonl" --deadline-s "$(deadline measure-numpy)"
  printf 'STAGE\tatlas\t0\t0\tskipped (GPU only)\n' >>"$LOG"
fi
export -f fit_stage
export PY HERE OUT
run_stage fit bash -c fit_stage
run_stage readme "$PY" "$HERE/summarize.py" readme "$OUT" --backend "${MODE/gpu/cupy}"

echo "collect.sh: done; $failures stage(s) failed or ran out of time; everything is in $OUT"
[ "$failures" -eq 0 ]
