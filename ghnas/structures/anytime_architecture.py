"""Anytime architectures (section 5.2, appendix 7.1) as plain data: one DAG of three blocks.

Node id 0 is the stem; ``nodes[i]`` is node id ``i + 1``. A node reads 1 to 3 distinct earlier
nodes (the stem or any earlier node, whatever its block), concatenates them after resampling each
to its own scale, and applies its op. Scale ``s`` means 1/2^s of the input resolution (and C·2^s
channels). Blocks 0, 1, 2 are listed in order; block 0 allows scales {0, 1, 2}, block 1 {1, 2},
block 2 {2} (the paper's 32/16/8 px on CIFAR-10). Some nodes carry an early-exit classifier;
exits run in id order, the last node always carries one, and every node is read by a later node
or carries an exit (no dead compute).
"""

from dataclasses import dataclass
from typing import Any, Dict, Tuple

from ghnas.structures.architecture import dag_hash, find_cycle
from ghnas.utils.errors import GhnasError

# The node ops of the anytime space: nodes concatenate their inputs, so there is no identity
# (it would be redundant with the bottleneck), and no separable convolutions (as the baselines of
# Huang et al., 2018). Each conv is ReLU, k×k conv C_v -> C_v (bias-free, padding k//2), BN; the
# pools are 3×3 with stride 1 and padding 1 (average pooling excludes the padding).
ANYTIME_OPS: Tuple[str, ...] = ("conv_1x1", "conv_3x3", "conv_5x5", "max_pool_3x3", "avg_pool_3x3")

# Scales (resolution 1/2^s) a node of each block may run at.
BLOCK_SCALES: Tuple[Tuple[int, ...], ...] = ((0, 1, 2), (1, 2), (2,))

MAX_PARENTS = 3


@dataclass(frozen=True)
class AnytimeNode:
    """One node: its op, the ids it reads (in concatenation order), scale, exit flag, block."""

    op: str
    parents: Tuple[int, ...]
    scale: int
    exit: bool
    block: int

    def __post_init__(self) -> None:
        if isinstance(self.parents, (list, tuple)):
            object.__setattr__(self, "parents", tuple(self.parents))


@dataclass(frozen=True)
class AnytimeArchitecture:
    """An anytime network's DAG: ``nodes[i]`` is node id ``i + 1``; id 0 is the stem.

    Construction validates and raises a one-line :class:`GhnasError` naming the node and the
    problem: unknown op; not 1-3 distinct inputs, or an input that is missing (dangling), later
    (forward reference) or part of a cycle; blocks not non-decreasing over 0, 1, 2; a scale its
    block does not allow; zero exits; no exit on the last node; a node nobody reads that carries
    no exit (dead compute).
    """

    nodes: Tuple[AnytimeNode, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.nodes, (list, tuple)):
            raise GhnasError("anytime architecture: nodes must be a sequence of AnytimeNode")
        object.__setattr__(self, "nodes", tuple(self.nodes))
        _validate(self.nodes)

    @property
    def num_nodes(self) -> int:
        """Nodes besides the stem."""
        return len(self.nodes)

    @property
    def exits(self) -> Tuple[int, ...]:
        """Ids of the nodes carrying an exit, in id order (which is the order exits run in)."""
        return tuple(i + 1 for i, node in enumerate(self.nodes) if node.exit)

    @property
    def block_sizes(self) -> Tuple[int, int, int]:
        """Nodes in blocks 0, 1 and 2."""
        return tuple(sum(node.block == b for node in self.nodes) for b in range(3))

    def scale(self, node_id: int) -> int:
        """Scale of node ``node_id`` (the stem runs at scale 0)."""
        return 0 if node_id == 0 else self.nodes[node_id - 1].scale

    @property
    def canonical_hash(self) -> str:
        """SHA-256 equal for isomorphic DAGs that keep every exit's rank (see ``dag_hash``).

        A node's label is ``f"{op}@{scale}"`` plus ``f"#exit{rank}"`` when it carries the
        ``rank``-th exit (its position among the exits): the rank fixes the execution order, so
        isomorphic graphs with the same exit ranks behave identically at every budget. Blocks are
        not part of the label (they only restrict scales); the outputs are the exit nodes; the
        stem's label is "stem".
        """
        rank = {node_id: r for r, node_id in enumerate(self.exits)}
        labels = ["stem"]
        for i, node in enumerate(self.nodes):
            label = f"{node.op}@{node.scale}"
            labels.append(label + (f"#exit{rank[i + 1]}" if node.exit else ""))
        parents = [()] + [node.parents for node in self.nodes]
        return dag_hash(labels, parents, self.exits)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able form: ``{"nodes": [{"op", "inputs", "scale", "exit", "block"}, ...]}``."""
        return {
            "nodes": [
                {
                    "op": n.op,
                    "inputs": list(n.parents),
                    "scale": n.scale,
                    "exit": n.exit,
                    "block": n.block,
                }
                for n in self.nodes
            ]
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "AnytimeArchitecture":
        """Inverse of :meth:`to_dict`; malformed input is a :class:`GhnasError`."""
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            raise GhnasError(
                "anytime architecture: expected {'nodes': [{'op': str, 'inputs': [int], "
                "'scale': int, 'exit': bool, 'block': int}]}"
            )
        parsed = []
        for i, n in enumerate(nodes):
            missing = [k for k in ("op", "inputs", "scale", "exit", "block") if k not in n]
            if missing:
                raise GhnasError(f"anytime architecture: node {i + 1} lacks the key {missing[0]!r}")
            if not isinstance(n["inputs"], list):
                raise GhnasError(
                    f"anytime architecture: node {i + 1}: 'inputs' must be a list of node ids, "
                    f"got {n['inputs']!r}"
                )
            parsed.append(AnytimeNode(n["op"], n["inputs"], n["scale"], n["exit"], n["block"]))
        return cls(tuple(parsed))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _scale_text(scale: Any) -> str:
    if _is_int(scale) and 0 <= scale <= 2:
        return f"{scale} ({'1' if scale == 0 else f'1/{2**scale}'})"
    return repr(scale)


def _validate(nodes: Tuple[AnytimeNode, ...]) -> None:
    prefix = "anytime architecture:"
    if not nodes:
        raise GhnasError(f"{prefix} an anytime architecture needs at least one node")
    num_total = len(nodes) + 1
    previous_block = 0
    for i, node in enumerate(nodes):
        v = i + 1
        if not isinstance(node, AnytimeNode):
            raise GhnasError(f"{prefix} node {v} is a {type(node).__name__}, not an AnytimeNode")
        op = node.op
        if not isinstance(op, str) or op not in ANYTIME_OPS:
            accepted = ", ".join(ANYTIME_OPS)
            raise GhnasError(f"{prefix} node {v} has unknown op {op!r}; accepted: {accepted}")
        if not _is_int(node.block) or not 0 <= node.block <= 2:
            raise GhnasError(f"{prefix} node {v} has block {node.block!r}; blocks are 0, 1 and 2")
        if node.block < previous_block:
            raise GhnasError(
                f"{prefix} node {v} is in block {node.block} after a node of block "
                f"{previous_block}; blocks must be non-decreasing"
            )
        previous_block = node.block
        allowed = BLOCK_SCALES[node.block]
        if not _is_int(node.scale) or node.scale not in allowed:
            raise GhnasError(
                f"{prefix} node {v} in block {node.block} has scale {_scale_text(node.scale)}; "
                f"block {node.block} allows scales {list(allowed)}"
            )
        if not isinstance(node.exit, bool):
            raise GhnasError(f"{prefix} node {v}: exit must be true or false, got {node.exit!r}")
        parents = node.parents
        if not isinstance(parents, tuple):
            raise GhnasError(f"{prefix} node {v}: inputs must be a list of node ids")
        if not parents:
            raise GhnasError(f"{prefix} node {v} ({op}) has no inputs (dangling node)")
        if len(parents) > MAX_PARENTS:
            raise GhnasError(
                f"{prefix} node {v} ({op}) has {len(parents)} inputs; a node reads 1 to "
                f"{MAX_PARENTS}"
            )
        for p in parents:
            if not _is_int(p) or p < 0 or p >= num_total:
                raise GhnasError(
                    f"{prefix} node {v} reads node {p!r}, which does not exist (dangling edge; "
                    f"nodes are 0..{num_total - 1}, 0 the stem)"
                )
        if len(set(parents)) != len(parents):
            raise GhnasError(f"{prefix} node {v} lists an input twice: {list(parents)}")
    cycle = find_cycle({i + 1: node.parents for i, node in enumerate(nodes)})
    if cycle:
        path = " -> ".join(str(n) for n in cycle)
        raise GhnasError(f"{prefix} cycle through nodes {path}")
    for i, node in enumerate(nodes):
        late = [p for p in node.parents if p > i]
        if late:
            raise GhnasError(
                f"{prefix} node {i + 1} reads later node {late[0]}; list nodes in topological order"
            )
    exits = [i + 1 for i, node in enumerate(nodes) if node.exit]
    if not exits:
        raise GhnasError(
            f"{prefix} zero exits; an anytime network needs at least one exit (on its last node)"
        )
    if not nodes[-1].exit:
        raise GhnasError(
            f"{prefix} the last node ({len(nodes)}) carries no exit; its compute would be wasted"
        )
    read = {p for node in nodes for p in node.parents}
    for i, node in enumerate(nodes):
        if not node.exit and i + 1 not in read:
            raise GhnasError(
                f"{prefix} node {i + 1} is read by no later node and carries no exit (dead compute)"
            )
