"""torch.profiler traces of the atlas calls (collect.sh's ``traces`` stage), for ``sparsim explain``.

One Chrome trace per family of calls, recorded with ``record_shapes=True`` (CPU and CUDA
activity), gzipped and trimmed (:func:`records.trace_gz`), added to ``traces.tar`` as
``atlas-<family>.json.gz`` beside ``atlas-<family>.calls.json``, which lists the calls in
the order they ran (op, M, K, N, dtype, format, density, index width, alg_id): the ground
truth a test of the trace reader checks its recovered problems against.

Families (A is M×K, the weight and the sparse operand; B is K×N; fp16 unless said):

* ``mm``: ``torch.mm(A, B)`` (cuBLAS);
* ``cslt``: ``torch._cslt_sparse_mm(torch._cslt_compress(A24), B)``, default plan and the
  ``alg_id`` that ``_cslt_sparse_mm_search`` picked;
* ``semi``: ``to_sparse_semi_structured(A24) @ B`` and ``F.linear(X, W24)``;
* ``csr``: ``A_csr @ B`` at densities 0.01 and 0.1 with int64 (PyTorch's default) and
  int32 indices;
* ``quant``: ``torch._scaled_mm`` fp8 (row-wise scales) and ``_cslt_sparse_mm`` int8;
* ``int4``: PyTorch's tinygemm ``aten._weight_int4pack_mm`` (bf16, group 64, torchao
  int4 weight-only): its kernel events carry the registers per thread and occupancy that
  decide how near the DRAM bandwidth it streams at batch 1 (docs/quantized.md).

Each call runs once before the profiler starts (plans, handles, lazy loads), then twice
inside it.

>>> [f for f, _ in FAMILIES]
['mm', 'cslt', 'semi', 'csr', 'quant', 'int4']
>>> calls_of("csr")[:2]
[('csr', 4096, 4096, 16, 0.01, 64), ('csr', 4096, 4096, 16, 0.01, 32)]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import add_to_tar, tar_members  # noqa: E402

_T0 = time.perf_counter()
SHAPES = ((4096, 4096), (4096, 11008), (8192, 8192))
TRACE_BYTES = 3 * 2**19  # 1.5 MiB each (see decoder_step.TRACE_BYTES)

FAMILIES = (
    ("mm", [("mm", m, k, n) for (m, k) in SHAPES for n in (1, 16, 256, 4096)]),
    ("cslt", [(op, m, k, n) for (m, k) in SHAPES for n in (16, 256, 4096) for op in ("cslt", "cslt-search")]),
    ("semi", [(op, m, k, n) for (m, k) in SHAPES[:1] for n in (1, 16, 256) for op in ("semi-mm", "semi-linear")]),
    ("csr", [("csr", m, k, n, d, bits) for (m, k) in SHAPES[:2] for n in (16, 256) for d in (0.01, 0.1)
             for bits in (64, 32)]),
    ("quant", [(op, m, k, n) for (m, k) in SHAPES[:1] for n in (16, 256) for op in ("scaled-mm-fp8", "cslt-int8")]),
    ("int4", [("int4pack-mm", m, k, n) for (m, k) in SHAPES[:2] for n in (1, 16)]),
)
#: the tinygemm calls' group size (torchao int4wo-64)
INT4_GROUP = 64


def calls_of(family: str) -> list[tuple]:
    return dict(FAMILIES)[family]


def manifest_entry(call: tuple, alg_id=None) -> dict:
    """What one traced call computed, in the atlas's terms.

    >>> manifest_entry(("cslt-search", 4096, 4096, 16), alg_id=3)["alg_id"]
    3
    """
    op, m, k, n = call[:4]
    entry = {"op": op, "m": m, "k": k, "n": n, "dtype": "fp16", "kernel": "dense"}
    if op.startswith(("cslt", "semi")):
        entry["kernel"] = "2:4"
    if op == "csr":
        entry.update(kernel="csr", density=call[4], index_bits=call[5])
    if op == "scaled-mm-fp8":
        entry.update(dtype="fp8", quant="fp8")
    if op == "cslt-int8":
        entry.update(dtype="int8", quant="w8a8")
    if op == "int4pack-mm":
        entry.update(dtype="bf16", quant="w4a16", group=INT4_GROUP, impl="torchao-int4")
    if alg_id is not None:
        entry["alg_id"] = alg_id
    return entry


def make_call(torch, call: tuple):
    """(fn, alg_id or None) for one call; operands random, never zero."""
    op, m, k, n = call[:4]
    dev = "cuda"
    a = torch.randn(m, k, device=dev, dtype=torch.float16)
    b = torch.randn(k, n, device=dev, dtype=torch.float16)
    groups = a.reshape(m, -1, 4)
    keep = groups.abs().topk(2, dim=-1).indices
    a24 = (groups * torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)).reshape(m, k)
    if op == "mm":
        return (lambda: torch.mm(a, b)), None
    if op in ("cslt", "cslt-search"):
        c = torch._cslt_compress(a24)
        found = torch._cslt_sparse_mm_search(c, b) if op == "cslt-search" else None
        alg = None if found is None else int(found[0] if isinstance(found, (tuple, list)) else found)
        kw = {} if alg is None else {"alg_id": alg}
        return (lambda: torch._cslt_sparse_mm(c, b, **kw)), alg
    if op == "semi-mm":
        s = torch.sparse.to_sparse_semi_structured(a24)
        return (lambda: s @ b), None
    if op == "semi-linear":
        s = torch.sparse.to_sparse_semi_structured(a24)
        x = b.t().contiguous()
        return (lambda: torch.nn.functional.linear(x, s)), None
    if op == "csr":
        density, bits = call[4], call[5]
        mask = torch.rand(m, k, device=dev) < density
        csr = (a * mask).to_sparse_csr()
        if bits == 32:
            csr = torch.sparse_csr_tensor(csr.crow_indices().int(), csr.col_indices().int(), csr.values(), csr.shape)
        return (lambda: csr @ b), None
    if op == "scaled-mm-fp8":
        af = a.float()
        sa = (af.abs().amax(1, keepdim=True) / 448.0).clamp(min=1e-12)
        x = b.t().float()
        sb = (x.abs().amax(1, keepdim=True) / 448.0).clamp(min=1e-12)
        aq, xq = (af / sa).to(torch.float8_e4m3fn), (x / sb).to(torch.float8_e4m3fn)
        sb_row = sb.t().contiguous()
        return (lambda: torch._scaled_mm(aq, xq.t(), scale_a=sa, scale_b=sb_row, out_dtype=torch.bfloat16)), None
    if op == "cslt-int8":
        c = torch._cslt_compress((a24.float() / a24.float().abs().amax() * 127).round().to(torch.int8))
        xq = (b.t().float() / b.float().abs().amax() * 127).round().to(torch.int8)
        return (lambda: torch._cslt_sparse_mm(c, xq.t(), out_dtype=torch.bfloat16)), None
    if op == "int4pack-mm":  # tinygemm: int4 values 0..15, bf16 scale and zero per group
        q = torch.randint(0, 16, (m, k), device=dev, dtype=torch.int32)
        try:  # torch >= 2.5 packs two int4 per uint8 (high nibble first)
            packed = torch.ops.aten._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8), 8)
        except RuntimeError:  # older torch: int32 values
            packed = torch.ops.aten._convert_weight_to_int4pack(q, 8)
        sz = torch.stack([torch.rand(k // INT4_GROUP, m, device=dev) / 8 + 0.01,
                          torch.randn(k // INT4_GROUP, m, device=dev)], dim=-1).to(torch.bfloat16).contiguous()
        x = b.t().contiguous().to(torch.bfloat16)
        return (lambda: torch.ops.aten._weight_int4pack_mm(x, packed, INT4_GROUP, sz)), None
    raise ValueError(f"call {op}: unknown")


def trace_family(torch, family: str) -> tuple[bytes, dict, list]:
    """Profile the family's calls; (gzipped trace, size info, manifest entries)."""
    from records import exported_trace_gz
    from torch.profiler import ProfilerActivity, profile

    prepared, manifest = [], []
    for call in calls_of(family):
        try:
            fn, alg = make_call(torch, call)
            fn()  # plans, handles, lazy module loads: outside the trace
            torch.cuda.synchronize()
            prepared.append(fn)
            manifest.append(manifest_entry(call, alg) | {"repeats": 2})
        except Exception as exc:  # noqa: BLE001 - a call this build refuses: said in the manifest
            manifest.append(manifest_entry(call) | {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]})
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        for fn in prepared:
            for _ in range(2):
                fn()
        torch.cuda.synchronize()
    data, info = exported_trace_gz(prof, TRACE_BYTES)
    return data, info, manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder: traces.tar (appended)")
    parser.add_argument("--deadline-s", type=float, default=None)
    args = parser.parse_args(argv)
    tar = Path(args.out) / "traces.tar"
    tar.parent.mkdir(parents=True, exist_ok=True)
    have = set(tar_members(tar))
    todo = [f for f, _ in FAMILIES if f"atlas-{f}.json.gz" not in have]
    print(f"traces: {len(FAMILIES)} families, {len(FAMILIES) - len(todo)} already in {tar}", flush=True)
    if not todo:
        return 0
    from sparsim.validate.backends.torch_backend import torch_available

    ok, reason = torch_available()
    if not ok:
        print(f"traces: skipped: {reason}")
        return 3
    import torch
    about = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    status = "complete"
    for family in todo:
        if args.deadline_s is not None and time.perf_counter() - _T0 > args.deadline_s:
            status = "partial (deadline)"
            break
        try:
            data, info, calls = trace_family(torch, family)
        except Exception as exc:  # noqa: BLE001 - the profiler refused: the next family may work
            print(f"  atlas-{family}: failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        # the calls first, then the trace: a trace in the tar always has its calls beside it
        add_to_tar(tar, f"atlas-{family}.calls.json", json.dumps({**about, **info, "calls": calls}, indent=1).encode())
        add_to_tar(tar, f"atlas-{family}.json.gz", data)
        print(f"  atlas-{family}.json.gz: {info['events']} events, {info['bytes']} bytes", flush=True)
        torch.cuda.empty_cache()
    print(f"traces: {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
