"""The graph hypernetwork (sections 4.2-4.4): embed, propagate, generate every weight.

Usage::

    ghn = build_ghn(cfg, space)
    params = ghn.generate([space.sample(rng) for _ in range(8)])   # one dict per architecture
    logits = torch.func.functional_call(network, params[0], (images,), strict=False)

Graphs of many architectures are packed into one (``PackedGraph``); propagation loops over
modules (the stacked GHN of section 4.3), passes and topological levels, never over nodes or
architectures. After module i is propagated, the mean of its node embeddings is the graph
embedding h_{A_i}; M(h_{A_i}) is added to the message of every input node of module i+1 (zeros
when passing is off). With sharing off each module index has its own embedding, M and U.
GHN-2's stabilisers are switches: LayerNorm of the node states before H, and fan-in scaling of
every generated weight (:func:`fan_in_scale`).
"""

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ghnas.ghn.cell import GraphCell
from ghnas.ghn.hypernet import HyperNetwork
from ghnas.search_spaces.base import WeightFamily
from ghnas.structures.graph import ComputationGraph
from ghnas.structures.packed_graph import PackedGraph
from ghnas.utils.errors import GhnasError


class GraphHyperNetwork(nn.Module):
    """A GNN over computation graphs followed by the weight-generating hypernet H."""

    def __init__(
        self,
        *,
        vocabulary: Sequence[str],
        families: Dict[str, WeightFamily],
        num_modules: int,
        node_feature_sizes: Optional[Dict[str, int]] = None,
        propagation,
        num_passes: int,
        hidden_size: int = 32,
        message_hidden_size: int = 32,
        hypernet_hidden_size: int = 64,
        separate_backward_message: bool = False,
        stacked: bool = True,
        share_parameters: bool = True,
        pass_embeddings: bool = True,
        shared_branch: bool = False,
        fan_in_scaling: bool = False,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        self.vocabulary = {name: i for i, name in enumerate(vocabulary)}
        self.propagation = propagation
        self.num_passes = num_passes
        self.stacked = stacked
        self.pass_embeddings = pass_embeddings
        self.hidden_size = hidden_size
        sets = num_modules if stacked and not share_parameters else 1
        self.embeddings = nn.ModuleList(
            nn.Embedding(len(vocabulary), hidden_size) for _ in range(sets)
        )
        # One embedding per extra node feature: together with the type embedding this is the
        # concatenated one-hots through one learned linear map (appendix 7.2, anytime).
        features = dict(node_feature_sizes or {})
        self.feature_embeddings = nn.ModuleList(
            nn.ModuleDict({k: nn.Embedding(n, hidden_size) for k, n in features.items()})
            for _ in range(sets)
        )
        self.cells = nn.ModuleList(
            GraphCell(
                hidden_size=hidden_size,
                message_hidden_size=message_hidden_size,
                separate_backward_message=separate_backward_message,
            )
            for _ in range(sets)
        )
        self.fan_in_scaling = fan_in_scaling
        self.node_norm = nn.LayerNorm(hidden_size) if layer_norm else nn.Identity()
        self.hypernet = HyperNetwork(
            families=families,
            embedding_size=hidden_size,
            hidden_size=hypernet_hidden_size,
            shared_branch=shared_branch,
        )

    def pack(self, graphs: Sequence[ComputationGraph]) -> PackedGraph:
        """Pack graphs the way this GHN propagates them (stacked modules or one flat graph)."""
        device = self.embeddings[0].weight.device
        return PackedGraph.pack(graphs, self.vocabulary, stacked=self.stacked, device=device)

    def module_parameters(self, module: int) -> Tuple[nn.Embedding, GraphCell]:
        """The embedding and cell used for stacked module ``module``."""
        return self.embeddings[self.parameter_set(module)], self.cells[self.parameter_set(module)]

    def parameter_set(self, module: int) -> int:
        """Index of the parameter set used for ``module`` (0 when parameters are shared)."""
        if len(self.cells) == 1:
            return 0
        if module >= len(self.cells):
            raise GhnasError(
                f"GHN: graph has module {module} but the GHN (sharing off) was built for "
                f"{len(self.cells)} modules"
            )
        return module

    def initial_state(self, module: int, types: torch.Tensor, features: Dict[str, torch.Tensor]):
        """h^(0): the type embedding plus the embedding of every node feature."""
        h = self.embeddings[self.parameter_set(module)](types)
        embeddings = self.feature_embeddings[self.parameter_set(module)]
        if set(features) != set(embeddings):
            raise GhnasError(
                f"GHN: graph node features {sorted(features)} differ from the GHN's "
                f"{sorted(embeddings)}"
            )
        for name, values in features.items():
            h = h + embeddings[name](values)
        return h

    def embed(self, packed: PackedGraph) -> torch.Tensor:
        """Final node embeddings h^(T) of the packed batch, in its node order."""
        outputs: List[torch.Tensor] = []
        graph_embedding = self.embeddings[0].weight.new_zeros(packed.num_archs, self.hidden_size)
        for m, schedule in enumerate(packed.modules):
            _, cell = self.module_parameters(m)
            part = slice(schedule.start, schedule.stop)
            features = {k: v[part] for k, v in packed.node_features.items()}
            h = self.initial_state(m, packed.node_types[part], features)
            bias = torch.zeros_like(h)
            if schedule.input_nodes.numel():
                passed = (
                    graph_embedding if self.pass_embeddings else torch.zeros_like(graph_embedding)
                )
                archs = schedule.node_arch.index_select(0, schedule.input_nodes)
                bias = bias.index_copy(0, schedule.input_nodes, cell.message(passed)[archs])
            h = self.propagation.propagate(h, schedule, cell, bias, self.num_passes)
            graph_embedding = _mean_per_arch(h, schedule.node_arch, packed.num_archs)
            outputs.append(h)
        return torch.cat(outputs)

    def forward(self, packed: PackedGraph) -> List[Dict[str, torch.Tensor]]:
        """Generated parameters (name -> tensor) of every architecture in ``packed``."""
        return self.finish(self.hypernet(self.node_norm(self.embed(packed)), packed))

    def finish(self, params: List[Dict[str, torch.Tensor]]) -> List[Dict[str, torch.Tensor]]:
        """The hypernet's output as the networks receive it (fan-in scaled, if on)."""
        if not self.fan_in_scaling:
            return params
        return [{name: w * fan_in_scale(w.shape) for name, w in p.items()} for p in params]

    def generate_for_graphs(
        self, graphs: Sequence[ComputationGraph]
    ) -> List[Dict[str, torch.Tensor]]:
        """Pack ``graphs`` and generate their parameters."""
        return self(self.pack(graphs))

    def generate(self, space, archs: Sequence[Any]) -> List[Dict[str, torch.Tensor]]:
        """Generated parameters for architectures of ``space``."""
        return self.generate_for_graphs([space.to_graph(a) for a in archs])


def fan_in_scale(shape) -> float:
    """sqrt(beta / fan_in) of a weight of ``shape``: fan_in = input channels x kernel area;
    beta = 2 for a convolution (whose output reaches a ReLU), 1 for a linear layer; 1 for a
    bias or other vector (not scaled)."""
    if len(shape) < 2:
        return 1.0
    fan_in = math.prod(shape[1:])
    return math.sqrt((2.0 if len(shape) == 4 else 1.0) / fan_in)


def _mean_per_arch(h: torch.Tensor, arch: torch.Tensor, num_archs: int) -> torch.Tensor:
    total = h.new_zeros(num_archs, h.shape[1]).index_add(0, arch, h)
    count = torch.bincount(arch, minlength=num_archs).clamp(min=1).unsqueeze(1)
    return total / count
