"""Shared report fixtures: a small real sweep (analytic model, under a second) and a
synthetic 10,000-point table for size checks."""

import numpy as np
import pandas as pd
import pytest

from sparsim.studies import parse_study, run_sweep
from sparsim.studies.results import provenance

STUDY = {
    "version": 1,
    "name": "<script>alert('study')</script> report test",
    "description": "Small study <b>with markup</b> in its text.",
    "model": "analytic",
    "sweep": {
        "hardware": ["a100-sxm4-80gb", "h100-sxm5-80gb", "l4"],
        "formats": ["dense", "2:4", "csr", "coo", "bsr", "channel"],
        "densities": [0.02, 0.1, 0.5],
        "dtypes": ["fp16"],
        "batch_sizes": [1, 16, 256],
    },
    "workloads": [
        {"network": "llama2-7b", "layers": ["q_proj", "gate_proj", "down_proj"]},
        {"name": "<img src=x onerror=alert(1)>", "shapes": [{"name": "</script><b>proj", "m": 1024, "k": 1024}]},
    ],
}


@pytest.fixture(scope="session")
def small_result():
    study = parse_study(STUDY)
    result = run_sweep(study)
    return result.table, provenance(study, result, "serial")


@pytest.fixture(scope="session")
def synthetic_table():
    """A results table shaped like the 10k Llama sweep (see :func:`make_synthetic_table`)."""
    return make_synthetic_table()


def make_synthetic_table(points: int = 9600, seed: int = 0) -> pd.DataFrame:
    """A results table shaped like the 10k Llama sweep (19,200 layer rows), random times."""
    rng = np.random.default_rng(seed)
    shapes = [("q_proj", 4096, 4096, 32), ("k_proj", 4096, 4096, 32), ("v_proj", 4096, 4096, 32),
              ("o_proj", 4096, 4096, 32), ("gate_proj", 11008, 4096, 32), ("up_proj", 11008, 4096, 32),
              ("down_proj", 4096, 11008, 32), ("lm_head", 32000, 4096, 1)]
    shape_of = {(4096, 4096): 0, (11008, 4096): 1, (4096, 11008): 2, (32000, 4096): 3}
    hws = ["a100-sxm4-80gb", "h100-sxm5-80gb", "l4", "rtx-4090"]
    formats = ["dense", "2:4", "csr", "coo", "bsr", "channel"]
    densities = np.round(np.linspace(0.01, 0.8, 20), 4)
    batches = [1, 4, 16, 64, 256]
    rows = []
    for order, (name, m, k, count) in enumerate(shapes):
        for hw in hws:
            for fmt in formats:
                for d in densities:
                    for b in batches:
                        t = 1e-5 * (1 + rng.random()) * (m * k / 4096**2) * (1 + b / 64)
                        rows.append(("llama2-7b", "Llama-2-7B", order, name, count, "linear", shape_of[(m, k)], m, k,
                                     b, b, d, fmt, "fp16", hw, hw.upper(), "uniform", d, "analytic", None, t, t / 2,
                                     2 * m * k * b * d, 2 * m * k * b, m * k * 2, m * k, m * k * d * 2, m * k * d * 4,
                                     k * b * 2, m * b * 2, 2, m, "memory", 1.0, "tensor", 312e12, 2e12,
                                     t * 0.3, t * 0.6, 0.0, t * 0.1, 0.0))
    columns = ["workload", "workload_title", "layer_order", "layer", "layer_count", "layer_kind", "shape_id", "m", "k",
               "n", "batch", "density", "format", "dtype", "hw", "hw_display", "pattern", "density_effective", "model",
               "calibration", "time_s", "roofline_floor_s", "flops_useful", "flops_executed", "bytes_hbm", "bytes_l2",
               "bytes_values", "bytes_index", "bytes_b", "bytes_c", "dependent_access_depth", "dependent_accesses",
               "bound", "waves", "math", "peak_flops_per_s", "hbm_bytes_per_s", "time_compute_s", "time_memory_s",
               "time_latency_s", "time_launch_s", "time_other_s"]
    table = pd.DataFrame(rows, columns=columns)
    assert table.drop_duplicates(["shape_id", "hw", "format", "density", "batch"]).shape[0] == points
    return table
