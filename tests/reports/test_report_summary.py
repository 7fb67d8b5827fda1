"""Recommendations in plain words: the sentences follow the numbers."""

import pandas as pd

from sparsim.reports import aggregate as agg
from sparsim.reports.summary import recommendations


def _table():
    rows = []
    # dense: 10 ms at batch 1, 20 ms at batch 512; 2:4 pays at 1 (1.6x), loses at 512 (0.8x);
    # CSR beats dense up to 10% at batch 1 only; channel at 50% is a 2x smaller GEMM
    for batch, dense, nm in ((1, 10e-3, 6.25e-3), (512, 20e-3, 25e-3)):
        for d in (0.05, 0.1, 0.5):
            csr = {1: {0.05: 4e-3, 0.1: 8e-3, 0.5: 40e-3}, 512: {0.05: 30e-3, 0.1: 60e-3, 0.5: 300e-3}}[batch][d]
            for fmt, t, values, index in (("dense", dense, 100, 0), ("2:4", nm, 50, 6), ("csr", csr, 100 * d, 200 * d),
                                          ("channel", dense * d, 100 * d, 0)):
                rows.append({"workload": "w", "hw": "gpu", "hw_display": "Test GPU", "dtype": "fp16", "layer": "a",
                             "layer_order": 0, "layer_count": 1, "format": fmt, "density": d, "batch": batch,
                             "time_s": t, "bytes_values": values * 2**30, "bytes_index": index * 2**30})
    return pd.DataFrame(rows)


def test_sentences_follow_the_numbers():
    totals = agg.model_totals(_table())
    totals["hw_display"] = "Test GPU"
    sp, be = agg.speedups(totals), agg.break_even(totals)
    profiles = {"gpu": {"display_name": "Test GPU", "hbm_bytes": 80 * 2**30}}
    text = recommendations("w", sp, be, agg.weight_memory(totals), profiles, "fp16")
    gpu = text[0]
    assert gpu.startswith("Test GPU: 2:4 pays at batch 1 (up to 1.60x: 6.25 ms instead of 10.00 ms per step at batch 1) "
                          "but not at batch 512 (0.80x).")
    assert "CSR beats dense only when few weights are kept: up to 10% density at batch 1; never at batch 512." in gpu
    assert "Channel pruning to 50% of output channels runs 2.00x-2.00x faster than dense" in gpu
    assert text[1].startswith("Memory: dense weights take 100.0 GiB in fp16; 2:4 56.0 GiB (50.0 GiB values + 6.0 GiB "
                              "metadata); CSR at 5% density 15.0 GiB, 67% of it indices; CSR is smaller than dense only "
                              "up to 10% density.")
    assert text[2].startswith("The dense weights alone do not fit in the memory of Test GPU; the smallest swept option "
                              "is channel pruning at 5% (5.0 GiB).")


def test_break_even_at_the_top_swept_density_is_said_to_lie_beyond_it():
    table = _table()
    table.loc[table["format"] == "csr", "time_s"] = 1e-3  # CSR faster than dense at every swept density
    totals = agg.model_totals(table)
    totals["hw_display"] = "Test GPU"
    sp, be = agg.speedups(totals), agg.break_even(totals)
    gpu = recommendations("w", sp, be, agg.weight_memory(totals), {}, "fp16")[0]
    assert "CSR beats dense only when few weights are kept: at every swept density (≥ 50%, beyond the swept range) " \
           "at batch 1 and 512." in gpu


def test_winners_table_never_gives_2_4_a_swept_density():
    from sparsim.reports.report import _winners_table

    totals = agg.model_totals(_table())
    totals["hw_display"] = "Test GPU"
    html = _winners_table(agg.speedups(totals))
    # 2:4 wins batch 1 in the 50% row: by its own fixed half, not by the swept density
    assert "2:4 at its fixed 50% (1.60x, 6.25 ms)" in html and "unstructured density" in html
