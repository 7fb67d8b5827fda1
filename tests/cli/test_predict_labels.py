"""What a prediction's notes and kernel names say about who chose the mapping (issue 14).

sparsim's own mapping (``--impl reference``) runs no library, so it must not be reported
as a cuBLAS tile or a kernel called "none dense"; a library's one fixed plan is not a
"forced" tile; BSR over a scattered pattern says that it stores every block.
"""

from __future__ import annotations

import sparsim


def _note(p, start):
    return next(n for n in p.notes if n.startswith(start))


def test_the_reference_mapping_names_no_library():
    p = sparsim.predict("dense", m=1024, k=1024, n=1024, hw="a100-sxm4-80gb", impl="reference")
    assert p.kernels[0][0] == "sparsim reference dense kernel (no library)"
    assert _note(p, "sparsim reference tile ").endswith("candidate tiles/splits (1 simulated)")
    assert not any("cuBLAS" in n or "none" in n for n in p.notes)


def test_a_library_default_plan_is_not_a_forced_tile():
    p = sparsim.predict("2:4", m=4096, k=4096, n=16, hw="h200-sxm-141gb", impl="cusparselt")
    tile = _note(p, "cuSPARSELt tile ")
    assert tile.endswith("; the library's default plan: one fixed algorithm, no search")
    assert "forced" not in tile


def test_cublas_calls_still_name_cublas():
    p = sparsim.predict("dense", m=1024, k=1024, n=1024, hw="a100-sxm4-80gb")
    assert _note(p, "cuBLAS tile ") and p.impl == "cublas"


def test_bsr_of_a_uniform_pattern_says_every_block_is_stored():
    low = sparsim.predict("bsr", m=4096, k=4096, n=256, hw="a100-sxm4-80gb", density=0.05)
    high = sparsim.predict("bsr", m=4096, k=4096, n=256, hw="a100-sxm4-80gb", density=0.5)
    note = _note(low, "BSR of a uniform pattern: ")
    # 256x256 blocks of 16x16; P(a block is empty) = 0.95**256 ~ 2e-6: all 65,536 stored
    assert "every 16x16 block holds a nonzero (65,536 of 65,536 stored, each 5% nonzero)" in note
    assert "multiply 20.0x the useful FLOPs" in note
    # a block pattern keeps each block with probability density: ~0.05 * 65,536
    kept = int(note.rsplit("about ", 1)[1].split()[0].replace(",", ""))
    assert abs(kept - 0.05 * 65536) < 0.002 * 65536
    assert low.time_s == high.time_s  # what the note explains


def test_bsr_of_a_block_pattern_has_no_fill_note():
    p = sparsim.predict("bsr", m=4096, k=4096, n=256, hw="a100-sxm4-80gb", density=0.05, pattern="block")
    assert not any(n.startswith("BSR of") for n in p.notes)
