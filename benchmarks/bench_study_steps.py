"""Model-study throughput: 1,000 whole-step configurations swept, saved and reported.

Issue 15 asks for a 1,000-configuration model study in at most 60 s on 2 cores. This runs
one: Llama-3-8B decode steps (context 2048) on 5 GPUs x 4 software paths (dense, 2:4,
w4a16, w4a16 + 2:4) x 2 modes (eager, CUDA graphs) x 25 batch sizes = 1,000 step
predictions, on local processes (``--jobs``, default 2), then saves the results and builds
the report, and prints the time of each part.

By default the step model is the deterministic stand-in of benchmarks/fake_step.py, so the
figure measures the study machinery alone (planning, processes, checkpoints, the table,
the decision tables, charts and page), not the step model. ``--real`` uses
``sparsim.predict_step`` instead, once it exists (after steps-core's branch is merged): the
60 s target is about that figure, which must be measured again after the merge.

    python benchmarks/bench_study_steps.py              # the fake step model, 2 processes
    python benchmarks/bench_study_steps.py --real       # the real one (after the merge)
    python benchmarks/bench_study_steps.py --jobs 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sparsim.studies import open_executor, parse_study, run_sweep  # noqa: E402
from sparsim.studies.checkpoint import Checkpoint  # noqa: E402
from sparsim.studies.results import provenance, save_results  # noqa: E402

BATCHES = list(range(1, 17)) + [20, 24, 32, 40, 48, 56, 64, 96, 128]
STUDY = {
    "version": 1,
    "name": "Llama-3-8B decode: 1,000 step configurations",
    "sweep": {"hardware": ["h200-sxm-141gb", "h100-sxm5-80gb", "a100-sxm4-80gb", "l4", "rtx-4090"],
              "formats": ["dense", "2:4"], "quant": ["none", "w4a16"], "dtypes": ["fp16"],
              "batch_sizes": BATCHES, "impls": ["default"]},
    "workloads": [{"model": "llama3-8b", "phase": "decode", "context": 2048, "modes": ["eager", "cuda-graphs"]}],
}
TARGET_S = 60.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--real", action="store_true", help="use sparsim.predict_step, not the fake")
    args = parser.parse_args(argv)
    if args.real:
        import sparsim

        if not hasattr(sparsim, "predict_step"):
            print("--real: this sparsim has no predict_step yet (steps-core's branch is not merged)", file=sys.stderr)
            return 2
    else:
        import fake_step

        fake_step.install()  # before the worker processes fork, so they inherit it
    study = parse_study(STUDY)
    assert study.grid_points() == 1000, study.grid_points()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out, open_executor(jobs=args.jobs) as executor:
        result = run_sweep(study, executor, checkpoint=Checkpoint(out, study))
        swept = time.perf_counter()
        from sparsim.reports import build_report

        meta = provenance(study, result, f"{args.jobs} processes")
        html = build_report(result.table, meta)
        reported = time.perf_counter()
        save_results(result.table, meta, out, report_html=html)
        saved = time.perf_counter()
    total = saved - start
    model = "sparsim.predict_step" if args.real else "the fake step model (benchmarks/fake_step.py)"
    print(f"step model: {model}; {args.jobs} processes")
    print(f"configurations: {len(result.steps):,} predicted, {sum(s['points'] for s in result.skipped)} refused, "
          f"{len(result.timelines)} timelines kept")
    print(f"sweep:  {swept - start:6.2f} s ({len(result.steps) / (swept - start):,.0f} steps/s, checkpointed)")
    print(f"report: {reported - swept:6.2f} s ({len(html) / 2**20:.1f} MiB)")
    print(f"save:   {saved - reported:6.2f} s")
    print(f"total:  {total:6.2f} s (target {TARGET_S:.0f} s on 2 cores: {'met' if total <= TARGET_S else 'MISSED'})")
    if not args.real:
        print("note: this times the study machinery with a stand-in step model; the issue's figure is with the real "
              "one: run again with --real after steps-core's predict_step is merged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
