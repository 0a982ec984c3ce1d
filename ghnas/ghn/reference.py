"""Literal node-by-node GHN: the independent reference the batched GHN is tested against.

Each architecture is processed alone; propagation follows Eq. 15 one node at a time over a
topological order (and the synchronous scheme one simultaneous update at a time), and H is applied
to one node or edge at a time with its full output sliced afterwards. Slow by design: it backs
the tests and is the baseline of ``benchmarks/ghn_throughput.py``.
"""

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F

from ghnas.ghn.graph_hypernetwork import GraphHyperNetwork
from ghnas.propagation.synchronous import SynchronousPropagation
from ghnas.structures.graph import ComputationGraph


def reference_embed(ghn: GraphHyperNetwork, graph: ComputationGraph) -> Dict[int, torch.Tensor]:
    """Final embedding of every node of ``graph`` (node id -> (D,) tensor)."""
    modules = graph.node_module.tolist() if ghn.stacked else [0] * graph.num_nodes
    edges = [tuple(e) for e in graph.edges.tolist()]
    synchronous = isinstance(ghn.propagation, SynchronousPropagation)
    h: Dict[int, torch.Tensor] = {}
    previous = torch.zeros(ghn.hidden_size)
    for m in sorted(set(modules)):
        nodes = [v for v in range(graph.num_nodes) if modules[v] == m]
        inside = [(u, v) for u, v in edges if modules[u] == m and modules[v] == m]
        inputs = {v for u, v in edges if modules[u] != m and modules[v] == m}
        embedding, cell = ghn.module_parameters(m)
        feature_embeddings = ghn.feature_embeddings[ghn.parameter_set(m)]
        for v in nodes:
            h[v] = embedding(torch.tensor(ghn.vocabulary[graph.node_types[v]]))
            for name, values in graph.node_features.items():
                h[v] = h[v] + feature_embeddings[name](torch.tensor(int(values[v])))
        passed = previous if ghn.pass_embeddings else torch.zeros_like(previous)
        bias = {v: cell.message(passed) if v in inputs else torch.zeros_like(passed) for v in nodes}
        parents = {v: [u for u, w in inside if w == v] for v in nodes}
        children = {v: [w for u, w in inside if u == v] for v in nodes}
        run = _synchronous if synchronous else _forward_backward
        run(h, nodes, parents, children, bias, cell, ghn.num_passes)
        previous = torch.stack([h[v] for v in nodes]).mean(0)
    return h


def _update(h, v, senders, message, bias, cell) -> torch.Tensor:
    m = bias[v]
    for u in senders:
        m = m + message(h[u])
    return cell.update(m.unsqueeze(0), h[v].unsqueeze(0)).squeeze(0)


def _forward_backward(h, nodes, parents, children, bias, cell, passes) -> None:
    order = _topological_order(nodes, parents)
    n = len(order)
    for _ in range(passes):
        for t in range(1, 2 * n):  # Eq. 15: s(t) for t <= |V|, then s(2|V| - t)
            if t <= n:
                v = order[t - 1]
                h[v] = _update(h, v, parents[v], cell.message, bias, cell)
            else:
                v = order[2 * n - t - 1]
                h[v] = _update(h, v, children[v], cell.backward_message, bias, cell)


def _synchronous(h, nodes, parents, children, bias, cell, passes) -> None:
    depth = {}
    for v in _topological_order(nodes, parents):
        depth[v] = 1 + max((depth[u] for u in parents[v]), default=0)
    levels = max(depth.values())
    for _ in range(passes * (2 * levels - 1)):
        new = {}
        for v in nodes:
            m = bias[v]
            for u in parents[v]:
                m = m + cell.message(h[u])
            for w in children[v]:
                m = m + cell.backward_message(h[w])
            new[v] = cell.update(m.unsqueeze(0), h[v].unsqueeze(0)).squeeze(0)
        h.update(new)


def _topological_order(nodes, parents) -> List[int]:
    order, done = [], set()
    pending = list(nodes)
    while pending:
        ready = [v for v in pending if all(u in done for u in parents[v])]
        order.append(ready[0])
        done.add(ready[0])
        pending.remove(ready[0])
    return order


def reference_generate(
    ghn: GraphHyperNetwork, graphs: Sequence[ComputationGraph]
) -> List[Dict[str, torch.Tensor]]:
    """Generated parameters of every graph, one graph, node and request at a time."""
    hyper = ghn.hypernet
    results = []
    for graph in graphs:
        h = {v: ghn.node_norm(state) for v, state in reference_embed(ghn, graph).items()}
        params = {}
        for request in graph.requests:
            pieces = []
            for part in request.parts:
                family = hyper.families[part.family]
                if family.source == "edge":
                    x = F.relu(hyper.edge_fc(torch.cat([h[part.source], h[part.node]])))
                else:
                    x = F.relu(hyper.node_fc(h[part.node]))
                size = family.slots * torch.Size(family.shape).numel()
                full = hyper.branch(part.family)(x)[:size].view(family.slots, *family.shape)
                crop = full[part.slot]
                for d, (s, f) in enumerate(zip(part.shape, family.shape)):
                    start = (f - s) // 2 if d in family.centered_dims else 0
                    crop = crop.narrow(d, start, s)
                pieces.append(crop)
            whole = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)
            params[request.name] = whole.reshape(request.shape)
        results.append(params)
    return ghn.finish(results)
