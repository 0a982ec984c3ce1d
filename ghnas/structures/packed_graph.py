"""Many computation graphs packed into one disjoint graph, with level schedules.

The GHN never loops over architectures or nodes: it loops over modules, passes and topological
levels, and every step updates all nodes of one level of one module across the whole batch.
This file turns a list of :class:`ComputationGraph` into the index tensors that make that work.
"""

from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np
import torch

from ghnas.structures.graph import ComputationGraph, topological_levels
from ghnas.utils.errors import GhnasError


@dataclass
class LevelStep:
    """One level update: ``nodes`` (module-local ids) receive messages ``h[src] -> dst_pos``."""

    nodes: torch.Tensor
    src: torch.Tensor
    dst_pos: torch.Tensor


@dataclass
class ModuleSchedule:
    """Everything needed to propagate one stacked module over the packed batch.

    Node ids are local to the module: the module's nodes are the contiguous global range
    ``[start, stop)``. ``input_nodes`` receive the previous module's graph embedding;
    ``node_arch`` maps each node to its architecture (for graph embeddings). ``edges`` holds all
    edges inside the module (for synchronous propagation) and ``sync_steps`` the number of
    simultaneous updates each node takes per pass (2L - 1 with L the levels of its graph).
    """

    start: int
    stop: int
    node_arch: torch.Tensor
    input_nodes: torch.Tensor
    forward: List[LevelStep]
    backward: List[LevelStep]
    edges: torch.Tensor
    sync_steps: torch.Tensor
    max_sync_steps: int


@dataclass
class PackedGraph:
    """A batch of graphs as one graph whose nodes are ordered by (module, arch, node)."""

    num_archs: int
    node_types: torch.Tensor
    node_features: Dict[str, torch.Tensor]
    modules: List[ModuleSchedule]
    global_index: List[np.ndarray]
    graphs: Sequence[ComputationGraph]

    @property
    def num_nodes(self) -> int:
        """Total nodes in the batch."""
        return int(self.node_types.numel())

    @classmethod
    def pack(
        cls,
        graphs: Sequence[ComputationGraph],
        vocabulary: Dict[str, int],
        *,
        stacked: bool = True,
        device: torch.device = torch.device("cpu"),
    ) -> "PackedGraph":
        """Pack ``graphs``; ``stacked=False`` treats every graph as one flat module."""
        if not graphs:
            raise GhnasError("cannot pack an empty list of graphs")
        sizes = np.array([g.num_nodes for g in graphs])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        arch = np.repeat(np.arange(len(graphs)), sizes)
        local = np.concatenate([np.arange(n) for n in sizes])
        module = np.concatenate([g.node_module for g in graphs])
        if not stacked:
            module = np.zeros_like(module)
        edges = np.concatenate([g.edges + o for g, o in zip(graphs, offsets)])
        inside = module[edges[:, 0]] == module[edges[:, 1]]
        intra, cross = edges[inside], edges[~inside]
        types = _type_ids(graphs, vocabulary)
        names = set(graphs[0].node_features)
        if any(set(g.node_features) != names for g in graphs):
            raise GhnasError("graph: packed graphs must carry the same node features")
        features = {k: np.concatenate([g.node_features[k] for g in graphs]) for k in names}

        order = np.lexsort((local, arch, module))  # new position -> old id
        new_id = np.empty_like(order)
        new_id[order] = np.arange(len(order))
        intra, cross = new_id[intra], new_id[cross]
        module, arch, types = module[order], arch[order], types[order]
        features = {k: v[order] for k, v in features.items()}

        levels = topological_levels(len(order), intra)
        group = module * len(graphs) + arch  # (module, arch) pairs
        group_levels = np.zeros(group.max() + 1, dtype=np.int64)
        np.maximum.at(group_levels, group, levels + 1)
        has_child = np.zeros(len(order), dtype=bool)
        has_child[intra[:, 0]] = True
        sinks = np.bincount(group[~has_child], minlength=group.max() + 1)
        present = np.bincount(group, minlength=group.max() + 1) > 0
        if np.any(sinks[present] != 1):
            raise GhnasError("graph: every module of every graph needs exactly one sink")
        is_input = np.zeros(len(order), dtype=bool)
        is_input[cross[:, 1]] = True

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long, device=device)

        schedules = []
        bounds = np.searchsorted(module, np.arange(module.max() + 2))
        for m in range(int(module.max()) + 1):
            start, stop = int(bounds[m]), int(bounds[m + 1])
            m_edges = intra[(intra[:, 0] >= start) & (intra[:, 0] < stop)] - start
            m_levels = levels[start:stop]
            steps = [_level_step(m_levels, m_edges, lv, tensor) for lv in range(m_levels.max() + 1)]
            back = [
                _level_step(m_levels, m_edges[:, ::-1], lv, tensor, keep=has_child[start:stop])
                for lv in range(m_levels.max() - 1, -1, -1)
            ]
            schedules.append(
                ModuleSchedule(
                    start=start,
                    stop=stop,
                    node_arch=tensor(arch[start:stop]),
                    input_nodes=tensor(np.flatnonzero(is_input[start:stop])),
                    forward=steps,
                    backward=[b for b in back if b.nodes.numel()],
                    edges=tensor(m_edges),
                    sync_steps=tensor(2 * group_levels[group[start:stop]] - 1),
                    max_sync_steps=int(2 * m_levels.max() + 1),
                )
            )
        global_index = [new_id[o : o + n] for o, n in zip(offsets, sizes)]
        features_t = {k: tensor(v) for k, v in features.items()}
        return cls(len(graphs), tensor(types), features_t, schedules, global_index, graphs)


def _type_ids(graphs: Sequence[ComputationGraph], vocabulary: Dict[str, int]) -> np.ndarray:
    names = [t for g in graphs for t in g.node_types]
    try:
        return np.array([vocabulary[t] for t in names], dtype=np.int64)
    except KeyError as e:
        known = ", ".join(vocabulary)
        raise GhnasError(
            f"graph: node type {e.args[0]!r} is not in the vocabulary: {known}"
        ) from None


def _level_step(levels, edges, level, tensor, keep=None) -> LevelStep:
    """The nodes at ``level`` (optionally only those in ``keep``) and the edges into them."""
    mask = levels == level
    if keep is not None:
        mask &= keep
    nodes = np.flatnonzero(mask)
    into = edges[mask[edges[:, 1]]] if edges.size else edges.reshape(0, 2)
    dst_pos = np.searchsorted(nodes, into[:, 1])
    return LevelStep(tensor(nodes), tensor(into[:, 0]), tensor(dst_pos))
