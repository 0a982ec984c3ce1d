"""Level-scheduled batched propagation against the literal node-by-node GHN.

``ghn.embed`` / ``ghn(packed)`` update whole topological levels of a packed batch at once;
``ghnas.ghn.reference`` processes one graph at a time, one node at a time (Eq. 15) or one
simultaneous update at a time (synchronous). Both must agree on random computation graphs and on
graphs of the classification space, under every GHN option that changes propagation.
"""

import itertools

import numpy as np
import pytest
import torch

from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn import GraphHyperNetwork
from ghnas.ghn.reference import reference_embed, reference_generate
from ghnas.propagation import ForwardBackwardPropagation, SynchronousPropagation
from ghnas.search_spaces import ClassificationSearchSpace, WeightFamily
from ghnas.structures.graph import ComputationGraph, ParamPart, ParamRequest, topological_levels
from ghnas.structures.packed_graph import PackedGraph
from ghnas.utils.errors import GhnasError

VOCABULARY = ("a", "b", "c", "d", "e")
FAMILIES = {
    "dense": WeightFamily((4, 3), slots=2),
    "kernel": WeightFamily((3, 5, 5), centered_dims=(1, 2)),
    "vector": WeightFamily((5,)),
    "edge": WeightFamily((4, 3), source="edge"),
}
MAX_MODULES = 4
META = DatasetMetadata(num_classes=3, channels=3, image_size=8, mean=(0.5,) * 3, std=(0.2,) * 3)

PROPAGATIONS = {
    "forward_backward": ForwardBackwardPropagation,
    "synchronous": SynchronousPropagation,
}


def random_module_dag(rng: np.random.Generator, n: int):
    """Edges of a random DAG on nodes 0..n-1 (listed in topological order), unique sink n-1."""
    edges = set()
    for v in range(1, n):
        k = int(rng.integers(0, min(v, 2) + 1))
        for u in rng.choice(v, size=k, replace=False):
            edges.add((int(u), v))
    has_child = {u for u, _ in edges}
    for u in range(n - 1):
        if u not in has_child:
            edges.add((u, n - 1))
    return sorted(edges)


def random_graph(rng: np.random.Generator) -> ComputationGraph:
    """A stacked computation graph of 1-4 modules with random node-family and edge requests."""
    num_modules = int(rng.integers(1, MAX_MODULES + 1))
    types, modules, edges, bounds = [], [], [], []
    for m in range(num_modules):
        n = int(rng.integers(1, 6))
        start = len(types)
        types += [VOCABULARY[int(t)] for t in rng.integers(len(VOCABULARY), size=n)]
        modules += [m] * n
        edges += [(u + start, v + start) for u, v in random_module_dag(rng, n)]
        if m:  # the previous module's sink feeds 1-2 nodes of this module
            sink = bounds[-1][1] - 1
            for v in rng.choice(n, size=min(n, int(rng.integers(1, 3))), replace=False):
                edges.append((sink, start + int(v)))
        bounds.append((start, start + n))
    num_nodes = len(types)
    requests = []
    for i in range(int(rng.integers(1, 5))):
        node = int(rng.integers(num_nodes))
        family = ["dense", "kernel", "vector"][int(rng.integers(3))]
        full = FAMILIES[family].shape
        shape = tuple(int(rng.integers(1, f + 1)) for f in full)
        slot = int(rng.integers(FAMILIES[family].slots))
        part = ParamPart(family, slot, shape, node=node)
        requests.append(ParamRequest(f"node_param_{i}", shape, (part,)))
    # An edge-family request: one chunk per edge into a random node with parents.
    chosen = edges[int(rng.integers(len(edges)))][1] if edges else 0
    sources = [u for u, v in edges if v == chosen] or [chosen]
    widths = [int(rng.integers(1, 4)) for _ in sources]
    parts = tuple(ParamPart("edge", 0, (4, w), chosen, s) for s, w in zip(sources, widths))
    requests.append(ParamRequest("edge_param", (4, sum(widths)), parts))
    # Reshaped request: the flat (4, 3) slot-1 weight as (3, 4).
    requests.append(
        ParamRequest("reshaped", (3, 4), (ParamPart("dense", 1, (4, 3), node=num_nodes - 1),))
    )
    return ComputationGraph(tuple(types), np.array(edges), np.array(modules), tuple(requests))


def make_ghn(vocabulary, families, num_modules, propagation, stacked, share, pass_emb, sep):
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(
        vocabulary=vocabulary,
        families=families,
        num_modules=num_modules,
        propagation=PROPAGATIONS[propagation](),
        num_passes=2,
        hidden_size=6,
        message_hidden_size=5,
        hypernet_hidden_size=7,
        separate_backward_message=sep,
        stacked=stacked,
        share_parameters=share,
        pass_embeddings=pass_emb,
    )
    # Non-trivial biases everywhere so a mis-scheduled node cannot hide behind zeros.
    with torch.no_grad():
        for p in ghn.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return ghn


def check_against_reference(ghn: GraphHyperNetwork, graphs) -> None:
    packed = ghn.pack(graphs)
    assert packed.num_nodes == sum(g.num_nodes for g in graphs)
    with torch.no_grad():
        h = ghn.embed(packed)
        for graph, index in zip(graphs, packed.global_index):
            ref = reference_embed(ghn, graph)
            expected = torch.stack([ref[v] for v in range(graph.num_nodes)])
            torch.testing.assert_close(h[torch.as_tensor(index)], expected, atol=1e-5, rtol=1e-5)
        generated = ghn(packed)
        expected_params = reference_generate(ghn, graphs)
    assert len(generated) == len(graphs)
    for got, want, graph in zip(generated, expected_params, graphs):
        assert list(got) == [r.name for r in graph.requests]
        assert list(got) == list(want)
        for name in want:
            assert got[name].shape == want[name].shape, name
            torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-5)


OPTIONS = list(itertools.product(PROPAGATIONS, [True, False], [True, False], [True, False]))


def option_id(option):
    propagation, stacked, share, pass_emb = option
    flags = [("stacked", stacked), ("shared", share), ("pass", pass_emb)]
    return "-".join([propagation] + [name if on else f"no_{name}" for name, on in flags])


@pytest.mark.parametrize("separate_backward", [False, True], ids=["same_m", "separate_m"])
@pytest.mark.parametrize("option", OPTIONS, ids=option_id)
def test_random_graphs_match_reference(option, separate_backward):
    propagation, stacked, share, pass_emb = option
    ghn = make_ghn(
        VOCABULARY, FAMILIES, MAX_MODULES, propagation, stacked, share, pass_emb, separate_backward
    )
    seed = OPTIONS.index(option) * 2 + separate_backward
    rng = np.random.default_rng(seed)
    graphs = [random_graph(rng) for _ in range(int(rng.integers(3, 6)))]
    # Different sizes, so the packed schedules mix graphs of different depths and lengths.
    if len({g.num_nodes for g in graphs}) == 1:
        graphs.append(random_graph(np.random.default_rng(1000 + seed)))
    check_against_reference(ghn, graphs)


def test_random_graph_generator_is_varied():
    """The generator really produces multi-module graphs of several sizes and edge requests."""
    rng = np.random.default_rng(0)
    graphs = [random_graph(rng) for _ in range(30)]
    assert {g.num_modules for g in graphs} == {1, 2, 3, 4}
    assert len({g.num_nodes for g in graphs}) > 5
    assert any(len(g.requests[-2].parts) > 1 for g in graphs)


@pytest.mark.parametrize("option", OPTIONS, ids=option_id)
def test_classification_graphs_match_reference(option):
    propagation, stacked, share, pass_emb = option
    rng = np.random.default_rng(OPTIONS.index(option))
    graphs = []
    for n in (1, 2, 3, 4):
        space = ClassificationSearchSpace(num_nodes=n, num_blocks=3, init_channels=2, meta=META)
        graphs.append(space.to_graph(space.sample(rng)))
    ghn = make_ghn(
        space.op_vocabulary,
        space.weight_families,
        space.num_modules,
        propagation,
        stacked,
        share,
        pass_emb,
        sep=OPTIONS.index(option) % 2 == 1,
    )
    check_against_reference(ghn, graphs)


def test_batch_composition_does_not_change_a_graph():
    """A graph's generated weights are the same alone and packed with others."""
    ghn = make_ghn(VOCABULARY, FAMILIES, MAX_MODULES, "forward_backward", True, True, True, False)
    rng = np.random.default_rng(7)
    graphs = [random_graph(rng) for _ in range(4)]
    with torch.no_grad():
        together = ghn.generate_for_graphs(graphs)
        for graph, params in zip(graphs, together):
            alone = ghn.generate_for_graphs([graph])[0]
            for name in alone:
                torch.testing.assert_close(params[name], alone[name], atol=1e-5, rtol=1e-5)


def two_sink_graph() -> ComputationGraph:
    """Module 0 is 0 -> 1, 0 -> 2: two sinks; module 1 is node 3, fed by both."""
    return ComputationGraph(
        ("a", "b", "c", "d"),
        np.array([(0, 1), (0, 2), (1, 3), (2, 3)]),
        np.array([0, 0, 0, 1]),
        (),
    )


def test_module_with_two_sinks_is_rejected():
    good = random_graph(np.random.default_rng(0))
    vocabulary = {t: i for i, t in enumerate(VOCABULARY)}
    with pytest.raises(GhnasError, match="exactly one sink"):
        PackedGraph.pack([good, two_sink_graph()], vocabulary, stacked=True)
    # Flattened, the same graph has the single sink 3 and is accepted.
    PackedGraph.pack([good, two_sink_graph()], vocabulary, stacked=False)
    # A flat graph with two sinks overall is rejected when flattened as well.
    flat = ComputationGraph(("a", "b", "c"), np.array([(0, 1), (0, 2)]), np.zeros(3), ())
    for stacked in (True, False):
        with pytest.raises(GhnasError, match="exactly one sink"):
            PackedGraph.pack([flat], vocabulary, stacked=stacked)


def longest_path_levels(num_nodes, edges):
    """Plain DP: depth(v) = 1 + max depth of its parents, visiting nodes by Kahn's algorithm."""
    parents = {v: [] for v in range(num_nodes)}
    indegree = [0] * num_nodes
    for u, v in edges:
        parents[v].append(u)
        indegree[v] += 1
    ready = [v for v in range(num_nodes) if indegree[v] == 0]
    depth = [0] * num_nodes
    seen = 0
    while ready:
        u = ready.pop()
        seen += 1
        depth[u] = max((depth[p] + 1 for p in parents[u]), default=0)
        for a, b in edges:
            if a == u:
                indegree[b] -= 1
                if indegree[b] == 0:
                    ready.append(b)
    assert seen == num_nodes, "not a DAG"
    return depth


@pytest.mark.parametrize("seed", range(20))
def test_topological_levels_is_longest_path(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 15))
    order = rng.permutation(n)  # node ids shuffled so edges are not sorted by id
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.3]
    edges = np.array([(order[i], order[j]) for i, j in pairs], dtype=np.int64).reshape(-1, 2)
    got = topological_levels(n, edges)
    assert got.tolist() == longest_path_levels(n, edges.tolist())


def test_topological_levels_rejects_cycles():
    with pytest.raises(GhnasError, match="cycle"):
        topological_levels(3, np.array([(0, 1), (1, 2), (2, 1)]))
    with pytest.raises(GhnasError, match="cycle"):
        topological_levels(2, np.array([(1, 1)]))
