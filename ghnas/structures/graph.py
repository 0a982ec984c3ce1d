"""The computation graph a graph hypernetwork reads: plain data, one per architecture."""

from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from ghnas.utils.errors import GhnasError


@dataclass(frozen=True)
class ParamPart:
    """A piece of a generated parameter, produced by one hypernet branch.

    ``node`` is the node whose embedding generates it. For an edge family, ``source`` is the
    node at the other end and the hypernet reads ``[h_source ; h_node]``; it is -1 otherwise.
    ``slot`` selects one of the family's identical output slots and ``shape`` the slice of the
    family's output that is taken (leading slice; the family's centred dims are centre-cropped).
    """

    family: str
    slot: int
    shape: Tuple[int, ...]
    node: int
    source: int = -1


@dataclass(frozen=True)
class ParamRequest:
    """A parameter of the candidate network the GHN must produce.

    Its parts are concatenated along dim 1 (per-incoming-edge chunks of a bottleneck or a
    classifier; a single part otherwise), then reshaped to ``shape``.
    """

    name: str
    shape: Tuple[int, ...]
    parts: Tuple[ParamPart, ...]


@dataclass(frozen=True)
class ComputationGraph:
    """A DAG of typed nodes with the parameters each node generates.

    Attributes:
        node_types: vocabulary name of every node.
        edges: (E, 2) int array of (source, destination) node indices: the data flow.
        node_module: stacked-GHN module (stem, block, classifier ...) of every node; module
            indices are consecutive from 0 and every module has exactly one sink among the
            edges inside it. Edges between modules carry data from one module's sink (or
            leaves) to the next modules' input nodes.
        requests: the parameters to generate, in the network's ``named_parameters`` order.
        node_features: extra categorical attributes of every node (e.g. an anytime node's scale
            and exit flag), name -> int array; the GHN adds a learned embedding of each to the
            node's initial state (a one-hot concatenation through one linear map).
    """

    node_types: Tuple[str, ...]
    edges: np.ndarray
    node_module: np.ndarray
    requests: Tuple[ParamRequest, ...]
    node_features: Dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "node_module", np.asarray(self.node_module, dtype=np.int64))
        n = len(self.node_types)
        if self.node_module.shape != (n,):
            raise GhnasError(f"graph: node_module has shape {self.node_module.shape}, want ({n},)")
        features = {k: np.asarray(v, dtype=np.int64) for k, v in self.node_features.items()}
        object.__setattr__(self, "node_features", features)
        if any(v.shape != (n,) for v in features.values()):
            raise GhnasError(f"graph: every node feature needs one value per node ({n})")
        if edges.size and (edges.min() < 0 or edges.max() >= n):
            raise GhnasError("graph: an edge names a node that does not exist")
        if edges.size and np.any(self.node_module[edges[:, 0]] > self.node_module[edges[:, 1]]):
            raise GhnasError("graph: an edge runs from a later module to an earlier one")

    @property
    def num_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_types)

    @property
    def num_modules(self) -> int:
        """Number of stacked modules."""
        return int(self.node_module.max()) + 1


def topological_levels(num_nodes: int, edges: np.ndarray) -> np.ndarray:
    """Longest-path depth of every node from the sources; raises on a cycle."""
    levels = np.zeros(num_nodes, dtype=np.int64)
    if edges.size == 0:
        return levels
    src, dst = edges[:, 0], edges[:, 1]
    for _ in range(num_nodes):
        proposed = levels.copy()
        np.maximum.at(proposed, dst, levels[src] + 1)
        if np.array_equal(proposed, levels):
            return levels
        levels = proposed
    raise GhnasError("graph: the edges contain a cycle")
