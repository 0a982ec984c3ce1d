"""Final-training regularisers of the classification network: drop-path and the auxiliary head.

Both act in training mode only, so scoring, FLOP counting and export see the plain network, and
the GHN never generates the auxiliary head.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces import ClassificationSearchSpace, ImageNetMobileSearchSpace
from ghnas.structures.architecture import BlockArchitecture
from ghnas.utils.errors import GhnasError
from ghnas.utils.flops import count_flops

META = DatasetMetadata(num_classes=6, channels=3, image_size=8, mean=(0.5,) * 3, std=(0.2,) * 3)
# Two leaves: node 2 is the identity of input_prev, node 3 a conv over input_prevprev.
ARCH = BlockArchitecture(("identity", "conv_1x1"), ((0,), (1,)))


def cifar(size: int = 8, b: int = 3) -> ClassificationSearchSpace:
    meta = DatasetMetadata(6, 3, size, (0.5,) * 3, (0.2,) * 3)
    return ClassificationSearchSpace(num_nodes=4, num_blocks=b, init_channels=2, meta=meta)


def twin_networks(**kwargs):
    """Two networks of ARCH with identical weights."""
    torch.manual_seed(0)
    a = cifar().build_network(ARCH, **kwargs)
    torch.manual_seed(0)
    return a, cifar().build_network(ARCH, **kwargs)


def test_drop_path_off_or_in_eval_leaves_the_output_unchanged():
    plain, dropped = twin_networks()
    x = torch.randn(4, 3, 8, 8)
    assert dropped.drop_path_prob == 0.0
    dropped.drop_path_prob = 0.0
    assert torch.equal(plain(x), dropped(x))  # training mode, probability 0
    dropped.drop_path_prob = 0.5
    plain.eval(), dropped.eval()
    assert torch.equal(plain(x), dropped(x))  # evaluation mode, probability 0.5
    assert count_flops(dropped, (3, 8, 8)) == cifar().analytic_flops(ARCH)


def test_drop_path_in_training_drops_op_outputs_but_never_identities():
    plain, dropped = twin_networks()
    dropped.drop_path_prob = 0.7
    captured = {}
    block = dropped.blocks[1]
    block.input_prev.register_forward_hook(lambda m, i, out: captured.__setitem__("prev", out))
    block.register_forward_hook(lambda m, i, out: captured.__setitem__("block", out))
    x = torch.randn(16, 3, 8, 8)
    torch.manual_seed(1)
    assert not torch.equal(plain(x), dropped(x))
    channels = captured["prev"].shape[1]
    identity_part, conv_part = captured["block"].split(channels, dim=1)
    assert torch.equal(identity_part, captured["prev"])  # the identity leaf is never dropped
    dropped_samples = (conv_part.flatten(1) == 0).all(1)
    assert 0 < int(dropped_samples.sum()) < 16  # whole samples dropped, others kept (scaled)


def test_drop_path_probability_is_validated():
    net = cifar().build_network(ARCH)
    with pytest.raises(GhnasError, match=r"drop_path_prob must lie in \[0, 1\), got 1.0"):
        net.drop_path_prob = 1.0


@pytest.mark.parametrize("size", [8, 32])  # adaptive pooling at 4x4, 5x5/3 pooling at 16x16
def test_auxiliary_head_in_training_only(size):
    sp = cifar(size)
    arch = sp.sample(np.random.default_rng(size))
    torch.manual_seed(0)
    plain = sp.build_network(arch)
    torch.manual_seed(0)
    net = sp.build_network(arch, auxiliary=True)
    assert net.auxiliary_block == 1  # the block before the last reduction (2B/3 = 2)
    x = torch.randn(3, 3, size, size)
    logits, aux_logits = net(x)
    assert logits.shape == aux_logits.shape == (3, 6)
    assert torch.equal(logits, plain(x))
    (F.cross_entropy(logits, torch.zeros(3, dtype=torch.long)) + 0.5 * aux_logits.sum()).backward()
    assert all(p.grad is not None for p in net.auxiliary_head.parameters())
    net.eval(), plain.eval()
    out = net(x)
    assert isinstance(out, torch.Tensor) and torch.equal(out, plain(x))
    names = net.generated_parameter_names()
    assert names == plain.generated_parameter_names() == list(sp.generated_parameter_shapes(arch))
    assert not any(name.startswith("auxiliary_head") for name in names)
    assert count_flops(net, sp.input_shape) == count_flops(plain, sp.input_shape)


def test_auxiliary_head_sits_at_two_thirds_of_imagenet_mobile():
    sp = ImageNetMobileSearchSpace(num_nodes=2, num_blocks=14, init_channels=2, meta=META)
    net = sp.build_network(sp.sample(np.random.default_rng(0)), auxiliary=True)
    assert net.auxiliary_block == 9  # just before the reduction at block 10
    logits, aux_logits = net.train()(torch.randn(3, 3, 8, 8))  # a pair, not a batch of logits
    assert logits.shape == aux_logits.shape == (3, 6)


def test_too_few_blocks_for_an_auxiliary_head_is_an_error():
    with pytest.raises(GhnasError, match="no block before the last reduction"):
        cifar(b=1).build_network(ARCH, auxiliary=True)
