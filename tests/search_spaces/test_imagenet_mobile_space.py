"""The imagenet_mobile space: its layout, FLOPs equal to fvcore's, and blocks transferred to it.

Tests run at 64×64 with F=4: the layout is the paper's (stride-2 stem, 14 blocks, reductions at
1, 2, 6, 10), only the input is smaller (64 -> 32 after the stem -> 16, 8, 4, 2).
"""

import numpy as np
import pytest
import torch

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces import (
    ClassificationSearchSpace,
    ImageNetMobileSearchSpace,
    build_search_space,
)
from ghnas.search_spaces.imagenet_mobile import mobile_reductions
from ghnas.structures.architecture import BlockArchitecture
from ghnas.utils.flops import count_flops

META = DatasetMetadata(num_classes=7, channels=3, image_size=64, mean=(0.5,) * 3, std=(0.2,) * 3)


def mobile(num_nodes: int = 5, init_channels: int = 4) -> ImageNetMobileSearchSpace:
    return ImageNetMobileSearchSpace(
        num_nodes=num_nodes, num_blocks=14, init_channels=init_channels, meta=META
    )


def test_the_registered_space_reads_the_config():
    cfg = get_cfg()
    cfg.SEARCH_SPACE.NAME = "imagenet_mobile"
    cfg.SEARCH_SPACE.NUM_BLOCKS = 14
    cfg.MODEL.INIT_CHANNELS = 4
    cfg.GHN.TRAIN_NUM_NODES = 3
    space = build_search_space(cfg, META)
    assert isinstance(space, ImageNetMobileSearchSpace)
    assert space.name == "imagenet_mobile"
    assert space.num_nodes == cfg.SEARCH_SPACE.NUM_NODES
    assert build_search_space(cfg, META, training=True).num_nodes == 3
    assert space.input_shape == (3, 64, 64)
    assert space.describe() == {
        "num_nodes": cfg.SEARCH_SPACE.NUM_NODES, "num_blocks": 14, "init_channels": 4,
        "reductions": [1, 2, 6, 10], "stem_stride": 2,
    }  # fmt: skip


def test_reductions_are_the_papers_at_14_blocks_and_valid_at_any_size():
    assert mobile_reductions(14) == (1, 2, 6, 10)
    rng = np.random.default_rng(0)
    for b in range(1, 20):  # every B builds (the layout validates input strides)
        space = ImageNetMobileSearchSpace(num_nodes=2, num_blocks=b, init_channels=2, meta=META)
        assert len(space.build_network(space.sample(rng)).blocks) == b


def test_feature_map_sizes_and_widths_follow_the_layout():
    """Stem stride 2; resolution halved and width doubled at blocks 1, 2, 6 and 10."""
    space = mobile(num_nodes=3)
    arch = BlockArchitecture(("conv_1x1", "identity", "sep_conv_3x3"), ((0,), (1,), (2, 3)))
    assert arch.leaves == (4,)  # one leaf: a block outputs exactly its width
    net = space.build_network(arch).eval()
    shapes = {}

    def record(name):
        return lambda module, inputs, output: shapes.__setitem__(name, tuple(output.shape[1:]))

    net.stem.register_forward_hook(record("stem"))
    for b, block in enumerate(net.blocks):
        block.register_forward_hook(record(b))
    with torch.no_grad():
        net(torch.randn(1, 3, 64, 64))
    assert shapes["stem"] == (3 * 4, 32, 32)
    stages = [0, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]
    for b, stage in enumerate(stages):
        assert shapes[b] == (4 * 2**stage, 32 // 2**stage, 32 // 2**stage), b
    assert space.weight_families["pointwise"].shape == (64, 64)  # c_max = 16F


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_analytic_flops_equal_fvcore(seed):
    space = mobile()
    arch = space.sample(np.random.default_rng(seed))
    assert space.analytic_flops(arch) == count_flops(space.build_network(arch), space.input_shape)


@pytest.mark.parametrize("num_nodes", [1, 4, 9, 17])
def test_classification_blocks_transfer(num_nodes):
    """Blocks sampled by the CIFAR space at any N parse, build and run in imagenet_mobile."""
    cifar = ClassificationSearchSpace(
        num_nodes=num_nodes, num_blocks=3, init_channels=4,
        meta=DatasetMetadata(10, 3, 8, (0.5,) * 3, (0.25,) * 3),
    )  # fmt: skip
    target = mobile(num_nodes=5, init_channels=2)  # NUM_NODES only decides what it samples
    rng = np.random.default_rng(num_nodes)
    for _ in range(2):
        arch = target.architecture_from_dict(cifar.sample(rng).to_dict())
        assert arch.num_nodes == num_nodes
        net = target.build_network(arch)
        shapes = target.generated_parameter_shapes(arch)
        assert list(shapes) == net.generated_parameter_names()
        params = dict(net.named_parameters())
        assert all(tuple(params[k].shape) == v for k, v in shapes.items())
        families = target.weight_families
        for request in target.to_graph(arch).requests:
            for part in request.parts:
                family = families[part.family].shape
                assert all(s <= f for s, f in zip(part.shape, family)), request.name
        out = net(torch.randn(2, *target.input_shape))
        assert out.shape == (2, META.num_classes) and torch.isfinite(out).all()
