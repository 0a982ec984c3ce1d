"""GHN-2's stabilisers as switches: fan-in scaling of generated weights and LayerNorm of node
states; the batched GHN still equals the node-by-node reference with them on."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ghnas.config import get_cfg
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import check_identity, ghn_identity
from ghnas.ghn.graph_hypernetwork import fan_in_scale
from ghnas.ghn.reference import reference_generate
from ghnas.utils.errors import GhnasError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ghn_outputs import BLOCKS, WIDTH, every_op_architecture, space_at  # noqa: E402


def ghn_with(**switches):
    cfg = get_cfg()
    cfg.MODEL.INIT_CHANNELS, cfg.SEARCH_SPACE.NUM_BLOCKS = WIDTH, BLOCKS
    cfg.GHN.NUM_PASSES, cfg.GHN.HIDDEN_SIZE = 2, 8
    cfg.GHN.MESSAGE_HIDDEN_SIZE = cfg.GHN.HYPERNET_HIDDEN_SIZE = 8
    for key, value in switches.items():
        cfg.GHN[key] = value
    torch.manual_seed(0)
    ghn = build_ghn(cfg, space_at(7))
    with torch.no_grad():  # non-trivial LayerNorm affine, so that a skipped norm shows
        for p in ghn.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return ghn, cfg


def test_fan_in_scale_by_hand():
    assert fan_in_scale((8, 4, 3, 3)) == pytest.approx(math.sqrt(2 / 36))
    assert fan_in_scale((8, 1, 5, 5)) == pytest.approx(math.sqrt(2 / 25))  # depthwise
    assert fan_in_scale((10, 64)) == pytest.approx(math.sqrt(1 / 64))  # linear: beta 1
    assert fan_in_scale((10,)) == 1.0


def test_fan_in_scaling_scales_each_generated_weight_and_nothing_else():
    plain, _ = ghn_with()
    scaled, _ = ghn_with(FAN_IN_SCALING=True)
    space, arch = space_at(17), every_op_architecture()
    with torch.no_grad():
        [raw], [out] = plain.generate(space, [arch]), scaled.generate(space, [arch])
    assert list(raw) == list(out)
    for name, w in raw.items():
        torch.testing.assert_close(out[name], w * fan_in_scale(w.shape))


@pytest.mark.parametrize("switches", [{"LAYER_NORM": True}, {"FAN_IN_SCALING": True},
                                      {"LAYER_NORM": True, "FAN_IN_SCALING": True}],
                         ids=["layer-norm", "fan-in", "both"])  # fmt: skip
def test_batched_equals_reference_with_stabilisers(switches):
    ghn, _ = ghn_with(**switches)
    space = space_at(7)
    rng = np.random.default_rng(3)
    archs = [every_op_architecture()] + [space.sample(rng) for _ in range(3)]
    graphs = [space_at(a.num_nodes).to_graph(a) for a in archs]
    with torch.no_grad():
        generated, expected = ghn.generate_for_graphs(graphs), reference_generate(ghn, graphs)
    for got, want in zip(generated, expected):
        for name in want:
            torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-5)


def test_the_hypernet_reads_layer_normalised_states():
    normed, _ = ghn_with(LAYER_NORM=True)
    with torch.no_grad():
        normed.node_norm.weight.fill_(1.5)
        normed.node_norm.bias.fill_(0.25)
    space, arch = space_at(7), every_op_architecture()
    with torch.no_grad():
        packed = normed.pack([space.to_graph(arch)])
        h = normed.embed(packed)
        by_hand = (h - h.mean(1, keepdim=True)) / torch.sqrt(h.var(1, unbiased=False, keepdim=True)
                                                            + 1e-5) * 1.5 + 0.25  # fmt: skip
        [expected], [got] = normed.hypernet(by_hand, packed), normed(packed)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5)


def test_identity_names_a_stabiliser_only_when_it_is_on():
    _, off = ghn_with()
    _, on = ghn_with(LAYER_NORM=True)
    space = space_at(7)
    assert "LAYER_NORM" not in ghn_identity(off, space)["ghn_architecture"]
    assert ghn_identity(on, space)["ghn_architecture"]["LAYER_NORM"] is True


@pytest.mark.parametrize("key, value", [("FAN_IN_SCALING", True), ("EMA_DECAY", 0.9)])
def test_a_checkpoint_made_with_a_stabiliser_is_refused_without_it_and_back(key, value):
    _, off = ghn_with()
    _, on = ghn_with(**{key: value})
    space = space_at(7)
    made_on, made_off = ghn_identity(on, space), ghn_identity(off, space)
    with pytest.raises(GhnasError, match=f"GHN.{key}: {value!r} in the checkpoint"):
        check_identity(made_on, made_off, "ckpt.pth")
    with pytest.raises(GhnasError, match=f"GHN.{key}: .* in the checkpoint, {value!r} in the"):
        check_identity(made_off, made_on, "ckpt.pth")
    check_identity(made_off, made_off, "ckpt.pth")
