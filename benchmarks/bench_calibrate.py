"""How long the calibration fit takes: points, fit seconds, model evaluations, ms per evaluation.

The target (issue 10): fitting 200 points takes at most 30 s on 2 cores. Cases:

* ``h200-synthetic-200``: 200 points on the H200 profile (the CuPy plan's dense, CSR,
  COO and 2:4 points, then CSR/COO at a second pattern seed), timed by the model itself
  under known per-implementation parameters with 5% log-normal noise (seeded), all fitted;
* ``host-example``: the training split of the shipped host example
  (sparsim/validate/data/host-example) on this machine's host profile;
* ``--from-results FILE``: the training split of a results file (e.g. a GPU run's).

Each case is fitted ``--repeats`` times from scratch (a new Calibrator; the patterns the
first fit built stay cached, as in one ``sparsim calibrate``); the table shows the median,
and the first (cold) fit. Numbers are only meaningful on an otherwise idle machine.

    python benchmarks/bench_calibrate.py [--repeats 3] [--from-results FILE] [--folds 5]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from sparsim.calibration import Calibration  # noqa: E402
from sparsim.hwprofiles import load_profile  # noqa: E402
from sparsim.validate import read_results, usable_records  # noqa: E402
from sparsim.validate.calibrator import Calibrator, predict_records  # noqa: E402
from sparsim.validate.spec import plan, impl_of  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HOST_EXAMPLE = os.path.join(HERE, "..", "sparsim", "validate", "data", "host-example", "results.jsonl")
TRUTH = {"cublas": {"tensor_efficiency": 0.8, "vector_efficiency": 0.6},
         "cusparse": {"l2_efficiency": 0.4, "launch_scale": 4.0},
         "torch": {"launch_scale": 100.0, "sparse_tensor_efficiency": 0.6}}


def synthetic_h200(points: int = 200) -> list[dict]:
    hw = load_profile("h200-sxm-141gb")
    specs, keys = [], set()
    for spec in plan("cupy", quick=False) + plan("cupy", quick=True):
        if spec.key not in keys:
            keys.add(spec.key)
            specs.append(spec)
    from dataclasses import replace

    more = [replace(s, seed=1) for s in specs if s.kernel in ("csr", "coo")]
    specs = (specs + more)[:points]
    records = []
    for s in specs:
        library = "torch to_sparse_semi_structured" if s.kernel == "2:4" else ""
        records.append({**s.to_dict(), "key": s.key, "status": "ok", "hw": hw.name, "backend": "cupy",
                        "library": library})
    truth = Calibration(hw=hw.name, impl_params=TRUTH)
    times = predict_records(records, hw, truth, "des")
    rng = np.random.default_rng(0)
    for r, t in zip(records, times):
        r["time_s"] = float(t * math.exp(rng.normal(0.0, 0.05)))
        r["impl"] = impl_of(r)
    return records


def bench(label: str, hw, records: list[dict], repeats: int, folds: int) -> dict:
    seconds, fitted = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        fitted = Calibrator(hw=hw, folds=folds).fit(records)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {"case": label, "points": fitted.n_samples_, "fit_s": median, "cold_s": seconds[0],
            "evaluations": fitted.evaluations_, "ms_per_eval": 1e3 * median / max(fitted.evaluations_, 1),
            "fitted": sum(len(t) for t in fitted.impl_params_.values()), "train_mape": fitted.fit_error_}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds inside each fit (0: none)")
    parser.add_argument("--from-results", default=None, help="also fit the training split of this results file")
    parser.add_argument("--skip-host", action="store_true", help="leave out the host example (measures this CPU)")
    args = parser.parse_args()
    rows = [bench("h200-synthetic-200", "h200-sxm-141gb", synthetic_h200(), args.repeats, args.folds)]
    if not args.skip_host:
        rows.append(bench("host-example", "host", usable_records(HOST_EXAMPLE, split="train"), args.repeats,
                          args.folds))
    if args.from_results:
        train = usable_records(read_results(args.from_results), split="train")
        rows.append(bench(os.path.basename(os.path.dirname(os.path.abspath(args.from_results))) or "results",
                          train[0]["hw"], train, args.repeats, args.folds))
    head = (f"{'case':<20} {'points':>6} {'fit s (median)':>14} {'cold s':>7} {'evaluations':>11} "
            f"{'ms/eval':>8} {'fitted':>6} {'train MAPE':>10}")
    print(f"calibration fit, {args.folds}-fold cross-validation inside, median of {args.repeats}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['case']:<20} {r['points']:>6} {r['fit_s']:>14.1f} {r['cold_s']:>7.1f} {r['evaluations']:>11} "
              f"{r['ms_per_eval']:>8.2f} {r['fitted']:>6} {r['train_mape']:>9.1%}")


if __name__ == "__main__":
    main()
