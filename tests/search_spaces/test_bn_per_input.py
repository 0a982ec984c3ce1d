"""Each input of a node has its own BatchNorm, so evaluation mode matches training mode after
precise BN (one BN pooled over inputs with different statistics would not)."""

import numpy as np
import pytest
import torch
from fvcore.nn.precise_bn import update_bn_stats

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces import ClassificationSearchSpace
from ghnas.structures.architecture import BlockArchitecture

# Every op node reads two inputs (the parametrised ops and a pooling), so every op's BN would
# see two populations.
TWO_INPUT_BLOCK = BlockArchitecture(
    ops=("sep_conv_3x3", "dil_conv_3x3", "conv_1x1", "conv_1x7_7x1", "max_pool_3x3"),
    parents=((0, 1), (1, 2), (0, 3), (2, 4), (3, 5)),
)


def space(num_nodes: int) -> ClassificationSearchSpace:
    meta = DatasetMetadata(num_classes=10, channels=3, image_size=8, mean=(0.5,) * 3,
                           std=(0.25,) * 3)  # fmt: skip
    return ClassificationSearchSpace(num_nodes=num_nodes, num_blocks=3, init_channels=4,
                                     meta=meta)  # fmt: skip


def network(arch):
    torch.manual_seed(0)
    return space(arch.num_nodes).build_network(arch)


def test_eval_mode_equals_train_mode_after_precise_bn():
    net = network(TWO_INPUT_BLOCK)
    torch.manual_seed(1)
    # Inputs of a node differ in scale and offset, as real node states do.
    x = torch.randn(256, 3, 8, 8) * 3 + 1
    net.train()
    with torch.no_grad():
        update_bn_stats(net, [x], num_iters=1)  # fvcore refuses a BN that runs twice
        train_logits = net(x)
        eval_logits = net.eval()(x)
    gap = (eval_logits - train_logits).norm() / train_logits.norm()
    assert gap < 1e-3, float(gap)


def test_every_input_has_its_own_bn_and_the_weights_are_shared():
    net = network(TWO_INPUT_BLOCK)
    node = net.blocks[0].nodes[0]  # sep_conv_3x3 with two inputs
    assert len(node.bn1) == len(node.bn2) == 2
    names = net.generated_parameter_names()
    assert "blocks.0.nodes.0.dw1.weight" in names  # one convolution weight for both inputs
    assert not any(".bn" in name for name in names)  # BN is never generated


@pytest.mark.parametrize("seed", range(3))
def test_each_bn_runs_once_per_forward(seed):
    """fvcore's precise BN asserts it; random blocks (one or two inputs per node) pass."""
    net = network(space(5).sample(np.random.default_rng(seed))).train()
    update_bn_stats(net, [torch.randn(8, 3, 8, 8)], num_iters=1)
