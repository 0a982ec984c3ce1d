"""The network of the classification search space: a stem, B copies of one block, a classifier.

Every block runs the same sampled motif with its own weights. A block's two input nodes are
bottlenecks (ReLU, 1×1 conv, BN) over the outputs of blocks i-1 and i-2, striding by the ratio of
resolutions; the stem stands in for blocks 0 and -1. Widths are F, 2F, 4F, the resolution halving
after blocks B/3 and 2B/3. A node applies its op, with shared weights, to each input and sums
(Eq. 7); the block outputs the concatenation of its leaves.
"""

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ghnas.layers.classification_ops import build_op
from ghnas.search_spaces.base import generated_parameter_names
from ghnas.structures.architecture import BlockArchitecture


def block_stages(num_blocks: int) -> List[int]:
    """Stage (0, 1 or 2: width F·2^stage, resolution halved per stage) of every block."""
    return [int(b >= num_blocks // 3) + int(b >= 2 * num_blocks // 3) for b in range(num_blocks)]


def stage_resolution(image_size: int, stage: int) -> int:
    """Feature-map side at ``stage``: each stage halves it, rounding up like a stride-2 conv."""
    return -(-image_size // (2**stage))


class Bottleneck(nn.Module):
    """ReLU, 1×1 convolution with ``stride``, BN: an input node of a block."""

    def __init__(self, *, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.relu(x)))


class Block(nn.Module):
    """One copy of the motif at ``channels`` width."""

    def __init__(
        self,
        *,
        arch: BlockArchitecture,
        channels: int,
        prev_channels: int,
        prevprev_channels: int,
        prev_stride: int,
        prevprev_stride: int,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.input_prev = Bottleneck(
            in_channels=prev_channels, out_channels=channels, stride=prev_stride
        )
        self.input_prevprev = Bottleneck(
            in_channels=prevprev_channels, out_channels=channels, stride=prevprev_stride
        )
        self.nodes = nn.ModuleList(build_op(op, channels) for op in arch.ops)

    def forward(self, prev: torch.Tensor, prevprev: torch.Tensor) -> torch.Tensor:
        states = [self.input_prev(prev), self.input_prevprev(prevprev)]
        for op, parents in zip(self.nodes, self.arch.parents):
            # The op runs once per input (its BN sees each input's own batch statistics).
            out = op(states[parents[0]])
            for p in parents[1:]:
                out = out + op(states[p])
            states.append(out)
        return torch.cat([states[leaf] for leaf in self.arch.leaves], dim=1)


class ClassificationNetwork(nn.Module):
    """Stem (3×3 conv to 3F + BN), ``num_blocks`` blocks, global pool, linear classifier."""

    def __init__(
        self,
        *,
        arch: BlockArchitecture,
        init_channels: int,
        num_blocks: int,
        num_classes: int,
        in_channels: int,
    ) -> None:
        super().__init__()
        f, leaves = init_channels, len(arch.leaves)
        self.stem = nn.Sequential()
        self.stem.add_module("conv", nn.Conv2d(in_channels, 3 * f, 3, padding=1, bias=False))
        self.stem.add_module("bn", nn.BatchNorm2d(3 * f))
        # (channels, stage) of the outputs of blocks i-2 and i-1; the stem is both at first.
        outputs: List[Tuple[int, int]] = [(3 * f, 0), (3 * f, 0)]
        self.blocks = nn.ModuleList()
        for stage in block_stages(num_blocks):
            (pp_channels, pp_stage), (p_channels, p_stage) = outputs[-2], outputs[-1]
            channels = f * 2**stage
            self.blocks.append(
                Block(
                    arch=arch,
                    channels=channels,
                    prev_channels=p_channels,
                    prevprev_channels=pp_channels,
                    prev_stride=2 ** (stage - p_stage),
                    prevprev_stride=2 ** (stage - pp_stage),
                )
            )
            outputs.append((leaves * channels, stage))
        self.classifier = nn.Linear(outputs[-1][0], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prevprev = prev = self.stem(x)
        for block in self.blocks:
            prevprev, prev = prev, block(prev, prevprev)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(prev, 1), 1))

    def generated_parameter_names(self) -> List[str]:
        """Names of the parameters a GHN generates (all but BN affine)."""
        return generated_parameter_names(self)
