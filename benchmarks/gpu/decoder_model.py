"""The decoder a decode step runs, in plain torch: random weights, 2:4 weights, one step
over static buffers (so a CUDA graph can capture it), the step clock and a profiler trace.

Used by :mod:`decoder_step` (the configuration, plan and stage live there). The shape is
a :class:`decoder_step.DecoderConfig`; nothing is downloaded. Without torch this module
imports, and its functions raise ImportError when called:

>>> callable(make_weights) and LINEAR_NAMES
('wqkv', 'wo', 'w13', 'w2')
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import exported_trace_gz  # noqa: E402


def _torch():
    import torch

    return torch


def make_weights(cfg, device, seed: int = 0) -> dict:
    """Random weights on ``device`` (never zero-filled), scaled 1/sqrt(fan-in)."""
    torch = _torch()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[cfg.dtype]
    gen = torch.Generator(device=device).manual_seed(seed)

    def rand(rows, cols):
        return torch.randn(rows, cols, generator=gen, device=device, dtype=dtype) * (cols ** -0.5)

    def norm():
        return 1.0 + 0.1 * torch.randn(cfg.hidden, generator=gen, device=device, dtype=dtype)

    qkv_rows = (cfg.heads + 2 * cfg.kv_heads) * cfg.head_dim
    layers = [{"attn_norm": norm(), "wqkv": rand(qkv_rows, cfg.hidden),
               "wo": rand(cfg.hidden, cfg.heads * cfg.head_dim), "mlp_norm": norm(),
               "w13": rand(2 * cfg.intermediate, cfg.hidden), "w2": rand(cfg.hidden, cfg.intermediate)}
              for _ in range(cfg.layers)]
    return {"emb": rand(cfg.vocab, cfg.hidden) * cfg.hidden ** 0.5, "norm": norm(),
            "lm_head": rand(cfg.vocab, cfg.hidden), "layers": layers, "dtype": dtype}


LINEAR_NAMES = ("wqkv", "wo", "w13", "w2")


def prune_2_4(weight):
    """Keep the 2 largest magnitudes of each group of 4 along K (the last dimension)."""
    torch = _torch()
    groups = weight.reshape(weight.shape[0], -1, 4)
    keep = groups.abs().topk(2, dim=-1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)
    return (groups * mask).reshape(weight.shape)


def sparse_weights(weights: dict) -> tuple[dict, str]:
    """The layers' linears as semi-structured 2:4 tensors (the dense ones are kept)."""
    torch = _torch()
    layers, kind = [], ""
    for layer in weights["layers"]:
        out = dict(layer)
        for name in LINEAR_NAMES:
            out[name] = torch.sparse.to_sparse_semi_structured(prune_2_4(layer[name]))
            kind = type(out[name]).__name__
        layers.append(out)
    return {**weights, "layers": layers}, kind


class DecodeStep:
    """One decode step over static buffers (tokens, KV cache), so it can be captured in a CUDA graph."""

    def __init__(self, cfg, weights: dict, batch: int, context: int, device):
        torch = _torch()
        self.cfg, self.w, self.batch, self.context = cfg, weights, batch, context
        dtype = weights["dtype"]
        gen = torch.Generator(device=device).manual_seed(1)
        shape = (batch, cfg.kv_heads, context, cfg.head_dim)
        # cached K/V of the context already seen: random, never zeros
        self.k_cache = [torch.randn(shape, generator=gen, device=device, dtype=dtype) for _ in range(cfg.layers)]
        self.v_cache = [torch.randn(shape, generator=gen, device=device, dtype=dtype) for _ in range(cfg.layers)]
        self.tokens = torch.randint(0, cfg.vocab, (batch,), generator=gen, device=device)
        self.pos = context - 1  # the new token's position: it attends to all `context` tokens
        inv = 1.0 / (10000.0 ** (torch.arange(0, cfg.head_dim, 2, device=device, dtype=torch.float32) / cfg.head_dim))
        angle = self.pos * inv
        self.cos = torch.cat([angle.cos(), angle.cos()]).to(dtype)
        self.sin = torch.cat([angle.sin(), angle.sin()]).to(dtype)
        self.gqa = cfg.kv_heads != cfg.heads

    def _norm(self, x, weight):
        torch = _torch()
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.cfg.eps)).type_as(x) * weight

    def _rotary(self, x):
        half = x.shape[-1] // 2
        rotated = _torch().cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos + rotated * self.sin

    def __call__(self):
        torch = _torch()
        F = torch.nn.functional
        cfg, b, hd = self.cfg, self.batch, self.cfg.head_dim
        x = F.embedding(self.tokens, self.w["emb"])
        for i, layer in enumerate(self.w["layers"]):
            h = self._norm(x, layer["attn_norm"])
            q, k, v = F.linear(h, layer["wqkv"]).split(
                [cfg.heads * hd, cfg.kv_heads * hd, cfg.kv_heads * hd], dim=-1)
            q = self._rotary(q.reshape(b, cfg.heads, 1, hd))
            k = self._rotary(k.reshape(b, cfg.kv_heads, 1, hd))
            self.k_cache[i][:, :, self.pos:self.pos + 1].copy_(k)
            self.v_cache[i][:, :, self.pos:self.pos + 1].copy_(v.reshape(b, cfg.kv_heads, 1, hd))
            kw = {"enable_gqa": True} if self.gqa else {}
            attn = F.scaled_dot_product_attention(q, self.k_cache[i], self.v_cache[i], **kw)
            x = x + F.linear(attn.reshape(b, cfg.heads * hd), layer["wo"])
            h = self._norm(x, layer["mlp_norm"])
            gate, up = F.linear(h, layer["w13"]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, layer["w2"])
        logits = F.linear(self._norm(x, self.w["norm"]), self.w["lm_head"])
        self.tokens.copy_(logits.argmax(dim=-1))
        return logits


class CaptureError(RuntimeError):
    """A CUDA-graph capture was refused: the other points of that mode and format are not tried."""


class Clock:
    """Step times: CUDA events between back-to-back steps on a GPU, perf_counter on the CPU."""

    def __init__(self, device):
        self.torch = _torch()
        self.cuda = getattr(device, "type", str(device)) == "cuda"

    def run(self, fn, n: int) -> tuple[list[float], list[float]]:
        """(device times per step, host enqueue times per step) of ``n`` back-to-back calls."""
        torch = self.torch
        host = []
        if not self.cuda:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return times, times
        events = [torch.cuda.Event(enable_timing=True) for _ in range(n + 1)]
        torch.cuda.synchronize()
        events[0].record()
        for i in range(n):
            t0 = time.perf_counter()
            fn()
            host.append(time.perf_counter() - t0)
            events[i + 1].record()
        events[-1].synchronize()
        return [events[i].elapsed_time(events[i + 1]) / 1e3 for i in range(n)], host


def capture(step: DecodeStep):
    """One step captured in a CUDA graph (after warm-up steps on a side stream, as the
    torch.cuda.graphs documentation asks); returns the graph's replay."""
    torch = _torch()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            step()
        torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - said with the point
        raise CaptureError(f"capture refused: {type(exc).__name__}: {exc}") from exc
    return graph


def profile_one(fn, cuda: bool, max_bytes: int) -> tuple[bytes, dict]:
    """A torch.profiler trace (record_shapes) of one call, gzipped and trimmed to ``max_bytes``."""
    torch = _torch()
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, record_shapes=True) as prof:
        fn()
        if cuda:
            torch.cuda.synchronize()
    return exported_trace_gz(prof, max_bytes)
