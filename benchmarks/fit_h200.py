"""Fit the H200's shipped calibration to the atlas and write it.

    python benchmarks/fit_h200.py [--out sparsim/hwprofiles/calibrations/h200-sxm-141gb.toml]

Measured ceilings come from micro.json (probe-style microbenchmarks on the same GPU);
per-implementation parameters are fitted by sparsim.validate.atlas.fit_atlas on every
atlas point (atlas.json and atlas-dtypes.json). benchmarks/bench_atlas.py scores the
result, with leave-one-shape-out cross-validation.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sparsim.atomic import write_text_atomic
from sparsim.calibration import Calibration
from sparsim.validate.atlas import ATLAS_DIR, PROFILE, default_points, fit_atlas, mape, predict_points

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
    args = parser.parse_args()
    t0 = time.perf_counter()
    points = default_points()
    measured = measured_ceilings()
    params = fit_atlas(points, measured=measured, max_nfev=60)
    cal = Calibration(hw=PROFILE, impl_params=params, measured=measured)
    predicted = predict_points(points, cal)
    provenance = {
        "device": "NVIDIA H200",
        "date": "2026-11-29",
        "data": "sparsim/validate/data/h200-2026-11-29 (atlas.json, atlas-dtypes.json, micro.json)",
        "method": "benchmarks/fit_h200.py: per-implementation least squares on log(predicted/measured) "
                  "within sparsim.validate.atlas.PARAM_BOUNDS; measured ceilings from micro.json",
        "versions": "driver 580.159.04, CUDA 13.0, PyTorch 2.11.0+cu130 (cuBLAS/cuSPARSE/cuSPARSELt as bundled)",
        "samples": len(points),
        "fit_mape": round(mape(predicted, [p.measured_s for p in points]), 4),
        "model": "des",
    }
    from sparsim.simulator.params import PARAM_BOUNDS

    provenance["at_bounds"] = [f"{key}.{name}" for key, values in params.items() for name, v in values.items()
                               if min(abs(v / b - 1) for b in PARAM_BOUNDS[name]) < 0.01]
    cal = Calibration(hw=PROFILE, impl_params=params, measured=measured, provenance=provenance)
    write_text_atomic(args.out, "# Fitted by benchmarks/fit_h200.py; do not edit by hand.\n" + cal.to_toml())
    print(f"wrote {args.out}: {len(points)} points, fit MAPE {provenance['fit_mape']:.1%}, "
          f"{time.perf_counter() - t0:.0f} s")
    for key, values in params.items():
        print(f"  [impl.{key}] " + ", ".join(f"{k} = {v:.4g}" for k, v in values.items()))
        edges = [k for k, v in values.items() if min(abs(v / b - 1) for b in PARAM_BOUNDS[k]) < 0.01]
        if edges:
            print(f"    at a bound of its physical range (the data push past it): {', '.join(edges)}")


if __name__ == "__main__":
    main()
