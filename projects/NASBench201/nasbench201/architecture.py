"""NAS-Bench-201 architectures: the operator on each of the cell's six edges, as plain data."""

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from ghnas.structures.architecture import dag_hash
from ghnas.utils.errors import GhnasError

# The benchmark's operators, in its own order.
NB201_OPS: Tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
# (destination, source) cell nodes of the six edges in the benchmark's order:
# 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
EDGES: Tuple[Tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_CELL_NODES = 4

_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d+)$")


@dataclass(frozen=True)
class NB201Architecture:
    """A cell of NAS-Bench-201: ``ops[e]`` is the operator on edge ``EDGES[e]``.

    Node 0 is the cell input, node 3 its output; node j sums ``op_ij(node i)`` over i < j.
    Construction validates and raises :class:`GhnasError` naming the problem.
    """

    ops: Tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.ops, str) or not hasattr(self.ops, "__len__"):
            raise GhnasError(
                f"architecture: ops must be a sequence of 6 op names, got {self.ops!r}"
            )
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) != len(EDGES):
            raise GhnasError(
                f"architecture: a cell has {len(EDGES)} edges, got {len(self.ops)} ops"
            )
        for (dst, src), op in zip(EDGES, self.ops):
            if not isinstance(op, str) or op not in NB201_OPS:
                raise GhnasError(
                    f"architecture: edge {dst}<-{src} has unknown op {op!r}; accepted: "
                    + ", ".join(NB201_OPS)
                )

    @classmethod
    def from_string(cls, text: str) -> "NB201Architecture":
        """Parse the benchmark's ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        if not isinstance(text, str):
            raise GhnasError(f"architecture: expected a NAS-Bench-201 string, got {text!r}")
        nodes = text.split("+")
        if len(nodes) != NUM_CELL_NODES - 1:
            raise GhnasError(
                f"architecture: {text!r} has {len(nodes)} nodes separated by '+', want 3"
            )
        ops: List[str] = []
        for dst, node in enumerate(nodes, start=1):
            if len(node) < 2 or node[0] != "|" or node[-1] != "|":
                raise GhnasError(f"architecture: node {dst} of {text!r} is not '|op~i|...|'")
            tokens = node[1:-1].split("|")
            if len(tokens) != dst:
                raise GhnasError(
                    f"architecture: node {dst} of {text!r} has {len(tokens)} inputs, want {dst}"
                )
            for src, token in enumerate(tokens):
                match = _TOKEN.match(token)
                if match is None or int(match.group(2)) != src:
                    raise GhnasError(
                        f"architecture: node {dst} of {text!r}: token {token!r} is not 'op~{src}'"
                    )
                ops.append(match.group(1))
        return cls(tuple(ops))

    def to_string(self) -> str:
        """The benchmark's string form (inverse of :meth:`from_string`)."""
        nodes = []
        for dst in range(1, NUM_CELL_NODES):
            tokens = [f"{op}~{s}" for (d, s), op in zip(EDGES, self.ops) if d == dst]
            nodes.append("|" + "|".join(tokens) + "|")
        return "+".join(nodes)

    def __str__(self) -> str:
        return self.to_string()

    @property
    def live_edges(self) -> Tuple[int, ...]:
        """Indices of the edges whose weights can change the cell output.

        A non-``none`` edge counts when its source is reached from node 0 and its destination
        reaches node 3 through non-``none`` edges: any other op either feeds nothing the output
        reads or only ever sees zeros (a bias-free convolution of zeros is zero whatever its
        weights), so it is left out of the GHN graph and keeps its initial weights.
        """
        reached = {0}
        for e, op in enumerate(self.ops):  # EDGES is in topological order of sources
            if op != "none" and EDGES[e][1] in reached:
                reached.add(EDGES[e][0])
        return tuple(e for e in self.output_edges if EDGES[e][1] in reached)

    @property
    def output_edges(self) -> Tuple[int, ...]:
        """Indices of the non-``none`` edges whose result reaches the cell output.

        The others are dead code: a traced network (``count_flops``) does not run them.
        """
        reaches = {NUM_CELL_NODES - 1}
        for e in reversed(range(len(EDGES))):
            if self.ops[e] != "none" and EDGES[e][0] in reaches:
                reaches.add(EDGES[e][1])
        return tuple(e for e, op in enumerate(self.ops) if op != "none" and EDGES[e][0] in reaches)

    @property
    def canonical_hash(self) -> str:
        """SHA-256 equal for isomorphic cells (op nodes of the live edges, see ``dag_hash``)."""
        live = self.live_edges
        labels = ["input"] + [self.ops[e] for e in live] + ["output"]
        parents: List[Tuple[int, ...]] = [()]
        for e in live:
            src = EDGES[e][1]
            parents.append(
                (0,) if src == 0 else tuple(k + 1 for k, f in enumerate(live) if EDGES[f][0] == src)
            )
        into_output = tuple(k + 1 for k, e in enumerate(live) if EDGES[e][0] == NUM_CELL_NODES - 1)
        parents.append(into_output)
        return dag_hash(labels, parents, [len(labels) - 1])

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able form: ``{"arch_str": "|op~0|+..."}``."""
        return {"arch_str": self.to_string()}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "NB201Architecture":
        """Inverse of :meth:`to_dict`; malformed input is a :class:`GhnasError`."""
        if not isinstance(data, dict) or not isinstance(data.get("arch_str"), str):
            raise GhnasError("architecture: expected {'arch_str': '|op~0|+|op~0|op~1|+...'}")
        return cls.from_string(data["arch_str"])
