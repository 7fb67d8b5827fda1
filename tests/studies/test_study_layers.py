"""Built-in network layers: GEMM shapes as the models' published configs give them."""

import pytest

from sparsim.errors import SparsimError
from sparsim.models.layers import NETWORKS, network


def test_llama2_7b_has_the_config_shapes_repeated_32_times():
    layers = {l.name: (l.m, l.k, l.count) for l in network("llama2-7b").layers}
    assert layers == {
        "q_proj": (4096, 4096, 32), "k_proj": (4096, 4096, 32), "v_proj": (4096, 4096, 32),
        "o_proj": (4096, 4096, 32), "gate_proj": (11008, 4096, 32), "up_proj": (11008, 4096, 32),
        "down_proj": (4096, 11008, 32), "lm_head": (32000, 4096, 1),
    }


def test_llama2_7b_linear_weights_and_distinct_shapes():
    llama = network("llama2-7b")
    # 4·4096²·32 + 3·11008·4096·32 + 32000·4096: the 6.61 B weights of the linear layers
    assert llama.weight_count() == 6_607_077_376
    assert llama.distinct_shapes() == {(4096, 4096, 1): 128, (11008, 4096, 1): 64,
                                       (4096, 11008, 1): 32, (32000, 4096, 1): 1}


def test_bert_base_linear_weights():
    # 12 · (4·768² + 2·768·3072) + the 768² pooler
    assert network("bert-base").weight_count() == 85_524_480
    assert network("bert-base").default_tokens == 128


def test_resnet50_convolutions_are_implicit_gemms():
    r50 = network("resnet50")
    convs = [l for l in r50.layers if l.kind == "conv"]
    assert sum(l.count for l in convs) == 53
    by_name = {l.name: l for l in r50.layers}
    conv1 = by_name["conv1"]  # 64 filters of 3x7x7, stride 2 -> 112x112
    assert (conv1.m, conv1.k, conv1.n_per_sample) == (64, 3 * 7 * 7, 112 * 112)
    strided = by_name["layer2.0.conv2"]  # 3x3, stride 2: 56x56 in, 28x28 out
    assert (strided.m, strided.k, strided.n_per_sample) == (128, 128 * 9, 28 * 28)
    assert by_name["layer4.1-2.conv3"].count == 2
    # conv + fc weights of torchvision's resnet50 (25.56 M parameters minus BN and biases)
    assert r50.weight_count() == 25_502_912


def test_minilm_layers_name_their_safetensors_tensors():
    layers = network("minilm-l6").layers
    assert len(layers) == 36
    assert layers[4].tensor == "encoder.layer.0.intermediate.dense.weight"
    assert (layers[4].m, layers[4].k) == (1536, 384)


def test_unknown_network_names_the_choices():
    with pytest.raises(SparsimError, match="network: got 'gpt5'; allowed: " + ", ".join(NETWORKS)):
        network("gpt5")
