"""Where a classification network halves its resolution and doubles its width.

A network is a stem, then B blocks. The stem runs at ``ceil(image / stem_stride)``; block b runs
at stage s_b = the number of ``reductions`` <= b: width F·2^s_b, resolution the stem's halved
s_b times (rounding up like a stride-2 convolution). A reduction listed twice halves twice. Block
b reads the outputs of blocks b-1 and b-2 (the stem stands in for blocks -1 and -2) through 1×1
bottlenecks that stride by the ratio of the two resolutions: 1, 2 or 4.

CIFAR (appendix 7.1): ``reductions = (B//3, 2B//3)``, stem stride 1. ImageNet-mobile (section
5.1.2): stride-2 stem, reductions at blocks 1, 2, 6 and 10 of 14.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from ghnas.utils.errors import GhnasError

# An input bottleneck is a strided 1×1 convolution; beyond 4 it would skip 15 of 16 pixels.
MAX_INPUT_STRIDE = 4


def cifar_reductions(num_blocks: int) -> Tuple[int, ...]:
    """The CIFAR layout: reductions at blocks B//3 and 2B//3 (both at block 0 when B < 3)."""
    return (num_blocks // 3, 2 * num_blocks // 3)


def stage_resolution(size: int, stage: int) -> int:
    """Feature-map side ``stage`` halvings after ``size``, rounding up like a stride-2 conv."""
    return -(-size // (2**stage))


@dataclass(frozen=True)
class ClassificationLayout:
    """The stages of ``num_blocks`` blocks given ``reductions`` and the stem's stride.

    Construction validates: reductions are block indices in [0, B), the stem stride is >= 1, and
    no block reads an output more than 4 times its resolution (:class:`GhnasError` otherwise).
    """

    num_blocks: int
    reductions: Tuple[int, ...]
    stem_stride: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "reductions", tuple(sorted(self.reductions)))
        bad = [r for r in self.reductions if not 0 <= r < self.num_blocks]
        if bad:
            raise GhnasError(
                f"reductions {list(self.reductions)}: block indices must lie in "
                f"[0, {self.num_blocks}), got {bad[0]}"
            )
        if self.stem_stride < 1:
            raise GhnasError(f"stem_stride must be >= 1, got {self.stem_stride}")
        for b, strides in enumerate(self.input_strides):
            for back, stride in zip((1, 2), strides):
                if stride > MAX_INPUT_STRIDE:
                    raise GhnasError(
                        f"reductions {list(self.reductions)}: block {b} reads block {b - back} "
                        f"at {stride}x its resolution; input bottlenecks stride by 1, 2 or 4"
                    )

    @classmethod
    def build(
        cls, num_blocks: int, reductions: Optional[Sequence[int]] = None, stem_stride: int = 1
    ) -> "ClassificationLayout":
        """The layout, with the CIFAR reductions when ``reductions`` is None."""
        chosen = cifar_reductions(num_blocks) if reductions is None else reductions
        return cls(num_blocks, tuple(int(r) for r in chosen), int(stem_stride))

    @property
    def stages(self) -> List[int]:
        """Stage of every block (width F·2^stage, resolution halved per stage)."""
        return [sum(r <= b for r in self.reductions) for b in range(self.num_blocks)]

    @property
    def input_strides(self) -> List[Tuple[int, int]]:
        """(stride of input_prev, stride of input_prevprev) of every block."""
        stages = [0, 0] + self.stages  # the stem is at stage 0
        return [(2 ** (s - stages[b + 1]), 2 ** (s - stages[b])) for b, s in enumerate(stages[2:])]

    @property
    def max_stage(self) -> int:
        """The stage of the widest (last) block."""
        return len(self.reductions)

    @property
    def auxiliary_block(self) -> int:
        """The block an auxiliary head reads: the one just before the last reduction.

        That is the paper's "2/3 of the network" in both layouts (block 2B/3 - 1 on CIFAR,
        block 9 of 14 on ImageNet-mobile). A layout whose last reduction is at block 0 has none.
        """
        if not self.reductions or self.reductions[-1] < 1:
            raise GhnasError(
                f"auxiliary head: reductions {list(self.reductions)} leave no block before the "
                f"last reduction to read (B={self.num_blocks} is too small)"
            )
        return self.reductions[-1] - 1

    def stem_resolution(self, image_size: int) -> int:
        """Side of the stem's output (a 3×3 conv with padding 1 at ``stem_stride``)."""
        return -(-image_size // self.stem_stride)

    def block_resolution(self, image_size: int, block: int) -> int:
        """Side of block ``block``'s feature maps."""
        return stage_resolution(self.stem_resolution(image_size), self.stages[block])

    def is_default(self) -> bool:
        """Whether this is the CIFAR layout (stem stride 1, reductions at B//3 and 2B//3)."""
        return self == ClassificationLayout.build(self.num_blocks)
