"""Fit the H200's shipped calibration to the atlas and write it.

    python benchmarks/fit_h200.py [--out sparsim/hwprofiles/calibrations/h200-sxm-141gb.toml]

Measured ceilings come from micro.json (probe-style microbenchmarks on the same GPU);
per-implementation parameters are fitted by the one fitter, sparsim.validate.Calibrator
(as sparsim.validate.atlas.calibrator configures it), on every atlas kernel time
(atlas.json and atlas-dtypes.json). A parameter that ends on a bound of its physical range
is not written: it keeps its default (the rule the README states).
benchmarks/bench_atlas.py scores the result, with leave-one-shape-out cross-validation.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sparsim.atomic import write_text_atomic
from sparsim.calibration import Calibration
from sparsim.validate.atlas import ATLAS_DIR, PROFILE, calibrator, default_points, mape, predict_points

HERE = Path(__file__).resolve().parent.parent


def measured_ceilings() -> dict[str, float]:
    """The microbenchmarks of micro.json, as a calibration's [measured] table."""
    micro = json.loads((ATLAS_DIR / "micro.json").read_text())
    return {
        # device-to-device copy of 4 GiB, read + written bytes / time
        "hbm_bytes_per_s": micro["hbm_copy_GBps_rw"] * 1e9,
        # one thread chasing a random pointer cycle in 4 MiB (L2) and 2 GiB (DRAM)
        "l2_latency_ns": micro["lat_ns_l2_4MiB"],
        "hbm_latency_ns": micro["lat_ns_hbm_2GiB"],
        # as the device reports it (cudaDevAttrL2CacheSize)
        "l2_bytes": micro["l2_bytes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "sparsim/hwprofiles/calibrations/h200-sxm-141gb.toml"))
    parser.add_argument("--start", help="a calibration whose [impl.*] values are one more start of the fit")
    parser.add_argument("--max-nfev", type=int, default=60, help="evaluations per least-squares descent")
    parser.add_argument("--exact-cv", action="store_true", help="refit every cross-validation fold by least squares")
    args = parser.parse_args()
    t0 = time.perf_counter()
    points = default_points()
    measured = measured_ceilings()
    start = None
    if args.start:
        from sparsim.calibration import load_calibration

        start = {k: dict(v) for k, v in load_calibration(args.start).impl_params.items()}
    fitted = calibrator(measured=measured, start=start, max_nfev=args.max_nfev, exact_cv=args.exact_cv).fit(points)
    cal = fitted.calibration_
    predicted = predict_points(points, cal)
    provenance = {
        "device": "NVIDIA H200",
        "date": "2026-11-29",
        "data": "sparsim/validate/data/h200-2026-11-29 (atlas.json, atlas-dtypes.json, micro.json)",
        "method": "benchmarks/fit_h200.py: sparsim.validate.Calibrator per parameter table on log(predicted/measured) "
                  "of the atlas kernel times, within sparsim.simulator.params.PARAM_BOUNDS; a parameter at a bound "
                  "keeps its default; measured ceilings from micro.json",
        "versions": "driver 580.159.04, CUDA 13.0, PyTorch 2.11.0+cu130 (cuBLAS/cuSPARSE/cuSPARSELt as bundled)",
        "samples": len(points),
        "fit_mape": round(mape(predicted, [p.measured_s for p in points]), 4),
        "model": "des",
    }
    prov = dict(cal.provenance)
    prov.pop("date", None)
    provenance.update({k: prov[k] for k in ("fitted", "not_fitted", "parameters", "cv_mape", "cv_datasheet_mape")
                       if k in prov})
    cal = Calibration(hw=PROFILE, impl_params=cal.impl_params, measured=measured, provenance=provenance)
    write_text_atomic(args.out, "# Fitted by benchmarks/fit_h200.py; do not edit by hand.\n" + cal.to_toml())
    print(f"wrote {args.out}: {len(points)} points, fit MAPE {provenance['fit_mape']:.1%}, "
          f"{time.perf_counter() - t0:.0f} s")
    for row in fitted.param_report_:
        value = "" if row["value"] is None else f" = {row['value']:.4g}"
        print(f"  [impl.{row['impl']}] {row['param']}{value}: {row['status']}")


if __name__ == "__main__":
    main()
