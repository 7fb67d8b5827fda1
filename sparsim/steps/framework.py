"""What the framework does around the kernels: host work per call, and which kernels run.

Three execution modes (``MODES``) of the same step:

* ``eager``: PyTorch runs the model op by op. Before each kernel the host thread spends
  the host's ``kernel_call_s`` in Python, the dispatcher and the launch
  (:mod:`sparsim.steps.hosts`: 10.07 us measured on the H200 host, 17.32 us on the
  published reference host); a call that only makes a view costs ``VIEW_CALL_S``.
  Elementwise chains run as one kernel per PyTorch call (RMSNorm is 8).
  A library call with its own per-call set-up (cuSPARSELt's plan through
  ``torch._cslt_sparse_mm``: ``Prediction.overhead_s``) costs that instead when larger.
* ``cuda-graphs``: the same kernels captured once and replayed: one graph launch per step
  (the host's ``graph_launch_s``), no per-op host work; the GPU still pays each kernel's launch gap.
* ``compiled``: ``torch.compile(mode="reduce-overhead")`` as gpt-fast uses it: Inductor
  fuses each elementwise chain into one Triton kernel (RMSNorm; residual add + RMSNorm;
  rotary of q and k with the K/V-cache write; SiLU x mul; sampling), GEMMs and
  attention stay library kernels, and the whole step is replayed as a CUDA graph.

In every mode the Python generation loop runs its own few calls per step
(``StepOps.loop``: gpt-fast's ``decode_n_tokens`` increments the position and clones
the token).

>>> round(host_seconds(eager_kernels=8, eager_views=0, kernel_call_s=10.07e-6) * 1e6, 2)  # one RMSNorm, H200 host
80.56
>>> round(host_seconds(eager_kernels=8, eager_views=0, kernel_call_s=17.32e-6) * 1e6, 2)
138.56
>>> plan_groups(["a", "b", "b", None, "c"])
[[0], [1, 2], [3], [4]]
"""

from __future__ import annotations

__all__ = ["MODES", "VIEW_CALL_S", "MODULE_CALL_S", "host_seconds", "plan_groups"]

MODES = ("eager", "cuda-graphs", "compiled")

#: host seconds of an eager call that returns a view (no kernel): PyTorch operator
#: micro-benchmark of ``split`` on CUDA, 3.3-3.4 us forward (pytorch/pytorch PR #32194)
VIEW_CALL_S = 3.4e-6
#: host seconds of one ``nn.Module.__call__`` around its ``forward`` (hook checks):
#: ~2 us for an empty module (pytorch/pytorch PR #50431, "Making optimizations to
#: nn.module to reduce python overhead", measurements on master, 2021)
MODULE_CALL_S = 2.0e-6


def host_seconds(*, eager_kernels: int, eager_views: int, eager_modules: int = 0, library_host_s: float = 0.0,
                 inner_kernels: int = 0, kernel_call_s: float) -> float:
    """Host seconds eager mode spends on one operator's calls on a host whose eager
    kernel call costs ``kernel_call_s`` (the host's figure, :mod:`sparsim.steps.hosts`).
    A library call whose own per-call set-up is longer than the dispatch (cuSPARSELt plan
    set-up) costs that; ``inner_kernels`` are launched from C++ inside those calls: each
    costs the call less what a call without a kernel costs, ``kernel_call_s -
    VIEW_CALL_S`` (6.67 us on the H200 host; an estimate from the two sourced figures, the
    dispatcher's own share of ``VIEW_CALL_S`` left out)."""
    inner = max(0.0, kernel_call_s - VIEW_CALL_S)
    kernel_calls = eager_kernels * kernel_call_s + inner_kernels * inner
    if library_host_s > kernel_call_s:  # one of the calls is the library's, with its set-up
        kernel_calls += library_host_s - kernel_call_s
    return kernel_calls + eager_views * VIEW_CALL_S + eager_modules * MODULE_CALL_S


def plan_groups(fusions) -> list[list[int]]:
    """Indices of consecutive operators that fuse into one kernel: neighbours with the
    same (non-None) fusion label form one group; everything else stands alone."""
    groups: list[list[int]] = []
    last = object()
    for i, label in enumerate(fusions):
        if label is not None and label == last:
            groups[-1].append(i)
        else:
            groups.append([i])
        last = label
    return groups
