"""The NAS-Bench-201 network: stem, 3 stages of cells joined by residual reduction blocks, head.

Follows the benchmark's ``TinyNetwork``/``InferCell``: a 3×3 stem conv (C channels) + BN; stages
of ``cells_per_stage`` cells at C, 2C, 4C channels; between stages a ResNet basic block with
stride 2 (ReLU-conv3×3/2-BN, ReLU-conv3×3-BN, shortcut 2×2 average pool then 1×1 conv); head
BN-ReLU-global average pool-linear. Every op of every cell is built (``none`` has no weights), so
the parameter count, BN affine included, is the benchmark's.
"""

from typing import List, Set

import torch
import torch.nn.functional as F
from torch import nn

from ghnas.search_spaces.base import generated_parameter_names

from .architecture import EDGES, NUM_CELL_NODES, NB201Architecture


class ReLUConvBN(nn.Module):
    """ReLU, bias-free k×k convolution, BN (the benchmark's ``nor_conv_kxk``)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(
            c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.relu(x)))


class Identity(nn.Module):
    """``skip_connect``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class AvgPool3x3(nn.Module):
    """``avg_pool_3x3``: stride 1, padding 1, padding not counted."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class Zero(nn.Module):
    """``none``: the edge contributes nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def build_nb201_op(name: str, channels: int) -> nn.Module:
    """The module of op ``name`` at ``channels`` width."""
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    return {"none": Zero, "skip_connect": Identity, "avg_pool_3x3": AvgPool3x3}[name]()


class Cell(nn.Module):
    """One cell: node j = Σ_{i<j} op_ij(node i); outputs node 3 (zeros if nothing reaches it)."""

    def __init__(self, arch: NB201Architecture, channels: int) -> None:
        super().__init__()
        self.ops = arch.ops
        self.edges = nn.ModuleList(build_nb201_op(op, channels) for op in arch.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: List[torch.Tensor] = [x]
        for dst in range(1, NUM_CELL_NODES):
            total = None
            for e, (d, src) in enumerate(EDGES):
                if d != dst or self.ops[e] == "none":
                    continue  # a zero summand: skipped (it costs nothing and counts no FLOP)
                out = self.edges[e](nodes[src])
                total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


class ReductionBlock(nn.Module):
    """The benchmark's ``ResNetBasicblock`` with stride 2 between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential()
        self.downsample.add_module("pool", nn.AvgPool2d(2, stride=2))
        self.downsample.add_module("conv", nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NASBench201Network(nn.Module):
    """``cells`` holds the 3·N cells and the 2 reduction blocks in execution order."""

    def __init__(
        self,
        *,
        arch: NB201Architecture,
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        in_channels: int,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.stem = nn.Sequential()
        self.stem.add_module("conv", nn.Conv2d(in_channels, channels, 3, padding=1, bias=False))
        self.stem.add_module("bn", nn.BatchNorm2d(channels))
        self.cells = nn.ModuleList()
        for stage in range(3):
            c = channels * 2**stage
            if stage:
                self.cells.append(ReductionBlock(c // 2, c))
            for _ in range(cells_per_stage):
                self.cells.append(Cell(arch, c))
        self.lastact = nn.Sequential()
        self.lastact.add_module("bn", nn.BatchNorm2d(4 * channels))
        self.lastact.add_module("relu", nn.ReLU())
        self.classifier = nn.Linear(4 * channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = F.adaptive_avg_pool2d(self.lastact(x), 1)
        return self.classifier(torch.flatten(x, 1))

    def generated_parameter_names(self) -> List[str]:
        """Names the GHN generates: all but BN affine and the weights of dead cell edges.

        A dead edge (see :attr:`NB201Architecture.live_edges`) cannot change the output, so the
        GHN graph leaves it out and it keeps its initial weights.
        """
        live = set(self.arch.live_edges)
        dead: Set[str] = {
            f"cells.{k}.edges.{e}."
            for k, cell in enumerate(self.cells)
            if isinstance(cell, Cell)
            for e in range(len(EDGES))
            if e not in live
        }
        return [
            n
            for n in generated_parameter_names(self)
            if not any(n.startswith(prefix) for prefix in dead)
        ]
