"""Every console and Python example in README.md and docs/*.md runs and prints what it says.

The rules of the comparison (``...`` elision, numbers within 1%) are in
``tests/docs_examples.py``; a new ```console block with ``$ sparsim ...`` lines in any of
those files is checked without touching this file. When the model moves a documented
number on purpose, ``python tests/docs_examples.py --update`` rewrites the outputs.
"""

from __future__ import annotations

import functools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docs_examples import (RTOL, doc_files, examples, line_matches, match, mismatch, numbers_agree, outputs,
                           rewritten, update)

EXAMPLES = [ex for path in doc_files() for ex in examples(path)]


@functools.lru_cache(maxsize=None)
def _printed(path):
    return {ex.name: got for ex, got in outputs(path)}


def test_the_readme_has_examples_to_run():
    kinds = [ex.kind for ex in EXAMPLES if ex.path.name == "README.md"]
    assert kinds.count("console") >= 8 and kinds.count("python") >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=[ex.name for ex in EXAMPLES])
def test_documented_output_is_what_runs(example):
    problem = mismatch(example, _printed(example.path)[example.name])
    assert problem is None, "\n" + problem + "\n(python tests/docs_examples.py --update rewrites it)"


# -- the comparison itself ---------------------------------------------------------------------

def test_numbers_within_one_percent_match_and_text_must_be_equal():
    assert line_matches("time per call     25.51 us", "time per call     25.70 us")
    assert not line_matches("time per call     25.51 us", "time per call     25.90 us")
    assert not line_matches("time per call     25.51 us", "time per call     25.51 ms")
    assert line_matches("dependent loads   depth 2, 1,680,746 loads", "dependent loads   depth 2, 1,681,000 loads")
    assert not line_matches("dependent loads   depth 2, 1,680,746 loads", "dependent loads   depth 3, 1,680,746 loads")


def test_printed_rounding_is_one_unit_of_the_last_digit():
    assert line_matches("busy              tensor 94%", "busy              tensor 95%")  # 94.49 vs 94.51
    assert not line_matches("busy              tensor 94%", "busy              tensor 96%")
    assert line_matches("host 0.00 us", "host 0.01 us")
    assert not line_matches("host 0.00 us", "host 0.02 us")


def test_numbers_glued_to_words_are_text():
    assert not line_matches("hardware          h200-sxm-141gb", "hardware          h201-sxm-141gb")
    assert not line_matches("figures           2026-11-29", "figures           2026-11-30")
    assert not line_matches("kernel dense fp16", "kernel dense fp15")
    assert line_matches("tile 256x128x64; 0.52x of dense", "tile 256x128x64; 0.524x of dense")
    assert line_matches("tile 256x128x64", "tile 256x127x64")  # 0.8%: every number is within 1%
    assert not line_matches("tile 256x128x64", "tile 256x64x64")


def test_an_ellipsis_line_stands_for_any_lines_and_an_inline_one_for_any_text():
    got = ["kernel dense", "hardware l4", "model des", "time 1.00 us", "note a; b; c"]
    assert match(["kernel dense", "...", "time 1.00 us", "note a; ..."], got) is not None
    assert match(["...", "time 1.00 us", "..."], got) is not None
    assert match(["kernel dense", "time 1.00 us", "..."], got) is None  # a line skipped without ...
    assert match(["kernel dense", "..."], []) is None
    assert match(["..."], []) == []


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e6), st.floats(min_value=-0.95, max_value=0.95))
def test_tolerance_is_relative(value, within):
    want = f"{value:.4f}"  # four decimals: one unit of the last digit is 1e-4
    inside = float(want) * (1 + within * RTOL)
    outside = float(want) + math.copysign(max(3 * RTOL * float(want), 3e-4), within or 1)
    assert numbers_agree(want, f"{inside:.6f}")
    assert not numbers_agree(want, f"{outside:.6f}")


def test_update_keeps_the_elisions_and_moves_the_numbers():
    want = ["kernel dense", "...", "time per call     25.51 us   = kernels 25.51 us", "note tile 8x8; ..."]
    got = ["kernel dense", "model des", "time per call     30.00 us   = kernels 29.90 us", "note tile 8x8; x"]
    new, kept = rewritten(want, got)
    assert kept and new == ["kernel dense", "...", "time per call     30.00 us   = kernels 29.90 us",
                            "note tile 8x8; ..."]
    assert match(new, got) is not None
    new, kept = rewritten(["kernel csr"], ["kernel dense", "model des"])
    assert not kept and new == ["kernel dense", "model des"]


def test_update_rewrites_a_stale_file(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("Intro\n\n```console\n$ sparsim predict --hw l4 --kernel dense --m 64 --k 64 --n 64\n"
                   "kernel            dense  64x64 @ 64x64  fp16  density 1 (dense)\n...\n"
                   "time per call     1.00 us   = kernels 1.00 us + host 0.00 us\n...\n```\n\n"
                   "```python\n>>> 1 + 1\n3\n```\n\nOutro\n", encoding="utf-8")
    before = [mismatch(ex, got) for ex, got in outputs(doc)]
    assert all(before)
    said = update(doc)
    assert len(said) == 2 and "numbers updated" in said[0]
    assert [mismatch(ex, got) for ex, got in outputs(doc)] == [None, None]
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("Intro\n") and text.endswith("Outro\n") and "\n...\ntime per call " in text
    assert ">>> 1 + 1\n2\n```" in text


def test_the_helper_module_examples_run():
    import doctest

    import docs_examples

    assert doctest.testmod(docs_examples).failed == 0
