"""The one-shot baseline: exactly the requested weights, shared per (block, position, op)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.evaluation.one_shot import OneShotModel
from ghnas.layers.batch_statistics import (
    instantiate_for_generated_weights,
    run_with_generated_weights,
)
from ghnas.search_spaces import ClassificationSearchSpace, build_search_space
from ghnas.structures.architecture import BlockArchitecture
from ghnas.utils.errors import GhnasError

REPO = Path(__file__).resolve().parents[2]
META = DatasetMetadata(num_classes=10, channels=3, image_size=8, mean=(0.5,) * 3, std=(0.25,) * 3)


def make_space(num_nodes=5):
    return ClassificationSearchSpace(num_nodes=num_nodes, num_blocks=3, init_channels=4, meta=META)


def test_generates_exactly_the_requested_parameters_and_runs():
    space = make_space()
    model = OneShotModel(space)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    for arch, params in zip(archs, model.generate(space, archs)):
        expected = space.generated_parameter_shapes(arch)
        assert {k: tuple(v.shape) for k, v in params.items()} == {
            k: tuple(s) for k, s in expected.items()
        }
    network = instantiate_for_generated_weights(space, archs[0], torch.device("cpu"))
    params = model.generate(space, archs[:1])[0]
    logits = run_with_generated_weights(network, params, torch.randn(4, 3, 8, 8))
    logits.sum().backward()
    assert logits.shape == (4, 10)
    assert sum(p.grad is not None for p in model.parameters()) > 0


def test_weights_are_shared_by_position_and_op_not_by_topology():
    space = make_space(num_nodes=3)
    model = OneShotModel(space)
    # Op node 2 is dil_conv_3x3 in a and b, with other parents and other ops elsewhere.
    a = BlockArchitecture(("dil_conv_3x3", "identity", "dil_conv_3x3"), ((0,), (1,), (0, 3)))
    b = BlockArchitecture(("max_pool_3x3", "conv_1x1", "dil_conv_3x3"), ((0, 1), (2,), (3,)))
    c = BlockArchitecture(("dil_conv_3x3", "identity", "dil_conv_5x5"), ((0,), (1,), (0, 3)))
    pa, pb, pc = model.generate(space, [a, b, c])
    for block in range(3):
        names = [n for n in pa if n.startswith(f"blocks.{block}.nodes.2.")]
        assert names
        for name in names:
            torch.testing.assert_close(pa[name], pb[name], rtol=0, atol=0)
            assert pc[name].shape != pa[name].shape or not torch.equal(pc[name], pa[name])
    # The same op at another position has its own weights.
    for suffix in [n.split("nodes.0.")[1] for n in pa if n.startswith("blocks.0.nodes.0.")]:
        first, third = pa[f"blocks.0.nodes.0.{suffix}"], pa[f"blocks.0.nodes.2.{suffix}"]
        assert not torch.equal(first, third)


def test_bottleneck_chunks_follow_the_leaf_positions():
    space = make_space(num_nodes=3)
    model = OneShotModel(space)
    # Leaves: op nodes 1, 2 (a) and 0, 2 (b); block 1's input_prev reads those leaves.
    a = BlockArchitecture(("conv_1x1", "conv_1x1", "conv_1x1"), ((0,), (1,), (2,)))
    b = BlockArchitecture(("conv_1x1", "conv_1x1", "conv_1x1"), ((0,), (1,), (3,)))
    assert (a.leaves, b.leaves) == ((3, 4), (2, 4))
    pa, pb = model.generate(space, [a, b])
    wa = pa["blocks.1.input_prev.conv.weight"].flatten(1)  # (c, 2 leaves * c_prev)
    wb = pb["blocks.1.input_prev.conv.weight"].flatten(1)
    c_prev = wa.shape[1] // 2
    # Leaf position 2 is the second chunk in both.
    torch.testing.assert_close(wa[:, c_prev:], wb[:, c_prev:], rtol=0, atol=0)
    assert not torch.equal(wa[:, :c_prev], wb[:, :c_prev])


def test_other_node_count_and_other_space_are_refused():
    space = make_space(num_nodes=5)
    model = OneShotModel(space)
    other = make_space(num_nodes=3)
    with pytest.raises(GhnasError, match="blocks of 5 nodes, not 3"):
        model.generate(other, [other.sample(np.random.default_rng(0))])

    cfg = get_cfg()
    cfg.merge_from_file(str(REPO / "configs" / "quick" / "anytime.yaml"))
    anytime = build_search_space(cfg, META)
    with pytest.raises(GhnasError, match="'anytime' to name covering .*CORRELATION.ONE_SHOT False"):
        OneShotModel(anytime)
