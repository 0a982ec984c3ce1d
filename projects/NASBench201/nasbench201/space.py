"""The NAS-Bench-201 search space as a ghnas plug-in: 5^6 = 15,625 cells, one per architecture.

GHN graph (stacked over 3·N + 2 modules in the network's order: N cells, a reduction block, N
cells, a reduction block, N cells):

- a cell module holds one op node per live edge (see ``NB201Architecture.live_edges``; ``none``
  edges and ops that cannot change the output are left out), whose parents are the op nodes on
  the live edges into its source cell node, and a parameter-free ``cell_output`` sink fed by the
  live edges into node 3. Ops reading node 0 (or ``cell_output`` itself, in a cell cut off from
  its input, which outputs zeros) receive the previous module's sink;
- the first cell module also holds the ``stem`` node (feeding what reads node 0) and the last
  one the ``classifier`` node (the head BN-ReLU-pool-linear, fed by ``cell_output``, the sink);
- a reduction module holds ``reduction_conv_a`` -> ``reduction_conv_b`` and
  ``reduction_shortcut``, both summed by the parameter-free ``reduction_sum`` sink.

Weight families are sized for the widest stage (4C); narrower layers take the leading slice.
"""

import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces.base import SearchSpace, WeightFamily
from ghnas.search_spaces.build import SEARCH_SPACE_REGISTRY
from ghnas.structures.graph import ComputationGraph, ParamPart, ParamRequest
from ghnas.utils.errors import GhnasError

from .architecture import EDGES, NB201_OPS, NUM_CELL_NODES, NB201Architecture
from .config import add_nasbench201_config
from .fused_network import FusedNASBench201
from .network import NASBench201Network

REDUCTION_TYPES: Tuple[str, ...] = (
    "reduction_conv_a",
    "reduction_conv_b",
    "reduction_shortcut",
    "reduction_sum",
)
# Family, kernel size of each convolution op.
CONV_OPS: Dict[str, Tuple[str, int]] = {
    "nor_conv_1x1": ("conv_1x1", 1),
    "nor_conv_3x3": ("conv_3x3", 3),
}


class NASBench201SearchSpace(SearchSpace):
    """NAS-Bench-201 at base width ``channels`` with ``cells_per_stage`` cells per stage."""

    name = "nasbench201"

    def __init__(
        self, *, channels: int, cells_per_stage: int, meta: DatasetMetadata, fused_group: int = 1
    ) -> None:
        if channels < 1:
            raise GhnasError(f"NASBENCH201.CHANNELS must be >= 1, got {channels}")
        if cells_per_stage < 1:
            raise GhnasError(f"NASBENCH201.CELLS_PER_STAGE must be >= 1, got {cells_per_stage}")
        if meta.image_size % 4:
            raise GhnasError(
                f"nasbench201: the image size must be a multiple of 4 (two stride-2 "
                f"reductions), got {meta.image_size}"
            )
        if fused_group < 0:
            raise GhnasError(f"NASBENCH201.FUSED_GROUP must be >= 0, got {fused_group}")
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.fused_group = fused_group
        self.meta = meta

    @property
    def op_vocabulary(self) -> Tuple[str, ...]:
        ops = tuple(op for op in NB201_OPS if op != "none")
        return ops + ("cell_output", "stem", "classifier") + REDUCTION_TYPES

    @property
    def weight_families(self) -> Dict[str, WeightFamily]:
        c, c_max, classes = self.channels, 4 * self.channels, self.meta.num_classes
        return {
            "stem": WeightFamily((c, self.meta.channels, 3, 3)),
            "conv_1x1": WeightFamily((c_max, c_max)),
            "conv_3x3": WeightFamily((c_max, c_max, 3, 3)),
            "reduction_conv_a": WeightFamily((c_max, c_max // 2, 3, 3)),
            "reduction_conv_b": WeightFamily((c_max, c_max, 3, 3)),
            "reduction_shortcut": WeightFamily((c_max, c_max // 2)),
            "classifier": WeightFamily((classes, c_max)),
            "classifier_bias": WeightFamily((classes,)),
        }

    @property
    def num_modules(self) -> int:
        return 3 * self.cells_per_stage + 2

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        return (self.meta.channels, self.meta.image_size, self.meta.image_size)

    def module_layout(self) -> List[Tuple[str, int]]:
        """("cell" or "reduction", output channels) of every module, in network order."""
        layout: List[Tuple[str, int]] = []
        for stage in range(3):
            c = self.channels * 2**stage
            if stage:
                layout.append(("reduction", c))
            layout += [("cell", c)] * self.cells_per_stage
        return layout

    def sample(self, rng: np.random.Generator) -> NB201Architecture:
        """Uniform over the 5^6 cells."""
        return NB201Architecture(tuple(NB201_OPS[int(i)] for i in rng.integers(5, size=6)))

    def architecture_from_dict(self, data: Dict) -> NB201Architecture:
        return NB201Architecture.from_dict(data)

    def build_network(self, arch: NB201Architecture) -> NASBench201Network:
        return NASBench201Network(
            arch=arch,
            channels=self.channels,
            cells_per_stage=self.cells_per_stage,
            num_classes=self.meta.num_classes,
            in_channels=self.meta.channels,
        )

    def one_shot_cover(self) -> List[NB201Architecture]:
        """Every edge a 1×1 convolution, then every edge a 3×3 one: all six edges are live, so
        these request every (cell, edge, convolution) weight; pools, skips and ``none`` have
        none."""
        return [NB201Architecture((op,) * len(EDGES)) for op in CONV_OPS]

    def build_fused_network(self, archs: Sequence[NB201Architecture]) -> FusedNASBench201:
        """All of ``archs`` in passes of ``NASBENCH201.FUSED_GROUP`` networks (see
        :class:`FusedNASBench201`)."""
        return FusedNASBench201(archs, layout=self.module_layout(), group_size=self.fused_group)

    def to_graph(self, arch: NB201Architecture) -> ComputationGraph:
        types: List[str] = []
        modules: List[int] = []
        edges: List[Tuple[int, int]] = []
        requests: List[ParamRequest] = []

        def add(node_type: str, module: int) -> int:
            types.append(node_type)
            modules.append(module)
            return len(types) - 1

        def request(name: str, shape, family: str, slice_shape, node: int) -> None:
            part = ParamPart(family, 0, tuple(slice_shape), node=node)
            requests.append(ParamRequest(name, tuple(shape), (part,)))

        live = arch.live_edges
        c0, in_ch = self.channels, self.meta.channels
        layout = self.module_layout()
        previous = -1  # sink of the previous module (the stem plays it for the first cell)
        for m, (kind, c) in enumerate(layout):
            if m == 0:
                previous = add("stem", m)
                request("stem.conv.weight", (c0, in_ch, 3, 3), "stem", (c0, in_ch, 3, 3), previous)
            if kind == "reduction":
                a, b = add("reduction_conv_a", m), add("reduction_conv_b", m)
                shortcut, total = add("reduction_shortcut", m), add("reduction_sum", m)
                edges += [
                    (previous, a),
                    (previous, shortcut),
                    (a, b),
                    (b, total),
                    (shortcut, total),
                ]
                prefix = f"cells.{m}"
                request(f"{prefix}.conv_a.conv.weight", (c, c // 2, 3, 3), "reduction_conv_a",
                        (c, c // 2, 3, 3), a)  # fmt: skip
                request(f"{prefix}.conv_b.conv.weight", (c, c, 3, 3), "reduction_conv_b",
                        (c, c, 3, 3), b)  # fmt: skip
                request(f"{prefix}.downsample.conv.weight", (c, c // 2, 1, 1),
                        "reduction_shortcut", (c, c // 2), shortcut)  # fmt: skip
                previous = total
                continue
            op_node = {}
            for e in live:
                op_node[e] = add(arch.ops[e], m)
                if arch.ops[e] in CONV_OPS:
                    family, k = CONV_OPS[arch.ops[e]]
                    slice_shape = (c, c, k, k) if k > 1 else (c, c)
                    request(f"cells.{m}.edges.{e}.conv.weight", (c, c, k, k), family,
                            slice_shape, op_node[e])  # fmt: skip
            sink = add("cell_output", m)
            for e in live:
                dst, src = EDGES[e]
                if src == 0:
                    edges.append((previous, op_node[e]))
                edges += [(op_node[f], op_node[e]) for f in live if EDGES[f][0] == src]
                if dst == NUM_CELL_NODES - 1:
                    edges.append((op_node[e], sink))
            if not live:  # cut off: the cell outputs zeros; the sink still hears the input
                edges.append((previous, sink))
            previous = sink
        classes, c_max = self.meta.num_classes, 4 * c0
        head = add("classifier", len(layout) - 1)
        edges.append((previous, head))
        request("classifier.weight", (classes, c_max), "classifier", (classes, c_max), head)
        request("classifier.bias", (classes,), "classifier_bias", (classes,), head)
        return ComputationGraph(tuple(types), np.array(edges), np.array(modules), tuple(requests))

    def analytic_flops(self, arch: NB201Architecture) -> int:
        """FLOPs as fvcore counts them: convs, eval-mode BN (2 per element), pool, linear."""
        c0, r = self.channels, self.meta.image_size
        flops = _conv(c0, self.meta.channels, 9, r) + _bn(c0, r)
        for kind, c in self.module_layout():
            if kind == "reduction":
                r //= 2
                flops += _conv(c, c // 2, 9, r) + _bn(c, r)  # conv_a
                flops += _conv(c, c, 9, r) + _bn(c, r)  # conv_b
                flops += _conv(c, c // 2, 1, r)  # shortcut (its average pool counts nothing)
                continue
            for op in (arch.ops[e] for e in arch.output_edges):  # dead code is not traced
                if op in CONV_OPS:
                    flops += _conv(c, c, CONV_OPS[op][1] ** 2, r) + _bn(c, r)
        c_max = 4 * c0
        return flops + _bn(c_max, r) + c_max * r * r + c_max * self.meta.num_classes

    def describe(self) -> Dict[str, int]:
        """C and N: they decide the networks."""
        return {"channels": self.channels, "cells_per_stage": self.cells_per_stage}

    def draw(self, arch: NB201Architecture, directory: str) -> List[str]:
        """``cell.png``: the cell's four nodes with the op on each non-``none`` edge."""
        from ghnas.utils.visualization import draw_dag

        labels = ["node 0"] + [f"{arch.ops[e]} ({EDGES[e][0]}<-{EDGES[e][1]})" for e in
                               range(len(EDGES)) if arch.ops[e] != "none"] + ["node 3"]  # fmt: skip
        drawn = [e for e in range(len(EDGES)) if arch.ops[e] != "none"]
        index = {e: k + 1 for k, e in enumerate(drawn)}
        dag = []
        for e in drawn:
            dst, src = EDGES[e]
            dag += [(0, index[e])] if src == 0 else [(index[f], index[e]) for f in drawn
                                                     if EDGES[f][0] == src]  # fmt: skip
            if dst == NUM_CELL_NODES - 1:
                dag.append((index[e], len(labels) - 1))
        path = os.path.join(directory, "cell.png")
        return [draw_dag(path, labels=labels, edges=dag, title=arch.to_string())]


def _conv(c_out: int, c_in: int, kernel_area: int, r: int) -> int:
    return c_out * c_in * kernel_area * r * r


def _bn(c: int, r: int) -> int:
    return 2 * c * r * r  # eval-mode BatchNorm with affine, as fvcore counts it


@SEARCH_SPACE_REGISTRY.register()
def nasbench201(cfg, meta: DatasetMetadata, training: bool) -> NASBench201SearchSpace:
    """NAS-Bench-201 (the same space for GHN training and ranking).

    A config built without the project's hook (a core tool or test that walks the registry)
    gets the defaults of :func:`add_nasbench201_config`.
    """
    if "NASBENCH201" not in cfg:
        cfg = cfg.clone()
        cfg.defrost()
        add_nasbench201_config(cfg)
    return NASBench201SearchSpace(
        channels=cfg.NASBENCH201.CHANNELS,
        cells_per_stage=cfg.NASBENCH201.CELLS_PER_STAGE,
        meta=meta,
        fused_group=cfg.NASBENCH201.FUSED_GROUP,
    )
