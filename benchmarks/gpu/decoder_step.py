"""Measured decode steps of a Llama-shaped decoder (collect.sh's ``decoder`` stage), plain torch.

The model is Llama-2-7B's shape (hidden 4096, 32 heads of 128, MLP 11008, 32 layers,
vocabulary 32000: its Hugging Face ``config.json``) with random fp16 weights made on the
device: nothing is downloaded. One decode step is what gpt-fast's ``decode_one_token``
runs: embedding; per layer RMSNorm, a fused QKV projection, rotary, the new K/V written
into a static KV cache, attention of one query over ``context`` cached tokens (SDPA),
the output projection, residual, RMSNorm, a fused gate/up projection, SiLU x up, the down
projection, residual; final norm, lm_head and a greedy argmax fed back as the next token.
Linear layers are dense, or 2:4 (pruned to the 2 largest of each 4 along K, then
``torch.sparse.to_sparse_semi_structured``); the lm_head stays dense.

Each point (batch x context x mode x linear format) is timed with CUDA events between
back-to-back steps (eager: the Python loop; ``cuda-graphs``: one captured step replayed);
warm-up steps are timed and kept apart; the host's enqueue time per step is recorded;
telemetry (clocks, power) comes from NVML when it is there. Records go to
``decoder.jsonl`` as they are measured (:mod:`records`); a second run measures only what
is missing. One ``torch.profiler`` trace of an eager step per format goes into
``traces.tar``.

    python benchmarks/gpu/decoder_step.py --out DIR --deadline-s 150 --hw h200-sxm-141gb
    python benchmarks/gpu/decoder_step.py --out DIR --device cpu --config tiny   # any machine with torch

The configuration and the plan need no torch:

>>> cfg = CONFIGS["llama2-7b"]
>>> cfg.kv_cache_bytes(batch=64, context=2048) / 2**30
64.0
>>> round(cfg.linear_params() * cfg.layers / 1e9, 2)
6.48
>>> len(points(cfg, (1, 8, 64), (512, 2048), ("eager", "cuda-graphs"), ("dense", "2:4")))
24
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decoder_model import (CaptureError, Clock, DecodeStep, _torch, capture, make_weights, profile_one,  # noqa: E402
                           sparse_weights)
from records import add_to_tar, done_keys, profiles_in, step_key, step_record  # noqa: E402


@dataclass(frozen=True)
class DecoderConfig:
    """The shape of a decoder-only transformer (Hugging Face config.json names in comments)."""

    model: str
    layers: int          # num_hidden_layers
    hidden: int          # hidden_size
    heads: int           # num_attention_heads
    kv_heads: int        # num_key_value_heads
    head_dim: int        # hidden_size / num_attention_heads
    intermediate: int    # intermediate_size
    vocab: int           # vocab_size
    dtype: str = "fp16"
    eps: float = 1e-5    # rms_norm_eps

    @property
    def dtype_bytes(self) -> int:
        return {"fp16": 2, "bf16": 2, "fp32": 4}[self.dtype]

    def kv_cache_bytes(self, batch: int, context: int) -> int:
        """2 (K and V) x layers x kv_heads x head_dim x context x batch x bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * context * batch * self.dtype_bytes

    def linear_params(self) -> int:
        """Weights of one layer's linears: QKV, output, gate/up, down."""
        qkv = (self.heads + 2 * self.kv_heads) * self.head_dim * self.hidden
        return qkv + self.hidden * self.heads * self.head_dim + 3 * self.hidden * self.intermediate

    def weight_bytes(self) -> int:
        """Dense weights: the layers' linears and norms, embedding, lm_head, final norm."""
        per_layer = self.linear_params() + 2 * self.hidden
        return (self.layers * per_layer + 2 * self.vocab * self.hidden + self.hidden) * self.dtype_bytes


CONFIGS = {
    # meta-llama/Llama-2-7b-hf config.json: hidden_size 4096, intermediate_size 11008,
    # num_hidden_layers 32, num_attention_heads 32, num_key_value_heads 32, vocab_size 32000
    "llama2-7b": DecoderConfig("llama2-7b", 32, 4096, 32, 32, 128, 11008, 32000),
    # a CPU-sized model with the same structure (GQA included) for tests
    "tiny": DecoderConfig("tiny", 2, 64, 4, 2, 16, 160, 256, dtype="fp32"),
}
MODES = ("eager", "cuda-graphs")
LINEARS = ("dense", "2:4")


def points(cfg: DecoderConfig, batches, contexts, modes, linears) -> list[tuple[int, int, str, str]]:
    """(batch, context, mode, linear) in measuring order: small problems first, each
    configuration in every mode and format before the next, so a stage cut by its deadline
    has dense and 2:4, eager and graphs, of what it measured; CUDA-graph captures of 2:4
    steps (the path most likely to be refused) come last."""
    every = [(b, c, mode, linear) for c in sorted(contexts) for b in sorted(batches)
             for mode in modes for linear in linears]
    risky = [p for p in every if p[2] == "cuda-graphs" and p[3] == "2:4"]
    return [p for p in every if p not in risky] + risky


# -- the stage ---------------------------------------------------------------------------
_T0 = time.perf_counter()  # the deadline counts from the start of the process (imports included)
TRACE_BYTES = 5 * 2**19  # 2.5 MiB: two of these and five atlas traces stay under the 16 MiB a returned file may have


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:400]


def trace_name(linear: str, batch: int, context: int, mode: str) -> str:
    """The trace's name inside traces.tar.

    >>> trace_name("2:4", 1, 512, "eager")
    'decoder-2of4-eager-b1-c512.json.gz'
    """
    return f"decoder-{linear.replace(':', 'of')}-{mode}-b{batch}-c{context}.json.gz"


def measure_point(cfg, weights, batch, context, mode, linear, device, telemetry, tar: Path | None,
                  trace_point=(1, 512, "eager")) -> dict:
    """Time one (batch, context, mode, linear) point; every failure becomes the record's error.
    At ``trace_point`` (batch, context, mode) one more step is traced into ``tar``."""
    torch = _torch()
    cuda = device.type == "cuda"
    clock = Clock(device)
    fields: dict = {"times_s": (), "warmup_times_s": (), "host_times_s": (), "telemetry": (), "error": None}
    extra = {"kv_cache_bytes": cfg.kv_cache_bytes(batch, context), "weight_bytes_dense": cfg.weight_bytes()}
    if cuda:
        free, total = torch.cuda.mem_get_info(device)
        free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)  # cached, reusable
        need = extra["kv_cache_bytes"] + 4 * batch * (cfg.vocab + 2 * cfg.intermediate) * 4 + (512 << 20)
        if need > free:
            fields["error"] = (f"does not fit: the KV cache and activations need {need / 2**30:.1f} GiB, "
                               f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB with the weights resident")
            return fields | {"extra": extra}
        torch.cuda.reset_peak_memory_stats(device)
    step = graph = fn = None
    try:
        step = DecodeStep(cfg, weights, batch, context, device)
        logits = step()
        if not bool(torch.isfinite(logits.float()).all()):
            raise ValueError("non-finite logits from the first step")
        del logits
        if mode == "cuda-graphs":
            graph = capture(step)
            fn = graph.replay
        else:
            fn = step
        warm, _ = clock.run(fn, 3)
        n = min(30, max(5, int(0.4 / max(sorted(warm)[1], 1e-5))))
        samples = [_sample(telemetry)]
        times, host = clock.run(fn, n)
        samples.append(_sample(telemetry))
        fields.update(times_s=times, warmup_times_s=warm, host_times_s=host, telemetry=samples)
        extra["tokens_valid"] = bool(((step.tokens >= 0) & (step.tokens < cfg.vocab)).all())
        if tar is not None and (batch, context, mode) == tuple(trace_point):
            name = trace_name(linear, batch, context, mode)
            data, info = profile_one(fn, cuda, TRACE_BYTES)
            add_to_tar(tar, name, data)
            extra["trace"] = {"file": f"traces.tar:{name}", **info}
        if cuda:
            extra["max_memory_allocated"] = int(torch.cuda.max_memory_allocated(device))
    except CaptureError as exc:
        fields["error"], fields["capture_refused"] = _short(exc), True
    except Exception as exc:  # noqa: BLE001 - out of memory, a library refusal, ...: recorded with the point
        fields["error"] = _short(exc)
    finally:
        del step, graph, fn
        if cuda:
            try:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
            except Exception:  # noqa: BLE001 - a broken context: main() checks and stops
                pass
    return fields | {"extra": extra}


def _sample(telemetry) -> dict:
    """One NVML reading, or nothing (no telemetry, or NVML refused this once)."""
    if telemetry is None:
        return {}
    try:
        return telemetry.sample()
    except Exception:  # noqa: BLE001
        return {}


def refused_captures(path: Path) -> dict:
    """(mode, linear) -> why, for captures an earlier run of this stage saw refused, so a
    resumed run does not try (and maybe break its CUDA context on) the same path again.

    >>> import tempfile, json
    >>> f = Path(tempfile.mkdtemp()) / "decoder.jsonl"
    >>> _ = f.write_text(json.dumps({"type": "measurement", "key": "k1", "mode": "cuda-graphs", "linear": "2:4",
    ...                              "error": "CaptureError: capture refused: RuntimeError: x"}))
    >>> refused_captures(f)
    {('cuda-graphs', '2:4'): 'k1 failed (CaptureError: capture refused: RuntimeError: x)'}
    """
    import json

    out: dict = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "capture refused" in str(record.get("error") or "") and not record["error"].startswith("not tried"):
                out.setdefault((record.get("mode"), record.get("linear")), f"{record['key']} failed ({record['error']})")
    return out


def _device_info(telemetry, note) -> dict:
    if telemetry is None:
        return {"telemetry": note}
    try:
        return {"nvml": telemetry.device_info()}
    except Exception as exc:  # noqa: BLE001 - NVML answered sample() but not this
        return {"telemetry": f"device_info failed: {exc}"}


def _cuda_healthy(torch) -> bool:
    """Whether the CUDA context still runs work after a failed point (a failed capture can poison it)."""
    try:
        torch.cuda.synchronize()
        return float(torch.ones(1, device="cuda").add_(1).item()) == 2.0
    except Exception:  # noqa: BLE001
        return False


def _versions(torch) -> dict:
    out = {"torch": torch.__version__, "cuda": torch.version.cuda}
    try:
        out["cusparselt"] = torch.backends.cusparselt.version()
    except Exception:  # noqa: BLE001 - absent in this build
        out["cusparselt"] = None
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder: decoder.jsonl (appended, resumed) and traces.tar")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--config", default=None, choices=sorted(CONFIGS), help="default: llama2-7b (cuda), tiny (cpu)")
    parser.add_argument("--layers", type=int, default=None, help="fewer layers than the config's (say so in the data)")
    parser.add_argument("--batches", default=None, help="default: 1,8,64 (cuda), 1,2 (cpu)")
    parser.add_argument("--contexts", default=None, help="default: 512,2048 (cuda), 16,64 (cpu)")
    parser.add_argument("--deadline-s", type=float, default=None)
    parser.add_argument("--hw", default=None, help="profile name recorded with each point")
    parser.add_argument("--no-trace", action="store_true")
    args = parser.parse_args(argv)
    cuda = args.device == "cuda"
    from dataclasses import replace

    cfg = CONFIGS[args.config or ("llama2-7b" if cuda else "tiny")]
    if args.layers:
        cfg = replace(cfg, layers=args.layers)
    batches = [int(x) for x in (args.batches or ("1,8,64" if cuda else "1,2")).split(",")]
    contexts = [int(x) for x in (args.contexts or ("512,2048" if cuda else "16,64")).split(",")]
    plan = points(cfg, batches, contexts, MODES if cuda else ("eager",), LINEARS if cuda else ("dense",))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, tar = out / "decoder.jsonl", None if args.no_trace else out / "traces.tar"
    done = done_keys(results)
    todo = [p for p in plan if step_key(cfg.model, cfg.layers, p[0], p[1], p[2], p[3], cfg.dtype) not in done]
    print(f"decoder {cfg.model} ({cfg.layers} layers, {cfg.dtype}) on {args.device}: {len(plan)} points, "
          f"{len(plan) - len(todo)} already in {results}, {len(todo)} to measure", flush=True)
    if not todo:
        return 0
    try:
        torch = _torch()
    except ImportError as exc:
        print(f"decoder: skipped: torch not importable ({exc})")
        return 3
    if cuda and not torch.cuda.is_available():
        print("decoder: error: --device cuda: torch sees no CUDA GPU; allowed: a GPU machine, or --device cpu",
              file=sys.stderr)
        return 2
    from plan import detect_profile, slug
    from sparsim.validate.backends.base import now_iso
    from sparsim.validate.results import ResultsWriter

    device = torch.device(args.device, 0) if cuda else torch.device("cpu")
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    hw = args.hw or (detect_profile(name) or slug(name) if cuda else "host")
    other = profiles_in(results) - {hw}
    if other:
        print(f"decoder: error: --out: {results} was measured on {sorted(other)[0]}, this run is {hw}; "
              "allowed: the same device, or another --out", file=sys.stderr)
        return 2
    telemetry, note = (None, "cpu")
    if cuda:
        from sparsim.validate.telemetry import Telemetry

        telemetry, note = Telemetry.open(device.index or 0)
    weights = make_weights(cfg, device)
    sparse, sparse_kind, refused = None, "", refused_captures(results)
    counts = {"ok": 0, "error": 0}
    status = "complete"
    with ResultsWriter(results) as writer:
        writer.write({"type": "run", "stage": "decoder", "started": now_iso(), "hw": hw, "device": name,
                      "versions": _versions(torch), "config": asdict(cfg), "planned": len(plan),
                      "already_done": len(plan) - len(todo),
                      **_device_info(telemetry, note)})
        for batch, context, mode, linear in todo:
            if args.deadline_s is not None and time.perf_counter() - _T0 > args.deadline_s:
                status = "partial (deadline)"
                break
            if linear == "2:4" and sparse is None and "2:4" not in refused:
                t0 = time.perf_counter()
                try:
                    sparse, sparse_kind = sparse_weights(weights)
                    print(f"  2:4 weights ({sparse_kind}) in {time.perf_counter() - t0:.1f} s", flush=True)
                except Exception as exc:  # noqa: BLE001 - the dense points go on
                    refused["2:4"] = f"not tried: to_sparse_semi_structured of the weights failed: {_short(exc)}"
            if linear in refused:
                fields = {"error": refused[linear]}
            elif (mode, linear) in refused:
                fields = {"error": f"not tried: the CUDA-graph capture of {refused[mode, linear]}"}
            else:
                fields = measure_point(cfg, weights if linear == "dense" else sparse, batch, context, mode, linear,
                                       device, telemetry, tar, (min(batches), min(contexts), "eager"))
            if fields.pop("capture_refused", False):
                refused[mode, linear] = f"{step_key(cfg.model, cfg.layers, batch, context, mode, linear, cfg.dtype)} " \
                                        f"failed ({fields['error']})"
            library = f"torch {torch.__version__} {mode}, F.linear on " + (
                "dense weights" if linear == "dense" else f"{sparse_kind} (to_sparse_semi_structured)")
            record = step_record(config=asdict(cfg), batch=batch, context=context, mode=mode, linear=linear, hw=hw,
                                 device=name, library=library, timestamp=now_iso(), **fields)
            writer.write(record)
            counts[record["status"]] += 1
            shown = f"{record['time_s'] * 1e3:.2f} ms" if record["status"] == "ok" else record["error"]
            print(f"  {record['key']}: {shown}", flush=True)
            if record["status"] != "ok" and cuda and not _cuda_healthy(torch):
                print(f"decoder: the CUDA context is broken after {record['key']}; stopping (exit 4: "
                      "run the stage again to resume in a fresh process)", flush=True)
                return 4
    if telemetry is not None:
        telemetry.close()
    print(f"decoder: {status}: {counts['ok']} ok, {counts['error']} failed this run", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
