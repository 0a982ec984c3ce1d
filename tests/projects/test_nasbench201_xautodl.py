"""Our NAS-Bench-201 network against the benchmark authors' own ``TinyNetwork`` (xautodl).

For special cells (all ``none``, cut off from the input, dead ops, all 3×3 convs) and seeded
random ones: the same parameter count, and with the same weights and BN statistics the same
logits, in training mode (batch statistics) and in eval mode (running statistics).
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "projects" / "NASBench201"))
sys.path.insert(0, str(REPO / "tests"))
from conftest import require_test_module  # noqa: E402
from nasbench201 import NASBench201Network, NB201Architecture  # noqa: E402
from test_nasbench201 import CIFAR, SPECIAL, space_for  # noqa: E402

# The project is a plug-in: skipped (failed in CI) where it is not installed.
pytestmark = pytest.mark.usefixtures("nasbench201_plugin")

INSTALL = "pip install --no-deps xautodl==1.0.0"
RANDOM = [space_for().sample(np.random.default_rng([7, i])) for i in range(4)]


def reference_network(arch: NB201Architecture, channels: int, cells: int):
    require_test_module("xautodl", INSTALL)
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    return TinyNetwork(channels, cells, Structure.str2structure(arch.to_string()), 10)


def copy_state(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    """Random weights and BN statistics into ``ours``, then the same into ``theirs`` entry by
    entry: both register their tensors in execution order, so names differ, kinds and shapes
    must not."""
    with torch.no_grad():
        for name, tensor in ours.state_dict().items():
            if tensor.is_floating_point():
                values = (
                    torch.rand_like(tensor) + 0.5 if "var" in name else torch.randn_like(tensor)
                )
                tensor.copy_(values * (0.3 if "conv" in name else 1.0))
    mine, reference = list(ours.state_dict().items()), list(theirs.state_dict().items())
    assert len(mine) == len(reference)
    for (name, tensor), (their_name, target) in zip(mine, reference):
        assert name.rsplit(".", 1)[1] == their_name.rsplit(".", 1)[1], (name, their_name)
        assert tensor.shape == target.shape, (name, their_name)
        with torch.no_grad():
            target.copy_(tensor)


@pytest.mark.parametrize("arch", SPECIAL + RANDOM, ids=lambda a: a.to_string())
def test_same_parameters_and_logits_as_the_benchmark_network(arch):
    theirs = reference_network(arch, channels=8, cells=2)
    torch.manual_seed(0)
    ours = NASBench201Network(
        arch=arch, channels=8, cells_per_stage=2, num_classes=10, in_channels=3
    )
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters())
    copy_state(ours, theirs)
    images = torch.randn(6, 3, 16, 16)
    for train in (True, False):
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            expected = theirs(images)[1]
            torch.testing.assert_close(ours(images), expected, rtol=1e-5, atol=1e-5)


def test_parameter_count_at_the_benchmark_size():
    arch = NB201Architecture.from_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
        "skip_connect~2|"
    )
    theirs = reference_network(arch, channels=16, cells=5)
    ours = space_for(CIFAR, channels=16, cells=5).build_network(arch)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
