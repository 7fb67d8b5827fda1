"""Layer workloads of a study: the matrix multiplies of a network, listed shapes, or real weights.

A ``[[workloads]]`` table without ``model``/``config`` (those are whole-model workloads,
:mod:`~sparsim.studies.modelspec`) names the layers whose kernels the sweep predicts one
by one, from exactly one source::

    [[workloads]]
    network = "llama2-7b"            # a built-in network (sparsim.models.layers.NETWORKS)
    tokens = 1                       # N = batch x tokens (networks with images: no tokens)
    # layers = ["q_proj", "*mlp*"]   # optional: only these layers (names or globs)

    [[workloads]]
    name = "my shapes"
    shapes = [{name = "up", m = 11008, k = 4096, count = 32}]

    [[workloads]]
    weights = "model.safetensors"    # 2-D tensors of a file, pruned for real; relative to the study
    tensors = ["*.q_proj.weight"]

>>> from sparsim.speccheck import SpecChecker
>>> w = parse_workload(SpecChecker("study", "s.toml"), None, 0, {"network": "bert-base", "layers": ["query", "key"]})
>>> w.tokens, [(l.name, l.m, l.k) for l in w.layers], w.distinct_shapes()
(128, [('query', 768, 768), ('key', 768, 768)], {(768, 768, 128, None): 24})
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.layers import NETWORKS, Layer

__all__ = ["Workload", "parse_workload", "resolve_path", "WORKLOAD_KEYS"]

#: keys a layer workload may have
WORKLOAD_KEYS = ("name", "network", "shapes", "weights", "tensors", "layers", "tokens")
_SHAPE_KEYS = ("name", "m", "k", "count")


@dataclass(frozen=True)
class Workload:
    """Layers to sweep and the N per sample: ``N = batch · tokens · layer.n_per_sample``."""

    name: str
    title: str
    layers: tuple[Layer, ...]
    tokens: int
    source: str
    #: a .safetensors/.npy file the layers' patterns are pruned from (None: generated)
    weights_path: str | None = None

    def distinct_shapes(self) -> dict[tuple, int]:
        """What the sweep predicts once: (M, K, N per batch item, tensor) -> total count.

        Generated patterns depend only on the shape, so identical shapes (Llama's 32
        decoder layers) share one key; real weights differ per tensor, so they do not.
        """
        out: dict[tuple, int] = {}
        for layer in self.layers:
            key = (layer.m, layer.k, self.tokens * layer.n_per_sample,
                   layer.tensor if self.weights_path else None)
            out[key] = out.get(key, 0) + layer.count
        return out



def resolve_path(base: Path | None, value: str) -> str:
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


def parse_workload(c, base: Path | None, i: int, value: Any) -> Workload:
    key = f"workloads[{i}]"
    table = c.keys(key, value, WORKLOAD_KEYS)
    sources = [s for s in ("network", "shapes", "weights") if s in table]
    if len(sources) != 1:
        raise c.fail(key, sorted(table), "exactly one of network, shapes, weights")
    tokens_given = "tokens" in table
    tokens = c.whole(f"{key}.tokens", table.get("tokens", 1))
    weights_path = None

    if "network" in table:
        from ..models.layers import network

        name = table["network"]
        if not isinstance(name, str) or name not in NETWORKS:
            raise c.fail(f"{key}.network", name, ", ".join(NETWORKS))
        net = network(name)
        if net.spatial and tokens_given:
            raise c.fail(f"{key}.tokens", table["tokens"],
                         f"no tokens key for {name}: its N per image is already out_h x out_w")
        tokens = tokens if tokens_given else net.default_tokens
        layers, title, source = net.layers, net.title, net.source
        if name == "minilm-l6":
            from .weights import minilm_weights_path

            weights_path = minilm_weights_path(c.origin, f"{key}.network")
        label = table.get("name", name)
    elif "shapes" in table:
        layers = tuple(_shape(c, f"{key}.shapes[{j}]", s) for j, s in enumerate(c.nonempty_list(f"{key}.shapes", table["shapes"])))
        label = c.string(f"{key}.name", table.get("name", "custom"))
        title, source = label, f"shapes listed in {c.origin}"
    else:
        from .weights import weights_layers

        path = resolve_path(base, c.string(f"{key}.weights", table["weights"]))
        patterns = table.get("tensors", ["*"])
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
            raise c.fail(f"{key}.tensors", patterns, "a non-empty list of tensor names or globs")
        layers = weights_layers(path, patterns, c, f"{key}.tensors")
        weights_path = path
        label = c.string(f"{key}.name", table.get("name", Path(path).stem))
        title, source = label, f"2-D tensors of {path}"

    if "tensors" in table and "weights" not in table:
        raise c.fail(f"{key}.tensors", table["tensors"], "tensors only with a weights file")
    if "layers" in table:
        wanted = table["layers"]
        names = [layer.name for layer in layers]
        if not isinstance(wanted, list) or not wanted:
            raise c.fail(f"{key}.layers", wanted, "a non-empty list of layer names or globs")
        picked = []
        for pattern in wanted:
            hits = [layer for layer in layers if isinstance(pattern, str) and fnmatch.fnmatchcase(layer.name, pattern)]
            if not hits:
                raise c.fail(f"{key}.layers", pattern, ", ".join(names))
            picked += [h for h in hits if h not in picked]
        layers = tuple(picked)
    label = c.string(f"{key}.name", label)
    return Workload(name=label, title=title if "name" not in table else label, layers=tuple(layers),
                    tokens=tokens, source=source, weights_path=weights_path)


def _shape(c, key: str, value: Any) -> Layer:
    table = c.keys(key, value, _SHAPE_KEYS)
    for needed in ("m", "k"):
        if needed not in table:
            raise c.fail(f"{key}.{needed}", None, "a whole number >= 1 (required)")
    return Layer(
        name=c.string(f"{key}.name", table.get("name", f"{table['m']}x{table['k']}")),
        m=c.whole(f"{key}.m", table["m"]), k=c.whole(f"{key}.k", table["k"]), n_per_sample=1,
        count=c.whole(f"{key}.count", table.get("count", 1)),
    )
