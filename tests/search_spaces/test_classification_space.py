"""The classification space: analytic FLOPs, sampling, and the graph it hands to the GHN."""

import collections

import numpy as np
import pytest
from scipy.stats import chisquare

from ghnas.data.metadata import DatasetMetadata
from ghnas.layers.classification_ops import CLASSIFICATION_OPS
from ghnas.search_spaces import ClassificationSearchSpace
from ghnas.structures.architecture import BlockArchitecture
from ghnas.utils.errors import GhnasError
from ghnas.utils.flops import count_flops


def meta(image_size: int, num_classes: int = 10, channels: int = 3) -> DatasetMetadata:
    return DatasetMetadata(
        num_classes=num_classes,
        channels=channels,
        image_size=image_size,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
    )


def space(n: int, b: int, f: int, size: int, **kwargs) -> ClassificationSearchSpace:
    return ClassificationSearchSpace(
        num_nodes=n, num_blocks=b, init_channels=f, meta=meta(size, **kwargs)
    )


def fvcore_flops(sp: ClassificationSearchSpace, arch: BlockArchitecture) -> int:
    return count_flops(sp.build_network(arch), sp.input_shape)


# (N, B, F, image size, classes, channels): odd sizes (15, 9, 7) round up at each stride; B=1 and
# B=2 have stride-4 bottlenecks from the stem, B=5 uneven stages.
FLOP_SETTINGS = [
    (1, 1, 2, 8, 10, 3),
    (2, 2, 3, 15, 10, 3),
    (3, 3, 2, 16, 7, 1),
    (4, 4, 2, 9, 10, 3),
    (3, 5, 2, 7, 4, 3),
]


@pytest.mark.parametrize(
    "setting", FLOP_SETTINGS, ids=lambda s: "N{}-B{}-F{}-S{}-K{}-C{}".format(*s)
)
def test_analytic_flops_equal_fvcore(setting):
    n, b, f, size, classes, channels = setting
    sp = space(n, b, f, size, num_classes=classes, channels=channels)
    rng = np.random.default_rng(size * 100 + n)
    for _ in range(2):  # 5 settings x 2 = 10 random architectures
        arch = sp.sample(rng)
        assert sp.analytic_flops(arch) == fvcore_flops(sp, arch), arch.to_dict()


def golden_space() -> ClassificationSearchSpace:
    return space(1, 1, 2, 8, num_classes=10, channels=3)


GOLDEN = BlockArchitecture(("conv_1x1",), ((0, 1),))


def test_golden_flops():
    """N=1, B=1, F=2, 3×8×8 images, 10 classes; the single node is conv_1x1 over both inputs.

    B=1 puts the only block at stage 2: width c = 4F = 8, side r = ceil(8 / 4) = 2.
    One multiply-add is one FLOP; eval BN with affine costs 2 per element (fvcore).

    - stem conv 3→3F=6, 3×3 at 8×8:      6·3·9·64     = 10368
    - stem BN on 6×8×8:                   2·6·64       =   768
    - 2 bottlenecks, 1×1 conv 6→8 at 2×2: 2·(8·6·4)    =   384
    - 2 bottleneck BNs on 8×2×2:          2·(2·8·4)    =   128
    - conv_1x1 node, run once per input:  2·(8·8·4)    =   512
    - its BN per input:                   2·(2·8·4)    =   128
    - global average pool of 8×2×2:       8·4          =    32
    - classifier 8→10 (bias not counted): 8·10         =    80
    - total                                            = 12400
    """
    terms = [6 * 3 * 9 * 64, 2 * 6 * 64, 2 * 8 * 6 * 4, 2 * 2 * 8 * 4, 2 * 8 * 8 * 4]
    terms += [2 * 2 * 8 * 4, 8 * 4, 8 * 10]
    assert sum(terms) == 12400
    sp = golden_space()
    assert sp.analytic_flops(GOLDEN) == 12400
    assert fvcore_flops(sp, GOLDEN) == 12400


def test_golden_parameter_count():
    """The golden network's parameters, term by term.

    - stem conv 6·3·3·3 = 162, stem BN 2·6 = 12
    - each bottleneck: conv 8·6 = 48, BN 2·8 = 16; two of them = 128
    - conv_1x1 node: conv 8·8 = 64 (shared by both inputs), a BN 2·8 = 16 per input = 96
    - classifier 8·10 + 10 = 90
    Total 488; without BN affine (what the GHN generates) 162 + 96 + 64 + 90 = 412.
    """
    net = golden_space().build_network(GOLDEN)
    params = dict(net.named_parameters())
    assert sum(p.numel() for p in params.values()) == 162 + 12 + 2 * (48 + 16) + 96 + 90 == 488
    generated = net.generated_parameter_names()
    assert sum(params[k].numel() for k in generated) == 162 + 2 * 48 + 64 + 90 == 412
    shapes = golden_space().generated_parameter_shapes(GOLDEN)
    assert shapes == {
        "stem.conv.weight": (6, 3, 3, 3),
        "blocks.0.input_prev.conv.weight": (8, 6, 1, 1),
        "blocks.0.input_prevprev.conv.weight": (8, 6, 1, 1),
        "blocks.0.nodes.0.conv.weight": (8, 8, 1, 1),
        "classifier.weight": (10, 8),
        "classifier.bias": (10,),
    }


def test_sampling_is_seeded():
    sp = space(7, 3, 4, 8)

    def draws(seed):
        rng = np.random.default_rng(seed)
        return [sp.sample(rng) for _ in range(20)]

    a, b, c = draws(5), draws(5), draws(6)
    assert a == b
    assert a != c
    assert len({x.canonical_hash for x in a}) > 15


@pytest.mark.parametrize("n", [1, 2, 7])
def test_sampled_blocks_are_well_formed(n):
    sp = space(n, 3, 4, 8)
    rng = np.random.default_rng(n)
    in_degrees = collections.Counter()
    for _ in range(200):
        arch = sp.sample(rng)
        assert isinstance(arch, BlockArchitecture)
        assert arch.num_nodes == n
        for j, (op, parents) in enumerate(zip(arch.ops, arch.parents)):
            assert op in CLASSIFICATION_OPS
            assert 1 <= len(parents) <= 2
            assert len(set(parents)) == len(parents)
            assert all(isinstance(p, int) and 0 <= p < j + 2 for p in parents)
            in_degrees[len(parents)] += 1
        read = {p for parents in arch.parents for p in parents}
        assert {0, 1} <= read
    # A single node must read both inputs; larger blocks draw one or two parents.
    assert set(in_degrees) == ({2} if n == 1 else {1, 2})


def test_op_frequencies_are_uniform():
    sp = space(7, 3, 4, 8)
    rng = np.random.default_rng(0)
    counts = collections.Counter(op for _ in range(2000) for op in sp.sample(rng).ops)
    observed = [counts[op] for op in CLASSIFICATION_OPS]
    assert sum(observed) == 2000 * 7
    assert chisquare(observed).pvalue > 1e-3
    # The test has power: a mild bias towards one op is rejected.
    biased = list(observed)
    biased[0] += 300
    assert chisquare(biased).pvalue < 1e-3


@pytest.mark.parametrize("n,b", [(1, 1), (3, 3), (7, 2), (4, 6)])
def test_graph_structure_and_requests(n, b):
    sp = space(n, b, 4, 8, num_classes=5)
    rng = np.random.default_rng(n * 10 + b)
    for _ in range(3):
        arch = sp.sample(rng)
        graph = sp.to_graph(arch)
        assert graph.num_nodes == 1 + b * (n + 3) + 1
        assert graph.num_modules == b + 2 == sp.num_modules
        assert set(graph.node_types) <= set(sp.op_vocabulary)
        assert graph.node_types[0] == "stem" and graph.node_types[-1] == "classifier"
        assert graph.node_types.count("output_concat") == b
        modules = graph.node_module
        # Modules are consecutive and every module has exactly one sink among its own edges.
        assert modules.tolist() == sorted(modules.tolist())
        for m in range(graph.num_modules):
            nodes = set(np.flatnonzero(modules == m).tolist())
            inside = [(u, v) for u, v in graph.edges.tolist() if u in nodes and v in nodes]
            sinks = nodes - {u for u, _ in inside}
            assert len(sinks) == 1, (m, sinks)
        # Cross-module edges run forward and land on the block input nodes / the classifier.
        for u, v in graph.edges.tolist():
            if modules[u] != modules[v]:
                assert modules[u] < modules[v]
                assert graph.node_types[v] in ("input_prev", "input_prevprev", "classifier")
                assert graph.node_types[u] in ("stem", "output_concat")
        # Requests are the network's generated parameters, in order, with its shapes.
        net = sp.build_network(arch)
        params = dict(net.named_parameters())
        assert [r.name for r in graph.requests] == net.generated_parameter_names()
        families = sp.weight_families
        for request in graph.requests:
            assert tuple(params[request.name].shape) == request.shape
            total = 0
            for part in request.parts:
                family = families[part.family]
                assert 0 <= part.slot < family.slots
                assert len(part.shape) == len(family.shape)
                assert all(s <= f for s, f in zip(part.shape, family.shape))
                assert 0 <= part.node < graph.num_nodes
                assert (part.source >= 0) == (family.source == "edge")
                total += int(np.prod(part.shape))
            assert total == int(np.prod(request.shape)), request.name
            # Bottleneck/classifier chunks: one per leaf of the block they read (the stem has 1).
            if request.name == "classifier.weight":
                assert len(request.parts) == len(arch.leaves)
            elif ".input_" in request.name:
                assert len(request.parts) in (1, len(arch.leaves))


def test_invalid_sizes_are_rejected():
    for kwargs in ({"n": 0, "b": 1, "f": 2}, {"n": 1, "b": 0, "f": 2}, {"n": 1, "b": 1, "f": 0}):
        with pytest.raises(GhnasError, match="must be >= 1"):
            space(size=8, **kwargs)
