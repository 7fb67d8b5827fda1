"""The discrete-event model against published measurements, datasheet profiles only.

No calibration: each test states the source, what is compared and the tolerance, and
docs/sanity.md lists every prediction next to its figure. Where the model disagrees with
a publication the test is marked xfail (strict) with the numbers, rather than loosened.
"""

import pytest

import sparsim

A100 = "a100-sxm4-80gb"


def tflops_dense_equivalent(p, m, k, n):
    """2·M·N·K / time: how CUTLASS's profiler and NVIDIA's sparse peaks count FLOPs (a 2:4
    GEMM gets credit for the skipped zeros)."""
    return 2 * m * n * k / p.time_s / 1e12


def test_a100_dense_fp16_16384_cubed_reaches_the_cutlass_figure():
    # NVIDIA/cutlass issue 408: 302 TFLOP/s at a locked 1410 MHz. Tolerance: 5%.
    p = sparsim.predict("dense", m=16384, k=16384, n=16384, hw=A100)
    assert tflops_dense_equivalent(p, 16384, 16384, 16384) == pytest.approx(302, rel=0.05)
    assert p.bound == "compute"


def test_a100_2_4_fp16_16384_cubed_reaches_the_cutlass_figure():
    # same source: 484 dense-equivalent TFLOP/s for the 2:4 sparse GEMM. Tolerance: 5%.
    # CUTLASS's profiler times every kernel configuration and reports the fastest, which
    # is what a searched cuSPARSELt plan does; the default plan's fixed 128x128 tile is
    # slower (about 326 TFLOP/s predicted).
    p = sparsim.predict("2:4", m=16384, k=16384, n=16384, hw=A100, impl="cusparselt-search")
    assert tflops_dense_equivalent(p, 16384, 16384, 16384) == pytest.approx(484, rel=0.05)


def test_nn_linear_10240_to_3072_on_a100_2_4_is_faster_by_a_similar_ratio():
    # PyTorch semi-structured sparsity tutorial, A100 80GB: nn.Linear 10240 -> 3072 on a
    # 3072 x 10240 fp16 input: dense 0.870 ms, 2:4 0.630 ms (ratio 1.38). As a GEMM with
    # A = the weights: M = 3072 out features, K = 10240, N = 3072 tokens.
    # Tolerance: the ratio within 25%; each time within 30% (the measurement includes
    # PyTorch dispatch and an unlocked clock, which a datasheet model does not).
    shape = dict(m=3072, k=10240, n=3072, hw=A100)
    dense, sparse = sparsim.predict("dense", **shape), sparsim.predict("2:4", **shape)
    assert dense.time_s / sparse.time_s == pytest.approx(0.870 / 0.630, rel=0.25)
    assert dense.time_s == pytest.approx(0.870e-3, rel=0.30)
    assert sparse.time_s == pytest.approx(0.630e-3, rel=0.30)


@pytest.mark.parametrize("n", [4096, 512, 64])
def test_csr_loses_to_dense_tensor_cores_at_90_percent_sparsity_on_a100(n):
    # NVIDIA (Blocked-ELL blog): unstructured sparse kernels are typically not competitive
    # with dense below ~95% sparsity. Checked: CSR is slower at 90% and at 95%.
    shape = dict(m=4096, k=4096, n=n, hw=A100)
    dense = sparsim.predict("dense", **shape).time_s
    assert sparsim.predict("csr", density=0.10, **shape).time_s > 2 * dense
    assert sparsim.predict("csr", density=0.05, **shape).time_s > dense


def test_csr_needs_very_high_sparsity_to_break_even_on_a100():
    # the break-even sparsity (bisection on density) is at least 95%
    shape = dict(m=4096, k=4096, n=4096, hw=A100)
    dense = sparsim.predict("dense", **shape).time_s
    lo, hi = 0.001, 0.2  # CSR faster at lo, slower at hi
    assert sparsim.predict("csr", density=lo, **shape).time_s < dense < sparsim.predict("csr", density=hi, **shape).time_s
    for _ in range(12):
        mid = (lo * hi) ** 0.5
        if sparsim.predict("csr", density=mid, **shape).time_s < dense:
            lo = mid
        else:
            hi = mid
    assert 1 - hi >= 0.95


def test_skinny_gemm_of_16_tokens_gains_nothing_from_2_4():
    # "Small or skinny 2:4 GEMMs can run slower than dense" (DESIGN.md). Read literally,
    # M = 16 tokens as the sparse A (16 x 4096) times the 4096 x 4096 weights: the weight
    # bytes dominate and 2:4 on A does not shrink them. Tolerance: speedup at most 1.1x.
    shape = dict(m=16, k=4096, n=4096, hw=A100)
    speedup = sparsim.predict("dense", **shape).time_s / sparsim.predict("2:4", **shape).time_s
    assert speedup <= 1.1


@pytest.mark.parametrize("hw", ["rtx-4090", A100])
def test_skinny_weight_sparse_decode_gains_little_from_2_4(hw):
    # A = 2:4 weights (4096 x 4096, Llama-2-7B q_proj), N = 16 tokens. NVIDIA forum thread
    # 340931 measures 2:4 LLaMA2-7B decode 12% slower than dense on an RTX 4090, and the
    # H200 atlas (sparsim/validate/data/h200-2026-11-29) 0.52x of dense with cuSPARSELt's
    # default plan: its one fixed tile pads N = 16 up to the tile width. Until the
    # implementation layer (sparsim.impls) this was a strict xfail: a hardware-only model
    # predicted 1.5-1.7x. Tolerance: <= 1.15x with the default plan; a searched plan
    # (measured 1.36x on the H200) must come out faster than dense.
    shape = dict(m=4096, k=4096, n=16, hw=hw)
    dense = sparsim.predict("dense", **shape).time_s
    assert dense / sparsim.predict("2:4", **shape).time_s <= 1.15
    assert dense / sparsim.predict("2:4", impl="cusparselt-search", **shape).time_s > 1.2
