"""The anytime space: architectures, the early-exit network, its FLOPs, sampling and GHN graphs.

Tiny sizes throughout: blocks of (4, 3, 2) nodes, C = 4, 8×8 images, 3 exits.
"""

import collections
import dataclasses
import json

import numpy as np
import pytest
import torch

from ghnas.config import get_cfg
from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn import build_ghn
from ghnas.ghn.reference import reference_generate
from ghnas.layers.batch_statistics import run_with_generated_weights
from ghnas.search_spaces import AnytimeSearchSpace, build_search_space
from ghnas.search_spaces.anytime_network import AnytimeNetwork
from ghnas.structures.anytime_architecture import (
    ANYTIME_OPS,
    BLOCK_SCALES,
    AnytimeArchitecture,
    AnytimeNode,
)
from ghnas.utils.errors import GhnasError
from ghnas.utils.flops import count_flops

BLOCKS, EXITS, WIDTH, SIZE, CLASSES = (4, 3, 2), 3, 4, 8, 5


def meta(image_size: int = SIZE, num_classes: int = CLASSES) -> DatasetMetadata:
    return DatasetMetadata(
        num_classes=num_classes,
        channels=3,
        image_size=image_size,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
    )


def space(**kwargs) -> AnytimeSearchSpace:
    args = dict(block_nodes=BLOCKS, num_exits=EXITS, channels=WIDTH, meta=meta(), flop_budget=0)
    args.update(kwargs)
    return AnytimeSearchSpace(**args)


def node(op, parents, scale=0, exit=False, block=0) -> AnytimeNode:
    return AnytimeNode(op, tuple(parents), scale, exit, block)


def small_cfg(propagation: str = "forward_backward"):
    cfg = get_cfg()
    cfg.SEARCH_SPACE.NAME = "anytime"
    cfg.MODEL.INIT_CHANNELS = WIDTH
    cfg.ANYTIME.BLOCK_NODES = list(BLOCKS)
    cfg.ANYTIME.NUM_EXITS = EXITS
    cfg.GHN.STACKED = False
    cfg.GHN.PROPAGATION = propagation
    cfg.GHN.NUM_PASSES = 1
    cfg.GHN.HIDDEN_SIZE = 8
    cfg.GHN.MESSAGE_HIDDEN_SIZE = 8
    cfg.GHN.HYPERNET_HIDDEN_SIZE = 8
    return cfg


# ------------------------------------------------------------------------------------------------
# The GHN generates exactly the network's parameters
# ------------------------------------------------------------------------------------------------


def test_generated_weights_match_the_network():
    cfg = small_cfg()
    sp = build_search_space(cfg, meta(), training=True)
    assert isinstance(sp, AnytimeSearchSpace) and sp.random_block_sizes
    torch.manual_seed(0)
    ghn = build_ghn(cfg, sp)
    rng = np.random.default_rng(0)
    archs = [sp.sample(rng) for _ in range(8)]
    in_degrees = {len(n.parents) for a in archs for n in a.nodes}
    scales = {n.scale for a in archs for n in a.nodes}
    assert in_degrees == {1, 2, 3} and scales == {0, 1, 2}
    with torch.no_grad():
        generated = ghn.generate(sp, archs)
    x = torch.randn(4, *sp.input_shape)
    for arch, params in zip(archs, generated):
        net = sp.build_network(arch)
        expected = dict(net.named_parameters())
        bn_affine = {
            f"{prefix}.{k}"
            for prefix, module in net.named_modules()
            if isinstance(module, torch.nn.BatchNorm2d)
            for k in ("weight", "bias")
        }
        assert list(params) == net.generated_parameter_names()
        assert set(params) == set(expected) - bn_affine
        assert sp.generated_parameter_shapes(arch) == {k: v.shape for k, v in params.items()}
        for name, value in params.items():
            assert value.shape == expected[name].shape, name
        with torch.no_grad():
            logits = run_with_generated_weights(net, params, x)
        assert len(logits) == len(arch.exits) == EXITS
        for out in logits:
            assert out.shape == (4, CLASSES)
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("propagation", ["forward_backward", "synchronous"])
def test_batched_ghn_equals_reference(propagation):
    cfg = small_cfg(propagation)
    cfg.GHN.NUM_PASSES = 2
    sp = space()
    torch.manual_seed(1)
    ghn = build_ghn(cfg, sp)
    rng = np.random.default_rng(3)
    graphs = [sp.to_graph(sp.sample(rng)) for _ in range(3)]
    with torch.no_grad():
        batched = ghn.generate_for_graphs(graphs)
        reference = reference_generate(ghn, graphs)
    for got, want in zip(batched, reference):
        assert list(got) == list(want)
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6)
    # Node features change the generated weights (they reach the initial embeddings).
    stripped = [
        dataclasses.replace(g, node_features={k: 0 * v for k, v in g.node_features.items()})
        for g in graphs
    ]
    with torch.no_grad():
        plain = ghn.generate_for_graphs(stripped)
    assert not torch.allclose(plain[0]["stem.conv.weight"], batched[0]["stem.conv.weight"])


def test_graph_structure_and_requests():
    sp = space(random_block_sizes=True)
    rng = np.random.default_rng(5)
    families = sp.weight_families
    for _ in range(5):
        arch = sp.sample(rng)
        graph = sp.to_graph(arch)
        n = arch.num_nodes
        assert graph.num_nodes == n + 2 and graph.num_modules == 1 == sp.num_modules
        assert graph.node_types[0] == "stem" and graph.node_types[-1] == "output"
        assert list(graph.node_types[1:-1]) == [nd.op for nd in arch.nodes]
        assert set(graph.node_types) <= set(sp.op_vocabulary)
        edges = set(map(tuple, graph.edges.tolist()))
        want = {(p, i + 1) for i, nd in enumerate(arch.nodes) for p in nd.parents}
        assert edges == want | {(e, n + 1) for e in arch.exits}
        sinks = set(range(graph.num_nodes)) - {u for u, _ in edges}
        assert sinks == {n + 1}
        scales = [0] + [nd.scale for nd in arch.nodes] + [0]
        exits = [0] + [int(nd.exit) for nd in arch.nodes] + [0]
        assert graph.node_features["scale"].tolist() == scales
        assert graph.node_features["exit"].tolist() == exits
        assert set(graph.node_features) == set(sp.node_feature_sizes)
        net = sp.build_network(arch)
        params = dict(net.named_parameters())
        assert [r.name for r in graph.requests] == net.generated_parameter_names()
        for request in graph.requests:
            assert tuple(params[request.name].shape) == request.shape
            total = 0
            for part in request.parts:
                family = families[part.family]
                assert all(s <= f for s, f in zip(part.shape, family.shape))
                assert len(part.shape) == len(family.shape)
                assert (part.source >= 0) == (family.source == "edge")
                total += int(np.prod(part.shape))
            assert total == int(np.prod(request.shape))
            if request.name.endswith("bottleneck.conv.weight"):
                i = int(request.name.split(".")[1])
                assert [p.source for p in request.parts] == list(arch.nodes[i].parents)
                assert all(p.node == i + 1 for p in request.parts)


# ------------------------------------------------------------------------------------------------
# The network: FLOPs and exit-by-exit execution
# ------------------------------------------------------------------------------------------------


def test_exit_flops_equal_fvcore_at_every_exit():
    sp = space(random_block_sizes=True)
    rng = np.random.default_rng(11)
    resampled = set()
    for _ in range(6):
        arch = sp.sample(rng)
        net = sp.build_network(arch)
        flops = net.cumulative_exit_flops()
        assert flops == sp.exit_flops(arch) and flops[-1] == sp.analytic_flops(arch)
        assert flops == sorted(flops)
        for k in range(len(arch.exits)):
            assert flops[k] == count_flops(net.truncated(k), sp.input_shape), (k, arch.to_dict())
        assert flops[-1] == count_flops(net, sp.input_shape)
        for nd in arch.nodes:
            resampled |= {np.sign(nd.scale - arch.scale(p)) for p in nd.parents}
    assert resampled == {-1, 0, 1}  # upsampling, same scale and downsampling all covered


GOLDEN = AnytimeArchitecture(
    (
        node("conv_3x3", [0], scale=1, exit=True),
        node("max_pool_3x3", [0, 1], scale=0),
        node("conv_1x1", [2], scale=2, exit=True, block=2),
    )
)


def test_golden_exit_flops():
    """C=2, 3×8×8 images, 5 classes. One multiply-add = one FLOP; eval BN 2 per element.

    - stem conv 3→2 3×3 at 8×8 2·3·9·64 = 3456, BN 2·2·64 = 256                 -> 3712
    - exit 0 runs node 1 (scale 1: 4 channels, 4×4; the stem is average pooled, free):
      bottleneck 4·2·16 = 128, BN 128, conv_3x3 4·4·9·16 = 2304, BN 128;
      head BN 2·4·16 = 128, global pool 4·16 = 64, linear 4·5 = 20          -> 6612
    - exit 1 runs node 2 (scale 0: 2 channels, 8×8; node 1 upsampled, 4·64 = 256 FLOPs):
      bottleneck 2·6·64 = 768, BN 256, max pool free; node 3 (scale 2: 8 channels, 2×2):
      bottleneck 8·2·4 = 64, BN 64, conv_1x1 8·8·4 = 256, BN 64;
      head BN 64, pool 32, linear 40                                            -> 8476
    """
    stem = 3456 + 256
    exit0 = stem + (128 + 128 + 2304 + 128) + (128 + 64 + 20)
    exit1 = exit0 + (256 + 768 + 256) + (64 + 64 + 256 + 64) + (64 + 32 + 40)
    assert (exit0, exit1) == (6612, 8476)
    sp = space(channels=2)
    net = sp.build_network(GOLDEN)
    assert net.cumulative_exit_flops() == [6612, 8476]
    assert [count_flops(net.truncated(k), sp.input_shape) for k in (0, 1)] == [6612, 8476]
    shapes = sp.generated_parameter_shapes(GOLDEN)
    assert shapes == {
        "stem.conv.weight": (2, 3, 3, 3),
        "nodes.0.bottleneck.conv.weight": (4, 2, 1, 1),
        "nodes.0.op.conv.weight": (4, 4, 3, 3),
        "nodes.1.bottleneck.conv.weight": (2, 6, 1, 1),
        "nodes.2.bottleneck.conv.weight": (8, 2, 1, 1),
        "nodes.2.op.conv.weight": (8, 8, 1, 1),
        "heads.1.linear.weight": (5, 4),
        "heads.1.linear.bias": (5,),
        "heads.3.linear.weight": (5, 8),
        "heads.3.linear.bias": (5,),
    }


def test_forward_until_runs_only_what_each_exit_needs():
    """Exit by exit: each exit runs its not yet computed ancestors in id order, then its head."""
    sp = space()
    rng = np.random.default_rng(2)
    x = torch.randn(2, *sp.input_shape)
    for _ in range(3):
        arch = sp.sample(rng)
        torch.manual_seed(0)
        net = sp.build_network(arch).eval()
        called = []
        for i, module in enumerate(net.nodes):
            module.register_forward_hook(lambda m, args, out, v=i + 1: called.append(v))
        with torch.no_grad():
            full = net(x)
            order, needed = [], set()
            for k, e in enumerate(arch.exits):
                ancestors, stack = set(), [e]
                while stack:
                    v = stack.pop()
                    if v and v not in ancestors:
                        ancestors.add(v)
                        stack.extend(arch.nodes[v - 1].parents)
                order += sorted(ancestors - needed)
                needed |= ancestors
                called.clear()
                part = net.forward_until(x, k)
                assert called == order
                assert len(part) == k + 1
                for a, b in zip(part, full[: k + 1]):
                    torch.testing.assert_close(a, b, rtol=0, atol=0)
                torch.testing.assert_close(net.truncated(k)(x)[-1], full[k], rtol=0, atol=0)
            assert sorted(order) == list(range(1, arch.num_nodes + 1))
        with pytest.raises(GhnasError, match="exit 3 does not exist"):
            net.forward_until(x, 3)


# ------------------------------------------------------------------------------------------------
# Sampling
# ------------------------------------------------------------------------------------------------


def check_sampled(arch: AnytimeArchitecture, sizes) -> None:
    assert isinstance(arch, AnytimeArchitecture)
    assert arch.block_sizes == tuple(sizes)
    assert len(arch.exits) == EXITS and arch.exits[-1] == arch.num_nodes
    read = {p for nd in arch.nodes for p in nd.parents}
    for i, nd in enumerate(arch.nodes):
        assert nd.scale in BLOCK_SCALES[nd.block]
        assert nd.op in ANYTIME_OPS
        assert 1 <= len(nd.parents) <= 3 and all(p <= i for p in nd.parents)
        assert nd.exit or i + 1 in read


def test_sampling_is_seeded_and_well_formed():
    sp = space()

    def draws(seed):
        rng = np.random.default_rng(seed)
        return [sp.sample(rng) for _ in range(30)]

    a, b, c = draws(5), draws(5), draws(6)
    assert a == b and a != c
    assert len({x.canonical_hash for x in a}) > 25
    ops, degrees = collections.Counter(), collections.Counter()
    for arch in a + c:
        check_sampled(arch, BLOCKS)
        ops.update(nd.op for nd in arch.nodes)
        degrees.update(len(nd.parents) for nd in arch.nodes)
    assert set(ops) == set(ANYTIME_OPS) and set(degrees) == {1, 2, 3}


def test_random_block_sizes_vary_within_bounds():
    sp = space(random_block_sizes=True)
    rng = np.random.default_rng(7)
    seen = [set() for _ in range(3)]
    for _ in range(200):
        arch = sp.sample(rng)
        sizes = arch.block_sizes
        check_sampled(arch, sizes)
        exits_per_block = collections.Counter(arch.nodes[e - 1].block for e in arch.exits)
        for b in range(3):
            assert max(1, exits_per_block[b]) <= sizes[b] <= BLOCKS[b]
            seen[b].add(sizes[b])
    assert seen == [{1, 2, 3, 4}, {1, 2, 3}, {1, 2}]
    # Without random block sizes every block is full.
    check_sampled(space().sample(rng), BLOCKS)


def test_flop_budget_rejects_expensive_architectures():
    rng = np.random.default_rng(0)
    free = space()
    flops = [free.analytic_flops(free.sample(rng)) for _ in range(40)]
    budget = float(np.median(flops))
    sp = space(flop_budget=budget)
    sampled = [sp.analytic_flops(sp.sample(rng)) for _ in range(30)]
    assert all(f <= budget for f in sampled)
    with pytest.raises(GhnasError) as info:
        space(flop_budget=1000).sample(rng)
    message = str(info.value)
    assert "ANYTIME.FLOP_BUDGET" in message and "cheapest had" in message and "\n" not in message
    cheapest = int(message.split("cheapest had ")[1].split(" ")[0].replace(",", ""))
    assert 1000 < cheapest <= min(flops)


def test_registry_entry_reads_the_config():
    cfg = small_cfg()
    cfg.ANYTIME.FLOP_BUDGET = 123.0
    sp = build_search_space(cfg, meta())
    assert sp.name == "anytime" and not sp.random_block_sizes
    assert (sp.block_nodes, sp.num_exits, sp.channels, sp.flop_budget) == (BLOCKS, 3, 4, 123.0)
    assert sp.node_feature_sizes == {"scale": 3, "exit": 2}
    assert sp.op_vocabulary == ANYTIME_OPS + ("stem", "output")


# ------------------------------------------------------------------------------------------------
# Architectures: JSON, canonical hash, validation
# ------------------------------------------------------------------------------------------------


def test_dict_round_trip():
    rng = np.random.default_rng(4)
    sp = space(random_block_sizes=True)
    for _ in range(10):
        arch = sp.sample(rng)
        data = json.loads(json.dumps(arch.to_dict()))
        assert sp.architecture_from_dict(data) == arch
        assert AnytimeArchitecture.from_dict(data).canonical_hash == arch.canonical_hash


def relabelled(arch: AnytimeArchitecture, rng: np.random.Generator):
    """A random topological reordering of the nodes (all moved to block 0, which allows every
    scale; blocks are not part of the hash)."""
    n = arch.num_nodes
    order, done = [], {0}
    while len(order) < n:
        ready = [
            v for v in range(1, n + 1) if v not in done and set(arch.nodes[v - 1].parents) <= done
        ]
        v = ready[int(rng.integers(len(ready)))]
        order.append(v)
        done.add(v)
    new = {0: 0, **{old: i + 1 for i, old in enumerate(order)}}
    nodes = []
    for old in order:
        nd = arch.nodes[old - 1]
        parents = [new[p] for p in nd.parents]
        parents = [parents[int(i)] for i in rng.permutation(len(parents))]
        nodes.append(AnytimeNode(nd.op, tuple(parents), nd.scale, nd.exit, 0))
    exit_order = [new[e] for e in arch.exits]
    return AnytimeArchitecture(tuple(nodes)), exit_order == sorted(exit_order)


def test_hash_is_invariant_to_relabelling_that_keeps_exit_ranks():
    rng = np.random.default_rng(9)
    sp = space()
    kept = changed = 0
    for _ in range(20):
        arch = sp.sample(rng)
        for _ in range(5):
            other, keeps_ranks = relabelled(arch, rng)
            if keeps_ranks:
                assert other.canonical_hash == arch.canonical_hash
                kept += other != arch
            else:
                changed += 1
    assert kept > 20 and changed > 0
    # Handmade: swapping two independent branches keeps the ranks -> same hash ...
    a = AnytimeArchitecture(
        (
            node("conv_3x3", [0], exit=True),
            node("max_pool_3x3", [0]),
            node("conv_1x1", [1, 2], exit=True),
        )
    )
    b = AnytimeArchitecture(
        (
            node("max_pool_3x3", [0]),
            node("conv_3x3", [0], exit=True),
            node("conv_1x1", [2, 1], exit=True),
        )
    )
    assert a.canonical_hash == b.canonical_hash
    # ... but exchanging which exit runs first changes the anytime behaviour and the hash.
    c = AnytimeArchitecture(
        (
            node("conv_3x3", [0], exit=True),
            node("max_pool_3x3", [0], exit=True),
            node("conv_1x1", [1, 2], exit=True),
        )
    )
    d = AnytimeArchitecture(
        (
            node("max_pool_3x3", [0], exit=True),
            node("conv_3x3", [0], exit=True),
            node("conv_1x1", [1, 2], exit=True),
        )
    )
    assert c.canonical_hash != d.canonical_hash
    # Scale is part of a node's label.
    e = AnytimeArchitecture((node("conv_3x3", [0], scale=1, exit=True),))
    assert (
        e.canonical_hash != AnytimeArchitecture((node("conv_3x3", [0], exit=True),)).canonical_hash
    )


LAST = node("conv_1x1", [1], exit=True)
INVALID = {
    "unknown op": ((node("conv_7x7", [0], exit=True),), "node 1 has unknown op 'conv_7x7'"),
    "no inputs": ((node("conv_1x1", [], exit=True),), "node 1 .* no inputs"),
    "four inputs": (
        (
            node("conv_1x1", [0]),
            node("conv_1x1", [0, 1]),
            node("conv_1x1", [0, 1, 2]),
            node("conv_1x1", [0, 1, 2, 3], exit=True),
        ),
        "node 4 .* has 4 inputs; a node reads 1 to 3",
    ),
    "duplicate": ((node("conv_1x1", [0, 0], exit=True),), "node 1 lists an input twice"),
    "dangling": ((node("conv_1x1", [5], exit=True),), "node 1 reads node 5, which does not exist"),
    "negative": ((node("conv_1x1", [-1], exit=True),), "node 1 reads node -1"),
    "cycle": (
        (node("conv_1x1", [0, 2]), node("conv_1x1", [1], exit=True)),
        "cycle through nodes 1 -> 2 -> 1",
    ),
    "forward": (
        (node("conv_1x1", [2]), node("conv_1x1", [0], exit=True)),
        "node 1 reads later node 2",
    ),
    "blocks decrease": (
        (node("conv_1x1", [0], scale=2, block=1), node("conv_1x1", [1], exit=True, block=0)),
        "node 2 is in block 0 after a node of block 1; blocks must be non-decreasing",
    ),
    "bad block": ((node("conv_1x1", [0], block=3, exit=True),), "node 1 has block 3"),
    "scale": (
        (node("conv_1x1", [0], scale=1, block=2, exit=True),),
        r"node 1 in block 2 has scale 1 \(1/2\); block 2 allows scales \[2\]",
    ),
    "scale in block 1": (
        (node("conv_1x1", [0], scale=0, block=1, exit=True),),
        r"node 1 in block 1 has scale 0 \(1\); block 1 allows scales \[1, 2\]",
    ),
    "exit not bool": ((node("conv_1x1", [0], exit=1),), "node 1: exit must be true or false"),
    "zero exits": ((node("conv_1x1", [0]),), "zero exits"),
    "last without exit": (
        (node("conv_1x1", [0], exit=True), node("conv_1x1", [1])),
        r"the last node \(2\) carries no exit",
    ),
    "dead compute": (
        (node("conv_1x1", [0]), node("conv_1x1", [0]), LAST),
        r"node 2 is read by no later node and carries no exit \(dead compute\)",
    ),
    "empty": ((), "at least one node"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_architectures_are_one_line_errors(case):
    nodes, pattern = INVALID[case]
    with pytest.raises(GhnasError, match=pattern) as info:
        AnytimeArchitecture(nodes)
    assert "\n" not in str(info.value)


MALFORMED = [
    None,
    [],
    {"nodes": 3},
    {"nodes": [1]},
    {"nodes": [{"op": "conv_1x1", "inputs": [0], "scale": 0, "exit": True}]},
    {"nodes": [{"op": "conv_1x1", "inputs": 0, "scale": 0, "exit": True, "block": 0}]},
    {"nodes": [{"op": "conv_1x1", "inputs": ["a"], "scale": 0, "exit": True, "block": 0}]},
    {"nodes": [{"op": "conv_1x1", "inputs": [0], "scale": "x", "exit": True, "block": 0}]},
    {"nodes": [{"op": "conv_1x1", "inputs": [0], "scale": 0, "exit": True, "block": [0]}]},
    {"nodes": [{"op": None, "inputs": [0], "scale": 0, "exit": "yes", "block": 0}]},
    {"nodes": [{"op": "conv_1x1", "inputs": [[0]], "scale": 0, "exit": True, "block": 0}]},
]


@pytest.mark.parametrize("data", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_dicts_are_one_line_errors(data):
    with pytest.raises(GhnasError) as info:
        AnytimeArchitecture.from_dict(data)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"num_exits": 0}, "ANYTIME.NUM_EXITS is 0: zero exits"),
        ({"num_exits": 10}, r"ANYTIME.NUM_EXITS \(10\) exceeds the 9 nodes"),
        ({"block_nodes": (4, 3)}, "ANYTIME.BLOCK_NODES must be three positive"),
        ({"block_nodes": (4, 0, 2)}, "ANYTIME.BLOCK_NODES must be three positive"),
        ({"channels": 0}, "MODEL.INIT_CHANNELS must be >= 1"),
        ({"meta": meta(image_size=10)}, r"INPUT.SIZE \(10\) must be divisible by 4"),
    ],
)
def test_invalid_space_configs_are_rejected(kwargs, pattern):
    with pytest.raises(GhnasError, match=pattern) as info:
        space(**kwargs)
    assert "\n" not in str(info.value)


def test_network_rejects_image_size_not_divisible_by_4():
    with pytest.raises(GhnasError, match="divisible by 4"):
        AnytimeNetwork(arch=GOLDEN, channels=2, num_classes=3, in_channels=3, image_size=6)


def test_single_exit_space_has_one_exit_on_the_last_node():
    sp = space(num_exits=1, block_nodes=(1, 1, 1))
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert sp.sample(rng).exits == (3,)
