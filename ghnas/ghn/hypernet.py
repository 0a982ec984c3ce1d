"""H: the hypernet that turns node (or edge) embeddings into the candidate network's weights.

H is a 2-layer MLP. Its first layer is shared by all nodes (a second one reads edges
``[h_source ; h_node]``); its output layer has one branch per parameter family, and a request
only computes the rows of that layer it needs (a 3×3 kernel is the centre of the 5×5 output, 16
channels the first 16 of 64), so the cost follows the weights actually generated. Requests of
the same (family, slot, shape) across all nodes and architectures of a batch are one matmul.
"""

import math
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ghnas.search_spaces.base import WeightFamily
from ghnas.structures.packed_graph import PackedGraph
from ghnas.utils.errors import GhnasError

GroupKey = Tuple[str, int, Tuple[int, ...]]


class HyperNetwork(nn.Module):
    """Output branches per family (or one shared branch, the ablation) over a 2-layer MLP."""

    def __init__(
        self,
        *,
        families: Dict[str, WeightFamily],
        embedding_size: int,
        hidden_size: int,
        shared_branch: bool = False,
    ) -> None:
        super().__init__()
        self.families = dict(families)
        self.node_fc = nn.Linear(embedding_size, hidden_size)
        self.edge_fc = nn.Linear(2 * embedding_size, hidden_size)
        sizes = {name: f.slots * math.prod(f.shape) for name, f in self.families.items()}
        self.shared_branch = shared_branch
        if shared_branch:
            self.branches = nn.ModuleDict({"shared": nn.Linear(hidden_size, max(sizes.values()))})
        else:
            self.branches = nn.ModuleDict(
                {name: nn.Linear(hidden_size, size) for name, size in sizes.items()}
            )
        self._row_cache: Dict[Tuple[GroupKey, torch.device], torch.Tensor] = {}

    def branch_name(self, family: str) -> str:
        """Name of the output layer serving ``family``."""
        return "shared" if self.shared_branch else family

    def branch(self, family: str) -> nn.Linear:
        """The output layer serving ``family``."""
        return self.branches[self.branch_name(family)]

    def selected_rows(self, keys, device: torch.device) -> Dict[GroupKey, Tuple[Tensor, Tensor]]:
        """(weight rows, bias rows) of the output layer for every group ``key``.

        One ``index_select`` per branch rather than per group: in backward each selection
        allocates a gradient the size of its whole branch, and a branch serves many groups.
        """
        by_branch: Dict[str, List[GroupKey]] = {}
        for key in keys:
            by_branch.setdefault(self.branch_name(key[0]), []).append(key)
        selected = {}
        for name, branch_keys in by_branch.items():
            rows = [self.rows(key, device) for key in branch_keys]
            sizes = [r.numel() for r in rows]
            every_row = torch.cat(rows)
            weights = self.branches[name].weight.index_select(0, every_row).split(sizes)
            biases = self.branches[name].bias.index_select(0, every_row).split(sizes)
            selected.update(zip(branch_keys, zip(weights, biases)))
        return selected

    def rows(self, key: GroupKey, device: torch.device) -> torch.Tensor:
        """Indices of the branch outputs that make a ``key = (family, slot, shape)`` tensor."""
        cached = self._row_cache.get((key, device))
        if cached is None:
            cached = family_rows(self.families, key).to(device)
            self._row_cache[(key, device)] = cached
        return cached

    def forward(self, h: torch.Tensor, packed: PackedGraph) -> List[Dict[str, torch.Tensor]]:
        """Generate every requested parameter; one name -> tensor dict per architecture."""
        groups, layout = _plan(packed)
        node_hidden = F.relu(self.node_fc(h))
        w_src, w_dst = self.edge_fc.weight.split(h.shape[1], dim=1)
        edge_src, edge_dst = h @ w_src.t(), h @ w_dst.t() + self.edge_fc.bias
        outputs = {}
        selected = self.selected_rows(groups, h.device)
        for key, (nodes, sources) in groups.items():
            nodes_t = torch.as_tensor(nodes, device=h.device)
            if self.families[key[0]].source == "edge":
                sources_t = torch.as_tensor(sources, device=h.device)
                x = F.relu(edge_src.index_select(0, sources_t) + edge_dst.index_select(0, nodes_t))
            else:
                x = node_hidden.index_select(0, nodes_t)
            out = F.linear(x, *selected[key])
            outputs[key] = out.view(len(nodes), *key[2]).unbind(0)
        return [
            {
                name: assemble_parts([outputs[key][row] for key, row in refs], shape)
                for name, shape, refs in entries
            }
            for entries in layout
        ]


def family_rows(families: Dict[str, WeightFamily], key: GroupKey) -> torch.Tensor:
    """Flat output indices of a slot's leading slice, centred along the family's kernel dims."""
    name, slot, shape = key
    family = families[name]
    if len(shape) != len(family.shape) or any(s > f for s, f in zip(shape, family.shape)):
        raise GhnasError(
            f"GHN: a {name} weight of shape {tuple(shape)} does not fit the GHN's {name} branch "
            f"{family.shape}; was the GHN built for a narrower network (MODEL.INIT_CHANNELS)?"
        )
    index = torch.arange(family.slots * math.prod(family.shape)).view(family.slots, *family.shape)
    slices = tuple(
        slice((f - s) // 2, (f - s) // 2 + s) if d in family.centered_dims else slice(0, s)
        for d, (s, f) in enumerate(zip(shape, family.shape))
    )
    return index[slot][slices].reshape(-1)


def _plan(packed: PackedGraph):
    """Group every requested part by (family, slot, shape) and remember where each one goes."""
    groups: Dict[GroupKey, Tuple[List[int], List[int]]] = {}
    layout = []
    for graph, index in zip(packed.graphs, packed.global_index):
        entries = []
        for request in graph.requests:
            refs = []
            for part in request.parts:
                key = (part.family, part.slot, part.shape)
                nodes, sources = groups.setdefault(key, ([], []))
                refs.append((key, len(nodes)))
                nodes.append(int(index[part.node]))
                sources.append(int(index[part.source]) if part.source >= 0 else -1)
            entries.append((request.name, request.shape, refs))
        layout.append(entries)
    return groups, layout


def assemble_parts(pieces: List[torch.Tensor], shape: Tuple[int, ...]) -> torch.Tensor:
    """A requested parameter from its parts: per-edge chunks concatenated along dim 1 (see
    :class:`ParamRequest`), given the parameter's shape."""
    tensor = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)
    return tensor.reshape(shape)
