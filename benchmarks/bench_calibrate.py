"""How long the validation loop takes: measuring the quick numpy sweep, and the fit.

It runs ``sparsim calibrate --backend numpy --quick`` into a temporary directory (the
issue's budget: under 3 minutes on a 2-core machine), then times ``Calibrator.fit`` and
``evaluate`` again on the same results for each time model, and prints the held-out
MAPE per kernel. Numbers are only meaningful on an otherwise idle machine: the numpy
backend flags points timed while other processes kept the CPUs busy.

    python benchmarks/bench_calibrate.py [--models des,analytic] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sparsim.cli import main  # noqa: E402
from sparsim.validate import Calibrator, evaluate, read_results, usable_records  # noqa: E402


def run(models: list[str], keep: str | None) -> None:
    out = keep or tempfile.mkdtemp(prefix="sparsim-bench-")
    start = time.perf_counter()
    code = main(["calibrate", "--backend", "numpy", "--quick", "--out", out, "--measure-only"])
    measure_s = time.perf_counter() - start
    if code != 0:
        raise SystemExit(code)
    results = read_results(os.path.join(out, "results.jsonl"))
    flagged = sum(1 for m in results.ok() if m.get("flag"))
    print(f"measure: {measure_s:.1f} s for {len(results.measurements)} points ({flagged} flagged)")
    train = usable_records(results, split="train")
    for model in models:
        start = time.perf_counter()
        fitted = Calibrator(hw="host", model=model).fit(train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        report = evaluate(fitted.calibration_, results, hw="host", model=model)
        eval_s = time.perf_counter() - start
        mape = ", ".join(f"{k} {v:.1%}" for k, v in report.kernel_mape().items())
        print(f"{model:>8}: fit {fit_s:.1f} s ({fitted.nfev_} evaluations), evaluate {eval_s:.2f} s; "
              f"train MAPE {fitted.fit_error_:.1%}; held-out MAPE {mape}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="des,analytic")
    parser.add_argument("--keep", default=None, help="write results.jsonl here instead of a temporary directory")
    args = parser.parse_args()
    run(args.models.split(","), args.keep)
