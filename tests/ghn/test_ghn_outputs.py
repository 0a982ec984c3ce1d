"""A GHN generates exactly the parameters of the candidate network, and learns through all of it.

The GHN is built for a classification space at N=7 (F=8, B=3, as it is trained) and then asked
for the weights of blocks with 1, 7 and 17 nodes (as it ranks): names and shapes must be those of
``space.build_network(arch).generated_parameter_names()``, the network must run on them, and a
loss through an architecture using every op must reach every GHN parameter.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn import build_ghn
from ghnas.layers.classification_ops import CLASSIFICATION_OPS
from ghnas.search_spaces import ClassificationSearchSpace
from ghnas.structures.architecture import BlockArchitecture
from ghnas.utils.errors import GhnasError

META = DatasetMetadata(num_classes=5, channels=3, image_size=8, mean=(0.5,) * 3, std=(0.2,) * 3)
WIDTH, BLOCKS = 8, 3
VARIANTS = ["ghn", "ghn_shared_branch"]


def space_at(num_nodes: int, init_channels: int = WIDTH) -> ClassificationSearchSpace:
    return ClassificationSearchSpace(
        num_nodes=num_nodes, num_blocks=BLOCKS, init_channels=init_channels, meta=META
    )


def small_ghn(name: str, *, separate_backward: bool = False):
    cfg = get_cfg()
    cfg.MODEL.INIT_CHANNELS = WIDTH
    cfg.SEARCH_SPACE.NUM_BLOCKS = BLOCKS
    cfg.GHN.NAME = name
    cfg.GHN.NUM_PASSES = 1
    cfg.GHN.HIDDEN_SIZE = 8
    cfg.GHN.MESSAGE_HIDDEN_SIZE = 8
    cfg.GHN.HYPERNET_HIDDEN_SIZE = 8
    cfg.GHN.SEPARATE_BACKWARD_MESSAGE = separate_backward
    torch.manual_seed(0)
    return build_ghn(cfg, space_at(7))


def every_op_architecture() -> BlockArchitecture:
    """All nine ops; nodes with one and with two inputs; both inputs read; several leaves."""
    ops = tuple(CLASSIFICATION_OPS)
    assert len(ops) == 9
    parents = ((0, 1), (2,), (0, 3), (1,), (4, 5), (2, 3), (6,), (7, 8), (1, 9))
    return BlockArchitecture(ops, parents)


def images(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, META.channels, META.image_size, META.image_size)


@pytest.mark.parametrize("name", VARIANTS)
def test_generated_names_and_shapes_match_the_network(name):
    ghn = small_ghn(name)
    rng = np.random.default_rng(0)
    for n in (1, 7, 17):
        space = space_at(n)
        archs = [space.sample(rng) for _ in range(2)]
        with torch.no_grad():
            generated = ghn.generate(space, archs)
        assert len(generated) == len(archs)
        for arch, params in zip(archs, generated):
            net = space.build_network(arch)
            expected = dict(net.named_parameters())
            names = net.generated_parameter_names()
            assert list(params) == names
            # Everything but BN affine is generated; nothing else.
            bn_affine = {
                f"{prefix}.{k}"
                for prefix, module in net.named_modules()
                if isinstance(module, torch.nn.BatchNorm2d)
                for k in ("weight", "bias")
            }
            assert set(names) == set(expected) - bn_affine
            for key, value in params.items():
                assert value.shape == expected[key].shape, key
                assert torch.isfinite(value).all(), key
            net.train()
            logits = functional_call(net, params, (images(),), strict=False)
            assert logits.shape == (3, META.num_classes)
            assert torch.isfinite(logits).all()


def test_architectures_get_different_weights():
    """Generated weights depend on the architecture (not one fixed set for every graph).

    The stem is stacked module 0: nothing flows into it, so its weights are the same for every
    architecture; the classifier comes last and reads the embedding of the whole network.
    """
    ghn = small_ghn("ghn")
    space = space_at(7)
    rng = np.random.default_rng(1)
    a, b = space.sample(rng), space.sample(rng)
    assert a.canonical_hash != b.canonical_hash
    with torch.no_grad():
        pa, pb = ghn.generate(space, [a, b])
    torch.testing.assert_close(pa["stem.conv.weight"], pb["stem.conv.weight"])
    assert not torch.allclose(pa["classifier.bias"], pb["classifier.bias"])


@pytest.mark.parametrize("separate_backward", [False, True], ids=["same_m", "separate_m"])
@pytest.mark.parametrize("name", VARIANTS)
def test_gradients_reach_every_ghn_parameter(name, separate_backward):
    ghn = small_ghn(name, separate_backward=separate_backward)
    space = space_at(9)
    arch = every_op_architecture()
    net = space.build_network(arch)
    params = ghn.generate(space, [arch])[0]
    labels = torch.arange(3) % META.num_classes
    loss = F.cross_entropy(functional_call(net, params, (images(),), strict=False), labels)
    loss.backward()
    names = [k for k, _ in ghn.named_parameters()]
    if separate_backward:
        assert any("children_message" in k for k in names)
    for key, p in ghn.named_parameters():
        assert p.grad is not None, f"no gradient reaches {key}"
        assert torch.isfinite(p.grad).all(), key
        assert p.grad.abs().sum() > 0, f"the gradient of {key} is all zero"


def test_request_wider_than_the_family_is_rejected():
    ghn = small_ghn("ghn")
    wider = space_at(3, init_channels=2 * WIDTH)
    arch = wider.sample(np.random.default_rng(0))
    with pytest.raises(GhnasError, match="does not fit"):
        ghn.generate(wider, [arch])
    # A narrower network than the GHN was built for is served (leading slices).
    narrower = space_at(3, init_channels=WIDTH // 2)
    params = ghn.generate(narrower, [arch])[0]
    assert params["stem.conv.weight"].shape == (3 * WIDTH // 2, META.channels, 3, 3)
