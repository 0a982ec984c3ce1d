"""Architectures as plain data: frozen, validated, JSON-serialisable, canonically hashed."""

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

from ghnas.utils.errors import GhnasError

# The two input nodes of every block: bottlenecks over the outputs of blocks i-1 and i-2.
BLOCK_INPUTS: Tuple[str, str] = ("input_prev", "input_prevprev")


def dag_hash(
    labels: Sequence[str], parents: Sequence[Sequence[int]], outputs: Iterable[int]
) -> str:
    """SHA-256 of a DAG that is equal for isomorphic DAGs.

    The signature of a node is (its label, the sorted signatures of its parents), hashed Merkle
    style so deep graphs stay linear in size. The signature of the graph's outputs alone would
    merge "twin" nodes (same label, same inputs) into one, so the hash also covers the multiset
    of all node signatures and of all edges as (parent signature, child signature) pairs. All
    three are isomorphism invariants, so isomorphic graphs always hash equal.
    """
    signatures: List[str] = []
    for label, node_parents in zip(labels, parents):
        parent_sigs = sorted(signatures[p] for p in node_parents)
        signatures.append(_sha(label + "(" + ",".join(parent_sigs) + ")"))
    edges = sorted(signatures[p] + ">" + signatures[v] for v, ps in enumerate(parents) for p in ps)
    parts = [sorted(signatures[o] for o in outputs), sorted(signatures), edges]
    return _sha("|".join(",".join(part) for part in parts))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class BlockArchitecture:
    """A block (motif) of the classification search space.

    Nodes 0 and 1 are the input nodes (``input_prev``, ``input_prevprev``); op node ``j`` is
    node ``j + 2``, applies ``ops[j]`` to each node in ``parents[j]`` and sums (Eq. 7). The
    block's output concatenates its leaves (op nodes nobody reads). Nodes are listed in
    topological order: a node only reads earlier nodes.

    Construction validates and raises :class:`GhnasError` naming the problem (unknown op, cycle,
    forward or dangling reference, unread input).
    """

    ops: Tuple[str, ...]
    parents: Tuple[Tuple[int, ...], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "parents", tuple(tuple(p) for p in self.parents))
        _validate(self.ops, self.parents)

    @property
    def num_nodes(self) -> int:
        """N: the number of op nodes."""
        return len(self.ops)

    @property
    def leaves(self) -> Tuple[int, ...]:
        """Node indices (>= 2) of the op nodes no other node reads, in order."""
        read = {p for node_parents in self.parents for p in node_parents}
        return tuple(j + 2 for j in range(self.num_nodes) if j + 2 not in read)

    @property
    def canonical_hash(self) -> str:
        """SHA-256 that is equal for isomorphic blocks (see :func:`dag_hash`)."""
        labels = list(BLOCK_INPUTS) + list(self.ops)
        parents = [(), ()] + list(self.parents)
        return dag_hash(labels, parents, self.leaves)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able form: ``{"nodes": [{"op": ..., "inputs": [...]}, ...]}``."""
        return {"nodes": [{"op": o, "inputs": list(p)} for o, p in zip(self.ops, self.parents)]}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "BlockArchitecture":
        """Inverse of :meth:`to_dict`; malformed input is a :class:`GhnasError`."""
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            raise GhnasError("architecture: expected {'nodes': [{'op': str, 'inputs': [int]}]}")
        try:
            return cls(tuple(n["op"] for n in nodes), tuple(tuple(n["inputs"]) for n in nodes))
        except KeyError as e:
            raise GhnasError(f"architecture: a node lacks the key {e.args[0]!r}") from None
        except TypeError:
            raise GhnasError(
                "architecture: each node needs 'op' (a string) and 'inputs' (a list of node "
                "indices)"
            ) from None


def _validate(ops: Tuple[str, ...], parents: Tuple[Tuple[int, ...], ...]) -> None:
    from ghnas.layers.classification_ops import CLASSIFICATION_OPS

    if len(ops) == 0:
        raise GhnasError("architecture: a block needs at least one op node")
    if len(ops) != len(parents):
        raise GhnasError(f"architecture: {len(ops)} ops but {len(parents)} parent lists")
    num_total = len(ops) + 2
    for j, (op, node_parents) in enumerate(zip(ops, parents)):
        node = j + 2
        if not isinstance(op, str) or op not in CLASSIFICATION_OPS:
            accepted = ", ".join(CLASSIFICATION_OPS)
            raise GhnasError(
                f"architecture: node {node} has unknown op {op!r}; accepted: {accepted}"
            )
        if not node_parents:
            raise GhnasError(f"architecture: node {node} ({op}) has no inputs (dangling node)")
        if len(set(node_parents)) != len(node_parents):
            raise GhnasError(
                f"architecture: node {node} lists an input twice: {list(node_parents)}"
            )
        for p in node_parents:
            if not isinstance(p, int) or isinstance(p, bool) or p < 0 or p >= num_total:
                raise GhnasError(
                    f"architecture: node {node} reads node {p!r}, which does not exist "
                    f"(dangling edge; nodes are 0..{num_total - 1})"
                )
    cycle = find_cycle({j + 2: ps for j, ps in enumerate(parents)})
    if cycle:
        path = " -> ".join(str(n) for n in cycle)
        raise GhnasError(f"architecture: cycle through nodes {path}")
    for j, node_parents in enumerate(parents):
        late = [p for p in node_parents if p >= j + 2]
        if late:
            raise GhnasError(
                f"architecture: node {j + 2} reads later node {late[0]}; list nodes in "
                "topological order"
            )
    read = {p for node_parents in parents for p in node_parents}
    for index, name in enumerate(BLOCK_INPUTS):
        if index not in read:
            raise GhnasError(f"architecture: input node {index} ({name}) is never read")


def find_cycle(parents: Mapping[int, Sequence[int]]) -> List[int]:
    """A cycle as a node path (first node repeated), or [] if acyclic; ``parents[v]`` lists
    the nodes ``v`` reads (nodes missing from the mapping read nothing)."""
    state: Dict[int, int] = {}  # 1 = on the DFS stack, 2 = finished

    def visit(node: int, stack: List[int]) -> List[int]:
        state[node] = 1
        stack.append(node)
        for p in parents.get(node, ()):
            if state.get(p) == 1:
                return stack[stack.index(p) :] + [p]
            if p not in state:
                found = visit(p, stack)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(parents):
        if start not in state:
            found = visit(start, [])
            if found:
                return found
    return []
