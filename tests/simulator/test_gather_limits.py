"""Huge CTA grids: neighbouring row blocks are merged for the schedule, totals kept."""

import pytest

from sparsim import predict
from sparsim.simulator import gather


@pytest.mark.parametrize("kernel", ["csr", "bsr", "grouped"])
def test_merged_row_blocks_keep_totals_and_time(monkeypatch, kernel):
    # 65536 rows x 8 N-slices: 65,536 CTAs (csr, bsr) or 131,072 (grouped, 8-row groups x
    # 16 slices of 64). Merged into 16,384 units, still 31 per slot of the H100's 528:
    # bytes and FLOPs are the same, time within 2% (the tail is cut a little coarser).
    args = dict(m=65536, k=16384, n=1024, density=0.01, hw="h100-sxm5-80gb", memory_budget="64MiB")
    whole = predict(kernel, **args)
    monkeypatch.setattr(gather, "MAX_CTAS", 2**14)
    merged = predict(kernel, **args)
    assert merged.ctas == whole.ctas == (131_072 if kernel == "grouped" else 65_536)
    assert (merged.bytes_hbm, merged.bytes_l2, merged.flops_executed) == \
        (whole.bytes_hbm, whole.bytes_l2, whole.flops_executed)
    assert merged.time_s == pytest.approx(whole.time_s, rel=0.02)
    factor = 8 if kernel == "grouped" else 4
    assert f"{whole.ctas:,} CTAs scheduled as 16,384 units of {factor} consecutive row blocks" in merged.notes
    assert not any("units of" in note for note in whole.notes)
