"""Quantized linear paths against published kernel-level figures (issue 16, item 3).

    python benchmarks/bench_quant.py                   # finds shared/data/published above the repo
    python benchmarks/bench_quant.py --published DIR   # or names it

What it scores, and where each figure was read:

1. ``kernels.json`` points in int8 and fp8 (SlideSparse: cuBLASLt vs cuSPARSELt, searched
   plans, A100 80GB PCIe scored on the SXM4 profile and RTX 4090; one best-of-search H100
   fp8 TFLOP/s point): kernel times of the dense and 2:4 GEMMs and the speedup. These
   GEMMs were timed without the activation-quantization kernel, so they are predicted as
   plain int8/fp8 GEMMs (no ``quant``).
2. The Marlin README's figure "Marlin (group=128) performance on layer shapes of popular
   models - BATCHSIZE 16" (IST-DASLab/marlin assets/models.png), NVIDIA A100 bars, read
   from the figure to +-0.05: the summed time of fp16 PyTorch (CUTLASS) over Marlin over
   each model's linear layers (bench.py MODELS) at batch 16.
3. The Marlin README's figure "16bit x 4bit (group=128) mul with 72k x 18k matrix on NVIDIA
   A10" (assets/peak.png): Marlin and "torch-nightly" (tinygemm) speedups vs batch. Scored
   only if a profile named ``a10`` exists (none ships yet); otherwise printed for reference
   beside the A100 prediction of the same shape, which only the shape of the curve can be
   compared with.
4. Kernel level of e2e.json's torchao Llama-3-8B batch-1 decode on an A100: the summed
   linear kernel times of one transformer block (q, k, v, o, gate, up, down) for bf16,
   int8 weight-only, int4 weight-only (tinygemm, group 64) and int4 + 2:4 (Sparse-Marlin),
   with the measured tokens/s ratios beside them (the e2e ratios include attention, norms
   and the LM head, which do not shrink, so the kernel ratios should be at or above them).

5. Kernel level of e2e.json's vLLM (SlideSparse) runs on an RTX 4090: W8A8 int8/fp8 with
   2:4 weights (cuSPARSELt, searched plan) vs dense (cuBLASLt), decode (N = concurrent
   requests) and prefill (N = tokens per forward): the summed time of one block's linear
   layers (fused qkv, o, fused gate_up, down; each with its activation-quantization
   kernel) dense over sparse, beside the measured elapsed-time speedup (median 1.18x
   decode, 1.29x prefill; the e2e run also holds attention and the LM head).

6. The Sparse-Marlin README's figures (IST-DASLab/Sparse-Marlin assets/batches_ideal_fix.png,
   "Marlin 2:4 (groupsize=128) mul with 82k x 20k on NVIDIA 3090", and models_nfix.png,
   batch 16 on the Marlin model shapes), read to +-0.05: Sparse-Marlin, Marlin and
   torch-nightly (tinygemm) speedups over fp16 PyTorch. Scored on a profile named
   ``rtx-3090`` if one exists, else printed beside the RTX 4090 prediction (another
   GeForce die: compare the curves' shape and the Sparse-Marlin/Marlin ratio only).

7. The gpt-fast README's Llama-2-70B rows (e2e.json, A100 80GB at 330 W, batch 1): the GB/s
   each GPU streams ("model bytes x tok/s") for bf16 (tp2), int8 (tp1) and int4 group 32
   (tinygemm, tp1), measured and predicted through the step model, and each over bf16's. At
   70B the per-step fixed costs are a few percent, so the ratio is the kernels' own
   streaming rate: where tinygemm's falls short of the model's, this shows it.

Every path here rests on published figures only: no quantized kernel has been timed on
our own GPU yet (benchmarks/gpu/collect.sh's quant stage will).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import sparsim
from sparsim.errors import SparsimError

#: IST-DASLab/marlin README, assets/models.png, NVIDIA A100 bars (read from the figure, +-0.05)
MARLIN_A100_BATCH16 = {"Llama7B": 2.22, "Llama13B": 2.80, "Llama33B": 3.04, "Llama65B": 3.20, "Falcon180B": 3.64}
#: IST-DASLab/marlin bench.py MODELS: (in_features, out_features) of each linear layer
MARLIN_MODELS = {
    "Llama7B": [(4096, 3 * 4096), (4096, 4096), (4096, 2 * 10752), (10752, 4096)],
    "Llama13B": [(5120, 3 * 5120), (5120, 5120), (5120, 2 * 13568), (13568, 5120)],
    "Llama33B": [(6656, 3 * 6656), (6656, 6656), (6656, 2 * 17664), (17664, 6656)],
    "Llama65B": [(8192, 3 * 8192), (8192, 8192), (8192, 2 * 21760), (21760, 8192)],
    "Falcon180B": [(14848, 14848 * 5 + 1024), (14848 * 5, 14848)],
}
#: IST-DASLab/marlin README, assets/peak.png (A10, 72k x 18k, group 128), read to +-0.05:
#: batch -> (Marlin, torch-nightly tinygemm) speedup over fp16 PyTorch (CUTLASS)
MARLIN_A10_PEAK = {1: (3.87, 3.59), 2: (3.87, 3.59), 4: (3.87, 3.41), 8: (3.89, 2.50), 16: (3.89, 1.38),
                   32: (3.82, 0.59), 64: (3.09, 0.28), 128: (1.55, 0.14)}
#: IST-DASLab/Sparse-Marlin README, assets/batches_ideal_fix.png (RTX 3090, 82k x 20k, group 128),
#: read to +-0.05: batch -> (Sparse-Marlin, Marlin, torch-nightly) speedup over fp16 PyTorch
SPARSE_MARLIN_3090_PEAK = {1: (5.08, 3.87, 3.57), 2: (5.10, 3.89, 3.61), 4: (5.14, 3.92, 3.50),
                           8: (5.15, 3.91, 2.40), 16: (5.23, 3.97, 1.27), 32: (5.13, 2.95, 0.67),
                           64: (2.67, 1.50, 0.34), 128: (1.92, 1.08, 0.27), 256: (1.90, 1.11, 0.22)}
#: IST-DASLab/Sparse-Marlin README, assets/models_nfix.png (RTX 3090, batch 16): (Marlin, Sparse-Marlin)
SPARSE_MARLIN_3090_MODELS = {"Llama7B": (3.91, 5.21), "Llama13B": (3.84, 5.11), "Llama33B": (4.49, 6.03),
                             "Llama65B": (4.22, 5.64), "Falcon180B": (4.52, 5.95)}
#: Llama-3-8B linear layers of one block, (out_features M, in_features K): hidden 4096,
#: 8 KV heads of 128, intermediate 14336 (e2e.json model.arch of the torchao points)
LLAMA3_8B = [(4096, 4096), (1024, 4096), (1024, 4096), (4096, 4096), (14336, 4096), (14336, 4096), (4096, 14336)]
#: e2e.json torchao-a100-llama-3-8b-*-compiled tokens/s (torchao README, A100 80GB SXM4, batch 1)
TORCHAO_LLAMA3_8B = {"bf16": 95.64, "int8wo": 153.03, "int4wo-64": 180.8, "sparse-marlin": 223.95}
#: each torchao configuration as a sparsim call: (kernel, quant, group, impl, dtype)
TORCHAO_CALLS = {"bf16": ("dense", None, None, None, "bf16"),
                 "int8wo": ("dense", "w8a16", None, "torchao-int8wo", "bf16"),
                 "int4wo-64": ("dense", "w4a16", 64, "torchao-int4", "bf16"),
                 "sparse-marlin": ("2:4", "w4a16", None, "sparse-marlin", "fp16")}


def find_published(start: Path) -> Path | None:
    for parent in (start, *start.parents):
        candidate = parent / "shared" / "data" / "published"
        if candidate.is_dir():
            return candidate
    return None


def _kernel_s(kernel, m, k, n, hw, dtype, impl=None, quant=None, group=None) -> float:
    return sparsim.predict(kernel, m=m, k=k, n=n, hw=hw, dtype=dtype, impl=impl, quant=quant, group=group,
                           compare=False).kernel_s


def score_kernels_json(path: Path) -> None:
    data = json.loads((path / "kernels.json").read_text())
    rows, errors, ratio_errors = [], [], []
    for p in data["points"]:
        if p["dtype"] not in ("int8", "fp8"):
            continue
        hw, m, k, n, dt = p["hw"], p["m"], p["k"], p["n"], p["dtype"]
        try:
            if p["type"] == "pair":
                sparse = _kernel_s(p["kernel"], m, k, n, hw, dt, impl=p["impl"])
                dense = _kernel_s("dense", m, k, n, hw, dt, impl=p["dense_impl"])
                meas = p["measured"]
                errors += [sparse / meas["sparse_s"] - 1, dense / meas["dense_s"] - 1]
                ratio_errors.append((dense / sparse) / meas["speedup"])
                rows.append((p["id"], f"dense {dense * 1e6:9.1f} us (meas {meas['dense_s'] * 1e6:9.1f})  "
                                      f"2:4 {sparse * 1e6:9.1f} us (meas {meas['sparse_s'] * 1e6:9.1f})  "
                                      f"speedup {dense / sparse:5.2f} (meas {meas['speedup']:5.2f})"))
            elif p["type"] == "tflops":
                t = _kernel_s("dense", m, k, n, hw, dt, impl=p.get("impl"))
                tflops = 2 * m * k * n / t / 1e12
                meas = p["measured"]["tflops"]
                errors.append(meas / tflops - 1)  # time error = inverse of the rate error
                rows.append((p["id"], f"{tflops:7.1f} TFLOP/s (meas {meas:7.1f})"))
        except SparsimError as exc:
            rows.append((p["id"], f"not predicted: {exc}"))
    print(f"\n1. kernels.json int8/fp8 points ({len(rows)})")
    for pid, text in rows:
        print(f"  {pid:48s} {text}")
    if errors:
        print(f"  time MAPE {np.mean(np.abs(errors)):.1%} over {len(errors)} times; speedup ratio "
              f"predicted/measured: median {np.median(ratio_errors):.2f}, "
              f"MAPE {np.mean(np.abs(np.array(ratio_errors) - 1)):.1%}")


def score_marlin_a100() -> None:
    print("\n2. Marlin README, A100, batch 16, summed linear layers: speedup over fp16 (predicted vs read)")
    errs = []
    for name, layers in MARLIN_MODELS.items():
        dense = sum(_kernel_s("dense", m, k, 16, "a100-sxm4-80gb", "fp16") for k, m in layers)
        marlin = sum(_kernel_s("dense", m, k, 16, "a100-sxm4-80gb", "fp16", impl="marlin", quant="w4a16")
                     for k, m in layers)
        errs.append(dense / marlin / MARLIN_A100_BATCH16[name] - 1)
        print(f"  {name:11s} predicted {dense / marlin:5.2f}   published {MARLIN_A100_BATCH16[name]:5.2f}   "
              f"error {errs[-1]:+.0%}")
    print(f"  MAPE {np.mean(np.abs(errs)):.1%}")


def score_marlin_peak() -> None:
    from sparsim.hwprofiles import load_profile

    try:
        load_profile("a10")
        hw, scored = "a10", True
    except SparsimError:
        hw, scored = "a100-sxm4-80gb", False
    m, k = 4 * 256 * 108, 256 * 108  # bench.py 'ideal' shape on an A100 (72k x 18k on an A10's 72 SMs)
    if scored:
        m, k = 4 * 256 * 72, 256 * 72
    print(f"\n3. Marlin README peak curve (A10, 72k x 18k); predicted on {hw} {m}x{k}"
          + ("" if scored else " (no a10 profile: compare the shape of the curve only)"))
    print(f"  {'batch':>5s}  {'marlin':>7s} {'read':>5s}   {'tinygemm':>8s} {'read':>5s}")
    for batch, (marlin_read, tiny_read) in MARLIN_A10_PEAK.items():
        dense = _kernel_s("dense", m, k, batch, hw, "fp16")
        marlin = _kernel_s("dense", m, k, batch, hw, "fp16", quant="w4a16", impl="marlin")
        tiny = _kernel_s("dense", m, k, batch, hw, "bf16", quant="w4a16", impl="torchao-int4")
        print(f"  {batch:5d}  {dense / marlin:7.2f} {marlin_read:5.2f}   {dense / tiny:8.2f} {tiny_read:5.2f}")


def llama3_8b_linear_s(name: str, hw: str = "a100-sxm4-80gb") -> float:
    """Summed kernel time of one Llama-3-8B block's linear layers at batch 1 under a torchao configuration."""
    kernel, quant, group, impl, dtype = TORCHAO_CALLS[name]
    return sum(_kernel_s(kernel, m, k, 1, hw, dtype, impl=impl, quant=quant, group=group) for m, k in LLAMA3_8B)


def score_torchao_kernel_level() -> None:
    print("\n4. Llama-3-8B batch-1 decode, A100: one block's linear kernels (predicted) vs torchao tokens/s")
    base = llama3_8b_linear_s("bf16")
    for name in TORCHAO_CALLS:
        t = llama3_8b_linear_s(name)
        print(f"  {name:14s} {t * 1e6:7.1f} us   kernel speedup {base / t:5.2f}   "
              f"e2e speedup {TORCHAO_LLAMA3_8B[name] / TORCHAO_LLAMA3_8B['bf16']:5.2f}")


def score_sparse_marlin() -> None:
    from sparsim.hwprofiles import load_profile

    try:
        load_profile("rtx-3090")
        hw, proxy = "rtx-3090", ""
    except SparsimError:
        hw, proxy = "rtx-4090", " (no rtx-3090 profile: an RTX 4090 stands in; compare shapes and ratios only)"
    sms = load_profile(hw).sm_count
    m, k = 4 * 256 * sms, 256 * sms  # the 'ideal' shape class of the figure (82k x 20k on the 3090's 82 SMs)
    print(f"\n6. Sparse-Marlin README peak curve (RTX 3090), predicted on {hw} {m}x{k}{proxy}")
    print(f"  {'batch':>5s}  {'2:4':>5s} {'read':>5s}  {'marlin':>6s} {'read':>5s}  {'tiny':>5s} {'read':>5s}")
    for batch, (sm_read, marlin_read, tiny_read) in SPARSE_MARLIN_3090_PEAK.items():
        dense = _kernel_s("dense", m, k, batch, hw, "fp16")
        sparse = _kernel_s("2:4", m, k, batch, hw, "fp16", quant="w4a16", impl="sparse-marlin")
        marlin = _kernel_s("dense", m, k, batch, hw, "fp16", quant="w4a16", impl="marlin")
        tiny = _kernel_s("dense", m, k, batch, hw, "bf16", quant="w4a16", impl="torchao-int4")
        print(f"  {batch:5d}  {dense / sparse:5.2f} {sm_read:5.2f}  {dense / marlin:6.2f} {marlin_read:5.2f}  "
              f"{dense / tiny:5.2f} {tiny_read:5.2f}")
    print(f"  batch 16, model shapes: {'marlin':>6s} {'read':>5s}  {'2:4':>5s} {'read':>5s}")
    for name, layers in MARLIN_MODELS.items():
        dense = sum(_kernel_s("dense", m_, k_, 16, hw, "fp16") for k_, m_ in layers)
        marlin = sum(_kernel_s("dense", m_, k_, 16, hw, "fp16", quant="w4a16", impl="marlin") for k_, m_ in layers)
        sparse = sum(_kernel_s("2:4", m_, k_, 16, hw, "fp16", quant="w4a16", impl="sparse-marlin")
                     for k_, m_ in layers)
        read_marlin, read_sparse = SPARSE_MARLIN_3090_MODELS[name]
        print(f"  {name:23s} {dense / marlin:6.2f} {read_marlin:5.2f}  {dense / sparse:5.2f} {read_sparse:5.2f}")


def vllm_block(arch: dict) -> list[tuple[int, int]]:
    """(M, K) of one block's linear layers as vLLM fuses them: qkv, o, gate_up, down."""
    h, hd, i = arch["hidden"], arch["head_dim"], arch["intermediate"]
    qkv = (arch["n_heads"] + 2 * arch["n_kv_heads"]) * hd
    return [(qkv, h), (h, arch["n_heads"] * hd), (2 * i, h), (h, i)]


def score_vllm_kernel_level(path: Path) -> None:
    data = json.loads((path / "e2e.json").read_text())
    print("\n5. vLLM 2:4 W8A8 on an RTX 4090: one block's linears, dense (cublaslt) / 2:4 (cusparselt-search)")
    rows = {"decode_throughput_batch": [], "prefill_throughput": []}
    for p in data["points"]:
        if p["source"] != "vllmbench-e2e" or p["kind"] not in rows or "sparse" not in p["measured"]:
            continue  # single runs (e.g. the stock CUTLASS baseline) carry no sparse-vs-dense pair
        quant = {"int8": "w8a8", "fp8": "fp8"}[p["weight_dtype"]]
        n = p["batch_size"] if p["kind"] == "decode_throughput_batch" else p["tokens_per_step"]
        block = vllm_block(p["model"]["arch"])
        dense_impl = "cublaslt-int8" if quant == "w8a8" else "cublaslt-fp8"
        try:
            dense = sum(_kernel_s("dense", m, k, n, "rtx-4090", "bf16", impl=dense_impl, quant=quant) for m, k in block)
            sparse = sum(_kernel_s("2:4", m, k, n, "rtx-4090", "bf16", impl="cusparselt-search", quant=quant)
                         for m, k in block)
        except SparsimError as exc:
            print(f"  {p['id']}: not predicted: {exc}")
            continue
        measured = p["measured"]["speedup_dense_over_sparse_elapsed"]
        rows[p["kind"]].append((dense / sparse, measured))
        print(f"  {p['id']:52s} N={n:6d}  kernel speedup {dense / sparse:5.2f}   e2e {measured:5.2f}")
    for kind, values in rows.items():
        if values:
            k_med, e_med = np.median([v[0] for v in values]), np.median([v[1] for v in values])
            agree = np.mean([(a > 1) == (b > 1) for a, b in values])
            print(f"  {kind}: median kernel speedup {k_med:.2f}, median e2e {e_med:.2f}; "
                  f"same side of 1 in {agree:.0%} of {len(values)} runs")


#: e2e.json gpt-fast points at the Llama-2-70B scale (A100 80GB, 330 W): the GB/s each GPU
#: streams ("model bytes x tok/s", the README's derived column) by path; at 70B the
#: per-step fixed costs are a few percent, so the column is the kernels' streaming rate
GPTFAST_70B = {"bf16 (tp2)": "gptfast-a100-llama-2-70b-bf16-tp2", "int8 (tp1)": "gptfast-a100-llama-2-70b-int8-tp1",
               "int4 g32 (tp1)": "gptfast-a100-llama-2-70b-int4-tp1"}


def score_streaming_rate(path: Path) -> None:
    """7. How fast each path streams the weights at the 70B scale, measured and predicted
    (through the step model, as bench_e2e predicts the points), relative to bf16."""
    import bench_e2e  # the benchmarks folder is on sys.path when run as a script

    points = {p["id"]: p for p in json.loads((path / "e2e.json").read_text())["points"]}
    print("\n7. gpt-fast Llama-2-70B, A100 80GB at 330 W, batch 1: GB/s per GPU (model bytes x tok/s)")
    rows = {}
    for label, pid in GPTFAST_70B.items():
        p = points[pid]
        measured = p["measured"]["derived_bandwidth_GBps"]
        predicted = bench_e2e.predict_point(p)["predicted"] * measured / p["measured"]["value"]
        rows[label] = (measured, predicted)
    base_m, base_p = rows["bf16 (tp2)"]
    for label, (measured, predicted) in rows.items():
        print(f"  {label:15s} measured {measured:7.1f}  predicted {predicted:7.1f}   vs bf16: measured "
              f"{measured / base_m:4.2f}  predicted {predicted / base_p:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published", type=Path, default=None, help="folder holding kernels.json and e2e.json")
    args = parser.parse_args()
    published = args.published or find_published(Path(__file__).resolve().parent.parent)
    if published is not None and (published / "kernels.json").is_file():
        score_kernels_json(published)
    else:
        print("1. kernels.json not found (pass --published DIR): skipped")
    score_marlin_a100()
    score_marlin_peak()
    score_torchao_kernel_level()
    if published is not None and (published / "e2e.json").is_file():
        score_vllm_kernel_level(published)
    score_sparse_marlin()
    if published is not None and (published / "e2e.json").is_file():
        score_streaming_rate(published)


if __name__ == "__main__":
    main()
