"""The one-shot baseline of Table 4: ENAS-style shared weights (Pham et al., 2018).

Every architecture of the space is a path through one over-parametrised model that stores a
weight per (block index, node position, op) and, for each block input, a bottleneck chunk per
leaf position of the block it reads; the stem, the classifier chunks per leaf position and the
classifier bias are single tensors. An architecture's network takes the weights at its own
(position, op) pairs, so two architectures with the same op at the same position share them.
BN runs on batch statistics without affine weights, as for GHN-generated weights.

The model answers ``generate(space, archs)`` like a GHN, so it trains with the GHN trainer
(one random architecture per step, ``SOLVER.MAX_ITER`` steps) and scores with the search's
scorer. Unlike the GHN it is tied to one node count: it must train at the evaluated N.

Keys are read off the computation graph (module index, position in the module, node type, weight
family and slot, shape; edge chunks by the position of the node they come from), so the model
holds exactly what the graphs request. The table is filled from covering architectures that put
every op at every position and make every op node a leaf; the classification space is the one
this is defined for.
"""

import math
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from torch import nn

from ghnas.ghn.hypernet import assemble_parts
from ghnas.search_spaces.classification import OP_NAMES, ClassificationSearchSpace
from ghnas.structures.architecture import BlockArchitecture
from ghnas.structures.graph import ComputationGraph, ParamPart
from ghnas.utils.errors import GhnasError


class OneShotModel(nn.Module):
    """Shared weights for every architecture of a classification space at its node count."""

    def __init__(self, space: ClassificationSearchSpace) -> None:
        super().__init__()
        if not isinstance(space, ClassificationSearchSpace):
            raise GhnasError(
                f"CORRELATION.ONE_SHOT: the one-shot baseline is defined for the "
                f"'classification' search space, not '{space.name}'; set it to False"
            )
        self.num_nodes = space.num_nodes
        self.table = nn.ParameterDict()
        for arch in covering_architectures(space.num_nodes):
            graph = space.to_graph(arch)
            starts = module_starts(graph)
            for request in graph.requests:
                for part in request.parts:
                    key = part_key(graph, part, starts)
                    if key not in self.table:
                        self.table[key] = nn.Parameter(_initial(part.shape))

    def generate(self, space, archs: Sequence[Any]) -> List[Dict[str, torch.Tensor]]:
        """Each architecture's weights (name -> tensor) taken from the shared table."""
        params = []
        for arch in archs:
            if arch.num_nodes != self.num_nodes:
                raise GhnasError(
                    f"one-shot: the model holds blocks of {self.num_nodes} nodes, not "
                    f"{arch.num_nodes}; it must be trained at the evaluated node count"
                )
            graph = space.to_graph(arch)
            starts = module_starts(graph)
            params.append(
                {
                    request.name: assemble_parts(
                        [self.table[part_key(graph, p, starts)] for p in request.parts],
                        request.shape,
                    )
                    for request in graph.requests
                }
            )
        return params


def covering_architectures(num_nodes: int) -> List[BlockArchitecture]:
    """One block per op with that op at every position and every op node a leaf.

    Node 0 reads input 0, node 1 input 1 and the others input 0 (a single node reads both), so
    every node is a leaf: their graphs request every (position, op) weight and every leaf chunk.
    """
    parents = [(0,), (1,)] + [(0,)] * (num_nodes - 2) if num_nodes > 1 else [(0, 1)]
    return [BlockArchitecture((op,) * num_nodes, tuple(parents)) for op in OP_NAMES]


def part_key(graph: ComputationGraph, part: ParamPart, starts: Dict[int, int]) -> str:
    """Where ``part`` lives in the shared table (no dots: it names a parameter); ``starts``
    holds each module's first node (:func:`module_starts`)."""
    module = int(graph.node_module[part.node])
    key = (
        f"m{module}_p{part.node - starts[module]}_{graph.node_types[part.node]}_{part.family}"
        f"_s{part.slot}_{'x'.join(map(str, part.shape))}"
    )
    if part.source >= 0:
        source_module = int(graph.node_module[part.source])
        key += f"_from_m{source_module}_p{part.source - starts[source_module]}"
    return key


def module_starts(graph: ComputationGraph) -> Dict[int, int]:
    """Module index -> its first node (a module's nodes are consecutive)."""
    modules = graph.node_module
    values, first = np.unique(modules, return_index=True)
    return dict(zip(values.tolist(), first.tolist()))


def _initial(shape) -> torch.Tensor:
    """PyTorch's default conv/linear initialisation, U(±1/sqrt(fan_in)); biases start at 0."""
    if len(shape) == 1:
        return torch.zeros(shape)
    bound = 1.0 / math.sqrt(math.prod(shape[1:]))
    return torch.empty(shape).uniform_(-bound, bound)
