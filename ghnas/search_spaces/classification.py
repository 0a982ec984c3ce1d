"""The classification search space of appendix 7.1 (CIFAR-10 and, transferred, ImageNet).

Sampling (the paper leaves it open; decided here): each of the N op nodes draws k ∈ {1, 2}
distinct parents uniformly from all earlier nodes (the two inputs included) and an op uniformly
from the nine; a block is redrawn until both input nodes have a consumer. Leaves (op nodes
without consumers) are concatenated into the block output.

GHN graph: node 0 is the stem (module 0), block b is module b + 1 (``input_prev``,
``input_prevprev``, the op nodes, ``output_concat`` — the block's parameter-free unique sink) and
the classifier is the last module. Bottleneck and classifier weights read a number of channels
that depends on the number of leaves, so they are built from per-incoming-edge chunks generated
from ``[h_leaf ; h_reader]`` and concatenated in leaf order.
"""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ghnas.data.metadata import DatasetMetadata
from ghnas.layers.classification_ops import CLASSIFICATION_OPS, op_generated_weights
from ghnas.search_spaces.base import SearchSpace, WeightFamily
from ghnas.search_spaces.build import SEARCH_SPACE_REGISTRY
from ghnas.search_spaces.classification_layout import ClassificationLayout
from ghnas.search_spaces.classification_network import ClassificationNetwork
from ghnas.structures.architecture import BLOCK_INPUTS, BlockArchitecture
from ghnas.structures.graph import ComputationGraph, ParamPart, ParamRequest
from ghnas.utils.errors import GhnasError
from ghnas.utils.visualization import draw_dag

OP_NAMES: Tuple[str, ...] = tuple(CLASSIFICATION_OPS)


class ClassificationSearchSpace(SearchSpace):
    """Blocks of ``num_nodes`` op nodes stacked ``num_blocks`` times at width F.

    ``reductions`` (None = the CIFAR layout, B//3 and 2B//3) and ``stem_stride`` place the
    resolution halvings and width doublings (:class:`ClassificationLayout`). ``num_nodes`` only
    decides what :meth:`sample` draws: blocks of any node count parse, build and score.
    """

    name = "classification"

    @classmethod
    def from_config(cls, cfg, meta: DatasetMetadata, training: bool):
        """The space of the config: ``GHN.TRAIN_NUM_NODES`` nodes for GHN training, else
        ``SEARCH_SPACE.NUM_NODES``; B and F from ``SEARCH_SPACE.NUM_BLOCKS`` and
        ``MODEL.INIT_CHANNELS``."""
        return cls(
            num_nodes=cfg.GHN.TRAIN_NUM_NODES if training else cfg.SEARCH_SPACE.NUM_NODES,
            num_blocks=cfg.SEARCH_SPACE.NUM_BLOCKS,
            init_channels=cfg.MODEL.INIT_CHANNELS,
            meta=meta,
        )

    def __init__(
        self,
        *,
        num_nodes: int,
        num_blocks: int,
        init_channels: int,
        meta: DatasetMetadata,
        reductions: Optional[Sequence[int]] = None,
        stem_stride: int = 1,
    ) -> None:
        for key, value in (("NUM_NODES", num_nodes), ("NUM_BLOCKS", num_blocks)):
            if value < 1:
                raise GhnasError(f"SEARCH_SPACE.{key} must be >= 1, got {value}")
        if init_channels < 1:
            raise GhnasError(f"MODEL.INIT_CHANNELS must be >= 1, got {init_channels}")
        self.num_nodes = num_nodes
        self.num_blocks = num_blocks
        self.init_channels = init_channels
        self.meta = meta
        self.layout = ClassificationLayout.build(num_blocks, reductions, stem_stride)
        self.stages = self.layout.stages

    @property
    def op_vocabulary(self) -> Tuple[str, ...]:
        return OP_NAMES + BLOCK_INPUTS + ("output_concat", "stem", "classifier")

    @property
    def weight_families(self) -> Dict[str, WeightFamily]:
        f, classes = self.init_channels, self.meta.num_classes
        c_max = f * 2**self.layout.max_stage  # the widest block's width
        return {
            "stem": WeightFamily((3 * f, self.meta.channels, 3, 3)),
            "pointwise": WeightFamily((c_max, c_max), slots=2),
            "depthwise": WeightFamily((c_max, 5, 5), slots=2, centered_dims=(1, 2)),
            "conv_1x7_7x1": WeightFamily((c_max, c_max, 7), slots=2),
            "bottleneck": WeightFamily((c_max, c_max), source="edge"),
            "classifier": WeightFamily((classes, c_max), source="edge"),
            "classifier_bias": WeightFamily((classes,)),
        }

    @property
    def num_modules(self) -> int:
        return self.num_blocks + 2

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        return (self.meta.channels, self.meta.image_size, self.meta.image_size)

    def sample(self, rng: np.random.Generator) -> BlockArchitecture:
        while True:
            ops, parents = [], []
            for j in range(self.num_nodes):
                earlier = j + 2
                k = int(rng.integers(1, 3))  # earlier >= 2, so 1 or 2 always fit
                parents.append(tuple(int(p) for p in rng.choice(earlier, size=k, replace=False)))
                ops.append(OP_NAMES[int(rng.integers(len(OP_NAMES)))])
            read = {p for ps in parents for p in ps}
            if 0 in read and 1 in read:
                return BlockArchitecture(tuple(ops), tuple(parents))

    def architecture_from_dict(self, data: Dict) -> BlockArchitecture:
        return BlockArchitecture.from_dict(data)

    def one_shot_cover(self) -> List[BlockArchitecture]:
        """One block per op with that op at every position and every op node a leaf.

        Node 0 reads input 0, node 1 input 1 and the others input 0 (a single node reads both),
        so every node is a leaf: the graphs request every (position, op) weight and every leaf
        chunk of the next block's bottlenecks and of the classifier.
        """
        n = self.num_nodes
        parents = [(0,), (1,)] + [(0,)] * (n - 2) if n > 1 else [(0, 1)]
        return [BlockArchitecture((op,) * n, tuple(parents)) for op in OP_NAMES]

    def build_network(
        self, arch: BlockArchitecture, auxiliary: bool = False
    ) -> ClassificationNetwork:
        """The network of ``arch``; ``auxiliary`` adds the training-only auxiliary head."""
        return ClassificationNetwork(
            arch=arch,
            init_channels=self.init_channels,
            num_blocks=self.num_blocks,
            num_classes=self.meta.num_classes,
            in_channels=self.meta.channels,
            reductions=self.layout.reductions,
            stem_stride=self.layout.stem_stride,
            auxiliary=auxiliary,
        )

    def to_graph(self, arch: BlockArchitecture) -> ComputationGraph:
        n, f = arch.num_nodes, self.init_channels
        per_block = n + 3  # two inputs, the op nodes, output_concat
        types: List[str] = ["stem"]
        modules: List[int] = [0]
        edges: List[Tuple[int, int]] = []
        stem_part = ParamPart("stem", 0, (3 * f, self.meta.channels, 3, 3), node=0)
        requests = [ParamRequest("stem.conv.weight", stem_part.shape, (stem_part,))]
        # (sink node, leaf nodes, channels per leaf) of the outputs of blocks i-2 and i-1.
        outputs = [(0, (0,), 3 * f), (0, (0,), 3 * f)]
        for b, stage in enumerate(self.stages):
            base, c = 1 + b * per_block, f * 2**stage
            types += list(BLOCK_INPUTS) + list(arch.ops) + ["output_concat"]
            modules += [b + 1] * per_block
            edges += [(p + base, j + 2 + base) for j, ps in enumerate(arch.parents) for p in ps]
            edges += [(leaf + base, base + per_block - 1) for leaf in arch.leaves]
            for slot, (sink, leaves, c_src) in zip(BLOCK_INPUTS, (outputs[-1], outputs[-2])):
                reader = base + BLOCK_INPUTS.index(slot)
                edges.append((sink, reader))
                parts = tuple(
                    ParamPart("bottleneck", 0, (c, c_src), reader, leaf) for leaf in leaves
                )
                requests.append(
                    ParamRequest(
                        f"blocks.{b}.{slot}.conv.weight", (c, c_src * len(leaves), 1, 1), parts
                    )
                )
            for j, op in enumerate(arch.ops):
                for w in op_generated_weights(op, c):
                    part = ParamPart(w.family, w.slot, w.slice_shape, node=base + j + 2)
                    requests.append(
                        ParamRequest(f"blocks.{b}.nodes.{j}.{w.suffix}", w.shape, (part,))
                    )
            outputs.append((base + per_block - 1, tuple(leaf + base for leaf in arch.leaves), c))
        cls_node, classes = len(types), self.meta.num_classes
        sink, leaves, c_src = outputs[-1]
        types.append("classifier")
        modules.append(self.num_blocks + 1)
        edges.append((sink, cls_node))
        parts = tuple(
            ParamPart("classifier", 0, (classes, c_src), cls_node, leaf) for leaf in leaves
        )
        requests.append(ParamRequest("classifier.weight", (classes, c_src * len(leaves)), parts))
        bias = ParamPart("classifier_bias", 0, (classes,), node=cls_node)
        requests.append(ParamRequest("classifier.bias", (classes,), (bias,)))
        return ComputationGraph(tuple(types), np.array(edges), np.array(modules), tuple(requests))

    def describe(self) -> Dict[str, Any]:
        """N, B and F, and the layout where it is not CIFAR's: they decide the networks."""
        settings: Dict[str, Any] = {"num_nodes": self.num_nodes, "num_blocks": self.num_blocks,
                                    "init_channels": self.init_channels}  # fmt: skip
        if not self.layout.is_default():  # CIFAR results files keep their old headers
            settings["reductions"] = list(self.layout.reductions)
            settings["stem_stride"] = self.layout.stem_stride
        return settings

    def draw(self, arch: BlockArchitecture, directory: str) -> List[str]:
        """``block.png``: the block as in the paper's Figure 7."""
        labels = list(BLOCK_INPUTS) + list(arch.ops) + ["output_concat"]
        edges = [(p, j + 2) for j, ps in enumerate(arch.parents) for p in ps]
        edges += [(leaf, len(labels) - 1) for leaf in arch.leaves]
        path = os.path.join(directory, "block.png")
        title = f"block {arch.canonical_hash[:12]} ({arch.num_nodes} nodes)"
        return [draw_dag(path, labels=labels, edges=edges, title=title)]

    def analytic_flops(self, arch: BlockArchitecture) -> int:
        f, size = self.init_channels, self.meta.image_size
        stem = self.layout.stem_resolution(size)
        flops = _conv(3 * f, self.meta.channels, 9, stem) + _bn(3 * f, stem)
        previous = [3 * f, 3 * f]  # input channels of the two bottlenecks
        for b, stage in enumerate(self.stages):
            c, r = f * 2**stage, self.layout.block_resolution(size, b)
            # Strided bottlenecks cost their output's resolution, the block's own.
            flops += sum(_conv(c, c_in, 1, r) + _bn(c, r) for c_in in previous[-2:])
            for op, parents in zip(arch.ops, arch.parents):
                flops += len(parents) * _op_flops(op, c, r)
            previous.append(c * len(arch.leaves))
        c_out, r = previous[-1], self.layout.block_resolution(size, self.num_blocks - 1)
        return flops + c_out * r * r + c_out * self.meta.num_classes


def _conv(c_out: int, c_in_per_group: int, kernel_area: int, r: int) -> int:
    return c_out * c_in_per_group * kernel_area * r * r


def _bn(c: int, r: int) -> int:
    return 2 * c * r * r  # eval-mode BatchNorm with affine, as fvcore counts it


def _op_flops(op: str, c: int, r: int) -> int:
    if op in ("identity", "max_pool_3x3", "avg_pool_3x3"):
        return 0
    if op == "conv_1x1":
        return _conv(c, c, 1, r) + _bn(c, r)
    if op == "conv_1x7_7x1":
        return 2 * _conv(c, c, 7, r) + _bn(c, r)
    k = int(op[-1])
    sep = _conv(c, 1, k * k, r) + _conv(c, c, 1, r) + _bn(c, r)
    return 2 * sep if op.startswith("sep") else sep


@SEARCH_SPACE_REGISTRY.register()
def classification(cfg, meta: DatasetMetadata, training: bool) -> ClassificationSearchSpace:
    """Blocks of ``SEARCH_SPACE.NUM_NODES`` (``GHN.TRAIN_NUM_NODES`` for GHN training)."""
    return ClassificationSearchSpace.from_config(cfg, meta, training)
