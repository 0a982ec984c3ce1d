"""The network of the classification spaces: a stem, B copies of one block, a classifier.

Every block runs the same sampled motif with its own weights. A block's two input nodes are
bottlenecks (ReLU, 1×1 conv, BN) over the outputs of blocks i-1 and i-2, striding by the ratio of
resolutions; the stem (3×3 conv to 3F at ``stem_stride``, BN) stands in for blocks 0 and -1.
Where the resolution halves and the width doubles is a :class:`ClassificationLayout` (CIFAR: at
blocks B/3 and 2B/3). A node applies its op, with shared weights, to each input and sums (Eq. 7);
the block outputs the concatenation of its leaves. Each input has BN layers of its own
(see ``ghnas/layers/classification_ops.py``), so every BN runs once per forward.

Final training adds two regularisers (appendix 7.3), both inactive in evaluation mode so FLOP
counting, scoring and export never see them: drop-path on every non-identity op output
(``drop_path_prob``) and an auxiliary head at 2/3 of the network (``auxiliary=True``).
"""

from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from torch import nn

from ghnas.layers.auxiliary_head import AuxiliaryHead
from ghnas.layers.classification_ops import Identity, build_op
from ghnas.search_spaces.base import generated_parameter_names
from ghnas.search_spaces.classification_layout import ClassificationLayout
from ghnas.structures.architecture import BlockArchitecture
from ghnas.utils.errors import GhnasError


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
        self.nodes = nn.ModuleList(
            build_op(op, channels, len(parents)) for op, parents in zip(arch.ops, arch.parents)
        )
        # Parameter-free; the network sets its probability (0 = off, and off in eval mode).
        self.drop_path = DropPath(0.0)
        # Identity outputs are never dropped (DARTS): dropping them would drop the input itself.
        self.droppable = [not isinstance(op, Identity) for op in self.nodes]

    def forward(self, prev: torch.Tensor, prevprev: torch.Tensor) -> torch.Tensor:
        states = [self.input_prev(prev), self.input_prevprev(prevprev)]
        for op, parents, droppable in zip(self.nodes, self.arch.parents, self.droppable):
            # Shared weights, each input through its own BN (branch i).
            outputs = [op(states[p], i) for i, p in enumerate(parents)]
            if droppable:
                outputs = [self.drop_path(out) for out in outputs]
            out = outputs[0]
            for other in outputs[1:]:
                out = out + other
            states.append(out)
        return torch.cat([states[leaf] for leaf in self.arch.leaves], dim=1)


class ClassificationNetwork(nn.Module):
    """Stem, ``num_blocks`` blocks, global pool, linear classifier (and an optional aux head).

    Args:
        arch: the block every stage repeats.
        init_channels: F, the width of stage 0 (the stem outputs 3F).
        num_blocks: B.
        num_classes, in_channels: of the dataset.
        reductions: block indices at whose start the resolution halves and the width doubles;
            None = the CIFAR layout (B//3, 2B//3). See :class:`ClassificationLayout`.
        stem_stride: stride of the stem convolution (2 on ImageNet-mobile).
        auxiliary: add an :class:`AuxiliaryHead` on the output of the block just before the last
            reduction; in training mode ``forward`` then returns ``(logits, aux_logits)``.

    ``drop_path_prob`` (default 0.0, set by a final trainer, e.g. every epoch) is the drop-path
    probability of every non-identity op output, applied in training mode only.
    """

    def __init__(
        self,
        *,
        arch: BlockArchitecture,
        init_channels: int,
        num_blocks: int,
        num_classes: int,
        in_channels: int,
        reductions: Optional[Sequence[int]] = None,
        stem_stride: int = 1,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        layout = ClassificationLayout.build(num_blocks, reductions, stem_stride)
        f, leaves = init_channels, len(arch.leaves)
        self.stem = nn.Sequential()
        self.stem.add_module(
            "conv",
            nn.Conv2d(in_channels, 3 * f, 3, stride=layout.stem_stride, padding=1, bias=False),
        )
        self.stem.add_module("bn", nn.BatchNorm2d(3 * f))
        # Channels of the outputs of blocks i-2 and i-1; the stem is both at first.
        outputs: List[int] = [3 * f, 3 * f]
        self.blocks = nn.ModuleList()
        for stage, (p_stride, pp_stride) in zip(layout.stages, layout.input_strides):
            channels = f * 2**stage
            self.blocks.append(
                Block(
                    arch=arch,
                    channels=channels,
                    prev_channels=outputs[-1],
                    prevprev_channels=outputs[-2],
                    prev_stride=p_stride,
                    prevprev_stride=pp_stride,
                )
            )
            outputs.append(leaves * channels)
        self.classifier = nn.Linear(outputs[-1], num_classes)
        self.auxiliary_block: Optional[int] = None
        self.auxiliary_head: Optional[AuxiliaryHead] = None
        if auxiliary:
            self.auxiliary_block = layout.auxiliary_block
            self.auxiliary_head = AuxiliaryHead(
                in_channels=outputs[2 + self.auxiliary_block], num_classes=num_classes
            )
        self._drop_path_prob = 0.0

    @property
    def drop_path_prob(self) -> float:
        """Drop-path probability of every non-identity op output (training mode only)."""
        return self._drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        if not 0.0 <= value < 1.0:
            raise GhnasError(f"drop_path_prob must lie in [0, 1), got {value}")
        self._drop_path_prob = float(value)
        for block in self.blocks:
            block.drop_path.drop_prob = self._drop_path_prob

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Logits; ``(logits, aux_logits)`` in training mode with an auxiliary head."""
        prevprev = prev = self.stem(x)
        aux_input = None
        for b, block in enumerate(self.blocks):
            prevprev, prev = prev, block(prev, prevprev)
            if b == self.auxiliary_block:
                aux_input = prev
        logits = self.classifier(torch.flatten(F.adaptive_avg_pool2d(prev, 1), 1))
        if self.auxiliary_head is not None and self.training:
            return logits, self.auxiliary_head(aux_input)
        return logits

    def generated_parameter_names(self) -> List[str]:
        """Names of the parameters a GHN generates (all but BN affine and the auxiliary head)."""
        return generated_parameter_names(self)
