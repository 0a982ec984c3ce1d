"""The anytime search space of section 5.2 and appendix 7.1: one DAG of three blocks, early exits.

Blocks of ``ANYTIME.BLOCK_NODES`` nodes (the paper's 24, 16, 8); block 0 runs at scales
{0, 1, 2} (1, 1/2, 1/4 of the input), block 1 at {1, 2}, block 2 at {2}; a node at scale s has
C·2^s channels (C = ``MODEL.INIT_CHANNELS``). ``ANYTIME.NUM_EXITS`` nodes carry an exit.

Sampling (the paper leaves it open; decided here):

1. Exits: the last node always has one; the other NUM_EXITS - 1 go uniformly on distinct other
   positions of the full-size DAG, giving e_b exits in block b.
2. With ``random_block_sizes`` (GHN training, appendix 7.2) block b's size n_b is drawn
   uniformly from [max(1, e_b), BLOCK_NODES[b]] and its e_b exits are re-placed uniformly among
   its n_b positions (the last node of the DAG keeps its exit).
3. Per node: scale uniform over its block's scales, op uniform, k uniform in {1, 2, 3} capped by
   the number of earlier nodes (stem included), k distinct parents uniform among earlier ids
   (listed in increasing id order).
4. Dead compute: every node without a consumer or an exit is appended as an extra parent of a
   uniformly chosen later node with fewer than 3 parents; if there is none the architecture is
   redrawn. Dead nodes are fixed latest first: in id order the early ones use up the few slots
   of the last nodes and only ~1% of full-size (24, 16, 8) draws survive, latest first ~45%.
5. With ``flop_budget > 0`` an architecture whose last exit's cumulative FLOPs exceed it is
   redrawn; after 1,000 draws the sampler gives up with a :class:`GhnasError`.

GHN graph (one flat graph, ``num_modules`` 1; the anytime GHN config sets GHN.STACKED False):
node 0 is the stem, node i the i-th op node, plus a final parameter-free "output" node with an
edge from every exit (the unique sink propagation needs). Node features: ``scale`` (stem and
output 0) and ``exit`` (1 on exit nodes). A bottleneck reads a number of channels that depends
on its parents, so its weight is built from per-incoming-edge chunks (C_v, C_u) generated from
``[h_parent ; h_node]`` and concatenated in parent order.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces.anytime_drawing import draw_anytime_blocks
from ghnas.search_spaces.anytime_network import (
    CONV_KERNELS,
    AnytimeNetwork,
    anytime_exit_flops,
    node_channels,
)
from ghnas.search_spaces.base import SearchSpace, WeightFamily
from ghnas.search_spaces.build import SEARCH_SPACE_REGISTRY
from ghnas.structures.anytime_architecture import (
    ANYTIME_OPS,
    BLOCK_SCALES,
    MAX_PARENTS,
    AnytimeArchitecture,
    AnytimeNode,
)
from ghnas.structures.graph import ComputationGraph, ParamPart, ParamRequest
from ghnas.utils.errors import GhnasError

MAX_SAMPLING_TRIES = 1000


class AnytimeSearchSpace(SearchSpace):
    """Anytime DAGs of ``block_nodes`` nodes with ``num_exits`` exits at width C = ``channels``."""

    name = "anytime"

    def __init__(
        self,
        *,
        block_nodes: Sequence[int],
        num_exits: int,
        channels: int,
        meta: DatasetMetadata,
        flop_budget: float,
        random_block_sizes: bool = False,
    ) -> None:
        block_nodes = tuple(block_nodes)
        if len(block_nodes) != 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in block_nodes
        ):
            raise GhnasError(
                f"ANYTIME.BLOCK_NODES must be three positive node counts, got {list(block_nodes)}"
            )
        total = sum(block_nodes)
        if num_exits < 1:
            raise GhnasError(
                f"ANYTIME.NUM_EXITS is {num_exits}: zero exits; an anytime network needs at "
                "least one (on its last node)"
            )
        if num_exits > total:
            raise GhnasError(
                f"ANYTIME.NUM_EXITS ({num_exits}) exceeds the {total} nodes of "
                f"ANYTIME.BLOCK_NODES {list(block_nodes)}"
            )
        if channels < 1:
            raise GhnasError(f"MODEL.INIT_CHANNELS must be >= 1, got {channels}")
        if meta.image_size % 4:
            raise GhnasError(
                f"INPUT.SIZE ({meta.image_size}) must be divisible by 4: anytime nodes run at "
                "1, 1/2 and 1/4 of it"
            )
        self.block_nodes = block_nodes
        self.num_exits = num_exits
        self.channels = channels
        self.meta = meta
        self.flop_budget = flop_budget
        self.random_block_sizes = random_block_sizes

    @property
    def op_vocabulary(self) -> Tuple[str, ...]:
        return ANYTIME_OPS + ("stem", "output")

    @property
    def node_feature_sizes(self) -> Dict[str, int]:
        return {"scale": 3, "exit": 2}

    @property
    def weight_families(self) -> Dict[str, WeightFamily]:
        c, c_max, classes = self.channels, 4 * self.channels, self.meta.num_classes
        return {
            "stem": WeightFamily((c, self.meta.channels, 3, 3)),
            "bottleneck": WeightFamily((c_max, c_max), source="edge"),
            "conv": WeightFamily((c_max, c_max, 5, 5), centered_dims=(2, 3)),
            "exit_head": WeightFamily((classes, c_max)),
            "exit_bias": WeightFamily((classes,)),
        }

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        return (self.meta.channels, self.meta.image_size, self.meta.image_size)

    def sample(self, rng: np.random.Generator) -> AnytimeArchitecture:
        cheapest: Optional[int] = None
        for _ in range(MAX_SAMPLING_TRIES):
            arch = self._draw(rng)
            if arch is None:
                continue
            if self.flop_budget <= 0:
                return arch
            flops = self.analytic_flops(arch)
            if flops <= self.flop_budget:
                return arch
            cheapest = flops if cheapest is None else min(cheapest, flops)
        seen = "none was valid" if cheapest is None else f"the cheapest had {cheapest:,} FLOPs"
        raise GhnasError(
            f"ANYTIME.FLOP_BUDGET ({self.flop_budget:,.0f} FLOPs) rejected "
            f"{MAX_SAMPLING_TRIES:,} sampled architectures ({seen}); raise it or lower "
            "MODEL.INIT_CHANNELS / ANYTIME.BLOCK_NODES"
        )

    def _draw(self, rng: np.random.Generator) -> Optional[AnytimeArchitecture]:
        """One draw (steps 1-4 of the module docstring); None when dead compute can't be fixed."""
        full = self.block_nodes
        total = sum(full)
        exits = {total - 1} | {
            int(i) for i in rng.choice(total - 1, size=self.num_exits - 1, replace=False)
        }
        starts = np.cumsum((0,) + full[:-1])
        exit_offsets: List[List[int]] = [
            sorted(i - int(starts[b]) for i in exits if starts[b] <= i < starts[b] + full[b])
            for b in range(3)
        ]
        sizes = list(full)
        if self.random_block_sizes:
            for b in range(3):
                e_b = len(exit_offsets[b])
                n_b = int(rng.integers(max(1, e_b), full[b] + 1))
                sizes[b] = n_b
                if b == 2:  # the last node keeps its exit; the others go on the rest
                    rest = rng.choice(n_b - 1, size=e_b - 1, replace=False)
                    exit_offsets[b] = sorted([n_b - 1] + [int(i) for i in rest])
                else:
                    exit_offsets[b] = sorted(int(i) for i in rng.choice(n_b, e_b, replace=False))
        blocks: List[int] = []
        has_exit: List[bool] = []
        for b in range(3):
            blocks += [b] * sizes[b]
            has_exit += [i in exit_offsets[b] for i in range(sizes[b])]
        scales, ops, parents = [], [], []
        for j, b in enumerate(blocks):
            allowed = BLOCK_SCALES[b]
            scales.append(allowed[int(rng.integers(len(allowed)))])
            ops.append(ANYTIME_OPS[int(rng.integers(len(ANYTIME_OPS)))])
            earlier = j + 1  # ids 0..j: the stem and the nodes before this one
            k = min(int(rng.integers(1, MAX_PARENTS + 1)), earlier)
            parents.append(sorted(int(p) for p in rng.choice(earlier, size=k, replace=False)))
        read = {p for ps in parents for p in ps}
        n = len(blocks)
        for j in reversed(range(n)):  # latest first: late nodes have the fewest readers
            if has_exit[j] or j + 1 in read:
                continue
            later = [i for i in range(j + 1, n) if len(parents[i]) < MAX_PARENTS]
            if not later:
                return None
            parents[later[int(rng.integers(len(later)))]].append(j + 1)
            read.add(j + 1)
        return AnytimeArchitecture(
            tuple(
                AnytimeNode(op, tuple(ps), scale, exit_, block)
                for op, ps, scale, exit_, block in zip(ops, parents, scales, has_exit, blocks)
            )
        )

    def architecture_from_dict(self, data: Dict) -> AnytimeArchitecture:
        return AnytimeArchitecture.from_dict(data)

    def build_network(self, arch: AnytimeArchitecture) -> AnytimeNetwork:
        return AnytimeNetwork(
            arch=arch,
            channels=self.channels,
            num_classes=self.meta.num_classes,
            in_channels=self.meta.channels,
            image_size=self.meta.image_size,
        )

    def to_graph(self, arch: AnytimeArchitecture) -> ComputationGraph:
        c, classes, n = self.channels, self.meta.num_classes, arch.num_nodes
        output = n + 1
        types = ("stem",) + tuple(node.op for node in arch.nodes) + ("output",)
        edges = [(p, i + 1) for i, node in enumerate(arch.nodes) for p in node.parents]
        edges += [(e, output) for e in arch.exits]
        stem = ParamPart("stem", 0, (c, self.meta.channels, 3, 3), node=0)
        requests = [ParamRequest("stem.conv.weight", stem.shape, (stem,))]
        for i, node in enumerate(arch.nodes):
            v, c_v = i + 1, node_channels(c, node.scale)
            widths = [node_channels(c, arch.scale(p)) for p in node.parents]
            parts = tuple(
                ParamPart("bottleneck", 0, (c_v, c_u), node=v, source=p)
                for p, c_u in zip(node.parents, widths)
            )
            requests.append(
                ParamRequest(f"nodes.{i}.bottleneck.conv.weight", (c_v, sum(widths), 1, 1), parts)
            )
            if node.op in CONV_KERNELS:
                k = CONV_KERNELS[node.op]
                part = ParamPart("conv", 0, (c_v, c_v, k, k), node=v)
                requests.append(ParamRequest(f"nodes.{i}.op.conv.weight", part.shape, (part,)))
        for e in arch.exits:
            c_e = node_channels(c, arch.scale(e))
            weight = ParamPart("exit_head", 0, (classes, c_e), node=e)
            bias = ParamPart("exit_bias", 0, (classes,), node=e)
            requests.append(ParamRequest(f"heads.{e}.linear.weight", weight.shape, (weight,)))
            requests.append(ParamRequest(f"heads.{e}.linear.bias", bias.shape, (bias,)))
        exit_ids = set(arch.exits)
        features = {
            "scale": np.array([0] + [node.scale for node in arch.nodes] + [0]),
            "exit": np.array([0] + [int(i + 1 in exit_ids) for i in range(n)] + [0]),
        }
        return ComputationGraph(
            types, np.array(edges), np.zeros(n + 2, dtype=np.int64), tuple(requests), features
        )

    def exit_flops(self, arch: AnytimeArchitecture) -> List[int]:
        """Cumulative FLOPs (fvcore's count) up to and including each exit, in exit order."""
        return anytime_exit_flops(
            arch,
            channels=self.channels,
            num_classes=self.meta.num_classes,
            in_channels=self.meta.channels,
            image_size=self.meta.image_size,
        )

    early_exits = True

    def describe(self) -> Dict[str, object]:
        """Block sizes, exits, width and budget: they decide the architectures and the AUC."""
        return {"block_nodes": list(self.block_nodes), "num_exits": self.num_exits,
                "channels": self.channels, "flop_budget": self.flop_budget}  # fmt: skip

    def draw(self, arch: AnytimeArchitecture, directory: str) -> List[str]:
        """``block1.png`` ... ``block3.png``: each block with its exits in red (Figures 8-10)."""
        return draw_anytime_blocks(arch, directory)

    def analytic_flops(self, arch: AnytimeArchitecture) -> int:
        """The last exit's cumulative FLOPs: the cost of running the whole network."""
        return self.exit_flops(arch)[-1]


@SEARCH_SPACE_REGISTRY.register()
def anytime(cfg, meta: DatasetMetadata, training: bool) -> AnytimeSearchSpace:
    """The ANYTIME section; GHN training (``training``) draws random block sizes."""
    budget = cfg.ANYTIME.FLOP_BUDGET
    if not 0 < budget < float("inf"):
        raise GhnasError(f"ANYTIME.FLOP_BUDGET must be a finite number of FLOPs > 0, got {budget}")
    return AnytimeSearchSpace(
        block_nodes=tuple(cfg.ANYTIME.BLOCK_NODES),
        num_exits=cfg.ANYTIME.NUM_EXITS,
        channels=cfg.MODEL.INIT_CHANNELS,
        meta=meta,
        flop_budget=cfg.ANYTIME.FLOP_BUDGET,
        random_block_sizes=training,
    )
